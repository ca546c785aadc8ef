"""Writing outputs safely: checked before any work starts, written atomically, never over an input.

Every file tamis writes goes through this module:

- :func:`check_output` runs before the first input byte is read. It refuses an output that
  resolves (through symlinks, and by inode for hard links) to an input file or into an input
  directory, an existing directory, a device, FIFO or socket, a read-only file, an unwritable
  folder and an unknown extension; it names both paths. A symlink is written *through* (its target
  is replaced, the link stays), as ``cp`` does.
- The data goes to a hidden temporary file next to the target (``.<name>.tamis-XXXXXX.tmp``),
  which is renamed over the target only when the write completes: an interrupted run (an error,
  Ctrl-C, ``kill -9``, a full disk) never leaves a truncated output, and the temporary file is
  removed on every failure path Python sees. Temporary files of this pattern older than a day
  (left by ``kill -9``) are removed when a new output is checked in the same folder.
- Files get the mode a plain ``open()`` would give them (``0o666`` minus the umask), not the
  ``0o600`` of a temporary file.

The format follows the extension: ``.parquet`` (with the run metadata in the schema),
``.jsonl`` / ``.ndjson`` and their ``.gz`` / ``.zst`` forms, and ``-`` for JSON Lines on stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Union

import pyarrow as pa
import pyarrow.parquet as pq

from tamis.exceptions import InputError

PathLike = Union[str, os.PathLike]
#: Output extensions and the format and compression they imply (longest match wins).
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


def _temp_for(target: Path) -> str:
    _check_kind(target, str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}{_TMP_MARK}", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    os.chmod(tmp, file_mode())
    return tmp


def _target(path: PathLike) -> Path:
    """Where to write: through a symlink to its target."""
    return Path(os.path.realpath(path))


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """A temporary path next to ``path`` that replaces it when the block ends without error.

    The file gets the umask's mode; on any error (including ``KeyboardInterrupt``) it is removed.
    """
    target = _target(path)
    tmp = _temp_for(target)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: PathLike, text: str) -> None:
    """Write a text file atomically (``"-"``: stdout)."""
    if str(path) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (``"-"``: stdout)."""
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def run_metadata(command: str, params: dict[str, Any]) -> dict[bytes, bytes]:
    """File metadata naming the tamis version, the command and its parameters."""
    return {b"tamis": _metadata_json(command, params).encode()}


def _metadata_json(command: str, params: dict[str, Any]) -> str:
    from tamis import __version__

    payload = {"tamis_version": __version__, "command": command, "params": params}
    return json.dumps(payload, sort_keys=True, default=str)


def save_npz(path: PathLike, command: str, params: dict[str, Any], **arrays: Any) -> None:
    """Write arrays to an ``.npz`` atomically, with the run metadata under the key ``tamis``.

    Every array must have a non-object dtype so the file loads with ``np.load`` without pickle.
    """
    import numpy as np

    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f"npz array {name!r} has dtype object (would need pickle)")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, tamis=np.array(_metadata_json(command, params)), **arrays)


def read_run_metadata(path: PathLike) -> dict[str, Any]:
    """The run metadata tamis wrote into a Parquet or ``.npz`` output."""
    if str(path).lower().endswith(".npz"):
        import numpy as np

        with np.load(str(path), allow_pickle=False) as z:
            if "tamis" not in z.files:
                raise InputError(f"{path}: no tamis run metadata")
            return json.loads(str(z["tamis"]))
    meta = pq.read_schema(str(path)).metadata or {}
    if b"tamis" not in meta:
        raise InputError(f"{path}: no tamis run metadata")
    return json.loads(meta[b"tamis"])


class ParquetSink:
    """Write record batches to a Parquet file atomically (temp file in the same folder + rename).

    The file appears under its final name only when the writer is closed without error, so an
    interrupted run never leaves a truncated output behind. Use as a context manager. Batches
    whose schema differs from the first only in string vs large_string, or in missing columns,
    are cast to the first batch's schema.

    Parameters
    ----------
    path
        Destination file (a symlink is written through).
    command, params
        Recorded in the file's schema metadata under ``b"tamis"``.
    schema
        The schema of an empty output (when no batch is written).
    """

    def __init__(
        self,
        path: PathLike,
        command: str,
        params: dict[str, Any],
        schema: pa.Schema | None = None,
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        self.metadata = run_metadata(command, params)
        self._tmp: str | None = None
        self._schema: pa.Schema | None = None
        self._writer: Any = None
        self.rows = 0

    def __enter__(self) -> ParquetSink:
        self._tmp = _temp_for(_target(self.path))
        return self

    def _write(self, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema.with_metadata(self.metadata)
            self._writer = pq.ParquetWriter(self._tmp, self._schema)
        self._writer.write_table(table)

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Append a batch; the first one fixes the schema."""
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        if self._schema is not None:
            table = conform(table, self._schema, str(self.path))
        self._write(table.replace_schema_metadata(self.metadata))
        self.rows += table.num_rows

    def _close(self) -> None:
        if self._schema is not None:
            self._writer.close()

    def _write_empty(self, schema: pa.Schema) -> None:
        pq.write_table(schema.empty_table().replace_schema_metadata(self.metadata), self._tmp)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._tmp is not None
        try:
            self._close()
            if exc_type is not None:
                return
            if self._schema is None:
                if self.schema is None:
                    raise InputError(f"{self.path}: nothing to write and no schema given")
                self._write_empty(self.schema)
            os.chmod(self._tmp, file_mode())
            os.replace(self._tmp, _target(self.path))
            self._tmp = None
        finally:
            if self._tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self._tmp)


class JsonlSink(ParquetSink):
    """Write record batches as JSON Lines (optionally gzip/zstd), atomically; ``"-"``: stdout.

    JSON Lines carry no run metadata (Parquet and ``.npz`` outputs do). Binary values are written
    as base64 strings, NaN and infinities as ``null``.
    """

    def __init__(
        self,
        path: PathLike,
        command: str,
        params: dict[str, Any],
        schema: pa.Schema | None = None,
        compression: str | None = None,
    ) -> None:
        super().__init__(path, command, params, schema)
        self.compression = compression
        self._stream: Any = None

    def __enter__(self) -> JsonlSink:
        if str(self.path) == STDOUT:
            self._tmp = STDOUT
            self._stream = sys.stdout.buffer
            return self
        super().__enter__()
        assert self._tmp is not None
        if self.compression is None:
            self._stream = open(self._tmp, "wb")
        else:
            self._stream = pa.CompressedOutputStream(self._tmp, self.compression)
        return self

    def _write(self, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema
        lines = [json.dumps(_jsonable(row), ensure_ascii=False) for row in table.to_pylist()]
        if lines:
            self._stream.write(("\n".join(lines) + "\n").encode("utf-8"))

    def _close(self) -> None:
        if self._stream is None:
            return
        if str(self.path) == STDOUT:
            self._stream.flush()
        else:
            self._stream.close()
        self._stream = None

    def _write_empty(self, schema: pa.Schema) -> None:
        pass  # an empty JSON Lines file is zero documents

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if str(self.path) == STDOUT:
            self._close()
            return
        if self._schema is None and self.schema is None and exc_type is None:
            self._schema = pa.schema([])  # zero rows: an empty file is valid JSON Lines
        super().__exit__(exc_type, exc, tb)


def _jsonable(value: Any) -> Any:
    import base64
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def open_sink(
    path: PathLike, command: str, params: dict[str, Any], schema: pa.Schema | None = None
) -> ParquetSink:
    """The sink for ``path``'s extension: Parquet, or JSON Lines (``.gz``/``.zst``, ``-``)."""
    fmt, compression = output_format(path)
    if fmt == "parquet":
        return ParquetSink(path, command, params, schema)
    return JsonlSink(path, command, params, schema, compression)


def conform(table: pa.Table, schema: pa.Schema, where: str) -> pa.Table:
    """Cast ``table`` to ``schema`` (string↔large_string, missing columns as nulls, same order).

    Raises
    ------
    InputError
        Extra columns, or types that cannot be cast, naming the column.
    """
    if table.schema.remove_metadata() == schema.remove_metadata():
        return table
    extra = [n for n in table.column_names if n not in schema.names]
    if extra:
        raise InputError(
            f"{where}: a batch has columns {extra} that earlier batches did not have "
            f"(columns: {', '.join(schema.names)})"
        )
    cols = []
    for field in schema:
        if field.name not in table.column_names:
            cols.append(pa.nulls(table.num_rows, field.type))
            continue
        col = table.column(field.name)
        if col.type != field.type:
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise InputError(
                    f"{where}: column {field.name!r} is {col.type} in one batch and "
                    f"{field.type} in another ({e})"
                ) from None
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=schema)


def write_parquet(
    table: pa.Table, path: PathLike, command: str = "write", params: dict[str, Any] | None = None
) -> Path:
    """Write a table atomically with run metadata; returns the path."""
    with ParquetSink(path, command, params or {}, schema=table.schema) as sink:
        sink.write(table)
    return Path(path)


__all__ = [
    "OUTPUT_FORMATS",
    "JsonlSink",
    "OutputError",
    "ParquetSink",
    "atomic_path",
    "check_distinct",
    "check_output",
    "conform",
    "file_mode",
    "open_sink",
    "output_format",
    "read_run_metadata",
    "run_metadata",
    "save_npz",
    "write_json",
    "write_parquet",
    "write_text",
]
