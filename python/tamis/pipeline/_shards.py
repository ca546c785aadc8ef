"""Shards of a run: reading inputs into shards and writing the output.

Also the helpers every runner shares (shard I/O, ids, argv of a step, the step log).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tamis.output import atomic_path
from tamis.pipeline._registry import (
    SHARED,
    STEPS,
    command_parser,
)
from tamis.pipeline._run import StepContext

# -- shared helpers ---------------------------------------------------------------------------------


def write_shard(table: pa.Table, path: Path) -> None:
    """Write a shard atomically; no metadata, so equal tables give equal bytes."""
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(None), tmp)


def shard_rows(path: Path) -> int:
    """Rows of a Parquet shard (from its footer)."""
    return int(pq.read_metadata(path).num_rows)


def id_name(ctx: StepContext) -> str:
    """The id column of the shards (the recipe's, or the one the read step made)."""
    return ctx.recipe.id_column or "id"


def batches(ctx: StepContext, shard: Path, columns: list[str] | None = None) -> Iterator[Any]:
    """Record batches of one shard with the recipe's text/id columns."""
    from tamis.io import read_batches

    return read_batches(
        shard,
        text_column=ctx.recipe.text_column,
        id_column=ctx.recipe.id_column,
        columns=columns,
        batch_size=ctx.recipe.batch_size,
    )


def shared_argv(ctx: StepContext, command: str) -> list[str]:
    """The recipe-wide flags (text/id column, batch size, threads) the command has."""
    dests = {a.dest: a for a in command_parser(command)._actions}
    out: list[str] = []
    values = ctx.recipe.shared()
    if ctx.config.params.get("n_threads") is not None:
        values["n_threads"] = ctx.config.params["n_threads"]
    for name in SHARED:
        if name in dests and values[name] is not None:
            out += [dests[name].option_strings[0], str(values[name])]
    return out


def step_argv(ctx: StepContext, skip: tuple[str, ...] = ()) -> list[str]:
    """The step's own parameters as flags (but ``skip``)."""
    spec = STEPS[ctx.config.step].params()
    out: list[str] = []
    for name, value in sorted(ctx.config.params.items()):
        if name in spec and name not in SHARED and name not in skip:
            out += spec[name].argv(value)
    return out


@contextlib.contextmanager
def logged(ctx: StepContext) -> Iterator[None]:
    """Send what a command prints to ``<step>/step.log`` (``tamis run`` shows only the plan)."""
    with (
        open(ctx.dir / "step.log", "a", encoding="utf-8") as f,
        contextlib.redirect_stdout(f),
        contextlib.redirect_stderr(f),
    ):
        yield


# -- read -------------------------------------------------------------------------------------------


def run_read(ctx: StepContext) -> tuple[list[Path], dict[str, Any]]:
    """Inputs (remote ones copied in first) → shards of at most ``shard_rows`` rows.

    A unit is an input file: its shards and its marker; a killed run redoes at most that file.
    """
    from tamis.io import list_files, read_file
    from tamis.io.urls import fetch, is_url

    r = ctx.recipe
    local: list[Path] = []
    seen: set[str] = set()
    for i, inp in enumerate(r.inputs):
        if is_url(inp):
            # Copies sit side by side under their own names, so the ids created for them
            # ("<name>:<row>") are those of the same files read from one local folder.
            name = inp.rstrip("/").rsplit("/", 1)[-1]
            name = name if name not in seen else f"{i:03d}-{name}"
            seen.add(name)
            dest = ctx.shard(name, "", "inputs")

            def get(inp: str = inp, dest: Path = dest) -> dict[str, Any]:
                return {"url": inp, "bytes": fetch(inp, dest).stat().st_size}

            ctx.unit(f"fetch-{i:03d}", get)
            local.append(dest)
        else:
            local.append(Path(inp))
    files = list_files(local)
    outputs: list[Path] = []
    rows = 0
    for fi, f in enumerate(files):

        def work(f: Path = f, fi: int = fi) -> dict[str, Any]:
            names: list[str] = []
            buf: list[pa.RecordBatch] = []
            n = total = 0

            def flush(upto: int) -> None:
                nonlocal buf, n
                table = pa.Table.from_batches(buf)
                head, rest = table.slice(0, upto), table.slice(upto)
                name = f"{fi:05d}-{len(names):05d}"
                write_shard(head.combine_chunks(), ctx.shard(name))
                names.append(name)
                buf, n = rest.to_batches(), rest.num_rows

            for batch in read_file(
                files,
                f,
                text_column=r.text_column,
                id_column=r.id_column,
                batch_size=r.batch_size,
            ):
                buf.append(batch)
                n += batch.num_rows
                total += batch.num_rows
                while n >= r.shard_rows:
                    flush(r.shard_rows)
            if n:
                flush(n)
            return {"file": str(f), "shards": names, "rows": total}

        info = ctx.unit(f"file-{fi:05d}", work)
        outputs += [ctx.shard(name) for name in info["shards"]]
        rows += info["rows"]
    return outputs, {"files": len(files), "shards": len(outputs), "rows": rows}


# -- write ------------------------------------------------------------------------------------------


def run_write(ctx: StepContext) -> tuple[list[Path], dict[str, Any]]:
    """Concatenate the last step's shards into the recipe's output (a path or a URL)."""
    from tamis.io.urls import is_url, upload
    from tamis.output import open_sink

    out = str(ctx.recipe.output)
    remote = is_url(out)
    suffix = "".join(Path(out.rsplit("/", 1)[-1]).suffixes) or ".parquet"
    target = ctx.shard("output", suffix, ".") if remote else Path(out)
    params = {"steps": [s.resolved() | {"step": s.step} for s in ctx.recipe.steps]}

    def work() -> dict[str, Any]:
        schema = _schema(ctx.inputs)
        n = 0
        with open_sink(target, "run", params, schema=schema) as sink:
            for s in ctx.inputs:
                table = pq.read_table(s)
                n += table.num_rows
                if table.num_rows:
                    sink.write(table)
        if remote:
            upload(target, out)
        return {"rows": n, "output": out}

    info = ctx.unit("write", work)
    return list(ctx.inputs), {"rows": info["rows"], "output": out}


def _schema(shards: list[Path]) -> pa.Schema | None:
    return pq.read_schema(shards[0]).remove_metadata() if shards else None
