"""``tamis dsir`` against data-selection 1.0.3's whole run, each as one process (benches/dsir.py).

The same raw corpus (JSON lines: ``id``, ``text``, ``domain``) and target (``python-docs``
documents that are not in raw) go into both; each side is a fresh interpreter from start to its
written selection:

- data-selection: ``benches/reference_dsir.py whole`` (``HashedNgramDSIR``, ``num_proc=1``:
  ``fit_importance_estimator``, ``compute_importance_weights``, ``resample`` writing JSON lines);
- tamis: ``python -m tamis dsir --n-threads 1`` (default settings; ``--reference --method topk``;
  Parquet in and out; and all threads, for the wall clock).

Measured per run: CPU seconds (user + sys of the finished children, ``RUSAGE_CHILDREN``), wall
seconds and peak RSS (``benches/_peak.py``). The ratio is data-selection's CPU seconds over
tamis's. Checked: data-selection with ``top_k=True`` and ``tamis dsir --reference --method topk``
select the same set of ids (the reference-compatible mode promises this; with Gumbel noise the
reference draws from numpy's unseeded global RNG, so its sampled sets cannot be compared), and
the ``log_weight`` tamis writes for each selected row equals data-selection's cached weight of
that row to 1e-9 relative.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

BENCHES = Path(__file__).resolve().parent
PEAK = str(BENCHES / "_peak.py")


def inputs(pool: pa.Table, n_raw: int, n_target: int, tmp: Path) -> dict:
    """Raw (``n_raw`` random documents) and target (``n_target`` held-out ``python-docs``)."""
    is_pd = pc.equal(pool.column("domain"), "python-docs").to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(123)
    tgt = rng.permutation(np.flatnonzero(is_pd))[:n_target]
    rest = np.setdiff1d(np.arange(pool.num_rows), tgt)
    raw_idx = np.sort(rng.choice(rest, min(n_raw, len(rest)), replace=False))
    raw = pool.take(pa.array(raw_idx)).select(["id", "text", "domain"])
    target = pool.take(pa.array(np.sort(tgt))).select(["id", "text"])
    paths = {
        "raw": tmp / "raw.jsonl",
        "target": tmp / "target.jsonl",
        "raw_parquet": tmp / "raw.parquet",
    }
    for table, path in [(raw, paths["raw"]), (target, paths["target"])]:
        with open(path, "w", encoding="utf-8") as f:
            for row in table.to_pylist():
                f.write(json.dumps(row) + "\n")
    pq.write_table(raw, paths["raw_parquet"])
    mb = pc.sum(pc.binary_length(raw.column("text"))).as_py() / 1e6
    return {"paths": paths, "raw_docs": raw.num_rows, "raw_mb": mb, "ids": raw.column("id")}


def timed(cmd: list[str], env: dict) -> dict:
    """Run ``cmd`` to completion; CPU (children's user+sys), wall and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = [line for line in p.stderr.splitlines() if line.startswith("PEAK_RSS_MB")]
    return {"cpu_s": cpu, "wall_s": wall, "peak_rss_mb": float(peak[-1].split()[1])}


def run(pool: pa.Table, tmp: Path, *, n_raw: int, k: int, repeats: int) -> dict:
    load_start = os.getloadavg()
    data = inputs(pool, n_raw, 300, tmp)
    paths = data["paths"]
    py, env = sys.executable, dict(os.environ)
    ref_out = tmp / "ref_out"

    def reference() -> list[str]:
        for d in (ref_out, tmp / "ref_cache"):
            shutil.rmtree(d, ignore_errors=True)
        cmd = [py, PEAK, str(BENCHES / "reference_dsir.py"), "whole", "--top-k", "-k", str(k)]
        cmd += ["--target", str(paths["target"]), "--raw", str(paths["raw"])]
        return [*cmd, "--out-dir", str(ref_out), "--cache-dir", str(tmp / "ref_cache")]

    def tamis(raw: Path, out: str, *extra: str) -> list[str]:
        cmd = [py, PEAK, "tamis", "dsir", "--target", str(paths["target"]), "--raw", str(raw)]
        return [*cmd, "-k", str(k), "-o", str(tmp / out), "-q", *extra]

    one = ["--n-threads", "1"]
    runs = {
        "data-selection 1.0.3 (num_proc=1, top_k)": reference,
        "tamis dsir (default, 1 thread)": lambda: tamis(paths["raw"], "d.jsonl", *one),
        "tamis dsir --reference --method topk (1 thread)": lambda: tamis(
            paths["raw"], "r.jsonl", "--reference", "--method", "topk", *one
        ),
        "tamis dsir (default, 1 thread, Parquet in and out)": lambda: tamis(
            paths["raw_parquet"], "d.parquet", *one
        ),
        "tamis dsir (default, all threads)": lambda: tamis(paths["raw"], "d2.jsonl"),
    }
    results: dict = {name: [] for name in runs}
    for rep in range(repeats):
        for name, make in runs.items():
            if rep and name.startswith("data-selection"):
                continue  # ~100x slower; once is enough for a ratio
            results[name].append(timed(make(), env))
    summary = {
        name: {key: float(np.median([r[key] for r in rs])) for key in rs[0]}
        for name, rs in results.items()
    }
    ref = summary["data-selection 1.0.3 (num_proc=1, top_k)"]
    for name, row in summary.items():
        row["runs"] = len(results[name])
        row["x_cpu"] = ref["cpu_s"] / row["cpu_s"]
        row["x_wall"] = ref["wall_s"] / row["wall_s"]
    check = same_selection(tmp / "r.jsonl", ref_out, paths["raw"])
    return {
        "raw_docs": data["raw_docs"],
        "raw_mb": data["raw_mb"],
        "target_docs": 300,
        "k": k,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "runs": summary,
        "reference_mode_check": check,
    }


def same_selection(tamis_out: Path, ref_dir: Path, raw_path: Path) -> dict:
    """Same ids in both top-k selections; tamis's log weights equal the reference's cached ones."""
    ours = read_jsonl([tamis_out])
    theirs = read_jsonl(sorted(ref_dir.glob("*.jsonl")))
    ours_ids = {r["id"] for r in ours}
    theirs_ids = {r["id"] for r in theirs}
    # The reference's weights, in raw order (one shard with num_proc=1).
    cached = sorted((ref_dir.parent / "ref_cache" / "log_importance_weights").glob("*.npy"))
    weights = np.concatenate([np.load(p) for p in cached])
    row_of = {}
    with open(raw_path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            row_of[json.loads(line)["id"]] = i
    ref_w = np.array([weights[row_of[r["id"]]] for r in ours])
    our_w = np.array([r["log_weight"] for r in ours])
    rel = float(np.max(np.abs(our_w - ref_w) / np.maximum(np.abs(ref_w), 1e-300)))
    out = {
        "same_ids": ours_ids == theirs_ids,
        "selected": len(ours_ids),
        "only_tamis": len(ours_ids - theirs_ids),
        "only_reference": len(theirs_ids - ours_ids),
        "max_rel_diff_log_weight": rel,
    }
    if not out["same_ids"] or rel > 1e-9:
        raise AssertionError(f"tamis --reference --method topk differs from data-selection: {out}")
    return out


def read_jsonl(paths: list[Path]) -> list[dict]:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            rows += [json.loads(line) for line in f]
    return rows


def report(res: dict) -> None:
    print(
        f"\nEnd to end, one process each: {res['raw_docs']} raw documents "
        f"({res['raw_mb']:.1f} MB), k = {res['k']}; load {res['load_average_start'][0]:.1f} at the start, "
        f"{res['load_average_end'][0]:.1f} at the end"
    )
    print(f"{'run':<52}{'CPU s':>9}{'wall s':>9}{'peak MB':>9}{'x CPU':>8}{'x wall':>8}")
    for name, row in res["runs"].items():
        print(
            f"{name:<52}{row['cpu_s']:>9.2f}{row['wall_s']:>9.2f}{row['peak_rss_mb']:>9.0f}"
            f"{row['x_cpu']:>8.1f}{row['x_wall']:>8.1f}"
        )
    print(f"reference-mode check: {res['reference_mode_check']}")
