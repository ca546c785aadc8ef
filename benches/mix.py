"""MixtureSampler vs Hugging Face ``datasets.interleave_datasets``, same sources and probabilities.

Protocol (issue 12): the corpus is split into three sources (round-robin by row), each written as
Parquet with 1,000-row row groups. Both sides mix them with the same probabilities
(0.5 / 0.3 / 0.2) until every source is used at least once (``stopping_strategy="all_exhausted"``,
whose length fixes ``k`` for both), and read every document's ``text`` and ``id``. Each case runs
in its own process pinned to one core (``taskset`` where available, one Arrow/tamis thread), so
its peak RSS (``VmHWM``) is its own; it runs twice and the second (warm: imports, Arrow's
first allocations and the page cache behind both) is reported. Cases run in ``--rounds`` rounds
(default 3), interleaved, and the median is reported (the machine is shared). Cases:

- ``tamis_batches``: ``MixtureSampler.iter_batches()`` (Arrow batches of 8,192 rows), sources
  written with pyarrow's default compression (snappy);
- ``tamis_batches_uncompressed``: the same over uncompressed Parquet (``datasets`` reads its
  uncompressed Arrow cache);
- ``tamis_rows``: ``iter(MixtureSampler)`` (one Python dict per document);
- ``hf_rows``: ``interleave_datasets`` (building its indices included), one dict per document;
- ``hf_batches``: the same, ``.iter(batch_size=8192)`` (dicts of lists).

The ``datasets`` sides read Arrow-cached copies of the Parquet sources (``Dataset.from_parquet``,
built before the timing and not counted). Documents/s = k / wall time from the sampler's
construction (imports excluded) to the last document.

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
CASES = ("tamis_batches", "tamis_batches_uncompressed", "tamis_rows", "hf_rows", "hf_batches")


def split(corpus: str, root: Path, compression: str = "snappy") -> dict[str, Path]:
    """Three sources, rows dealt round-robin, Parquet with 1,000-row row groups."""
    import tamis

    table = pa.Table.from_batches(list(tamis.read_batches(corpus, columns=[])))
    table = table.select(["text", "id"]).cast(
        pa.schema([("text", pa.string()), ("id", pa.string())])
    )
    out = {}
    for i, name in enumerate(WEIGHTS):
        part = table.take(pa.array(range(i, table.num_rows, 3)))
        path = root / f"{name}.{compression}.parquet"
        pq.write_table(part, path, row_group_size=1000, compression=compression)
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
        mixed = datasets.interleave_datasets(
            dss, probabilities=list(WEIGHTS.values()), seed=0, stopping_strategy="all_exhausted"
        )
        if case == "hf_rows":
            for row in mixed:
                n += 1
                nbytes += len(row["text"])
        else:
            for b in mixed.iter(batch_size=8192):
                n += len(b["text"])
                nbytes += sum(map(len, b["text"]))
    dt = time.perf_counter() - t0
    return {"case": case, "documents": n, "seconds": dt, "docs_per_s": n / dt}


def run_case(case: str, paths: dict[str, Path], k: int, cache: str) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--k", str(k), "--cache", cache]
    cmd += ["--paths", json.dumps({n: str(p) for n, p in paths.items()})]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    env = {**os.environ, "TAMIS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
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
        paths = split(corpus, Path(tmp))
        raw = split(corpus, Path(tmp), "none")
        cache = str(Path(tmp) / "hf-cache")
        k = hf_length(paths, cache)
        runs: dict[str, list[dict]] = {c: [] for c in CASES}
        for _ in range(args.rounds):  # cases interleaved, so machine load hits them alike
            for c in CASES:
                runs[c].append(run_case(c, raw if c.endswith("uncompressed") else paths, k, cache))
        rows = []
        for c in CASES:
            rs = sorted(runs[c], key=lambda r: r["docs_per_s"])
            med = dict(rs[len(rs) // 2])
            med["docs_per_s_all"] = [r["docs_per_s"] for r in runs[c]]
            med["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs[c])
            rows.append(med)
    by = {r["case"]: r for r in rows}
    for r in rows:
        r["speedup_vs_hf_rows"] = r["docs_per_s"] / by["hf_rows"]["docs_per_s"]
        r["speedup_vs_hf_batches"] = r["docs_per_s"] / by["hf_batches"]["docs_per_s"]
    import datasets

    import tamis

    result = {
        "bench": "mix",
        "corpus": corpus,
        "k": k,
        "weights": WEIGHTS,
        "tamis": tamis.__version__,
        "datasets": datasets.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "one_core": bool(shutil.which("taskset")),
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "rows": rows,
    }
    print(
        f"{'case':<15} {'docs/s':>12} {'seconds':>9} {'peak RSS MiB':>13} {'vs hf_rows':>11} {'vs hf_batches':>14}"
    )
    for r in rows:
        print(
            f"{r['case']:<15} {r['docs_per_s']:>12,.0f} {r['seconds']:>9.2f} {r['peak_rss_mib']:>13.0f} "
            f"{r['speedup_vs_hf_rows']:>10.1f}x {r['speedup_vs_hf_batches']:>13.1f}x"
        )
    out = out_path(args.output, "mix.json", args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
