"""``tamis run``: run (or resume) a recipe file; ``--dry-run`` prints the plan and runs nothing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tamis.cli import _common as c


def run(args: argparse.Namespace) -> int:
    """Validate the recipe, then print the plan (``--dry-run``) or run it in the run folder."""
    from tamis.pipeline import Pipeline

    p = Pipeline.from_file(args.recipe)
    if args.run_dir is not None:
        p.recipe.run_dir = str(args.run_dir)
    if args.dry_run:
        plan = p.plan()
        if args.json:
            print(json.dumps(plan, indent=2, default=str))
        else:
            _print_plan(plan)
        return 0
    res = p.run(quiet=args.quiet)
    last = res.steps[-1]
    redone = sum(len(v) for v in res.computed.values())
    print(
        f"tamis run: {len(res.steps)} steps, {res.steps[0]['docs_out']} documents in, "
        f"{last['docs_out']} out ({redone} units computed now) -> {res.output or res.run_dir}",
        file=sys.stderr,
    )
    if args.json:
        print(
            json.dumps(
                [
                    {k: s.get(k) for k in ("name", "docs_in", "docs_out", "seconds")}
                    for s in res.steps
                ],
                indent=2,
            )
        )
    return 0


def _print_plan(plan: dict[str, Any]) -> None:
    rows = plan["estimated_rows"]
    print(
        f"inputs ({'~' + format(rows, ',') if rows is not None else '?'} rows, "
        f"~{plan['estimated_shards']} shards of <= {plan['shard_rows']:,} rows):"
    )
    for f in plan["inputs"]:
        est = "?" if f["rows"] is None else f"~{f['rows']:,}"
        size = "?" if f["bytes"] is None else f"{f['bytes'] / 2**20:.1f} MiB"
        print(f"  {f['path']}  {size}  {est} rows")
    print(f"run folder: {plan['run_dir']}")
    for i, s in enumerate(plan["steps"]):
        params = ", ".join(
            f"{k}={v}" for k, v in s["params"].items() if v is not None and v is not False
        )
        print(f"  {i:02d}-{s['name']:<12} {s['mode']:<8} {params}")
    print(f"output: {plan['output'] or '(the last step folder)'}")


def add(sub: Any) -> None:
    """Register ``tamis run``."""
    p = c.add_parser(
        sub,
        "run",
        "run a recipe file (YAML or TOML): steps shard by shard, resumable",
        "Validate the recipe, then run its steps shard by shard in a run folder. Rerunning the "
        "same command after a crash or kill resumes: finished shards are not redone "
        "(docs/pipelines.md).",
    )
    p.add_argument("recipe", help="recipe file (.yaml, .yml or .toml)")
    p.add_argument("--dry-run", action="store_true", help="print the plan; run nothing")
    p.add_argument("--run-dir", default=None, help="run folder (default: the recipe's run_dir)")
    p.add_argument("--json", action="store_true", help="print the plan or the step stats as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-step lines")
    p.set_defaults(func=run)
