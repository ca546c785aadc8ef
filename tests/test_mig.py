"""MIG greedy information gain (brute-force greedy oracle; lazy = plain) and the UCB bandit."""

import itertools

import numpy as np
import pytest

from tamis.balance import UCBBandit, mig_objective, mig_select, mig_weights


def _random_case(rng, n, n_labels, continuous=True):
    labels = [
        rng.choice(n_labels, size=rng.integers(0, 4), replace=False).tolist() for _ in range(n)
    ]
    q = rng.random(n) if continuous else rng.integers(1, 4, n).astype(float)
    return labels, q


def _brute_greedy(weights, k, phi, alpha):
    """The definition: add the row with the largest F(S + i) - F(S), recomputed from scratch."""
    n = len(weights[0]) - 1
    chosen = []
    for _ in range(k):
        base = mig_objective(weights, chosen, phi=phi, alpha=alpha)
        gains = [
            (mig_objective(weights, [*chosen, i], phi=phi, alpha=alpha) - base, -i)
            for i in range(n)
            if i not in chosen
        ]
        chosen.append(-max(gains)[1])
    return chosen


@pytest.mark.parametrize("phi", ["power", "log1p"])
def test_mig_equals_brute_force_greedy(phi):
    rng = np.random.default_rng(1)
    for case in range(25):
        labels, q = _random_case(rng, 25 + case, 6)
        alpha = 0.5 + 0.4 * rng.random()
        weights = mig_weights(labels, quality=q)
        want = _brute_greedy(weights, 10, phi, alpha)
        for lazy in (False, True):
            sel = mig_select(labels, 10, quality=q, phi=phi, alpha=alpha, lazy=lazy, n_threads=2)
            assert sel.indices.tolist() == want, (case, lazy)
        assert np.all(np.diff(sel.gain) <= 1e-12)  # diminishing returns
        np.testing.assert_allclose(
            sel.info["objective"], mig_objective(weights, want, phi=phi, alpha=alpha)
        )


def test_lazy_equals_plain_with_ties_and_a_graph():
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(2)
    for case in range(20):
        labels, q = _random_case(rng, 60, 8, continuous=False)  # integer scores: many ties
        g = (rng.random((8, 8)) < 0.25) * 0.5
        graph = sp.csr_matrix(np.maximum(g, g.T) + np.eye(8))
        plain = mig_select(labels, 20, quality=q, graph=graph, lazy=False)
        lazy = mig_select(labels, 20, quality=q, graph=graph, lazy=True)
        assert plain.indices.tolist() == lazy.indices.tolist(), case
        np.testing.assert_array_equal(plain.gain, lazy.gain)
        assert lazy.info["n_evaluations"] <= plain.info["n_evaluations"]


def test_greedy_is_within_one_minus_one_over_e_of_the_optimum():
    rng = np.random.default_rng(3)
    for _ in range(10):
        labels, q = _random_case(rng, 12, 5)
        w = mig_weights(labels, quality=q)
        best = max(
            mig_objective(w, s, phi="power", alpha=0.6)
            for s in itertools.combinations(range(12), 4)
        )
        got = mig_select(labels, 4, quality=q, alpha=0.6).info["objective"]
        assert got >= (1 - 1 / np.e) * best - 1e-12
        assert got <= best + 1e-12


def test_graph_propagates_information():
    sp = pytest.importorskip("scipy.sparse")
    # Labels 0 and 1 are near-synonyms: after picking a label-0 document, a label-1 document
    # earns less than a label-2 one of the same quality.
    graph = sp.csr_matrix(np.array([[1, 0.9, 0], [0.9, 1, 0], [0, 0, 1.0]]))
    labels, q = [[0], [1], [2]], [1.0, 0.99, 0.98]
    assert mig_select(labels, 2, quality=q, graph=graph).indices.tolist() == [0, 2]
    assert mig_select(labels, 2, quality=q).indices.tolist() == [0, 1]
    ptr, _, data, width = mig_weights(labels, quality=q, graph=graph, normalize_graph=False)
    assert width == 3
    assert ptr.tolist() == [0, 2, 4, 5]
    np.testing.assert_allclose(data, [1, 0.9, 0.99 * 0.9, 0.99, 0.98])
    _, _, data, _ = mig_weights(labels, quality=q, graph=graph)
    np.testing.assert_allclose(data, [1 / 1.9, 0.9 / 1.9, 0.99 * 0.9 / 1.9, 0.99 / 1.9, 0.98])


def test_inputs_dense_sparse_and_lists_agree():
    sp = pytest.importorskip("scipy.sparse")
    labels = [[0, 2], [1], [], [2]]
    dense = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 1]], float)
    a = mig_select(labels, 3).indices.tolist()
    assert (
        a
        == mig_select(dense, 3).indices.tolist()
        == mig_select(sp.csr_matrix(dense), 3).indices.tolist()
    )


def test_mig_bad_arguments():
    with pytest.raises(ValueError, match="k must be <= 2"):
        mig_select([[0], [1]], 3)
    with pytest.raises(ValueError, match="alpha"):
        mig_select([[0], [1]], 1, alpha=1.5)
    with pytest.raises(ValueError, match="phi"):
        mig_select([[0], [1]], 1, phi="exp")
    with pytest.raises(ValueError, match=r"quality must be finite and >= 0, got -1.0 at row 1"):
        mig_select([[0], [1]], 1, quality=[1, -1])
    with pytest.raises(ValueError, match=r"labels\[1\]"):
        mig_select([[0], [-1]], 1)
    with pytest.raises(ValueError, match="graph must be"):
        mig_select([[0], [1]], 1, graph=np.eye(3), n_labels=2)


def test_ucb_bandit_is_ucb1_and_seeded():
    b = UCBBandit(4, c=0.5, seed=3)
    first = b.select(4)
    assert sorted(first.tolist()) == [0, 1, 2, 3]  # unpulled arms first
    assert UCBBandit(4, c=0.5, seed=3).select(4).tolist() == first.tolist()
    b.update([0, 1, 2, 3, 0], [1.0, 0.0, 0.5, 0.2, 0.0])
    total = 5
    want = np.array([0.5, 0, 0.5, 0.2]) + 0.5 * np.sqrt(2 * np.log(total) / np.array([2, 1, 1, 1]))
    np.testing.assert_allclose(b.scores(), want)
    assert b.select(1).tolist() == [int(np.argmax(want))]


def test_ucb_bandit_finds_the_best_arm():
    rng = np.random.default_rng(0)
    means = np.array([0.2, 0.5, 0.8, 0.4, 0.1])
    b = UCBBandit(5, seed=1)
    for _ in range(600):
        arms = b.select(1)
        b.update(arms, rng.random(len(arms)) < means[arms])
    assert int(np.argmax(b.pulls_)) == 2
    assert b.pulls_[2] > 300
    with pytest.raises(ValueError, match="rewards"):
        b.update([0], [np.nan])
    with pytest.raises(ValueError, match="arms"):
        b.update([7], [1.0])
    with pytest.raises(ValueError, match="k must be <= 5"):
        b.select(6)
