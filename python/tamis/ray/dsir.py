"""DSIR on Ray: per-block bucket counts, per-block top-k candidates, the global top-k.

Every step is a call of the engine the local estimator runs (:mod:`tamis.importance.model`,
:mod:`tamis.importance.stream`): the workers count (``count_ngrams``) and scan their blocks
(``scan_batch``: weights, keys, one ``TopKState`` per block) and send the candidates
(``annotate_rows``: ~40 bytes each); the driver pushes them all into one ``TopKState``, fetches
the rows of the live candidates and runs ``resolve`` and ``collect``. A key depends only on
``(seed, target, id)`` and every global winner is a winner of its block, so the result is the
local one for any number of blocks.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis._base import check_is_fitted
from tamis._validation import check_seed
from tamis.importance import ImportanceResampler, model, stream
from tamis.ray._context import POS, _gather_rows, collect, init
from tamis.ray._read import read_dataset, row_numbered

#: The estimator a worker last rebuilt, by the key of its state (one at a time).
_CACHE: dict[str, ImportanceResampler] = {}


def _resampler(state: dict[str, Any]) -> ImportanceResampler:
    """The estimator rebuilt from its parameters (and fitted from the broadcast counts)."""
    key = state["key"]
    if key not in _CACHE:
        params = dict(state["params"])
        params["ngram_range"] = tuple(params["ngram_range"])
        r = ImportanceResampler(**params)
        if state["target_counts"] is not None:
            # Shares left to the counts are recomputed from the same counts.
            r.fit_counts(state["target_counts"], state["raw_counts"])
        _CACHE.clear()
        _CACHE[key] = r
    return _CACHE[key]


def _state(r: ImportanceResampler, fitted: bool) -> dict[str, Any]:
    """What a worker needs to rebuild ``r``: its parameters (and counts), and a key for them."""
    params = r.get_params()
    st: dict[str, Any] = {"params": params, "target_counts": None, "raw_counts": None}
    digest = [json.dumps(params, sort_keys=True, default=str)]
    if fitted:
        st.update(target_counts=r.target_counts_, raw_counts=r.raw_counts_)
        digest += [str(hash(r.target_counts_.tobytes())), str(hash(r.raw_counts_.tobytes()))]
    st["key"] = "|".join(digest)
    return st


def _count_batch(batch: pa.Table, state: dict[str, Any]) -> pa.Table:
    if not batch.num_rows:  # an empty file's block may have no columns
        return pa.table({"counts": pa.array([], pa.binary())})
    r = _resampler(state)
    out = model.count_ngrams(r.featurizer, [batch], text_column=r.text_column)
    return pa.table({"counts": pa.array([out.tobytes()], pa.binary())})


def _ray_counts(r: ImportanceResampler, source: Any, num_blocks: Optional[int]) -> np.ndarray:
    ds = read_dataset(source, text_column=r.text_column)
    if num_blocks is not None:
        ds = ds.repartition(num_blocks)
    counts = ds.map_batches(
        _count_batch,
        batch_format="pyarrow",
        batch_size=r.batch_size,
        fn_kwargs={"state": _state(r, False)},
        num_cpus=0.5,
    )
    total = np.zeros(r.n_buckets, dtype=np.uint64)
    table = collect(counts)
    for b in table.column("counts").to_pylist() if table.num_rows else []:
        total += np.frombuffer(b, dtype=np.uint64)
    return total


def dsir_fit(
    r: ImportanceResampler, target: Any, raw: Any, *, num_blocks: Optional[int] = None
) -> ImportanceResampler:
    """Fit an :class:`~tamis.ImportanceResampler` with counts computed per block on Ray.

    The counts (:func:`tamis.importance.model.count_ngrams` of each block) are summed on the
    driver, so the fitted model equals ``r.fit(target, raw)``.
    """
    init()
    sources = model.target_sources(target, separate_targets=r.separate_targets)
    tc = np.stack([_ray_counts(r, s, num_blocks) for s in sources])
    rc = _ray_counts(r, raw, num_blocks)
    return r.fit_counts(tc, rc)


def _dsir_block(batch: pa.Table, state: dict[str, Any], k: int, method: str, seed: int) -> pa.Table:
    """A block's top-k candidates: id hash, position, weights and keys (``stream.scan_batch``)."""
    r = _resampler(state)
    top = stream.TopKState.start(stream.target_ks(r.model_, k), method=method)
    text = batch.column(r.text_column).combine_chunks()
    positions = np.ascontiguousarray(batch.column(POS).to_numpy(), dtype=np.uint64)
    ids = batch.column(r.id_column or "id")
    scan = stream.scan_batch(top, r.model_, text, ids, positions, seed=seed)
    sel = np.flatnonzero(scan.kept)
    # Only the small columns travel to the driver (~40 bytes per candidate); the rows themselves
    # are fetched for the live candidates afterwards.
    rb = pa.RecordBatch.from_arrays([pa.array(scan.id_hashes[sel], pa.uint64())], names=["__idh"])
    out = stream.annotate_rows(rb, positions[sel], scan.log_weights[sel], scan.keys[sel])
    n = out.num_rows
    first = positions.min() if len(positions) else 0
    out = out.append_column("__batch", pa.array(np.full(n, first, np.uint64)))
    return out.append_column("__eligible", pa.array(np.full(n, int(scan.eligible.sum()), np.int64)))


def dsir_resample(
    r: ImportanceResampler,
    raw: Any,
    k: int,
    *,
    method: str = "gumbel",
    seed: Optional[int] = None,
    num_blocks: Optional[int] = None,
) -> pa.Table:
    """:meth:`ImportanceResampler.resample` with the weights and per-block top-k on Ray.

    Returns the same table as the local method (input columns + ``log_weight`` + key [+
    ``target``]) for any number of blocks. ``seed``: default the estimator's.
    ``method="replacement"`` is not supported.
    """
    init()
    if method == "replacement":
        raise ValueError("method='replacement' is not supported by the Ray backend")
    check_is_fitted(r, "model_", "tamis.ray.dsir_fit(), fit() or load()")
    k = stream.check_selection(k, method, separate_targets=r.separate_targets)
    seed = r.seed if seed is None else check_seed(seed)
    ds, n_rows = row_numbered(
        raw, text_column=r.text_column, id_column=r.id_column, num_blocks=num_blocks
    )
    cand = ds.map_batches(
        _dsir_block,
        batch_format="pyarrow",
        batch_size=r.batch_size,
        fn_kwargs={"state": _state(r, True), "k": k, "method": method, "seed": seed},
        num_cpus=0.5,
    )
    table = collect(cand)
    state = stream.TopKState.start(stream.target_ks(r.model_, k), method=method)
    state.n_rows = n_rows
    if table.num_rows:
        _, first = np.unique(table.column("__batch").to_numpy(), return_index=True)
        state.n_eligible = int(table.column("__eligible").to_numpy()[first].sum())
        positions = np.ascontiguousarray(table.column(stream.POS).to_numpy(), dtype=np.uint64)
        idh = np.ascontiguousarray(table.column("__idh").to_numpy(), dtype=np.uint64)
        keys = table.column(stream.KEYS).combine_chunks().flatten().to_numpy()
        state.push(keys.reshape(table.num_rows, -1), idh, positions, np.ones(len(idh), bool))
        live = state.live_positions()
        table = table.filter(pa.array(np.isin(positions, live)))
        table = table.take(pa.array(np.argsort(table.column(stream.POS).to_numpy(), kind="stable")))
        rows = _gather_rows(ds, live)
        rows = rows.append_column(stream.WEIGHTS, table.column(stream.WEIGHTS))
        state.rows.add(rows.append_column(stream.KEYS, table.column(stream.KEYS)))
    pos, tgt = stream.resolve(state, seed=seed, min_length=r.min_length)
    return stream.collect(state, pos, tgt, separate_targets=r.separate_targets)
