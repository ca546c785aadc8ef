"""Evaluation sets: named lists of items (the text that must not be trained on) with their ids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from tamis.exceptions import InputError


@dataclass(frozen=True)
class EvalSet:
    """One evaluation set: its name, its items' texts and ids.

    Attributes
    ----------
    name
        The set's name (in reports and output columns).
    texts
        One text per item: the chosen fields joined by newlines (list fields such as ``choices``
        joined element by element).
    ids
        One id per item (the ``id_column``, else the row number).
    queries
        For the datatrove-compatible mode: the query (prompt) of each item, the ``query_fields``
        joined; ``None`` when no query fields were chosen (``texts`` are then the labels).
    """

    name: str
    texts: list[str]
    ids: list[str]
    queries: list[str] | None = field(default=None)

    def __post_init__(self) -> None:
        if not self.name or "=" in self.name:
            raise ValueError(f"eval set name must be non-empty without '=', got {self.name!r}")
        if len(self.texts) != len(self.ids):
            raise ValueError(
                f"eval set {self.name!r}: {len(self.texts)} texts, {len(self.ids)} ids"
            )
        if self.queries is not None and len(self.queries) != len(self.texts):
            raise ValueError(f"eval set {self.name!r}: queries and texts differ in length")


def _value_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        parts = [p for p in (_value_text(x) for x in v) if p]
        return "\n".join(parts) if parts else None
    if isinstance(v, dict):
        parts = [p for p in (_value_text(x) for x in v.values()) if p]
        return "\n".join(parts) if parts else None
    return str(v)


def _join(row: Mapping[str, Any], fields: Sequence[str]) -> str:
    parts = [p for p in (_value_text(row.get(f)) for f in fields) if p]
    return "\n".join(parts)


def _table(source: Any, where: str) -> pa.Table:
    """The eval set's rows as an Arrow table (files, a saved or in-memory ``datasets`` dataset)."""
    if isinstance(source, pa.Table):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.is_dir() and ((p / "dataset_info.json").exists() or (p / "state.json").exists()):
            import datasets

            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                ds = datasets.concatenate_datasets(list(ds.values()))
            return ds.data.table
        from tamis.io import list_files

        files = list_files(p)
        tables = []
        for f in files:
            if f.suffix == ".parquet":
                import pyarrow.parquet as pq

                tables.append(pq.read_table(f))
            else:
                from pyarrow import json as pj

                try:
                    if f.name.endswith((".gz", ".zst", ".zstd")):
                        import pyarrow as _pa

                        codec = "gzip" if f.name.endswith(".gz") else "zstd"
                        with _pa.CompressedInputStream(_pa.OSFile(str(f)), codec) as s:
                            tables.append(pj.read_json(s))
                    else:
                        tables.append(pj.read_json(str(f)))
                except pa.ArrowInvalid as e:
                    raise InputError(f"{f}: not a JSON Lines eval set ({e})") from None
        if not tables:
            raise InputError(f"{where}: no Parquet or JSON Lines file in {p}")
        return pa.concat_tables(tables, promote_options="permissive")
    if hasattr(source, "data") and hasattr(source.data, "table"):  # datasets.Dataset
        return source.data.table
    if isinstance(source, Sequence) and source and isinstance(source[0], Mapping):
        return pa.Table.from_pylist(list(source))
    if isinstance(source, Sequence) and all(isinstance(s, str) for s in source):
        return pa.table({"text": list(source)})
    raise TypeError(f"{where}: cannot read an eval set from {type(source).__name__}")


def load_eval_set(
    name: str,
    source: Any,
    *,
    fields: Sequence[str] | None = None,
    id_column: str | None = None,
    query_fields: Sequence[str] | None = None,
) -> EvalSet:
    """Read one evaluation set.

    Parameters
    ----------
    name
        The set's name.
    source
        A JSON Lines / Parquet file, directory or glob; a directory written by
        ``datasets.Dataset.save_to_disk``; or in memory: a ``datasets.Dataset``, a pyarrow
        ``Table``, a list of dicts, or a list of strings (one item each).
    fields
        Columns whose text counts (e.g. ``["question", "choices", "answer"]``), joined by
        newlines; list columns are joined element by element. ``None``: every string or
        list-of-string column except the id column.
    id_column
        Column holding item ids (``None``: ``id`` if present, else the row number).
    query_fields
        Datatrove-compatible mode only: the columns forming the query (prompt); ``fields`` are
        then the label (gold answer).

    Returns
    -------
    EvalSet

    Examples
    --------
    >>> s = load_eval_set("qa", [{"id": "q1", "question": "Why?", "answer": "Because."}],
    ...                   fields=["question", "answer"])
    >>> s.texts, s.ids
    (['Why?\\nBecause.'], ['q1'])
    """
    where = f"eval set {name!r}"
    table = _table(source, where)
    cols = table.column_names
    idc = id_column if id_column is not None else ("id" if "id" in cols else None)
    if idc is not None and idc not in cols:
        raise ValueError(f"{where}: no id column {idc!r} (columns: {', '.join(cols)})")
    if fields is None:

        def textual(t: pa.DataType) -> bool:
            if pa.types.is_list(t) or pa.types.is_large_list(t):
                return textual(t.value_type)
            return pa.types.is_string(t) or pa.types.is_large_string(t)

        fields = [c for c in cols if c != idc and textual(table.schema.field(c).type)]
        if not fields:
            raise ValueError(f"{where}: no text column (columns: {', '.join(cols)})")
    for f in [*fields, *(query_fields or [])]:
        if f not in cols:
            raise ValueError(f"{where}: no field {f!r} (columns: {', '.join(cols)})")
    rows = table.select(list(dict.fromkeys([*fields, *(query_fields or [])]))).to_pylist()
    texts = [_join(r, fields) for r in rows]
    if idc is None:
        ids = [str(i) for i in range(len(rows))]
    else:
        ids = [str(v) for v in table.column(idc).to_pylist()]
    queries = [_join(r, query_fields) for r in rows] if query_fields else None
    return EvalSet(name, texts, ids, queries)


def as_eval_sets(eval_sets: Any, **kwargs: Any) -> list[EvalSet]:
    """``EvalSet`` objects, a mapping ``{name: source}`` or a sequence of ``EvalSet`` as a list.

    ``kwargs`` (``fields``, ``id_column``, ``query_fields``) apply to sources read here.
    """
    if isinstance(eval_sets, EvalSet):
        out = [eval_sets]
    elif isinstance(eval_sets, Mapping):
        out = [
            v if isinstance(v, EvalSet) else load_eval_set(k, v, **kwargs)
            for k, v in eval_sets.items()
        ]
    else:
        out = list(eval_sets)
        if not all(isinstance(s, EvalSet) for s in out):
            raise TypeError("eval_sets must be EvalSet objects or a mapping {name: source}")
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ValueError(f"eval set names must be distinct, got {names}")
    if not out:
        raise ValueError("eval_sets is empty")
    return out
