"""Which columns a reader returns, and the checks on the text and id columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tamis.exceptions import InputError

_STRING_TYPES = (pa.string(), pa.large_string())


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
