"""Whole-process dedup pipelines for ``benches/dedup.py``'s end-to-end section.

Each anchor runs as its own process, timed from the parent (start-up, imports, reading,
deduplication and writing the kept rows all count), exactly as ``tamis dedup`` runs through the
CLI. The anchors are what a user of each library writes: read the Parquet file with pyarrow, feed
the texts (word 5-gram shingles, as tamis) to the library's MinHash and LSH index, join the LSH
matches with a union-find, write the first row of each cluster.

Run one: ``python benches/_dedup_pipelines.py rensa|datasketch IN.parquet OUT.parquet``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from dedup import components, pairs_datasketch, pairs_rensa

HERE = Path(__file__).resolve()


def pipeline(tool: str, src: str, dst: str) -> int:
    """Read ``src``, deduplicate with ``tool``, write the kept rows to ``dst``; rows removed."""
    table = pq.read_table(src)
    texts = table.column("text").to_pylist()
    finder = {"rensa": pairs_rensa, "datasketch": pairs_datasketch}[tool]
    roots = components(len(texts), finder(texts))
    keep = roots == np.arange(len(texts))
    pq.write_table(table.filter(pa.array(keep)), dst)
    return int((~keep).sum())


def run_process(args: list[str]) -> dict:
    """Run ``python _peak.py *args`` to completion: wall seconds, CPU seconds (``wait4``) and the
    peak RSS the command itself reports (see ``benches/_peak.py``)."""
    t0 = time.perf_counter()
    cmd = [sys.executable, str(HERE.parent / "_peak.py"), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = [float(ln.split()[1]) for ln in err.splitlines() if ln.startswith("PEAK_RSS_MB")]
    if proc.returncode != 0 or not peak:
        return {"error": err.strip().splitlines()[-1] if err.strip() else "failed"}
    return {"seconds": wall, "cpu_seconds": ru.ru_utime + ru.ru_stime, "peak_rss_mb": peak[0]}


def cli_runs(src: str, tmp: str, tools: list[str], threads: list[int]) -> dict:
    """Every pipeline once, side by side: tamis through its CLI (per thread count) and anchors."""
    out: dict = {}
    dst = str(Path(tmp) / "out.parquet")
    base = ["tamis", "dedup", src, "-o", dst, "-q"]
    runs: list[tuple[str, list[str]]] = []
    if "tamis" in tools:
        for nt in threads:
            runs.append((f"tamis dedup (CLI), {nt}t", [*base, "--n-threads", str(nt)]))
        runs.append(
            (
                "tamis dedup (CLI), 1t, --banding datasketch",
                [*base, "--n-threads", "1", "--banding", "datasketch"],
            )
        )
    for tool in ("rensa", "datasketch"):
        if tool in tools:
            runs.append((f"{tool} pipeline", [str(HERE), tool, src, dst]))
    for name, cmd in runs:
        r = run_process(cmd)
        if "error" not in r:
            r["kept"] = pq.ParquetFile(dst).metadata.num_rows
        out[name] = r
        if "error" in r:
            print(f"  {name:<44} error: {r['error']}", flush=True)
        else:
            print(
                f"  {name:<44} {r['seconds']:6.2f} s wall {r['cpu_seconds']:6.2f} s CPU  "
                f"peak {r['peak_rss_mb']:4.0f} MB  kept {r['kept']}",
                flush=True,
            )
    return out


def kernel_scaling(sample: pa.Table, repeat: int = 3) -> dict:
    """Signatures + exact hashes of the sample (what pass 1 computes) at 1 and 2 threads, best of
    ``repeat``, with the load average: the part of dedup that threads can speed up."""
    import tamis

    col = sample.column("text").combine_chunks()
    d = tamis.MinHashDeduplicator()
    out: dict = {"load_average": os.getloadavg()[0]}
    for nt in (1, 2):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            tamis.dedup.sign_batch(d.hasher, col, exact_hashes=d.normalization, n_threads=nt)
            best = min(best, time.perf_counter() - t0)
        out[f"{nt}t_seconds"] = best
    out["speedup_2t"] = out["1t_seconds"] / out["2t_seconds"]
    print(
        f"  signatures + exact hashes: 1t {out['1t_seconds']:.2f} s, 2t {out['2t_seconds']:.2f} s "
        f"({out['speedup_2t']:.2f}x; load {out['load_average']:.1f})",
        flush=True,
    )
    return out


def cli_section(pool: pa.Table, n_docs: int, tools: list[str], repeat: int) -> dict:
    """Whole processes, side by side (start-up to written file), ``repeat`` rounds."""
    idx = np.sort(np.random.default_rng(1).choice(pool.num_rows, n_docs, replace=False))
    sample = pool.take(pa.array(idx))
    mb = pc.sum(pc.binary_length(sample.column("text"))).as_py() / 1e6
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "sample.parquet")
        pq.write_table(sample, path, row_group_size=2000)
        print(f"end to end through the CLI, {n_docs} docs ({mb:.0f} MB), whole processes:")
        for r in range(repeat):
            load = os.getloadavg()[0]
            print(f" round {r + 1}/{repeat} (load average {load:.1f} on {os.cpu_count()} cores)")
            rounds.append({"load_average": load, "tools": cli_runs(path, tmp, tools, [1, 2])})
    res: dict = {
        "docs": n_docs,
        "mb": mb,
        "rounds": rounds,
        "kernel_threads": kernel_scaling(sample),
    }
    ratios = []
    for rd in rounds:
        t = rd["tools"]
        anchor = t.get("rensa pipeline", {})
        if "seconds" not in anchor:
            continue
        ratios.append(
            {
                name: {
                    "wall_speedup": anchor["seconds"] / v["seconds"],
                    "cpu_speedup": anchor["cpu_seconds"] / v["cpu_seconds"],
                    "rss_fraction": v["peak_rss_mb"] / anchor["peak_rss_mb"],
                }
                for name, v in t.items()
                if name.startswith("tamis") and "seconds" in v
            }
        )
    res["vs_rensa"] = ratios
    for i, rr in enumerate(ratios):
        for name, v in rr.items():
            print(
                f"  round {i + 1} {name:<32} {v['wall_speedup']:5.2f}x wall  "
                f"{v['cpu_speedup']:5.2f}x CPU  RSS {v['rss_fraction']:.2f} of rensa's"
            )
    return res


if __name__ == "__main__":
    tool, src, dst = sys.argv[1:4]
    removed = pipeline(tool, src, dst)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{tool}: removed {removed}, peak {peak:.0f} MB", file=sys.stderr)
