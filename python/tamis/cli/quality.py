"""``tamis quality``: train the hashed n-gram classifier and score corpora with it.

``tamis quality train --positive P... --negative N... -o model.npz`` fits a
:class:`tamis.quality.HashedClassifier` (positives: label 1). ``tamis quality score INPUT...
--model model.npz -o OUT [--min-score S]`` writes every document (or, with ``--min-score``, those
whose score reaches ``S``) with ``score`` (the probability of the positive class; of the predicted
class for a multi-class model, with ``label``) and ``log_odds`` (two classes).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from tamis.cli import _common as c
from tamis.output import atomic_path, open_sink, write_json
from tamis.quality import HashedClassifier, score_table


def _train(args: argparse.Namespace) -> int:
    inputs = [*args.positive, *args.negative]
    out = c.prepare(args, inputs=inputs, json=args.json, save_model=args.output)
    clf = HashedClassifier(
        n_buckets=args.n_buckets,
        ngram_range=(1, args.max_n),
        l2=args.l2,
        class_weight=args.class_weight,
        tol=args.tol,
        max_iter=args.max_iter,
        seed=args.seed,
        n_threads=args.n_threads,
        text_column=args.text_column,
    )
    t0 = time.perf_counter()
    clf.fit_binary(c.source(args.positive), c.source(args.negative))
    with atomic_path(out["save_model"]) as tmp:
        clf.save(tmp)
    summary = {
        "n_iter": clf.n_iter_,
        "converged": clf.converged_,
        "loss": clf.loss_,
        "seconds": time.perf_counter() - t0,
        "output": str(args.output),
    }
    if not args.quiet:
        print(
            f"quality train: {clf.n_iter_} L-BFGS iterations "
            f"({'converged' if clf.converged_ else 'NOT converged: raise --max-iter'}), "
            f"loss {clf.loss_:.4g}, {summary['seconds']:.2f}s -> {args.output}",
            file=sys.stderr,
        )
    if args.json:
        write_json(out["json"], summary)
    return 0


def _score(args: argparse.Namespace) -> int:
    if args.model.suffix != ".npz":
        raise ValueError(
            f"--model must be a .npz file written by `tamis quality train`: {args.model}"
        )
    if not args.model.is_file():
        raise FileNotFoundError(f"--model: no such file: {args.model}")
    out = c.prepare(args, inputs=args.inputs, o=args.output, json=args.json)
    if str(args.output) != "-" and Path(args.output).resolve() == args.model.resolve():
        raise ValueError(f"-o {args.output} would overwrite --model")
    clf = HashedClassifier.load(args.model, n_threads=args.n_threads, text_column=args.text_column)
    params = {**clf.get_params(), "model": str(args.model), "min_score": args.min_score}
    params["inputs"] = [str(p) for p in args.inputs]
    t0 = time.perf_counter()
    n_in = n_out = 0
    if args.backend == "ray":
        from tamis import ray as tray

        tray.init(args.address)
        scored, n_in = tray.quality_score(
            list(args.inputs),
            clf,
            min_score=args.min_score,
            text_column=args.text_column,
            id_column=args.id_column,
        )
        tables: Any = [(None, scored)] if scored.num_rows else []
    else:
        tables = (
            (b.num_rows, score_table(clf, b, min_score=args.min_score)) for b in c.batches(args)
        )
    bar = c.bar(args, "score")
    with contextlib.ExitStack() as stack:
        sink = None
        for n, scored in tables:
            if n is not None:
                n_in += n
                bar.update(n)
            n_out += scored.num_rows
            if sink is None:
                sink = stack.enter_context(
                    open_sink(out["o"], "quality score", params, schema=scored.schema)
                )
            sink.write(scored)
        if sink is None:  # no input row: an empty output with the score columns
            empty = score_table(clf, pa.table({args.text_column: pa.array([], pa.large_string())}))
            stack.enter_context(open_sink(out["o"], "quality score", params, schema=empty.schema))
    bar.close()
    summary = {
        "documents": int(n_in),
        "written": n_out,
        "min_score": args.min_score,
        "seconds": time.perf_counter() - t0,
        "output": str(args.output),
    }
    if not args.quiet and args.output != Path("-"):
        kept = f"{n_out} of {summary['documents']}" if args.min_score is not None else str(n_out)
        print(f"quality score: wrote {kept} documents -> {args.output}", file=sys.stderr)
    if args.json:
        write_json(out["json"], summary)
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch ``train`` / ``score``."""
    return _train(args) if args.action == "train" else _score(args)


def add(sub: Any) -> None:
    """Register ``tamis quality`` with its ``train`` and ``score`` actions."""
    p = c.add_parser(
        sub,
        "quality",
        "train a hashed n-gram classifier and score documents with it",
        "A logistic / softmax model on hashed word n-grams (log-scaled, L2-normalised counts, "
        "2^18 buckets), fitted exactly by L-BFGS (docs/quality.md).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = c.add_parser(actions, "train", "fit positives (label 1) against negatives (label 0)")
    t.add_argument("--positive", nargs="+", type=Path, required=True, help="positive corpus files")
    t.add_argument("--negative", nargs="+", type=Path, required=True, help="negative corpus files")
    t.add_argument("-o", "--output", type=Path, required=True, help="model file (.npz)")
    t.add_argument("--n-buckets", type=int, default=1 << 18, help="hash buckets")
    t.add_argument("--max-n", type=int, default=2, help="longest word n-gram")
    t.add_argument("--l2", type=float, default=1e-5, help="L2 penalty strength")
    t.add_argument(
        "--class-weight", choices=["balanced"], default=None, help="reweigh classes to equal mass"
    )
    t.add_argument("--tol", type=float, default=1e-4, help="gradient tolerance")
    t.add_argument("--max-iter", type=int, default=1000, help="L-BFGS iterations at most")
    t.add_argument("--seed", type=int, default=0, help="n-gram hash seed")
    t.add_argument("--text-column", default="text", help="column holding the documents")
    t.add_argument("--id-column", default=None, help="id column (checked only)")
    c.add_threads(t)
    t.add_argument("--json", default=None, help="write a JSON summary here ('-': stdout)")
    t.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    t.set_defaults(func=run, command="quality")
    s = c.add_parser(actions, "score", "score documents with a trained model")
    c.add_input_options(s)
    s.add_argument("--model", type=Path, required=True, help="model file from `quality train`")
    s.add_argument("-o", "--output", type=Path, required=True, help="output (.parquet, .jsonl)")
    s.add_argument(
        "--min-score", type=float, default=None, help="keep only documents scoring at least this"
    )
    s.add_argument("--json", default=None, help="write a JSON summary here ('-': stdout)")
    c.add_backend_options(s)
    s.set_defaults(func=run, command="quality")
    p.set_defaults(func=run)


__all__ = ["add", "run"]
