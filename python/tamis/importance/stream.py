"""Streaming DSIR selection: sort keys, a typed per-target top-k state, resolve and collect.

One local pass (what :meth:`~tamis.importance.ImportanceResampler.select` does; :func:`stream`
is the loop)::

    state = TopKState.start(target_ks(model, k), method="gumbel", batch_size=batch_size)
    for batch in batches:                      # positions: row numbers in the whole corpus
        push_batch(state, model, batch, positions, seed=seed, text_column="text", id_column="id")
    positions, targets = resolve(state, seed=seed, min_length=model.params.min_length)
    table = collect(state, positions, targets, separate_targets=model.params.separate_targets)

A sharded run (the Ray backend) calls :func:`scan_batch` per shard, keeps each shard's candidates
(:func:`annotate_rows`), pushes them all into one :class:`TopKState` and resolves that: a key
depends only on ``(seed, target, id)``, so a top-k of per-shard top-ks is the exact top-k.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tamis import _core
from tamis._arrow import from_numpy, to_numpy
from tamis._base import Selection
from tamis._validation import check_int
from tamis.importance.model import Model, eligible_rows, score_batch
from tamis.importance.tape import Tape
from tamis.io import buffers

METHODS = ("gumbel", "topk", "replacement")
#: Column of the sort key in :func:`collect`'s table, per method ("replacement" has none).
KEY_COLUMN = {"gumbel": "gumbel_key", "topk": "key"}
#: Columns :func:`annotate_rows` adds: corpus row number, weights and keys (one per target).
POS, WEIGHTS, KEYS = "__pos", "__w", "__key"


# -- keys -----------------------------------------------------------------------------------------


def id_hashes(ids: Any) -> np.ndarray:
    """XXH3-64 of each id (non-string ids as their string form): the key of a row's noise."""
    arr = ids if ids.type in (pa.string(), pa.large_string()) else pc.cast(ids, pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return _core.id_hashes(*buffers(arr))


def keys_for_batch(
    log_weights: np.ndarray, id_hashes: np.ndarray, *, method: str, seed: int
) -> np.ndarray:
    """Sort keys ``(n, n_targets)``: the log weight plus, for ``"gumbel"``, Gumbel noise.

    The noise of a row depends only on ``(seed, target, id hash)``, never on its position, so
    sharding, batch size and shard order cannot change a selection.
    """
    keys = np.array(log_weights, dtype=np.float64, order="F")
    if method == "gumbel":
        for t in range(keys.shape[1]):
            keys[:, t] += _core.gumbel_noise(id_hashes, seed=seed, target=t)
    return keys


def check_selection(k: Any, method: str, *, separate_targets: bool) -> int:
    """``k`` as an int >= 1, after checking ``method`` (and that it supports the targets)."""
    k = check_int("k", k, 1)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "replacement" and separate_targets:
        raise ValueError("method='replacement' does not support separate_targets=True")
    return k


def target_ks(model: Model, k: int) -> list[int]:
    """``k`` split between the targets: ``floor(k * proportion)``, the remainder to the last."""
    if not model.params.separate_targets:
        return [k]
    return _core.split_k(k, [float(p) for p in model.target_proportions])


# -- streaming top-k ------------------------------------------------------------------------------


class RowBuffer:
    """Candidate rows of a streaming selection, compacted to the live ones as they pile up.

    ``limit=None``: keep every row (with replacement any row may be drawn).
    """

    def __init__(self, limit: Optional[int] = None, tables: Sequence[pa.Table] = ()) -> None:
        self.limit = limit
        self.tables: list[pa.Table] = list(tables)
        self.n_rows = sum(t.num_rows for t in self.tables)

    def add(self, table: pa.Table, live: Optional[Callable[[], np.ndarray]] = None) -> None:
        """Append rows; past the limit, keep only those whose position ``live()`` returns."""
        self.tables.append(table)
        self.n_rows += table.num_rows
        if self.limit is not None and live is not None and self.n_rows > self.limit:
            self.keep(live())

    def keep(self, positions: np.ndarray) -> None:
        """Drop the rows whose position is not in ``positions``."""
        table = pa.concat_tables(self.tables)
        mask = np.isin(to_numpy(table.column(POS)), positions)
        self.tables = [table.filter(from_numpy(mask))]
        self.n_rows = self.tables[0].num_rows

    def table(self) -> pa.Table:
        """All buffered rows as one table."""
        if not self.tables:
            raise ValueError("nothing was read from raw")
        return pa.concat_tables(self.tables)


@dataclass
class TopKState:
    """One streaming selection: a top-k per target and the rows that may still be chosen."""

    #: Documents per target.
    ks: list[int]
    method: str
    #: ``_core.TopK`` per target, with the capacities that make sequential selection exact.
    tops: list[Any]
    rows: RowBuffer
    #: ``method="replacement"`` only: every row's weight and eligibility, in corpus order.
    weights: list[np.ndarray] = field(default_factory=list)
    eligible: list[np.ndarray] = field(default_factory=list)
    n_rows: int = 0
    n_eligible: int = 0

    @classmethod
    def start(cls, ks: Sequence[int], *, method: str, batch_size: int = 0) -> TopKState:
        """An empty state; candidate rows are compacted beyond ``2 * capacity + batch_size``."""
        tops = [_core.TopK(c) for c in _core.sequential_capacities(list(ks))]
        limit = None if method == "replacement" else 2 * sum(t.k for t in tops) + batch_size
        return cls(list(ks), method, tops, RowBuffer(limit))

    def push(
        self, keys: np.ndarray, id_hashes: np.ndarray, positions: np.ndarray, eligible: np.ndarray
    ) -> np.ndarray:
        """Offer rows to every target's top-k; returns the rows some target keeps for now."""
        kept = np.zeros(len(positions), dtype=bool)
        for t, top in enumerate(self.tops):
            kept |= top.push(np.ascontiguousarray(keys[:, t]), id_hashes, positions, eligible)
        return kept

    def live_positions(self) -> np.ndarray:
        """Positions held by any target's top-k."""
        return np.unique(np.concatenate([t.entries()[2] for t in self.tops]))


@dataclass(frozen=True)
class BatchScan:
    """What :func:`scan_batch` computed for each row of a batch."""

    log_weights: np.ndarray
    eligible: np.ndarray
    id_hashes: np.ndarray
    keys: np.ndarray
    #: Rows some target's top-k holds after this batch.
    kept: np.ndarray


def scan_batch(
    state: TopKState,
    model: Model,
    text: Any,
    ids: Any,
    positions: np.ndarray,
    *,
    seed: int,
    tape: Optional[Tape] = None,
) -> BatchScan:
    """Score a batch, key it and push it into ``state``'s top-ks (not for ``"replacement"``).

    ``tape``: the bucket ids of the counting pass, used when it holds these rows (:mod:`.tape`).
    """
    w, n_tokens = _score(model, text, positions, tape)
    elig = eligible_rows(model, text, n_tokens)
    idh = id_hashes(ids)
    keys = keys_for_batch(w, idh, method=state.method, seed=seed)
    positions = np.ascontiguousarray(positions, dtype=np.uint64)
    return BatchScan(w, elig, idh, keys, state.push(keys, idh, positions, elig))


def _score(
    model: Model, text: Any, positions: np.ndarray, tape: Optional[Tape]
) -> tuple[np.ndarray, np.ndarray]:
    """Log weights and token counts: from the tape when it holds these rows, else featurised."""
    if tape is not None and len(positions):
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        scored = tape.scores(model, text, int(positions[0]))
        if scored is not None:
            return scored
    return score_batch(model, text)


def annotate_rows(
    rows: Any, positions: np.ndarray, log_weights: np.ndarray, keys: Optional[np.ndarray]
) -> pa.Table:
    """Rows plus their position, weights and keys (:data:`POS`, :data:`WEIGHTS`, :data:`KEYS`)."""

    def lists(a: np.ndarray) -> pa.Array:
        a = a if a.ndim == 2 else a[:, None]
        values = from_numpy(np.ascontiguousarray(a, dtype=np.float64).ravel())
        return pa.FixedSizeListArray.from_arrays(values, a.shape[1])

    table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
    table = table.append_column(POS, from_numpy(np.asarray(positions, dtype=np.uint64)))
    table = table.append_column(WEIGHTS, lists(log_weights))
    if keys is not None:
        table = table.append_column(KEYS, lists(keys))
    return table


def push_batch(
    state: TopKState,
    model: Model,
    batch: Any,
    positions: np.ndarray,
    *,
    seed: int,
    text_column: str,
    id_column: str,
    tape: Optional[Tape] = None,
) -> None:
    """One batch of a local streaming pass: weights, keys, top-k, candidate rows, counters."""
    text = batch.column(text_column)
    if state.method == "replacement":
        w, n_tokens = _score(model, text, positions, tape)
        elig = eligible_rows(model, text, n_tokens)
        state.weights.append(w[:, 0])
        state.eligible.append(elig)
        state.rows.add(annotate_rows(batch, positions, w, None))
    else:
        scan = scan_batch(
            state, model, text, batch.column(id_column), positions, seed=seed, tape=tape
        )
        elig = scan.eligible
        if scan.kept.any():
            idx = np.flatnonzero(scan.kept)
            rows = annotate_rows(
                batch.take(from_numpy(idx)), positions[idx], scan.log_weights[idx], scan.keys[idx]
            )
            state.rows.add(rows, live=state.live_positions)
    state.n_rows += batch.num_rows
    state.n_eligible += int(elig.sum())


def resolve(state: TopKState, *, seed: int, min_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Selected positions (ascending, int64) and the target that chose each."""
    k = sum(state.ks)
    if state.method == "replacement":
        w = np.concatenate(state.weights) if state.weights else np.zeros(0)
        elig = np.concatenate(state.eligible) if state.eligible else np.zeros(0, bool)
        if k > 0 and not elig.any():
            raise ValueError(f"k={k} draws asked but no document is eligible (min_length)")
        pos = _core.sample_with_replacement(np.ascontiguousarray(w), k, seed=seed, eligible=elig)
        return pos.astype(np.int64), np.zeros(len(pos), dtype=np.int64)
    try:
        pos, tgt = _core.select_sequential(state.tops, state.ks)
    except ValueError as e:
        raise ValueError(
            f"k={k} is larger than the eligible pool: {state.n_eligible} of {state.n_rows} "
            f"documents have >= min_length={min_length} tokens ({e})"
        ) from None
    order = np.argsort(pos, kind="stable")
    return pos[order].astype(np.int64), tgt[order].astype(np.int64)


def collect(
    state: TopKState, positions: np.ndarray, targets: np.ndarray, *, separate_targets: bool
) -> pa.Table:
    """The selected rows in input order: input columns + ``log_weight`` [+ key] [+ ``target``]."""
    table = state.rows.table()
    all_pos = to_numpy(table.column(POS))
    # Positions are unique among the kept rows; with replacement a row is taken once per draw.
    order = np.argsort(all_pos, kind="stable")
    rows = order[np.searchsorted(all_pos[order], positions.astype(np.uint64))]
    table = table.take(from_numpy(rows))
    picked = np.arange(len(rows))

    def per_target(name: str) -> np.ndarray:
        values = to_numpy(table.column(name).combine_chunks().flatten())
        width = table.schema.field(name).type.list_size
        return values.reshape(len(rows), width)[picked, targets if separate_targets else 0]

    out = table.drop_columns([c for c in (POS, WEIGHTS, KEYS) if c in table.column_names])
    out = out.append_column("log_weight", from_numpy(per_target(WEIGHTS).astype(np.float64)))
    if state.method in KEY_COLUMN:
        out = out.append_column(
            KEY_COLUMN[state.method], from_numpy(per_target(KEYS).astype(np.float64))
        )
    if separate_targets:
        out = out.append_column("target", from_numpy(np.asarray(targets, dtype=np.int64)))
    return out


def stream(
    model: Model,
    batches: Iterable[Any],
    k: int,
    *,
    method: str,
    seed: int,
    text_column: str,
    id_column: str,
    batch_size: int = 0,
    tape: Optional[Tape] = None,
) -> TopKState:
    """One local pass over record batches: :func:`push_batch` with consecutive row numbers.

    ``tape``: the counting pass's bucket ids of the same batches (:mod:`.tape`), if kept.
    """
    state = TopKState.start(target_ks(model, k), method=method, batch_size=batch_size)
    for batch in batches:
        positions = np.arange(state.n_rows, state.n_rows + batch.num_rows, dtype=np.uint64)
        push_batch(
            state,
            model,
            batch,
            positions,
            seed=seed,
            text_column=text_column,
            id_column=id_column,
            tape=tape,
        )
    return state


def to_selection(
    state: TopKState, positions: np.ndarray, targets: np.ndarray, table: pa.Table, *, id_column: str
) -> Selection:
    """:func:`collect`'s table as a :class:`~tamis.Selection` (method ``"dsir/<method>"``).

    Columns ``log_weight``, ``key`` (NaN with replacement) and ``target``; ``info["n_eligible"]``.
    """
    key_col = KEY_COLUMN.get(state.method)
    n = len(positions)
    return Selection(
        indices=positions,
        ids=table.column(id_column).to_pylist(),
        columns={
            "log_weight": np.array(to_numpy(table.column("log_weight"))),
            "key": np.array(to_numpy(table.column(key_col))) if key_col else np.full(n, np.nan),
            "target": targets,
        },
        n_rows=state.n_rows,
        method=f"dsir/{state.method}",
        info={"n_eligible": state.n_eligible},
    )
