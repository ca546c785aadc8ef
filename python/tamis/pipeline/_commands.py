"""The adapter that runs any registered ``tamis`` command as a map/side/inspect step, shard by shard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from tamis.pipeline._registry import (
    STEPS,
    command_parser,
    parse_args,
)
from tamis.pipeline._run import StepContext
from tamis.pipeline._shards import logged, shard_rows, shared_argv, step_argv, write_shard

# -- adapters over commands -------------------------------------------------------------------------


def _positional(command: str) -> str | None:
    for a in command_parser(command)._actions:
        if not a.option_strings and a.dest in ("inputs", "input"):
            return str(a.dest)
    return None


def _has(command: str, dest: str) -> bool:
    return any(a.dest == dest for a in command_parser(command)._actions)


def _call(ctx: StepContext, inputs: list[Path], output: Path | None, summary: Path | None) -> Any:
    st = STEPS[ctx.config.step]
    cmd = str(st.command)
    argv = [cmd]
    if _positional(cmd):
        argv += [str(p) for p in inputs]
    if output is not None:
        argv += ["-o", str(output)]
    if summary is not None and _has(cmd, "json"):
        argv += ["--json", str(summary)]
    if _has(cmd, "quiet"):
        argv += ["-q"]
    argv += shared_argv(ctx, cmd) + step_argv(ctx)
    args = parse_args(cmd, argv[1:])
    with logged(ctx):
        status = args.func(args)
    if status:
        raise RuntimeError(f"step {ctx.config.name}: tamis {cmd} exited with status {status}")
    return args


def _summary(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def run_command(ctx: StepContext) -> tuple[list[Path], dict[str, Any]]:
    """A step over a ``tamis`` command (modes ``map``, ``side``, ``whole``, ``inspect``)."""
    st = STEPS[ctx.config.step]
    mode = st.mode
    if mode in ("map", "side"):
        outputs: list[Path] = []
        summaries = {}
        for s in ctx.inputs:
            sub = "shards" if mode == "map" else "side"
            out = ctx.shard(s.stem, st.suffix, sub)
            js = ctx.shard(s.stem, ".json", "summaries")

            def work(s: Path = s, out: Path = out, js: Path = js) -> dict[str, Any]:
                _call(ctx, [s], out, js)
                n = shard_rows(out) if out.suffix == ".parquet" else None
                return {"rows": n}

            info = ctx.unit(f"shard-{s.stem}", work)
            summaries[s.stem] = _summary(js)
            if mode == "map" and info.get("rows") != 0:
                outputs.append(out)
        stats: dict[str, Any] = {"summaries": summaries}
        if mode == "map":
            n_in = sum(shard_rows(s) for s in ctx.inputs)
            n_out = sum(shard_rows(s) for s in outputs)
            stats["drop_reasons"] = {f"{ctx.config.step}: dropped": n_in - n_out}
        return (outputs if mode == "map" else list(ctx.inputs)), stats
    inputs = list(ctx.inputs)
    if st.single_input and len(inputs) != 1:
        merged = ctx.shard("merged", ".parquet", "input")
        ctx.unit("merge", lambda: {"rows": _merge(inputs, merged)})
        inputs = [merged]
    whole: Optional[Path] = None
    if mode == "whole":
        whole = ctx.shard("00000", st.suffix)
    elif mode == "side-whole":
        whole = ctx.shard("00000", st.suffix, "side")
    js = ctx.shard("summary", ".json", ".")
    ctx.unit("all", lambda: (_call(ctx, inputs, whole, js), {})[1])
    stats = {"summary": _summary(js)}
    return ([whole] if mode == "whole" and whole else list(ctx.inputs)), stats


def _merge(inputs: list[Path], out: Path) -> int:
    tables = [pq.read_table(s) for s in inputs]
    table = pa.concat_tables(tables, promote_options="default")
    write_shard(table, out)
    return int(table.num_rows)
