"""Nearest-target retrieval: exact blocked search, merged into a k-document selection.

numpy rather than the Rust core: the work is a GEMM per block (BLAS, multi-threaded) and an
``argpartition`` per target point; nothing here loops over documents in Python.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from tamis._base import Selection
from tamis._validation import check_int

_BLOCK = 8192


def _unit(x: np.ndarray, name: str) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name} row {int(np.flatnonzero(norms[:, 0] == 0)[0])} is all zeros")
    return x / norms


def nearest(
    pool: Any, target: Any, per_target: int, *, metric: str = "cosine"
) -> tuple[np.ndarray, np.ndarray]:
    """The ``per_target`` nearest pool rows of every target point, best first.

    Returns ``(rows, similarity)``, both ``m × per_target``; similarity is the cosine (or minus
    the squared distance for ``"sqeuclidean"``). Ties go to the lower pool row.
    """
    x = np.asarray(pool, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"pool {x.shape} and target {y.shape} must be 2-D with equal widths")
    n = len(x)
    per_target = check_int("per_target", per_target, 1, n)
    if metric == "cosine":
        x, y = _unit(x, "pool"), _unit(y, "target")
    elif metric != "sqeuclidean":
        raise ValueError(f"metric must be 'cosine' or 'sqeuclidean', got {metric!r}")
    best_sim = np.full((len(y), 0), -np.inf)
    best_row = np.empty((len(y), 0), np.int64)
    y2 = (y * y).sum(1)
    for r0 in range(0, n, _BLOCK):
        blk = x[r0 : r0 + _BLOCK]
        sim = y @ blk.T
        if metric == "sqeuclidean":
            sim = -(y2[:, None] + (blk * blk).sum(1)[None, :] - 2 * sim)
        rows = np.broadcast_to(np.arange(r0, r0 + len(blk)), sim.shape)
        sims = np.concatenate([best_sim, sim], axis=1)
        allrows = np.concatenate([best_row, rows], axis=1)
        # Best first: similarity descending, then the lower row (lexsort's last key is primary).
        order = np.lexsort((allrows, -sims), axis=1)[:, :per_target]
        best_sim = np.take_along_axis(sims, order, 1)
        best_row = np.take_along_axis(allrows, order, 1)
    return best_row, best_sim


def nearest_select(
    pool: Any,
    target: Any,
    k: int,
    *,
    metric: str = "cosine",
    per_target: Optional[int] = None,
    ids: Any = None,
) -> Selection:
    """``k`` pool documents nearest to the target points, spread over the target.

    Every target point ranks its nearest pool documents; the selection takes rank 1 of every
    target point, then rank 2, ... (within a rank, more similar first) until ``k`` distinct
    documents are chosen, so no target point is left unserved while another gets its 50th
    neighbour. ``per_target`` bounds the ranks searched; by default it starts at
    ``ceil(1.1 k / m) + 1`` and doubles until the ranks hold ``k`` distinct documents.

    Returns
    -------
    Selection
        ``indices`` in input order; columns ``similarity`` (the best similarity to any target
        point), ``target`` (the target point that chose it first) and ``n_targets`` (how many
        target points have it among their ranked neighbours).
    """
    x = np.asarray(pool)
    n, m = len(x), len(np.asarray(target))
    k = check_int("k", k, 1, n)
    auto = per_target is None
    if per_target is None:
        per_target = min(n, int(np.ceil(1.1 * k / max(m, 1))) + 1)
    while True:
        rows, sims = nearest(x, target, per_target, metric=metric)
        # Rank-major order: (rank, -similarity, target) for every (target, rank) pair.
        rank = np.broadcast_to(np.arange(rows.shape[1]), rows.shape)
        tgt = np.broadcast_to(np.arange(m)[:, None], rows.shape)
        order = np.lexsort((tgt.ravel(), -sims.ravel(), rank.ravel()))
        flat_rows = rows.ravel()[order]
        _, first = np.unique(flat_rows, return_index=True)
        first.sort()
        if len(first) >= k or not auto or per_target == n:
            break
        # Target points that share their neighbours (a tight target, or one near a dense part
        # of the pool) leave fewer than k distinct documents in the first ranks. More ranks only
        # append pairs after the ones seen, so the first k distinct documents found with a
        # larger bound are those any larger bound gives: search again with twice the ranks.
        per_target = min(n, 2 * per_target)
    if len(first) < k:
        raise ValueError(
            f"only {len(first)} distinct documents among {per_target} neighbours of each of "
            f"{m} target points; raise per_target (k={k})"
        )
    take = order[first[:k]]
    chosen = rows.ravel()[take]
    best = np.full(n, -np.inf)
    np.maximum.at(best, rows.ravel(), sims.ravel())
    counts = np.bincount(rows.ravel(), minlength=n)
    sort = np.argsort(chosen, kind="stable")
    idx = chosen[sort]
    return Selection(
        indices=idx,
        ids=None if ids is None else np.asarray(ids)[idx],
        columns={
            "similarity": best[idx],
            "target": tgt.ravel()[take][sort],
            "n_targets": counts[idx],
        },
        n_rows=n,
        method="knn",
        info={"per_target": per_target, "metric": metric},
    )
