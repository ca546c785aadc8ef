"""The rows a :class:`~tamis._base.Selection` picked, in the caller's own container type.

Used by :meth:`Selection.take` and the integrations (:mod:`tamis.integrations`): a selector run
on a pyarrow table, a pandas or polars DataFrame or a Hugging Face ``datasets.Dataset`` hands
back the same kind of object, holding the selected rows (in the selection's order) with the
selection's explanation columns appended. Nothing here loops over rows in Python: every
container is indexed with the selection's ``indices`` array by its own library.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa


def _root(data: Any) -> str:
    return type(data).__module__.split(".")[0]


def _check_names(existing: list[str], new: list[str]) -> None:
    clash = sorted(set(existing) & set(new))
    if clash:
        raise ValueError(
            f"the input already has a column named {clash[0]!r}, which the selection adds; "
            "rename it or pass explain=False"
        )


def take(data: Any, indices: np.ndarray, columns: dict[str, np.ndarray]) -> Any:
    """``data``'s rows at ``indices`` plus ``columns`` (aligned with ``indices``), same type.

    Supported: ``pyarrow.Table`` / ``RecordBatch``, pandas and polars DataFrames,
    ``datasets.Dataset`` (its features kept, the new columns' inferred), and lists / tuples of
    rows (a list back, without the columns).
    """
    idx = np.asarray(indices, dtype=np.int64)
    names = list(columns)
    root = _root(data)
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        _check_names(data.schema.names, names)
        out = data.take(pa.array(idx))
        for name in names:
            out = out.append_column(name, pa.array(columns[name]))
        return out
    if root == "pandas":
        _check_names([str(c) for c in data.columns], names)
        out = data.iloc[idx].copy()
        for name in names:
            out[name] = np.asarray(columns[name])
        return out
    if root == "polars":
        import polars as pl

        _check_names(list(data.columns), names)
        return data[idx].with_columns(pl.Series(n, np.asarray(columns[n])) for n in names)
    if root == "datasets" and hasattr(data, "select") and hasattr(data, "add_column"):
        _check_names(list(data.column_names), names)
        out = data.select(idx)
        for name in names:
            out = out.add_column(name, np.asarray(columns[name]))
        return out
    if isinstance(data, (list, tuple)):
        return [data[i] for i in idx.tolist()]
    raise TypeError(
        f"cannot take rows of a {type(data).__module__}.{type(data).__name__}: pass a pyarrow "
        "Table, a pandas or polars DataFrame, a datasets.Dataset or a list"
    )
