"""Running a recipe in a run folder: step folders, per-unit completion markers, invalidation.

Layout of a run folder::

    RUN_DIR/
      run.json                the resolved recipe, versions, the steps and their fingerprints
      log.jsonl               one line per unit of work computed (step, unit, seconds, pid)
      00-read/                one folder per step, numbered in recipe order
        step.json             the step's resolved parameters and its fingerprint
        shards/00000.parquet  the step's output, one file per shard
        done/<unit>.json      completion markers: a unit's outputs are all renamed into place
        stats.json            the step's summary, written last: the step is finished
      01-dedup/ ...

Every output file is written under a temporary name and renamed, and a unit's marker is written
(atomically) after its outputs; so after ``kill -9`` a rerun finds every unit either finished
(marker present, skipped) or not (recomputed from scratch). A step's fingerprint hashes its
parameters and the fingerprint of the step before it: changing a step's parameters changes its
fingerprint and those of all later steps, whose folders are then cleared, and no earlier one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from tamis.output import write_json
from tamis.pipeline._recipe import Recipe, StepConfig

#: Version of the run-folder layout (recorded in run.json; a different one is refused).
LAYOUT = 1


def versions() -> dict[str, str]:
    """Versions that can change a result: tamis, Python, pyarrow, numpy, the platform."""
    import numpy as np
    import pyarrow as pa

    from tamis import __version__

    return {
        "tamis": __version__,
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def fingerprint(previous: str, payload: Any) -> str:
    """Hash of a step's parameters chained to the previous step's fingerprint."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(f"{previous}\n{text}".encode()).hexdigest()[:16]


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


@dataclass
class StepContext:
    """What a step runner gets: its folder, its input shards, its parameters and markers."""

    recipe: Recipe
    config: StepConfig
    dir: Path
    inputs: list[Path]
    run: RunFolder
    params: dict[str, Any] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)

    def shard(self, key: str, suffix: str = ".parquet", sub: str = "shards") -> Path:
        """Path of an output file of this step (``<dir>/<sub>/<key><suffix>``)."""
        path = self.dir / sub / f"{key}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def done(self, key: str) -> Optional[dict[str, Any]]:
        """The marker of a finished unit (``None``: not finished)."""
        marker = self.dir / "done" / f"{key}.json"
        if not marker.exists():
            return None
        found: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
        return found

    def unit(self, key: str, work: Callable[[], Optional[dict[str, Any]]]) -> dict[str, Any]:
        """Run ``work`` unless unit ``key`` is finished; returns the unit's marker content.

        ``work`` writes its outputs atomically and returns a small JSON-able dict (row counts),
        stored in the marker.
        """
        found = self.done(key)
        if found is not None:
            return found
        t0 = time.perf_counter()
        info = dict(work() or {})
        info["seconds"] = round(time.perf_counter() - t0, 4)
        write_json(self.dir / "done" / f"{key}.json", info)
        self.computed.append(key)
        self.run.log({"step": self.config.name, "unit": key, "seconds": info["seconds"]})
        return info


class RunFolder:
    """A run folder: one runner at a time (a lock file), step folders, the log."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock: Any = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[RunFolder]:
        """Hold the folder's lock (another ``tamis run`` on it fails at once)."""
        self.path.mkdir(parents=True, exist_ok=True)
        f = open(self.path / ".lock", "w")  # noqa: SIM115 (held until the block ends)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise OSError(f"{self.path} is in use by another tamis run") from None
        self._lock = f
        try:
            yield self
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
            self._lock = None

    def log(self, event: dict[str, Any]) -> None:
        """Append one line to ``log.jsonl`` (flushed, so a killed run keeps it)."""
        event = {"time": round(time.time(), 3), "pid": os.getpid(), **event}
        path = self.path / "log.jsonl"
        with open(path, "a+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell():  # a line cut by kill -9 is ended, so the next one stays whole
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write((json.dumps(event, default=str) + "\n").encode())

    def step_dir(self, index: int, config: StepConfig, fp: str) -> Path:
        """The step's folder, cleared if it was made by other parameters (or another layout)."""
        d = self.path / f"{index:02d}-{config.name}"
        meta = d / "step.json"
        if d.exists():
            old = None
            with contextlib.suppress(OSError, ValueError):
                old = json.loads(meta.read_text(encoding="utf-8")).get("fingerprint")
            if old != fp:
                shutil.rmtree(d)
                self.log({"step": config.name, "event": "invalidated", "was": old, "now": fp})
        d.mkdir(parents=True, exist_ok=True)
        if not meta.exists():
            write_json(
                meta,
                {
                    "fingerprint": fp,
                    "step": config.step,
                    "name": config.name,
                    "params": config.resolved(),
                    "layout": LAYOUT,
                },
            )
        for tmp in d.rglob(".*.tmp"):  # left by a killed writer (we hold the lock)
            with contextlib.suppress(OSError):
                tmp.unlink()
        return d

    def prune(self, keep: set[str]) -> None:
        """Remove step folders that are not in the current recipe."""
        for d in self.path.iterdir():
            if d.is_dir() and d.name[:2].isdigit() and d.name[2:3] == "-" and d.name not in keep:
                shutil.rmtree(d)
