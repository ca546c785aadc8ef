"""The ``tamis`` command line (also ``python -m tamis``).

One module per subcommand, each with ``add(subparsers)`` (registers the parser, sets ``func``)
and ``run(args)``; :data:`COMMANDS` lists them in ``tamis --help`` order. Shared options and the
checks every command runs before reading its inputs live in :mod:`tamis.cli._common`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any, Callable

from tamis import __version__
from tamis.cli._stream import choose_arrow_pool
from tamis.exceptions import TamisError

# Arrow takes its memory pool when pyarrow loads (with _common, next): the command's choice first.
choose_arrow_pool(sys.argv[1:])
from tamis.cli._common import renamed_flag_warnings  # noqa: E402

#: The subcommand modules (``tamis.cli.<name>``, command ``tamis <name>``) in ``tamis --help``
#: order. Each is imported when its command runs (or for the full parser): importing all of them
#: cost every command ~0.15 CPU-seconds of start-up on the 2-core machine.
COMMAND_MODULES: list[str] = [
    "features",
    "stats",
    "dsir",
    "dedup",
    "decontaminate",
    "score",
    "coreset",
    "quality",
    "select",
    "run",
    "report",
    "balance",
    "mix",
    "cluster",
    "semdedup",
    "filter",
]


def _adder(name: str) -> Callable[[Any], None]:
    def add(sub: Any) -> None:
        importlib.import_module(f"tamis.cli.{name}").add(sub)

    add.__qualname__ = f"{name}.add"
    return add


#: ``add(subparsers)`` of every subcommand, in ``COMMAND_MODULES`` order.
COMMANDS: list[Callable[[Any], None]] = [_adder(name) for name in COMMAND_MODULES]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand (or only the command ``only``)."""
    parser = argparse.ArgumentParser(
        prog="tamis",
        description="Select pre-training data: features, stats, DSIR, dedup, scoring, coresets.",
    )
    parser.add_argument("--version", action="version", version=f"tamis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, add in zip(COMMAND_MODULES, COMMANDS):
        if only is None or name == only:
            add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status.

    Errors print one line and give status 1; Ctrl-C prints one line and gives 130; warnings print
    one line each (``tamis CMD: warning: ...``).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and argv[0] in COMMAND_MODULES else None
    try:  # also around the parser: building it imports the command's modules (Ctrl-C lands there)
        return _main(argv, command)
    except KeyboardInterrupt:
        print(f"tamis {command}: interrupted" if command else "tamis: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str], command: str | None) -> int:
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    name = f"tamis {args.command}"

    def show(message: Any, category: Any, *_: Any, **__: Any) -> None:
        print(f"{name}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        for category in (RuntimeWarning, UserWarning, FutureWarning):  # ours: one line each
            warnings.simplefilter("default", category)
        for message in renamed_flag_warnings(args):
            warnings.warn(message, FutureWarning, stacklevel=1)
        try:
            return int(args.func(args))
        except BrokenPipeError:  # `tamis ... -o - | head`: the reader left
            return 141
        except MemoryError as e:
            print(f"{name}: error: out of memory ({e})", file=sys.stderr)
            return 1
        except (TamisError, ValueError, TypeError, OSError, ImportError, KeyError) as e:
            msg = str(e) if not isinstance(e, KeyError) else f"no column {e}"
            print(f"{name}: error: {msg}", file=sys.stderr)
            return 1
