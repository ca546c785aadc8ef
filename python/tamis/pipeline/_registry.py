"""The step registry: which steps a recipe may name, their parameters and how they run.

A step is a thin adapter. Its parameters are the flags of the ``tamis`` command it wraps, read
from that command's argument parser (so a recipe and the command line accept the same names,
types, choices and defaults), and it runs either that command's ``run(args)`` once per shard or
over all shards, or (``dedup``, ``dsir``) the engine functions shard by shard with a small global
state. A new command becomes a step with one :func:`register` call::

    register(CliStep("filter", "map", "drop documents by rules"))
"""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

#: Flags a step never takes from a recipe: the pipeline sets them (inputs, outputs, columns,
#: batch size, progress) or they belong to other backends.
PIPELINE_FLAGS = frozenset(
    {
        "help",
        "inputs",
        "input",
        "output",
        "json",
        "quiet",
        "text_column",
        "id_column",
        "batch_size",
        "backend",
        "address",
        "ray_verify_on",
        "ray_components",
        "ray_partitions",
        "resume",
        "shard",
        "num_shards",
        "save_model",
        "all_rows",
        "raw",
        "func",
    }
)
#: Settings of the whole recipe that every step having the flag receives.
SHARED = ("text_column", "id_column", "batch_size", "n_threads")


@dataclass(frozen=True)
class Param:
    """One step parameter: a flag of the wrapped command."""

    name: str
    #: ``bool``, ``int``, ``float``, ``str`` or ``path``.
    kind: str
    flag: str
    default: Any = None
    choices: Optional[tuple[Any, ...]] = None
    required: bool = False
    many: bool = False
    help: str = ""
    #: An ``append`` flag: one ``--flag value`` per list item.
    append: bool = False

    def check(self, value: Any) -> Optional[str]:
        """A problem with ``value`` (``None`` if it is fine)."""
        if value is None:
            return None if not self.required else f"{self.name} is required"
        if self.many:
            values = value if isinstance(value, list) else [value]
        elif isinstance(value, list):
            return f"{self.name} takes one {self.kind}, got a list"
        else:
            values = [value]
        for v in values:
            ok = {
                "bool": isinstance(v, bool),
                "int": isinstance(v, int) and not isinstance(v, bool),
                "float": isinstance(v, (int, float)) and not isinstance(v, bool),
                "str": isinstance(v, str),
                "path": isinstance(v, str),
            }[self.kind]
            if not ok:
                return f"{self.name} must be {_article(self.kind)}, got {type(v).__name__} {v!r}"
            if self.choices is not None and v not in self.choices:
                return f"{self.name} must be one of {list(self.choices)}, got {v!r}"
        return None

    def argv(self, value: Any) -> list[str]:
        """The command-line words for ``value``."""
        if value is None or value is False:
            return []
        if value is True:
            return [self.flag]
        values = value if isinstance(value, list) else [value]
        if self.append:
            return [w for v in values for w in (self.flag, str(v))]
        return [self.flag, *(str(v) for v in values)]


def _article(kind: str) -> str:
    return {"int": "an integer", "float": "a number", "bool": "true or false"}.get(kind, "a string")


def command_parser(command: str) -> argparse.ArgumentParser:
    """The argument parser of ``tamis <command>`` (``"quality score"``: a sub-subcommand)."""
    from tamis import cli  # the pipeline is the one module that drives commands by name

    parser: argparse.ArgumentParser = cli.build_parser()
    for word in command.split():
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if word not in sub.choices:
            raise KeyError(command)
        parser = sub.choices[word]
    return parser


def cli_params(command: str, exclude: Sequence[str] = ()) -> dict[str, Param]:
    """The recipe parameters of a command: its flags, minus :data:`PIPELINE_FLAGS`."""
    out: dict[str, Param] = {}
    skip = PIPELINE_FLAGS.union(exclude)
    for a in command_parser(command)._actions:
        if a.dest in skip or not a.option_strings:
            continue
        if isinstance(a, argparse._StoreTrueAction):
            kind = "bool"
        elif a.type is int:
            kind = "int"
        elif a.type is float:
            kind = "float"
        elif a.type is Path:
            kind = "path"
        else:
            kind = "str"
        longs = [s for s in a.option_strings if s.startswith("--")]
        out[a.dest] = Param(
            name=a.dest,
            kind=kind,
            flag=(longs or a.option_strings)[0],
            default=a.default,
            choices=tuple(a.choices) if a.choices is not None else None,
            required=bool(a.required),
            many=a.nargs in ("+", "*") or isinstance(a, argparse._AppendAction),
            append=isinstance(a, argparse._AppendAction),
            help=(a.help or "").replace("%%", "%"),
        )
    return out


def parse_args(command: str, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` with the command's parser; an argparse error becomes a ``ValueError``."""
    from tamis import cli

    err = io.StringIO()
    try:  # the whole parser: subcommands set their own dests (``tamis quality``'s action)
        with contextlib.redirect_stderr(err):
            return cli.build_parser().parse_args([*command.split(), *argv])
    except SystemExit:
        last = err.getvalue().strip().splitlines()
        raise ValueError(f"tamis {command}: {last[-1] if last else 'bad arguments'}") from None


@dataclass
class StepType:
    """A kind of step a recipe can name.

    ``mode`` says how it runs:

    - ``map``: the command once per shard; its output replaces the shard (filters).
    - ``side``: the command once per shard; its output is kept in the step folder and the shards
      pass through unchanged (scores, features).
    - ``whole``: the command once over all shards; its output is the next steps' input (global
      selections: coreset, mixing, balancing).
    - ``side-whole``: the command once over all shards; its output is kept in the step folder
      and the shards pass through (k-means assignments).
    - ``inspect``: the command once over all shards for its JSON summary; shards pass through.
    - ``native``: :attr:`runner` drives the engine shard by shard (dedup, dsir, read, write).
    """

    name: str
    mode: str
    summary: str
    command: Optional[str] = None
    exclude: Sequence[str] = ()
    #: Extra recipe parameters of native steps (name -> Param).
    extra: dict[str, Param] = field(default_factory=dict)
    runner: Optional[Callable[..., Any]] = None
    #: For ``whole`` steps whose command reads one file (``coreset``): shards merged first.
    single_input: bool = False
    #: Output extension of ``map``/``side``/``whole`` commands.
    suffix: str = ".parquet"
    #: Parameters naming files that must exist before the run (checked by validation).
    path_params: Sequence[str] = ()

    def params(self) -> dict[str, Param]:
        """Recipe parameters: the command's flags (if any) plus :attr:`extra`."""
        out = cli_params(self.command, self.exclude) if self.command else {}
        out.update(self.extra)
        return out


#: Every step a recipe can name, by name.
STEPS: dict[str, StepType] = {}


def register(step: StepType) -> StepType:
    """Add (or replace) a step type; returns it."""
    STEPS[step.name] = step
    return step


def CliStep(name: str, mode: str, summary: str, **kwargs: Any) -> StepType:
    """A step over ``tamis <name>`` (or ``command=...``), run in ``mode``."""
    kwargs.setdefault("command", name)
    return StepType(name, mode, summary, **kwargs)
