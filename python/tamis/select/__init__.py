"""Target selection on embeddings: optimal-transport gradients (GOT-D) and nearest neighbours.

- :func:`sinkhorn`: entropic OT between a pool and a target point cloud (log-domain Sinkhorn in
  Rust, batched over the pool; equal to POT's ``sinkhorn_log``) — cost and both potentials.
- :func:`gradient_select`: GOT-D (Kang et al., ICLR 2024): the ``k`` pool points whose dual
  potential — the gradient of the OT distance to the target w.r.t. their mass — is most
  negative, optionally in rounds that re-solve without the mass already selected.
- :func:`cluster_importance_select`: DSIR over k-means cluster ids (target and pool cluster
  histograms, smoothed; Gumbel top-k keyed by document id).
- :func:`nearest_select`: for every target point its nearest pool points (exact, blocked GEMM),
  merged into ``k`` distinct documents.

Every selector returns :class:`tamis.Selection`. See ``docs/embedding_select.md``.
"""

from __future__ import annotations

from tamis.select._cluster import cluster_importance_select
from tamis.select._knn import nearest_select
from tamis.select._ot import OTResult, gradient_select, sinkhorn

__all__ = [
    "OTResult",
    "cluster_importance_select",
    "gradient_select",
    "nearest_select",
    "sinkhorn",
]
