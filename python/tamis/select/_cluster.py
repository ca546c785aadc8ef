"""Cluster importance weights: DSIR whose features are k-means cluster ids of the embeddings."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._base import Selection
from tamis._validation import check_int, check_seed
from tamis.cluster import KMeans
from tamis.importance.stream import id_hashes


def cluster_importance_select(
    pool: Any,
    target: Any,
    k: int,
    *,
    n_clusters: int = 64,
    alpha: float = 1.0,
    method: str = "gumbel",
    metric: str = "cosine",
    seed: int = 0,
    ids: Any = None,
    kmeans: Optional[KMeans] = None,
    n_threads: Optional[int] = None,
) -> Selection:
    """Importance resampling over k-means clusters (DSIR with cluster ids as the features).

    k-means (:class:`tamis.cluster.KMeans`, ``n_clusters`` centroids fitted on the pool) assigns
    every pool and target point a cluster; the cluster histograms, add-``alpha`` smoothed, give
    ``p_target(c)`` and ``p_pool(c)``, and each pool document the log importance weight
    ``log p_target(c) − log p_pool(c)`` of its cluster (Xie et al. 2023, with a bag of one
    "cluster word" per document). ``method="gumbel"`` samples ``k`` documents without
    replacement ∝ weight by the Gumbel top-k trick with noise keyed by ``(seed, document id)``
    (the DSIR machinery: shards and batch sizes never change the result); ``"topk"`` takes the
    ``k`` largest weights, ties (the documents of one cluster) broken by the same id-keyed
    noise, so a part of a cluster is a uniform draw from it whatever the input order.
    ``kmeans``: a fitted :class:`KMeans` to use instead (e.g. centroids fitted once on a sample
    and shared by every shard).

    Returns
    -------
    Selection
        ``indices`` in input order; columns ``log_weight``, ``key`` and ``cluster``; ``info``:
        the two histograms.
    """
    x = np.asarray(pool)
    y = np.asarray(target)
    n = len(x)
    k = check_int("k", k, 1, n)
    seed = check_seed(seed)
    if method not in ("gumbel", "topk"):
        raise ValueError(f"method must be 'gumbel' or 'topk', got {method!r}")
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive number, got {alpha}")
    km = kmeans
    if km is None:
        km = KMeans(
            min(n_clusters, n),
            metric="cosine" if metric == "cosine" else "l2",
            seed=seed,
            n_threads=n_threads,
        ).fit(x)
        labels = km.labels_
    else:
        labels = km.predict(x)
    t_labels = km.predict(y)
    c = km.k
    p_pool = (np.bincount(labels, minlength=c) + alpha) / (n + c * alpha)
    p_tgt = (np.bincount(t_labels, minlength=c) + alpha) / (len(y) + c * alpha)
    log_w = (np.log(p_tgt) - np.log(p_pool))[labels]
    id_arr = pa.array(np.arange(n) if ids is None else list(ids))
    noise = _core.gumbel_noise(id_hashes(id_arr), seed=seed)
    if method == "gumbel":
        keys = log_w + noise
        order = np.lexsort((np.arange(n), -keys))[:k]
    else:
        # Every document of a cluster has its cluster's weight, so top-k is mostly ties; they
        # go by the id-keyed noise (a uniform draw inside the cluster, the same for any input
        # order), not by position: on a corpus sorted by source, position picked one source.
        keys = log_w.copy()
        order = np.lexsort((np.arange(n), -noise, -keys))[:k]
    idx = np.sort(order)
    return Selection(
        indices=idx,
        ids=None if ids is None else np.asarray(ids)[idx],
        columns={"log_weight": log_w[idx], "key": keys[idx], "cluster": labels[idx]},
        n_rows=n,
        method=f"cluster-dsir/{method}",
        info={
            "n_clusters": c,
            "pool_histogram": np.bincount(labels, minlength=c).tolist(),
            "target_histogram": np.bincount(t_labels, minlength=c).tolist(),
        },
    )
