#!/usr/bin/env python3
"""Entropic OT speed: tamis's log-domain Sinkhorn vs POT's, at equal threads, side by side.

The issue's case: a pool of ``--pool`` (200,000) random points against ``--target`` (1,000)
points in ``--dim`` (64) dimensions, cosine cost, ``eps`` 0.05, a fixed number of iterations
(``tol = 0``, so both run exactly ``--iters``). Every run is a fresh process with
``OMP/MKL/OPENBLAS_NUM_THREADS`` and tamis's ``n_threads`` set to the same count (1, then 2), so
its time and peak RSS are its own. POT (``ot.dist`` + ``ot.bregman.sinkhorn_log``) keeps several
full ``n × m`` float64 temporaries alive; when its estimated peak exceeds ``--pot-max-gb`` it runs
on the first 1/20, 1/10 and 1/5 of the pool rows and its time at the full pool is extrapolated
linearly in ``n`` (least squares through those sizes; the per-row times at the three sizes show
how linear it is). tamis always runs at every size *and* at the full pool: with the default
``max_memory`` (1 GiB: the 1.6 GB cost matrix is streamed, recomputed per block every iteration)
and with the matrix cached. The potentials of both are compared at the smallest size.

Usage: ``python benches/ot_speed.py [--quick]``; writes ``bench-results/ot_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

from _common import RESULTS, add_quick_arg, out_path

EPS = 0.05
POT_BYTES_PER_ENTRY = 8 * 9  # ot.dist + sinkhorn_log peak: ~8 float64 n × m copies (measured)


def points(n: int, m: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` rows are the same for every ``n`` (one generator, filled row by row)."""
    x = np.random.default_rng(0).normal(size=(n, dim))
    y = np.random.default_rng(1).normal(size=(m, dim)) + 0.2
    return x, y


def worker(spec: dict) -> dict:
    """One timed solve in this process; prints its time and peak RSS."""
    x, y = points(spec["n"], spec["m"], spec["dim"])
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    if spec["who"] == "pot":
        import ot

        cost = ot.dist(x, y, metric="cosine")
        _, log = ot.bregman.sinkhorn_log(
            a, b, cost, EPS, numItermax=spec["iters"], stopThr=0.0, log=True, warn=False
        )
        f = EPS * log["log_u"]
    else:
        from tamis.select import sinkhorn

        res = sinkhorn(
            x,
            y,
            eps=EPS,
            metric="cosine",
            max_iter=spec["iters"],
            tol=0.0,
            n_threads=spec["threads"],
            max_memory=spec["max_memory"],
        )
        f = res.f
    seconds = time.perf_counter() - t
    if spec.get("save"):
        np.save(spec["save"], f)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {**spec, "seconds": seconds, "peak_rss_bytes": peak, "inputs_rss_bytes": base_rss}


def run(spec: dict) -> dict:
    threads = str(spec["threads"])
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    env["OPENBLAS_NUM_THREADS"] = threads
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    gb = res["peak_rss_bytes"] / 1e9
    print(f"  {spec['label']:<34} n={spec['n']:>7}: {res['seconds']:8.2f} s, peak {gb:.2f} GB")
    return res


def linear_fit(ns: list[int], secs: list[float], n: int) -> dict:
    if len(ns) == 1:
        slope, icpt = secs[0] / ns[0], 0.0
    else:
        slope, icpt = np.polyfit(np.array(ns, float), np.array(secs, float), 1)
    per_row = [s / k * 1e6 for s, k in zip(secs, ns)]
    return {
        "sizes": ns,
        "seconds": secs,
        "microseconds_per_row": per_row,
        "per_row_spread": (max(per_row) - min(per_row)) / min(per_row),
        "extrapolated_seconds": float(slope * n + icpt),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_quick_arg(ap)
    ap.add_argument("--pool", type=int, default=200_000)
    ap.add_argument("--target", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--pot-max-gb", type=float, default=8.0)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.quick:
        args.pool, args.target, args.iters = 20_000, 200, 5
    n, m = args.pool, args.target
    full_fits = n * m * POT_BYTES_PER_ENTRY <= args.pot_max_gb * 1e9
    sizes = [n] if full_fits else [n // 20, n // 10, n // 5]
    common = {"m": m, "dim": args.dim, "iters": args.iters, "max_memory": 1 << 30}
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    saved = {w: str(RESULTS / "tmp" / f"ot_speed_f_{w}.npy") for w in ("pot", "tamis")}
    result: dict = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "pool": n,
        "target": m,
        "dim": args.dim,
        "eps": EPS,
        "iterations": args.iters,
        "pot_sizes": sizes,
        "pot_extrapolated": not full_fits,
        "by_threads": {},
    }
    for t in args.threads:
        print(f"{t} thread(s):")
        rows: dict = {"pot": [], "tamis": []}
        for k in sizes:
            for who in ("pot", "tamis"):
                save = saved[who] if (t == args.threads[0] and k == sizes[0]) else None
                spec = {**common, "who": who, "n": k, "threads": t, "save": save}
                rows[who].append(run({**spec, "label": f"{who}, {t} thread(s)"}))
        tamis_full = {}
        for mode, mem in (("default (streamed above 1 GiB)", 1 << 30), ("cached", 1 << 34)):
            if full_fits and mode != "cached":
                res = rows["tamis"][-1]
            else:
                spec = {**common, "who": "tamis", "n": n, "threads": t, "max_memory": mem}
                res = run({**spec, "label": f"tamis {mode}, {t} thread(s)"})
            tamis_full[mode] = res
        pot = linear_fit(sizes, [r["seconds"] for r in rows["pot"]], n)
        entry = {
            "pot": pot,
            "pot_peak_rss_bytes": [r["peak_rss_bytes"] for r in rows["pot"]],
            "tamis_at_pot_sizes_seconds": [r["seconds"] for r in rows["tamis"]],
            "speedup_at_pot_sizes": [
                p["seconds"] / q["seconds"] for p, q in zip(rows["pot"], rows["tamis"])
            ],
            "tamis_full": {
                mode: {"seconds": r["seconds"], "peak_rss_bytes": r["peak_rss_bytes"]}
                for mode, r in tamis_full.items()
            },
        }
        entry["speedup_full"] = {
            mode: pot["extrapolated_seconds"] / r["seconds"] for mode, r in tamis_full.items()
        }
        result["by_threads"][str(t)] = entry
        print(f"  speedup at full pool: {entry['speedup_full']}")
    f_pot, f_tamis = np.load(saved["pot"]), np.load(saved["tamis"])
    result["max_abs_diff_f"] = float(np.abs(f_pot - f_tamis).max())
    result["max_rel_diff_f"] = float((np.abs(f_pot - f_tamis) / np.abs(f_pot)).max())
    result["load_average_end"] = os.getloadavg()
    print(
        f"max |f - f_POT| {result['max_abs_diff_f']:.1e} (relative {result['max_rel_diff_f']:.1e})"
    )
    path = out_path(args.output, "ot_speed.json", args.quick)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
