"""The streaming mixture sampler and RS2.

:class:`MixtureSampler` interleaves per-source streams by smooth weighted round-robin (exact
integer state, deviation bound in ``docs/mix.md``); each source is read in seeded epochs without
replacement (:mod:`tamis.mix._sources`). The stream is a pure function of the seed, the sources,
the weights in effect and the position, so a saved state resumes exactly and shards (DataLoader
workers × DDP ranks) split it by position: shard ``s`` of ``S`` gets positions ``s, s + S, ...``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._base import Selection
from tamis._validation import check_seed
from tamis.mix._sources import Block, Source, take_rows
from tamis.mix.plan import Plan, Schedule, normalize_weights

STATE_VERSION = 1
# Documents made into dicts at a time by ``iter(sampler)`` (below the GC's 700 threshold).
ROWS_AT_ONCE = 256
_Chunk = TypeVar("_Chunk", pa.RecordBatch, Iterator[list[dict[str, Any]]])


def rs2(n: int, fraction: float, epochs: int, seed: int = 0) -> Selection:
    """Repeated sampling of random subsets (RS2, Okanovic et al. 2023), without replacement.

    Each epoch trains on ``round(fraction × n)`` rows; rows are drawn from a seeded permutation of
    ``0..n`` without replacement *across* epochs until every row was used, then from a fresh
    permutation (so every row is seen ``fraction × epochs`` times, ±1).

    Returns
    -------
    Selection
        ``indices`` in training order, ``epoch`` per row (``method="rs2"``).

    Examples
    --------
    >>> sel = rs2(10, 0.5, 4, seed=0)
    >>> len(sel), sorted(sel.indices[:10].tolist()) == list(range(10))
    (20, True)
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    fraction = float(fraction)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    epochs = int(epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    seed = check_seed(seed)
    per_epoch = max(1, round(fraction * n))
    total = per_epoch * epochs
    n_perms = -(-total // n)
    perms = [
        _core.permutation(n, _core.xxh3_64(f"rs2:{seed}:{r}".encode(), 0)).astype(np.int64)
        for r in range(n_perms)
    ]
    indices = np.concatenate(perms)[:total]
    epoch = np.repeat(np.arange(epochs, dtype=np.int64), per_epoch)
    return Selection(
        indices,
        columns={"epoch": epoch},
        n_rows=n,
        method="rs2",
        info={"fraction": fraction, "epochs": epochs, "per_epoch": per_epoch},
    )


class MixtureSampler:
    """A deterministic, resumable stream of documents mixed from several sources.

    Parameters
    ----------
    sources
        ``name -> source``: anything :func:`tamis.io.read_batches` reads (Parquet/JSON Lines
        files, folders, globs, in-memory tables or lists of str).
    weights
        Per-source shares of *documents*: a mapping by name, a sequence in ``sources`` order, a
        :class:`~tamis.mix.Plan` (its :meth:`~tamis.mix.Plan.document_weights`) or a
        :class:`~tamis.mix.Schedule` (needs ``k``; weights follow training progress).
    k
        Documents in the whole stream (over all ranks and workers); ``None``: endless.
    seed
        Seed of every permutation (the interleaving itself is deterministic).
    text_column, id_column
        As for :func:`tamis.io.read_batches`; output ids are strings.
    batch_size
        Rows per batch of each shard (:meth:`iter_batches`); the unit of ``set_weights``.
    buffer_blocks
        Blocks (row groups / JSONL files / in-memory batches) shuffled together per source; memory
        is about ``buffer_blocks`` blocks per source.
    shuffle
        ``False``: every epoch reads a source in its natural order.
    update_every
        With a schedule, the weights are recomputed every this many documents of the stream
        (independent of sharding, so every shard follows the same weights).
    rank, world_size
        This process's shard of the stream (DDP); DataLoader workers split it further.

    Output rows have ``text``, ``id``, ``source``, ``epoch`` (passes over that source before
    this row) and ``row`` (the row's number in its source, files in order).
    """

    def __init__(
        self,
        sources: Mapping[str, Any],
        weights: Any,
        *,
        k: int | None = None,
        seed: int = 0,
        text_column: str = "text",
        id_column: str | None = None,
        batch_size: int = 1024,
        buffer_blocks: int = 4,
        shuffle: bool = True,
        update_every: int = 1024,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not isinstance(sources, Mapping) or not sources:
            raise ValueError("sources must be a non-empty mapping name -> source")
        self.names = [str(n) for n in sources]
        self.seed = check_seed(seed)
        self.k = None if k is None else int(k)
        if self.k is not None and self.k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        for pname, v in (
            ("batch_size", batch_size),
            ("buffer_blocks", buffer_blocks),
            ("update_every", update_every),
        ):
            if int(v) < 1:
                raise ValueError(f"{pname} must be >= 1, got {v}")
        self.batch_size = int(batch_size)
        self.update_every = int(update_every)
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(
                f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}"
            )
        self.rank, self.world_size = int(rank), int(world_size)
        self._shard, self._n_shards = self.rank, self.world_size
        self.schedule: Schedule | None = None
        self._sources = [
            Source(
                name,
                src,
                text_column=text_column,
                id_column=id_column,
                buffer_blocks=int(buffer_blocks),
                shuffle=bool(shuffle),
                seed=self.seed,
            )
            for name, src in zip(self.names, sources.values())
        ]
        self._dictionary = pa.array(self.names, pa.string())
        self._name_objects = np.array(self.names, dtype=object)
        w = self._resolve(weights)
        self._weights = _core.mix_integer_weights(w)
        self._check_nonempty(self._weights)
        self._credit = np.zeros(len(self.names), dtype=np.int64)
        self._consumed = np.zeros(len(self.names), dtype=np.uint64)
        self._pos = 0
        self._emitted = 0
        # The rows being yielded by __iter__ (their iterator and count): the position inside
        # them is read off the iterator, so yielding a document runs no Python of ours.
        self._live: tuple[Iterator[dict[str, Any]], int] | None = None
        self._pending: np.ndarray | None = None
        self._mark: Any = None  # (state at the start of the current batch, its rows) or None

    # --- weights --------------------------------------------------------------------------------

    def _resolve(self, weights: Any) -> np.ndarray:
        if isinstance(weights, Schedule):
            if self.k is None:
                raise ValueError("a schedule needs k (the documents of the whole run)")
            if weights.names != self.names:
                raise ValueError(f"the schedule's sources {weights.names} are not {self.names}")
            self.schedule = weights
            return weights.weights_at(0.0, documents=True)
        if isinstance(weights, Plan):
            if weights.names != self.names:
                raise ValueError(f"the plan's sources {weights.names} are not {self.names}")
            weights = weights.document_weights()
        return normalize_weights(weights, self.names)

    def _check_nonempty(self, wint: np.ndarray) -> None:
        for s, w in zip(self._sources, wint):
            if w > 0 and s.n_rows == 0:
                raise ValueError(f"source {s.name!r} has weight > 0 but no documents")

    @property
    def weights(self) -> dict[str, float]:
        """The document shares in effect (after integer rounding)."""
        w = self._weights.astype(np.float64)
        return dict(zip(self.names, (w / w.sum()).tolist()))

    def set_weights(self, weights: Any) -> None:
        """New document shares from the next batch on (every shard must call it at the same step).

        Replaces a schedule. The interleaving keeps each source's lag, so the deviation bound
        holds across the change.
        """
        self.schedule = None
        w = _core.mix_integer_weights(normalize_weights(weights, self.names))
        self._check_nonempty(w)
        self._pending = w

    def _apply(self, new: np.ndarray) -> None:
        if not np.array_equal(new, self._weights):
            self._credit = _core.mix_reweight(self._weights, self._credit, new)
            self._weights = new

    # --- the stream -----------------------------------------------------------------------------

    def _plan_chunk(self) -> tuple[np.ndarray, np.ndarray]:
        """Schedule of the next chunk of global positions (advances the state)."""
        n = self.batch_size * self._n_shards
        if self.k is not None:
            n = min(n, self.k - self._pos)
        srcs, ranks = [], []
        done = 0
        while done < n:
            step = n - done
            if self.schedule is not None:
                assert self.k is not None
                g = self._pos + done
                w = self.schedule.weights_at(g / self.k if self.k else 1.0, documents=True)
                self._apply(_core.mix_integer_weights(w))
                step = min(step, self.update_every - g % self.update_every)
            s, r = _core.mix_schedule(self._weights, self._credit, self._consumed, step)
            srcs.append(s)
            ranks.append(r)
            done += step
        self._pos += n
        if not srcs:
            return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint64)
        return np.concatenate(srcs), np.concatenate(ranks)

    def _locate(
        self, srcs: np.ndarray, ranks: np.ndarray
    ) -> tuple[list[Block], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Where the documents at schedule steps ``(srcs, ranks)`` are.

        Returns ``(blocks, block, row_in, epoch, row)``: the window blocks involved and, per
        output row, its block, its row in that block, its epoch and its natural row number
        (numpy, per source: no per-row Python work).
        """
        n = len(srcs)
        blocks: list[Block] = []
        block = np.empty(n, dtype=np.uint32)
        row_in = np.empty(n, dtype=np.uint32)
        epoch = np.empty(n, dtype=np.int64)
        row = np.empty(n, dtype=np.int64)
        for s in np.unique(srcs):
            where = np.flatnonzero(srcs == s)
            segments, ep, rw = self._sources[int(s)].take(ranks[where].astype(np.int64))
            epoch[where] = ep
            row[where] = rw
            done = 0
            for parts, part, r in segments:
                at = where[done : done + len(part)]
                block[at] = part + len(blocks)
                row_in[at] = r
                done += len(part)
                blocks.extend(parts)
        return blocks, block, row_in, epoch, row

    def _batch(self, srcs: np.ndarray, ranks: np.ndarray) -> pa.RecordBatch:
        """The documents at schedule steps ``(srcs, ranks)``.

        One copy of the rows (:func:`~tamis.mix._sources.gather`).
        """
        blocks, block, row_in, epoch, row = self._locate(srcs, ranks)
        text = take_rows(blocks, "text", block, row_in, as_str=False)
        ids = take_rows(blocks, "id", block, row_in, as_str=False)
        source = pa.DictionaryArray.from_arrays(pa.array(srcs.astype(np.int32)), self._dictionary)
        return pa.RecordBatch.from_arrays(
            [text, ids, source, pa.array(epoch), pa.array(row)],
            names=["text", "id", "source", "epoch", "row"],
        )

    def _row_lists(self, srcs: np.ndarray, ranks: np.ndarray) -> Iterator[list[dict[str, Any]]]:
        """The same documents as :meth:`_batch`, one ``dict`` each, in short lists.

        At most :data:`ROWS_AT_ONCE` per list. The strings are made straight from the window blocks
        (:func:`~tamis.mix._sources.strings`; the rows' bytes are copied once, into the strings),
        a list at a time when the previous list has been consumed. Short lists keep few
        documents alive at once: the allocator reuses the warm memory of the strings just
        dropped, and CPython's cyclic GC, which counts dict allocations (tracked or not) against
        its 700-object threshold, rarely runs (one list of 8,192 dicts set it off ~11 times).
        """
        blocks, block, row_in, epoch, row = self._locate(srcs, ranks)
        names = self._name_objects[srcs]
        for lo in range(0, len(srcs), ROWS_AT_ONCE):
            at = slice(lo, lo + ROWS_AT_ONCE)
            cols = (
                take_rows(blocks, "text", block[at], row_in[at], as_str=True),
                take_rows(blocks, "id", block[at], row_in[at], as_str=True),
                names[at].tolist(),
                epoch[at].tolist(),
                row[at].tolist(),
            )
            yield [
                {"text": t, "id": i, "source": s, "epoch": ep, "row": rw}
                for t, i, s, ep, rw in zip(*cols)
            ]

    def _chunks(self, build: Callable[[np.ndarray, np.ndarray], _Chunk]) -> Iterator[_Chunk]:
        """Own chunks from the current state, made by ``build(srcs, ranks)``.

        A chunk is a batch or a list of rows; ``self._emitted`` rows of the first are skipped.
        """
        while self.k is None or self._pos < self.k:
            if self._pending is not None:
                self._apply(self._pending)
                self._pending = None
            start = (self._pos, self._credit.copy(), self._consumed.copy(), self._weights.copy())
            srcs, ranks = self._plan_chunk()
            own = slice(self._shard, None, self._n_shards)
            srcs, ranks = srcs[own], ranks[own]
            skip = self._emitted
            batch = build(srcs[skip:], ranks[skip:])
            # The saved state points at the chunk's start until it is fully consumed.
            self._mark = (start, len(srcs))
            self._emitted = skip
            yield batch
            self._emitted = 0
            self._mark = None

    def iter_batches(self) -> Iterator[pa.RecordBatch]:
        """The stream of this shard as Arrow record batches (``batch_size`` rows, the last shorter)."""
        for batch in self._chunks(self._batch):
            self._emitted += batch.num_rows
            yield batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The stream of this shard, one ``dict`` per document."""
        for lists in self._chunks(self._row_lists):
            for rows in lists:
                it = iter(rows)
                self._live = (it, len(rows))
                try:
                    yield from it
                finally:
                    self._emitted += len(rows) - it.__length_hint__()  # type: ignore[attr-defined]
                    self._live = None

    def _emitted_now(self) -> int:
        """Documents of the current chunk already yielded (or skipped)."""
        if self._live is None:
            return self._emitted
        it, n = self._live
        return self._emitted + n - it.__length_hint__()  # type: ignore[attr-defined]

    def skip(self, n: int) -> None:
        """Advance this shard's stream by ``n`` documents without reading them.

        Only the interleaving schedule is replayed (Rust, tens of millions of steps a second),
        so resuming from a count (e.g. a DataLoader's consumed batches) is cheap and exact, for
        fixed weights and schedules (weights changed by :meth:`set_weights` must be set again at
        the same points). Call it before iterating.
        """
        remaining = int(n)
        if remaining < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        while remaining > 0 and (self.k is None or self._pos < self.k):
            if self._pending is not None:
                self._apply(self._pending)
                self._pending = None
            size = self.batch_size * self._n_shards
            if self.k is not None:
                size = min(size, self.k - self._pos)
            own = len(range(self._shard, size, self._n_shards))
            if self._emitted + remaining < own:
                self._emitted += remaining
                return
            remaining -= own - self._emitted
            self._plan_chunk()
            self._emitted = 0
        self._mark = None

    # --- state ----------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Where the stream is: restoring it with :meth:`load_state_dict` continues exactly here.

        Plain JSON-able values (positions, integer interleaving credits, weights).
        """
        mark = self._mark
        if mark is not None:
            (pos, credit, consumed, weights), n_own = mark
            emitted = self._emitted_now()
            if emitted >= n_own:  # the chunk is done: point at the next one
                pos, credit, consumed, weights = (
                    self._pos,
                    self._credit,
                    self._consumed,
                    self._weights,
                )
                emitted = 0
        else:
            pos, credit, consumed, weights = self._pos, self._credit, self._consumed, self._weights
            emitted = self._emitted_now()
        return {
            "version": STATE_VERSION,
            "names": list(self.names),
            "seed": self.seed,
            "shard": [self._shard, self._n_shards],
            "position": int(pos),
            "emitted": int(emitted),
            "credit": [int(x) for x in credit],
            "consumed": [int(x) for x in consumed],
            "weights": [int(x) for x in weights],
            "pending": None if self._pending is None else [int(x) for x in self._pending],
            "scheduled": self.schedule is not None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a sampler built with the same arguments."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"sampler state version {state.get('version')!r}; this release reads {STATE_VERSION}"
            )
        if list(state.get("names", [])) != self.names or state.get("seed") != self.seed:
            raise ValueError("the state was saved by a sampler with other sources or another seed")
        if list(state["shard"]) != [self._shard, self._n_shards]:
            raise ValueError(
                f"the state is of shard {state['shard']}, this is {[self._shard, self._n_shards]}"
            )
        if not state.get("scheduled", False):
            self.schedule = None
        self._pos = int(state["position"])
        self._emitted = int(state["emitted"])
        self._credit = np.array(state["credit"], dtype=np.int64)
        self._consumed = np.array(state["consumed"], dtype=np.uint64)
        self._weights = np.array(state["weights"], dtype=np.uint64)
        self._pending = (
            None if state.get("pending") is None else np.array(state["pending"], dtype=np.uint64)
        )
        self._mark = None

    def shard(self, index: int, count: int) -> MixtureSampler:
        """A copy reading shard ``index`` of ``count`` of this sampler's own stream.

        Call it on a sampler that has not started (its state is not carried over).
        """
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"need 0 <= index < count, got {index}, {count}")
        out = copy.copy(self)
        out._sources = [copy.copy(s) for s in self._sources]
        out._shard = self._shard + self._n_shards * index
        out._n_shards = self._n_shards * count
        out._credit = self._credit.copy()
        out._consumed = self._consumed.copy()
        out._mark = None
        out._live = None
        return out
