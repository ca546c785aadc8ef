"""``tamis mix``: mixture plans (``tamis mix plan``) and mixed samples (``tamis mix sample``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tamis.cli import _common as c
from tamis.mix import (
    SCHEMES,
    UNITS,
    MixtureSampler,
    Plan,
    Schedule,
    anneal,
    count,
    load,
    manual,
    proportional,
    save,
    temperature,
    unimax,
)
from tamis.output import open_sink


def _pairs(items: list[str] | None, flag: str, number: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"{flag} expects NAME=VALUE, got {item!r}")
        if name in out:
            raise ValueError(f"{flag}: source {name!r} given twice")
        if number:
            try:
                out[name] = float(value)
            except ValueError:
                raise ValueError(f"{flag} {name}: not a number: {value!r}") from None
        else:
            out[name] = value
    return out


def _make_plan(args: argparse.Namespace, sizes: dict[str, Any], weights: dict[str, float]) -> Plan:
    kw: dict[str, Any] = {"unit": args.unit, "warn_epochs": args.warn_epochs}
    if args.scheme == "unimax":
        if args.budget is None:
            raise ValueError("--scheme unimax needs --budget")
        return unimax(sizes, args.budget, args.max_epochs, **kw)
    kw["budget"] = args.budget
    if args.scheme == "temperature":
        return temperature(sizes, args.tau, **kw)
    if args.scheme == "manual":
        if not weights:
            raise ValueError("--scheme manual needs --weights NAME=W for every source")
        return manual(sizes, weights, **kw)
    return proportional(sizes, **kw)


def run_plan(args: argparse.Namespace) -> int:
    """Count the sources, compute the plan (and schedule), print the table, write the JSON."""
    sources = _pairs(args.source, "--source")
    if not sources:
        raise ValueError("give at least one --source NAME=PATH")
    weights = _pairs(args.weights, "--weights", number=True)
    anneal_weights = _pairs(args.anneal_weights, "--anneal-weights", number=True)
    if (args.anneal_fraction is None) != (not anneal_weights):
        raise ValueError("--anneal-fraction and --anneal-weights go together")
    out = c.prepare(args, inputs=[Path(p) for p in sources.values()], json=args.output)["json"]
    sizes = count(
        {n: Path(p) for n, p in sources.items()},
        tokenizer=args.tokenizer,
        text_column=args.text_column,
        n_threads=args.n_threads,
    )
    plan = _make_plan(args, sizes, weights)
    plan.paths = dict(sources)
    result: Plan | Schedule = plan
    if args.anneal_fraction is not None:
        f = args.anneal_fraction
        if not 0 < f < 1:
            raise ValueError(f"--anneal-fraction must be in (0, 1), got {f}")
        # Each phase's budgets are its share of the run's budget.
        hot = manual(
            sizes,
            anneal_weights,
            budget=plan.budget * f,
            unit=args.unit,
            warn_epochs=args.warn_epochs,
        )
        hot.paths = dict(sources)
        plan = plan.scaled(1 - f)
        result = anneal(plan, hot, f, transition=args.transition)
    params = {
        k: v for k, v in vars(args).items() if k not in ("func", "command", "mix_command", "quiet")
    }
    save(result, out, params)
    if out != "-":
        if isinstance(result, Schedule):
            print(f"first {1 - args.anneal_fraction:g} of training:")
        print(plan.table())
        if isinstance(result, Schedule):
            print(f"\nlast {args.anneal_fraction:g} of training ({args.transition}):")
            print(result.phases[-1][1].table())
    return 0


def run_sample(args: argparse.Namespace) -> int:
    """Stream ``-k`` documents of the plan's mixture into ``-o`` (with source, epoch and id)."""
    plan = load(args.plan)
    first = plan.phases[0][1] if isinstance(plan, Schedule) else plan
    paths = dict(first.paths)
    paths.update(_pairs(args.source, "--source"))
    missing = [n for n in first.names if n not in paths]
    if missing:
        raise ValueError(f"{args.plan}: no path for sources {missing} (give --source NAME=PATH)")
    if args.k < 0:
        raise ValueError(f"-k must be >= 0, got {args.k}")
    inputs = [Path(paths[n]) for n in first.names]
    c.check_outputs([args.plan, *inputs], o=args.output)
    out = c.prepare(args, inputs=inputs, o=args.output)["o"]
    sampler = MixtureSampler(
        {n: Path(paths[n]) for n in first.names},
        plan,
        k=args.k,
        seed=args.seed,
        text_column=args.text_column,
        id_column=args.id_column,
        batch_size=args.batch_size,
        buffer_blocks=args.buffer_blocks,
    )
    params = {
        "plan": str(args.plan),
        "k": args.k,
        "seed": args.seed,
        "sources": {n: str(paths[n]) for n in first.names},
        "weights": sampler.weights,
        "buffer_blocks": args.buffer_blocks,
    }
    bar = c.bar(args, "mix", args.k)
    counts = dict.fromkeys(first.names, 0)
    with open_sink(out, "mix sample", params) as sink:
        for batch in sampler.iter_batches():
            sink.write(batch)
            for name, n in zip(*_value_counts(batch)):
                counts[name] += n
            bar.update(batch.num_rows)
    bar.close()
    total = sum(counts.values()) or 1
    shares = ", ".join(f"{n} {counts[n] / total:.4f}" for n in first.names)
    print(
        f"mix sample: {sum(counts.values())} documents ({shares}) -> {args.output}", file=sys.stderr
    )
    return 0


def _value_counts(batch: Any) -> tuple[list[str], list[int]]:
    vc = batch.column(batch.schema.get_field_index("source")).value_counts()
    return vc.field("values").to_pylist(), vc.field("counts").to_pylist()


def add(sub: Any) -> None:
    """Register ``tamis mix plan`` and ``tamis mix sample``."""
    p = c.add_parser(sub, "mix", "mixture plans and mixed samples of several sources")
    msub = p.add_subparsers(dest="mix_command", metavar="SUBCOMMAND", required=True)

    pp = c.add_parser(
        msub, "plan", "weights and budgets per source (proportional, temperature, unimax, manual)"
    )
    pp.add_argument("--source", action="append", metavar="NAME=PATH", help="a source (repeat)")
    pp.add_argument(
        "--scheme", choices=SCHEMES, default="proportional", help="how to weigh sources"
    )
    pp.add_argument("--tau", type=float, default=1.0, help="temperature (p ∝ n^(1/tau))")
    pp.add_argument(
        "--budget",
        type=float,
        default=None,
        help="total to train on, in --unit (default: all data once)",
    )
    pp.add_argument("--unit", choices=UNITS, default="tokens", help="what sizes and budgets count")
    pp.add_argument(
        "--max-epochs", type=float, default=1.0, help="unimax: repeats per source at most"
    )
    pp.add_argument("--weights", action="append", metavar="NAME=W", help="manual weights (repeat)")
    pp.add_argument(
        "--anneal-fraction",
        type=float,
        default=None,
        help="last share of training with --anneal-weights",
    )
    pp.add_argument(
        "--anneal-weights", action="append", metavar="NAME=W", help="weights of the anneal phase"
    )
    pp.add_argument(
        "--transition", choices=["step", "linear"], default="step", help="into the anneal phase"
    )
    pp.add_argument(
        "--tokenizer",
        default=None,
        help="local Hugging Face tokenizer (tokenizer.json or folder); default WordPunct",
    )
    pp.add_argument(
        "--warn-epochs", type=float, default=4.0, help="warn when a source repeats more"
    )
    pp.add_argument("--text-column", default="text", help="column holding the documents")
    c.add_threads(pp)
    pp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pp.add_argument("-o", "--output", required=True, help="plan JSON ('-': stdout)")
    pp.set_defaults(func=run_plan, id_column=None)

    ps = c.add_parser(
        msub, "sample", "materialise a mixed sample of a plan (source, epoch, id per row)"
    )
    ps.add_argument("plan", type=Path, help="plan JSON written by tamis mix plan")
    ps.add_argument("-k", type=int, required=True, help="documents to write")
    ps.add_argument(
        "--source", action="append", metavar="NAME=PATH", help="override a source's path"
    )
    ps.add_argument("--seed", type=int, default=0, help="seed of every permutation")
    ps.add_argument(
        "--buffer-blocks", type=int, default=4, help="row groups shuffled together per source"
    )
    ps.add_argument("--text-column", default="text", help="column holding the documents")
    ps.add_argument(
        "--id-column", default=None, help="id column (default: id, created as <file>:<row>)"
    )
    ps.add_argument("--batch-size", type=int, default=8192, help="rows per written batch")
    ps.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ps.add_argument(
        "-o", "--output", required=True, help="output .parquet or .jsonl[.gz|.zst] ('-': stdout)"
    )
    ps.set_defaults(func=run_sample)
