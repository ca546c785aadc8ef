"""k-means: oracles (brute force, scikit-learn, faiss, SciPy linkage), determinism, persistence,
bad input and the ``tamis cluster`` command."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tamis.cli import main
from tamis.cluster import KMeans, merge_centroids
from tamis.exceptions import InputError, NotFittedError


def blobs(n=3000, d=16, k=12, std=2.5, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(k, d))
    X = centres[rng.integers(0, k, size=n)] + rng.normal(scale=std, size=(n, d))
    return X.astype(dtype)


def inertia(X, C):
    """Sum of squared distances to the nearest centroid, in float64 (the common yardstick)."""
    X = X.astype(np.float64)
    C = C.astype(np.float64)
    d = (X * X).sum(1)[:, None] - 2 * X @ C.T + (C * C).sum(1)[None, :]
    return float(np.maximum(d.min(1), 0).sum())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_labels_and_inertia_match_brute_force(dtype):
    X = blobs(dtype=dtype)
    km = KMeans(12, seed=3).fit(X)
    C = km.centroids_.astype(np.float64)
    d = ((X.astype(np.float64)[:, None, :] - C[None]) ** 2).sum(-1)
    assert km.centroids_.dtype == dtype
    assert (km.labels_ == d.argmin(1)).all()
    assert km.inertia_ == pytest.approx(d.min(1).sum(), rel=1e-4)
    assert km.distances_ == pytest.approx(d.min(1), rel=1e-3, abs=1e-3)
    assert km.counts_.tolist() == np.bincount(km.labels_, minlength=12).tolist()
    # A fixed point of Lloyd: every centroid is the mean of its rows.
    for j in range(12):
        np.testing.assert_allclose(C[j], X[km.labels_ == j].mean(0), rtol=1e-4, atol=1e-4)
    assert (km.predict(X) == km.labels_).all()


def test_inertia_within_one_percent_of_scikit_learn_and_faiss():
    import faiss
    from sklearn.cluster import KMeans as SkKMeans

    X = blobs(n=4000, d=24, k=20, std=3.0, seed=1)
    ours_pp = inertia(X, KMeans(20, max_iter=25, tol=0, n_init=3, seed=0).fit(X).centroids_)
    sk = SkKMeans(20, init="k-means++", n_init=3, max_iter=25, tol=0, random_state=0).fit(X)
    assert ours_pp <= 1.01 * inertia(X, sk.cluster_centers_)
    ours_rand = KMeans(20, init="random", max_iter=25, tol=0, n_init=3, seed=0).fit(X)
    fk = faiss.Kmeans(24, 20, niter=25, nredo=3, seed=0, max_points_per_centroid=10**6)
    fk.train(X)
    assert inertia(X, ours_rand.centroids_) <= 1.01 * inertia(X, fk.centroids)


@pytest.mark.parametrize("algorithm", ["lloyd", "minibatch"])
@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_same_result_for_any_thread_count(algorithm, metric):
    X = blobs(n=2000, d=8)
    kw = {"algorithm": algorithm, "metric": metric, "batch_size": 300, "max_iter": 10, "seed": 5}
    a = KMeans(7, n_threads=1, **kw).fit(X)
    b = KMeans(7, n_threads=3, **kw).fit(X)
    assert np.array_equal(a.centroids_, b.centroids_)
    assert np.array_equal(a.labels_, b.labels_)
    assert a.inertia_ == b.inertia_


def test_minibatch_close_to_lloyd():
    X = blobs(n=6000, d=8, k=6, std=1.0)
    full = KMeans(6, seed=0).fit(X).inertia_
    mb = KMeans(6, algorithm="minibatch", batch_size=512, max_iter=5, seed=0).fit(X).inertia_
    assert mb <= 1.05 * full


def test_cosine_is_spherical_kmeans():
    X = blobs(n=1500, d=10, k=5)
    km = KMeans(5, metric="cosine", seed=2).fit(X)
    np.testing.assert_allclose(np.linalg.norm(km.centroids_, axis=1), 1, rtol=1e-5)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    cos = U @ km.centroids_.T
    assert (km.labels_ == cos.argmax(1)).all()
    assert km.inertia_ == pytest.approx((2 - 2 * cos.max(1)).sum(), rel=1e-3)


def test_save_load_and_streaming_predict(tmp_path):
    X = blobs(n=1000, d=6, k=4)
    km = KMeans(4, seed=1).fit(X)
    path = km.save(tmp_path / "km.npz")
    back = KMeans.load(path)
    assert back.get_params() == km.get_params()
    assert np.array_equal(back.centroids, km.centroids)
    # Batch by batch gives the labels of the whole.
    parts = [back.predict(X[i : i + 128]) for i in range(0, len(X), 128)]
    assert np.array_equal(np.concatenate(parts), km.labels_)
    with np.load(path, allow_pickle=False) as z:
        assert "centroids" in z.files
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"bad\.npz"):
        KMeans.load(tmp_path / "bad.npz")


def test_merge_centroids_matches_scipy():
    from scipy.cluster.hierarchy import fcluster, linkage

    C = blobs(n=40, d=5, k=6, std=1.0, seed=4, dtype=np.float64)
    for method in ("ward", "average", "complete", "single"):
        labels, Z = merge_centroids(C, n_clusters=6, linkage=method)
        ref = linkage(C, method=method)
        np.testing.assert_allclose(np.sort(Z[:, 2]), ref[:, 2], rtol=1e-9)
        np.testing.assert_allclose(np.sort(Z[:, 3]), np.sort(ref[:, 3]))
        ref_labels = fcluster(ref, 6, criterion="maxclust")
        # The same partition (labels may be numbered differently).
        pairs = set(zip(labels.tolist(), ref_labels.tolist()))
        assert len(pairs) == len(set(labels.tolist())) == len(set(ref_labels.tolist()))
    labels, Z = merge_centroids(C, threshold=float(Z[10, 2]), linkage="single")
    assert len(set(labels.tolist())) == 40 - 11
    # Weighted Ward: two heavy centroids stay apart longer than two light ones.
    w_labels, _ = merge_centroids(
        np.array([[0.0], [1.0], [10.0], [11.0]]), weights=[1, 1, 1000, 1000], n_clusters=3
    )
    assert w_labels.tolist() == [0, 0, 1, 2]


def test_bad_input():
    X = blobs(n=50, d=3)
    with pytest.raises(ValueError, match="k must be at most the number of rows"):
        KMeans(60).fit(X)
    with pytest.raises(ValueError, match="k must be >= 1"):
        KMeans(0)
    with pytest.raises(ValueError, match="metric"):
        KMeans(2, metric="l1")
    with pytest.raises(ValueError, match="2-D"):
        KMeans(2).fit(X[0])
    Y = X.copy()
    Y[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        KMeans(2).fit(Y)
    Z = X.copy()
    Z[4] = 0
    with pytest.raises(ValueError, match="row 4 has norm 0"):
        KMeans(2, metric="cosine").fit(Z)
    with pytest.raises(NotFittedError):
        KMeans(2).predict(X)
    with pytest.raises(ValueError, match="columns"):
        KMeans(2).fit(X).predict(X[:, :2])
    with pytest.raises(TypeError, match="numeric"):
        KMeans(2).fit(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="exactly one"):
        merge_centroids(X)


def embedding_table(X, ids=None):
    flat = pa.array(X.reshape(-1))
    cols = {"embedding": pa.FixedSizeListArray.from_arrays(flat, X.shape[1])}
    cols["id"] = pa.array(ids if ids is not None else [f"d{i}" for i in range(len(X))])
    return pa.table(cols)


def test_cli_cluster(tmp_path, capsys):
    X = blobs(n=600, d=5, k=4)
    src = tmp_path / "emb.parquet"
    pq.write_table(embedding_table(X), src)
    out = tmp_path / "assign.parquet"
    cen = tmp_path / "centroids.npz"
    argv = ["cluster", str(src), "--embedding-column", "embedding", "-k", "4", "-o", str(out)]
    assert main([*argv, "--centroids", str(cen), "--seed", "3"]) == 0
    t = pq.read_table(out)
    assert t.column_names[:3] == ["id", "cluster_id", "distance"]
    km = KMeans(4, seed=3).fit(X)
    assert t.column("cluster_id").to_pylist() == km.labels_.tolist()
    back = KMeans.load(cen)
    np.testing.assert_array_equal(back.centroids_, km.centroids_)
    # Streaming assignment to saved centroids.
    out2 = tmp_path / "again.parquet"
    assert main(["cluster", str(src), "--init-centroids", str(cen), "-o", str(out2)]) == 0
    assert pq.read_table(out2).column("cluster_id").to_pylist() == km.labels_.tolist()
    capsys.readouterr()
    # Checked before any work: a missing column, an output that is the input.
    assert main(["cluster", str(src), "--embedding-column", "nope", "-k", "2", "-o", str(out)]) == 1
    assert "nope" in capsys.readouterr().err
    assert main(["cluster", str(src), "-k", "2", "-o", str(src)]) == 1
    assert "error" in capsys.readouterr().err
    assert main(["cluster", str(src), "-k", "9999", "-o", str(out)]) == 1
    assert "k must be at most" in capsys.readouterr().err
