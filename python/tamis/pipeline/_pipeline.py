"""The Python API of recipes: :class:`Pipeline` of :class:`Step` objects."""

from __future__ import annotations

import json
import math
import os
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tamis.output import write_json
from tamis.pipeline import _steps
from tamis.pipeline._recipe import Recipe, StepConfig, load, validate
from tamis.pipeline._registry import STEPS
from tamis.pipeline._run import LAYOUT, RunFolder, StepContext, fingerprint, peak_rss_mib, versions


class Step:
    """One step of a :class:`Pipeline`: a registered step type and its parameters.

    Parameters
    ----------
    step
        The step type (``"dedup"``, ``"dsir"``, ``"stats"``, ...: :func:`tamis.pipeline.steps`).
    name
        A name unique in the pipeline (default: the step type); names the step's folder.
    **params
        The step's parameters: the flags of the ``tamis`` command it wraps, by their Python
        names (``threshold=0.8``, ``num_perm=128``, ``k=500``).
    """

    def __init__(self, step: str, name: Optional[str] = None, **params: Any) -> None:
        self.step = step
        self.name = name
        self.params = params

    def to_dict(self) -> dict[str, Any]:
        """The recipe form: ``{"step": ..., ["name": ...,] **params}``."""
        out: dict[str, Any] = {"step": self.step, **self.params}
        if self.name is not None:
            out["name"] = self.name
        return out

    def __repr__(self) -> str:
        args = [repr(self.step)] + [f"{k}={v!r}" for k, v in self.params.items()]
        return f"Step({', '.join(args)})"


@dataclass
class RunResult:
    """What :meth:`Pipeline.run` returns: the run folder, the output and every step's stats."""

    run_dir: Path
    output: Optional[str]
    steps: list[dict[str, Any]]
    #: Units of work computed by this call (the others were finished before).
    computed: dict[str, list[str]]


class Pipeline:
    """A recipe as objects: inputs, steps, an optional output, run shard by shard, resumable.

    Parameters
    ----------
    inputs
        Paths, globs, directories or URLs (``s3://``, ``gs://``, ``hf://``, ``file://``).
    steps
        :class:`Step` objects (or recipe dicts ``{"step": "dedup", ...}``), in order.
    output
        The final output (``.parquet`` or ``.jsonl[.gz|.zst]``, a path or URL); ``None``: the
        shards of the last step stay in the run folder.
    run_dir
        The run folder (markers, step outputs, stats); rerunning with the same folder resumes.
    **settings
        ``shard_rows``, ``text_column``, ``id_column``, ``batch_size``, ``n_threads``, ``by``.

    Examples
    --------
    >>> from tamis.pipeline import Pipeline, Step
    >>> p = Pipeline("data/sample/corpus.jsonl.gz", [Step("dedup", threshold=0.8)],
    ...              run_dir="runs/x")  # doctest: +SKIP
    >>> p.run().steps[-1]["docs_out"]  # doctest: +SKIP
    """

    def __init__(
        self,
        inputs: Any,
        steps: list[Any],
        *,
        output: Optional[str] = None,
        run_dir: Optional[str] = None,
        **settings: Any,
    ) -> None:
        data: dict[str, Any] = {
            "inputs": [str(i) for i in inputs]
            if isinstance(inputs, (list, tuple))
            else str(inputs),
            "steps": [s.to_dict() if isinstance(s, Step) else dict(s) for s in steps],
            **settings,
        }
        if output is not None:
            data["output"] = str(output)
        if run_dir is not None:
            data["run_dir"] = str(run_dir)
        self.recipe = validate(data, "<Pipeline>")

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> Pipeline:
        """A pipeline of an already validated :class:`Recipe`."""
        self = cls.__new__(cls)
        self.recipe = recipe
        return self

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Pipeline:
        """Load and validate a YAML or TOML recipe."""
        return cls.from_recipe(load(os.fspath(path)))

    # -- planning -----------------------------------------------------------------------------

    def configs(self) -> list[StepConfig]:
        """Every step in run order: ``read``, the recipe's steps, ``write`` (with an output)."""
        r = self.recipe
        out = [StepConfig("read", "read", {}), *r.steps]
        if r.output is not None:
            out.append(StepConfig("write", "write", {}))
        return out

    def default_run_dir(self) -> Path:
        """``run_dir`` of the recipe, else ``runs/<recipe file name>``."""
        if self.recipe.run_dir:
            return Path(self.recipe.run_dir)
        return Path("runs") / Path(self.recipe.source).stem.strip("<>").lower()

    def plan(self) -> dict[str, Any]:
        """The dry run: inputs with sizes and estimated rows and shards, then each step.

        Reads at most a few MiB of each JSON input (to estimate its rows); runs nothing.
        """
        from tamis.io import list_files
        from tamis.io.urls import is_url, size

        r = self.recipe
        files: list[dict[str, Any]] = []
        for inp in r.inputs:
            if is_url(inp):
                files.append({"path": inp, "bytes": size(inp), "rows": None})
                continue
            for f in list_files(inp):
                files.append({"path": str(f), "bytes": f.stat().st_size, "rows": estimate_rows(f)})
        known = [f["rows"] for f in files if f["rows"] is not None]
        rows = sum(known) if len(known) == len(files) else None
        shards = sum(math.ceil((f["rows"] or 0) / r.shard_rows) for f in files)
        steps = []
        for cfg in self.configs():
            st = STEPS.get(cfg.step)
            mode = st.mode if st is not None else "native"
            steps.append(
                {
                    "name": cfg.name,
                    "step": cfg.step,
                    "mode": mode,
                    "params": cfg.resolved() if st else {},
                }
            )
        return {
            "inputs": files,
            "estimated_rows": rows,
            "estimated_shards": shards if rows is not None else None,
            "shard_rows": r.shard_rows,
            "run_dir": str(self.default_run_dir()),
            "output": r.output,
            "steps": steps,
        }

    # -- running ------------------------------------------------------------------------------

    def run(
        self, run_dir: Optional[str | os.PathLike[str]] = None, *, quiet: bool = True
    ) -> RunResult:
        """Run (or resume) the pipeline in ``run_dir`` (default :meth:`default_run_dir`).

        Finished units are skipped; a step whose parameters changed since it ran is redone with
        every step after it.
        """
        r = self.recipe
        folder = RunFolder(run_dir or self.default_run_dir())
        configs = self.configs()
        names = [f"{i:02d}-{c.name}" for i, c in enumerate(configs)]
        results: list[dict[str, Any]] = []
        computed: dict[str, list[str]] = {}
        with folder.locked():
            folder.prune(set(names))
            fp = fingerprint(
                "",
                {
                    "layout": LAYOUT,
                    "inputs": _input_identity(r.inputs),
                    "shard_rows": r.shard_rows,
                    "text_column": r.text_column,
                    "id_column": r.id_column,
                },
            )
            fps = []
            for c in configs:
                params = c.resolved() if c.step in STEPS else {"output": r.output}
                fp = fingerprint(fp, {"step": c.step, "params": params})
                fps.append(fp)
            write_json(
                folder.path / "run.json",
                {
                    "layout": LAYOUT,
                    "recipe": r.source,
                    "versions": versions(),
                    "inputs": r.inputs,
                    "output": r.output,
                    "shard_rows": r.shard_rows,
                    "text_column": r.text_column,
                    "id_column": r.id_column,
                    "by": r.by,
                    "steps": [
                        {
                            "dir": n,
                            "step": c.step,
                            "name": c.name,
                            "fingerprint": f,
                            "params": c.resolved() if c.step in STEPS else {},
                        }
                        for n, c, f in zip(names, configs, fps)
                    ],
                },
            )
            shards: list[Path] = []
            prev: dict[str, Any] | None = None
            for i, (c, f) in enumerate(zip(configs, fps)):
                d = folder.step_dir(i, c, f)
                done = d / "stats.json"
                if done.exists():
                    stats = json.loads(done.read_text(encoding="utf-8"))
                    computed[c.name] = []
                else:
                    if not shards and i > 0 and c.step != "write":
                        raise ValueError(
                            f"step {c.name}: no documents left to work on "
                            f"(step {configs[i - 1].name} kept none)"
                        )
                    t0 = time.perf_counter()
                    st = {"read": _steps.READ, "write": _steps.WRITE}.get(c.step) or STEPS[c.step]
                    ctx = StepContext(r, c, d, shards, folder)
                    if not quiet:
                        print(
                            f"tamis run: {names[i]} ({st.mode}, {len(shards)} shards in)",
                            file=sys.stderr,
                        )
                    outputs, stats = _steps.runner(st)(ctx)
                    stats = {
                        "name": c.name,
                        "step": c.step,
                        "mode": st.mode,
                        "params": c.resolved() if c.step in STEPS else {},
                        **stats,
                    }
                    stats["outputs"] = [str(p.relative_to(folder.path)) for p in outputs]
                    passthrough = [str(p) for p in outputs] == [str(p) for p in shards]
                    if passthrough and prev is not None:
                        stats["profile_out"] = prev["profile_out"]
                    else:
                        stats["profile_out"] = profile(ctx, outputs)
                    stats["profile_in"] = prev["profile_out"] if prev else None
                    stats["docs_in"] = prev["profile_out"]["docs"] if prev else None
                    stats["docs_out"] = stats["profile_out"]["docs"]
                    stats["tokens_in"] = prev["profile_out"]["tokens"] if prev else None
                    stats["tokens_out"] = stats["profile_out"]["tokens"]
                    units = sorted((d / "done").glob("*.json")) if (d / "done").exists() else []
                    stats["seconds"] = round(
                        sum(
                            json.loads(u.read_text(encoding="utf-8")).get("seconds", 0)
                            for u in units
                        ),
                        3,
                    )
                    stats["wall_seconds_last_call"] = round(time.perf_counter() - t0, 3)
                    stats["peak_rss_mib"] = peak_rss_mib()
                    stats["units"] = len(units)
                    write_json(done, stats)
                    computed[c.name] = ctx.computed
                shards = [folder.path / p for p in stats["outputs"]]
                prev = stats
                results.append(stats)
            folder.log({"event": "finished"})
        return RunResult(folder.path, r.output, results, computed)


def _input_identity(inputs: list[str]) -> list[Any]:
    """Inputs with their sizes and modification times (a changed input invalidates the run)."""
    from tamis.io import list_files
    from tamis.io.urls import is_url, size

    out: list[Any] = []
    for inp in inputs:
        if is_url(inp):
            out.append([inp, size(inp)])
        else:
            out += [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in list_files(inp)]
    return out


def profile(ctx: StepContext, shards: list[Path]) -> dict[str, Any]:
    """Documents, tokens and bytes of a step's output shards, in total and per ``by`` group.

    Cached per shard (``done/profile-<shard>.json``), so a resumed run does not count again.
    """
    from tamis.features import HashingFeaturizer

    by = ctx.recipe.by
    feat = HashingFeaturizer(1, (1, 1), n_threads=ctx.recipe.n_threads)
    total: dict[str, Any] = {"docs": 0, "tokens": 0, "bytes": 0, "groups": {}}
    for s in shards:
        key = f"profile-{s.parent.name}-{s.stem}"

        def work(s: Path = s) -> dict[str, Any]:
            cols = [ctx.recipe.text_column] + ([by] if by else [])
            names = pq.read_schema(s).names
            t = pq.read_table(s, columns=[c for c in cols if c in names])
            text = t.column(ctx.recipe.text_column)
            tokens = feat.count_tokens(text).astype(np.int64)
            nbytes = pc.fill_null(pc.binary_length(text), 0).to_numpy().astype(np.int64)
            groups: dict[str, list[int]] = {}
            if by and by in t.column_names:
                g = np.array([str(v) for v in t.column(by).to_pylist()], dtype=object)
                for u in sorted(set(g)):
                    m = g == u
                    groups[u] = [int(m.sum()), int(tokens[m].sum())]
            return {
                "docs": t.num_rows,
                "tokens": int(tokens.sum()),
                "bytes": int(nbytes.sum()),
                "groups": groups,
            }

        info = ctx.unit(key, work)
        for k in ("docs", "tokens", "bytes"):
            total[k] += info[k]
        for u, (n, tok) in info["groups"].items():
            g = total["groups"].setdefault(u, {"docs": 0, "tokens": 0})
            g["docs"] += n
            g["tokens"] += tok
    return total


def estimate_rows(path: Path, sample: int = 32 << 20) -> int | None:
    """Rows of a file, for the plan.

    Exact for Parquet (its footer); JSON Lines: extrapolated from the first ``sample``
    decompressed bytes (exact when the file is smaller).
    """
    name = path.name.lower()
    if name.endswith(".parquet"):
        return int(pq.read_metadata(path).num_rows)
    size = path.stat().st_size
    if size == 0:
        return 0
    try:
        if name.endswith(".gz"):
            data, read = _gunzip_head(path, sample)
        elif name.endswith(".zst"):
            return None
        else:
            with open(path, "rb") as f:
                data = f.read(sample)
                read = len(data)
    except (OSError, zlib.error):
        return None
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") and read >= size else 0)
    if read >= size:
        return lines
    return round(lines * size / max(read, 1))


def _gunzip_head(path: Path, sample: int) -> tuple[bytes, int]:
    """The first ``sample`` decompressed bytes and the compressed bytes they took."""
    d = zlib.decompressobj(wbits=31)
    out: list[bytes] = []
    used = 0
    with open(path, "rb") as f:
        while sum(len(b) for b in out) < sample and (chunk := f.read(1 << 16)):
            out.append(d.decompress(chunk))
            used += len(chunk) - len(d.unused_data)
            if d.eof:
                break
    return b"".join(out), used


def steps() -> dict[str, str]:
    """The registered step types and their one-line summaries."""
    return {name: st.summary for name, st in sorted(STEPS.items())}


__all__ = ["Pipeline", "RunResult", "Step", "estimate_rows", "profile", "steps"]
