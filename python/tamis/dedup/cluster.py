"""Clusters from LSH buckets: verified edges, union-find components and the keep policy.

Every backend builds clusters from the same pieces: :func:`band_edges` verifies the buckets of
``(key, row)`` records (estimated Jaccard from signatures, exact Jaccard from shingle sets, or
none), :func:`exact_edges` joins rows with equal text hashes, :func:`components` unites the edges
(root = smallest row), and :func:`choose_kept` ranks each cluster (``keep="first"``,
``"longest"`` or ``"score"``) into a :class:`ClusterResult`. :func:`cluster_key_groups` runs the
first three over any sequence of key groups: the bands of an in-memory key matrix
(``low_memory``) or the Parquet partitions of :func:`~tamis.dedup.write_band_keys`
(:func:`cluster_band_keys`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._base import Selection
from tamis._validation import check_int, check_threads
from tamis.dedup.store import ShingleSets, SignatureStore

KEEP_POLICIES = ("first", "longest", "score")
VERIFY_MODES = ("estimate", "exact", "none")


def band_edges(
    keys: np.ndarray,
    rows: np.ndarray,
    *,
    signatures: Optional[np.ndarray] = None,
    shingle_sets: Optional[ShingleSets] = None,
    threshold: float = 0.0,
    verify: str = "estimate",
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """Verified spanning-forest edges ``(m, 2)`` (uint32 rows) of the buckets of ``(keys, rows)``.

    Rows index ``signatures`` (``verify="estimate"``) or ``shingle_sets`` (``"exact"``);
    ``"none"`` joins every bucket. Within a bucket a row is compared with the groups found so
    far, so m exact copies cost m comparisons.
    """
    return _core.edges_from_keys(
        np.ascontiguousarray(keys, dtype=np.uint64),
        np.ascontiguousarray(rows, dtype=np.uint32),
        signatures,
        threshold=float(threshold),
        verify=verify,
        set_indptr=None if shingle_sets is None else shingle_sets.indptr,
        set_hashes=None if shingle_sets is None else shingle_sets.hashes,
        n_threads=check_threads(n_threads),
    )


def exact_edges(rows: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Edges ``(len(rows), 2)`` joining each row to the first row with the same ``(n, 2)`` hash."""
    roots = _core.exact_roots(
        np.ascontiguousarray(hashes, dtype=np.uint64), np.ones(len(rows), bool)
    )
    rows = np.asarray(rows)
    return np.stack([rows, rows[roots.astype(np.int64)]], axis=1)


def root_edges(roots: np.ndarray) -> np.ndarray:
    """Edges ``(n, 2)`` joining every row to its root (e.g. exact-duplicate roots)."""
    roots = np.asarray(roots, dtype=np.uint32)
    return np.stack([np.arange(len(roots), dtype=np.uint32), roots], axis=1)


def components(n_docs: int, edges: Sequence[np.ndarray]) -> np.ndarray:
    """int64 root (smallest member) of every row ``0 .. n_docs`` joined by the ``(m, 2)`` edges."""
    parts = [np.asarray(e, dtype=np.uint32).reshape(-1, 2) for e in edges]
    all_edges = np.concatenate(parts) if parts else np.empty((0, 2), np.uint32)
    return _core.union_roots(n_docs, np.ascontiguousarray(all_edges)).astype(np.int64)


def cluster_key_groups(
    groups: Iterable[tuple[np.ndarray, np.ndarray]],
    n_docs: int,
    *,
    signatures: Optional[np.ndarray] = None,
    shingle_sets: Optional[ShingleSets] = None,
    threshold: float = 0.0,
    verify: str = "none",
    pre_roots: Optional[np.ndarray] = None,
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """Clusters (int64 roots) from groups of ``(keys, rows)`` records, one group at a time.

    Each group (a band, a partition) is verified by :func:`band_edges`; ``pre_roots`` (e.g.
    exact-duplicate roots) are joined too. Memory: the largest group plus its edges.
    """
    edges = [
        band_edges(
            keys,
            rows,
            signatures=signatures,
            shingle_sets=shingle_sets,
            threshold=threshold,
            verify=verify,
            n_threads=n_threads,
        )
        for keys, rows in groups
    ]
    if pre_roots is not None:
        edges.append(root_edges(pre_roots))
    return components(n_docs, edges)


def band_key_groups(
    band_keys: np.ndarray, valid: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The ``(keys, rows)`` group of each band of an in-memory ``(n, num_bands)`` key matrix."""
    rows = np.flatnonzero(valid).astype(np.uint32)
    for band in range(band_keys.shape[1]):
        yield np.ascontiguousarray(band_keys[rows, band]), rows


def _partition_groups(out_dir: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    import pyarrow.parquet as pq

    for part in sorted(Path(out_dir).glob("partition=*"), key=lambda p: int(p.name.split("=")[1])):
        table = pq.read_table(part)
        if table.num_rows:
            yield table.column("key").to_numpy(), table.column("row").to_numpy()


def cluster_band_keys(
    out_dir: Any,
    n_docs: int,
    *,
    signatures: Optional[np.ndarray] = None,
    threshold: Optional[float] = None,
    pre_roots: Optional[np.ndarray] = None,
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """Clusters from band keys written by :func:`write_band_keys`, one partition at a time.

    Parameters
    ----------
    out_dir
        The directory given to :func:`write_band_keys`.
    n_docs
        Total number of rows.
    signatures, threshold
        If given, candidates are verified by estimated Jaccard ``>= threshold``; ``signatures`` may
        be an ``np.memmap`` (``np.load(..., mmap_mode="r")``) so that they need not fit in memory.
        Without them every bucket is a duplicate cluster (plain LSH).
    pre_roots
        Optional roots to start from (e.g. exact-duplicate clusters).
    n_threads
        Worker threads.

    Returns
    -------
    numpy.ndarray
        int64 cluster id (smallest row of the cluster) of every row.
    """
    n_docs = check_int("n_docs", n_docs, 0, 2**32 - 1)
    verify, t, sig = "none", 0.0, None
    if signatures is not None:
        if threshold is None:
            raise ValueError("threshold is required with signatures")
        t = float(threshold)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        sig = signatures if isinstance(signatures, np.ndarray) else np.asarray(signatures)
        if sig.ndim != 2 or sig.dtype != np.uint32 or not sig.flags.c_contiguous:
            raise TypeError("signatures must be a C-contiguous 2-d uint32 array")
        verify = "estimate"
    return cluster_key_groups(
        _partition_groups(out_dir),
        n_docs,
        signatures=sig,
        threshold=t,
        verify=verify,
        pre_roots=pre_roots,
        n_threads=n_threads,
    )


def cluster_signatures(
    signatures: np.ndarray,
    valid: np.ndarray,
    *,
    num_bands: int,
    rows: int,
    threshold: float,
    verify: str = "estimate",
    shingle_sets: Optional[ShingleSets] = None,
    pre_roots: Optional[np.ndarray] = None,
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """Clusters (int64 roots) of in-memory signatures: every band in Rust, 16 bytes a row alive."""
    return _core.lsh_clusters(
        signatures,
        np.ascontiguousarray(valid, dtype=bool),
        num_bands=num_bands,
        rows=rows,
        threshold=threshold,
        verify=verify,
        set_indptr=None if shingle_sets is None else shingle_sets.indptr,
        set_hashes=None if shingle_sets is None else shingle_sets.hashes,
        pre_roots=pre_roots,
        n_threads=check_threads(n_threads),
    ).astype(np.int64)


def cluster_store(
    store: SignatureStore,
    *,
    num_bands: int,
    rows: int,
    threshold: float,
    verify: str = "estimate",
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """Clusters (int64 roots) of every document in a :class:`~tamis.dedup.SignatureStore`.

    Exact-hash duplicates (when the store keeps hashes) are joined first; LSH candidates are
    verified as ``verify`` says (``"exact"`` needs the store's shingle sets, of every row). From
    signatures (:func:`cluster_signatures`) or, with band keys only, one band at a time
    (:func:`cluster_key_groups`).
    """
    n = len(store)
    valid = store.n_shingles > 0
    pre = None
    if store.hashes is not None and store.hash_ok is not None and n:
        pre = _core.exact_roots(store.hashes, store.hash_ok)
    sets = None
    if verify == "exact":
        sets = store.shingle_sets
        if sets is None:
            raise ValueError(
                "verify='exact' needs the shingle sets: call add_shingle_sets(texts) "
                "before cluster() (fit() does it)"
            )
        if len(sets) != n:
            raise ValueError("shingle sets are stale: call add_shingle_sets(texts) again")
    kw: dict[str, Any] = {
        "threshold": threshold,
        "verify": verify,
        "shingle_sets": sets,
        "pre_roots": pre,
        "n_threads": n_threads,
    }
    if store.signatures is None:
        assert store.band_keys is not None
        return cluster_key_groups(band_key_groups(store.band_keys, valid), n, **kw)
    return cluster_signatures(store.signatures, valid, num_bands=num_bands, rows=rows, **kw)


def keep_priority(
    keep: str,
    n_docs: int,
    *,
    ids: Optional[Any] = None,
    scores: Optional[Any] = None,
    lengths: Optional[np.ndarray] = None,
) -> Optional[np.ndarray]:
    """The float64 rank of every row under a keep policy (higher is kept; ``None``: first row).

    ``"score"``: ``scores`` (required; NaN ranks lowest); ``"longest"``: ``lengths`` (bytes);
    ``"first"``: the lowest of ``ids`` when given (any sortable values), else the first row.
    """
    if keep == "score":
        if scores is None:
            raise ValueError("keep='score' needs scores")
        return _column("scores", scores, n_docs)
    if keep == "longest":
        if lengths is None:
            raise ValueError("keep='longest' needs the document lengths")
        return _column("lengths", lengths, n_docs)
    if keep != "first":
        raise ValueError(f"keep must be one of {KEEP_POLICIES}, got {keep!r}")
    if ids is None:
        return None
    ids = _ids(ids, n_docs)
    rank = np.empty(n_docs, np.float64)
    rank[np.argsort(ids, kind="stable")] = np.arange(n_docs, dtype=np.float64)
    return -rank


def _column(name: str, values: Any, n: int) -> np.ndarray:
    out = np.ascontiguousarray(values, dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"{name} has shape {out.shape}, expected ({n},)")
    return out


def _ids(ids: Any, n: int) -> np.ndarray:
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    out = ids.to_numpy(zero_copy_only=False) if isinstance(ids, pa.Array) else np.asarray(ids)
    if out.shape != (n,):
        raise ValueError(f"ids has shape {out.shape}, expected ({n},)")
    return out


@dataclass
class ClusterResult:
    """Clusters and the keep decision, in input row order.

    Attributes
    ----------
    cluster_id
        int64, the smallest row of each row's cluster.
    keep_mask
        bool, True for the kept row of each cluster.
    duplicate_of
        int64 row of the cluster's kept row, -1 for kept rows.
    """

    cluster_id: np.ndarray
    keep_mask: np.ndarray
    duplicate_of: np.ndarray

    def selection(
        self,
        *,
        ids: Optional[Any] = None,
        n_shingles: Optional[np.ndarray] = None,
        method: str = "dedup/minhash",
        info: Optional[dict[str, Any]] = None,
    ) -> Selection:
        """The kept rows as a :class:`~tamis._base.Selection`.

        ``indices``: kept rows in input order; ``ids``: their ``ids`` (default: row numbers);
        ``columns``: ``cluster_id``; ``rows`` (every input row): ``keep``, ``cluster_id``,
        ``duplicate_of`` and, when given, ``n_shingles``; ``info``: ``n_removed`` and ``info``.
        """
        n = len(self.keep_mask)
        idx = np.flatnonzero(self.keep_mask)
        kept_ids = None
        if ids is not None:
            if isinstance(ids, (pa.Array, pa.ChunkedArray)):
                if len(ids) != n:
                    raise ValueError(f"ids has {len(ids)} values for {n} rows")
                kept_ids = ids.take(pa.array(idx))
            else:
                kept_ids = _ids(ids, n)[idx]
        per_row = {
            "keep": self.keep_mask,
            "cluster_id": self.cluster_id,
            "duplicate_of": self.duplicate_of,
        }
        if n_shingles is not None:
            per_row["n_shingles"] = np.asarray(n_shingles)
        return Selection(
            indices=idx,
            ids=kept_ids,
            columns={"cluster_id": self.cluster_id[idx]},
            rows=per_row,
            n_rows=n,
            method=method,
            info={"n_removed": n - len(idx), **(info or {})},
        )


def choose_kept(
    roots: np.ndarray,
    keep: str = "first",
    *,
    ids: Optional[Any] = None,
    scores: Optional[Any] = None,
    lengths: Optional[np.ndarray] = None,
) -> ClusterResult:
    """Keep the highest-ranked row of each cluster (:func:`keep_priority`; ties: first row)."""
    roots = np.ascontiguousarray(roots, dtype=np.uint32)
    priority = keep_priority(keep, len(roots), ids=ids, scores=scores, lengths=lengths)
    keep_mask, duplicate_of = _core.keep_policy(roots, priority)
    return ClusterResult(roots.astype(np.int64), keep_mask, duplicate_of)
