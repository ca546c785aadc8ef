"""``tamis select``: target selection beyond n-gram DSIR (OT gradients, nearest neighbours, a classifier).

``otgrad`` and ``knn`` work on an embedding column (``tamis score --task embed`` writes one; or
``--embed`` computes MiniLM embeddings on the fly, needs ``tamis[torch]``); ``classifier`` trains
the hashed target-vs-raw classifier on the texts. The selected rows are written with every input
column plus the selector's explanation columns, in input order.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
import pyarrow as pa

from tamis._base import Selection
from tamis.cli import _common as c
from tamis.io import read_batches
from tamis.output import open_sink, write_json

METHODS = ("otgrad", "knn", "cluster-dsir", "classifier")


def _embeddings(args: argparse.Namespace, inputs: Any, what: str) -> tuple[np.ndarray, list[Any]]:
    """The embedding matrix and ids of ``inputs`` (one streamed pass)."""
    mats, ids = [], []
    if args.embed:
        from tamis.scoring import Embedder

        embedder = Embedder(device=args.device)
    for batch in read_batches(
        c.source(inputs),
        text_column=args.text_column,
        id_column=args.id_column if what == "input" else None,
        columns=[] if args.embed else [args.embedding_column],
        batch_size=args.batch_size,
    ):
        if args.embed:
            mats.append(np.asarray(embedder.embed(batch.column(args.text_column)), np.float32))
        else:
            col = batch.column(args.embedding_column)
            mats.append(c.embedding_matrix(pa.chunked_array([col]), args.embedding_column))
        ids.extend(batch.column(args.id_column or "id").to_pylist())
    if not mats:
        raise ValueError(f"the {what} corpus has no rows")
    return np.concatenate(mats), ids


def _select(args: argparse.Namespace) -> Selection:
    if args.method == "classifier":
        from tamis.quality import classifier_select

        return classifier_select(
            c.source(args.inputs),
            c.source(args.target),
            args.k,
            seed=args.seed,
            text_column=args.text_column,
            id_column=args.id_column,
            batch_size=args.batch_size,
            n_threads=args.n_threads,
        )
    from tamis.select import cluster_importance_select, gradient_select, nearest_select

    pool, ids = _embeddings(args, args.inputs, "input")
    target, _ = _embeddings(args, args.target, "target")
    if pool.shape[1] != target.shape[1]:
        raise ValueError(
            f"the input embeddings have {pool.shape[1]} dimensions, the target's {target.shape[1]}"
        )
    if args.method == "knn":
        return nearest_select(pool, target, args.k, metric=args.metric, ids=ids)
    if args.method == "cluster-dsir":
        return cluster_importance_select(
            pool,
            target,
            args.k,
            n_clusters=args.n_clusters,
            metric=args.metric,
            seed=args.seed,
            ids=ids,
            n_threads=args.n_threads,
        )
    return gradient_select(
        pool,
        target,
        args.k,
        eps=args.eps,
        metric=args.metric,
        rounds=args.rounds,
        ids=ids,
        n_threads=args.n_threads,
        device=args.ot_device,
    )


def run(args: argparse.Namespace) -> int:
    """Select ``k`` input rows toward the target; write them with their explanation columns."""
    if args.k < 1:
        raise ValueError(f"-k must be >= 1, got {args.k}")
    columns = [] if args.method == "classifier" or args.embed else [args.embedding_column]
    out = c.prepare(
        args,
        inputs=[*args.inputs, *args.target],
        columns=columns,
        text_only=args.target,
        o=args.output,
        json=args.json,
    )
    t0 = time.perf_counter()
    sel = _select(args)
    t1 = time.perf_counter()
    # Second pass: the selected rows with every input column, in input order.
    order = np.asarray(sel.indices)
    explain = {name: np.asarray(col) for name, col in sel.columns.items()}
    params = {
        "method": args.method,
        "k": args.k,
        "inputs": [str(p) for p in args.inputs],
        "target": [str(p) for p in args.target],
    }
    written = 0
    with open_sink(out["o"], "select", params) as sink:
        start = 0
        for batch in c.batches(args):
            lo, hi = np.searchsorted(order, [start, start + batch.num_rows])
            if hi > lo:
                table = pa.Table.from_batches([batch]).take(pa.array(order[lo:hi] - start))
                for name, col in explain.items():
                    if name in table.column_names:
                        name = f"{args.method}_{name}"
                    table = table.append_column(name, pa.array(col[lo:hi]))
                sink.write(table)
                written += table.num_rows
            start += batch.num_rows
    summary = {
        "method": sel.method,
        "selected": written,
        "k": args.k,
        "n_rows": sel.n_rows,
        "info": {k: v for k, v in sel.info.items() if isinstance(v, (int, float, str))},
        "seconds": {"select": t1 - t0, "write": time.perf_counter() - t1},
        "output": str(args.output),
    }
    print(
        f"select ({sel.method}): {written} of {sel.n_rows} documents -> {args.output}"
        f" ({summary['seconds']['select']:.2f}s)",
        file=sys.stderr,
    )
    if args.json:
        write_json(out["json"], summary)
    return 0


def add(sub: Any) -> None:
    """Register ``tamis select``."""
    p = c.add_parser(
        sub,
        "select",
        "target selection on embeddings (GOT-D, nearest neighbours, cluster DSIR) or by classifier",
    )
    c.add_input_options(p)
    p.add_argument("--target", nargs="+", required=True, help="target corpus files")
    p.add_argument("--method", choices=METHODS, default="otgrad", help="the selector")
    p.add_argument("-k", type=int, required=True, help="documents to select")
    p.add_argument("-o", "--output", required=True, help="selected rows (.parquet, .jsonl, -)")
    p.add_argument("--json", default=None, help="also write a JSON summary here")
    p.add_argument("--embedding-column", default="embedding", help="embedding column (otgrad, knn)")
    p.add_argument("--embed", action="store_true", help="compute MiniLM embeddings (tamis[torch])")
    p.add_argument("--device", default=None, help="device for --embed (default: cuda if available)")
    p.add_argument("--metric", choices=["cosine", "sqeuclidean"], default="cosine", help="cost")
    p.add_argument("--eps", type=float, default=0.05, help="entropic regularisation (otgrad)")
    p.add_argument("--rounds", type=int, default=1, help="re-solve rounds (otgrad)")
    p.add_argument(
        "--ot-device", default=None, help="torch device for the OT (otgrad; default: Rust, CPU)"
    )
    p.add_argument("--n-clusters", type=int, default=64, help="k-means clusters (cluster-dsir)")
    p.add_argument("--seed", type=int, default=0, help="seed (cluster-dsir, classifier)")
    p.set_defaults(func=run)
