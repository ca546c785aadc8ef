"""``tamis dsir``: select raw documents whose n-gram distribution matches a target (DSIR)."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from tamis._arrow import to_numpy
from tamis.cli import _common as c
from tamis.importance import METHODS, ImportanceResampler
from tamis.importance.estimator import KEEP_FEATURES_MB
from tamis.output import atomic_path, open_sink, write_json


def _resampler(args: argparse.Namespace) -> ImportanceResampler:
    common: dict[str, Any] = {
        "separate_targets": args.separate_targets,
        "target_proportions": args.target_proportions,
        "seed": args.seed,
        "n_threads": args.n_threads,
        "text_column": args.text_column,
        "id_column": args.id_column,
        "batch_size": args.batch_size,
    }
    for name in ("alpha", "min_length", "eps", "n_buckets"):
        if getattr(args, name) is not None:
            common[name] = getattr(args, name)
    if args.no_length_norm:
        common["length_norm"] = None
    elif args.length_norm is not None:
        common["length_norm"] = args.length_norm
    return (
        ImportanceResampler.reference(**common) if args.reference else ImportanceResampler(**common)
    )


def run(args: argparse.Namespace) -> int:
    """Fit on target + raw, select k raw documents, write them with their weights."""
    if args.k < 1:
        raise ValueError(f"-k must be >= 1, got {args.k}")
    inputs = [*args.target, *args.raw]
    out = c.prepare(
        args,
        inputs=inputs,
        columns=[],
        text_only=args.target,  # the target's ids are never read
        o=args.output,
        json=args.json,
        save_model=args.save_model,
    )
    if args.by:  # --by is a column of the raw corpus only
        c.check_columns(args, args.raw, [args.by])
    r = _resampler(args)
    raw = c.source(args.raw)
    target: Any = list(args.target) if args.separate_targets else c.source(args.target)
    show = not args.quiet
    if args.exclude_eval and args.backend == "ray":
        raise ValueError("--exclude-eval runs with --backend local")
    t0 = time.perf_counter()
    excluded: dict[str, int] = {}
    if args.backend == "local" and not args.exclude_eval:
        # Both passes in one call: raw is featurised once (docs/dsir.md, "End to end").
        table = r.fit_resample(
            target,
            raw,
            args.k,
            method=args.method,
            show_progress=show,
            keep_features_mb=args.keep_features_mb,
        )
        t1 = t0 + r.fit_seconds_
    else:
        if args.backend == "ray":
            from tamis import ray as tray

            tray.init(args.address)
            tray.dsir_fit(r, target, list(args.raw))
        else:
            r.fit(target, raw, show_progress=show)
        t1 = time.perf_counter()
        if args.exclude_eval:
            raw = _excluding(args, excluded)
        if args.backend == "ray":
            table = tray.dsir_resample(r, list(args.raw), args.k, method=args.method)
        else:
            table = r.resample(raw, args.k, method=args.method, show_progress=show)
    t2 = time.perf_counter()
    if args.save_model:
        with atomic_path(out["save_model"]) as tmp:
            r.save(tmp)
    params = {**r.get_params(), "k": args.k, "method": args.method}
    params.update(target=[str(p) for p in args.target], raw=[str(p) for p in args.raw])
    # The KL reduction featurises the selection (Rust, without the GIL) while the rows are
    # written (JSON encoding holds the GIL): they overlap on two cores.
    with ThreadPoolExecutor(1, thread_name_prefix="tamis-kl") as pool:
        kl_future = pool.submit(r.kl_reduction, table.select([r.text_column]))
        with open_sink(out["o"], "dsir", params, schema=table.schema) as sink:
            sink.write(table)
        t3 = time.perf_counter()
        kl = kl_future.result()
    t4 = time.perf_counter()
    id_col = args.id_column or "id"
    distinct = len(pc.unique(table.column(id_col))) if table.num_rows else 0
    summary: dict[str, Any] = {
        "selected": table.num_rows,
        "distinct": distinct,
        "k": args.k,
        "method": args.method,
        "mode": "reference" if args.reference else "default",
        "kl_reduction": kl,
        "seconds": {"fit": t1 - t0, "weights_select": t2 - t1, "write": t3 - t2, "kl": t4 - t3},
        "output": str(args.output),
    }
    if args.exclude_eval:
        summary["excluded_contaminated"] = excluded.get("documents", 0)
    if args.by:
        vals = table.column(args.by).to_pylist()
        uniq, cnt = np.unique(np.array([str(v) for v in vals], dtype=object), return_counts=True)
        summary["by"] = {str(u): int(c) for u, c in sorted(zip(uniq, cnt), key=lambda x: -x[1])}
    if args.json != "-":
        _print(args, table, summary)
    if distinct < table.num_rows / 2:
        warnings.warn(
            f"--method {args.method}: only {distinct} distinct documents among the {table.num_rows} "
            "selected; the weights are concentrated on a few documents (try --method gumbel)",
            RuntimeWarning,
            stacklevel=2,
        )
    if args.json:
        write_json(out["json"], summary)
    return 0


def _excluding(args: argparse.Namespace, counter: dict[str, int]) -> Any:
    """The raw corpus without the documents that contain an ``--exclude-eval`` item (a stream).

    The same scan as ``tamis decontaminate --action drop`` (n = 13, default normalisation):
    DSIR toward a benchmark-like target would otherwise select the benchmark itself.
    """
    import itertools

    import pyarrow as pa

    from tamis._arrow import from_numpy
    from tamis.cli.decontaminate import eval_sets
    from tamis.decontam import Decontaminator
    from tamis.io import read_batches

    spec = argparse.Namespace(eval=args.exclude_eval, eval_fields=None, eval_id_column=None)
    d = Decontaminator(action="drop", n_threads=args.n_threads).fit(eval_sets(spec))
    it = iter(
        read_batches(
            c.source(args.raw),
            text_column=args.text_column,
            id_column=args.id_column,
            batch_size=args.batch_size,
        )
    )
    first = next(it, None)
    if first is None:
        return c.source(args.raw)
    counter["documents"] = 0

    def kept() -> Any:
        for b in itertools.chain([first], it):
            _, flag = d.scan(b.column(args.text_column))
            counter["documents"] += int(flag.sum())
            yield b.filter(from_numpy(~flag))

    return pa.RecordBatchReader.from_batches(first.schema, kept())


def _print(args: argparse.Namespace, table: Any, summary: dict[str, Any]) -> None:
    n = table.num_rows
    w = to_numpy(table.column("log_weight")) if n else np.zeros(1)
    print(
        f"dsir: selected {n} documents ({summary['distinct']} distinct) -> {args.output}"
        f" (log weight {w.min():.4g}..{w.max():.4g})",
        file=sys.stderr,
    )
    if args.by:
        width = max(len(args.by), *(len(u) for u in summary["by"]))
        print(f"  {args.by:<{width}}  selected   share", file=sys.stderr)
        for u, cnt in summary["by"].items():
            print(f"  {u:<{width}}  {cnt:>8}  {cnt / max(n, 1):6.1%}", file=sys.stderr)
    print(f"  KL reduction: {summary['kl_reduction']:.4f}", file=sys.stderr)
    print(
        "  time: fit {fit:.2f}s, weights+select {weights_select:.2f}s, write {write:.2f}s".format(
            **summary["seconds"]
        ),
        file=sys.stderr,
    )


def add(sub: Any) -> None:
    """Register ``tamis dsir``."""
    p = c.add_parser(
        sub,
        "dsir",
        "select raw documents that match a target (DSIR importance resampling)",
        "Fit hashed n-gram distributions on --target and --raw, then select -k raw documents by "
        "importance weight (two streaming passes over --raw). Defaults are tamis's measured ones "
        "(docs/dsir.md); --reference gives data-selection 1.0.3's.",
    )
    p.add_argument("--target", nargs="+", type=Path, required=True, help="target corpus file(s)")
    p.add_argument("--raw", nargs="+", type=Path, required=True, help="raw corpus file(s)")
    p.add_argument("-k", type=int, required=True, help="documents to select")
    p.add_argument(
        "-o", "--output", required=True, help="output .parquet or .jsonl[.gz|.zst] ('-': stdout)"
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        default="gumbel",
        help="gumbel: without replacement by weight; topk: the k largest; replacement: with",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="data-selection 1.0.3 compatible weights (sha256 buckets, no normalisation)",
    )
    p.add_argument(
        "--n-buckets",
        "--buckets",
        action=c.Store,
        dest="n_buckets",
        type=int,
        default=None,
        help="hash buckets (default 65536, reference 10000; see docs/dsir.md)",
    )
    p.add_argument("--alpha", type=float, default=None, help="add-alpha smoothing (default 0)")
    p.add_argument("--eps", type=float, default=None, help="probability floor (default 1e-8)")
    p.add_argument("--min-length", type=int, default=None, help="minimum tokens (default 100)")
    p.add_argument(
        "--length-norm",
        type=float,
        default=None,
        metavar="TOKENS",
        help="rescale log weights to this many tokens (default 100; reference: none)",
    )
    p.add_argument(
        "--no-length-norm", action="store_true", help="raw sums of log ratios (as the reference)"
    )
    p.add_argument("--separate-targets", action="store_true", help="one model per --target file")
    p.add_argument(
        "--target-proportions", type=float, nargs="+", default=None, help="share per --target"
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument(
        "--keep-features-mb",
        type=float,
        default=KEEP_FEATURES_MB,
        metavar="MB",
        help="memory for raw's bucket ids between the two passes, so that raw is featurised "
        f"once (2 bytes per n-gram; default {KEEP_FEATURES_MB:g}; 0: featurise twice)",
    )
    p.add_argument("--by", default=None, help="report selected documents per value of this column")
    p.add_argument("--save-model", default=None, help="also save the fitted model (.npz)")
    p.add_argument("--json", default=None, help="write the summary as JSON here ('-': stdout)")
    c.add_input_options(p, positional=False)
    c.add_backend_options(p)
    p.add_argument(
        "--exclude-eval",
        action="append",
        metavar="NAME=PATH",
        default=None,
        help="never select a raw document containing an item of this eval set (13-gram "
        "decontamination, as tamis decontaminate --action drop); repeatable",
    )
    p.set_defaults(func=run)
