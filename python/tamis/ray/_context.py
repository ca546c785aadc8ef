"""What every stage shares: Ray itself, the row-number column and gathering results."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis.importance import stream

#: The global row number (input order) every stage keys on; the same name as the DSIR engine's
#: position column (:data:`tamis.importance.stream.POS`), so its candidate rows carry it as is.
POS = stream.POS


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the Ray backend needs Ray Data: pip install 'tamis[ray]' (ray[data])"
        ) from e
    return ray


def init(address: Optional[str] = None, **kwargs: Any) -> Any:
    """Connect to (or start) a Ray cluster unless one is already connected; order-preserving."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, **kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    return ray


def collect(ds: Any) -> pa.Table:
    """Every non-empty block of a Ray Dataset, gathered on the driver as one Arrow table."""
    ray = _ray()
    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="default")


def _take_rows(batch: pa.Table, rows: Any, columns: Optional[list[str]]) -> pa.Table:
    """The rows of a block whose ``__pos`` is in ``rows`` (``columns``: ``None`` for all)."""
    pos = batch.column(POS).to_numpy()
    out = batch.filter(pa.array(np.isin(pos, rows)))
    return out if columns is None else out.select([POS, *columns])


def _gather_rows(ds: Any, rows: np.ndarray, columns: Optional[list[str]] = None) -> pa.Table:
    """The rows of ``ds`` numbered ``rows``, on the driver, in row-number order."""
    got = collect(
        ds.map_batches(
            _take_rows,
            batch_format="pyarrow",
            fn_kwargs={"rows": rows, "columns": columns},
            num_cpus=0.5,
        )
    )
    return _by_pos(got) if got.num_rows else got


def _by_pos(table: pa.Table) -> pa.Table:
    """``table`` sorted by its ``__pos`` column."""
    return table.take(pa.array(np.argsort(table.column(POS).to_numpy(), kind="stable")))
