"""``tamis semdedup``: semantic near-duplicates removed inside k-means clusters (SemDeDup)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tamis.cli import _common as c
from tamis.cli.cluster import check_embedding_columns
from tamis.cluster import KEEP_POLICIES, RULES, KMeans, semdedup
from tamis.exceptions import InputError
from tamis.output import open_sink


def run(args: argparse.Namespace) -> int:
    """Write the kept rows (or all rows with ``cluster_id, duplicate_of, similarity, keep``)."""
    sources = [args.k is not None, args.init_centroids is not None, args.cluster_column is not None]
    if sum(sources) != 1:
        raise ValueError("give exactly one of -k, --init-centroids or --cluster-column")
    if args.keep == "score" and not args.score_column:
        raise ValueError("--keep score needs --score-column")
    if not (np.isfinite(args.eps) and 0 <= args.eps <= 2):
        raise ValueError(f"--eps must be in [0, 2], got {args.eps}")
    inputs = [args.input] + ([args.init_centroids] if args.init_centroids else [])
    out = c.prepare(args, inputs=inputs, o=args.output)["o"]
    id_col = check_embedding_columns(args.input, args.embedding_column, args.id_column)
    names = pq.read_schema(args.input).names
    for flag, col in (
        ("--cluster-column", args.cluster_column),
        ("--score-column", args.score_column),
    ):
        if col is not None and col not in names:
            raise InputError(
                f"{args.input}: {flag}: no column {col!r} (columns: {', '.join(names)})"
            )
    table = pq.read_table(args.input)
    try:
        X = c.embedding_matrix(table.column(args.embedding_column), args.embedding_column)
    except InputError as e:
        raise InputError(f"{args.input}: {e}") from None
    ids = table.column(id_col).combine_chunks() if id_col else pa.array(np.arange(len(X)))
    kw: dict[str, Any] = {}
    if args.init_centroids is not None:
        km = KMeans.load(args.init_centroids, n_threads=args.n_threads)
        kw["centroids"] = km.centroids_
    elif args.cluster_column is not None:
        col = table.column(args.cluster_column)
        if col.null_count:
            raise InputError(f"{args.input}: --cluster-column {args.cluster_column!r} has nulls")
        kw["labels"] = col.to_numpy()
    else:
        if X.shape[0] < args.k:
            raise ValueError(f"-k must be at most the number of rows ({X.shape[0]}), got {args.k}")
        kw["k"] = args.k
    if args.score_column:
        kw["score"] = table.column(args.score_column).to_numpy(zero_copy_only=False)
    sel = semdedup(
        X,
        args.eps,
        keep=args.keep,
        rule=args.rule,
        ids=ids,
        seed=args.seed,
        n_threads=args.n_threads,
        **kw,
    )
    params = {
        "input": str(args.input),
        "embedding_column": args.embedding_column,
        "eps": args.eps,
        "keep": args.keep,
        "rule": args.rule,
        "k": args.k,
        "seed": args.seed,
        "n": int(X.shape[0]),
    }
    if args.all_rows:
        dup = sel.rows["duplicate_of"]
        dup_ids = ids.take(pa.array(np.where(dup >= 0, dup, 0)))
        table = table.append_column("cluster_id", pa.array(sel.rows["cluster_id"]))
        table = table.append_column(
            "duplicate_of", pc.if_else(pa.array(dup >= 0), dup_ids, pa.nulls(len(dup), ids.type))
        )
        table = table.append_column("similarity", pa.array(sel.rows["similarity"]))
        table = table.append_column("keep", pa.array(sel.rows["keep"]))
    else:
        table = table.take(pa.array(sel.indices))
    with open_sink(out, "semdedup", params) as sink:
        sink.write(table)
    print(
        f"semdedup: kept {len(sel)} of {sel.n_rows} rows ({sel.n_removed} removed, "
        f"eps={args.eps}, {sel.n_clusters} clusters) -> {args.output}",
        file=sys.stderr,
    )
    return 0


def add(sub: Any) -> None:
    """Register ``tamis semdedup``."""
    p = c.add_parser(
        sub, "semdedup", "semantic dedup inside k-means clusters (SemDeDup, Abbas et al. 2023)"
    )
    p.add_argument(
        "input", type=Path, help="Parquet file with embeddings (tamis score --task embed)"
    )
    p.add_argument(
        "--eps", type=float, required=True, help="duplicates: cosine similarity >= 1-eps"
    )
    p.add_argument("--embedding-column", default="embedding", help="list<float> column")
    p.add_argument(
        "--id-column", default=None, help="row id column (default: id if present, else row number)"
    )
    p.add_argument("-k", type=int, default=None, help="clusters to fit (cosine k-means)")
    p.add_argument(
        "--init-centroids", type=Path, default=None, help="centroids saved by tamis cluster"
    )
    p.add_argument("--cluster-column", default=None, help="use this column's cluster ids")
    p.add_argument("--keep", choices=KEEP_POLICIES, default="farthest", help="row kept per group")
    p.add_argument("--score-column", default=None, help="column for --keep score")
    p.add_argument("--rule", choices=RULES, default="paper", help="compare with any or kept rows")
    p.add_argument("--seed", type=int, default=0, help="k-means seed")
    c.add_threads(p)
    p.add_argument("--all-rows", action="store_true", help="write all rows with dedup columns")
    p.add_argument(
        "-o", "--output", required=True, help="output .parquet or .jsonl[.gz|.zst] ('-': stdout)"
    )
    p.set_defaults(func=run)
