"""Record-batch sinks by extension: Parquet (with run metadata) and JSON Lines."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tamis.exceptions import InputError
from tamis.output._checks import STDOUT, PathLike, file_mode, output_format
from tamis.output._files import _target, _temp_for, run_metadata


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
        #: Extra ``pq.ParquetWriter`` options (e.g. ``use_dictionary``), set before the first write.
        self.writer_options: dict[str, Any] = {}

    def __enter__(self) -> ParquetSink:
        self._tmp = _temp_for(_target(self.path))
        return self

    def _write(self, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema.with_metadata(self.metadata)
            self._writer = pq.ParquetWriter(self._tmp, self._schema, **self.writer_options)
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
