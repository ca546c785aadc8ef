"""Corpus sources: file kinds, :func:`files`, :func:`list_files` and telling files from texts."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Union

from tamis.exceptions import InputError

PathLike = Union[str, os.PathLike]


#: Suffixes recognised in directories and globs, with the compression they imply.
SUFFIXES = {
    ".parquet": ("parquet", None),
    ".jsonl": ("json", None),
    ".ndjson": ("json", None),
    ".json": ("json", None),
    ".jsonl.gz": ("json", "gzip"),
    ".ndjson.gz": ("json", "gzip"),
    ".json.gz": ("json", "gzip"),
    ".jsonl.zst": ("json", "zstd"),
    ".ndjson.zst": ("json", "zstd"),
    ".json.zst": ("json", "zstd"),
}


def _file_kind(path: Path) -> tuple[str, str | None] | None:
    name = path.name.lower()
    for suffix, kind in sorted(SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return kind
    return None


class Files(Sequence[Path]):
    """An explicit, frozen list of corpus files (paths, directories or globs).

    Made by :func:`files`. Every reader treats it as files, whatever the element types; use it
    where a plain list of ``str`` would be read as documents.
    """

    __slots__ = ("_paths",)
    _paths: tuple[Path, ...]

    def __init__(self, paths: Iterable[PathLike]) -> None:
        out = []
        for p in paths:
            if not isinstance(p, (str, os.PathLike)):
                raise TypeError(
                    f"files: expected paths (str or os.PathLike), got {type(p).__name__}"
                )
            out.append(Path(p))
        if not out:
            raise ValueError("files: give at least one path")
        object.__setattr__(self, "_paths", tuple(out))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Files is immutable")

    def __getitem__(self, i: Any) -> Any:
        return Files(self._paths[i]) if isinstance(i, slice) else self._paths[i]

    def __len__(self) -> int:
        return len(self._paths)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Files) and self._paths == other._paths

    def __hash__(self) -> int:
        return hash(self._paths)

    def __repr__(self) -> str:
        return f"files({', '.join(repr(str(p)) for p in self._paths)})"


def files(*paths: PathLike | Iterable[PathLike]) -> Files:
    """Mark paths as corpus files, for any API that also takes lists of texts.

    ``tamis.files("a.jsonl.gz", "b.parquet")`` (or ``tamis.files(list_of_paths)``) is read as
    those files (directories and globs are expanded), whereas a list of ``str`` is read as
    documents. A single path or a list of ``pathlib.Path`` is also read as files.

    Raises
    ------
    TypeError
        An element that is not a path.
    ValueError
        No path at all.
    """
    flat: list[PathLike] = []
    for p in paths:
        if isinstance(p, (str, os.PathLike)):
            flat.append(p)
        elif isinstance(p, Iterable):
            flat.extend(p)
        else:
            raise TypeError(f"files: expected paths (str or os.PathLike), got {type(p).__name__}")
    return Files(flat)


def list_files(source: PathLike | Sequence[PathLike]) -> list[Path]:
    """Expand paths, directories and globs into a sorted list of corpus files.

    Parameters
    ----------
    source
        A path, directory or glob pattern, or a list of them (or :func:`files`).

    Returns
    -------
    list of Path
        Files with a recognised suffix, sorted and without duplicates (also none under two
        spellings of its path).

    Raises
    ------
    FileNotFoundError
        If a path does not exist or a pattern matches nothing.
    """
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and _file_kind(f))
            if not found:
                raise FileNotFoundError(f"no corpus files ({', '.join(SUFFIXES)}) under {p}")
            out.extend(found)
        elif p.is_file():
            if _file_kind(p) is None:
                raise InputError(f"{p}: unknown file type (expected one of {', '.join(SUFFIXES)})")
            out.append(p)
        elif glob.has_magic(str(item)):
            found = sorted(
                Path(f) for f in glob.glob(str(item), recursive=True) if _file_kind(Path(f))
            )
            if not found:
                raise FileNotFoundError(f"the pattern {item!r} matches no corpus file")
            out.extend(found)
        else:
            raise FileNotFoundError(f"no such file or directory: {p}")
    unique: dict[Path, Path] = {}
    for f in out:  # one file named twice (another spelling, a link) is read once
        unique.setdefault(f.resolve(), f)
    return sorted(unique.values(), key=lambda f: (str(f.parent), f.name))


def file_names(files: list[Path]) -> dict[Path, str]:
    """The names files carry in generated ids (``"<name>:<row>"``).

    Paths relative to the inputs' common folder; a single file is named by its base name.
    """
    if len(files) == 1:
        return {files[0]: files[0].name}
    root = os.path.commonpath([str(f.resolve().parent) for f in files])
    return {f: os.path.relpath(f.resolve(), root) for f in files}


def _names_corpus_file(s: str) -> bool:
    return len(s) < 4096 and _file_kind(Path(s)) is not None and os.path.isfile(s)


def _reject_file_names(items: Sequence[Any]) -> None:
    """A non-empty list of str that all name corpus files was almost surely meant as files."""
    if items and all(isinstance(s, str) for s in items) and all(map(_names_corpus_file, items)):
        shown = ", ".join(repr(s) for s in items[:3]) + (", ..." if len(items) > 3 else "")
        raise InputError(
            f"a list of str is read as documents, but every element names a corpus file "
            f"({shown}); to read the files pass tamis.files({shown}) or a list of pathlib.Path"
        )


def is_path_source(source: Any) -> bool:
    """True if ``source`` names files.

    Files are: a ``str`` or ``os.PathLike`` (path, directory or glob), :func:`files`, or a
    non-empty list / tuple of ``os.PathLike``. A list of ``str`` is documents, but if every
    element names an existing corpus file this raises :class:`InputError` (pass
    ``tamis.files(...)`` to read them).
    """
    if isinstance(source, (Files, str, os.PathLike)):
        return True
    if not isinstance(source, (list, tuple)) or not source:
        return False
    if all(isinstance(s, os.PathLike) for s in source):
        return True
    _reject_file_names(source)
    return False
