"""Decontamination on Ray: each block scanned by the same engine (:func:`tamis.decontam.apply_batch`).

Workers scan with ``action="flag"`` and return every row with the explanation columns plus the
raw per-row item and set lists; the driver rebuilds a :class:`tamis.decontam.ScanResult` per
block for the report and applies ``drop`` / ``cut`` itself, so both backends write the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis.ray._context import init
from tamis.ray._read import read_dataset

_RAW = ("__item_ids", "__item_counts", "__set_ids", "__span_start", "__span_end", "__counts")


class _ScanBlock:
    def __init__(self, index_arrays: dict[str, Any], params: dict[str, Any], col: str) -> None:
        from tamis.decontam import DecontaminationIndex, Decontaminator

        index = DecontaminationIndex.from_state(index_arrays)
        self.d = Decontaminator(**{**params, "action": "flag"}).set_index(index)
        self.col = col

    def __call__(self, batch: pa.Table) -> pa.Table:
        from tamis.decontam import apply_batch

        if not batch.num_rows:
            return batch
        table, res, _ = apply_batch(self.d, batch, self.col)
        a = res.arrays

        def lists(prefix: str, name: str) -> pa.Array:
            return pa.ListArray.from_arrays(
                pa.array(a[f"{prefix}_indptr"].astype(np.int32)), pa.array(a[name])
            )

        counts = np.stack(
            [a["n_tokens"], a["n_ngrams"], a["n_matched"], a["n_short_matched"], a["n_items"]],
            axis=1,
        ).astype(np.uint32)
        raw = [
            lists("item", "item_ids"),
            lists("item", "item_counts"),
            lists("set", "set_ids"),
            lists("span", "span_start"),
            lists("span", "span_end"),
            pa.FixedSizeListArray.from_arrays(pa.array(counts.ravel()), 5),
        ]
        for name, arr in zip(_RAW, raw):
            table = table.append_column(name, arr)
        return table


def _result(table: pa.Table, index: Any) -> Any:
    from tamis.decontam import ScanResult

    arrays: dict[str, np.ndarray] = {}
    counts = table.column("__counts").combine_chunks().flatten().to_numpy().reshape(-1, 5)
    for j, name in enumerate(["n_tokens", "n_ngrams", "n_matched", "n_short_matched", "n_items"]):
        arrays[name] = counts[:, j].astype(np.uint32)
    for col, prefix, name in [
        ("__item_ids", "item", "item_ids"),
        ("__item_counts", "item", "item_counts"),
        ("__set_ids", "set", "set_ids"),
        ("__span_start", "span", "span_start"),
        ("__span_end", "span", "span_end"),
    ]:
        arr = table.column(col).combine_chunks()
        arrays[f"{prefix}_indptr"] = arr.offsets.to_numpy().astype(np.int64) - arr.offset
        arrays[name] = arr.flatten().to_numpy()
    n = table.num_rows
    arrays["window_indptr"] = np.zeros(n + 1, np.int64)
    arrays["window_start"] = arrays["window_len"] = np.zeros(0, np.uint32)
    return ScanResult(arrays, index.set_names, index.item_ids, index.item_set)


def decontaminate(
    d: Any,
    source: Any,
    *,
    text_column: str = "text",
    id_column: Optional[str] = None,
    batch_size: int = 4096,
) -> Iterator[tuple[pa.Table, Any, np.ndarray, pa.Array]]:
    """Scan ``source`` on Ray with the fitted :class:`tamis.decontam.Decontaminator` ``d``.

    Yields ``(output table, scan result, contaminated mask, ids)`` per block, as the local
    backend does, in block order.
    """
    from tamis.decontam import apply_batch

    init()
    ds = read_dataset(source, text_column=text_column, id_column=id_column)
    params = {k: v for k, v in d.get_params().items() if k != "n_threads"}
    scanned = ds.map_batches(
        _ScanBlock,
        batch_format="pyarrow",
        batch_size=batch_size,
        fn_constructor_kwargs={
            "index_arrays": d.index_.state(),
            "params": params,
            "col": text_column,
        },
        concurrency=1,
    )
    id_col = id_column or "id"
    for block in scanned.iter_batches(batch_format="pyarrow", batch_size=None):
        if not block.num_rows:
            continue
        res = _result(block, d.index_)
        flag = block.column("contaminated").to_numpy(zero_copy_only=False)
        base = block.drop_columns([*_RAW])
        if d.action == "flag":
            out = base
        else:
            original = base.drop_columns([c for c in base.column_names if c in _FLAG_COLUMNS])
            out, _, _ = _apply(d, original, res, flag, text_column, apply_batch)
        yield out, res, flag, block.column(id_col)


_FLAG_COLUMNS = (
    "n_ngrams",
    "n_matched",
    "matched_fraction",
    "eval_sets",
    "eval_items",
    "matched_spans",
    "contaminated",
)


def _apply(d: Any, table: pa.Table, res: Any, flag: np.ndarray, col: str, fn: Any) -> Any:
    """Drop / cut on the driver with the workers' scan (no second scan)."""
    if d.action == "drop":
        return table.filter(pa.array(~flag)), res, flag
    d2 = d

    class _Known:
        action = "cut"

        def scan(self, _texts: Any) -> Any:
            return res, flag

        def cut(self, text: str, spans: Any) -> Any:
            return d2.cut(text, spans)

    return fn(_Known(), table, col)
