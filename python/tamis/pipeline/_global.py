"""Cross-shard steps with small, resumable global state.

Dedup (signatures per shard, clusters once) and DSIR (counts per shard, model once, candidates
per shard, global top-k once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tamis.output import atomic_path, save_npz
from tamis.pipeline._registry import (
    parse_args,
)
from tamis.pipeline._run import StepContext
from tamis.pipeline._shards import batches, id_name, shard_rows, shared_argv, step_argv, write_shard

# -- dedup ------------------------------------------------------------------------------------------


def _dedup_args(ctx: StepContext) -> Any:
    argv = [str(p) for p in ctx.inputs] + ["-o", str(ctx.dir / "unused.parquet")]
    return parse_args("dedup", argv + shared_argv(ctx, "dedup") + step_argv(ctx))


def run_dedup(ctx: StepContext) -> tuple[list[Path], dict[str, Any]]:
    """MinHash dedup in three resumable stages.

    1. ``sign-<shard>``: the shard's signatures (and exact hashes), saved as ``sign/<shard>.npz``.
    2. ``cluster``: every shard's signatures in order, LSH, verification, union-find and the keep
       policy (the global state: 4 arrays of one number per document, ``clusters.npz``).
    3. ``keep-<shard>``: the shard's kept rows.

    The keep mask equals ``MinHashDeduplicator.fit`` over all documents at once (signatures are
    per document; the clusters are computed once over all of them).
    """
    from tamis.cli.dedup import _deduplicator
    from tamis.dedup import MinHashDeduplicator, SignedBatch

    args = _dedup_args(ctx)
    if args.keep == "score" and not args.score_column:
        raise ValueError(f"step {ctx.config.name}: keep: score needs score_column")
    tc = ctx.recipe.text_column
    d = _deduplicator(args)
    signs, counts = [], []
    for s in ctx.inputs:
        path = ctx.shard(s.stem, ".npz", "sign")

        def sign(s: Path = s, path: Path = path) -> dict[str, Any]:
            d.reset()
            n = 0
            for b in batches(ctx, s, []):
                d.add(b.column(tc))
                n += b.num_rows
            d.save(path)
            return {"rows": n}

        counts.append(ctx.unit(f"sign-{s.stem}", sign)["rows"])
        signs.append(path)
    clusters = ctx.dir / "clusters.npz"

    def cluster() -> dict[str, Any]:
        full = MinHashDeduplicator.load(signs[0])
        store = full.store_
        for p in signs[1:]:
            with np.load(p, allow_pickle=False) as z:
                store.append(SignedBatch(**{f: z[f] for f in store.fields}))
        if full.verify == "exact":
            full.add_shingle_sets(b.column(tc) for s in ctx.inputs for b in batches(ctx, s, []))
        ids = scores = None
        extra = [c for c in (args.score_column,) if c]
        if (ctx.recipe.id_column and args.keep == "first") or extra:
            cols = [pq.read_table(s, columns=[id_name(ctx), *extra]) for s in ctx.inputs]
            table = pa.concat_tables(cols)
            if ctx.recipe.id_column and args.keep == "first":
                ids = table.column(id_name(ctx)).to_numpy(zero_copy_only=False)
            if extra:
                scores = table.column(extra[0]).to_numpy(zero_copy_only=False).astype(np.float64)
        full.cluster(ids=ids, scores=scores)
        save_npz(
            clusters,
            "dedup",
            full.get_params(),
            keep=full.keep_mask_,
            cluster_id=full.cluster_id_,
            duplicate_of=full.duplicate_of_,
            n_shingles=full.n_shingles_,
        )
        return {"rows": len(full.keep_mask_), "kept": int(full.keep_mask_.sum())}

    ctx.unit("cluster", cluster)
    with np.load(clusters, allow_pickle=False) as z:
        keep, cluster_id, n_shingles = z["keep"], z["cluster_id"], z["n_shingles"]
    outputs = []
    start = 0
    for s, n in zip(ctx.inputs, counts):
        out = ctx.shard(s.stem)

        def write(s: Path = s, out: Path = out, lo: int = start, hi: int = start + n) -> Any:
            table = pq.read_table(s).filter(pa.array(keep[lo:hi]))
            if table.num_rows:
                write_shard(table, out)
            return {"rows": table.num_rows}

        if ctx.unit(f"keep-{s.stem}", write)["rows"]:
            outputs.append(out)
        start += n
    sizes = np.bincount(cluster_id) if len(cluster_id) else np.zeros(0, np.int64)
    dup = sizes[sizes >= 2]
    size_counts = np.bincount(dup) if len(dup) else np.zeros(0, np.int64)
    stats = {
        "documents": len(keep),
        "kept": int(keep.sum()),
        "removed": int(len(keep) - keep.sum()),
        "empty_or_null": int((n_shingles == 0).sum()),
        "duplicate_clusters": len(dup),
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "cluster_sizes": {str(i): int(c) for i, c in enumerate(size_counts) if c},
        "drop_reasons": {"near-duplicate": int(len(keep) - keep.sum())},
    }
    return outputs, stats


# -- dsir -------------------------------------------------------------------------------------------


def run_dsir(ctx: StepContext) -> tuple[list[Path], dict[str, Any]]:
    """DSIR in resumable stages.

    Target counts, per-shard raw counts (``count-<shard>``), the fit (from the summed counts: equal to a fit over all shards), per-shard weights and top-k
    candidates (``scan-<shard>``), then the global top-k of the candidates (``select``).

    A sort key depends only on ``(seed, target, id)``, and every global winner is a winner of
    its shard, so the selection equals ``ImportanceResampler.resample`` over all shards.
    """
    from tamis.cli.dsir import _resampler
    from tamis.importance import model, stream

    p = ctx.config.params
    targets = p["target"] if isinstance(p["target"], list) else [p["target"]]
    targets = [_local_input(ctx, t, i) for i, t in enumerate(targets)]
    argv = ["--target", *targets, "--raw", *[str(s) for s in ctx.inputs], "-o", "unused.parquet"]
    argv += shared_argv(ctx, "dsir") + step_argv(ctx, skip=("target",))
    args = parse_args("dsir", argv)
    if args.method == "replacement":
        raise ValueError(f"step {ctx.config.name}: method replacement is not resumable; use gumbel")
    r = _resampler(args)
    tc, idc = ctx.recipe.text_column, id_name(ctx)
    tpath = ctx.shard("target_counts", ".npy", ".")

    def count_targets() -> dict[str, Any]:
        tgt = list(args.target)
        target: Any = tgt if args.separate_targets or len(tgt) > 1 else tgt[0]
        sources = model.target_sources(target, separate_targets=r.separate_targets)
        counts = np.stack([r.count(t) for t in sources])
        _save_npy(tpath, counts)
        return {"targets": len(sources)}

    ctx.unit("target", count_targets)
    raw_counts = np.zeros(r.n_buckets, np.uint64)
    rows = []
    for s in ctx.inputs:
        path = ctx.shard(s.stem, ".npy", "counts")

        def count(s: Path = s, path: Path = path) -> dict[str, Any]:
            _save_npy(path, r.count(s))
            return {"rows": shard_rows(s)}

        rows.append(ctx.unit(f"count-{s.stem}", count)["rows"])
        raw_counts += np.load(path)
    r.fit_counts(np.load(tpath), raw_counts)
    ks = stream.target_ks(r.model_, args.k)
    start, eligible, cands = 0, 0, []
    for s, n in zip(ctx.inputs, rows):
        cand = ctx.shard(s.stem, ".parquet", "candidates")
        wpath = ctx.shard(s.stem, ".npy", "weights")

        def scan(s: Path = s, cand: Path = cand, wpath: Path = wpath, lo: int = start) -> Any:
            st = stream.TopKState.start(ks, method=args.method, batch_size=r.batch_size)
            weights = []
            for b in batches(ctx, s):
                pos = np.arange(lo + st.n_rows, lo + st.n_rows + b.num_rows, dtype=np.uint64)
                sc = stream.scan_batch(st, r.model_, b.column(tc), b.column(idc), pos, seed=r.seed)
                weights.append(sc.log_weights.astype(np.float32))
                if sc.kept.any():
                    i = np.flatnonzero(sc.kept)
                    rows_ = stream.annotate_rows(
                        b.take(pa.array(i)), pos[i], sc.log_weights[i], sc.keys[i]
                    )
                    st.rows.add(rows_, live=st.live_positions)
                st.n_rows += b.num_rows
                st.n_eligible += int(sc.eligible.sum())
            table = st.rows.table() if st.rows.tables else None
            if table is not None:
                live = np.isin(table.column(stream.POS).to_numpy(), st.live_positions())
                write_shard(table.filter(pa.array(live)), cand)
            _save_npy(wpath, np.concatenate(weights) if weights else np.zeros((0, 1), np.float32))
            return {"eligible": st.n_eligible, "candidates": table is not None}

        info = ctx.unit(f"scan-{s.stem}", scan)
        eligible += info["eligible"]
        if info["candidates"]:
            cands.append(cand)
        start += n
    out = ctx.shard("00000")

    def select() -> dict[str, Any]:
        st = stream.TopKState.start(ks, method=args.method, batch_size=r.batch_size)
        st.n_rows, st.n_eligible = start, eligible
        for c in cands:
            t = pq.read_table(c)
            pos = np.ascontiguousarray(t.column(stream.POS).to_numpy(), dtype=np.uint64)
            keys = t.column(stream.KEYS).combine_chunks().flatten().to_numpy()
            idh = stream.id_hashes(t.column(idc))
            st.push(keys.reshape(t.num_rows, -1), idh, pos, np.ones(t.num_rows, bool))
            st.rows.add(t, live=st.live_positions)
        pos, tgt = stream.resolve(st, seed=r.seed, min_length=r.min_length)
        table = stream.collect(st, pos, tgt, separate_targets=r.separate_targets)
        write_shard(table, out)
        kl = r.kl_reduction(table.select([tc, idc])) if table.num_rows else float("nan")
        return {"rows": table.num_rows, "kl_reduction": kl}

    info = ctx.unit("select", select)
    stats = {
        "documents": start,
        "eligible": eligible,
        "selected": info["rows"],
        "k": args.k,
        "method": args.method,
        "kl_reduction": info["kl_reduction"],
        "drop_reasons": {
            "below min_length": start - eligible,
            "not selected": eligible - info["rows"],
        },
    }
    return [out], stats


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, arr)


def _local_input(ctx: StepContext, inp: str, i: int) -> str:
    """A step's input file parameter: URLs are copied into the step folder first."""
    from tamis.io.urls import fetch, is_url

    if not is_url(inp):
        return inp
    dest = ctx.shard(inp.rstrip("/").rsplit("/", 1)[-1], "", f"inputs/{i:03d}")
    ctx.unit(f"fetch-target-{i:03d}", lambda: {"bytes": fetch(inp, dest).stat().st_size})
    return str(dest)
