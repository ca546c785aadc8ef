"""The torch-free parts of tamis.scoring: select_top, prefetch, batching, metric names, imports.

Nothing here needs torch or transformers, so these run on a plain install.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from tamis._base import Selection
from tamis.scoring import LM_METRICS, prefetch, select_top, token_budget_batches


def test_import_tamis_imports_no_optional_framework() -> None:
    code = (
        "import sys, tamis, tamis.scoring, tamis.cli\n"
        "heavy = ('torch', 'transformers', 'ray', 'tokenizers')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_token_budget_batches() -> None:
    lengths = np.array([5, 100, 7, 50, 50, 1, 0])
    batches = token_budget_batches(lengths, 100)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * lengths[b].max() <= 100
    assert [len(b) for b in token_budget_batches(lengths, 1000, max_batch_size=3)] == [3, 3, 1]
    assert token_budget_batches(np.array([], dtype=np.int64), 10) == []


def test_metric_names_are_checked() -> None:
    from tamis.scoring import _check_metrics

    assert _check_metrics(None) == list(LM_METRICS)
    assert _check_metrics("mean_nll, min_k,mean_nll") == ["mean_nll", "min_k"]
    assert _check_metrics(["ppl"]) == ["ppl"]
    for bad in (["perplexity"], [], ""):
        with pytest.raises(ValueError, match="metrics must be among"):
            _check_metrics(bad)


def test_cli_min_k_fraction_flag_and_alias() -> None:
    from tamis.cli import build_parser

    parser = build_parser()
    base = ["score", "in.parquet", "-o", "out.parquet"]
    assert parser.parse_args(base).min_k_fraction == 0.2
    assert parser.parse_args([*base, "--min-k-fraction", "0.1"]).min_k_fraction == 0.1
    assert parser.parse_args([*base, "--k", "0.3"]).min_k_fraction == 0.3


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from tamis.scoring import LMScorer

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ImportError, match=r"tamis\[torch\]"):
        LMScorer("some/model")


def test_embedding_classifier_regression_head_is_numpy() -> None:
    from tamis.exceptions import NotFittedError
    from tamis.scoring import EmbeddingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    w = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    y = x @ w + 0.7
    reg = EmbeddingClassifier(task="regression", alpha=0.0).fit_embeddings(x, y)
    np.testing.assert_allclose(reg.coef_, w, atol=1e-8)
    assert reg.intercept_ == pytest.approx(0.7)
    np.testing.assert_allclose(reg.score_embeddings(x), y, atol=1e-8)
    with pytest.raises(NotFittedError):
        EmbeddingClassifier().score_embeddings(x)
    with pytest.raises(ValueError, match="labels"):
        EmbeddingClassifier().fit_embeddings(x, y[:3])
    with pytest.raises(ValueError, match="task"):
        EmbeddingClassifier(task="ranking")


def test_prefetch_keeps_order_and_raises() -> None:
    assert list(prefetch(iter(range(5)), lambda x: x * x)) == [(i, i * i) for i in range(5)]
    assert list(prefetch([], str)) == []

    def gen() -> object:
        yield 1
        raise OSError("bad file")

    got = []

    def consume() -> None:
        for item, _ in prefetch(gen(), str):
            got.append(item)

    with pytest.raises(OSError, match="bad file"):
        consume()
    assert got == [1]


def _brute_select(scores, quota_of, groups, higher):
    keep = []
    for g in sorted(set(groups)):
        rows = [i for i in range(len(scores)) if groups[i] == g]
        ranked = sorted(
            (i for i in rows if not math.isnan(scores[i])),
            key=lambda i: (-scores[i] if higher else scores[i], i),
        )
        keep += ranked[: quota_of(len(rows))]
    return sorted(keep)


@pytest.mark.parametrize("higher", [True, False])
def test_select_top_against_brute_force(higher: bool) -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 6, 200).astype(float)  # many ties
    scores[rng.random(200) < 0.1] = np.nan
    groups = rng.choice(["a", "b", "c"], 200).tolist()
    ones = ["all"] * 200
    for frac in (0.0, 0.1, 0.37, 1.0):
        got = select_top(scores, fraction=frac, higher_is_better=higher)
        want = _brute_select(scores, lambda m, f=frac: math.ceil(m * f - 1e-9), ones, higher)
        assert got.indices.tolist() == want
        got = select_top(scores, fraction=frac, groups=groups, higher_is_better=higher)
        want = _brute_select(scores, lambda m, f=frac: math.ceil(m * f - 1e-9), groups, higher)
        assert got.indices.tolist() == want
    for k in (0, 5, 500):
        assert select_top(
            scores, k=k, groups=pa.array(groups), higher_is_better=higher
        ).indices.tolist() == (_brute_select(scores, lambda m, k=k: k, groups, higher))
    got = select_top(scores, threshold=3, higher_is_better=higher)
    want = [i for i, v in enumerate(scores) if (v >= 3 if higher else v <= 3)]
    assert got.indices.tolist() == want
    with pytest.raises(ValueError, match="exactly one"):
        select_top(scores, k=3, fraction=0.5)
    with pytest.raises(ValueError, match="fraction"):
        select_top(scores, fraction=1.5)
    with pytest.raises(ValueError, match="groups"):
        select_top(scores, k=1, groups=["a"])
    assert select_top(np.array([]), k=3).indices.tolist() == []


def test_select_top_returns_a_selection() -> None:
    scores = np.array([0.3, np.nan, 0.9, 0.1, 0.9])
    sel = select_top(scores, k=2)
    assert isinstance(sel, Selection)
    assert sel.method == "score/top"
    assert sel.n_rows == 5
    assert sel.n_eligible == 4
    assert sel.indices.tolist() == [2, 4]
    assert list(sel) == [2, 4]
    assert sel.score.tolist() == [0.9, 0.9]
    assert sel.mask().tolist() == [False, False, True, False, True]
    t = sel.to_arrow()
    assert t.column_names == ["index", "id", "score"]
    assert t["index"].to_pylist() == [2, 4]
    assert t["score"].to_pylist() == [0.9, 0.9]
    with pytest.warns(DeprecationWarning, match="k="):
        old = select_top(scores, n=2)
    assert old.indices.tolist() == [2, 4]
    with pytest.raises(ValueError, match="not both"), pytest.warns(DeprecationWarning, match="k="):
        select_top(scores, n=2, k=2)
