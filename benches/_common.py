"""What the benches share: where their inputs are by default and how they say one is missing.

The shared corpus is built into the repository by ``make corpus`` (``data/corpus/``, ignored by
git); every bench takes ``--corpus`` to read another copy. A ``--quick`` run writes its results
under ``bench-results/tmp/`` (ignored) so that it never overwrites the recorded figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO / "data" / "corpus" / "pool.parquet"
SAMPLE_CORPUS = REPO / "data" / "sample" / "corpus.jsonl.gz"
RESULTS = REPO / "bench-results"


def add_corpus_arg(ap: argparse.ArgumentParser, *aliases: str) -> None:
    """``--corpus PATH`` (plus ``aliases``), default the in-repo corpus of ``make corpus``."""
    ap.add_argument(
        "--corpus",
        *aliases,
        dest="corpus",
        default=None,
        metavar="PATH",
        help=f"Parquet corpus with a text column (default: {rel(DEFAULT_CORPUS)}, "
        "built by `make corpus`)",
    )


def add_quick_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--quick",
        action="store_true",
        help="a small workload, for a smoke test; results go to bench-results/tmp/",
    )


def rel(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (shorter messages)."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def corpus_path(arg: str | None, bench: str) -> str:
    """The corpus to read: ``arg`` or the in-repo default; exits in one line when it is missing."""
    path = Path(arg) if arg else DEFAULT_CORPUS
    if not path.is_file():
        hint = "build it with `make corpus`, or pass --corpus PATH"
        die(bench, f"corpus {rel(path)} not found ({hint})")
    return str(path)


def out_path(arg: str | None, name: str, quick: bool) -> Path:
    """``arg``, else ``bench-results/NAME`` (``bench-results/tmp/NAME`` for a quick run)."""
    if arg:
        return Path(arg)
    return RESULTS / "tmp" / name if quick else RESULTS / name


def need(bench: str, module: str, install: str, quick: bool) -> bool:
    """True when ``module`` imports. Otherwise a quick run (a smoke test) is skipped with exit
    status 0 and a full run fails with status 2, both with a one-line message."""
    if importlib.util.find_spec(module) is not None:
        return True
    msg = f"needs {module} ({install})"
    if quick:
        print(f"{bench}: skipped, {msg}", file=sys.stderr)
        sys.exit(0)
    die(bench, msg)
    return False


def die(bench: str, msg: str) -> None:
    print(f"{bench}: error: {msg}", file=sys.stderr)
    sys.exit(2)
