"""Step runners: read, write, dedup and dsir shard by shard, and the adapter over any command.

Each runner takes a :class:`~tamis.pipeline._run.StepContext` and returns ``(output shards,
stats)``. Work is cut into units (a shard, or a small global computation) through
``ctx.unit(key, work)``, which skips units whose completion marker exists.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tamis.output import atomic_path, save_npz
from tamis.pipeline._registry import (
    SHARED,
    STEPS,
    CliStep,
    StepType,
    command_parser,
    parse_args,
    register,
)
from tamis.pipeline._run import StepContext

# -- shared helpers ---------------------------------------------------------------------------------


def write_shard(table: pa.Table, path: Path) -> None:
    """Write a shard atomically; no metadata, so equal tables give equal bytes."""
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(None), tmp)


def shard_rows(path: Path) -> int:
    """Rows of a Parquet shard (from its footer)."""
    return int(pq.read_metadata(path).num_rows)


def id_name(ctx: StepContext) -> str:
    """The id column of the shards (the recipe's, or the one the read step made)."""
    return ctx.recipe.id_column or "id"


def batches(ctx: StepContext, shard: Path, columns: list[str] | None = None) -> Iterator[Any]:
    """Record batches of one shard with the recipe's text/id columns."""
    from tamis.io import read_batches

    return read_batches(
        shard,
        text_column=ctx.recipe.text_column,
        id_column=ctx.recipe.id_column,
        columns=columns,
        batch_size=ctx.recipe.batch_size,
    )


def shared_argv(ctx: StepContext, command: str) -> list[str]:
    """The recipe-wide flags (text/id column, batch size, threads) the command has."""
    dests = {a.dest: a for a in command_parser(command)._actions}
    out: list[str] = []
    values = ctx.recipe.shared()
    if ctx.config.params.get("n_threads") is not None:
        values["n_threads"] = ctx.config.params["n_threads"]
    for name in SHARED:
        if name in dests and values[name] is not None:
            out += [dests[name].option_strings[0], str(values[name])]
    return out


def step_argv(ctx: StepContext, skip: tuple[str, ...] = ()) -> list[str]:
    """The step's own parameters as flags (but ``skip``)."""
    spec = STEPS[ctx.config.step].params()
    out: list[str] = []
    for name, value in sorted(ctx.config.params.items()):
        if name in spec and name not in SHARED and name not in skip:
            out += spec[name].argv(value)
    return out


@contextlib.contextmanager
def logged(ctx: StepContext) -> Iterator[None]:
    """Send what a command prints to ``<step>/step.log`` (``tamis run`` shows only the plan)."""
    with (
        open(ctx.dir / "step.log", "a", encoding="utf-8") as f,
        contextlib.redirect_stdout(f),
        contextlib.redirect_stderr(f),
    ):
        yield


# -- read -------------------------------------------------------------------------------------------


def run_read(ctx: StepContext) -> tuple[list[Path], dict[str, Any]]:
    """Inputs (remote ones copied in first) → shards of at most ``shard_rows`` rows.

    A unit is an input file: its shards and its marker; a killed run redoes at most that file.
    """
    from tamis.io import list_files, read_file
    from tamis.io.urls import fetch, is_url

    r = ctx.recipe
    local: list[Path] = []
    seen: set[str] = set()
    for i, inp in enumerate(r.inputs):
        if is_url(inp):
            # Copies sit side by side under their own names, so the ids created for them
            # ("<name>:<row>") are those of the same files read from one local folder.
            name = inp.rstrip("/").rsplit("/", 1)[-1]
            name = name if name not in seen else f"{i:03d}-{name}"
            seen.add(name)
            dest = ctx.shard(name, "", "inputs")

            def get(inp: str = inp, dest: Path = dest) -> dict[str, Any]:
                return {"url": inp, "bytes": fetch(inp, dest).stat().st_size}

            ctx.unit(f"fetch-{i:03d}", get)
            local.append(dest)
        else:
            local.append(Path(inp))
    files = list_files(local)
    outputs: list[Path] = []
    rows = 0
    for fi, f in enumerate(files):

        def work(f: Path = f, fi: int = fi) -> dict[str, Any]:
            names: list[str] = []
            buf: list[pa.RecordBatch] = []
            n = total = 0

            def flush(upto: int) -> None:
                nonlocal buf, n
                table = pa.Table.from_batches(buf)
                head, rest = table.slice(0, upto), table.slice(upto)
                name = f"{fi:05d}-{len(names):05d}"
                write_shard(head.combine_chunks(), ctx.shard(name))
                names.append(name)
                buf, n = rest.to_batches(), rest.num_rows

            for batch in read_file(
                files,
                f,
                text_column=r.text_column,
                id_column=r.id_column,
                batch_size=r.batch_size,
            ):
                buf.append(batch)
                n += batch.num_rows
                total += batch.num_rows
                while n >= r.shard_rows:
                    flush(r.shard_rows)
            if n:
                flush(n)
            return {"file": str(f), "shards": names, "rows": total}

        info = ctx.unit(f"file-{fi:05d}", work)
        outputs += [ctx.shard(name) for name in info["shards"]]
        rows += info["rows"]
    return outputs, {"files": len(files), "shards": len(outputs), "rows": rows}


# -- write ------------------------------------------------------------------------------------------


def run_write(ctx: StepContext) -> tuple[list[Path], dict[str, Any]]:
    """Concatenate the last step's shards into the recipe's output (a path or a URL)."""
    from tamis.io.urls import is_url, upload
    from tamis.output import open_sink

    out = str(ctx.recipe.output)
    remote = is_url(out)
    suffix = "".join(Path(out.rsplit("/", 1)[-1]).suffixes) or ".parquet"
    target = ctx.shard("output", suffix, ".") if remote else Path(out)
    params = {"steps": [s.resolved() | {"step": s.step} for s in ctx.recipe.steps]}

    def work() -> dict[str, Any]:
        schema = _schema(ctx.inputs)
        n = 0
        with open_sink(target, "run", params, schema=schema) as sink:
            for s in ctx.inputs:
                table = pq.read_table(s)
                n += table.num_rows
                if table.num_rows:
                    sink.write(table)
        if remote:
            upload(target, out)
        return {"rows": n, "output": out}

    info = ctx.unit("write", work)
    return list(ctx.inputs), {"rows": info["rows"], "output": out}


def _schema(shards: list[Path]) -> pa.Schema | None:
    return pq.read_schema(shards[0]).remove_metadata() if shards else None


# -- adapters over commands -------------------------------------------------------------------------


def _positional(command: str) -> str | None:
    for a in command_parser(command)._actions:
        if not a.option_strings and a.dest in ("inputs", "input"):
            return str(a.dest)
    return None


def _has(command: str, dest: str) -> bool:
    return any(a.dest == dest for a in command_parser(command)._actions)


def _call(ctx: StepContext, inputs: list[Path], output: Path | None, summary: Path | None) -> Any:
    st = STEPS[ctx.config.step]
    cmd = str(st.command)
    argv = [cmd]
    if _positional(cmd):
        argv += [str(p) for p in inputs]
    if output is not None:
        argv += ["-o", str(output)]
    if summary is not None and _has(cmd, "json"):
        argv += ["--json", str(summary)]
    if _has(cmd, "quiet"):
        argv += ["-q"]
    argv += shared_argv(ctx, cmd) + step_argv(ctx)
    args = parse_args(cmd, argv[1:])
    with logged(ctx):
        status = args.func(args)
    if status:
        raise RuntimeError(f"step {ctx.config.name}: tamis {cmd} exited with status {status}")
    return args


def _summary(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def run_command(ctx: StepContext) -> tuple[list[Path], dict[str, Any]]:
    """A step over a ``tamis`` command (modes ``map``, ``side``, ``whole``, ``inspect``)."""
    st = STEPS[ctx.config.step]
    mode = st.mode
    if mode in ("map", "side"):
        outputs: list[Path] = []
        summaries = {}
        for s in ctx.inputs:
            sub = "shards" if mode == "map" else "side"
            out = ctx.shard(s.stem, st.suffix, sub)
            js = ctx.shard(s.stem, ".json", "summaries")

            def work(s: Path = s, out: Path = out, js: Path = js) -> dict[str, Any]:
                _call(ctx, [s], out, js)
                n = shard_rows(out) if out.suffix == ".parquet" else None
                return {"rows": n}

            info = ctx.unit(f"shard-{s.stem}", work)
            summaries[s.stem] = _summary(js)
            if mode == "map" and info.get("rows") != 0:
                outputs.append(out)
        stats: dict[str, Any] = {"summaries": summaries}
        if mode == "map":
            n_in = sum(shard_rows(s) for s in ctx.inputs)
            n_out = sum(shard_rows(s) for s in outputs)
            stats["drop_reasons"] = {f"{ctx.config.step}: dropped": n_in - n_out}
        return (outputs if mode == "map" else list(ctx.inputs)), stats
    inputs = list(ctx.inputs)
    if st.single_input and len(inputs) != 1:
        merged = ctx.shard("merged", ".parquet", "input")
        ctx.unit("merge", lambda: {"rows": _merge(inputs, merged)})
        inputs = [merged]
    whole: Optional[Path] = None
    if mode == "whole":
        whole = ctx.shard("00000", st.suffix)
    elif mode == "side-whole":
        whole = ctx.shard("00000", st.suffix, "side")
    js = ctx.shard("summary", ".json", ".")
    ctx.unit("all", lambda: (_call(ctx, inputs, whole, js), {})[1])
    stats = {"summary": _summary(js)}
    return ([whole] if mode == "whole" and whole else list(ctx.inputs)), stats


def _merge(inputs: list[Path], out: Path) -> int:
    tables = [pq.read_table(s) for s in inputs]
    table = pa.concat_tables(tables, promote_options="default")
    write_shard(table, out)
    return int(table.num_rows)


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


# -- the registry -----------------------------------------------------------------------------------

#: The first and last step of every run (not named in recipes).
READ = StepType("read", "native", "inputs into shards", runner=run_read)
WRITE = StepType("write", "native", "the last shards into the output", runner=run_write)

register(CliStep("stats", "inspect", "documents, nulls, bytes and tokens per group"))
register(
    CliStep(
        "filter",
        "map",
        "keep the documents that pass every rule (Gopher, C4, FineWeb)",
        exclude=("rejected",),
    )
)
register(
    CliStep(
        "decontaminate",
        "map",
        "flag, drop or cut documents containing eval-set n-grams (index built per shard "
        "unless index: names a saved one)",
        exclude=("save_index", "report"),
        path_params=("index",),
    )
)
register(
    StepType(
        "dedup",
        "native",
        "remove near-duplicates (MinHash LSH, verified) and exact duplicates",
        command="dedup",
        runner=run_dedup,
    )
)
register(
    StepType(
        "dsir",
        "native",
        "select k documents that match a target (DSIR importance resampling)",
        command="dsir",
        exclude=("separate_targets", "target_proportions", "by", "reference"),
        runner=run_dsir,
        path_params=("target",),
    )
)
register(CliStep("score", "side", "model scores per document (kept in the step folder)"))
register(
    CliStep(
        "cluster",
        "side-whole",
        "k-means of an embedding column (assignments kept in the step folder)",
        exclude=("centroids",),
        single_input=True,
        path_params=("init_centroids",),
    )
)
register(
    CliStep(
        "semdedup",
        "whole",
        "semantic dedup of an embedding column inside k-means clusters (SemDeDup)",
        exclude=("all_rows",),
        single_input=True,
        path_params=("init_centroids",),
    )
)
register(
    CliStep(
        "select",
        "whole",
        "target selection on embeddings (OT gradients, nearest neighbours) or by classifier",
        path_params=("target",),
    )
)
register(
    CliStep(
        "quality",
        "map",
        "score with a `tamis quality train` model; min_score drops documents below it",
        command="quality score",
        path_params=("model",),
    )
)
register(
    CliStep(
        "balance",
        "whole",
        "MetaCLIP entry balancing (entries, t) or at most cap rows per group (by, cap)",
        exclude=("counts",),
        path_params=("entries",),
    )
)
register(CliStep("features", "side", "hashed n-gram features per document"))
register(
    CliStep(
        "coreset",
        "whole",
        "l_p sensitivity-sampling coreset of an embedding column",
        exclude=("npy",),
        single_input=True,
    )
)


def runner(step: StepType) -> Any:
    """The function that runs a step type."""
    return step.runner or run_command


def _print(*args: Any) -> None:
    print(*args, file=sys.stderr)
