import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.conftest import SAMPLE
from tests.reference import word_ngram_counts

import tamis
from tamis.cli import main

CORPUS = SAMPLE / "corpus.jsonl.gz"


def test_version_via_module():
    out = subprocess.run(
        [sys.executable, "-m", "tamis", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"tamis {tamis.__version__}"


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "features" in capsys.readouterr().out


def test_features_parquet_matches_library(tmp_path, sample_texts):
    out = tmp_path / "f.parquet"
    assert main(["features", str(CORPUS), "-o", str(out), "--n-buckets", "1000", "-q"]) == 0
    table = pq.read_table(out)
    assert table.num_rows == len(sample_texts)
    assert tamis.read_run_metadata(out)["params"]["n_buckets"] == 1000
    for i in (0, 17, 1234):
        row = dict(zip(table["buckets"][i].as_py(), table["counts"][i].as_py()))
        assert row == dict(word_ngram_counts(sample_texts[i], 1000, (1, 2)))
    assert table["id"][0].as_py().startswith("python-")  # ids come from the input


def test_features_npz_and_sum(tmp_path, sample_texts):
    npz = tmp_path / "f.npz"
    assert main(["features", str(CORPUS), "-o", str(npz), "--n-buckets", "64", "-q"]) == 0
    z = np.load(npz, allow_pickle=True)
    assert z["indptr"].shape == (len(sample_texts) + 1,)
    total = tmp_path / "sum.npz"
    assert (
        main(["features", str(CORPUS), "-o", str(total), "--n-buckets", "64", "--sum", "-q"]) == 0
    )
    expected = np.bincount(z["indices"], weights=z["data"], minlength=64)
    np.testing.assert_array_equal(np.load(total)["counts"], expected.astype(np.uint64))


def test_stats_by_domain(tmp_path, capsys, sample_texts):
    js = tmp_path / "s.json"
    assert main(["stats", str(CORPUS), "--by", "domain", "--json", str(js), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "python-docs" in printed
    assert "TOTAL" in printed
    stats = json.loads(js.read_text())
    assert stats["total"]["documents"] == len(sample_texts)
    assert stats["total"]["bytes"] == sum(len(t.encode()) for t in sample_texts)
    assert stats["total"]["tokens"] == sum(len(tamis.tokenize(t)) for t in sample_texts)
    assert set(stats["groups"]) == {"python-docs", "python-code", "python-tests"}


def test_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "t.jsonl").write_text('{"body": "x"}\n')
    assert main(["stats", str(tmp_path / "t.jsonl"), "-q"]) == 1
    assert "no text column 'text'" in capsys.readouterr().err
    assert (
        main(["features", str(tmp_path / "missing.parquet"), "-o", str(tmp_path / "o.parquet")])
        == 1
    )
    assert (
        main(["features", str(CORPUS), "-o", str(tmp_path / "o.parquet"), "--n-buckets", "0"]) == 1
    )
    assert "n_buckets must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("argv", [["features", "--help"], ["stats", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    assert "--text-column" in capsys.readouterr().out
