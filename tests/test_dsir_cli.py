"""``tamis dsir`` as a process: what start-up and I/O may cost (docs/dsir.md, "End to end")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"

# pyarrow imports pandas on the first pa.array / Array.to_numpy (~1 CPU-second, 38 MB); the
# streaming path must never trigger it.
NO_PANDAS = (
    "import sys; from tamis.cli import main; rc = main(sys.argv[1:]); "
    "print(json.dumps(sorted(m for m in ('pandas', 'tqdm') if m in sys.modules)))"
)


def test_dsir_does_not_import_pandas(tmp_path: Path) -> None:
    out = tmp_path / "sel.jsonl"
    cmd = [sys.executable, "-c", "import json; " + NO_PANDAS, "dsir"]
    cmd += ["--target", str(SAMPLE / "target.jsonl.gz"), "--raw", str(SAMPLE / "corpus.jsonl.gz")]
    cmd += ["-k", "50", "-o", str(out), "-q", "--n-threads", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert json.loads(p.stdout.splitlines()[-1]) == []
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 50 and all("log_weight" in r and "gumbel_key" in r for r in rows)
