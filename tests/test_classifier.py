"""tamis.quality's hashed classifier, PreSelect's predictive strength and the classifier selector.

Oracles: scikit-learn's ``LogisticRegression`` (lbfgs) on the very feature matrix the classifier
trains on (same objective, so the same optimum), a scipy product for decision values, hand-computed
rank agreements, and a brute-force Gumbel top-k for the selector.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pyarrow as pa
import pytest
from tests.conftest import SAMPLE

from tamis import NotFittedError, _core
from tamis.importance import stream
from tamis.io import read_batches
from tamis.quality import (
    HashedClassifier,
    bits_per_character,
    classifier_select,
    label_by_strength,
    predictive_strength,
)


@pytest.fixture(scope="module")
def sample() -> pa.Table:
    """600 random documents of the shipped sample (three domains), with ids and domains."""
    t = pa.Table.from_batches(list(read_batches(SAMPLE / "corpus.jsonl.gz", columns=["domain"])))
    idx = np.sort(np.random.default_rng(0).choice(t.num_rows, 600, replace=False))
    return t.take(pa.array(idx))


def _sklearn_fit(clf: HashedClassifier, texts, y, class_weight):
    from sklearn.linear_model import LogisticRegression

    x = clf.transform(texts).to_scipy()
    sw_sum = len(y)  # class_weight="balanced" keeps the sum of weights at n
    sk = LogisticRegression(
        C=1.0 / (clf.l2 * sw_sum), tol=1e-12, max_iter=20_000, class_weight=class_weight
    )
    return sk.fit(x, y), x


@pytest.mark.parametrize("multiclass", [False, True])
@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_equals_sklearn_logistic_regression(sample, multiclass, class_weight):
    pytest.importorskip("sklearn")
    dom = np.asarray(sample.column("domain").to_pylist())
    y = dom if multiclass else (dom == "python-docs").astype(np.int64)
    texts = sample.column("text")
    clf = HashedClassifier(n_buckets=1 << 13, l2=3e-3, tol=1e-10, class_weight=class_weight)
    clf.fit(texts, y)
    sk, x = _sklearn_fit(clf, texts, y, class_weight)
    assert clf.converged_
    np.testing.assert_array_equal(clf.classes_, sk.classes_)
    np.testing.assert_allclose(clf.coef_.T, sk.coef_, atol=2e-6)
    np.testing.assert_allclose(clf.intercept_, sk.intercept_, atol=2e-6)
    # Decision values: a scipy product with the fitted weights.
    want = x @ clf.coef_ + clf.intercept_
    got = clf.decision_function(texts)
    np.testing.assert_allclose(got, want[:, 0] if not multiclass else want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(texts), sk.predict_proba(x), atol=1e-5)
    assert (clf.predict(texts) == sk.predict(x)).mean() > 0.995


def test_features_are_log_scaled_and_l2_normalised():
    clf = HashedClassifier(n_buckets=1 << 10)
    f = clf.transform(["a a b", ""])
    counts = clf.featurizer.transform(["a a b", ""])
    raw = np.log1p(counts.data[: counts.indptr[1]].astype(float))
    np.testing.assert_allclose(f.values[: f.indptr[1]], raw / np.linalg.norm(raw))
    assert f.indptr.tolist() == counts.indptr.tolist()
    assert f.shape == (2, 1 << 10)


def test_bit_identical_for_any_thread_count(sample):
    dom = np.asarray(sample.column("domain").to_pylist())
    texts = sample.column("text")
    fits = [
        HashedClassifier(n_buckets=1 << 12, l2=1e-4, n_threads=t).fit(texts, dom) for t in (1, 2, 3)
    ]
    for other in fits[1:]:
        assert np.array_equal(fits[0].coef_, other.coef_)
        assert np.array_equal(fits[0].intercept_, other.intercept_)
        assert fits[0].n_iter_ == other.n_iter_
        assert np.array_equal(fits[0].decision_function(texts), other.decision_function(texts))


def test_save_load_round_trip_without_pickle(tmp_path, sample):
    texts = sample.column("text")
    dom = np.asarray(sample.column("domain").to_pylist())
    for y, cw in ((dom, {"python-docs": 2.0}), ((dom == "python-code").astype(int), None)):
        clf = HashedClassifier(n_buckets=1 << 10, l2=1e-3, class_weight=cw).fit(texts, y)
        path = clf.save(tmp_path / "m.npz")
        with np.load(path, allow_pickle=False) as z:
            assert json.loads(str(z["header"]))["format"] == "tamis-hashed-classifier"
        back = HashedClassifier.load(path, n_threads=1)
        assert back.get_params() == {**clf.get_params(), "n_threads": 1}
        np.testing.assert_array_equal(back.classes_, clf.classes_)
        np.testing.assert_array_equal(back.predict(texts), clf.predict(texts))
        np.testing.assert_array_equal(back.decision_function(texts), clf.decision_function(texts))
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as z:
        z.writestr("x.npy", b"nope")
    with pytest.raises(ValueError, match=r"bad\.npz"):
        HashedClassifier.load(tmp_path / "bad.npz")


def test_bad_input_names_the_parameter():
    texts = ["a b", "c d", "e f"]
    with pytest.raises(NotFittedError):
        HashedClassifier().predict(texts)
    with pytest.raises(ValueError, match="two classes"):
        HashedClassifier(n_buckets=64).fit(texts, [1, 1, 1])
    with pytest.raises(ValueError, match="one label per document"):
        HashedClassifier(n_buckets=64).fit(texts, [1, 0])
    with pytest.raises(ValueError, match="sample_weight"):
        HashedClassifier(n_buckets=64).fit(texts, [1, 0, 1], sample_weight=[1, -1, 1])
    with pytest.raises(ValueError, match="class_weight"):
        HashedClassifier(class_weight="even")
    with pytest.raises(ValueError, match="class_weight"):
        HashedClassifier(n_buckets=64, class_weight={7: 1.0}).fit(texts, [1, 0, 1])
    with pytest.raises(ValueError, match="l2"):
        HashedClassifier(l2=-1.0)
    with pytest.raises(ValueError, match="n_buckets"):
        HashedClassifier(n_buckets=0)
    with pytest.raises(ValueError, match="indices"):
        _core.linear_decision(
            np.array([0, 1]), np.array([9], np.uint32), np.ones(1), np.zeros((4, 1)), np.zeros(1)
        )


def test_fit_binary_separates_the_sample_domains(sample):
    dom = np.asarray(sample.column("domain").to_pylist())
    texts = np.asarray(sample.column("text").to_pylist(), dtype=object)
    train, test = np.arange(len(dom)) % 4 != 0, np.arange(len(dom)) % 4 == 0
    pos = texts[train & (dom == "python-docs")].tolist()
    neg = texts[train & (dom != "python-docs")].tolist()
    clf = HashedClassifier(n_buckets=1 << 16).fit_binary(pos, neg)
    acc = clf.score(texts[test].tolist(), (dom[test] == "python-docs").astype(int))
    assert acc > 0.95


# -- PreSelect --------------------------------------------------------------------------------------


def test_predictive_strength_hand_computed():
    scores = [70.0, 50.0, 60.0, 40.0]  # benchmark order: model 0 > 2 > 1 > 3
    losses = [
        [1.0, 3.0, 2.0, 4.0],  # perfectly predictive: 1
        [4.0, 2.0, 3.0, 1.0],  # reversed: 0
        [1.0, 2.0, 3.0, 4.0],  # swaps models 1 and 2: 5 of 6 pairs
        [2.0, 2.0, 2.0, 2.0],  # all tied: strict < agrees with nothing
        [1.0, np.nan, 2.0, 3.0],  # NaN loss
    ]
    got = predictive_strength(losses, scores)
    np.testing.assert_allclose(got[:4], [1.0, 0.0, 5 / 6, 0.0])
    assert np.isnan(got[4])
    # Models with equal benchmark scores form no pair: Z = 5 here.
    got = predictive_strength([[1.0, 2.0, 3.0, 0.5]], [3.0, 2.0, 2.0, 1.0])
    # pairs (0,1) 1<2 yes, (0,2) 1<3 yes, (0,3) 1<0.5 no, (1,3) no, (2,3) no.
    np.testing.assert_allclose(got, [2 / 5])
    with pytest.raises(ValueError, match="scores"):
        predictive_strength([[1.0, 2.0]], [1.0, 1.0])
    with pytest.raises(ValueError, match="scores"):
        predictive_strength([[1.0, 2.0]], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="two models"):
        predictive_strength([[1.0]], [1.0])


def test_predictive_strength_equals_a_kendall_transform():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    losses, scores = rng.normal(size=(50, 6)), rng.normal(size=6)
    got = predictive_strength(losses, scores)
    # Without ties S = (1 - tau(losses, scores)) / 2: agreement means lower loss, higher score.
    tau = np.array([scipy_stats.kendalltau(row, scores).statistic for row in losses])
    np.testing.assert_allclose(got, (1 - tau) / 2, atol=1e-12)


def test_bits_per_character_and_labels():
    np.testing.assert_allclose(bits_per_character([np.log(2) * 10, 1.0], [5, 0])[:1], [2.0])
    assert np.isnan(bits_per_character([1.0], [0])[0])
    labels = label_by_strength(
        [0.9, 0.1, 0.5, np.nan, 0.9, 0.2], positive_fraction=0.4, negative_fraction=0.4
    )
    assert labels.tolist() == [1, 0, -1, -1, 1, 0]
    with pytest.raises(ValueError, match="positive_fraction"):
        label_by_strength([0.1], positive_fraction=0.0, negative_fraction=0.5)


# -- the target classifier selector ----------------------------------------------------------------


@pytest.fixture(scope="module")
def selection_task(sample):
    raw = sample.select(["id", "text", "domain"])
    target = [b.column("text") for b in read_batches(SAMPLE / "target.jsonl.gz", columns=[])]
    target = pa.chunked_array(target)
    return raw, target


def test_classifier_select_is_a_keyed_gumbel_top_k(selection_task):
    raw, target = selection_task
    clf = HashedClassifier(n_buckets=1 << 14, class_weight="balanced")
    sel = classifier_select(raw, target, 50, seed=3, classifier=clf, batch_size=64)
    assert len(sel) == 50
    assert sel.method == "classifier/gumbel"
    # Brute force: log-odds of every raw row plus the id-keyed Gumbel noise, top 50.
    z = clf.decision_function(raw.column("text"))
    noise = _core.gumbel_noise(stream.id_hashes(raw.column("id")), seed=3)
    want = np.sort(np.argsort(-(z + noise), kind="stable")[:50])
    np.testing.assert_array_equal(sel.indices, want)
    np.testing.assert_allclose(sel.log_odds, z[want])
    np.testing.assert_allclose(sel.key, z[want] + noise[want])
    assert sel.ids == raw.column("id").take(pa.array(want)).to_pylist()
    cold = classifier_select(raw, target, 50, seed=3, temperature=0.25, classifier=clf)
    want = np.sort(np.argsort(-(4 * z + noise), kind="stable")[:50])
    np.testing.assert_array_equal(cold.indices, want)
    # Top-k takes the largest log-odds.
    top = classifier_select(raw, target, 50, method="topk", classifier=clf)
    np.testing.assert_array_equal(top.indices, np.sort(np.argsort(-z, kind="stable")[:50]))
    # Target-like: far more python-docs than their share of raw.
    dom = np.asarray(raw.column("domain").to_pylist())
    assert (dom[sel.indices] == "python-docs").mean() > (dom == "python-docs").mean() + 0.3


def test_classifier_select_ignores_sharding_and_order(selection_task):
    raw, target = selection_task
    clf = HashedClassifier(n_buckets=1 << 14, class_weight="balanced").fit_binary(
        target, raw.column("text")
    )
    a = classifier_select(raw, target, 40, seed=1, classifier=clf, batch_size=1000)
    b = classifier_select(raw, target, 40, seed=1, classifier=clf, batch_size=37)
    perm = np.random.default_rng(5).permutation(raw.num_rows)
    c = classifier_select(raw.take(pa.array(perm)), target, 40, seed=1, classifier=clf)
    assert a.ids == b.ids
    assert sorted(a.ids) == sorted(c.ids)
    d = classifier_select(raw, target, 40, seed=2, classifier=clf)
    assert d.ids != a.ids
    with pytest.raises(ValueError, match="k"):
        classifier_select(raw, target, 0, classifier=clf)
    with pytest.raises(ValueError, match="temperature"):
        classifier_select(raw, target, 5, temperature=0.0, classifier=clf)
    with pytest.raises(ValueError, match="method"):
        classifier_select(raw, target, 5, method="replacement", classifier=clf)


def test_default_selector_fits_target_against_raw(selection_task):
    raw, target = selection_task
    sel = classifier_select(raw, target, 30, seed=0, n_threads=2)
    assert len(sel) == 30
    assert sel.info["n_iter"] > 0
    assert len(set(sel.ids)) == 30


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tamis", *args], capture_output=True, text=True, **kw
    )


@pytest.fixture(scope="module")
def labelled_files(tmp_path_factory, sample):
    d = tmp_path_factory.mktemp("quality")
    dom = np.asarray(sample.column("domain").to_pylist())
    for name, mask in (("pos", dom == "python-docs"), ("neg", dom != "python-docs")):
        rows = sample.filter(pa.array(mask)).select(["id", "text", "domain"]).to_pylist()
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def test_cli_train_and_score(labelled_files, tmp_path, sample):
    import pyarrow.parquet as pq

    d = labelled_files
    model = tmp_path / "m.npz"
    r = _cli(
        "quality", "train", "--positive", str(d / "pos.jsonl"), "--negative", str(d / "neg.jsonl"),
        "-o", str(model), "--n-buckets", "4096", "--l2", "1e-4", "--n-threads", "1",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "converged" in r.stderr
    clf = HashedClassifier.load(model)
    assert clf.n_buckets == 4096
    assert clf.l2 == 1e-4
    out = tmp_path / "scored.parquet"
    inputs = [str(d / "pos.jsonl"), str(d / "neg.jsonl")]
    r = _cli("quality", "score", *inputs, "--model", str(model), "-o", str(out), "--json", "-")
    assert r.returncode == 0, r.stderr
    t = pq.read_table(out)
    assert t.column_names[-2:] == ["score", "log_odds"]
    z = clf.decision_function(t.column("text"))
    np.testing.assert_allclose(t.column("log_odds").to_numpy(), z)
    np.testing.assert_allclose(t.column("score").to_numpy(), 1 / (1 + np.exp(-z)))
    assert json.loads(r.stdout)["documents"] == sample.num_rows
    kept = tmp_path / "kept.jsonl"
    r = _cli(
        *["quality", "score", *inputs, "--model", str(model)], "-o", str(kept), "--min-score", "0.5"
    )
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in kept.read_text().splitlines()]
    assert len(rows) == int((z >= 0).sum())
    assert all(row["score"] >= 0.5 for row in rows)
    # Bad input: one line naming the flag or file, no traceback.
    r = _cli("quality", "score", inputs[0], "--model", str(tmp_path / "nope.npz"), "-o", str(out))
    assert r.returncode == 1
    assert "nope.npz" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli("quality", "score", inputs[0], "--model", str(model), "-o", str(model))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
