"""SemDeDup: the paper's rule by brute force, keep policies, stability under thread count and
input order, bad input and the ``tamis semdedup`` command."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tamis import Selection
from tamis.cli import main
from tamis.cluster import KMeans, semdedup


def near_duplicates(n_base=300, d=16, copies=3, noise=0.03, seed=0, dtype=np.float32):
    """Base rows plus noisy copies: groups of near-duplicates, in shuffled order."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_base, d))
    rows = [base] + [
        base[: n_base // (c + 1)] + noise * rng.normal(size=(n_base // (c + 1), d))
        for c in range(copies)
    ]
    X = np.concatenate(rows)
    return X[rng.permutation(len(X))].astype(dtype)


def brute_force(X, labels, eps, order_key, ids, rule):
    """Abbas et al.'s rule in numpy: per cluster, rows sorted by ``order_key`` (descending, ties
    by id), ``M = max(triu(S, 1), axis=0)``, remove where ``M >= 1 - eps`` (``rule="kept"``:
    only kept rows count)."""
    U = X.astype(np.float64) / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
    keep = np.ones(len(X), dtype=bool)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        rows = rows[np.lexsort((ids[rows], -order_key[rows]))]
        S = U[rows] @ U[rows].T
        if rule == "paper":
            # max(triu(S, 1), axis=0), without the zeros below the diagonal.
            M = np.array([S[:j, j].max() if j else -np.inf for j in range(len(rows))])
            keep[rows] = M < 1 - eps  # noqa: SIM300
        else:
            kept = []
            for j in range(len(rows)):
                if not kept or S[kept, j].max() < 1 - eps:
                    kept.append(j)
                else:
                    keep[rows[j]] = False
    return keep


@pytest.mark.parametrize("rule", ["paper", "kept"])
@pytest.mark.parametrize("keep", ["farthest", "closest", "score"])
def test_equals_brute_force(rule, keep):
    X = near_duplicates()
    n = len(X)
    km = KMeans(6, metric="cosine", seed=1).fit(X)
    ids = np.arange(n)[::-1].copy()
    score = np.random.default_rng(2).random(n)
    sel = semdedup(
        X, 0.02, labels=km.labels_, centroids=km.centroids_, keep=keep, score=score,
        ids=ids, rule=rule,
    )  # fmt: skip
    U = X.astype(np.float64) / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
    C = km.centroids_.astype(np.float64)
    cos = (U * (C / np.linalg.norm(C, axis=1, keepdims=True))[km.labels_]).sum(1)
    key = {"farthest": -cos, "closest": cos, "score": score}[keep]
    ref = brute_force(X, km.labels_, 0.02, key, ids, rule)
    assert isinstance(sel, Selection)
    assert (sel.keep == ref).all()
    assert sel.indices.tolist() == np.flatnonzero(ref).tolist()
    assert 100 < sel.n_removed <= n - 300
    # Every removed row names its duplicate: same cluster, similarity as reported.
    gone = np.flatnonzero(~sel.keep)
    dup = sel.duplicate_of[gone]
    assert (km.labels_[dup] == km.labels_[gone]).all()
    np.testing.assert_allclose((U[gone] * U[dup]).sum(1), sel.similarity[gone], atol=1e-5)
    assert (sel.similarity[gone] >= 0.98 - 1e-6).all()
    assert sel.duplicate_of_id.to_pylist() == [
        int(ids[d]) if d >= 0 else None for d in sel.duplicate_of
    ]
    if rule == "kept":
        assert sel.keep[dup].all()


def test_stable_under_thread_count_and_input_order():
    X = near_duplicates(seed=3)
    n = len(X)
    ids = np.array([f"doc{i:05d}" for i in range(n)])
    km = KMeans(5, metric="cosine", seed=0).fit(X)
    a = semdedup(X, 0.05, labels=km.labels_, centroids=km.centroids_, ids=ids, n_threads=1)
    b = semdedup(X, 0.05, labels=km.labels_, centroids=km.centroids_, ids=ids, n_threads=3)
    assert np.array_equal(a.keep, b.keep)
    assert np.array_equal(a.similarity, b.similarity, equal_nan=True)
    perm = np.random.default_rng(0).permutation(n)
    c = semdedup(X[perm], 0.05, labels=km.labels_[perm], centroids=km.centroids_, ids=ids[perm])
    assert set(ids[~a.keep]) == set(ids[perm][~c.keep])
    # Exact copies (a cosine of 1 up to rounding, hence eps > 0): which copy survives depends on the ids, not on the order.
    Y = np.concatenate([X[:50], X[:50]])
    yid = np.arange(100)
    p = semdedup(Y, 1e-4, labels=np.zeros(100, dtype=int), ids=yid)
    q_perm = np.arange(100)[::-1]
    q = semdedup(Y[q_perm], 1e-4, labels=np.zeros(100, dtype=int), ids=yid[q_perm])
    assert set(yid[~p.keep]) == set(yid[q_perm][~q.keep])
    assert p.n_removed == 50


def test_fits_kmeans_when_given_k_and_bad_input():
    X = near_duplicates(n_base=100)
    sel = semdedup(X, 0.02, k=4, seed=1)
    km = KMeans(4, metric="cosine", seed=1).fit(X)
    assert np.array_equal(sel.cluster_id, km.labels_[sel.indices])
    with pytest.raises(ValueError, match="eps"):
        semdedup(X, 3.0, k=2)
    with pytest.raises(ValueError, match="labels, centroids or k"):
        semdedup(X, 0.1)
    with pytest.raises(ValueError, match="needs score"):
        semdedup(X, 0.1, k=2, keep="score")
    Z = X.copy()
    Z[5] = 0
    with pytest.raises(ValueError, match="row 5 has norm 0"):
        semdedup(Z, 0.1, labels=np.zeros(len(Z), dtype=int), keep="score", score=np.ones(len(Z)))
    with pytest.raises(ValueError, match="labels must be >= 0"):
        semdedup(X, 0.1, labels=-np.ones(len(X), dtype=int))
    with pytest.raises(ValueError, match="keep"):
        semdedup(X, 0.1, k=2, keep="first")


def test_cli_semdedup(tmp_path, capsys):
    X = near_duplicates(n_base=120)
    ids = [f"d{i}" for i in range(len(X))]
    flat = pa.array(X.reshape(-1))
    table = pa.table({"id": ids, "embedding": pa.FixedSizeListArray.from_arrays(flat, X.shape[1])})
    src = tmp_path / "emb.parquet"
    pq.write_table(table, src)
    out = tmp_path / "kept.parquet"
    assert main(["semdedup", str(src), "--eps", "0.02", "-k", "3", "-o", str(out)]) == 0
    ref = semdedup(X, 0.02, k=3, ids=pa.array(ids))
    assert pq.read_table(out).column("id").to_pylist() == [ids[i] for i in ref.indices]
    # With saved centroids, all rows.
    cen = tmp_path / "c.npz"
    KMeans(3, metric="cosine").fit(X).save(cen)
    allp = tmp_path / "all.parquet"
    argv = ["semdedup", str(src), "--eps", "0.02", "--init-centroids", str(cen), "--all-rows"]
    assert main([*argv, "-o", str(allp)]) == 0
    t = pq.read_table(allp)
    assert t.num_rows == len(X)
    assert {"cluster_id", "duplicate_of", "similarity", "keep"} <= set(t.column_names)
    capsys.readouterr()
    assert main(["semdedup", str(src), "--eps", "0.02", "-o", str(out)]) == 1
    assert "exactly one of -k" in capsys.readouterr().err
    bad = ["semdedup", str(src), "--eps", "0.1", "-k", "2", "--embedding-column", "x"]
    assert main([*bad, "-o", str(out)]) == 1
    assert "no column 'x'" in capsys.readouterr().err
    assert main(["semdedup", str(src), "--eps", "-1", "-k", "2", "-o", str(out)]) == 1
    assert "--eps" in capsys.readouterr().err
