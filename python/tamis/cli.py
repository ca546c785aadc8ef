"""The ``tamis`` command line (also ``python -m tamis``).

Each subcommand is a function ``add_<name>(subparsers)`` that registers its parser and sets
``func``; later capabilities add theirs to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tamis import __version__
from tamis._progress import progress
from tamis._scoring_cli import add_score
from tamis.exceptions import TamisError
from tamis.features import HashingFeaturizer
from tamis.importance import add_dsir
from tamis.io import ParquetSink, read_batches


def _add_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", type=Path, help="files, directories or globs")
    p.add_argument("--text-column", default="text", help="text column (default: text)")
    p.add_argument("--id-column", default=None, help="id column (default: id, created if absent)")
    p.add_argument("--batch-size", type=int, default=8192, help="rows per batch")
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_featurizer(p: argparse.ArgumentParser) -> None:
    p.add_argument("--buckets", type=int, default=10_000, help="hash buckets (default 10000)")
    p.add_argument("--ngram-range", type=int, nargs=2, default=(1, 2), metavar=("MIN", "MAX"))
    p.add_argument("--analyzer", choices=["word", "char"], default="word")
    p.add_argument("--no-lowercase", action="store_true", help="keep case")
    p.add_argument("--nfkc", action="store_true", help="NFKC-normalise first")
    p.add_argument("--strip-punctuation", action="store_true")
    p.add_argument("--fold-whitespace", action="store_true")
    p.add_argument("--seed", type=int, default=0, help="hash seed")


def _featurizer(args: argparse.Namespace) -> HashingFeaturizer:
    return HashingFeaturizer(
        args.buckets,
        tuple(args.ngram_range),
        analyzer=args.analyzer,
        lowercase=not args.no_lowercase,
        nfkc=args.nfkc,
        strip_punctuation=args.strip_punctuation,
        fold_whitespace=args.fold_whitespace,
        seed=args.seed,
        n_threads=args.threads,
    )


def _batches(args: argparse.Namespace, columns: Sequence[str] | None = None) -> Any:
    return read_batches(
        args.inputs if len(args.inputs) > 1 else args.inputs[0],
        text_column=args.text_column,
        id_column=args.id_column,
        columns=columns,
        batch_size=args.batch_size,
    )


def cmd_features(args: argparse.Namespace) -> int:
    """Hashed n-gram counts of a corpus, per document (Parquet, npz) or summed (``--sum``)."""
    feat = _featurizer(args)
    out = Path(args.output)
    fmt = "npz" if out.suffix == ".npz" else "parquet"
    params = {**feat.get_params(), "inputs": [str(p) for p in args.inputs], "sum": args.sum}
    id_col = args.id_column or "id"
    bar = progress(desc="features", enabled=not args.quiet)
    n_docs = 0
    if args.sum:
        total = np.zeros(feat.n_buckets, dtype=np.uint64)
        for batch in _batches(args, columns=[]):
            feat.count(batch.column(args.text_column), out=total)
            n_docs += batch.num_rows
            bar.update(batch.num_rows)
        if fmt == "npz":
            _save_npz(out, counts=total)
        else:
            table = pa.table({"bucket": np.arange(feat.n_buckets, dtype=np.uint32), "count": total})
            with ParquetSink(out, "features", params) as sink:
                sink.write(table)
    elif fmt == "npz":
        parts, ids = [], []
        for batch in _batches(args, columns=[]):
            parts.append(feat.transform(batch.column(args.text_column)))
            ids.append(batch.column(id_col))
            n_docs += batch.num_rows
            bar.update(batch.num_rows)
        from tamis.features import _concat

        csr = _concat(parts, feat.n_buckets)
        id_arr = pa.chunked_array(ids).to_numpy(zero_copy_only=False) if ids else np.empty(0)
        _save_npz(
            out,
            indptr=csr.indptr,
            indices=csr.indices,
            data=csr.data,
            n_tokens=csr.n_tokens,
            ids=id_arr,
            shape=np.array(csr.shape),
        )
    else:
        schema = None
        with ParquetSink(out, "features", params) as sink:
            for batch in _batches(args, columns=[]):
                csr = feat.transform(batch.column(args.text_column))
                offsets = pa.array(csr.indptr.astype(np.int64), type=pa.int64())
                table = pa.table(
                    {
                        "id": batch.column(id_col),
                        "n_tokens": csr.n_tokens,
                        "buckets": pa.LargeListArray.from_arrays(offsets, pa.array(csr.indices)),
                        "counts": pa.LargeListArray.from_arrays(offsets, pa.array(csr.data)),
                    }
                )
                schema = table.schema
                sink.write(table)
                n_docs += batch.num_rows
                bar.update(batch.num_rows)
            if schema is None:
                sink.schema = pa.schema(
                    [
                        ("id", pa.string()),
                        ("n_tokens", pa.uint64()),
                        ("buckets", pa.large_list(pa.uint32())),
                        ("counts", pa.large_list(pa.uint32())),
                    ]
                )
    bar.close()
    print(f"features: {n_docs} documents -> {out}", file=sys.stderr)
    return 0


def _save_npz(out: Path, **arrays: np.ndarray) -> None:
    import os
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".npz", dir=out.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_stats(args: argparse.Namespace) -> int:
    """Documents, nulls, empty documents, bytes and tokens per value of ``--by``."""
    feat = HashingFeaturizer(1, (1, 1), n_threads=args.threads)
    groups: dict[Any, dict[str, int]] = {}
    keys = ("documents", "null", "empty", "bytes", "tokens")
    bar = progress(desc="stats", enabled=not args.quiet)
    for batch in _batches(args, columns=[args.by] if args.by else []):
        text = batch.column(args.text_column)
        tokens = feat.count_tokens(text)
        nbytes = pc.fill_null(pc.binary_length(text), 0)
        table = pa.table(
            {
                "group": batch.column(args.by)
                if args.by
                else pa.nulls(batch.num_rows, pa.string()),
                "documents": pa.array(np.ones(batch.num_rows, dtype=np.int64)),
                "null": pc.cast(pc.is_null(text), pa.int64()),
                "empty": pc.cast(pc.equal(pc.fill_null(pc.binary_length(text), -1), 0), pa.int64()),
                "bytes": pc.cast(nbytes, pa.int64()),
                "tokens": pa.array(tokens.astype(np.int64)),
            }
        )
        agg = table.group_by("group").aggregate([(k, "sum") for k in keys])
        for row in agg.to_pylist():
            g = groups.setdefault(row["group"], dict.fromkeys(keys, 0))
            for k in keys:
                g[k] += row[f"{k}_sum"]
        bar.update(batch.num_rows)
    bar.close()
    total = {k: sum(g[k] for g in groups.values()) for k in keys}
    rows = [
        (str(g) if args.by else "(all)", v)
        for g, v in sorted(groups.items(), key=lambda kv: str(kv[0]))
    ]
    if args.by:
        rows.append(("TOTAL", total))
    width = max([len(r[0]) for r in rows] + [len(args.by or "group")])
    print(f"{args.by or 'group':<{width}}  " + "  ".join(f"{k:>12}" for k in keys))
    for name, v in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{v[k]:>12}" for k in keys))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"by": args.by, "groups": {str(g): v for g, v in groups.items()}, "total": total},
                indent=2,
            )
        )
    return 0


def add_features(sub: Any) -> None:
    """Register ``tamis features``."""
    p = sub.add_parser("features", help="hashed n-gram counts of a corpus")
    _add_input(p)
    _add_featurizer(p)
    p.add_argument("-o", "--output", required=True, help="output .parquet or .npz")
    p.add_argument("--sum", action="store_true", help="one count vector for the whole corpus")
    p.set_defaults(func=cmd_features)


def add_stats(sub: Any) -> None:
    """Register ``tamis stats``."""
    p = sub.add_parser("stats", help="documents, bytes and tokens per domain")
    _add_input(p)
    p.add_argument("--by", default=None, help="group by this column (e.g. domain)")
    p.add_argument("--json", default=None, help="also write the table as JSON here")
    p.set_defaults(func=cmd_stats)


def cmd_dedup(args: argparse.Namespace) -> int:
    """Near-duplicate removal: two streaming passes (signatures, then the filtered copy)."""
    import time

    from tamis.dedup import MinHashDeduplicator

    t0 = time.perf_counter()
    dedup = MinHashDeduplicator(
        threshold=args.threshold,
        num_perm=args.num_perm,
        ngram=args.ngram,
        analyzer=args.analyzer,
        scheme=args.scheme,
        seed=args.seed,
        num_bands=args.bands,
        rows=args.rows,
        verify=args.verify,
        keep=args.keep,
        exact=not args.no_exact,
        lowercase=not args.no_lowercase,
        nfkc=args.nfkc,
        strip_punctuation=args.strip_punctuation,
        fold_whitespace=args.fold_whitespace,
        low_memory=args.low_memory,
        n_threads=args.threads,
    )
    if args.keep == "score" and not args.score_column:
        raise ValueError("--keep score needs --score-column")
    if args.backend == "ray":
        from tamis.ray import cmd_dedup_ray

        return cmd_dedup_ray(args, dedup)
    id_col = args.id_column or "id"
    extra = [args.score_column] if args.score_column else []
    ids, scores = [], []
    bar = progress(desc="dedup: signatures", enabled=not args.quiet)
    for batch in _batches(args, columns=extra):
        dedup.add(batch.column(args.text_column))
        ids.append(batch.column(id_col))
        if args.score_column:
            scores.append(batch.column(args.score_column).to_numpy(zero_copy_only=False))
        bar.update(batch.num_rows)
    bar.close()
    if args.verify == "exact":  # a second pass: shingle sets of the candidate rows only
        dedup.add_shingle_sets(b.column(args.text_column) for b in _batches(args, columns=[]))
    id_arr = pa.chunked_array(ids) if ids else pa.chunked_array([], pa.string())
    user_ids = args.id_column is not None
    dedup.cluster(
        ids=id_arr.to_numpy() if user_ids and args.keep == "first" else None,
        scores=np.concatenate(scores).astype(np.float64) if scores else None,
    )
    keep, dup_of, cluster = dedup.keep_mask_, dedup.duplicate_of_, dedup.cluster_id_
    t_cluster = time.perf_counter() - t0
    params = {
        **dedup.get_params(),
        "num_bands": dedup.num_bands_,
        "rows": dedup.rows_,
        "inputs": [str(p) for p in args.inputs],
        "all_rows": args.all_rows,
    }
    row = 0
    bar = progress(desc="dedup: write", enabled=not args.quiet)
    with ParquetSink(args.output, "dedup", params) as sink:
        for batch in _batches(args, columns=None):
            n = batch.num_rows
            k = keep[row : row + n]
            if args.all_rows:
                d = dup_of[row : row + n]
                dup_ids = id_arr.take(pa.array(np.where(d >= 0, d, 0))).combine_chunks()
                table = pa.Table.from_batches([batch])
                table = table.append_column("cluster_id", pa.array(cluster[row : row + n]))
                table = table.append_column(
                    "duplicate_of", pc.if_else(pa.array(d >= 0), dup_ids, pa.nulls(n, id_arr.type))
                )
                table = table.append_column("keep", pa.array(k))
                sink.write(table)
            else:
                sink.write(pa.Table.from_batches([batch]).filter(pa.array(k)))
            row += n
            bar.update(n)
        if sink.rows == 0 and row == 0:
            sink.schema = pa.schema([(args.text_column, pa.string()), (id_col, pa.string())])
    bar.close()
    n_docs = len(keep)
    n_empty = int((dedup.n_shingles_ == 0).sum())
    n_kept = int(keep.sum())
    sizes = np.bincount(cluster) if n_docs else np.zeros(0, np.int64)
    summary = {
        "documents": n_docs,
        "empty_or_null": n_empty,
        "kept": n_kept,
        "removed": n_docs - n_kept,
        "duplicate_clusters": int((sizes >= 2).sum()),
        "largest_cluster": int(sizes.max()) if n_docs else 0,
        "num_bands": dedup.num_bands_,
        "rows": dedup.rows_,
        "seconds": round(time.perf_counter() - t0, 3),
        "seconds_to_clusters": round(t_cluster, 3),
    }
    print(
        f"dedup: {n_docs} documents, {n_kept} kept, {n_docs - n_kept} removed "
        f"({summary['duplicate_clusters']} duplicate clusters, largest {summary['largest_cluster']}), "
        f"{n_empty} empty/null; b={dedup.num_bands_} r={dedup.rows_}; "
        f"{summary['seconds']} s -> {args.output}",
        file=sys.stderr,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


def add_dedup(sub: Any) -> None:
    """Register ``tamis dedup``."""
    p = sub.add_parser("dedup", help="remove near-duplicates (MinHash LSH) and exact duplicates")
    _add_input(p)
    p.add_argument("-o", "--output", required=True, help="output .parquet")
    p.add_argument("--threshold", type=float, default=0.8, help="Jaccard threshold (0.8)")
    p.add_argument("--num-perm", type=int, default=128, help="signature length (128)")
    p.add_argument("--ngram", type=int, default=5, help="shingle size (5)")
    p.add_argument("--analyzer", choices=["word", "char"], default="word")
    p.add_argument("--scheme", choices=["fast", "affine32", "legacy"], default="fast")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--bands", type=int, default=None, help="LSH bands (default: optimal)")
    p.add_argument("--rows", type=int, default=None, help="rows per band (with --bands)")
    p.add_argument(
        "--verify",
        choices=["estimate", "exact", "none"],
        default="exact",
        help="check candidates by exact Jaccard of shingle sets (default; a second pass over "
        "the input for the candidate rows), by the MinHash estimate, or not at all",
    )
    p.add_argument("--keep", choices=["first", "longest", "score"], default="first")
    p.add_argument("--score-column", default=None, help="column for --keep score")
    p.add_argument("--no-exact", action="store_true", help="skip exact (hash) dedup")
    p.add_argument("--all-rows", action="store_true", help="write all rows with cluster columns")
    p.add_argument("--no-lowercase", action="store_true", help="keep case")
    p.add_argument("--nfkc", action="store_true")
    p.add_argument("--strip-punctuation", action="store_true")
    p.add_argument("--fold-whitespace", action="store_true")
    p.add_argument(
        "--low-memory",
        action="store_true",
        help="keep band keys (~100 bytes per document) instead of signatures",
    )
    p.add_argument("--json", default=None, help="also write the summary as JSON here")
    p.add_argument("--backend", choices=["local", "ray"], default="local", help="ray: tamis[ray]")
    p.add_argument("--address", default=None, help="Ray cluster address (--backend ray)")
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
    p.set_defaults(func=cmd_dedup)


COMMANDS: list[Callable[[Any], None]] = [add_features, add_stats, add_dsir, add_dedup, add_score]

from tamis._coreset_cli import add_coreset  # noqa: E402  (imports tamis.sensitivity)

COMMANDS.append(add_coreset)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="tamis",
        description="Select pre-training data: features, stats, DSIR, dedup, scoring, coresets.",
    )
    parser.add_argument("--version", action="version", version=f"tamis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (errors print one line and give status 1 or 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except (TamisError, ValueError, TypeError, OSError, ImportError) as e:
        print(f"tamis {args.command}: error: {e}", file=sys.stderr)
        return 1
