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
- ``hf_batches``: ``.iter(batch_size=8192)`` in datasets' default format (dicts of Python lists).

The ``datasets`` sides read Arrow-cached copies of the Parquet sources (``Dataset.from_parquet``,
built before the timing and not counted). Documents per CPU-second = k / CPU time (user + system,
all threads) from the sampler's construction (imports excluded) to the last document; on a shared
machine it is steadier than wall time, which is recorded too.

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
)


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


def child(case: str, paths: dict[str, str], k: int, cache: str) -> dict:
    """One case, in this (fresh) process: run twice, the second (warm) run is reported."""
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    once(case, paths, k, cache)
    out = once(case, paths, k, cache)
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def peak_rss_mib() -> float:
    """This process's peak RSS: ``VmHWM`` (``ru_maxrss`` would include the parent's, kept across
    fork + exec on Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    return {
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
    env = {**os.environ, **dict.fromkeys(one, "1")}
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
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--paths", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--k", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.paths), args.k, args.cache)))
        return
    corpus = args.corpus or str(SAMPLE_CORPUS if args.quick else DEFAULT_CORPUS)
    with tempfile.TemporaryDirectory() as tmp:
        paths = split(corpus, Path(tmp), truncate=args.truncate)
        plain = split(corpus, Path(tmp), plain=True, truncate=args.truncate)
        cache = str(Path(tmp) / "hf-cache")
        k = hf_length(paths, cache)
        text_mb = sum(pq.read_table(p, columns=["text"]).column(0).nbytes for p in paths.values())
        runs: dict[str, list[dict]] = {c: [] for c in CASES}
        load = [os.getloadavg()[0]]
        for _ in range(args.rounds):  # cases interleaved, so machine load hits them alike
            for c in CASES:
                runs[c].append(run_case(c, plain if c.endswith("plain") else paths, k, cache))
                load.append(os.getloadavg()[0])
        rows = []
        for c in CASES:
            rs = sorted(runs[c], key=lambda r: r["docs_per_cpu_s"])
            med = dict(rs[len(rs) // 2])
            med["docs_per_cpu_s_all"] = [r["docs_per_cpu_s"] for r in runs[c]]
            med["docs_per_s_all"] = [r["docs_per_s"] for r in runs[c]]
            med["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs[c])
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
