"""The Ray backend gives exactly the local results, for any number of blocks (local Ray, 2 CPUs)."""

from __future__ import annotations

import os
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import tamis  # noqa: E402
from tamis import ray as tray  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    tray.init()
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def docs(sample_texts) -> list[str]:
    """Real documents plus edited copies (near duplicates) and exact copies."""
    rng = random.Random(0)
    base = [" ".join(t.split()[:150]) for t in sample_texts if len(t.split()) >= 40][:120]
    out = list(base)
    for _ in range(60):
        words = base[rng.randrange(len(base))].split()
        for _ in range(int(len(words) * rng.choice([0.0, 0.02, 0.1, 0.3]))):
            words[rng.randrange(len(words))] = f"edit{rng.randrange(10**6)}"
        out.append(" ".join(words))
    rng.shuffle(out)
    return [*out, "", out[3]]


@pytest.mark.parametrize("method", ["gumbel", "topk"])
def test_dsir_equals_local(tmp_path, sample_texts, method):
    raw = pa.table({"text": sample_texts[:400], "id": [f"d{i}" for i in range(400)]})
    target = sample_texts[1000:1100]
    params = {"n_buckets": 2048, "min_length": 10, "random_state": 3}
    local = tamis.ImportanceResampler(**params).fit(target, raw)
    want = local.resample(raw, 25, method=method)
    for blocks in (1, 3, 7):
        r = tray.dsir_fit(tamis.ImportanceResampler(**params), target, raw, num_blocks=blocks)
        np.testing.assert_array_equal(r.raw_counts_, local.raw_counts_)
        np.testing.assert_array_equal(r.target_counts_, local.target_counts_)
        got = tray.dsir_resample(r, raw, 25, method=method, num_blocks=blocks)
        assert got.column("id").to_pylist() == want.column("id").to_pylist()
        assert got.equals(want)


def test_dsir_separate_targets_and_row_ids(sample_texts):
    raw = sample_texts[:300]
    targets = [sample_texts[1000:1050], sample_texts[2000:2050]]
    params = {"n_buckets": 1024, "min_length": 5, "separate_targets": True}
    want = tamis.ImportanceResampler(**params).fit(targets, raw).resample(raw, 20)
    r = tray.dsir_fit(tamis.ImportanceResampler(**params), targets, raw, num_blocks=3)
    got = tray.dsir_resample(r, raw, 20, num_blocks=5)
    assert got.equals(want)
    with pytest.raises(ValueError, match="replacement"):
        tray.dsir_resample(r, raw, 5, method="replacement")


@pytest.mark.parametrize(("verify", "keep"), [("estimate", "first"), ("exact", "longest")])
def test_dedup_equals_local(docs, verify, keep):
    local = tamis.MinHashDeduplicator(threshold=0.7, verify=verify, keep=keep).fit(docs)
    assert local.keep_mask_.sum() < len(docs) - 20  # there is something to find
    d = tamis.MinHashDeduplicator(threshold=0.7, verify=verify, keep=keep)
    for blocks in (1, 7) if verify == "estimate" else (3,):
        res = tray.dedup(d, docs, num_blocks=blocks)
        np.testing.assert_array_equal(res.cluster_id, local.cluster_id_)
        np.testing.assert_array_equal(res.keep_mask, local.keep_mask_)
        np.testing.assert_array_equal(res.duplicate_of, local.duplicate_of_)
    if verify == "estimate":  # distributed connected components instead of the driver's
        res = tray.dedup(d, docs, num_blocks=2, components="ray")
        np.testing.assert_array_equal(res.cluster_id, local.cluster_id_)
    if verify != "none":  # verification on the workers (a join, then map_groups)
        res = tray.dedup(d, docs, num_blocks=2, verify_on="workers")
        np.testing.assert_array_equal(res.cluster_id, local.cluster_id_)
        np.testing.assert_array_equal(res.keep_mask, local.keep_mask_)
    kept = tray._collect(res.kept())
    assert kept.column("text").to_pylist() == [t for t, k in zip(docs, local.keep_mask_) if k]


def test_dedup_ids_and_scores(docs, tmp_path):
    n = len(docs)
    ids = [f"x{(i * 7919) % n:05d}" for i in range(n)]
    q = np.random.default_rng(0).random(n)
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": docs, "doc": ids, "q": q}), path)
    d = tamis.MinHashDeduplicator(threshold=0.8, verify="none")
    want = tamis.MinHashDeduplicator(threshold=0.8, verify="none").fit(docs, ids=np.array(ids))
    got = tray.dedup(d, str(path), id_column="doc", num_blocks=4)
    np.testing.assert_array_equal(got.keep_mask, want.keep_mask_)
    d = tamis.MinHashDeduplicator(threshold=0.8, keep="score", exact=False)
    want = tamis.MinHashDeduplicator(threshold=0.8, keep="score", exact=False).fit(docs, scores=q)
    got = tray.dedup(d, str(path), score_column="q", num_blocks=2)
    np.testing.assert_array_equal(got.keep_mask, want.keep_mask_)
    with pytest.raises(ValueError, match="score_column"):
        tray.dedup(d, docs)


def test_cli_backend_ray(tmp_path, docs, sample_texts):
    from tamis.cli import main

    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": docs}), src)
    for backend in ("local", "ray"):
        out = tmp_path / f"{backend}.parquet"
        args = ["dedup", str(src), "-o", str(out), "-q", "--backend", backend, "--all-rows"]
        args += ["--ray-partitions", "2", "--ray-components", "ray"]
        assert main(args) == 0
    assert pq.read_table(tmp_path / "ray.parquet").equals(pq.read_table(tmp_path / "local.parquet"))
    pq.write_table(pa.table({"text": sample_texts[:300]}), tmp_path / "raw.parquet")
    pq.write_table(pa.table({"text": sample_texts[1000:1050]}), tmp_path / "t.parquet")
    for backend in ("local", "ray"):
        args = [
            "dsir",
            "--target",
            str(tmp_path / "t.parquet"),
            "--raw",
            str(tmp_path / "raw.parquet"),
        ]
        args += ["-k", "10", "--min-length", "5", "-q", "--backend", backend]
        assert main([*args, "-o", str(tmp_path / f"s-{backend}.parquet")]) == 0
    a, b = (pq.read_table(tmp_path / f"s-{x}.parquet") for x in ("local", "ray"))
    assert a.equals(b)


def test_score_actor_equals_local():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tamis.scoring import LMScorer
    from test_scoring import TEXTS, tiny_llama, train_tokenizer

    tok = train_tokenizer(TEXTS * 4, vocab_size=300)
    model = tiny_llama(len(tok))
    want = LMScorer(model, tok, device="cpu").score(TEXTS)
    ds = tray.score(
        pa.table({"text": TEXTS}),
        model=model,
        tokenizer=tok,
        device="cpu",
        num_cpus=0.5,
        batch_size=3,
    )
    got = tray._collect(ds)
    assert got.column("text").to_pylist() == TEXTS
    for name in ("sum_nll", "mean_nll", "n_tokens"):
        np.testing.assert_allclose(
            got.column(name).to_numpy(), want.column(name).to_numpy(), rtol=1e-5
        )


@pytest.mark.parametrize("num_shards", [1, 3])
def test_connected_components_equal_union_find(num_shards):
    rng = np.random.default_rng(num_shards)
    n = 300
    # Chains (long diameters), a star, random edges and isolated nodes.
    chain = np.stack([np.arange(0, 60), np.arange(1, 61)], axis=1)[rng.permutation(60)]
    star = np.stack([np.full(30, 150), np.arange(100, 130)], axis=1)
    rand = rng.integers(160, 290, size=(80, 2))
    edges = np.concatenate([chain, star, rand, [[5, 5]]])
    want = tamis._core.union_roots(n, np.ascontiguousarray(edges, dtype=np.uint32))
    got = tray.connected_components([edges[:100], edges[100:]], n, num_shards=num_shards)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(tray.connected_components(np.empty((0, 2)), 4), np.arange(4))
