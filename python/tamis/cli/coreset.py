"""``tamis coreset``: an l_p sensitivity-sampling coreset of an embedding matrix."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tamis.cli import _common as c
from tamis.exceptions import InputError
from tamis.output import open_sink
from tamis.sensitivity import SAMPLERS, SCHEMES, coreset


def run(args: argparse.Namespace) -> int:
    """Write ``row_id, weight, probability`` of an l_p coreset of the embedding rows."""
    if (args.input is None) == (args.npy is None):
        raise ValueError("give exactly one of INPUT (Parquet with --embedding-column) or --npy")
    out = c.prepare(args, inputs=[args.input or args.npy], o=args.output)["o"]
    if args.input is not None:
        names = pq.read_schema(args.input).names
        for flag, col in (
            ("--embedding-column", args.embedding_column),
            ("--id-column", args.id_column),
        ):
            if col is not None and col not in names:
                raise InputError(
                    f"{args.input}: {flag}: no column {col!r} (columns: {', '.join(names)})"
                )
    if args.npy is not None:
        A = np.load(args.npy, mmap_mode="r")
        ids: Any = np.arange(A.shape[0], dtype=np.int64)
        source = str(args.npy)
    else:
        schema = pq.read_schema(args.input)
        cols = [args.embedding_column]
        id_col = args.id_column
        if id_col is None and "id" in schema.names:
            id_col = "id"
        if id_col is not None:
            cols.append(id_col)
        table = pq.read_table(args.input, columns=cols)
        A = c.embedding_matrix(table.column(args.embedding_column), args.embedding_column)
        ids = table.column(id_col) if id_col else np.arange(table.num_rows, dtype=np.int64)
        source = str(args.input)
    cs = coreset(
        np.asarray(A),
        args.k,
        args.p,
        scheme=args.scheme,
        method=args.method,
        mix=args.mix,
        seed=args.seed,
        n_threads=args.n_threads,
    )
    row_id = (
        pa.array(ids).take(pa.array(cs.indices))
        if isinstance(ids, pa.ChunkedArray)
        else pa.array(np.asarray(ids)[cs.indices])
    )
    table = pa.table({"row_id": row_id, "weight": cs.weight, "probability": cs.probability})
    params = {
        "input": source,
        "embedding_column": args.embedding_column,
        "k": args.k,
        "p": args.p,
        "scheme": args.scheme,
        "method": args.method,
        "mix": args.mix,
        "seed": args.seed,
        "n": int(A.shape[0]),
        "d": int(A.shape[1]),
    }
    with open_sink(out, "coreset", params) as sink:
        sink.write(table)
    print(
        f"coreset: {len(cs.indices)} of {A.shape[0]} rows (p={args.p}, {args.scheme}, "
        f"{args.method}) -> {args.output}",
        file=sys.stderr,
    )
    return 0


def add(sub: Any) -> None:
    """Register ``tamis coreset``."""
    p = c.add_parser(sub, "coreset", "l_p sensitivity-sampling coreset of an embedding matrix")
    p.add_argument("input", nargs="?", type=Path, default=None, help="Parquet file with embeddings")
    p.add_argument("--embedding-column", default="embedding", help="list<float> column")
    p.add_argument(
        "--id-column", default=None, help="row id column (default: id if present, else row number)"
    )
    p.add_argument(
        "--npy", type=Path, default=None, help="read the matrix from a 2-D .npy file instead"
    )
    p.add_argument("-k", type=int, required=True, help="sample size (expected size for bernoulli)")
    p.add_argument("--p", type=float, default=2.0, help="the l_p norm to preserve")
    p.add_argument("--scheme", choices=SCHEMES, default="lewis", help="sensitivity scores")
    p.add_argument("--method", choices=SAMPLERS, default="bernoulli", help="sampler")
    p.add_argument("--mix", type=float, default=0.5, help="leverage share for --scheme mixed")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    c.add_threads(p)
    p.add_argument(
        "-o", "--output", required=True, help="output .parquet or .jsonl[.gz|.zst] ('-': stdout)"
    )
    p.set_defaults(func=run)
