"""Writing outputs safely: atomic files with run metadata, checked before any work starts."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Union

import pyarrow as pa
import pyarrow.parquet as pq

from tamis.exceptions import InputError

PathLike = Union[str, os.PathLike]


def run_metadata(command: str, params: dict[str, Any]) -> dict[bytes, bytes]:
    """File metadata naming the tamis version, the command and its parameters."""
    from tamis import __version__

    payload = {"tamis_version": __version__, "command": command, "params": params}
    return {b"tamis": json.dumps(payload, sort_keys=True, default=str).encode()}


def read_run_metadata(path: PathLike) -> dict[str, Any]:
    """The run metadata that :class:`ParquetSink` wrote into a Parquet file."""
    meta = pq.read_schema(str(path)).metadata or {}
    if b"tamis" not in meta:
        raise InputError(f"{path}: no tamis run metadata")
    return json.loads(meta[b"tamis"])


class ParquetSink:
    """Write record batches to a Parquet file atomically (temp file in the same folder + rename).

    The file appears under its final name only when the writer is closed without error, so an
    interrupted run never leaves a truncated output behind. Use as a context manager.

    Parameters
    ----------
    path
        Destination file.
    command, params
        Recorded in the file's schema metadata under ``b"tamis"``.
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
        self._writer: pq.ParquetWriter | None = None
        self._tmp: str | None = None
        self.rows = 0

    def __enter__(self) -> ParquetSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(fd)
        return self

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Append a batch; the first one fixes the schema."""
        if self._writer is None:
            schema = batch.schema.with_metadata(self.metadata)
            self._writer = pq.ParquetWriter(self._tmp, schema)
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        self._writer.write_table(table.replace_schema_metadata(self.metadata))
        self.rows += table.num_rows

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._tmp is not None
        if self._writer is not None:
            self._writer.close()
        if exc_type is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            return
        if self._writer is None:
            if self.schema is None:
                with contextlib.suppress(OSError):
                    os.unlink(self._tmp)
                raise InputError(f"{self.path}: nothing to write and no schema given")
            pq.write_table(
                self.schema.empty_table().replace_schema_metadata(self.metadata), self._tmp
            )
        os.replace(self._tmp, self.path)


def write_parquet(
    table: pa.Table, path: PathLike, command: str = "write", params: dict[str, Any] | None = None
) -> Path:
    """Write a table atomically with run metadata; returns the path."""
    with ParquetSink(path, command, params or {}, schema=table.schema) as sink:
        sink.write(table)
    return Path(path)
