"""The target classifier selector: :func:`classifier_select`.

A :class:`~tamis.quality.classifier.HashedClassifier` of target documents against raw ones ranks
the raw documents by log-odds; Gumbel top-k sampling keyed by document id picks ``k`` of them (the
DSIR machinery of :mod:`tamis.importance.stream`, so sharding never changes the result).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis._base import Selection
from tamis._validation import check_int, check_seed
from tamis.importance import stream
from tamis.io import DEFAULT_BATCH_SIZE, read_batches
from tamis.quality.classifier import HashedClassifier

SELECT_METHODS = ("gumbel", "topk")


def classifier_select(
    raw: Any,
    target: Any,
    k: int,
    *,
    method: str = "gumbel",
    seed: int = 0,
    temperature: float = 1.0,
    classifier: Optional[HashedClassifier] = None,
    text_column: str = "text",
    id_column: Optional[str] = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    n_threads: Optional[int] = None,
) -> Selection:
    """Select ``k`` raw documents that a classifier of target-vs-raw scores as target-like.

    A :class:`HashedClassifier` (``classifier``, default: 2^18 buckets, unigrams + bigrams,
    balanced classes) is fitted on ``target`` (positives) against ``raw`` (negatives: raw is
    unlabelled, mostly non-target), unless ``classifier`` is already fitted. Every raw document
    then gets its log-odds ``z``; ``method="gumbel"`` takes the ``k`` largest ``z + G`` where
    ``G`` is standard Gumbel noise keyed by ``(seed, document id)``, a sample without
    replacement with probabilities proportional to the odds ``exp(z)`` (``exp(z / temperature)``
    with ``temperature``); ``"topk"`` takes the ``k`` largest ``z``. Keys depend only on the id, never on the position, so sharding or batch
    size cannot change the result (the DSIR machinery of :mod:`tamis.importance.stream`).

    Parameters
    ----------
    raw, target
        Corpora (paths, lists of texts, tables, ...).
    k
        Documents to select (at most the raw corpus's size).
    method
        ``"gumbel"`` or ``"topk"``.
    seed
        Seed of the Gumbel noise.
    temperature
        Keys are ``z / temperature + G``: below 1 the sample concentrates on the highest
        log-odds (``temperature -> 0`` is ``"topk"``), above 1 it spreads out.
    classifier
        A :class:`HashedClassifier` to fit (unfitted) or to use as it is (fitted).
    text_column, id_column
        Columns of tabular inputs; without an id column the row number is the id.
    batch_size
        Rows per batch when streaming ``raw``.
    n_threads
        Worker threads for the default classifier.

    Returns
    -------
    Selection
        ``indices`` in input order, ``ids``, columns ``log_odds`` and ``key`` (the sort key,
        ``log_odds / temperature + G``),
        method ``"classifier/<method>"``; ``info`` holds ``n_iter`` and ``fit_seconds``.
    """
    k = check_int("k", k, 1)
    if method not in SELECT_METHODS:
        raise ValueError(f"method must be one of {SELECT_METHODS}, got {method!r}")
    seed = check_seed(seed)
    if not (isinstance(temperature, (int, float)) and np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    clf = classifier
    if clf is None:
        clf = HashedClassifier(
            class_weight="balanced", n_threads=n_threads, text_column=text_column
        )
    if not hasattr(clf, "coef_"):
        clf.fit_binary(target, _reader(raw, text_column, id_column, batch_size))
    if clf.coef_.shape[1] != 1:
        raise ValueError("classifier must be a two-class model (target vs raw)")
    state = stream.TopKState.start([k], method=method, batch_size=batch_size)
    id_col = id_column or "id"
    for batch in _reader(raw, text_column, id_column, batch_size):
        positions = np.arange(state.n_rows, state.n_rows + batch.num_rows, dtype=np.uint64)
        z = clf.decision_function(batch.column(text_column))
        idh = stream.id_hashes(batch.column(id_col))
        keys = stream.keys_for_batch(z[:, None] / temperature, idh, method=method, seed=seed)
        kept = state.push(keys, idh, positions, np.ones(len(z), dtype=bool))
        if kept.any():
            idx = np.flatnonzero(kept)
            rows = stream.annotate_rows(
                batch.select([id_col]).take(pa.array(idx)), positions[idx], z[idx, None], keys[idx]
            )
            state.rows.add(rows, live=state.live_positions)
        state.n_rows += batch.num_rows
        state.n_eligible += batch.num_rows
    pos, tgt = stream.resolve(state, seed=seed, min_length=0)
    table = stream.collect(state, pos, tgt, separate_targets=False)
    return Selection(
        indices=pos,
        ids=table.column(id_col).to_pylist(),
        columns={
            "log_odds": table.column("log_weight").to_numpy(),
            "key": table.column(stream.KEY_COLUMN[method]).to_numpy(),
        },
        n_rows=state.n_rows,
        method=f"classifier/{method}",
        info={
            "n_iter": getattr(clf, "n_iter_", None),
            "fit_seconds": getattr(clf, "fit_seconds_", None),
        },
    )


def _reader(
    source: Any, text_column: str, id_column: Optional[str], batch_size: int
) -> Iterator[pa.RecordBatch]:
    return read_batches(
        source, text_column=text_column, id_column=id_column, columns=[], batch_size=batch_size
    )


__all__ = ["classifier_select"]
