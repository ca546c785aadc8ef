"""Checks that run before any work: is this output path safe to write."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Union

from tamis.exceptions import InputError

PathLike = Union[str, os.PathLike]

OUTPUT_FORMATS = {
    ".parquet": ("parquet", None),
    ".jsonl": ("jsonl", None),
    ".ndjson": ("jsonl", None),
    ".jsonl.gz": ("jsonl", "gzip"),
    ".ndjson.gz": ("jsonl", "gzip"),
    ".jsonl.zst": ("jsonl", "zstd"),
    ".ndjson.zst": ("jsonl", "zstd"),
}
STDOUT = "-"
_TMP_MARK = ".tamis-"
_STALE_SECONDS = 24 * 3600


class OutputError(InputError):
    """An output path that tamis refuses to write (names the path and the reason)."""


def output_format(path: PathLike, allowed: Iterable[str] = OUTPUT_FORMATS) -> tuple[str, Any]:
    """``(format, compression)`` for an output path, from its extension.

    Raises
    ------
    OutputError
        The extension is not one of ``allowed``.
    """
    allowed = list(allowed)
    if str(path) == STDOUT:
        return "jsonl", None
    name = Path(path).name.lower()
    for suffix in sorted(allowed, key=len, reverse=True):
        if name.endswith(suffix):
            return OUTPUT_FORMATS.get(suffix, (suffix.lstrip("."), None))
    raise OutputError(
        f"{path}: unknown output extension (expected one of {', '.join(sorted(allowed))})"
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file under the current umask."""
    return 0o666 & ~_umask()


def _input_paths(inputs: Iterable[Any]) -> list[Path]:
    """Paths named by the inputs: files, directories and the files globs expand to."""
    import glob

    out: list[Path] = []
    for item in inputs:
        if item is None or str(item) == STDOUT:
            continue
        p = Path(item)
        if p.exists():
            out.append(p)
        elif glob.has_magic(str(item)):
            out.extend(Path(f) for f in glob.glob(str(item), recursive=True))
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _remove_stale_temps(folder: Path, name: str) -> None:
    """Remove our own temporary files for ``name`` older than a day (left by kill -9)."""
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not (entry.name.startswith(f".{name}{_TMP_MARK}") and entry.name.endswith(".tmp")):
                continue
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime > _STALE_SECONDS:
                    os.unlink(entry.path)


def check_output(
    path: PathLike,
    inputs: Iterable[Any] = (),
    *,
    what: str = "output",
    formats: Iterable[str] | None = OUTPUT_FORMATS,
    allow_stdout: bool = False,
) -> Path | str:
    """Check that ``path`` can be written without harm, before any work starts.

    Parameters
    ----------
    path
        The output path (``"-"`` for stdout where ``allow_stdout``).
    inputs
        Every input path (files, directories, globs): the output must not be one of them nor lie
        inside an input directory.
    what
        How to name the output in messages (``"-o"``, ``"--json"``).
    formats
        Allowed extensions (``None``: any).
    allow_stdout
        Accept ``"-"``.

    Returns
    -------
    Path or str
        The path to write to: symlinks resolved to their target; ``"-"`` for stdout.

    Raises
    ------
    OutputError
        Naming the output, the input it collides with, or why it cannot be written.
    """
    if str(path) == STDOUT:
        if not allow_stdout:
            raise OutputError(f"{what}: writing to stdout ('-') is not supported here")
        return STDOUT
    given = Path(path)
    target = Path(os.path.realpath(given))
    for inp in _input_paths(inputs):
        real = Path(os.path.realpath(inp))
        if target == real or (target.exists() and _same_file(target, real)):
            raise OutputError(
                f"{what} {given} is the input {inp}"
                + (f" (resolves to {real})" if str(real) != str(inp) else "")
                + ": refusing to overwrite an input; choose another output path"
            )
        if real.is_dir() and real in target.parents:
            raise OutputError(
                f"{what} {given} lies inside the input directory {inp}: it would be read as "
                "input by the next run; write it elsewhere"
            )
    _check_kind(target, f"{what} {given}", allow_stdout)
    if formats is not None:
        output_format(path, formats)
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"{what} {given} exists and is read-only")
    folder = target.parent
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{what} {given}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {given}: the folder {existing} is not writable")
    if folder.is_dir():
        try:  # the only sure test (read-only mounts, root squash, quotas): create a file there
            fd, probe = tempfile.mkstemp(prefix=f".{target.name}{_TMP_MARK}", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise OutputError(
                f"{what} {given}: cannot create files in {folder} ({e.strerror})"
            ) from None
        _remove_stale_temps(folder, target.name)
    return target


def _check_kind(target: Path, name: str, allow_stdout: bool = False) -> None:
    """Refuse an existing target that is not a regular file (directory, device, FIFO, socket)."""
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        return  # a missing target (or parent): the folder checks name the problem
    except OSError as e:
        raise OutputError(f"{name}: cannot be inspected ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{name} is a directory; give a file name")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "a device"
        )
        hint = " (use '-' for stdout)" if allow_stdout else ""
        raise OutputError(f"{name} is {kind}, not a regular file{hint}")


def check_distinct(**paths: Any) -> None:
    """Refuse two outputs that resolve to the same file (``-o x --json x``)."""
    seen: dict[str, str] = {}
    for name, p in paths.items():
        if p is None or str(p) == STDOUT:
            continue
        real = os.path.realpath(p)
        if real in seen:
            raise OutputError(f"{seen[real]} and {name} name the same file {p}")
        seen[real] = name
