"""In-memory inputs (lists of str, Arrow, pandas, polars, datasets) and string array buffers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from tamis.io._columns import _STRING_TYPES
from tamis.io._sources import _reject_file_names


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
    if hasattr(obj, "__arrow_c_stream__"):  # polars, duckdb, ...: may hand out view types
        return map(_without_views, pa.RecordBatchReader.from_stream(obj))
    if isinstance(obj, np.ndarray):
        return iter(pa.table({"text": pa.array(obj.tolist(), type=pa.large_string())}).to_batches())
    if isinstance(obj, (list, tuple)) and all(isinstance(t, str) or t is None for t in obj):
        _reject_file_names(obj)
        return iter(pa.table({"text": pa.array(obj, type=pa.large_string())}).to_batches())
    return None


def _without_views(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``string_view`` / ``binary_view`` columns (polars >= 1 exports them) as ``large_*``.

    Not every pyarrow kernel takes views yet (``take`` on ``string_view`` does not in pyarrow
    26), and the readers of files never produce them: one set of types downstream.
    """
    large = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}
    if not any(f.type in large for f in batch.schema):
        return batch
    schema = pa.schema([f.with_type(large.get(f.type, f.type)) for f in batch.schema])
    return batch.cast(schema)


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
