"""Per-file schemas (scanned once, cached) and their union: :func:`scan_schema`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tamis.exceptions import InputError
from tamis.io._columns import _STRING_TYPES, Columns, _columns_of, _text_type_ok, _wanted
from tamis.io._json import _json_schema
from tamis.io._sources import _file_kind, is_path_source, list_files

DEFAULT_BATCH_SIZE = 8192


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
