"""Release hygiene: one version everywhere, a CHANGELOG entry for it, deprecated names that warn."""

import importlib.metadata
import re
import subprocess
import sys

import numpy as np
import pytest
from tests.conftest import REPO, SAMPLE

import tamis
from tamis.cli import main
from tamis.cli._common import RENAMED_FLAGS


def test_one_version_everywhere():
    """Cargo.toml's workspace version is the package's (pyproject takes it: dynamic)."""
    cargo = re.search(r'^version = "([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M)
    assert cargo is not None
    assert 'dynamic = ["version"]' in (REPO / "pyproject.toml").read_text()
    assert tamis.__version__ == cargo.group(1) == importlib.metadata.version("tamis")
    out = subprocess.run(
        [sys.executable, "-m", "tamis", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["tamis", tamis.__version__]


def test_changelog_has_this_version():
    text = (REPO / "CHANGELOG.md").read_text()
    assert re.search(rf"^## {re.escape(tamis.__version__)}\b", text, re.M), tamis.__version__
    for old, new in RENAMED_FLAGS.items():  # every renamed flag is recorded
        assert f"`{old}`" in text, old
        assert f"`{new}`" in text, new


@pytest.mark.parametrize(
    ("old", "new"), [("--buckets", "--n-buckets"), ("--threads", "--n-threads")]
)
def test_former_flag_warns_and_acts_like_the_new_one(tmp_path, capsys, old, new):
    corpus = str(SAMPLE / "corpus.jsonl.gz")
    args = ["features", corpus, "--n-buckets", "64", "--n-threads", "1", "-q"]
    assert main([*args, "-o", str(tmp_path / "new.npz")]) == 0
    assert "deprecated" not in capsys.readouterr().err
    swapped = [old if a == new else a for a in args]
    assert main([*swapped, "-o", str(tmp_path / "old.npz")]) == 0
    err = capsys.readouterr().err
    assert f"tamis features: warning: {old} is deprecated: use {new}" in err
    assert err.count("deprecated") == 1
    with np.load(tmp_path / "new.npz") as a, np.load(tmp_path / "old.npz") as b:
        assert a["data"].sum() > 0
        for key in ("indptr", "indices", "data", "n_tokens", "shape"):
            np.testing.assert_array_equal(a[key], b[key])


def test_every_renamed_flag_is_still_parsed():
    from tamis.cli import build_parser

    parser = build_parser()
    cases = {
        "--threads": (["dedup", "x.parquet", "-o", "y.parquet"], "n_threads", "3", 3),
        "--buckets": (
            ["dsir", "--target", "t", "--raw", "r", "-k", "1", "-o", "o.parquet"],
            "n_buckets",
            "64",
            64,
        ),
        "--bands": (["dedup", "x.parquet", "-o", "y.parquet"], "num_bands", "4", 4),
        "--k": (["score", "x.parquet", "-o", "y.parquet"], "min_k_fraction", "0.3", 0.3),
    }
    assert set(cases) == set(RENAMED_FLAGS)
    for old, (base, dest, value, expected) in cases.items():
        args = parser.parse_args([*base, old, value])
        assert getattr(args, dest) == expected
        assert args.renamed_flags == [old]
        assert not hasattr(parser.parse_args([*base, RENAMED_FLAGS[old], value]), "renamed_flags")
