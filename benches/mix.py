"""MixtureSampler vs Hugging Face ``datasets.interleave_datasets``, same sources and probabilities.

Protocol (issue 12): the corpus is split into three sources (round-robin by row), each written as
Parquet with 1,000-row row groups, in two layouts: pyarrow's defaults (snappy pages, dictionary
encoding) and ``plain`` (no compression, no dictionary: the layout closest to the uncompressed
Arrow cache that ``datasets`` reads). Both sides mix them with the same probabilities
(0.5 / 0.3 / 0.2) until every source is used at least once (``stopping_strategy="all_exhausted"``,
whose length fixes ``k`` for both), and read every document's ``text`` and ``id`` (only those
columns exist). Each case runs in its own process pinned to one core (``taskset`` where
available; one Arrow CPU and I/O thread, ``TAMIS_NUM_THREADS=RAYON_NUM_THREADS=OMP_NUM_THREADS=1``),
so its peak RSS (``VmHWM``) is its own; it runs twice and the second (warm: imports, Arrow's
first allocations and the page cache behind both) is reported. Cases run in ``--rounds`` rounds
(default 3), interleaved, and the median is reported. Cases, like with like:

- per document (a Python dict per document): ``hf_rows`` (``for row in interleave_datasets(...)``,
  building its indices included) vs ``tamis_rows`` / ``tamis_rows_plain`` (``iter(sampler)``);
- per batch of 8,192 documents as Arrow: ``hf_arrow`` (``.with_format("arrow").iter(8192)``) vs
  ``tamis_batches`` / ``tamis_batches_plain`` (``sampler.iter_batches()``);
- ``hf_batches``: ``.iter(batch_size=8192)`` in datasets' default format (dicts of Python lists);
- ``lit_rows`` (per document, a Python dict): litdata's ``CombinedStreamingDataset`` of one
  ``StreamingDataset`` per source with ``weights`` and ``seed=0``, iterated in this process (no
  DataLoader). litdata's mixture with weights stops when its first source runs out
  (``iterate_over_all`` must be False with weights: there is no ``all_exhausted``), so it is
  iterated again (each pass repeats the same draws) until the same ``k`` documents are read.

The ``datasets`` sides read Arrow-cached copies of the Parquet sources (``Dataset.from_parquet``,
built before the timing and not counted); litdata reads its own chunk files, written from the
default-layout Parquet sources by ``litdata.optimize`` (one dict ``{"text", "id"}`` per row,
uncompressed, 64 MB chunks; one worker, timed and reported apart, not counted). The parent also
records litdata's realised counts per source over one pass and whether its resume
(``StreamingDataLoader.state_dict`` / ``load_state_dict``) continues the uninterrupted stream.
litdata is optional (``pip install litdata``: it pulls torch and torchvision; not a tamis
extra); without it the ``lit_rows`` case is skipped with a note.

Documents per CPU-second = k / CPU time (user + system, all threads) from the sampler's
construction (imports excluded) to the last document; on a shared machine it is steadier than wall
time, which is recorded too. Besides the peak RSS, each case records its RSS after its imports
(``import litdata`` brings torch) and its anonymous and file-backed RSS at the end of the run
(memory-mapped files, such as the Arrow cache or litdata's chunks, count as file-backed).

    python benches/mix.py --truncate 1000   # the same with every text cut to 1,000 characters

    python benches/mix.py            # data/corpus/pool.parquet (make corpus)
    python benches/mix.py --quick    # data/sample: a smoke test (bench-results/tmp/)
Writes bench-results/mix.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from _common import DEFAULT_CORPUS, SAMPLE_CORPUS, add_corpus_arg, add_quick_arg, out_path

WEIGHTS = {"a": 0.5, "b": 0.3, "c": 0.2}
CASES = (
    "hf_rows",
    "tamis_rows",
    "tamis_rows_plain",
    "hf_arrow",
    "tamis_batches",
    "tamis_batches_plain",
    "hf_batches",
    "lit_rows",
)
LIT_CHUNK_BYTES = "64MB"


def split(corpus: str, root: Path, plain: bool = False, truncate: int = 0) -> dict[str, Path]:
    """Three sources, rows dealt round-robin, Parquet with 1,000-row row groups (pyarrow's
    defaults, or ``plain``: uncompressed and without dictionary encoding)."""
    import pyarrow.compute as pc

    import tamis

    table = pa.Table.from_batches(list(tamis.read_batches(corpus, columns=[])))
    table = table.select(["text", "id"]).cast(
        pa.schema([("text", pa.string()), ("id", pa.string())])
    )
    if truncate:
        table = table.set_column(0, "text", pc.utf8_slice_codeunits(table.column(0), 0, truncate))
    out = {}
    layout = {"compression": "none", "use_dictionary": False} if plain else {}
    for i, name in enumerate(WEIGHTS):
        part = table.take(pa.array(range(i, table.num_rows, 3)))
        path = root / f"{name}.{'plain' if plain else 'default'}.parquet"
        pq.write_table(part, path, row_group_size=1000, **layout)
        out[name] = path
    return out


def lit_rows_of(arg: tuple[str, int]):
    """litdata.optimize's ``fn``: one Parquet row group in, one dict per row out (a generator)."""
    path, group = arg
    t = pq.ParquetFile(path).read_row_group(group, columns=["text", "id"])
    for text, id_ in zip(t.column(0).to_pylist(), t.column(1).to_pylist()):
        yield {"text": text, "id": id_}


def lit_convert(paths: dict[str, Path], root: Path) -> tuple[dict[str, Path], dict]:
    """Each source to litdata's chunk format (``litdata.optimize``, one worker); not timed with
    the cases, like the Arrow cache of ``datasets``."""
    import litdata

    out = {}
    t0 = time.perf_counter()
    for name, p in paths.items():
        out[name] = root / f"litdata-{name}"
        groups = pq.ParquetFile(p).num_row_groups
        litdata.optimize(
            fn=lit_rows_of,
            inputs=[(str(p), g) for g in range(groups)],
            output_dir=str(out[name]),
            chunk_bytes=LIT_CHUNK_BYTES,
            num_workers=1,
            verbose=False,
        )
    size = sum(f.stat().st_size for d in out.values() for f in d.iterdir())
    info = {"convert_seconds": time.perf_counter() - t0, "chunk_bytes_on_disk": size}
    return out, info


def lit_mixed(paths: dict[str, str]):
    import litdata

    dss = [litdata.StreamingDataset(str(p)) for p in paths.values()]
    return litdata.CombinedStreamingDataset(
        dss, weights=list(WEIGHTS.values()), seed=0, iterate_over_all=False
    )


def lit_checks(paths: dict[str, Path]) -> dict:
    """One pass of litdata's mixture: documents per source (it stops at the first exhausted
    source), and whether ``StreamingDataLoader`` resumes it exactly from a state_dict."""
    import litdata

    mixed = lit_mixed({n: str(p) for n, p in paths.items()})
    ids = [row["id"] for row in mixed]
    counts = dict(zip(WEIGHTS, mixed._iterator._num_samples_yielded))  # its own per-source count
    stop = min(1000, len(ids) // 2)

    def loader():
        m = lit_mixed({n: str(p) for n, p in paths.items()})
        return litdata.StreamingDataLoader(m, batch_size=1, num_workers=0, collate_fn=list)

    dl = loader()
    it = iter(dl)
    head = [next(it)[0]["id"] for _ in range(stop)]
    state = dl.state_dict()
    dl2 = loader()
    dl2.load_state_dict(state)
    tail = [b[0]["id"] for b in dl2]
    return {
        "documents_per_pass": len(ids),
        "counts_per_pass": counts,
        "shares_per_pass": {n: c / len(ids) for n, c in counts.items()},
        "resume_after": stop,
        "resume_exact": head + tail == ids,
    }


def child(case: str, paths: dict[str, str], k: int, cache: str) -> dict:
    """One case, in this (fresh) process: run twice, the second (warm) run is reported."""
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    if case.startswith("tamis"):
        import tamis.mix  # noqa: F401
    elif case.startswith("lit"):
        import litdata  # noqa: F401
    else:
        import datasets  # noqa: F401
    imports_rss = rss_mib("VmRSS")
    once(case, paths, k, cache)
    out = once(case, paths, k, cache)
    out["peak_rss_mib"] = peak_rss_mib()
    out["rss_after_imports_mib"] = imports_rss
    return out


def rss_mib(field: str) -> float:
    """``field`` of /proc/self/status in MiB (0 where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mib() -> float:
    """This process's peak RSS: ``VmHWM`` (``ru_maxrss`` would include the parent's, kept across
    fork + exec on Linux)."""
    return rss_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def once(case: str, paths: dict[str, str], k: int, cache: str) -> dict:
    n = 0
    nbytes = 0
    if case.startswith("tamis"):
        from tamis.mix import MixtureSampler

        t0 = time.perf_counter()  # imports done; time construction, mixing and reading
        c0 = time.process_time()
        s = MixtureSampler(
            {k_: Path(v) for k_, v in paths.items()}, WEIGHTS, k=k, seed=0, batch_size=8192
        )
        if case.startswith("tamis_batches"):
            for b in s.iter_batches():
                n += b.num_rows
                nbytes += b.column(0).nbytes
        else:
            for row in s:
                n += 1
                nbytes += len(row["text"])
    elif case.startswith("lit"):
        import litdata  # noqa: F401  (imports done before the clock starts)

        t0 = time.perf_counter()
        c0 = time.process_time()
        mixed = lit_mixed(paths)
        while n < k:  # a pass ends at its first exhausted source; read k documents in all
            before = n
            for row in mixed:
                n += 1
                nbytes += len(row["text"])
                if n == k:
                    break
            if n == before:
                raise RuntimeError("litdata's mixture yielded nothing")
    else:
        import datasets

        datasets.disable_progress_bars()
        dss = [
            datasets.Dataset.from_parquet(p, cache_dir=cache, keep_in_memory=False)
            for p in paths.values()
        ]
        t0 = time.perf_counter()  # the Arrow cache is built; time the mixing and reading
        c0 = time.process_time()
        mixed = datasets.interleave_datasets(
            dss, probabilities=list(WEIGHTS.values()), seed=0, stopping_strategy="all_exhausted"
        )
        if case == "hf_rows":
            for row in mixed:
                n += 1
                nbytes += len(row["text"])
        elif case == "hf_arrow":
            for t in mixed.with_format("arrow").iter(batch_size=8192):
                n += t.num_rows
                nbytes += t.column(0).nbytes
        else:
            for b in mixed.iter(batch_size=8192):
                n += len(b["text"])
                nbytes += sum(map(len, b["text"]))
    cpu = time.process_time() - c0
    dt = time.perf_counter() - t0
    anon, file_ = rss_mib("RssAnon"), rss_mib("RssFile")  # at the end, its buffers still held
    return {
        "rss_anon_end_mib": anon,
        "rss_file_end_mib": file_,
        "case": case,
        "documents": n,
        "cpu_seconds": cpu,
        "docs_per_cpu_s": n / cpu,
        "seconds": dt,
        "docs_per_s": n / dt,
    }


def run_case(case: str, paths: dict[str, Path], k: int, cache: str) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--k", str(k), "--cache", cache]
    cmd += ["--paths", json.dumps({n: str(p) for n, p in paths.items()})]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    one = ("TAMIS_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_NUM_THREADS")
    env = {**os.environ, **dict.fromkeys(one, "1"), "LITDATA_DISABLE_VERSION_CHECK": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def hf_length(paths: dict[str, Path], cache: str) -> int:
    import datasets

    datasets.disable_progress_bars()
    dss = [datasets.Dataset.from_parquet(str(p), cache_dir=cache) for p in paths.values()]
    mixed = datasets.interleave_datasets(
        dss, probabilities=list(WEIGHTS.values()), seed=0, stopping_strategy="all_exhausted"
    )
    return len(mixed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arg(ap)
    add_quick_arg(ap)
    ap.add_argument("-o", "--output", default=None)
    ap.add_argument("--rounds", type=int, default=3, help="runs per case (median reported)")
    ap.add_argument(
        "--truncate", type=int, default=0, help="cut every text to this many characters"
    )
    ap.add_argument(
        "--cases",
        default=None,
        help="comma-separated subset of the cases (the hf_* references always run)",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--paths", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--k", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.paths), args.k, args.cache)))
        return
    corpus = args.corpus or str(SAMPLE_CORPUS if args.quick else DEFAULT_CORPUS)
    os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")  # no PyPI query from litdata
    cases = list(CASES)
    if args.cases:
        wanted = set(args.cases.split(","))
        if wanted - set(CASES):
            ap.error(f"unknown cases {sorted(wanted - set(CASES))}; known: {', '.join(CASES)}")
        cases = [c for c in CASES if c in wanted or c.startswith("hf_")]
    try:
        import litdata
    except ImportError:
        litdata = None
        if "lit_rows" in cases:
            cases.remove("lit_rows")
            print("litdata is not installed: the lit_rows case is skipped (pip install litdata)")
    if "lit_rows" not in cases:
        litdata = None
    lit: dict = {}
    lit_paths: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = split(corpus, Path(tmp), truncate=args.truncate)
        plain = split(corpus, Path(tmp), plain=True, truncate=args.truncate)
        cache = str(Path(tmp) / "hf-cache")
        k = hf_length(paths, cache)
        text_mb = sum(pq.read_table(p, columns=["text"]).column(0).nbytes for p in paths.values())
        if litdata is not None:
            lit_paths, lit = lit_convert(paths, Path(tmp))
            lit.update(lit_checks(lit_paths), version=litdata.__version__)
            print(
                f"litdata {litdata.__version__}: optimize {lit['convert_seconds']:.1f} s "
                f"(not counted); one pass {lit['documents_per_pass']} documents, shares "
                + " / ".join(f"{n} {v:.4f}" for n, v in lit["shares_per_pass"].items())
                + f"; resume exact: {lit['resume_exact']}"
            )
        runs: dict[str, list[dict]] = {c: [] for c in cases}
        load = [os.getloadavg()[0]]
        for _ in range(args.rounds):  # cases interleaved, so machine load hits them alike
            for c in cases:
                src = plain if c.endswith("plain") else lit_paths if c.startswith("lit") else paths
                runs[c].append(run_case(c, src, k, cache))
                load.append(os.getloadavg()[0])
        rows = []
        for c in cases:
            rs = sorted(runs[c], key=lambda r: r["docs_per_cpu_s"])
            med = dict(rs[len(rs) // 2])
            med["docs_per_cpu_s_all"] = [r["docs_per_cpu_s"] for r in runs[c]]
            med["docs_per_s_all"] = [r["docs_per_s"] for r in runs[c]]
            med["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs[c])
            med["rss_after_imports_mib"] = max(r["rss_after_imports_mib"] for r in runs[c])
            rows.append(med)
    by = {r["case"]: r for r in rows}
    for r in rows:
        for ref in ("hf_rows", "hf_arrow", "hf_batches"):
            r[f"x_{ref}"] = r["docs_per_cpu_s"] / by[ref]["docs_per_cpu_s"]
            r[f"x_{ref}_wall"] = r["docs_per_s"] / by[ref]["docs_per_s"]
    import datasets

    import tamis

    result = {
        "bench": "mix",
        "corpus": corpus,
        "k": k,
        "truncate": args.truncate,
        "source_text_mb": text_mb / 1e6,
        "weights": WEIGHTS,
        "tamis": tamis.__version__,
        "datasets": datasets.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "one_core": bool(shutil.which("taskset")),
        "rounds": args.rounds,
        "litdata": lit or None,
        "load_average_1min_during": [min(load), max(load)],
        "rows": rows,
    }
    print(
        f"{'case':<20} {'docs/cpu-s':>11} {'cpu s':>6} {'docs/s':>9} {'RSS MiB':>8} "
        f"{'x hf_rows':>9} {'x hf_arrow':>10}"
    )
    for r in rows:
        print(
            f"{r['case']:<20} {r['docs_per_cpu_s']:>11,.0f} {r['cpu_seconds']:>6.2f} "
            f"{r['docs_per_s']:>9,.0f} {r['peak_rss_mib']:>8.0f} "
            f"{r['x_hf_rows']:>8.1f}x {r['x_hf_arrow']:>9.2f}x"
        )
    name = f"mix_truncate{args.truncate}.json" if args.truncate else "mix.json"
    out = out_path(args.output, name, args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
