"""SemDeDup (Abbas et al. 2023): semantic near-duplicates removed inside k-means clusters."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._base import Selection
from tamis._validation import check_int, check_seed, check_threads
from tamis.cluster._kmeans import KMeans, _choice, as_embeddings

KEEP_POLICIES = ("farthest", "closest", "score")
RULES = ("paper", "kept")


def tie_keys(ids: Any, n: int) -> np.ndarray:
    """uint64 rank of each id among the sorted ids: a tie-break that ignores the input order."""
    if ids is None:
        return np.arange(n, dtype=np.uint64)
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        ids = ids.to_numpy(zero_copy_only=False)
    a = np.asarray(ids)
    if a.shape != (n,):
        raise ValueError(f"ids must have one value per row ({n}), got shape {a.shape}")
    _, inverse = np.unique(a, return_inverse=True)
    return np.ascontiguousarray(inverse.reshape(-1), dtype=np.uint64)


def _labels(labels: Any, n: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise ValueError(f"labels must have one value per row ({n}), got shape {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {lab.dtype}")
    if n and lab.min() < 0:
        raise ValueError(f"labels must be >= 0, got {lab.min()} at row {int(np.argmin(lab))}")
    return np.ascontiguousarray(lab, dtype=np.int64)


def _mean_directions(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-cluster mean of the unit rows (the spherical k-means centroid, before normalising)."""
    k = int(labels.max()) + 1 if len(labels) else 0
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    unit = X / np.where(norms > 0, norms, 1)
    c = np.zeros((k, X.shape[1]), dtype=np.float64)
    np.add.at(c, labels, unit)
    return np.ascontiguousarray(c, dtype=X.dtype)


def semdedup(
    X: Any,
    eps: float,
    *,
    labels: Any = None,
    centroids: Any = None,
    k: Optional[int] = None,
    keep: str = "farthest",
    score: Any = None,
    ids: Any = None,
    rule: str = "paper",
    seed: int = 0,
    n_threads: Optional[int] = None,
) -> Selection:
    """Remove semantic near-duplicates inside each cluster (SemDeDup, Abbas et al. 2023).

    Inside a cluster, rows are ordered by the keep policy and row ``j`` is removed when its
    cosine similarity to an earlier row is at least ``1 − eps``: with ``rule="paper"`` any
    earlier row (the paper's ``max(triu(S), dim=0) ≥ 1 − eps``), with ``rule="kept"`` only the
    rows kept so far (then every removed row is within ``eps`` of a kept one and no two kept rows
    are). Similarities are computed in tiles (bounded memory) and the result depends neither on
    ``n_threads`` nor, when ``ids`` are given, on the input order.

    Parameters
    ----------
    X
        ``(n, d)`` embeddings (float32 or float64); rows must be non-zero.
    eps
        Cosine distance under which two rows are duplicates (``0 ≤ eps ≤ 2``).
    labels
        int cluster of each row. ``None``: from ``centroids`` (nearest by cosine), else a cosine
        :class:`KMeans` with ``k`` clusters is fitted (``seed``, ``n_threads``).
    centroids
        ``(k, d)`` cluster centres, for the ``"farthest"`` / ``"closest"`` policies (``None``: the
        mean direction of each cluster's rows).
    k
        Clusters to fit when neither ``labels`` nor ``centroids`` is given.
    keep
        Which row of a duplicate group survives: ``"farthest"`` from the centroid (the paper's
        default, keeps the less prototypical examples), ``"closest"``, or highest ``"score"``.
    score
        float per row, for ``keep="score"``.
    ids
        Row ids: break ties of the keep policy (and name duplicates); ``None``: row numbers.
    rule
        ``"paper"`` or ``"kept"`` (see above).
    seed, n_threads
        For the k-means fit, and the threads of the dedup.

    Returns
    -------
    Selection
        ``indices``: kept rows in input order (``method="semdedup"``); ``columns``:
        ``cluster_id``; ``rows``: ``keep``, ``cluster_id``, ``duplicate_of`` (the row a removed
        row duplicates, -1 if kept), ``duplicate_of_id`` (its id, null if kept) and
        ``similarity`` (largest cosine to an earlier row of the cluster, NaN for the first);
        ``info``: ``n_removed``, ``eps``, ``keep``, ``rule``, ``n_clusters``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.999, 0.04], [0.0, 1.0]])
    >>> sel = semdedup(X, 0.01, labels=[0, 0, 1], keep="score", score=[0.2, 0.9, 0.5])
    >>> sel.indices.tolist(), sel.duplicate_of.tolist()
    ([1, 2], [1, -1, -1])
    """
    a = as_embeddings(X)
    n = a.shape[0]
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise TypeError(f"eps must be a number, got {type(eps).__name__}")
    if not (np.isfinite(eps) and 0 <= eps <= 2):
        raise ValueError(f"eps must be in [0, 2], got {eps}")
    _choice("keep", keep, KEEP_POLICIES)
    _choice("rule", rule, RULES)
    seed = check_seed(seed)
    n_threads = check_threads(n_threads)
    cen = None if centroids is None else as_embeddings(centroids, "centroids").astype(a.dtype)
    if cen is not None and cen.shape[1] != a.shape[1]:
        raise ValueError(f"X has {a.shape[1]} columns, the centroids have {cen.shape[1]}")
    if labels is not None:
        lab = _labels(labels, n)
    elif cen is not None:
        lab = _core.kmeans_assign(a, cen, metric="cosine", n_threads=n_threads)[0]
    elif k is not None:
        km = KMeans(check_int("k", k, 1), metric="cosine", seed=seed, n_threads=n_threads).fit(a)
        lab, cen = km.labels_, km.centroids_
    else:
        raise ValueError("give labels, centroids or k (clusters to fit)")
    sc = None
    if keep == "score":
        if score is None:
            raise ValueError("keep='score' needs score (one float per row)")
        sc = np.ascontiguousarray(score, dtype=np.float64)
        if sc.shape != (n,):
            raise ValueError(f"score must have one value per row ({n}), got shape {sc.shape}")
    elif cen is None and n:
        cen = _mean_directions(a, lab)
    tie = tie_keys(ids, n)
    kept, dup, sim, _ = _core.semdedup(
        a,
        lab,
        tie,
        float(eps),
        centroids=None if keep == "score" else cen,
        score=sc,
        keep=keep,
        rule=rule,
        n_threads=n_threads,
    )
    row_ids = np.arange(n, dtype=np.int64) if ids is None else ids
    if isinstance(row_ids, pa.ChunkedArray):
        row_ids = row_ids.combine_chunks()
    indices = np.flatnonzero(kept)
    id_arr = row_ids if isinstance(row_ids, pa.Array) else pa.array(np.asarray(row_ids))
    dup_ids = id_arr.take(pa.array(np.where(dup >= 0, dup, 0))).to_pylist()
    dup_ids = pa.array([d if j >= 0 else None for d, j in zip(dup_ids, dup)], type=id_arr.type)
    return Selection(
        indices=indices,
        ids=id_arr.take(pa.array(indices))
        if isinstance(row_ids, pa.Array)
        else np.asarray(row_ids)[indices],
        columns={"cluster_id": lab[indices]},
        rows={
            "keep": kept,
            "cluster_id": lab,
            "duplicate_of": dup,
            "duplicate_of_id": dup_ids,
            "similarity": sim,
        },
        n_rows=n,
        method="semdedup",
        info={
            "n_removed": int(n - len(indices)),
            "eps": float(eps),
            "keep": keep,
            "rule": rule,
            "n_clusters": int(lab.max()) + 1 if n else 0,
        },
    )
