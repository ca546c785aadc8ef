"""Recipe files (YAML or TOML): parsed with the line of every key, validated before any work.

A recipe::

    inputs: data/sample/corpus.jsonl.gz     # paths, globs, directories or URLs (a list too)
    output: runs/sample/selected.parquet    # optional: the final output (a path or URL)
    run_dir: runs/sample                    # optional: default runs/<recipe name>
    shard_rows: 500                         # rows per shard (default 100000)
    steps:
      - step: dedup
        threshold: 0.8
      - step: dsir
        target: data/sample/target.jsonl.gz
        k: 500

Every problem is a :class:`RecipeError` naming the file and line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from tamis.pipeline._registry import SHARED, STEPS

#: Top-level recipe keys: name -> (kind, default).
TOP: dict[str, tuple[str, Any]] = {
    "inputs": ("paths", None),
    "output": ("str", None),
    "run_dir": ("str", None),
    "shard_rows": ("int", 100_000),
    "text_column": ("str", "text"),
    "id_column": ("str", None),
    "batch_size": ("int", 8192),
    "n_threads": ("int", None),
    "by": ("str", None),
    "steps": ("steps", None),
}


class RecipeError(ValueError):
    """A recipe that cannot run: names the file, the line and the key."""


@dataclass
class StepConfig:
    """One step of a recipe: its type, its name (unique), its parameters, where it was written."""

    step: str
    name: str
    params: dict[str, Any]
    line: int = 0

    def resolved(self) -> dict[str, Any]:
        """Every parameter with its default filled in (what the run folder records)."""
        if self.step not in STEPS:  # read and write: set by the recipe's top-level keys
            return {}
        out = {p.name: p.default for p in STEPS[self.step].params().values()}
        out.update(self.params)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(out.items())}


@dataclass
class Recipe:
    """A validated recipe."""

    inputs: list[str]
    steps: list[StepConfig]
    output: Optional[str] = None
    run_dir: Optional[str] = None
    shard_rows: int = 100_000
    text_column: str = "text"
    id_column: Optional[str] = None
    batch_size: int = 8192
    n_threads: Optional[int] = None
    by: Optional[str] = None
    source: str = "<recipe>"
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict, repr=False)

    def shared(self) -> dict[str, Any]:
        """The settings every step having the flag receives."""
        return {k: getattr(self, k) for k in SHARED}


# -- parsing with lines ----------------------------------------------------------------------------


def _yaml(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    import yaml

    lines: dict[tuple[Any, ...], int] = {}
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return {}, lines

            def build(n: Any, path: tuple[Any, ...]) -> Any:
                lines.setdefault(path, n.start_mark.line + 1)
                if isinstance(n, yaml.MappingNode):
                    out: dict[Any, Any] = {}
                    for k, v in n.value:
                        key = loader.construct_object(k, deep=True)
                        if key in out:
                            raise RecipeError(
                                f"{source}:{k.start_mark.line + 1}: key {key!r} given twice"
                            )
                        lines[(*path, key)] = k.start_mark.line + 1
                        out[key] = build(v, (*path, key))
                    return out
                if isinstance(n, yaml.SequenceNode):
                    return [build(v, (*path, i)) for i, v in enumerate(n.value)]
                return loader.construct_object(n, deep=True)

            return build(node, ()), lines
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise RecipeError(f"{where}: not valid YAML: {e.problem or e}") from None


def _toml(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{source}: not valid TOML: {e}") from None
    # tomllib keeps no positions: find them from the headers and `key =` lines (enough for the
    # shape of a recipe: top-level keys and [[steps]] tables).
    lines: dict[tuple[Any, ...], int] = {}
    path: tuple[Any, ...] = ()
    counts: dict[str, int] = {}
    for no, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if m := re.match(r"^\[\[\s*([\w.-]+)\s*\]\]", s):
            name = m.group(1)
            counts[name] = counts.get(name, -1) + 1
            path = (name, counts[name])
            lines.setdefault((name,), no)
            lines[path] = no
        elif m := re.match(r"^\[\s*([\w.-]+)\s*\]", s):
            path = tuple(m.group(1).split("."))
            lines[path] = no
        elif m := re.match(r"^([\w-]+|\"[^\"]+\")\s*=", s):
            lines[(*path, m.group(1).strip('"'))] = no
    return data, lines


def parse(text: str, source: str = "<recipe>", *, fmt: Optional[str] = None) -> Recipe:
    """Parse and validate a recipe given as text (``fmt``: ``yaml`` or ``toml``, default YAML)."""
    data, lines = (_toml if fmt == "toml" else _yaml)(text, source)
    return validate(data, source, lines)


def load(path: str | Path) -> Recipe:
    """Parse and validate a recipe file (``.yaml``/``.yml`` or ``.toml``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"no such recipe: {p}") from None
    return parse(text, str(p), fmt="toml" if p.suffix.lower() == ".toml" else "yaml")


# -- validation ------------------------------------------------------------------------------------


def _suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate(
    data: Any, source: str = "<recipe>", lines: Optional[Mapping[tuple[Any, ...], int]] = None
) -> Recipe:
    """Check a recipe given as plain data (a dict); returns the :class:`Recipe`.

    Checks unknown keys (with a suggestion), types, choices, required parameters, unique step
    names and that every input and input-file parameter exists. Nothing is read or written.
    """
    lines = dict(lines or {})

    def fail(path: tuple[Any, ...], msg: str) -> RecipeError:
        line = 0
        for i in range(len(path), -1, -1):
            if path[:i] in lines:
                line = lines[path[:i]]
                break
        return RecipeError(f"{source}:{line}: {msg}" if line else f"{source}: {msg}")

    if not isinstance(data, dict):
        raise fail((), "a recipe is a mapping with inputs and steps")
    for key in data:
        if key not in TOP:
            raise fail((key,), f"unknown key {key!r}{_suggest(key, TOP)}")
    for key in ("inputs", "steps"):
        if data.get(key) in (None, [], ""):
            raise fail((key,), f"{key} is required")
    values: dict[str, Any] = {}
    for key, (kind, default) in TOP.items():
        v = data.get(key, default)
        if kind == "paths":
            v = [v] if isinstance(v, str) else v
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise fail((key,), f"{key} must be a path or a list of paths")
        elif kind in ("int", "str") and v is not None:
            ok = isinstance(v, str) if kind == "str" else type(v) is int
            if not ok:
                raise fail((key,), f"{key} must be {'a string' if kind == 'str' else 'an integer'}")
        values[key] = v
    for key in ("shard_rows", "batch_size", "n_threads"):
        if values[key] is not None and values[key] < 1:
            raise fail((key,), f"{key} must be >= 1, got {values[key]}")
    if not isinstance(values["steps"], list):
        raise fail(("steps",), "steps must be a list")
    for i, inp in enumerate(values["inputs"]):
        _check_input(inp, lambda msg, i=i: fail(("inputs", i), msg))
    steps, names = [], set()
    for i, raw in enumerate(values["steps"]):
        where: tuple[Any, ...] = ("steps", i)
        if not isinstance(raw, dict) or "step" not in raw:
            raise fail(where, f"steps[{i}] must be a mapping with a 'step' key")
        kind = raw["step"]
        if kind not in STEPS:
            raise fail(
                (*where, "step"), f"steps[{i}]: unknown step {kind!r}{_suggest(kind, STEPS)}"
            )
        name = raw.get("name", kind)
        if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
            raise fail((*where, "name"), f"steps[{i}]: name must be letters, digits, '.', '-', '_'")
        if name in names or name in ("read", "write"):
            raise fail((*where, "name"), f"steps[{i}]: two steps named {name!r} (set name:)")
        names.add(name)
        spec = STEPS[kind].params()
        params = {k: v for k, v in raw.items() if k not in ("step", "name")}
        label = f"steps[{i}] ({name})"
        for key, value in params.items():
            if key in SHARED and key not in spec:
                raise fail((*where, key), f"{label}: {key} is set for the whole recipe")
            if key not in spec:
                raise fail(
                    (*where, key), f"{label}: unknown parameter {key!r}{_suggest(key, spec)}"
                )
            problem = spec[key].check(value)
            if problem:
                raise fail((*where, key), f"{label}: {problem}")
        for p in spec.values():
            if p.required and params.get(p.name) is None:
                raise fail(where, f"{label}: parameter {p.name!r} is required ({p.help})")
        for pname in STEPS[kind].path_params:
            value = params.get(pname)
            for v in value if isinstance(value, list) else [value]:
                if v is not None:
                    _check_input(str(v), lambda msg, w=(*where, pname): fail(w, msg), any_file=True)
        steps.append(StepConfig(kind, name, params, lines.get(where, 0)))
    if values["output"] is not None:
        _check_output(values["output"], values["inputs"], lambda m: fail(("output",), m))
    return Recipe(
        source=source, lines=lines, **{k: values[k] for k in TOP if k != "steps"}, steps=steps
    )


def _check_input(inp: str, fail: Any, *, any_file: bool = False) -> None:
    """Fail unless ``inp`` exists: corpus files (or any file with ``any_file``) or a URL."""
    import os

    from tamis.io import list_files
    from tamis.io.urls import exists, is_url

    if is_url(inp):
        try:
            found = exists(inp)
        except (OSError, ValueError, ImportError) as e:
            raise fail(f"cannot reach {inp}: {e}") from None
        if not found:
            raise fail(f"no such file: {inp}")
        return
    if any_file and not any(ch in inp for ch in "*?["):
        if not os.path.exists(inp):
            raise fail(f"no such file: {inp}")
        return
    try:
        list_files(inp)
    except (FileNotFoundError, ValueError) as e:
        raise fail(str(e)) from None


def _check_output(out: str, inputs: list[str], fail: Any) -> None:
    from tamis.io.urls import is_url
    from tamis.output import check_output

    if is_url(out):
        if not out.endswith((".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst")):
            raise fail(f"output {out}: the extension must be .parquet or .jsonl[.gz|.zst]")
        return
    try:
        check_output(out, [i for i in inputs if "://" not in i], what="output")
    except (OSError, ValueError) as e:
        raise fail(str(e)) from None
