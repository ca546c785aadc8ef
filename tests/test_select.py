"""Target selection on embeddings: Sinkhorn against POT, GOT-D, nearest-target retrieval."""

import numpy as np
import pytest

from tamis import Selection
from tamis.select import gradient_select, nearest_select, sinkhorn
from tamis.select._knn import nearest

ot = pytest.importorskip("ot")


def _clouds(n=300, m=40, d=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.3


@pytest.mark.parametrize("metric", ["sqeuclidean", "cosine"])
@pytest.mark.parametrize("eps", [1.0, 0.05, 0.005])
def test_sinkhorn_equals_pot(metric, eps):
    x, y = _clouds()
    if metric == "sqeuclidean":
        x, y = x / 4, y / 4  # costs of order 1, so eps = 0.005 is a hard case
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 1.5, len(x))
    a /= a.sum()
    b = np.full(len(y), 1 / len(y))
    m = ot.dist(x, y, metric=metric)
    plan, log = ot.bregman.sinkhorn_log(
        a, b, m, eps, numItermax=3000, stopThr=1e-10, log=True, warn=False
    )
    cost = ot.sinkhorn2(
        a, b, m, eps, method="sinkhorn_log", numItermax=3000, stopThr=1e-10, warn=False
    )
    for kwargs in ({"max_memory": 1 << 30}, {"max_memory": 0}):  # cached, streamed
        got = sinkhorn(x, y, a=a, b=b, eps=eps, metric=metric, max_iter=3000, tol=1e-10, **kwargs)
        assert got.n_iter == log["niter"]
        np.testing.assert_allclose(got.f, eps * log["log_u"], rtol=1e-6, atol=1e-9 * eps)
        np.testing.assert_allclose(got.g, eps * log["log_v"], rtol=1e-6, atol=1e-9 * eps)
        np.testing.assert_allclose(got.cost, float(cost), rtol=1e-6)
    given = sinkhorn(None, None, cost=m, a=a, b=b, eps=eps, max_iter=3000, tol=1e-10)
    np.testing.assert_allclose(given.f, eps * log["log_u"], rtol=1e-6, atol=1e-9 * eps)
    # The plan's marginals.
    p = np.exp((-m + given.f[:, None] + given.g[None, :]) / eps)
    np.testing.assert_allclose(p.sum(1), a, rtol=1e-8)
    np.testing.assert_allclose(p, plan, rtol=1e-5, atol=1e-12)


def test_sinkhorn_same_for_any_thread_count_and_float32():
    x, y = _clouds(n=1000, m=30)
    one = sinkhorn(x, y, eps=0.05, n_threads=1)
    two = sinkhorn(x, y, eps=0.05, n_threads=2, max_memory=0)
    assert one.cost == two.cost
    np.testing.assert_array_equal(one.f, two.f)
    f32 = sinkhorn(x.astype(np.float32), y.astype(np.float32), eps=0.05)
    np.testing.assert_allclose(f32.f, one.f, rtol=1e-4, atol=1e-7)


def test_sinkhorn_same_bits_across_blocks_groups_threads_and_caching():
    # 64 blocks of 256 rows make a group (merged in order); a pool spanning two groups with a
    # ragged last block, and a target whose size is not a multiple of the 8 vector lanes.
    x, y = _clouds(n=256 * 64 + 77, m=11, d=4, seed=3)
    runs = [
        sinkhorn(x, y, eps=0.02, max_iter=30, tol=0.0, n_threads=t, max_memory=mem)
        for t, mem in ((1, 1 << 30), (2, 1 << 30), (3, 0), (1, 0))
    ]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.f, runs[0].f)
        np.testing.assert_array_equal(other.g, runs[0].g)
        assert other.cost == runs[0].cost
    m = ot.dist(x, y, metric="cosine")
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    _, log = ot.bregman.sinkhorn_log(
        a, b, m, 0.02, numItermax=30, stopThr=0.0, log=True, warn=False
    )
    np.testing.assert_allclose(runs[0].f, 0.02 * log["log_u"], rtol=1e-6, atol=1e-11)


def test_sinkhorn_equals_pot_with_a_far_target_point():
    # One target point far from the pool: its column of exp(-M/eps) is ~exp(-2700), far below
    # f64's range, so the fused pass (one exp per entry, plan entries summed directly) works
    # only because the exact first pass moves log v first. POT's own marginal check overflows
    # in exp here (harmless to its iterates).
    x, y = _clouds(n=200, m=6, d=3, seed=4)
    x, y = x / 4, y / 4
    y[0] += 3.0
    eps = 0.01
    m = ot.dist(x, y)
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    with np.errstate(over="ignore"):
        _, log = ot.bregman.sinkhorn_log(
            a, b, m, eps, numItermax=40, stopThr=0.0, log=True, warn=False
        )
    got = sinkhorn(x, y, eps=eps, metric="sqeuclidean", max_iter=40, tol=0.0)
    assert np.isfinite(got.f).all()
    assert np.isfinite(got.g).all()
    np.testing.assert_allclose(got.f, eps * log["log_u"], rtol=1e-6, atol=1e-9 * eps)
    np.testing.assert_allclose(got.g, eps * log["log_v"], rtol=1e-6, atol=1e-9 * eps)


def test_sinkhorn_bad_input_names_the_parameter():
    x, y = _clouds(n=10, m=4)
    with pytest.raises(ValueError, match="eps must be a positive number"):
        sinkhorn(x, y, eps=0)
    with pytest.raises(ValueError, match="metric must be 'cosine' or 'sqeuclidean'"):
        sinkhorn(x, y, metric="l1")
    with pytest.raises(ValueError, match="a must have one mass per point"):
        sinkhorn(x, y, a=np.ones(3))
    with pytest.raises(ValueError, match="positive finite masses, item 1"):
        sinkhorn(x, y, a=np.array([1.0, 0.0, *[1.0] * 8]))
    with pytest.raises(ValueError, match="dimensions"):
        sinkhorn(x, y[:, :3])
    with pytest.raises(ValueError, match="target row 0 is all zeros"):
        sinkhorn(x, np.zeros((2, x.shape[1])))
    with pytest.raises(ValueError, match="must be finite"):
        sinkhorn(np.full((2, 3), np.nan), y[:, :3])


def test_gradient_select_takes_the_most_negative_potentials():
    rng = np.random.default_rng(3)
    target = rng.normal(size=(30, 8)) + 2.0
    near = rng.normal(size=(50, 8)) + 2.0  # the pool part that looks like the target
    far = rng.normal(size=(450, 8)) - 2.0
    pool = np.concatenate([far, near])
    sel = gradient_select(pool, target, k=40, eps=0.1, metric="sqeuclidean")
    assert isinstance(sel, Selection)
    assert sel.method == "otgrad"
    assert (np.diff(sel.indices) > 0).all()
    res = sinkhorn(pool, target, eps=0.1, metric="sqeuclidean")
    expected = np.sort(np.argsort(res.f, kind="stable")[:40])
    np.testing.assert_array_equal(sel.indices, expected)
    np.testing.assert_allclose(sel.potential, res.f[sel.indices])
    assert (sel.indices >= 450).mean() > 0.9  # the selection comes from the target-like part
    n = len(pool)
    np.testing.assert_allclose(sel.gradient, (n * sel.potential - res.f.sum()) / (n - 1))
    rounds = gradient_select(pool, target, k=40, eps=0.1, metric="sqeuclidean", rounds=4)
    assert len(np.unique(rounds.indices)) == 40
    assert sorted(set(rounds.round.tolist())) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="k must be"):
        gradient_select(pool, target, k=0)


def test_nearest_equals_brute_force():
    rng = np.random.default_rng(5)
    pool = rng.normal(size=(20_000, 12))
    pool[7] = pool[3]  # an exact tie: the lower row first
    target = rng.normal(size=(9, 12))
    target[0] = pool[3]
    rows, sims = nearest(pool, target, 25)
    unit = pool / np.linalg.norm(pool, axis=1, keepdims=True)
    t = target / np.linalg.norm(target, axis=1, keepdims=True)
    full = t @ unit.T
    for j in range(len(target)):
        order = np.lexsort((np.arange(len(pool)), -full[j]))[:25]
        np.testing.assert_array_equal(rows[j], order)
        np.testing.assert_allclose(sims[j], full[j, order])
    assert rows[0][:2].tolist() == [3, 7]
    rows2, _ = nearest(pool, target, 5, metric="sqeuclidean")
    d2 = ((target[:, None, :] - pool[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(rows2, np.argsort(d2, axis=1, kind="stable")[:, :5])


def test_nearest_select_spreads_over_the_target():
    rng = np.random.default_rng(6)
    pool = rng.normal(size=(5000, 6))
    target = rng.normal(size=(20, 6))
    sel = nearest_select(pool, target, k=60, ids=[f"d{i}" for i in range(5000)])
    assert len(np.unique(sel.indices)) == 60
    assert (np.diff(sel.indices) > 0).all()
    assert sel.ids[0] == f"d{sel.indices[0]}"
    rows, _ = nearest(pool, target, 3)
    assert set(rows[:, 0].tolist()) <= set(sel.indices.tolist())  # every target's best
    # The merge rule, by hand: rank 1 of every target point (more similar first), then rank 2...
    rows, sims = nearest(pool, target, sel.per_target)
    pairs = sorted(
        (r, -sims[t, r], t, rows[t, r]) for t in range(len(target)) for r in range(rows.shape[1])
    )
    chosen: list[int] = []
    for *_, row in pairs:
        if row not in chosen:
            chosen.append(int(row))
    np.testing.assert_array_equal(sel.indices, np.sort(chosen[:60]))
    with pytest.raises(ValueError, match="raise per_target"):
        nearest_select(pool, target[:1], k=10, per_target=3)


def test_nearest_select_widens_the_search_when_targets_share_neighbours():
    # Every target point is the same point, so rank r of every target point is the same pool
    # document: the first ranks hold few distinct documents. The default search widens until it
    # has k; the result is then the k nearest documents (brute force).
    rng = np.random.default_rng(8)
    pool = rng.normal(size=(3000, 5))
    target = np.repeat(rng.normal(size=(1, 5)), 40, axis=0)
    for k in (10, 200, 3000):
        sel = nearest_select(pool, target, k)
        sim = (pool / np.linalg.norm(pool, axis=1, keepdims=True)) @ (
            target[0] / np.linalg.norm(target[0])
        )
        expected = np.lexsort((np.arange(len(pool)), -sim))[:k]
        np.testing.assert_array_equal(sel.indices, np.sort(expected))
        assert sel.per_target >= k
        # A larger explicit bound selects the same documents.
        np.testing.assert_array_equal(
            nearest_select(pool, target, k, per_target=min(3000, 2 * k)).indices, sel.indices
        )


def _embedded_corpus(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(9)
    pool = rng.normal(size=(400, 8)).astype(np.float32)
    target = (rng.normal(size=(30, 8)) + 1.5).astype(np.float32)
    pool[:40] += 1.5  # a target-like part
    texts = [f"document number {i}" for i in range(400)]

    def table(emb, prefix):
        col = pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), emb.shape[1])
        ids = [f"{prefix}{i:04d}" for i in range(len(emb))]
        return pa.table({"id": ids, "text": texts[: len(emb)], "embedding": col})

    pq.write_table(table(pool[:250], "a"), tmp_path / "pool-1.parquet")
    pq.write_table(table(pool[250:], "b"), tmp_path / "pool-2.parquet")
    pq.write_table(table(target, "t"), tmp_path / "target.parquet")
    return pool, target


@pytest.mark.parametrize("method", ["otgrad", "knn", "cluster-dsir"])
def test_cli_select_equals_the_api(tmp_path, method):
    import pyarrow.parquet as pq

    from tamis.cli import main

    pool, target = _embedded_corpus(tmp_path)
    out = tmp_path / "out.parquet"
    inputs = [str(tmp_path / "pool-1.parquet"), str(tmp_path / "pool-2.parquet")]
    args = ["select", *inputs, "--target", str(tmp_path / "target.parquet"), "-k", "25"]
    assert main([*args, "--method", method, "-o", str(out), "-q"]) == 0
    got = pq.read_table(out)
    if method == "otgrad":
        expected = gradient_select(pool, target, 25)
        np.testing.assert_allclose(got.column("potential").to_numpy(), expected.potential)
    elif method == "knn":
        expected = nearest_select(pool, target, 25)
        np.testing.assert_allclose(got.column("similarity").to_numpy(), expected.similarity)
    else:
        from tamis.select import cluster_importance_select

        ids = [f"a{i:04d}" for i in range(250)] + [f"b{i:04d}" for i in range(150)]
        expected = cluster_importance_select(pool, target, 25, ids=ids)
        np.testing.assert_allclose(got.column("log_weight").to_numpy(), expected.log_weight)
    ids = [("a" if i < 250 else "b") + f"{i if i < 250 else i - 250:04d}" for i in expected.indices]
    assert got.column("id").to_pylist() == ids
    assert got.column_names[:3] == ["id", "text", "embedding"]
    assert main([*args, "--embedding-column", "nope", "-o", str(tmp_path / "x.parquet")]) == 1


def test_cli_select_classifier_equals_the_api(tmp_path):
    import pyarrow.parquet as pq
    from tests.conftest import SAMPLE

    from tamis.cli import main
    from tamis.quality import classifier_select

    raw, target = str(SAMPLE / "corpus.jsonl.gz"), str(SAMPLE / "target.jsonl.gz")
    out = tmp_path / "out.parquet"
    args = ["select", raw, "--target", target, "--method", "classifier", "-k", "50"]
    assert main([*args, "--seed", "4", "-o", str(out), "-q"]) == 0
    got = pq.read_table(out)
    expected = classifier_select(raw, target, 50, seed=4)
    assert got.column("id").to_pylist() == list(expected.ids)
    np.testing.assert_allclose(got.column("log_odds").to_numpy(), expected.log_odds)


def test_cluster_importance_weights_and_id_keyed_draws():
    from tamis.cluster import KMeans
    from tamis.select import cluster_importance_select

    rng = np.random.default_rng(11)
    pool = np.concatenate([rng.normal(size=(300, 4)) - 3, rng.normal(size=(100, 4)) + 3])
    target = rng.normal(size=(50, 4)) + 3
    km = KMeans(8, seed=1).fit(pool)
    ids = [f"doc{i}" for i in range(len(pool))]
    sel = cluster_importance_select(pool, target, 60, kmeans=km, ids=ids, seed=5)
    # Brute force: smoothed histograms -> log weights of every pool document.
    lab, tl = km.predict(pool), km.predict(target)
    pp = (np.bincount(lab, minlength=8) + 1.0) / (400 + 8)
    pt = (np.bincount(tl, minlength=8) + 1.0) / (50 + 8)
    np.testing.assert_allclose(sel.log_weight, np.log(pt / pp)[lab][sel.indices])
    assert (sel.indices >= 300).mean() > 0.9
    # Keys depend on the id only: the same documents in another order are the same selection.
    perm = rng.permutation(len(pool))
    again = cluster_importance_select(
        pool[perm], target, 60, kmeans=km, ids=[ids[i] for i in perm], seed=5
    )
    assert sorted(again.ids) == sorted(sel.ids)
    top = cluster_importance_select(pool, target, 60, kmeans=km, method="topk")
    assert top.method == "cluster-dsir/topk"
    with pytest.raises(ValueError, match="method must be"):
        cluster_importance_select(pool, target, 5, method="best")


def test_cluster_topk_breaks_ties_by_id_not_position():
    # One target-like cluster of 100 documents, input sorted by "source" (the first 50 of one,
    # the last 50 of another): top-k of 20 is 20 documents of that cluster drawn by the id-keyed
    # noise, the same set for any input order, not the first 20 positions.
    from tamis.cluster import KMeans
    from tamis.select import cluster_importance_select

    rng = np.random.default_rng(12)
    pool = np.concatenate([rng.normal(size=(100, 4)) * 0.1 + 3, rng.normal(size=(300, 4)) - 3])
    target = rng.normal(size=(40, 4)) * 0.1 + 3
    km = KMeans(2, seed=0).fit(pool)
    ids = [f"doc{i}" for i in range(len(pool))]
    top = cluster_importance_select(pool, target, 20, kmeans=km, ids=ids, method="topk")
    assert set(top.indices) <= set(range(100))
    assert not set(top.indices) <= set(range(50))  # both halves of the cluster are drawn
    perm = rng.permutation(len(pool))
    again = cluster_importance_select(
        pool[perm], target, 20, kmeans=km, ids=[ids[i] for i in perm], method="topk"
    )
    assert sorted(again.ids) == sorted(top.ids)


def test_torch_device_path_equals_the_rust_core():
    pytest.importorskip("torch")
    x, y = _clouds(n=500, m=20)
    for metric in ("cosine", "sqeuclidean"):
        rust = sinkhorn(x, y, eps=0.05, metric=metric)
        torch_ = sinkhorn(x, y, eps=0.05, metric=metric, device="cpu")
        assert torch_.n_iter == rust.n_iter
        np.testing.assert_allclose(torch_.f, rust.f, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(torch_.g, rust.g, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(torch_.cost, rust.cost, rtol=1e-9)
    sel = gradient_select(x, y, 30, device="cpu")
    np.testing.assert_array_equal(sel.indices, gradient_select(x, y, 30).indices)
