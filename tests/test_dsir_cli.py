"""``tamis dsir`` as a process: what start-up and I/O may cost (docs/dsir.md, "End to end")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tamis import ImportanceResampler
from tamis.importance.tape import count_with_tape

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
    assert len(rows) == 50
    assert all("log_weight" in r and "gumbel_key" in r for r in rows)


def _corpus(n: int = 300) -> pa.Table:
    rng = np.random.default_rng(0)
    words = np.array(
        [
            "the",
            "cat",
            "sat",
            "on",
            "a",
            "mat",
            "stock",
            "prices",
            "fell",
            "sharply",
            "def",
            "return",
            "import",
            "numpy",
        ]
    )
    texts = [" ".join(rng.choice(words, int(rng.integers(0, 200)))) for _ in range(n)]
    texts[5] = None
    texts[6] = ""
    return pa.table({"id": [f"d{i}" for i in range(n)], "text": texts})


@pytest.mark.parametrize(
    ("make", "kw"),
    [
        (lambda **k: ImportanceResampler(min_length=20, **k), {}),
        (lambda **k: ImportanceResampler.reference(min_length=20, **k), {"method": "topk"}),
        (lambda **k: ImportanceResampler(min_length=20, **k), {"method": "replacement"}),
        (lambda **k: ImportanceResampler(n_buckets=1 << 17, min_length=20, **k), {}),
        (
            lambda **k: ImportanceResampler(separate_targets=True, min_length=20, **k),
            {"target": "two"},
        ),
    ],
)
@pytest.mark.parametrize("keep_mb", [256.0, 0.04, 0.01, 0.0])
def test_fit_resample_is_fit_then_resample(make, kw, keep_mb: float) -> None:
    """Featurising raw once (the tape) gives the same table as fit + resample, bit for bit;
    also when the tape outgrows its budget after one batch or at once (0.04, 0.01) or is off (0)."""
    raw = _corpus()
    target: object = raw.slice(0, 40)
    kw = dict(kw)
    if kw.pop("target", None) == "two":
        target = [raw.slice(0, 40), raw.slice(100, 40)]
    a = make(batch_size=64).fit(target, raw).resample(raw, 30, **kw)
    b = make(batch_size=64).fit_resample(target, raw, 30, keep_features_mb=keep_mb, **kw)
    assert a.equals(b)


def test_tape_scores_only_the_rows_it_holds() -> None:
    raw = _corpus(100)
    r = ImportanceResampler(min_length=0, batch_size=50)
    batches = list(pa.Table.from_pydict(raw.to_pydict()).to_batches(50))
    counts, tape = count_with_tape(r.featurizer, batches, text_column="text", budget=1 << 30)
    assert tape is not None
    assert tape.n_rows == 100
    r.fit_counts(counts[None, :], counts)
    text = batches[1].column("text")
    w, n = tape.scores(r.model_, text, 50)
    w2, n2 = r.log_weights(text, return_n_tokens=True)
    assert np.array_equal(w[:, 0], w2)
    assert np.array_equal(n, n2)
    assert tape.scores(r.model_, text, 49) is None  # not a batch start
    assert tape.scores(r.model_, text.slice(1), 50) is None  # other rows
    other = pa.array([t[::-1] if t else t for t in text.to_pylist()])
    assert tape.scores(r.model_, other, 50) is not None  # same lengths: the caller's contract
    shifted = pa.array(["x " + t if t else t for t in text.to_pylist()])
    assert tape.scores(r.model_, shifted, 50) is None


def test_fit_resample_rejects_bad_budget() -> None:
    with pytest.raises(ValueError, match="keep_features_mb"):
        ImportanceResampler().fit_resample(["a b"], ["a b"], 1, keep_features_mb=-1)


def test_core_tape_rejects_inconsistent_arrays() -> None:
    raw = _corpus(20)
    r = ImportanceResampler(min_length=0).fit(raw, raw)
    with pytest.raises(ValueError, match="row lengths"):
        r.model_.core.log_weights_tape(
            np.zeros(3, np.uint16), np.array([5], np.uint64), np.array([1], np.uint64)
        )
    with pytest.raises(ValueError, match="token counts"):
        r.model_.core.log_weights_tape(
            np.zeros(3, np.uint16), np.array([3], np.uint64), np.array([1, 2], np.uint64)
        )


def test_cli_keep_features_gives_the_same_output(tmp_path: Path) -> None:
    outs = []
    for mb in ["256", "0"]:
        out = tmp_path / f"sel{mb}.parquet"
        cmd = [sys.executable, "-m", "tamis", "dsir", "--target", str(SAMPLE / "target.jsonl.gz")]
        cmd += ["--raw", str(SAMPLE / "corpus.jsonl.gz"), "-k", "40", "-o", str(out), "-q"]
        subprocess.run([*cmd, "--keep-features-mb", mb], capture_output=True, check=True)
        outs.append(pq.read_table(out))
    assert outs[0].equals(outs[1])


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_cli_output_is_the_same_at_any_thread_count(tmp_path: Path, suffix: str) -> None:
    # files are read ahead in a thread (tamis._prefetch): same batches, same selection
    from tamis.cli import main

    outs = []
    for nt in ("1", "2", "3"):
        out = tmp_path / f"sel{nt}{suffix}"
        cmd = ["dsir", "--target", str(SAMPLE / "target.jsonl.gz")]
        cmd += ["--raw", str(SAMPLE / "corpus.jsonl.gz"), "-k", "40", "-o", str(out), "-q"]
        assert main([*cmd, "--n-threads", nt, "--batch-size", "64"]) == 0
        outs.append(out.read_bytes() if suffix == ".jsonl" else pq.read_table(out))
    for other in outs[1:]:
        assert other == outs[0] if suffix == ".jsonl" else other.equals(outs[0])
