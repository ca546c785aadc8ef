"""Kill -9 at random points of a multi-shard run, rerun: same bytes, finished shards not redone."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.json as pj
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1200 sample documents in 4 files, 20 shards: read, stats, dedup, dsir, write."""
    d = tmp_path_factory.mktemp("resume")
    t = pj.read_json(SAMPLE / "corpus.jsonl.gz").slice(0, 1200)
    for i in range(4):
        with open(d / f"part{i}.jsonl", "w") as f:
            for row in t.slice(i * 300, 300).to_pylist():
                f.write(json.dumps(row) + "\n")
    r = d / "recipe.yaml"
    r.write_text(
        f"inputs: [{d}/part0.jsonl, {d}/part1.jsonl, {d}/part2.jsonl, {d}/part3.jsonl]\n"
        f"shard_rows: 60\nby: domain\nsteps:\n  - step: stats\n  - step: dedup\n"
        f"  - step: dsir\n    target: {SAMPLE / 'target.jsonl.gz'}\n    k: 150\n"
    )
    return r


def start(recipe: Path, run_dir: Path, output: Path) -> subprocess.Popen[bytes]:
    text = recipe.read_text() + f"output: {output}\n"
    r = run_dir.parent / f"{run_dir.name}.yaml"
    r.write_text(text)
    with open(run_dir.parent / f"{run_dir.name}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tamis", "run", str(r), "--run-dir", str(run_dir), "-q"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def units(run_dir: Path) -> list[tuple[str, str, int]]:
    """(step, unit, pid) of every unit computed, from the run's log."""
    log = run_dir / "log.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    events = []
    for line in lines:
        with contextlib.suppress(ValueError):  # a line cut by the kill
            events.append(json.loads(line))
    return [(e["step"], e["unit"], e["pid"]) for e in events if "unit" in e]


def test_kill_and_resume_is_byte_identical(recipe: Path, tmp_path: Path) -> None:
    t0 = time.perf_counter()
    ref = start(recipe, tmp_path / "ref", tmp_path / "ref.parquet")
    assert ref.wait(timeout=300) == 0, (tmp_path / "ref.log").read_text()
    duration = time.perf_counter() - t0
    want = (tmp_path / "ref.parquet").read_bytes()
    n_units = len(units(tmp_path / "ref"))
    rng = random.Random(16)
    mid_run = 0
    for i in range(3):
        run_dir, out = tmp_path / f"run{i}", tmp_path / f"out{i}.parquet"
        proc = start(recipe, run_dir, out)
        # A random point: after a random number of finished units, a few ms into the next one
        # (independent of the machine's speed, so the kill always lands inside the work).
        after_units = rng.randint(1, n_units - 3)
        deadline = time.monotonic() + 10 * duration + 60
        while len(units(run_dir)) < after_units and proc.poll() is None:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.03))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = units(run_dir)
        if proc.returncode == -signal.SIGKILL and not out.exists():
            mid_run += 1
        again = start(recipe, run_dir, out)
        assert again.wait(timeout=300) == 0, (tmp_path / f"run{i}.log").read_text()
        assert out.read_bytes() == want, f"kill {i}: output differs from the uninterrupted run"
        after = units(run_dir)
        done_before = {(s, u) for s, u, _ in before}
        redone = [(s, u) for s, u, pid in after[len(before) :] if (s, u) in done_before]
        assert not redone, f"kill {i}: finished units computed again: {redone}"
        counts = Counter((s, u) for s, u, _ in after)
        assert max(counts.values()) == 1
        assert len(counts) <= n_units  # the rerun computed only what was missing
        assert not list(run_dir.rglob(".*.tmp"))  # no temporary files left behind
    assert mid_run == 3, f"the kills should land while the run is working ({mid_run} did)"
