"""Clusters of embeddings and semantic dedup: k-means, super-clusters, SemDeDup.

- :class:`KMeans`: Lloyd or mini-batch k-means (L2 or cosine) with k-means++ or random
  initialisation, in Rust, multi-threaded, the same result for any thread count;
  :meth:`KMeans.predict` assigns new rows to saved centroids (streaming), and
  :meth:`KMeans.save` / :meth:`KMeans.load` persist them without pickle.
- :func:`merge_centroids`: agglomerative merging of centroids into super-clusters (CLIMB).
- :func:`semdedup`: SemDeDup (Abbas et al. 2023), semantic near-duplicates removed inside each
  cluster, returning a :class:`tamis.Selection`.

The formulas and guarantees are in ``docs/coverage.md``.
"""

from __future__ import annotations

from tamis.cluster._kmeans import ALGORITHMS, INITS, LINKAGES, METRICS, KMeans, merge_centroids
from tamis.cluster._semdedup import KEEP_POLICIES, RULES, semdedup

__all__ = [
    "ALGORITHMS",
    "INITS",
    "KEEP_POLICIES",
    "LINKAGES",
    "METRICS",
    "RULES",
    "KMeans",
    "merge_centroids",
    "semdedup",
]
