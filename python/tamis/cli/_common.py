"""What every subcommand shares: option groups, checks that run before any work, the reader.

Flags are named after the Python parameters they set (``--n-buckets`` for ``n_buckets``,
``--n-threads`` for ``n_threads``); older spellings stay as aliases (``--buckets``,
``--threads``). Every command checks its outputs and its column arguments *before* it reads the
first input byte, so a mistake costs nothing and never touches an input.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tamis._progress import progress, total_rows
from tamis.exceptions import InputError
from tamis.io import list_files, read_batches, scan_schema
from tamis.output import OUTPUT_FORMATS, check_distinct, check_output

#: Flag spellings of tamis 0.1 -> their 0.2 names: accepted with a warning, removed in 0.3.
RENAMED_FLAGS = {
    "--threads": "--n-threads",
    "--buckets": "--n-buckets",
    "--bands": "--num-bands",
    "--k": "--min-k-fraction",
}


class Store(argparse.Action):
    """argparse's ``store``, noting a former spelling (:data:`RENAMED_FLAGS`) in ``renamed_flags``.

    The note, not a warning: ``main`` warns once its one-line warning display is in place.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        if option_string in RENAMED_FLAGS:
            namespace.renamed_flags = [*getattr(namespace, "renamed_flags", []), option_string]


def renamed_flag_warnings(args: argparse.Namespace) -> list[str]:
    """One message per former flag spelling the command line used."""
    return [
        f"{old} is deprecated: use {RENAMED_FLAGS[old]} (the old spelling goes in tamis 0.3)"
        for old in getattr(args, "renamed_flags", [])
    ]


class Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default (``(default: ...)``) and keeps descriptions as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_ = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "%(default)" in help_:
            return help_
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{help_} (default: %(default)s)"
        return help_


def add_parser(sub: Any, name: str, summary: str, description: str | None = None) -> Any:
    """A subcommand parser: one-line ``summary`` in ``tamis --help``, defaults shown."""
    return sub.add_parser(
        name,
        help=summary,
        description=description or summary[0].upper() + summary[1:] + ".",
        formatter_class=Formatter,
    )


def add_input_options(p: argparse.ArgumentParser, *, positional: bool = True) -> None:
    """Inputs, text/id columns, batch size, threads, quiet."""
    if positional:
        p.add_argument("inputs", nargs="+", type=Path, help="files, directories or globs")
    p.add_argument("--text-column", default="text", help="column holding the documents")
    p.add_argument(
        "--id-column", default=None, help="id column (default: id, created as <file>:<row>)"
    )
    p.add_argument("--batch-size", type=int, default=8192, help="rows per batch")
    add_threads(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_threads(p: argparse.ArgumentParser) -> None:
    """``--n-threads`` (alias ``--threads``)."""
    p.add_argument(
        "--n-threads",
        "--threads",
        action=Store,
        dest="n_threads",
        type=int,
        default=None,
        help="worker threads (default: all cores, or TAMIS_NUM_THREADS)",
    )


def add_normalizer_options(p: argparse.ArgumentParser) -> None:
    """The text normalisation flags shared by features and dedup."""
    p.add_argument("--no-lowercase", action="store_true", help="keep case")
    p.add_argument("--nfkc", action="store_true", help="NFKC-normalise first")
    p.add_argument("--strip-punctuation", action="store_true", help="drop punctuation tokens")
    p.add_argument("--fold-whitespace", action="store_true", help="fold runs of whitespace")


def normalizer_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The normaliser parameters set by :func:`add_normalizer_options`."""
    return {
        "lowercase": not args.no_lowercase,
        "nfkc": args.nfkc,
        "strip_punctuation": args.strip_punctuation,
        "fold_whitespace": args.fold_whitespace,
    }


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """``--backend local|ray`` and ``--address``."""
    p.add_argument(
        "--backend", choices=["local", "ray"], default="local", help="ray needs tamis[ray]"
    )
    p.add_argument("--address", default=None, help="Ray cluster address (--backend ray)")


def source(inputs: Sequence[Path]) -> Any:
    """The reader's source for a list of CLI inputs."""
    return list(inputs) if len(inputs) > 1 else inputs[0]


def check_threads(n_threads: int | None) -> None:
    """Refuse ``--n-threads`` < 1, naming the flag.

    More threads than cores is warned about (and capped) by the estimators' own check,
    :func:`tamis._validation.check_threads`.
    """
    if n_threads is not None and n_threads < 1:
        raise ValueError(f"--n-threads must be >= 1, got {n_threads}")


def check_columns(
    args: argparse.Namespace,
    inputs: Iterable[Any],
    columns: Sequence[str],
    text_only: Iterable[Any] = (),
) -> None:
    """Check the text/id/extra column arguments against the inputs' schemas, before any work.

    ``text_only``: inputs of which only the text column is read (a DSIR target needs no ids).
    """
    text, id_col = args.text_column, args.id_column
    if text == (id_col or "id"):
        raise ValueError(
            f"--text-column and --id-column name the same column {text!r}"
            + ("" if id_col else " (the id column defaults to 'id'; name another with --id-column)")
        )
    plain = {str(p) for p in text_only}
    for inp in inputs:  # each input on its own: dsir's target and raw need not share a schema
        if str(inp) in plain:
            scan_schema(inp, text_column=text, id_column=None)
        else:
            scan_schema(inp, text_column=text, id_column=id_col, columns=[c for c in columns if c])


def check_outputs(
    inputs: Sequence[Any], formats: Iterable[str] | None = None, **outputs: Any
) -> dict[str, Any]:
    """Check every output against the inputs and each other; returns the paths to write.

    Keyword names are the flags (``o="out.parquet", json=None``); ``o`` may be ``-`` (stdout),
    the others have fixed formats (``json``: any extension; ``save_model``: ``.npz``).
    ``formats`` are the extensions allowed for ``-o`` (default: Parquet and JSON Lines).
    """
    named = {k: v for k, v in outputs.items() if v is not None}
    check_distinct(
        **{f"--{k.replace('_', '-')}" if k != "o" else "-o": v for k, v in named.items()}
    )
    resolved: dict[str, Any] = {}
    for key, path in named.items():
        flag = "-o" if key == "o" else f"--{key.replace('_', '-')}"
        allowed: Any = (formats or OUTPUT_FORMATS) if key == "o" else None
        if key == "save_model":
            allowed = (".npz",)
        resolved[key] = check_output(
            path, inputs, what=flag, formats=allowed, allow_stdout=key in ("o", "json")
        )
    return resolved


def expand_inputs(inputs: Sequence[Any]) -> list[Path]:
    """Input files (directories and globs expanded): fails early on a missing path."""
    return list_files(list(inputs))


def bar(args: argparse.Namespace, desc: str, total: int | None = None) -> Any:
    """A progress bar (quiet with ``-q`` or when stderr is not a terminal)."""
    return progress(total=total, desc=desc, enabled=not args.quiet)


def batches(args: argparse.Namespace, columns: Sequence[str] | None = None) -> Any:
    """Stream the inputs with the command's column options."""
    return read_batches(
        source(args.inputs),
        text_column=args.text_column,
        id_column=args.id_column,
        columns=columns,
        batch_size=args.batch_size,
    )


def check_batch_size(batch_size: int) -> None:
    """``--batch-size`` must be a positive row count."""
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")


def prepare(
    args: argparse.Namespace,
    *,
    inputs: Sequence[Any],
    columns: Sequence[str] = (),
    formats: Iterable[str] | None = None,
    text_only: Sequence[Any] = (),
    **outputs: Any,
) -> dict[str, Any]:
    """Run every check a command needs before its first input byte; return the output paths.

    Threads, batch size, outputs (against ``inputs`` and each other), then the column arguments
    against the input schemas (``text_only``: inputs read for their text column alone).
    """
    check_threads(getattr(args, "n_threads", None))
    if hasattr(args, "batch_size"):
        check_batch_size(args.batch_size)
    for inp in inputs:
        if not Path(inp).exists() and not any(ch in str(inp) for ch in "*?["):
            raise FileNotFoundError(f"no such file or directory: {inp}")
    resolved = check_outputs(inputs, formats, **outputs)
    if hasattr(args, "text_column"):
        check_columns(args, inputs, columns, text_only)
    return resolved


def embedding_matrix(col: Any, name: str) -> np.ndarray:
    """A (list | large_list | fixed_size_list)<float> column as a dense (n, d) array."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    t = col.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
        raise InputError(f"column {name!r} must be a list of numbers, got {t}")
    if col.null_count:
        raise InputError(f"column {name!r} has {col.null_count} null rows")
    n = len(col)
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
    if n and (lengths != lengths[0]).any():
        bad = int(np.flatnonzero(lengths != lengths[0])[0])
        raise InputError(
            f"column {name!r}: row {bad} has {lengths[bad]} values, row 0 has {lengths[0]}"
        )
    values = pc.list_flatten(col).to_numpy(zero_copy_only=False)
    d = int(lengths[0]) if n else 0
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    return values.reshape(n, d)


__all__ = [
    "Formatter",
    "InputError",
    "add_backend_options",
    "add_input_options",
    "add_normalizer_options",
    "add_parser",
    "add_threads",
    "bar",
    "batches",
    "check_columns",
    "check_outputs",
    "check_threads",
    "embedding_matrix",
    "expand_inputs",
    "normalizer_kwargs",
    "prepare",
    "source",
    "total_rows",
]
