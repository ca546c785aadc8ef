"""``tamis cluster``: k-means of an embedding column (assignments + a centroids file)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tamis.cli import _common as c
from tamis.cluster import ALGORITHMS, INITS, LINKAGES, METRICS, KMeans, merge_centroids
from tamis.exceptions import InputError
from tamis.output import open_sink


def check_embedding_columns(path: Path, embedding_column: str, id_column: str | None) -> str | None:
    """Check the columns against the Parquet schema (before any work); return the id column."""
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowInvalid) as e:
        raise InputError(f"{path}: not a readable Parquet file ({e})") from None
    for flag, col in (("--embedding-column", embedding_column), ("--id-column", id_column)):
        if col is not None and col not in names:
            raise InputError(f"{path}: {flag}: no column {col!r} (columns: {', '.join(names)})")
    if id_column is None and "id" in names and embedding_column != "id":
        return "id"
    return id_column


def read_embeddings(path: Path, embedding_column: str, id_column: str | None) -> tuple[Any, Any]:
    """``(X, ids)`` of a Parquet file: the embedding matrix and the id column (or row numbers)."""
    cols = [embedding_column] + ([id_column] if id_column else [])
    table = pq.read_table(path, columns=cols)
    try:
        X = c.embedding_matrix(table.column(embedding_column), embedding_column)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    ids = table.column(id_column) if id_column else pa.array(np.arange(table.num_rows))
    return X, ids


def _check_npz(path: Any, flag: str) -> None:
    if path is not None and Path(path).suffix != ".npz":
        raise ValueError(f"{flag} must be a .npz file, got {path}")


def run(args: argparse.Namespace) -> int:
    """Write ``id, cluster_id, distance`` (and ``super_cluster_id``) per row; save centroids."""
    _check_npz(args.centroids, "--centroids")
    _check_npz(args.init_centroids, "--init-centroids")
    if (args.k is None) == (args.init_centroids is None):
        raise ValueError("give -k (fit k-means) or --init-centroids (assign to saved centroids)")
    inputs = [args.input] + ([args.init_centroids] if args.init_centroids else [])
    outs = c.prepare(args, inputs=inputs, o=args.output, centroids=args.centroids)
    id_col = check_embedding_columns(args.input, args.embedding_column, args.id_column)
    if args.n_super_clusters is not None and args.n_super_clusters < 1:
        raise ValueError(f"--n-super-clusters must be >= 1, got {args.n_super_clusters}")
    if args.init_centroids is not None:
        km = KMeans.load(args.init_centroids, n_threads=args.n_threads)
        return _assign(args, km, id_col, outs["o"])
    km = KMeans(
        args.k,
        metric=args.metric,
        init=args.init,
        algorithm=args.algorithm,
        max_iter=args.max_iter,
        tol=args.tol,
        n_init=args.n_init,
        batch_size=args.batch_size,
        seed=args.seed,
        n_threads=args.n_threads,
    )
    X, ids = read_embeddings(args.input, args.embedding_column, id_col)
    if X.shape[0] < args.k:
        raise ValueError(f"-k: k must be at most the number of rows ({X.shape[0]}), got {args.k}")
    km.fit(X)
    cols: dict[str, Any] = {"id": ids, "cluster_id": km.labels_, "distance": km.distances_}
    if args.n_super_clusters is not None:
        sup, _ = merge_centroids(
            km.centroids_,
            n_clusters=min(args.n_super_clusters, args.k),
            weights=np.maximum(km.counts_, 1),
            linkage=args.linkage,
        )
        cols["super_cluster_id"] = sup[km.labels_]
    with open_sink(outs["o"], "cluster", _params(args, X.shape)) as sink:
        sink.write(pa.table(cols))
    if outs.get("centroids") is not None:
        km.save(outs["centroids"])
    print(
        f"cluster: {X.shape[0]} rows into {args.k} clusters, inertia {km.inertia_:.6g}, "
        f"{km.n_iter_} iterations -> {args.output}",
        file=sys.stderr,
    )
    return 0


def _params(args: argparse.Namespace, shape: tuple[int, ...]) -> dict[str, Any]:
    keys = ("embedding_column", "k", "metric", "init", "algorithm", "max_iter", "tol", "n_init")
    params = {key: getattr(args, key) for key in keys}
    params.update(input=str(args.input), seed=args.seed, n=int(shape[0]), d=int(shape[1]))
    return params


def _assign(args: argparse.Namespace, km: KMeans, id_col: str | None, out: Any) -> int:
    """Streaming assignment: one Parquet batch at a time against the saved centroids."""
    cols = [args.embedding_column] + ([id_col] if id_col else [])
    n = 0
    params = {"input": str(args.input), "init_centroids": str(args.init_centroids), "k": km.k}
    with open_sink(out, "cluster", params) as sink:
        for batch in pq.ParquetFile(args.input).iter_batches(columns=cols):
            try:
                X = c.embedding_matrix(batch.column(0), args.embedding_column)
            except InputError as e:
                raise InputError(f"{args.input}: rows from {n}: {e}") from None
            labels, dist = km.transform_distances(X)
            ids = batch.column(1) if id_col else pa.array(np.arange(n, n + len(labels)))
            sink.write(pa.table({"id": ids, "cluster_id": labels, "distance": dist}))
            n += len(labels)
    print(f"cluster: {n} rows assigned to {km.k} saved centroids -> {args.output}", file=sys.stderr)
    return 0


def add(sub: Any) -> None:
    """Register ``tamis cluster``."""
    p = c.add_parser(sub, "cluster", "k-means of an embedding column: assignments + centroids")
    p.add_argument(
        "input", type=Path, help="Parquet file with embeddings (tamis score --task embed)"
    )
    p.add_argument("--embedding-column", default="embedding", help="list<float> column")
    p.add_argument(
        "--id-column", default=None, help="row id column (default: id if present, else row number)"
    )
    p.add_argument("-k", type=int, default=None, help="number of clusters")
    p.add_argument("--metric", choices=METRICS, default="l2", help="distance")
    p.add_argument("--init", choices=INITS, default="k-means++", help="initialisation")
    p.add_argument("--algorithm", choices=ALGORITHMS, default="lloyd", help="full or mini-batch")
    p.add_argument("--max-iter", type=int, default=100, help="iterations (mini-batch: passes)")
    p.add_argument("--tol", type=float, default=1e-4, help="relative centroid shift to stop at")
    p.add_argument("--n-init", type=int, default=1, help="runs; the lowest inertia is kept")
    p.add_argument("--batch-size", type=int, default=1024, help="rows per mini-batch step")
    p.add_argument("--seed", type=int, default=0, help="seed")
    p.add_argument(
        "--n-super-clusters",
        type=int,
        default=None,
        help="also merge the centroids into this many super-clusters (CLIMB)",
    )
    p.add_argument("--linkage", choices=LINKAGES, default="ward", help="super-cluster linkage")
    c.add_threads(p)
    p.add_argument("--centroids", type=Path, default=None, help="save the centroids (.npz)")
    p.add_argument(
        "--init-centroids",
        type=Path,
        default=None,
        help="assign rows to centroids saved by --centroids instead of fitting (streaming)",
    )
    p.add_argument(
        "-o", "--output", required=True, help="output .parquet or .jsonl[.gz|.zst] ('-': stdout)"
    )
    p.set_defaults(func=run)
