"""Ray Data backend: the local pipelines (DSIR, MinHash dedup, model scoring) on a Ray cluster.

Needs the ``ray`` extra (``pip install 'tamis[ray]'``); the rest of tamis never imports Ray. Every
per-block step calls the same Rust functions as the local backend, and the results are the same
for any number of blocks:

* Reading: the driver lists the files (``tamis.io.list_files``, made absolute) and one Ray task
  per file reads it with ``tamis.io.read_batches``, the local reader (same ids, checks, formats).
* DSIR: per-block bucket counts (``HashingFeaturizer.count``) summed on the driver, the fitted
  model broadcast, per-block log weights + Gumbel top-k (``_core.TopK``, keys from
  ``_core.gumbel_noise`` of the id hash), then the global top-k on the driver from the per-block
  candidates (exact: every global winner is a winner of its block).
* MinHash dedup: per-block signatures, band keys and exact text hashes; a Ray groupby on the band
  key keeps the buckets with two or more rows; the driver verifies them with
  ``_core.edges_from_keys`` (signatures, or shingle sets, of the candidate rows only) and joins
  the components with ``_core.union_roots`` (4 bytes per document).
* Scoring: an actor pool (``ActorPoolStrategy``) of :class:`tamis.LMScorer` replicas, each with
  ``num_gpus``.

Rows are numbered once (``__pos``, a global row number in input order); from then on no step
depends on block order or size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis.io import buffers

__all__ = [
    "DedupResult",
    "connected_components",
    "dedup",
    "dsir_fit",
    "dsir_resample",
    "read_dataset",
    "row_numbered",
    "score",
]

POS = "__pos"


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the Ray backend needs Ray Data: pip install 'tamis[ray]' (ray[data])"
        ) from e
    return ray


def init(address: Optional[str] = None, **kwargs: Any) -> Any:
    """Connect to (or start) a Ray cluster unless one is already connected; order-preserving."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, **kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    return ray


# -- input ----------------------------------------------------------------------------------------


def read_dataset(source: Any, *, text_column: str = "text", id_column: Optional[str] = None) -> Any:
    """A Ray Dataset of a corpus.

    ``source``: a Ray Dataset, an Arrow table, a list of texts, or paths / globs / folders of any
    format the local reader takes (Parquet, JSON lines, ``.jsonl.gz``, ``.jsonl.zst``, ...). Files
    are listed on the driver (:func:`tamis.io.list_files`, relative paths made absolute there) and
    each is read in a Ray task by :func:`tamis.io.read_batches`, the local reader: the same
    columns, ``"<file>:<row>"`` ids, UTF-8 checks, compression and errors as the local backend.
    """
    return _read(source, text_column, id_column)


def _read(source: Any, text_column: str, id_column: Optional[str] = None) -> Any:
    from tamis.io import _file_names, is_path_source, list_files, scan_schema

    ray = init()
    if isinstance(source, ray.data.Dataset):
        return source
    if isinstance(source, pa.Table):
        return ray.data.from_arrow(source)
    if not is_path_source(source):
        texts = list(source)
        return ray.data.from_arrow(pa.table({text_column: pa.array(texts, pa.large_string())}))
    files = list_files(source)
    names = _file_names(files)
    # The schema every batch of the local reader has (the files' schemas unified), checked here
    # on the driver before any task starts, as the local reader checks it before reading.
    schema = scan_schema(files, text_column, id_column)
    # Absolute on the driver: the workers of a joined cluster do not share its working directory.
    items = [{"path": os.path.abspath(f), "name": names[f]} for f in files]
    return ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _read_files,
        batch_format="pyarrow",
        batch_size=1,
        fn_kwargs={"text_column": text_column, "id_column": id_column, "schema": schema},
        num_cpus=0.5,
    )


def _read_files(
    items: pa.Table, text_column: str, id_column: Optional[str], schema: pa.Schema
) -> Iterator[pa.Table]:
    """The batches of the files named in ``items`` (``path``, ``name``), read by the local reader.

    ``read_batches`` of one file names its rows ``"<base name>:<row>"``; the local backend, which
    reads all the files at once, names them by the path relative to the files' common folder
    (``name``), so generated ids are renamed when the two differ. (A file's own ``id`` column,
    last and equal to ``"<base name>:<row>"``, would be taken for generated ones.) Every batch
    is then given ``schema``, the unified schema of all the files, as the local reader does.
    """
    from tamis.io import read_batches

    for path, name in zip(items.column("path").to_pylist(), items.column("name").to_pylist()):
        p = Path(path)
        row = 0
        for batch in read_batches(p, text_column=text_column, id_column=id_column):
            n = batch.num_rows
            if id_column is None and name != p.name and batch.schema.names[-1] == "id":
                made = pa.array([f"{p.name}:{i}" for i in range(row, row + n)], pa.string())
                if batch.column("id").equals(made):  # generated by the reader, not the file's
                    ids = pa.array([f"{name}:{i}" for i in range(row, row + n)], pa.string())
                    batch = batch.set_column(batch.num_columns - 1, "id", ids)
            row += n
            yield pa.Table.from_batches([_conform(batch, schema)])


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``: columns cast, the ones its file lacks null."""
    if batch.schema.equals(schema):
        return batch
    arrays = []
    for field in schema:
        i = batch.schema.get_field_index(field.name)
        col = batch.column(i) if i >= 0 else pa.nulls(batch.num_rows, field.type)
        arrays.append(col if col.type == field.type else col.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _num_rows(table: pa.Table) -> int:
    return table.num_rows


def _number_block(table: pa.Table, offset: int, text_column: str, id_column: Optional[str]) -> Any:
    """``__pos`` (and, for in-memory inputs without one, an ``id`` column: the row number)."""
    from tamis.io import _check_text

    table = table.combine_chunks()
    if text_column not in table.column_names:
        raise ValueError(f"no text column {text_column!r} (columns: {table.column_names})")
    batches = table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]
    table = pa.Table.from_batches([_check_text(b, text_column, "ray") for b in batches])
    pos = np.arange(offset, offset + table.num_rows, dtype=np.int64)
    id_name = id_column or "id"
    if id_name not in table.column_names:
        if id_column is not None:
            raise ValueError(f"no id column {id_column!r} (columns: {table.column_names})")
        table = table.append_column("id", pa.array(pos))
    return table.append_column(POS, pa.array(pos.astype(np.uint64)))


def row_numbered(
    source: Any,
    *,
    text_column: str = "text",
    id_column: Optional[str] = None,
    num_blocks: Optional[int] = None,
) -> tuple[Any, int]:
    """The dataset with a global row number column ``__pos``, and the row count.

    ``__pos`` numbers rows in input order; the ``id`` column is the local reader's (``file:row``
    for files, the row number for in-memory inputs) when the input has none.

    ``num_blocks`` repartitions first (the results of this module do not depend on it).
    """
    ray = init()
    ds = _read(source, text_column, id_column)
    if num_blocks is not None:
        ds = ds.repartition(num_blocks)
    refs = ds.to_arrow_refs()
    num_rows = ray.remote(num_cpus=0.25)(_num_rows)
    sizes = ray.get([num_rows.remote(r) for r in refs])
    # Empty blocks (an empty file gives one with no columns at all) carry nothing.
    refs = [r for r, s in zip(refs, sizes) if s]
    sizes = [s for s in sizes if s]
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
    number = ray.remote(num_cpus=0.25)(_number_block)
    out = [number.remote(r, int(o), text_column, id_column) for r, o in zip(refs, offsets[:-1])]
    return ray.data.from_arrow_refs(out), int(offsets[-1])


def _collect(ds: Any) -> pa.Table:
    ray = _ray()
    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="default")


# -- DSIR -----------------------------------------------------------------------------------------

_CACHE: dict[str, Any] = {}


def _resampler(state: dict[str, Any]) -> Any:
    """The estimator rebuilt from its parameters (and fitted from the broadcast counts)."""
    from tamis.importance import ImportanceResampler

    key = state["key"]
    if key not in _CACHE:
        params = dict(state["params"])
        params["ngram_range"] = tuple(params["ngram_range"])
        r = ImportanceResampler(**params)
        if state.get("target_counts") is not None:
            if r.separate_targets and r.target_proportions is None:
                r.target_proportions = [float(p) for p in state["target_proportions"]]
            r._fit_counts(state["target_counts"], state["raw_counts"])
        _CACHE.clear()
        _CACHE[key] = r
    return _CACHE[key]


def _state(r: Any, fitted: bool) -> dict[str, Any]:
    params = r.get_params()
    st: dict[str, Any] = {"params": params, "target_counts": None}
    if fitted:
        st.update(
            target_counts=r.target_counts_,
            raw_counts=r.raw_counts_,
            target_proportions=r.target_proportions_,
        )
    digest = [json.dumps(params, sort_keys=True, default=str)]
    if fitted:
        digest += [str(hash(r.target_counts_.tobytes())), str(hash(r.raw_counts_.tobytes()))]
    st["key"] = "|".join(digest)
    return st


def _count_batch(batch: pa.Table, state: dict[str, Any]) -> pa.Table:
    r = _resampler(state)
    out = np.zeros(r.n_buckets, dtype=np.uint64)
    if not batch.num_rows:  # an empty file's block may have no columns
        return pa.table({"counts": pa.array([], pa.binary())})
    col = batch.column(r.text_column).combine_chunks()
    r.featurizer.count(col, out=out)
    return pa.table({"counts": pa.array([out.tobytes()], pa.binary())})


def _ray_counts(r: Any, source: Any, num_blocks: Optional[int]) -> np.ndarray:
    ds = read_dataset(source, text_column=r.text_column)
    if num_blocks is not None:
        ds = ds.repartition(num_blocks)
    st = _state(r, False)
    counts = ds.map_batches(
        _count_batch,
        batch_format="pyarrow",
        batch_size=r.batch_size,
        fn_kwargs={"state": st},
        num_cpus=0.5,
    )
    total = np.zeros(r.n_buckets, dtype=np.uint64)
    for b in _collect(counts).column("counts").to_pylist() if counts is not None else []:
        total += np.frombuffer(b, dtype=np.uint64)
    return total


def dsir_fit(r: Any, target: Any, raw: Any, *, num_blocks: Optional[int] = None) -> Any:
    """Fit an :class:`~tamis.ImportanceResampler` with counts computed per block on Ray.

    The counts (``featurizer.count`` of each block) are summed on the driver, so the fitted model
    equals ``r.fit(target, raw)``.
    """
    init()
    sources = r._target_sources(target)
    tc = np.stack([_ray_counts(r, s, num_blocks) for s in sources])
    rc = _ray_counts(r, raw, num_blocks)
    r._fit_counts(tc, rc)
    return r


def _dsir_block(batch: pa.Table, state: dict[str, Any], k: int, method: str, seed: int) -> pa.Table:
    """Per-block weights, keys and top-k candidates: the body of ``ImportanceResampler._stream``."""
    from tamis.importance import _id_hashes

    r = _resampler(state)
    ks = r._ks(k)
    tops = [_core.TopK(c) for c in _core.sequential_capacities(ks)]
    id_name = r.id_column or "id"
    text = batch.column(r.text_column).combine_chunks()
    w, ntok = r._score_array(text)
    elig = (ntok >= r.min_length) & text.is_valid().to_numpy(zero_copy_only=False)
    positions = np.ascontiguousarray(batch.column(POS).to_numpy(), dtype=np.uint64)
    idh = _id_hashes(batch.column(id_name))
    any_kept = np.zeros(batch.num_rows, dtype=bool)
    keys = []
    for t, top in enumerate(tops):
        key = np.ascontiguousarray(w[:, t])
        if method == "gumbel":
            key = key + _core.gumbel_noise(idh, seed=seed, target=t)
        keys.append(key)
        any_kept |= top.push(key, idh, positions, elig)
    sel = np.flatnonzero(any_kept)
    # Only the small columns travel to the driver (~40 bytes per candidate); the rows themselves
    # are fetched for the k winners afterwards.
    rb = pa.RecordBatch.from_arrays([pa.array(idh[sel], pa.uint64())], names=["__idh"])
    out = r._annotate(rb, positions[sel], w[sel], np.stack(keys, axis=1)[sel])
    n = out.num_rows
    first = positions.min() if len(positions) else 0
    out = out.append_column("__batch", pa.array(np.full(n, first, np.uint64)))
    return out.append_column("__eligible", pa.array(np.full(n, int(elig.sum()), np.int64)))


def dsir_resample(
    r: Any,
    raw: Any,
    k: int,
    *,
    method: str = "gumbel",
    random_state: Optional[int] = None,
    num_blocks: Optional[int] = None,
) -> pa.Table:
    """:meth:`ImportanceResampler.resample` with the weights and per-block top-k on Ray.

    Returns the same table as the local method (input columns + ``log_weight`` + key [+
    ``target``]) for any number of blocks. ``method="replacement"`` is not supported.
    """
    init()
    if method == "replacement":
        raise ValueError("method='replacement' is not supported by the Ray backend")
    k, seed = r._check_select(k, method, random_state)
    ds, n_rows = row_numbered(
        raw, text_column=r.text_column, id_column=r.id_column, num_blocks=num_blocks
    )
    st = _state(r, True)
    cand = ds.map_batches(
        _dsir_block,
        batch_format="pyarrow",
        batch_size=r.batch_size,
        fn_kwargs={"state": st, "k": k, "method": method, "seed": seed},
        num_cpus=0.5,
    )
    table = _collect(cand)
    ks = r._ks(k)
    tops = [_core.TopK(c) for c in _core.sequential_capacities(ks)]
    n_eligible = 0
    kept = []
    if table.num_rows:
        _, first = np.unique(table.column("__batch").to_numpy(), return_index=True)
        n_eligible = int(table.column("__eligible").to_numpy()[first].sum())
        positions = np.ascontiguousarray(table.column(POS).to_numpy(), dtype=np.uint64)
        idh = np.ascontiguousarray(table.column("__idh").to_numpy(), dtype=np.uint64)
        keys = table.column("__key").combine_chunks().flatten().to_numpy()
        keys = keys.reshape(table.num_rows, -1)
        elig = np.ones(table.num_rows, dtype=bool)
        for t, top in enumerate(tops):
            top.push(np.ascontiguousarray(keys[:, t]), idh, positions, elig)
        live = np.unique(np.concatenate([t.entries()[2] for t in tops]))
        table = table.filter(pa.array(np.isin(positions, live)))
        rows = _collect(
            ds.map_batches(
                _take_rows,
                batch_format="pyarrow",
                fn_kwargs={"rows": live, "columns": None},
                num_cpus=0.5,
            )
        )
        order = np.argsort(rows.column(POS).to_numpy(), kind="stable")
        rows = rows.take(pa.array(order))
        order = np.argsort(table.column(POS).to_numpy(), kind="stable")
        table = table.take(pa.array(order))
        rows = rows.append_column("__w", table.column("__w"))
        kept = [rows.append_column("__key", table.column("__key"))]
    state = {
        "ks": ks,
        "tops": tops,
        "weights": [],
        "eligible": [],
        "kept": kept,
        "n_rows": n_rows,
        "n_eligible": n_eligible,
    }
    pos, tgt = r._resolve(state, k, method, seed)
    return r._collect(state, pos, tgt, method)


# -- MinHash dedup --------------------------------------------------------------------------------


def _deduplicator(params: dict[str, Any]) -> Any:
    from tamis.dedup import MinHashDeduplicator

    key = "dedup|" + json.dumps(params, sort_keys=True, default=str)
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
    """Per-block signatures, band keys and exact hashes (the calls of ``MinHashDeduplicator.add``)."""
    import pyarrow.compute as pc

    d = _deduplicator(params)
    text = batch.column(text_column).combine_chunks()
    bufs = buffers(text)
    s, c = d._hasher.signatures(*bufs, d.n_threads)
    keys = _core.band_keys(s, num_bands=d.num_bands_, rows=d.rows_, n_threads=d.n_threads)
    n = batch.num_rows
    cols: dict[str, Any] = {
        POS: batch.column(POS),
        "n_shingles": pa.array(c, pa.uint64()),
        "sig": pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(4 * d.num_perm), n, [None, pa.py_buffer(np.ascontiguousarray(s).tobytes())]
        ),
        "keys": pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(8 * d.num_bands_),
            n,
            [None, pa.py_buffer(np.ascontiguousarray(keys).tobytes())],
        ),
    }
    if d.exact:
        h, ok = _core.text_hashes(
            *bufs,
            lowercase=d.lowercase,
            nfkc=d.nfkc,
            strip_punctuation=d.strip_punctuation,
            fold_whitespace=d.fold_whitespace,
            n_threads=d.n_threads,
        )
        cols.update(h0=pa.array(h[:, 0]), h1=pa.array(h[:, 1]), hash_ok=pa.array(ok))
    if d.keep == "longest":
        cols["length"] = pc.cast(pc.fill_null(pc.binary_length(text), 0), pa.float64())
    for name, col in extra.items():
        cols[name] = batch.column(col)
    if text_payload:
        cols["__text"] = text
    return pa.table(cols)


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


def _take_rows(batch: pa.Table, rows: Any, columns: Optional[list[str]]) -> pa.Table:
    """The rows of a block whose ``__pos`` is in ``rows`` (``columns``: ``None`` for all)."""
    pos = batch.column(POS).to_numpy()
    out = batch.filter(pa.array(np.isin(pos, rows)))
    return out if columns is None else out.select([POS, *columns])


def _group_edges(group: pa.Table, params: dict[str, Any], verify: str) -> pa.Table:
    """Edges of one key on a worker: verified LSH spanning forest + exact-hash roots."""
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
            roots = _core.exact_roots(np.ascontiguousarray(h[first]), np.ones(len(uniq), bool))
            out.append(np.stack([uniq, uniq[roots.astype(np.int64)]], axis=1).astype(np.int64))
            continue
        sig = set_indptr = set_hashes = None
        payload = g.column("payload").combine_chunks().take(pa.array(first))
        if verify == "estimate":
            raw = np.frombuffer(payload.buffers()[1], np.uint32)[payload.offset * d.num_perm :]
            sig = np.ascontiguousarray(raw[: len(uniq) * d.num_perm].reshape(len(uniq), -1))
        elif verify == "exact":
            set_indptr, set_hashes = d._hasher.shingle_sets(*buffers(payload), 1)
        e = _core.edges_from_keys(
            np.ascontiguousarray(g.column("key").to_numpy(), dtype=np.uint64),
            local.astype(np.uint32),
            sig,
            threshold=d.threshold,
            verify=verify,
            set_indptr=set_indptr,
            set_hashes=set_hashes,
            n_threads=1,
        ).astype(np.int64)
        out.append(uniq[e].astype(np.int64))
    e = np.concatenate(out)
    return pa.table({"a": e[:, 0], "b": e[:, 1]})


def _worker_edges(
    docs: Any, d: Any, params: dict[str, Any], num_partitions: int, payload: Optional[str]
) -> np.ndarray:
    """Every edge (LSH verified, exact) computed on the workers; only edges reach the driver."""
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
    table = _collect(out)
    if not table.num_rows:
        return np.empty((0, 2), np.uint32)
    return np.stack([table.column("a").to_numpy(), table.column("b").to_numpy()], axis=1).astype(
        np.uint32
    )


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
    d: Any,
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
    candidate rows on the driver; ``"workers"`` joins them to the band records on Ray and
    verifies each bucket in ``map_groups``, so that only verified edges reach the driver.
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
        payload = {"estimate": "sig", "exact": "__text"}.get(d.verify)
        worker = _worker_edges(docs, d, params, num_partitions, payload)
        cand = pa.table({"kind": pa.array([], pa.uint8())})
    else:
        records = docs.map_batches(
            _records_block,
            batch_format="pyarrow",
            fn_kwargs={"num_bands": d.num_bands_, "exact": d.exact},
            num_cpus=0.5,
        )
        shared = records.groupby("key", num_partitions=num_partitions).map_groups(
            _shared_buckets, batch_format="pyarrow", num_cpus=0.5
        )
        cand = _collect(shared)
    # Per-row columns the driver needs (8-16 bytes per document).
    meta_cols = ["n_shingles", *(["length"] if d.keep == "longest" else []), *extra]
    meta = _collect(docs.select_columns([POS, *meta_cols]))
    order = np.argsort(meta.column(POS).to_numpy(), kind="stable")
    meta = meta.take(pa.array(order))
    n_shingles = meta.column("n_shingles").to_numpy()
    edges = [worker] if verify_on == "workers" else []
    if cand.num_rows:
        kind = cand.column("kind").to_numpy()
        rows_all = cand.column("row").to_numpy().astype(np.uint32)
        keys_all = cand.column("key").to_numpy()
        lsh = kind == 0
        if lsh.any():
            cand_rows = np.unique(rows_all[lsh])
            local = np.searchsorted(cand_rows, rows_all[lsh]).astype(np.uint32)
            sig = set_indptr = set_hashes = None
            if d.verify == "estimate":
                got = _collect(
                    docs.map_batches(
                        _take_rows,
                        batch_format="pyarrow",
                        fn_kwargs={"rows": cand_rows, "columns": ["sig"]},
                        num_cpus=0.5,
                    )
                )
                got = got.take(pa.array(np.argsort(got.column(POS).to_numpy(), kind="stable")))
                buf = got.column("sig").combine_chunks().buffers()[1]
                sig = np.frombuffer(buf, np.uint32)[: len(cand_rows) * d.num_perm]
                sig = np.ascontiguousarray(sig.reshape(len(cand_rows), d.num_perm))
            elif d.verify == "exact":
                got = _collect(
                    ds.map_batches(
                        _take_rows,
                        batch_format="pyarrow",
                        fn_kwargs={"rows": cand_rows, "columns": [text_column]},
                        num_cpus=0.5,
                    )
                )
                got = got.take(pa.array(np.argsort(got.column(POS).to_numpy(), kind="stable")))
                text = got.column(text_column).combine_chunks()
                set_indptr, set_hashes = d._hasher.shingle_sets(*buffers(text), d.n_threads)
            e = _core.edges_from_keys(
                np.ascontiguousarray(keys_all[lsh]),
                local,
                sig,
                threshold=d.threshold,
                verify=d.verify,
                set_indptr=set_indptr,
                set_hashes=set_hashes,
                n_threads=d.n_threads,
            )
            edges.append(cand_rows[e.astype(np.int64)].astype(np.uint32))
        ex = ~lsh
        if ex.any():
            rows = rows_all[ex]
            hashes = np.ascontiguousarray(
                np.stack([keys_all[ex], cand.column("h1").to_numpy()[ex]], axis=1)
            )
            roots = _core.exact_roots(hashes, np.ones(len(rows), bool))
            edges.append(np.stack([rows, rows[roots.astype(np.int64)]], axis=1))
    all_edges = np.concatenate(edges) if edges else np.empty((0, 2), np.uint32)
    if components == "ray":
        roots = connected_components(edges, n, num_shards=num_partitions)
    else:
        roots = _core.union_roots(n, np.ascontiguousarray(all_edges, dtype=np.uint32))
    priority = None
    if d.keep == "score":
        priority = np.ascontiguousarray(
            meta.column("score").to_numpy(zero_copy_only=False), dtype=np.float64
        )
    elif d.keep == "longest":
        priority = np.ascontiguousarray(meta.column("length").to_numpy(), dtype=np.float64)
    elif "id" in extra:
        ids = np.asarray(meta.column("id").to_numpy(zero_copy_only=False))
        rank = np.empty(n, np.float64)
        rank[np.argsort(ids, kind="stable")] = np.arange(n, dtype=np.float64)
        priority = -rank
    keep, dup = _core.keep_policy(roots, priority)
    return DedupResult(
        cluster_id=roots.astype(np.int64),
        keep_mask=keep,
        duplicate_of=dup,
        n_shingles=n_shingles,
        num_bands=d.num_bands_,
        rows=d.rows_,
        dataset=ds,
        n_edges=len(all_edges),
    )


# -- scoring --------------------------------------------------------------------------------------


class _ScoreActor:
    def __init__(self, kwargs: dict[str, Any], text_column: str, metrics: Any) -> None:
        from tamis.scoring import LMScorer

        self.scorer = LMScorer(**kwargs)
        self.text_column = text_column
        self.metrics = metrics

    def __call__(self, batch: pa.Table) -> pa.Table:
        if not batch.num_rows:  # an empty file's block may have no columns
            return batch
        scores = self.scorer.score(batch.column(self.text_column), self.metrics)
        for name in scores.column_names:
            batch = batch.append_column(name, scores.column(name))
        return batch


def score(
    source: Any,
    *,
    model: Any,
    tokenizer: Any = None,
    text_column: str = "text",
    metrics: Any = None,
    num_actors: int = 1,
    num_gpus: float = 0.0,
    num_cpus: float = 1.0,
    batch_size: int = 256,
    **scorer_kwargs: Any,
) -> Any:
    """Score documents with :class:`tamis.LMScorer` replicas in a Ray actor pool.

    Each actor holds one model (``num_gpus`` per actor; the device defaults to CUDA when the actor
    has a GPU). Returns a lazy Ray Dataset: the input columns plus the score columns.
    """
    ray = init()
    ds = read_dataset(source, text_column=text_column)
    kwargs = {"model": model, "tokenizer": tokenizer, **scorer_kwargs}
    if num_gpus and "device" not in kwargs:
        kwargs["device"] = "cuda"
    return ds.map_batches(
        _ScoreActor,
        batch_format="pyarrow",
        batch_size=batch_size,
        fn_constructor_kwargs={"kwargs": kwargs, "text_column": text_column, "metrics": metrics},
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_gpus=num_gpus,
        num_cpus=num_cpus,
    )


# -- distributed connected components -------------------------------------------------------------


def _split_by_source(edges: np.ndarray, num_shards: int, both: bool) -> list[np.ndarray]:
    """Directed edges ``(src, dst)`` (with both directions when ``both``) split by ``src`` shard."""
    if both:
        edges = np.concatenate([edges, edges[:, ::-1]])
    shard = (edges[:, 0].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    shard = (shard % np.uint64(num_shards)).astype(np.int64)
    order = np.argsort(shard, kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(num_shards + 1))
    return [edges[order[bounds[i] : bounds[i + 1]]] for i in range(num_shards)]


def _star(large: bool, num_shards: int, *parts: np.ndarray) -> tuple[Any, ...]:
    """One large-star (or small-star) step on the directed edges of one source shard.

    ``m(u) = min(u, neighbours of u)``; large-star links every neighbour ``v > u`` to ``m(u)``,
    small-star links every neighbour ``v <= u`` and ``u`` itself to ``m(u)`` (Kiveris et al.,
    "Connected Components in MapReduce and Beyond", SoCC 2014). Returns the new undirected edges
    split by shard for the next step (both directions), and the edge count and a checksum.
    """
    e = np.concatenate(parts) if parts else np.empty((0, 2), np.int64)
    e = np.unique(e, axis=0) if len(e) else e.reshape(0, 2)
    if len(e):
        src, dst = e[:, 0], e[:, 1]  # sorted by src (np.unique sorts rows)
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        mins = np.minimum(np.minimum.reduceat(dst, starts), src[starts])
        m = np.repeat(mins, np.diff(np.r_[starts, len(src)]))
        if large:
            sel = dst > src
            out = np.stack([dst[sel], m[sel]], axis=1)
        else:
            sel = dst <= src
            out = np.concatenate([np.stack([dst[sel], m[sel]], axis=1), np.stack([src, m], axis=1)])
        out = out[out[:, 0] != out[:, 1]]
        out = np.unique(np.sort(out, axis=1), axis=0)
    else:
        out = e
    checksum = int((out[:, 0] * 1_000_003 + out[:, 1]).sum() % (1 << 61)) if len(out) else 0
    return (*_split_by_source(out, num_shards, both=True), len(out), checksum)


def _split_task(edges: np.ndarray, num_shards: int) -> Any:
    parts = _split_by_source(edges, num_shards, both=True)
    return parts[0] if num_shards == 1 else tuple(parts)


def _final_roots(*parts: np.ndarray) -> np.ndarray:
    """``(node, root)`` pairs of one shard after convergence: every node's smallest neighbour."""
    e = np.concatenate(parts) if parts else np.empty((0, 2), np.int64)
    if not len(e):
        return np.empty((0, 2), np.int64)
    order = np.lexsort((e[:, 1], e[:, 0]))
    e = e[order]
    starts = np.flatnonzero(np.r_[True, e[1:, 0] != e[:-1, 0]])
    nodes = e[starts, 0]
    roots = np.minimum(np.minimum.reduceat(e[:, 1], starts), nodes)
    return np.stack([nodes, roots], axis=1)


def connected_components(
    edges: Any, n: int, *, num_shards: int = 4, max_rounds: int = 64
) -> np.ndarray:
    """Component roots (smallest member) of ``0..n`` by alternating large-star / small-star on Ray.

    The edge list never sits in one process: it lives in ``num_shards`` shards (Ray objects, one
    task per shard and step); the driver only sees two numbers per shard and step, and the final
    ``(node, root)`` pairs of the nodes that have edges. Gives what ``_core.union_roots(n, edges)``
    gives (tested); meant for edge lists larger than the driver's memory.

    Parameters
    ----------
    edges
        ``(m, 2)`` integer array, or a list of such arrays (e.g. one per worker).
    n
        Number of nodes.
    num_shards
        Hash shards of the edge list.
    max_rounds
        Safety bound on large-star + small-star rounds (O(log^2 n) are needed in the worst case,
        a handful in practice).
    """
    ray = init()
    chunks = edges if isinstance(edges, list) else [edges]
    chunks = [np.asarray(c, dtype=np.int64).reshape(-1, 2) for c in chunks]
    roots = np.arange(n, dtype=np.int64)
    if not sum(len(c) for c in chunks):
        return roots.astype(np.uint32)
    split = ray.remote(num_cpus=0.25)(_split_task).options(num_returns=num_shards)
    star = ray.remote(num_cpus=0.25)(_star).options(num_returns=num_shards + 2)
    parts = [split.remote(c, num_shards) for c in chunks]
    shards = [[p[i] if num_shards > 1 else p for p in parts] for i in range(num_shards)]
    prev = None
    for _ in range(max_rounds):
        state = []
        for large in (True, False):
            outs = [star.remote(large, num_shards, *shards[i]) for i in range(num_shards)]
            shards = [[o[j] for o in outs] for j in range(num_shards)]
            stats = ray.get([o[num_shards] for o in outs] + [o[num_shards + 1] for o in outs])
            state.append((sum(stats[:num_shards]), sum(stats[num_shards:]) % (1 << 61)))
        if state[-1] == prev and state[0] == state[1]:
            break
        prev = state[-1]
    else:
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    final = ray.remote(num_cpus=0.25)(_final_roots)
    for pairs in ray.get([final.remote(*shards[i]) for i in range(num_shards)]):
        roots[pairs[:, 0]] = pairs[:, 1]
    return roots.astype(np.uint32)
