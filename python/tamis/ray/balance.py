"""MetaCLIP entry matching on Ray: per-block matches, gathered and counted on the driver.

The workers run :meth:`tamis.balance.EntryMatcher.transform` (the local engine) on their blocks
and send each row's entries and occurrence counts with its row number; the driver orders the rows
by number, builds the :class:`~tamis.balance.EntryMatches` and counts documents per entry. The
balancing draw (:func:`tamis.balance.balance_matches`) depends only on ids, entries and counts,
so the kept rows are the local backend's for any number of blocks.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tamis.balance import EntryMatcher, EntryMatches
from tamis.ray._context import POS, collect
from tamis.ray._read import row_numbered

#: The matcher a worker last rebuilt, by the key of its parameters (one at a time).
_CACHE: dict[str, EntryMatcher] = {}


def _matcher(params: dict[str, Any]) -> EntryMatcher:
    key = json.dumps(params, sort_keys=True, default=str)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = EntryMatcher(**params)
    return _CACHE[key]


def _match_block(
    batch: pa.Table, params: dict[str, Any], text_column: str, id_column: str
) -> pa.Table:
    if not batch.num_rows:  # an empty file's block may have no columns
        return pa.table({})
    m = _matcher(params).transform(batch.column(text_column))
    offsets = pa.array(m.indptr.astype(np.int32))
    return pa.table(
        {
            POS: batch.column(POS),
            "id": batch.column(id_column),
            "entries": pa.ListArray.from_arrays(offsets, pa.array(m.indices, pa.uint32())),
            "counts": pa.ListArray.from_arrays(offsets, pa.array(m.data, pa.uint32())),
        }
    )


def match_entries(
    matcher: EntryMatcher,
    source: Any,
    *,
    text_column: str = "text",
    id_column: Optional[str] = None,
    num_blocks: Optional[int] = None,
) -> tuple[EntryMatches, Any]:
    """The matches of every document of ``source`` (input order) and the documents' ids.

    The result equals ``matcher.fit(source)``'s ``matches_`` and ``ids_``; the counts are
    ``matches.doc_counts()``.
    """
    ds, n = row_numbered(
        source, text_column=text_column, id_column=id_column, num_blocks=num_blocks
    )
    params = matcher.get_params()
    params["n_threads"] = 1  # one Ray task per CPU already
    id_col = id_column or "id"
    got = collect(
        ds.map_batches(
            _match_block,
            batch_format="pyarrow",
            fn_kwargs={"params": params, "text_column": text_column, "id_column": id_col},
            num_cpus=1,
        )
    )
    if not got.num_rows:
        empty = np.zeros(0, np.uint32)
        return EntryMatches(np.zeros(1, np.int64), empty, empty, matcher.n_entries), pa.array(
            [], pa.string()
        )
    got = got.take(pa.array(np.argsort(got.column(POS).to_numpy(), kind="stable")))
    if got.num_rows != n:
        raise RuntimeError(f"ray returned {got.num_rows} of {n} rows")
    entries = got.column("entries").combine_chunks()
    counts = got.column("counts").combine_chunks()
    lengths = pc.list_value_length(entries).to_numpy(zero_copy_only=False)
    indptr = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    matches = EntryMatches(
        indptr,
        entries.flatten().to_numpy().astype(np.uint32),
        counts.flatten().to_numpy().astype(np.uint32),
        matcher.n_entries,
    )
    return matches, got.column("id").combine_chunks()
