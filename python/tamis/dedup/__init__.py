"""Near-duplicate removal: MinHash signatures, LSH banding, verified union-find clusters.

Layout (every public name is importable from ``tamis.dedup``):

- :mod:`tamis.dedup.deduplicator`: :class:`MinHashDeduplicator`, the estimator (parameters,
  ``add`` / ``cluster`` / ``fit`` / ``select`` / ``save`` / ``load``) over the engine below;
- :mod:`tamis.dedup.signatures`: :func:`minhash_signatures`, :func:`datasketch_permutations`,
  :func:`make_hasher`, :func:`sign_batch` (everything kept per document, for one batch: what
  ``add`` and the Ray backend's blocks run), :func:`shingle_sets`,
  :func:`candidate_shingle_sets`, :class:`Normalization`;
- :mod:`tamis.dedup.store`: :class:`SignedBatch` (the per-document arrays of a batch),
  :class:`SignatureStore` (all batches, appended and concatenated on read) and
  :class:`ShingleSets`;
- :mod:`tamis.dedup.lsh`: :func:`lsh_params`, :func:`lsh_params_recall`,
  :func:`candidate_probability`, :func:`candidate_pairs`, :func:`candidate_rows`,
  :func:`query_rows`, :func:`resolve_banding`, :func:`write_band_keys`;
- :mod:`tamis.dedup.cluster`: :func:`band_edges`, :func:`exact_edges`, :func:`components`,
  :func:`cluster_key_groups` (shared by the ``low_memory`` path and :func:`cluster_band_keys`),
  :func:`cluster_signatures`, :func:`cluster_store` (every document of a store),
  :func:`keep_priority` and :func:`choose_kept` (the one keep
  ranking) returning a :class:`ClusterResult` (``.selection()``: a
  :class:`tamis._base.Selection`);
- :mod:`tamis.dedup.lines`: :func:`remove_repeated_lines`.
"""

from __future__ import annotations

from tamis.dedup.cluster import (
    KEEP_POLICIES,
    VERIFY_MODES,
    ClusterResult,
    band_edges,
    band_key_groups,
    choose_kept,
    cluster_band_keys,
    cluster_key_groups,
    cluster_signatures,
    cluster_store,
    components,
    exact_edges,
    keep_priority,
    root_edges,
)
from tamis.dedup.deduplicator import MinHashDeduplicator
from tamis.dedup.lines import remove_repeated_lines
from tamis.dedup.lsh import (
    BANDINGS,
    TARGET_RECALL,
    candidate_pairs,
    candidate_probability,
    candidate_rows,
    lsh_params,
    lsh_params_recall,
    query_rows,
    resolve_banding,
    write_band_keys,
)
from tamis.dedup.signatures import (
    MAX_NUM_PERM,
    SCHEMES,
    Normalization,
    candidate_shingle_sets,
    datasketch_permutations,
    make_hasher,
    minhash_signatures,
    shingle_sets,
    sign_batch,
    text_chunks,
)
from tamis.dedup.store import ShingleSets, SignatureStore, SignedBatch

__all__ = [
    "BANDINGS",
    "KEEP_POLICIES",
    "MAX_NUM_PERM",
    "SCHEMES",
    "TARGET_RECALL",
    "VERIFY_MODES",
    "ClusterResult",
    "MinHashDeduplicator",
    "Normalization",
    "ShingleSets",
    "SignatureStore",
    "SignedBatch",
    "band_edges",
    "band_key_groups",
    "candidate_pairs",
    "candidate_probability",
    "candidate_rows",
    "candidate_shingle_sets",
    "choose_kept",
    "cluster_band_keys",
    "cluster_key_groups",
    "cluster_signatures",
    "cluster_store",
    "components",
    "datasketch_permutations",
    "exact_edges",
    "keep_priority",
    "lsh_params",
    "lsh_params_recall",
    "make_hasher",
    "minhash_signatures",
    "query_rows",
    "remove_repeated_lines",
    "resolve_banding",
    "root_edges",
    "shingle_sets",
    "sign_batch",
    "text_chunks",
    "write_band_keys",
]
