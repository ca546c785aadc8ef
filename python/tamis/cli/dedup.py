"""``tamis dedup``: near-duplicate removal (MinHash LSH + exact), locally or on Ray.

Both backends compute the same clusters and write the same file through :func:`_write`; the
local backend streams the inputs twice (signatures, then the filtered copy; three times with
``--verify exact``, whose second pass builds shingle sets of the candidate rows only).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tamis._arrow import from_numpy
from tamis._prefetch import write_behind
from tamis.cli import _common as c
from tamis.cli._stream import RowGroups, batch_rows, prefetch
from tamis.output import open_sink, write_json


@dataclass
class Clusters:
    """What both backends hand to the writer."""

    keep: np.ndarray
    duplicate_of: np.ndarray
    cluster_id: np.ndarray
    n_shingles: np.ndarray
    num_bands: int
    rows: int
    ids: Any  # id of every row, for duplicate_of (None: not needed)


def _deduplicator(args: argparse.Namespace) -> Any:
    from tamis.dedup import MinHashDeduplicator

    return MinHashDeduplicator(
        threshold=args.threshold,
        num_perm=args.num_perm,
        ngram=args.ngram,
        analyzer=args.analyzer,
        scheme=args.scheme,
        seed=args.seed,
        num_bands=args.num_bands,
        rows=args.rows,
        banding=args.banding,
        verify=args.verify,
        keep=args.keep,
        exact=not args.no_exact,
        **c.normalizer_kwargs(args),
        low_memory=args.low_memory,
        n_threads=args.n_threads,
    )


def _batches(args: argparse.Namespace, columns: list[str] | None, rows: int) -> Iterator[Any]:
    """One streaming pass over the inputs: ``rows`` per batch, read ahead in a thread."""
    from tamis.io import read_batches

    return prefetch(
        read_batches(
            c.source(args.inputs),
            text_column=args.text_column,
            id_column=args.id_column,
            columns=columns,
            batch_size=rows,
            use_threads=False,  # decoded in prefetch's thread: fewer allocator heaps
        )
    )


def _local(args: argparse.Namespace, d: Any, total: int | None) -> tuple[Clusters, Iterator[Any]]:
    id_col = args.id_column or "id"
    # About 2 MB of text per batch (at most --batch-size rows): peak memory follows the batch.
    rows_per_batch = batch_rows(c.expand_inputs(args.inputs), args.text_column, args.batch_size)
    # Ids are read only where they are used: duplicate_of (--all-rows), keep="first" by the
    # user's ids. Every pass reads only the columns it needs, in a prefetch thread.
    need_ids = args.all_rows or (args.id_column is not None and args.keep == "first")
    extra = [args.score_column] if args.score_column else []
    ids, scores = [], []
    bar = c.bar(args, "dedup: signatures", total)
    for batch in _batches(args, extra, rows_per_batch):
        d.add(batch.column(args.text_column))
        if need_ids:
            ids.append(batch.column(id_col))
        if args.score_column:
            scores.append(batch.column(args.score_column).to_numpy(zero_copy_only=False))
        bar.update(batch.num_rows)
        del batch
    bar.close()
    if args.verify == "exact":  # a second pass: shingle sets of the candidate rows only
        bar = c.bar(args, "dedup: verify", total)

        def texts() -> Iterator[Any]:
            for b in _batches(args, [], rows_per_batch):
                bar.update(b.num_rows)
                yield b.column(args.text_column)

        d.add_shingle_sets(texts())
        bar.close()
    id_arr = None
    if need_ids:
        id_arr = pa.chunked_array(ids) if ids else pa.chunked_array([], pa.string())
    d.cluster(
        ids=id_arr.to_numpy(zero_copy_only=False)
        if id_arr is not None and args.id_column is not None and args.keep == "first"
        else None,
        scores=np.concatenate(scores).astype(np.float64) if scores else None,
    )
    res = Clusters(
        d.keep_mask_, d.duplicate_of_, d.cluster_id_, d.n_shingles_, d.num_bands_, d.rows_, id_arr
    )

    def rows() -> Iterator[tuple[pa.Table, np.ndarray | None]]:
        start = 0
        for batch in _batches(args, None, rows_per_batch):
            n = batch.num_rows
            yield pa.Table.from_batches([batch]), np.arange(start, start + n)
            start += n

    return res, rows()


def _ray(args: argparse.Namespace, d: Any) -> tuple[Clusters, Iterator[Any]]:
    from tamis import ray as tray

    tray.init(args.address)
    res = tray.dedup(
        d,
        list(args.inputs),
        text_column=args.text_column,
        id_column=args.id_column,
        score_column=args.score_column,
        num_partitions=args.ray_partitions,
        components=args.ray_components,
        verify_on=args.ray_verify_on,
    )
    id_col = args.id_column or "id"
    id_arr = None
    if args.all_rows:
        ids = tray.collect(res.dataset.select_columns([tray.POS, id_col]))
        ids = ids.take(pa.array(np.argsort(ids.column(tray.POS).to_numpy(), kind="stable")))
        id_arr = ids.column(id_col).combine_chunks()
    clusters = Clusters(
        res.keep_mask,
        res.duplicate_of,
        res.cluster_id,
        res.n_shingles,
        res.num_bands,
        res.rows,
        id_arr,
    )

    def rows() -> Iterator[tuple[pa.Table, np.ndarray | None]]:
        ds = res.dataset if args.all_rows else res.kept()
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            if tray.POS in batch.column_names:
                pos = batch.column(tray.POS).to_numpy().astype(np.int64)
                yield batch.drop_columns([tray.POS]), pos
            else:  # kept() rows carry no position: all are kept
                yield batch, None

    return clusters, rows()


def _write(
    write: Callable[[pa.Table], None],
    res: Clusters,
    rows: Iterator[Any],
    all_rows: bool,
    bar: Any,
) -> None:
    for table, pos in rows:
        n = table.num_rows
        if not all_rows:
            if pos is not None:
                table = table.filter(from_numpy(res.keep[pos]))
            if table.num_rows:
                write(table)
            bar.update(n)
            continue
        dd = res.duplicate_of[pos]
        dup_ids = res.ids.take(from_numpy(np.where(dd >= 0, dd, 0)))
        if isinstance(dup_ids, pa.ChunkedArray):
            dup_ids = dup_ids.combine_chunks()
        table = table.append_column("cluster_id", from_numpy(res.cluster_id[pos]))
        table = table.append_column(
            "duplicate_of", pc.if_else(from_numpy(dd >= 0), dup_ids, pa.nulls(n, dup_ids.type))
        )
        write(table.append_column("keep", from_numpy(res.keep[pos])))
        bar.update(n)


def _writer_options(args: argparse.Namespace) -> dict[str, Any]:
    """Parquet dictionaries for every output column but the text.

    A text dictionary falls back to plain pages after hashing 1 MB of texts per row group (CPU
    and ~10 MB of peak memory for nothing).
    """
    from tamis.io import scan_schema

    if args.backend == "ray":
        return {}
    names = scan_schema(c.source(args.inputs), args.text_column, args.id_column).names
    names += ["cluster_id", "duplicate_of", "keep"]
    return {"use_dictionary": [n for n in names if n != args.text_column]}


def run(args: argparse.Namespace) -> int:
    """Near-duplicate removal; writes the kept rows (or all rows with cluster columns)."""
    if args.keep == "score" and not args.score_column:
        raise ValueError("--keep score needs --score-column")
    extra = [args.score_column] if args.score_column else []
    out = c.prepare(args, inputs=args.inputs, columns=extra, o=args.output, json=args.json)
    t0 = time.perf_counter()
    d = _deduplicator(args)
    files = c.expand_inputs(args.inputs)
    total = c.total_rows(files)
    if args.backend == "ray":
        res, rows = _ray(args, d)
    else:
        res, rows = _local(args, d, total)
    t_cluster = time.perf_counter() - t0
    params = {
        **d.get_params(),
        "num_bands": res.num_bands,
        "rows": res.rows,
        "inputs": [str(p) for p in args.inputs],
        "all_rows": args.all_rows,
        "backend": args.backend,
    }
    id_col = args.id_column or "id"
    empty = pa.schema([(args.text_column, pa.large_string()), (id_col, pa.string())])
    if args.all_rows:
        empty = empty.append(pa.field("cluster_id", pa.int64()))
        empty = empty.append(pa.field("duplicate_of", pa.string()))
        empty = empty.append(pa.field("keep", pa.bool_()))
    bar = c.bar(args, "dedup: write", total)
    with open_sink(out["o"], "dedup", params, schema=empty) as sink:
        sink.writer_options = _writer_options(args)
        groups = RowGroups(sink, args.batch_size)
        # Row groups are encoded and compressed in a thread of their own (Arrow releases the
        # GIL), while the next batch is read and filtered: snappy was most of this pass.
        with write_behind(groups.write) as put:
            _write(put, res, rows, args.all_rows, bar)
        groups.flush()
    bar.close()
    n_docs = len(res.keep)
    n_kept = int(res.keep.sum())
    n_empty = int((res.n_shingles == 0).sum())
    sizes = np.bincount(res.cluster_id) if n_docs else np.zeros(0, np.int64)
    summary = {
        "documents": n_docs,
        "empty_or_null": n_empty,
        "kept": n_kept,
        "removed": n_docs - n_kept,
        "duplicate_clusters": int((sizes >= 2).sum()),
        "largest_cluster": int(sizes.max()) if n_docs else 0,
        "num_bands": res.num_bands,
        "rows": res.rows,
        "backend": args.backend,
        "seconds": round(time.perf_counter() - t0, 3),
        "seconds_to_clusters": round(t_cluster, 3),
    }
    print(
        f"dedup{' (ray)' if args.backend == 'ray' else ''}: {n_docs} documents, {n_kept} kept, "
        f"{n_docs - n_kept} removed ({summary['duplicate_clusters']} duplicate clusters, largest "
        f"{summary['largest_cluster']}), {n_empty} empty/null; b={res.num_bands} r={res.rows}; "
        f"{summary['seconds']} s -> {args.output}",
        file=sys.stderr,
    )
    if args.json:
        write_json(out["json"], summary)
    return 0


def add(sub: Any) -> None:
    """Register ``tamis dedup``."""
    p = c.add_parser(
        sub,
        "dedup",
        "remove near-duplicates (MinHash LSH, verified) and exact duplicates",
        "Keep one document per near-duplicate cluster: MinHash signatures, LSH bands, candidates "
        "verified by exact Jaccard of shingle sets (default), then one row kept per cluster.",
    )
    c.add_input_options(p)
    p.add_argument(
        "-o", "--output", required=True, help="output .parquet or .jsonl[.gz|.zst] ('-': stdout)"
    )
    p.add_argument("--threshold", type=float, default=0.8, help="Jaccard similarity threshold")
    p.add_argument("--num-perm", type=int, default=128, help="MinHash signature length")
    p.add_argument("--ngram", type=int, default=5, help="shingle size (tokens or characters)")
    p.add_argument("--analyzer", choices=["word", "char"], default="word", help="shingle unit")
    p.add_argument(
        "--scheme",
        choices=["fast", "affine32", "legacy"],
        default="fast",
        help="permutations (affine32/legacy: datasketch-exact)",
    )
    p.add_argument("--seed", type=int, default=1, help="permutation seed")
    p.add_argument(
        "--num-bands",
        "--bands",
        action=c.Store,
        dest="num_bands",
        type=int,
        default=None,
        help="LSH bands (default: the optimum for --threshold)",
    )
    p.add_argument("--rows", type=int, default=None, help="rows per band (with --num-bands)")
    p.add_argument(
        "--banding",
        choices=["auto", "recall", "datasketch"],
        default="auto",
        help="bands when --num-bands is not given: recall (P(candidate) >= 0.99 at --threshold, "
        "for exact verification), datasketch (its optimum), auto: recall with --verify exact",
    )
    p.add_argument(
        "--verify",
        choices=["estimate", "exact", "none"],
        default="exact",
        help="check candidates by exact Jaccard of shingle sets (a second pass over the input for "
        "the candidate rows), by the MinHash estimate, or not at all",
    )
    p.add_argument(
        "--keep",
        choices=["first", "longest", "score"],
        default="first",
        help="row kept per cluster",
    )
    p.add_argument("--score-column", default=None, help="column for --keep score")
    p.add_argument("--no-exact", action="store_true", help="skip exact (hash) dedup")
    p.add_argument("--all-rows", action="store_true", help="write all rows with cluster columns")
    c.add_normalizer_options(p)
    p.add_argument(
        "--low-memory",
        action="store_true",
        help="keep band keys (~100 bytes per document) instead of signatures",
    )
    p.add_argument("--json", default=None, help="also write the summary as JSON here ('-': stdout)")
    c.add_backend_options(p)
    p.add_argument(
        "--ray-verify-on",
        choices=["driver", "workers"],
        default="driver",
        help="--backend ray: verify candidates on the driver or in the band-key groups",
    )
    p.add_argument(
        "--ray-components",
        choices=["driver", "ray"],
        default="driver",
        help="--backend ray: union-find on the driver, or large-star/small-star on Ray",
    )
    p.add_argument(
        "--ray-partitions", type=int, default=16, help="--backend ray: shuffle partitions"
    )
    p.set_defaults(func=run)
