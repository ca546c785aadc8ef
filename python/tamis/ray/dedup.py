"""MinHash dedup on Ray: per-block signatures, a band-key groupby, verified edges, components.

The workers sign their blocks (:func:`tamis.dedup.sign_batch`, what
``MinHashDeduplicator.add`` runs) and emit ``(key, row, h1, kind)`` records; a Ray groupby on the
key keeps the buckets with two or more rows. The edges come from the same engine functions as
the local clusters (:func:`~tamis.dedup.band_edges`, :func:`~tamis.dedup.exact_edges`), on the
driver or per bucket on the workers (``verify_on``); :func:`~tamis.dedup.components` (or
:func:`tamis.ray.connected_components`) joins them and :func:`~tamis.dedup.choose_kept` applies
the keep policy. Each bucket's edges are a spanning forest independent of the other buckets, so
the clusters are the local ones for any partition of the buckets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis._base import Selection
from tamis.dedup import (
    ClusterResult,
    MinHashDeduplicator,
    band_edges,
    choose_kept,
    exact_edges,
    shingle_sets,
)
from tamis.dedup import components as union_components
from tamis.ray._context import POS, _by_pos, _gather_rows, _ray, collect, init
from tamis.ray._read import row_numbered
from tamis.ray.components import connected_components

#: The deduplicator a worker last rebuilt, by its parameters (one at a time).
_CACHE: dict[str, MinHashDeduplicator] = {}


def _deduplicator(params: dict[str, Any]) -> MinHashDeduplicator:
    key = json.dumps(params, sort_keys=True, default=str)
    if key not in _CACHE:
        p = dict(params)
        p["weights"] = tuple(p["weights"])
        _CACHE.clear()
        _CACHE[key] = MinHashDeduplicator(**p)
    return _CACHE[key]


def _sign_block(
    batch: pa.Table,
    params: dict[str, Any],
    text_column: str,
    extra: dict[str, str],
    text_payload: bool = False,
) -> pa.Table:
    """``__pos``, then :func:`tamis.dedup.sign_batch`'s columns (``SignedBatch.to_arrow``).

    ``n_shingles``, ``sig``, ``keys``, [``h0``, ``h1``, ``hash_ok``], [``length``], then the
    ``extra`` columns (renamed) and, with ``text_payload``, the text as ``__text``.
    """
    d = _deduplicator(params)
    text = batch.column(text_column).combine_chunks()
    signed = d.sign(text, band_keys=True)
    out = signed.to_arrow().add_column(0, POS, batch.column(POS))
    for name, col in extra.items():
        out = out.append_column(name, batch.column(col))
    return out.append_column("__text", text) if text_payload else out


def _records_block(
    batch: pa.Table, num_bands: int, exact: bool, payload: Optional[str] = None
) -> pa.Table:
    """``(key, row, h1, kind)`` records of a block.

    One per band of every non-empty row (kind 0) and one per hashable row (kind 1, key = low half
    of the exact hash).
    """
    pos = batch.column(POS).to_numpy().astype(np.uint32)
    valid = batch.column("n_shingles").to_numpy() > 0
    keys = np.frombuffer(batch.column("keys").combine_chunks().buffers()[1], np.uint64)
    keys = keys[: len(pos) * num_bands].reshape(len(pos), num_bands)[valid].ravel()
    parts = {
        "key": [keys],
        "row": [np.repeat(pos[valid], num_bands).astype(np.uint64)],
        "h1": [np.zeros(len(keys), np.uint64)],
        "kind": [np.zeros(len(keys), np.uint8)],
    }
    if exact:
        ok = batch.column("hash_ok").to_numpy(zero_copy_only=False)
        parts["key"].append(batch.column("h0").to_numpy()[ok])
        parts["row"].append(pos[ok].astype(np.uint64))
        parts["h1"].append(batch.column("h1").to_numpy()[ok])
        parts["kind"].append(np.ones(int(ok.sum()), np.uint8))
    out = pa.table({k: np.concatenate(v) for k, v in parts.items()})
    if payload is not None:  # the row's signature or text travels with each of its records
        idx = [np.repeat(np.flatnonzero(valid), num_bands)]
        if exact:
            idx.append(np.flatnonzero(batch.column("hash_ok").to_numpy(zero_copy_only=False)))
        col = batch.column(payload).combine_chunks().take(pa.array(np.concatenate(idx)))
        out = out.append_column("payload", col)
    return out


def _shared_buckets(group: pa.Table) -> pa.Table:
    """The records of one key whose kind has two or more rows (singletons cannot be duplicates)."""
    kind = group.column("kind").to_numpy()
    counts = np.bincount(kind, minlength=2)
    return group.filter(pa.array(counts[kind] >= 2))


def _signature_rows(sig: pa.Array, n: int, num_perm: int) -> np.ndarray:
    """The first ``n`` signatures of a fixed-size binary column as ``(n, num_perm)`` uint32."""
    raw = np.frombuffer(sig.buffers()[1], np.uint32)[sig.offset * num_perm :]
    return np.ascontiguousarray(raw[: n * num_perm].reshape(n, num_perm))


def _group_edges(group: pa.Table, params: dict[str, Any], verify: str) -> pa.Table:
    """Edges of one key on a worker: verified LSH spanning forest + exact-hash edges."""
    d = _deduplicator(params)
    kind = group.column("kind").to_numpy()
    out = [np.empty((0, 2), np.int64)]
    for k in (0, 1):
        g = group.filter(pa.array(kind == k))
        if g.num_rows < 2:
            continue
        rows = g.column("row").to_numpy()
        uniq, first, local = np.unique(rows, return_index=True, return_inverse=True)
        if k == 1:
            h = np.stack([g.column("key").to_numpy(), g.column("h1").to_numpy()], axis=1)
            out.append(exact_edges(uniq, h[first]).astype(np.int64))
            continue
        payload = g.column("payload").combine_chunks().take(pa.array(first))
        sig = _signature_rows(payload, len(uniq), d.num_perm) if verify == "estimate" else None
        sets = shingle_sets(d.hasher, payload, n_threads=1) if verify == "exact" else None
        e = band_edges(
            g.column("key").to_numpy(),
            local,
            signatures=sig,
            shingle_sets=sets,
            threshold=d.threshold,
            verify=verify,
            n_threads=1,
        )
        out.append(uniq[e.astype(np.int64)].astype(np.int64))
    e = np.concatenate(out)
    return pa.table({"a": e[:, 0], "b": e[:, 1]})


def _worker_edges(
    docs: Any, d: MinHashDeduplicator, params: dict[str, Any], num_partitions: int
) -> np.ndarray:
    """Every edge (LSH verified, exact) computed on the workers; only edges reach the driver."""
    payload = {"estimate": "sig", "exact": "__text"}.get(d.verify)
    records = docs.map_batches(
        _records_block,
        batch_format="pyarrow",
        fn_kwargs={"num_bands": d.num_bands_, "exact": d.exact, "payload": payload},
        num_cpus=0.5,
    )
    out = records.groupby("key", num_partitions=num_partitions).map_groups(
        _group_edges,
        batch_format="pyarrow",
        fn_kwargs={"params": params, "verify": d.verify},
        num_cpus=0.5,
    )
    table = collect(out)
    if not table.num_rows:
        return np.empty((0, 2), np.uint32)
    return np.stack([table.column("a").to_numpy(), table.column("b").to_numpy()], axis=1).astype(
        np.uint32
    )


def _driver_edges(
    docs: Any, ds: Any, d: MinHashDeduplicator, text_column: str, num_partitions: int
) -> list[np.ndarray]:
    """The edges of the shared buckets, verified on the driver from the candidate rows only."""
    records = docs.map_batches(
        _records_block,
        batch_format="pyarrow",
        fn_kwargs={"num_bands": d.num_bands_, "exact": d.exact},
        num_cpus=0.5,
    )
    shared = records.groupby("key", num_partitions=num_partitions).map_groups(
        _shared_buckets, batch_format="pyarrow", num_cpus=0.5
    )
    cand = collect(shared)
    if not cand.num_rows:
        return []
    edges = []
    kind = cand.column("kind").to_numpy()
    rows_all = cand.column("row").to_numpy().astype(np.uint32)
    keys_all = cand.column("key").to_numpy()
    lsh = kind == 0
    if lsh.any():
        cand_rows = np.unique(rows_all[lsh])
        local = np.searchsorted(cand_rows, rows_all[lsh]).astype(np.uint32)
        sig = sets = None
        if d.verify == "estimate":
            got = _gather_rows(docs, cand_rows, ["sig"]).column("sig").combine_chunks()
            sig = _signature_rows(got, len(cand_rows), d.num_perm)
        elif d.verify == "exact":
            got = _gather_rows(ds, cand_rows, [text_column]).column(text_column).combine_chunks()
            sets = shingle_sets(d.hasher, got, n_threads=d.n_threads)
        e = band_edges(
            keys_all[lsh],
            local,
            signatures=sig,
            shingle_sets=sets,
            threshold=d.threshold,
            verify=d.verify,
            n_threads=d.n_threads,
        )
        edges.append(cand_rows[e.astype(np.int64)].astype(np.uint32))
    ex = ~lsh
    if ex.any():
        hashes = np.stack([keys_all[ex], cand.column("h1").to_numpy()[ex]], axis=1)
        edges.append(exact_edges(rows_all[ex], hashes))
    return edges


@dataclass
class DedupResult:
    """Clusters of a Ray dedup run (arrays in input row order) and the numbered dataset."""

    cluster_id: np.ndarray
    keep_mask: np.ndarray
    duplicate_of: np.ndarray
    n_shingles: np.ndarray
    num_bands: int
    rows: int
    dataset: Any
    n_edges: int = 0

    def selection(self, *, ids: Optional[Any] = None) -> Selection:
        """The kept rows as a :class:`tamis.Selection` (:meth:`tamis.dedup.ClusterResult.selection`)."""
        clusters = ClusterResult(self.cluster_id, self.keep_mask, self.duplicate_of)
        return clusters.selection(ids=ids, n_shingles=self.n_shingles)

    def kept(self) -> Any:
        """The kept rows as a Ray Dataset (input columns, in input order)."""
        return self.filtered(all_rows=False)

    def filtered(self, *, all_rows: bool = False) -> Any:
        """The kept rows, or all rows with ``cluster_id`` / ``duplicate_of`` row / ``keep``."""
        ray = _ray()
        keep_ref = ray.put(self.keep_mask)
        extra = ray.put((self.cluster_id, self.duplicate_of)) if all_rows else None
        return self.dataset.map_batches(
            _filter_block,
            batch_format="pyarrow",
            fn_kwargs={"keep": keep_ref, "extra": extra},
            num_cpus=0.5,
        )


def _filter_block(batch: pa.Table, keep: Any, extra: Any) -> pa.Table:
    ray = _ray()
    if isinstance(keep, ray.ObjectRef):
        keep = ray.get(keep)
    pos = batch.column(POS).to_numpy().astype(np.int64)
    out = batch.drop_columns([POS])
    if extra is None:
        return out.filter(pa.array(keep[pos]))
    cluster, dup = ray.get(extra) if isinstance(extra, ray.ObjectRef) else extra
    out = out.append_column("cluster_id", pa.array(cluster[pos]))
    out = out.append_column("duplicate_of_row", pa.array(dup[pos]))
    return out.append_column("keep", pa.array(keep[pos]))


def dedup(
    d: MinHashDeduplicator,
    source: Any,
    *,
    text_column: str = "text",
    id_column: Optional[str] = None,
    score_column: Optional[str] = None,
    num_blocks: Optional[int] = None,
    num_partitions: int = 2,
    components: str = "driver",
    verify_on: str = "driver",
) -> DedupResult:
    """Cluster ``source`` with the settings of a :class:`~tamis.MinHashDeduplicator` on Ray.

    Same clusters and keep mask as the local ``d.fit(texts, ids=..., scores=...)`` (with
    ``ids`` = the id column when ``id_column`` is given and ``keep="first"``), for any number of
    blocks. ``low_memory`` makes no difference here (signatures are only gathered for candidate
    rows). ``num_partitions``: shuffle partitions of the band-key groupby (and edge shards).
    ``components``: ``"driver"`` (union-find, 4 bytes per document) or ``"ray"``
    (:func:`connected_components`, for edge lists too large for the driver).
    ``verify_on``: ``"driver"`` gathers the signatures (or texts, ``verify="exact"``) of the
    candidate rows on the driver; ``"workers"`` ships them with the band records and verifies
    each bucket in ``map_groups``, so that only verified edges reach the driver.
    """
    if verify_on not in ("driver", "workers"):
        raise ValueError(f"verify_on must be 'driver' or 'workers', got {verify_on!r}")
    if components not in ("driver", "ray"):
        raise ValueError(f"components must be 'driver' or 'ray', got {components!r}")
    init()
    if d.keep == "score" and score_column is None:
        raise ValueError("keep='score' needs score_column")
    ds, n = row_numbered(
        source, text_column=text_column, id_column=id_column, num_blocks=num_blocks
    )
    params = d.get_params()
    params.update(num_bands=d.num_bands_, rows=d.rows_, low_memory=False)
    if params["verify"] == "exact":
        params["verify"] = "none"  # the workers only sign; verification happens below
    extra: dict[str, str] = {}
    if d.keep == "score":
        extra["score"] = score_column  # type: ignore[assignment]
    elif d.keep == "first" and id_column is not None:
        extra["id"] = id_column
    docs = ds.map_batches(
        _sign_block,
        batch_format="pyarrow",
        fn_kwargs={
            "params": params,
            "text_column": text_column,
            "extra": extra,
            "text_payload": verify_on == "workers" and d.verify == "exact",
        },
        num_cpus=0.5,
    ).materialize()
    if verify_on == "workers":
        edges = [_worker_edges(docs, d, params, num_partitions)]
    else:
        edges = _driver_edges(docs, ds, d, text_column, num_partitions)
    # Per-row columns the driver needs (8-16 bytes per document).
    meta_cols = ["n_shingles", *(["length"] if d.keep == "longest" else []), *extra]
    meta = _by_pos(collect(docs.select_columns([POS, *meta_cols])))
    if components == "ray":
        roots = connected_components(edges, n, num_shards=num_partitions)
    else:
        roots = union_components(n, edges)
    col = meta.column
    kept = choose_kept(
        roots,
        d.keep,
        ids=col("id") if "id" in extra else None,
        scores=col("score").to_numpy(zero_copy_only=False) if d.keep == "score" else None,
        lengths=col("length").to_numpy() if d.keep == "longest" else None,
    )
    return DedupResult(
        cluster_id=kept.cluster_id,
        keep_mask=kept.keep_mask,
        duplicate_of=kept.duplicate_of,
        n_shingles=col("n_shingles").to_numpy(),
        num_bands=d.num_bands_,
        rows=d.rows_,
        dataset=ds,
        n_edges=sum(len(e) for e in edges),
    )
