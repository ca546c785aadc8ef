"""Corpus input and output with pyarrow.

Inputs are read as a stream of Arrow record batches, so memory stays bounded however large the
corpus is. A *source* is any of:

- a path to a Parquet (``.parquet``), JSON Lines (``.jsonl``, ``.ndjson``, ``.json``) or compressed
  JSON Lines (``.jsonl.gz``, ``.jsonl.zst``, ...) file, a directory (searched recursively for such
  files), a glob pattern (``data/*.parquet``), or a list of these;
- in memory: a list of ``str``, a pyarrow ``Table`` / ``RecordBatch`` / ``Array`` /
  ``ChunkedArray``, a pandas or polars ``DataFrame``, a Hugging Face ``datasets.Dataset``, or any
  object implementing the Arrow PyCapsule stream interface (``__arrow_c_stream__``).

Every batch carries the text column (validated to be a string column) and an id column. When the
input has no id column, a stable one is created: ``"<file>:<row>"`` (file path relative to the
common folder of the inputs, row number inside the file) for files, the row number for in-memory
inputs. Ids depend only on the file and the row, never on the order the files are given in.

Null texts are passed through; every algorithm treats them as empty documents and counts them.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Union

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from tamis.exceptions import InputError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "SUFFIXES",
    "Files",
    "ParquetSink",
    "as_text_array",
    "buffers",
    "files",
    "is_path_source",
    "list_files",
    "read_batches",
    "read_run_metadata",
    "run_metadata",
    "scan_schema",
    "write_parquet",
]

PathLike = Union[str, os.PathLike]
DEFAULT_BATCH_SIZE = 8192
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
_STRING_TYPES = (pa.string(), pa.large_string())
#: JSON blocks grow (doubling) up to this size to fit the longest line; pyarrow's limit is 2 GiB.
_MAX_JSON_BLOCK = 1 << 30


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


def _file_names(files: list[Path]) -> dict[Path, str]:
    """Short, stable names for id generation: paths relative to the inputs' common folder."""
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


@dataclass(frozen=True)
class Columns:
    """Which columns a reader returns."""

    text: str = "text"
    id: str | None = None
    extra: tuple[str, ...] | None = None


def _columns_of(names: Sequence[str]) -> str:
    return ", ".join(names) or "none"


def _check_text(batch: pa.RecordBatch, column: str, where: str) -> pa.RecordBatch:
    if column not in batch.schema.names:
        raise InputError(
            f"{where}: no text column {column!r} (columns: {_columns_of(batch.schema.names)})"
        )
    col = batch.column(column)
    if col.type in _STRING_TYPES:
        return batch
    if _text_type_ok(col.type):
        idx = batch.schema.get_field_index(column)
        return batch.set_column(idx, column, col.cast(pa.large_string()))
    raise TypeError(
        f"{where}: text column {column!r} has type {col.type}, expected a string column"
    )


def _text_type_ok(t: pa.DataType) -> bool:
    """String-like types a text column may have (all but string/large_string get cast)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return t in _STRING_TYPES or t == pa.null() or t == pa.string_view()


def _with_id(batch: pa.RecordBatch, cols: Columns, make_ids: Any, where: str) -> pa.RecordBatch:
    id_name = cols.id or "id"
    if id_name in batch.schema.names:
        return batch
    if cols.id is not None:
        raise InputError(
            f"{where}: no id column {cols.id!r} (columns: {_columns_of(batch.schema.names)})"
        )
    return batch.append_column("id", make_ids(batch.num_rows))


def _select(batch: pa.RecordBatch, cols: Columns) -> pa.RecordBatch:
    if cols.extra is None:
        return batch
    keep = _wanted(cols)
    missing = [c for c in keep if c not in batch.schema.names]
    if missing:
        raise InputError(f"missing columns {missing} (columns: {_columns_of(batch.schema.names)})")
    return batch.select(keep)


def _wanted(cols: Columns) -> list[str]:
    """The columns returned when ``cols.extra`` is set: text, id, then the extra ones."""
    keep = [cols.text, cols.id or "id"]
    for c in cols.extra or ():
        if c not in keep:
            keep.append(c)
    return keep


# -- JSON Lines ------------------------------------------------------------------------------


class _StreamError(Exception):
    """Reading (decompressing) a file failed inside line ``lineno``, at byte ``offset``."""

    def __init__(self, lineno: int, offset: int, cause: BaseException) -> None:
        super().__init__(lineno, offset, cause)
        self.lineno, self.offset, self.cause = lineno, offset, cause


def _iter_lines(f: Any, block: int = 1 << 20) -> Iterator[tuple[int, int, bytes]]:
    """``(line number, byte offset of its start, line)`` of a pyarrow stream, read in blocks."""
    pieces: list[bytes] = []
    lineno, offset, pending = 1, 0, 0
    while True:
        try:
            chunk = f.read(block)
        except (pa.ArrowException, OSError) as e:
            raise _StreamError(lineno, offset, e) from None
        if not chunk:
            break
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                pieces.append(chunk[start:])
                pending += len(chunk) - start
                break
            pieces.append(chunk[start:nl])
            line = b"".join(pieces)
            pieces, pending = [], 0
            yield lineno, offset, line
            offset += len(line) + 1
            lineno += 1
            start = nl + 1
    if pending:
        yield lineno, offset, b"".join(pieces)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _locate_bad_json(path: Path, compression: str | None) -> str | None:
    """Describe the first line that is not a valid UTF-8 JSON object (or where the stream breaks).

    ``None`` if every line is fine (the problem is then one Arrow sees, such as a type change).
    """
    where = " of the decompressed data" if compression else ""
    try:
        with pa.input_stream(str(path), compression=compression) as f:
            for lineno, offset, raw in _iter_lines(f, 1 << 16):
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    return f"line {lineno}: invalid UTF-8 at byte {e.start}"
                try:
                    value = json.loads(text)
                except ValueError as e:
                    return f"line {lineno} (byte {offset}{where}): invalid JSON ({e})"
                if not isinstance(value, dict):
                    return (
                        f"line {lineno} (byte {offset}{where}): expected a JSON object "
                        f"(one per line), got {_json_kind(value)}"
                    )
    except _StreamError as e:
        kind = f"{compression} stream" if compression else "file"
        return (
            f"line {e.lineno} (byte {e.offset}{where}): the {kind} is truncated or corrupt "
            f"({e.cause})"
        )
    return None


def _json_error(path: Path, compression: str | None, e: BaseException) -> InputError:
    found = _locate_bad_json(path, compression)
    if found is None:
        return InputError(f"{path}: cannot be read as JSON Lines ({e})")
    return InputError(f"{path}: {found} [{e}]")


class _NullLineGuard:
    """A read-only stream that stops before pyarrow sees a line holding only ``null``.

    pyarrow's JSON reader crashes the process (segfault, pyarrow 26) when a block starts with such
    a line; a line that is not a JSON object is an error here anyway. The check is one regex
    search per block (anchored on newlines), so it costs little next to parsing.
    """

    _WS = b" \t\r"
    _NULL_LINE = re.compile(rb"\n[ \t\r]*null[ \t\r]*\n")

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        # "\n" plus the unfinished last line (stripped) while it may still be "null", else b"x".
        self._carry = b"\n"
        self.found = False
        self.closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:
        chunk = self._raw.read() if n is None or n < 0 else self._raw.read(n)
        self._check(chunk)
        return chunk

    def close(self) -> None:
        self.closed = True
        self._raw.close()

    def __enter__(self) -> _NullLineGuard:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check(self, chunk: bytes) -> None:
        if not chunk:  # end of the stream: an unfinished last line
            if self._carry.strip() == b"null":
                self._fail()
            return
        data = self._carry + chunk
        if self._NULL_LINE.search(data):
            self._fail()
        start = data.rfind(b"\n") + 1
        while start < len(data) and data[start] in self._WS:
            start += 1
        tail = data[start:].rstrip(self._WS) if len(data) - start <= 16 else b"x"
        self._carry = b"\n" + tail if b"null".startswith(tail) else b"x"

    def _fail(self) -> None:
        self.found = True
        raise OSError("a line holds only null, not a JSON object")


def _open_json(
    path: Path,
    compression: str | None,
    block: int,
    schema: pa.Schema | None = None,
    ignore_other: bool = False,
) -> tuple[Any, Any]:
    stream = _NullLineGuard(pa.input_stream(str(path), compression=compression))
    parse = pajson.ParseOptions()
    if schema is not None:
        unexpected = "ignore" if ignore_other else "error"
        parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected)
    try:
        return stream, pajson.open_json(
            stream, read_options=pajson.ReadOptions(block_size=block), parse_options=parse
        )
    except BaseException:
        stream.close()
        raise


def _bigger_block(path: Path, block: int, e: BaseException) -> int:
    """The next block size after a 'straddling object' error, or an InputError past the limit."""
    if block >= _MAX_JSON_BLOCK:
        raise InputError(
            f"{path}: a line is longer than {_MAX_JSON_BLOCK >> 20} MiB, the longest supported ({e})"
        ) from None
    return min(block * 2, _MAX_JSON_BLOCK)


def _is_straddle(e: BaseException) -> bool:
    return isinstance(e, pa.ArrowInvalid) and "straddl" in str(e)


def _json_schema(path: Path, compression: str | None, block: int) -> tuple[pa.Schema | None, int]:
    """Schema of a JSON Lines file (from its first block) and the block size that fits it.

    ``None`` for a file without any document (empty, blank lines, an empty compressed stream).
    """
    if path.stat().st_size == 0:
        return None, block
    while True:
        try:
            stream, reader = _open_json(path, compression, block)
            with stream:
                return reader.schema, block
        except (pa.ArrowException, OSError) as e:
            if _is_straddle(e):
                block = _bigger_block(path, block, e)
                continue
            if "Empty JSON" in str(e):
                found = _locate_bad_json(path, compression)  # e.g. a truncated gzip header
                if found is None:
                    return None, block
                raise InputError(f"{path}: {found} [{e}]") from None
            raise _json_error(path, compression, e) from None


def _iter_json(
    path: Path, compression: str | None, block: int, schema: pa.Schema, ignore_other: bool
) -> Iterator[pa.RecordBatch]:
    """Batches of a JSON Lines file parsed to ``schema``.

    A line longer than the block restarts the read with a bigger block, skipping the rows already
    yielded. ``ignore_other``: drop the fields ``schema`` lacks (else they are an error, as in
    pyarrow, which takes a file's fields from its first block).
    """
    emitted = 0
    while True:
        skip = emitted
        try:
            stream, reader = _open_json(path, compression, block, schema, ignore_other)
            with stream:
                for batch in reader:
                    if skip >= batch.num_rows:
                        skip -= batch.num_rows
                        continue
                    if skip:
                        batch, skip = batch.slice(skip), 0
                    emitted += batch.num_rows
                    yield batch
            return
        except (pa.ArrowException, OSError) as e:
            if _is_straddle(e):
                block = _bigger_block(path, block, e)
                continue
            if "unexpected field" in str(e):
                raise InputError(
                    f"{path}: a field that none of the first {block >> 10} KiB of the file has "
                    f"appears later (its columns are: {_columns_of(schema.names)}); pyarrow takes "
                    "a JSON Lines file's columns from its first block: select the columns you "
                    f"need, or put a document with every field first [{e}]"
                ) from None
            raise _json_error(path, compression, e) from None


def _parse_schema(info: _FileInfo, target: pa.Schema, select: bool) -> pa.Schema:
    """The schema to parse a JSON file to: its own (first-block) fields, unified types inside.

    The unified type is used where the JSON reader produces it directly (so a file's int column
    may hold the floats another file has, a first block of null texts may be followed by strings); with ``select`` only
    the wanted fields.
    """
    assert info.schema is not None
    fields = []
    for f in info.schema:
        if f.name not in target.names:
            if not select:
                fields.append(f)
            continue
        t = target.field(f.name).type
        fields.append(pa.field(f.name, t) if _json_native(f.type, t) else f)
    return pa.schema(fields)


def _json_native(have: pa.DataType, want: pa.DataType) -> bool:
    """Whether the JSON reader parses values it inferred as ``have`` directly as ``want``."""
    if have == want or have == pa.null():
        return want in _STRING_TYPES or want in (pa.null(), pa.bool_(), pa.int64(), pa.float64())
    if have in _STRING_TYPES:
        return want in _STRING_TYPES
    return have == pa.int64() and want == pa.float64()


# -- per-file schemas and their union ------------------------------------------------------------


@dataclass(frozen=True)
class _FileInfo:
    path: Path
    fmt: str
    compression: str | None
    schema: pa.Schema | None  # None: no document
    block: int  # JSON block size that fits the first block's lines


_SCAN_CACHE: dict[tuple[str, int, int, int], _FileInfo] = {}


def _scan_file(path: Path, block: int) -> _FileInfo:
    """The schema of one file (Parquet: its metadata; JSON: its first block), cached by mtime."""
    kind = _file_kind(path)
    if kind is None:
        raise InputError(f"{path}: unknown file type")
    fmt, compression = kind
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, block if fmt == "json" else 0)
    info = _SCAN_CACHE.get(key)
    if info is not None:  # scanned before, maybe under another spelling of the path
        return replace(info, path=path)
    if fmt == "parquet":
        try:
            schema = pq.read_schema(str(path))
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"{path}: not a readable Parquet file ({e})") from None
        info = _FileInfo(path, fmt, None, schema, block)
    else:
        schema, fitted = _json_schema(path, compression, block)
        info = _FileInfo(path, fmt, compression, schema, fitted)
    if len(_SCAN_CACHE) > 10_000:
        _SCAN_CACHE.clear()
    _SCAN_CACHE[key] = info
    return info


def _merge_type(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    if a == b:
        return a
    one = pa.unify_schemas(
        [pa.schema([pa.field("x", a)]), pa.schema([pa.field("x", b)])], promote_options="permissive"
    )
    return one.field("x").type


def _is_int_or_str(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or t in _STRING_TYPES


@dataclass(frozen=True)
class _Plan:
    schema: pa.Schema  # what every batch is cast to
    files: list[_FileInfo]


def _plan(files: list[Path], cols: Columns, block: int) -> _Plan:
    """Scan every file and unify their schemas into the one schema of the output batches."""
    infos = [_scan_file(p, block) for p in files]
    id_name = cols.id or "id"
    wanted = None if cols.extra is None else _wanted(cols)
    merged: dict[str, tuple[pa.DataType, Path]] = {}
    first: _FileInfo | None = None
    for info in infos:
        schema, path = info.schema, info.path
        if schema is None:
            continue
        first = first or info
        names = schema.names
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"{path}: duplicate column names {dup}")
        if cols.text not in names:
            raise InputError(
                f"{path}: no text column {cols.text!r} (columns: {_columns_of(names)})"
            )
        ttype = schema.field(cols.text).type
        if not _text_type_ok(ttype):
            raise TypeError(
                f"{path}: text column {cols.text!r} has type {ttype}, expected a string column"
            )
        if cols.id is not None and cols.id not in names:
            raise InputError(f"{path}: no id column {cols.id!r} (columns: {_columns_of(names)})")
        fields = [(f.name, f.type) for f in schema]
        if id_name not in names:
            fields.append((id_name, pa.string()))  # generated "<file>:<row>" ids
        for name, t in fields:
            if wanted is not None and name not in wanted:
                continue
            if name == cols.text:
                t = pa.large_string() if t not in _STRING_TYPES else t
            if name not in merged:
                merged[name] = (t, path)
                continue
            have, where = merged[name]
            try:
                merged[name] = (_merge_type(have, t), where)
            except (pa.ArrowException, TypeError) as e:
                if name == id_name and _is_int_or_str(have) and _is_int_or_str(t):
                    merged[name] = (pa.large_string(), where)
                    continue
                raise InputError(
                    f"column {name!r} has type {have} in {where} but {t} in {path}; "
                    f"the files cannot be read as one corpus ({e})"
                ) from None
    if wanted is None:
        order = list(merged) if merged else [cols.text, id_name]
    else:
        order = wanted
        for name in wanted[2:]:
            if first is not None and name not in merged:
                raise InputError(
                    f"no input file has the column {name!r} "
                    f"(columns of {first.path}: {_columns_of(first.schema.names)})"  # type: ignore[union-attr]
                )
    defaults = {cols.text: pa.large_string(), id_name: pa.string()}
    fields_out = [
        pa.field(n, merged[n][0] if n in merged else defaults.get(n, pa.null())) for n in order
    ]
    return _Plan(pa.schema(fields_out), infos)


def _conform(
    batch: pa.RecordBatch, path: Path, schema: pa.Schema, make_ids: Any, id_name: str
) -> pa.RecordBatch:
    """Cast ``batch`` to the unified schema: missing columns become null (or generated ids)."""
    n = batch.num_rows
    names = batch.schema.names
    arrays = []
    for field in schema:
        if field.name in names:
            col = batch.column(field.name)
            if col.type != field.type:
                try:
                    col = col.cast(field.type)
                except (pa.ArrowException, TypeError) as e:
                    raise InputError(
                        f"{path}: column {field.name!r} of type {col.type} cannot be converted to "
                        f"{field.type}, its type in the other files ({e})"
                    ) from None
        elif field.name == id_name:
            col = make_ids(n).cast(field.type)
        else:
            col = pa.nulls(n, field.type)
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def scan_schema(
    source: Any,
    text_column: str = "text",
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> pa.Schema:
    """Check the columns of every input file and return the schema :func:`read_batches` yields.

    Cheap: Parquet files are not read beyond their metadata, JSON Lines files beyond their first
    block (results are cached by path, size and mtime, so the reading that follows does not scan
    again). Call it before any work to fail early on bad column arguments.

    Parameters are those of :func:`read_batches`; ``source`` must name files.

    Returns
    -------
    pyarrow.Schema
        The text column, the id column and (``columns``) the extra ones, or with ``columns=None``
        every column of any file in first-seen order. Types are unified across files: ``string``
        and ``large_string`` give ``large_string``, ``int64`` and ``double`` give ``double``, a
        null column takes the other files' type; a column a file lacks is null there.

    Raises
    ------
    InputError
        A file without the text column or (if given) the id column, a column of ``columns`` that
        no file has (the file's real columns are listed), two files whose types for a column do
        not unify (both files and the column named), or an unreadable file.
    TypeError
        A text column that does not hold strings, or a source that is not files.
    FileNotFoundError
        A path that does not exist.
    """
    if not is_path_source(source):
        raise TypeError(f"scan_schema reads files, got {type(source).__name__}")
    cols = Columns(text_column, id_column, None if columns is None else tuple(columns))
    return _plan(list_files(source), cols, _json_block(batch_size)).schema


def _json_block(batch_size: int) -> int:
    # pyarrow sizes JSON blocks in bytes; ~512 bytes per document is a fair guess.
    return max(1 << 20, batch_size * 512)


def _iter_file(
    info: _FileInfo, batch_size: int, target: pa.Schema, select: bool
) -> Iterator[pa.RecordBatch]:
    if info.schema is None:
        return
    path = info.path
    if info.fmt != "parquet":
        schema = _parse_schema(info, target, select)
        yield from _iter_json(path, info.compression, info.block, schema, select)
        return
    try:
        pf = pq.ParquetFile(str(path))
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{path}: not a readable Parquet file ({e})") from None
    cols = [c for c in target.names if c in pf.schema_arrow.names] if select else None
    # One row group at a time: iter_batches over the whole file reads ahead, and its peak
    # memory grows with the file (measured: 82 MB at 10k documents, 169 MB at 40k).
    for rg in range(pf.num_row_groups):
        try:
            yield from pf.iter_batches(batch_size=batch_size, columns=cols, row_groups=[rg])
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"{path}: row group {rg} cannot be read ({e})") from None


def _check_utf8(col: pa.Array, path: Path, first_row: int) -> None:
    """Arrow's JSON and Parquet readers do not validate UTF-8; the text column must be valid."""
    try:
        col.validate(full=True)
    except pa.ArrowInvalid:
        where = f"row {first_row}"
        for i in range(len(col)):
            try:
                col.slice(i, 1).validate(full=True)
            except pa.ArrowInvalid:
                where = f"row {first_row + i}"
                break
        kind = _file_kind(path)
        if kind is not None and kind[0] == "json":
            found = _locate_bad_json(path, kind[1])
            if found is not None:
                where = f"{where} ({found})"
        raise InputError(f"{path}: {where}: text is not valid UTF-8") from None


def _split(batch: pa.RecordBatch, batch_size: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, batch_size):
        yield batch.slice(start, batch_size)


def _as_arrow_stream(obj: Any) -> Iterator[pa.RecordBatch] | None:
    """Batches of an in-memory input, or None if ``obj`` is not one."""
    if isinstance(obj, pa.Table):
        return iter(obj.to_batches())
    if isinstance(obj, pa.RecordBatch):
        return iter([obj])
    if isinstance(obj, (pa.Array, pa.ChunkedArray)):
        return iter(pa.table({"text": obj}).to_batches())
    module = type(obj).__module__.split(".")[0]
    if module == "datasets" and hasattr(obj, "data"):  # datasets.Dataset wraps a pa.Table
        table = obj.data.table if hasattr(obj.data, "table") else obj.data
        if getattr(obj, "_indices", None) is not None:
            table = table.take(obj._indices.column(0))
        return iter(table.to_batches())
    if module == "pandas" and hasattr(obj, "to_dict"):
        if hasattr(obj, "to_frame") and not hasattr(obj, "columns"):  # a Series
            obj = obj.to_frame(name=obj.name if obj.name is not None else "text")
        return iter(pa.Table.from_pandas(obj, preserve_index=False).to_batches())
    if hasattr(obj, "__arrow_c_stream__"):
        return iter(pa.RecordBatchReader.from_stream(obj))
    if isinstance(obj, np.ndarray):
        return iter(pa.table({"text": pa.array(obj.tolist(), type=pa.large_string())}).to_batches())
    if isinstance(obj, (list, tuple)) and all(isinstance(t, str) or t is None for t in obj):
        _reject_file_names(obj)
        return iter(pa.table({"text": pa.array(obj, type=pa.large_string())}).to_batches())
    return None


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


def read_batches(
    source: Any,
    *,
    text_column: str = "text",
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[pa.RecordBatch]:
    """Stream a corpus as Arrow record batches with a text and an id column.

    Parameters
    ----------
    source
        Files: a path, directory or glob (``str`` or ``os.PathLike``), :func:`tamis.files`, or a
        list of ``pathlib.Path``; or an in-memory input (see the module docstring). A plain
        ``str`` is always a path, a list of ``str`` always documents (if every element names an
        existing corpus file, that is an error: use ``tamis.files(...)``).
    text_column
        Name of the text column; it must exist in every file and hold strings (nulls allowed).
    id_column
        Name of the id column. ``None``: use ``"id"`` if present, else create ``"id"``.
    columns
        Extra columns to keep (``None``: all).
    batch_size
        Maximum rows per batch (JSON batches follow pyarrow's block size).

    Yields
    ------
    pyarrow.RecordBatch
        Batches in input order. For files, every batch has the schema :func:`scan_schema`
        returns: the files' schemas are unified before the first batch (a column a file lacks is
        null there, ``string`` / ``large_string`` and numeric types are promoted). Empty files
        (including empty compressed streams and files of blank lines) give no batch. JSON lines
        of any length up to 1 GiB are read (the block grows to fit).

    Raises
    ------
    FileNotFoundError
        A path that does not exist.
    InputError
        A file that cannot be parsed (named, with the line and byte offset for JSON, also for a
        truncated ``.gz`` / ``.zst``), a missing column (the file's columns listed), or two files
        whose column types conflict.
    TypeError
        A text column that does not hold strings, or an unsupported in-memory input.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    cols = Columns(text_column, id_column, None if columns is None else tuple(columns))
    if is_path_source(source):
        yield from _read_files(list_files(source), cols, batch_size)
        return
    stream = _as_arrow_stream(source)
    if stream is None:
        raise TypeError(
            f"cannot read a corpus from {type(source).__name__}: expected a path, tamis.files(...), "
            "a list of str, a pyarrow Table/Array, a pandas/polars DataFrame or a datasets.Dataset"
        )
    row = 0
    for big in stream:
        for batch in _split(big, batch_size):

            def int_ids(n: int, start: int = row) -> pa.Array:
                return pa.array(np.arange(start, start + n, dtype=np.int64))

            b = _check_text(batch, text_column, "input")
            b = _with_id(b, cols, int_ids, "input")
            row += batch.num_rows
            yield _select(b, cols)


def _read_files(files: list[Path], cols: Columns, batch_size: int) -> Iterator[pa.RecordBatch]:
    plan = _plan(files, cols, _json_block(batch_size))
    names = _file_names(files)
    id_name = cols.id or "id"
    for info in plan.files:
        row = 0
        name = names[info.path]
        for big in _iter_file(info, batch_size, plan.schema, cols.extra is not None):

            def ids(n: int, start: int = row, name: str = name) -> pa.Array:
                return pa.array([f"{name}:{i}" for i in range(start, start + n)])

            b = _conform(big, info.path, plan.schema, ids, id_name)
            _check_utf8(b.column(cols.text), info.path, row)
            row += b.num_rows
            yield from _split(b, batch_size)


def as_text_array(texts: Any) -> Iterator[pa.Array]:
    """Yield string arrays (chunks) for anything that holds texts.

    Accepts pyarrow string arrays (no copy) and what :func:`read_batches` accepts in memory; a
    table or frame must have a ``text`` column or a single column. Generators are materialised.
    :func:`tamis.files` is read as files (their ``text`` column, streamed); a list of ``str`` is
    texts (an error if every element names an existing corpus file).
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("expected a collection of texts, got a single string (wrap it in a list)")
    if isinstance(texts, Files):
        for batch in read_batches(texts, columns=[]):
            yield batch.column(0)
        return
    if isinstance(texts, os.PathLike):
        raise TypeError(f"expected a collection of texts, got a path; pass tamis.files({texts!r})")
    if isinstance(texts, pa.ChunkedArray):
        yield from (_check_array(c) for c in texts.chunks)
        return
    if isinstance(texts, pa.Array):
        yield _check_array(texts)
        return
    stream = _as_arrow_stream(texts)
    if stream is None and isinstance(texts, Iterable):
        stream = _as_arrow_stream(list(texts))
    if stream is None:
        raise TypeError(f"cannot read texts from {type(texts).__name__}")
    for batch in stream:
        names = batch.schema.names
        if "text" not in names and len(names) != 1:
            raise InputError(f"no 'text' column among {names}; pass the column itself")
        yield _check_array(batch.column("text" if "text" in names else 0))


def _check_array(arr: pa.Array) -> pa.Array:
    if arr.type in _STRING_TYPES:
        return arr
    if arr.type == pa.null() or arr.type == pa.string_view():
        return arr.cast(pa.large_string())
    raise TypeError(f"texts must be strings, got an Arrow array of type {arr.type}")


def buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Zero-copy numpy views of a string array's offsets, data and (if any nulls) validity."""
    arr = _check_array(arr)
    n = len(arr)
    off_type = np.int32 if arr.type == pa.string() else np.int64
    bufs = arr.buffers()
    if n == 0 or bufs[1] is None:
        offsets = np.zeros(1, dtype=off_type)
    else:
        offsets = np.frombuffer(bufs[1], dtype=off_type)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
    validity = None
    if arr.null_count:
        validity = arr.is_valid().to_numpy(zero_copy_only=False)
    return offsets, data, validity


# Output lives in tamis.output; re-exported here for the existing import paths.
from tamis.output import (  # noqa: E402
    ParquetSink,
    read_run_metadata,
    run_metadata,
    write_parquet,
)
