"""Recipes: ``tamis run examples/recipe.yaml`` side by side with the same commands run one by one.

Alternates the two (``--repeats`` times each, fresh folders) so both see the same machine load,
checks that both select the same documents, and times a rerun of the finished recipe (nothing
to do) and a resumed run killed halfway. Usage: python benches/pipeline.py [--repeats 2].
Writes bench-results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def tamis(*args: object) -> None:
    subprocess.run(
        [sys.executable, "-m", "tamis", *map(str, args)],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tamis-bench-pipeline-"))
    recipe = ROOT / "examples" / "recipe.yaml"
    rows: dict[str, list[float]] = {"recipe": [], "commands": [], "rerun": [], "resumed": []}
    try:
        for i in range(args.repeats):
            run = tmp / f"run{i}"
            again = lambda run=run: tamis("run", recipe, "--run-dir", run, "-q")  # noqa: E731
            rows["recipe"].append(timed(again))
            rows["rerun"].append(timed(again))
            c = tmp / f"cmd{i}"
            c.mkdir()

            def commands(c: Path = c) -> None:
                tamis(
                    "stats",
                    SAMPLE / "corpus.jsonl.gz",
                    "--by",
                    "domain",
                    "--json",
                    c / "s.json",
                    "-q",
                )
                tamis("dedup", SAMPLE / "corpus.jsonl.gz", "-o", c / "d.parquet", "-q")
                tamis(
                    "dsir",
                    "--target",
                    SAMPLE / "target.jsonl.gz",
                    "--raw",
                    c / "d.parquet",
                    "-k",
                    500,
                    "-o",
                    c / "s.parquet",
                    "-q",
                )

            rows["commands"].append(timed(commands))
            got = pq.read_table(ROOT / "runs" / "sample" / "selected.parquet").column("id")
            want = pq.read_table(c / "s.parquet").column("id")
            assert got.to_pylist() == want.to_pylist(), "the recipe and the commands differ"
            # Killed halfway through (by time), then resumed: the total of both calls.
            k = tmp / f"kill{i}"
            t0 = time.perf_counter()
            p = subprocess.Popen(
                [sys.executable, "-m", "tamis", "run", str(recipe), "--run-dir", str(k), "-q"],
                cwd=ROOT,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rows["recipe"][-1] / 2)
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            tamis("run", recipe, "--run-dir", k, "-q")
            rows["resumed"].append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {
        "what": "examples/recipe.yaml on data/sample (3500 docs): stats -> dedup -> dsir k=500",
        "seconds": {k: [round(x, 3) for x in v] for k, v in rows.items()},
        "recipe_over_commands": round(sum(rows["recipe"]) / sum(rows["commands"]), 3),
        "resumed_over_recipe": round(sum(rows["resumed"]) / sum(rows["recipe"]), 3),
        "same_selection": True,
    }
    dest = ROOT / "bench-results" / "pipeline.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
