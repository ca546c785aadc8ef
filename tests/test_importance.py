"""DSIR importance resampling: oracle tests against data-selection 1.0.3, statistics, invariants."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pyarrow as pa
import pytest

import tamis
from tamis import ImportanceResampler, NotFittedError
from tamis.cli import main as cli_main

UNICODE_DOCS = [
    "İstanbul ΟΔΟΣ naïve café—ok " * 60,
    "Straße ǅemal ﬁnal Ｈｅｌｌｏ, wörld!! " * 50,
    "tabs\tand\u00a0nbsp\u2003spaces… «quotes» " * 40,
]


@pytest.fixture(scope="module")
def corpora(sample_texts: list[str]) -> tuple[list[str], list[str]]:
    rng = random.Random(0)
    docs = [t for t in sample_texts if t and t.strip()]
    rng.shuffle(docs)
    raw = docs[:300] + UNICODE_DOCS + ["", "short doc"]
    target = docs[300:360]
    return target, raw


def _write_jsonl(path: os.PathLike, texts: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"d{i}", "text": t}) + "\n")


@pytest.fixture(scope="module")
def reference_run(corpora, tmp_path_factory):
    """Log weights, lengths and the noise-free top-k of the real data-selection package."""
    hashed = pytest.importorskip("data_selection.hashed_ngram_dsir")
    target, raw = corpora
    d = tmp_path_factory.mktemp("ref")
    _write_jsonl(d / "raw.jsonl", raw)
    _write_jsonl(d / "target.jsonl", target)
    os.environ.setdefault("TQDM_DISABLE", "1")
    dsir = hashed.HashedNgramDSIR(
        [str(d / "raw.jsonl")], [str(d / "target.jsonl")], cache_dir=str(d / "cache"), num_proc=1
    )
    dsir.fit_importance_estimator(num_tokens_to_fit="all")
    dsir.compute_importance_weights()
    weights = np.load(d / "cache" / "log_importance_weights" / "0.npy")
    lengths = np.load(d / "cache" / "perexample_metadata" / "0.npy")
    dsir.resample(out_dir=str(d / "out"), num_to_sample=40, cache_dir=str(d / "rc"), top_k=True)
    with open(d / "out" / "0.jsonl", encoding="utf-8") as f:
        chosen = [json.loads(line)["id"] for line in f]
    return {"weights": weights, "lengths": lengths, "topk": sorted(chosen), "dir": d}


def test_reference_log_weights_match(corpora, reference_run):
    target, raw = corpora
    r = ImportanceResampler.reference().fit(target, raw)
    w, ntok = r.log_weights(raw, return_n_tokens=True)
    ref = reference_run["weights"]
    assert w.shape == ref.shape
    np.testing.assert_allclose(w, ref, rtol=1e-9, atol=0)
    # The empty document weighs exactly 0 in both.
    assert w[-2] == 0.0 == ref[-2]
    # The reference's length metadata is the token count.
    np.testing.assert_array_equal(ntok, reference_run["lengths"].astype(np.uint64))


def test_reference_topk_set_matches(corpora, reference_run):
    target, raw = corpora
    table = pa.table({"id": [f"d{i}" for i in range(len(raw))], "text": raw})
    r = ImportanceResampler.reference().fit(target, table)
    sel = r.select(table, 40, method="topk")
    assert sorted(sel.ids) == reference_run["topk"]
    # Input order.
    assert list(sel.indices) == sorted(sel.indices)


def test_reference_from_files(corpora, reference_run):
    d = reference_run["dir"]
    r = ImportanceResampler.reference().fit(d / "target.jsonl", d / "raw.jsonl")
    np.testing.assert_allclose(r.log_weights(d / "raw.jsonl"), reference_run["weights"], rtol=1e-9)


def test_counts_are_mergeable(corpora):
    target, raw = corpora
    r = ImportanceResampler()
    whole = r.count(raw)
    parts = r.count(raw[:100]) + r.count(raw[100:])
    np.testing.assert_array_equal(whole, parts)
    a = ImportanceResampler().fit(target, raw)
    b = ImportanceResampler().fit(target, raw_counts=parts)
    np.testing.assert_array_equal(a.log_ratio_, b.log_ratio_)


def test_same_output_for_threads_batches_and_shard_order(corpora):
    target, raw = corpora
    ids = [f"doc-{i}" for i in range(len(raw))]
    table = pa.table({"id": ids, "text": raw})
    base = ImportanceResampler(n_threads=1, batch_size=1000).fit(target, table)
    sel1 = base.select(table, 50)
    other = ImportanceResampler(n_threads=2, batch_size=7).fit(target, table)
    sel2 = other.select(table, 50)
    np.testing.assert_array_equal(sel1.indices, sel2.indices)
    np.testing.assert_array_equal(sel1.key, sel2.key)
    # Reversed input (a different shard order): the same documents are chosen.
    rev = table.take(pa.array(np.arange(len(raw))[::-1]))
    sel3 = other.select(rev, 50)
    assert sorted(sel3.ids) == sorted(sel1.ids)
    # Different seed: a different sample.
    assert sorted(base.select(table, 50, seed=1).ids) != sorted(sel1.ids)


def test_resample_table_and_min_length(corpora):
    target, raw = corpora
    table = pa.table({"text": raw, "domain": ["x"] * len(raw)})
    r = ImportanceResampler(min_length=100).fit(target, table)
    out = r.resample(table, 30)
    assert out.column_names == ["text", "domain", "id", "log_weight", "gumbel_key"]
    assert out.num_rows == 30
    assert out.column("id").to_pylist() == sorted(out.column("id").to_pylist())
    w, n = r.log_weights(table, return_n_tokens=True)
    ids = out.column("id").to_numpy()
    assert (n[ids] >= 100).all()
    np.testing.assert_array_equal(out.column("log_weight").to_numpy(), w[ids])
    eligible = int((n >= 100).sum())
    with pytest.raises(ValueError, match="eligible"):
        r.select(table, eligible + 1)
    assert len(r.select(table, eligible)) == eligible


def test_with_replacement_follows_weights():
    target = ["alpha beta gamma"] * 5
    raw = ["alpha beta gamma", "alpha beta delta", "delta epsilon zeta", "alpha zeta"]
    r = ImportanceResampler(min_length=0, length_norm=None, alpha=1.0, smooth="both", eps=0)
    r.fit(target, raw)
    lw = r.log_weights(raw)
    p = np.exp(lw - lw.max())
    p /= p.sum()
    k = 20000
    sel = r.select(raw, k, method="replacement", seed=5)
    counts = np.bincount(sel.indices, minlength=4)
    chi2 = ((counts - k * p) ** 2 / (k * p)).sum()
    assert chi2 < 16.27  # 3 degrees of freedom, p = 0.001


def test_gumbel_inclusion_frequencies():
    # 5 documents, k = 2: empirical inclusion over many seeds vs exact successive sampling.
    target = ["a b c d e"] * 3
    raw = ["a b", "a c", "d e", "x y", "a b c"]
    r = ImportanceResampler(min_length=0, length_norm=None, alpha=0.5, smooth="both", eps=0)
    r.fit(target, raw)
    w = np.exp(r.log_weights(raw))
    exact = np.zeros(5)
    for i in range(5):
        for j in range(5):
            if i != j:
                pr = w[i] / w.sum() * w[j] / (w.sum() - w[i])
                exact[i] += pr
                exact[j] += pr
    # select() uses exactly the noise of _core.gumbel_noise keyed by (seed, target, id hash).
    ids = pa.array([str(i) for i in range(5)])
    from tamis.importance import _id_hashes

    idh = _id_hashes(ids)
    lw = np.log(w)
    for seed in range(5):
        keys = lw + tamis._core.gumbel_noise(idh, seed=seed)
        assert sorted(np.argsort(-keys)[:2]) == list(r.select(raw, 2, seed=seed).indices)
    trials = 20000
    hits = np.zeros(5)
    for seed in range(trials):
        keys = lw + tamis._core.gumbel_noise(idh, seed=seed)
        hits[np.argpartition(-keys, 2)[:2]] += 1
    freq = hits / trials
    sd = np.sqrt(exact * (1 - exact) / trials)
    assert (np.abs(freq - exact) < 5 * sd + 1e-9).all(), (freq, exact)


def test_separate_targets_proportions(corpora):
    target, raw = corpora
    t1 = [t for t in target if "def " in t] or target[:10]
    t2 = [t for t in target if "def " not in t] or target[10:]
    r = ImportanceResampler(separate_targets=True, target_proportions=[0.25, 0.75]).fit(
        [t1, t2], raw
    )
    w = r.log_weights(raw)
    assert w.shape == (len(raw), 2)
    sel = r.select(raw, 40)
    assert (np.bincount(sel.target, minlength=2) == [10, 30]).all()
    assert len(set(sel.indices.tolist())) == 40
    out = r.resample(raw, 40)
    assert "target" in out.column_names


def test_kl_reduction(corpora):
    target, raw = corpora
    r = ImportanceResampler().fit(target, raw)
    sel = r.resample(raw, 60)
    # The authors' definition (p-lambda/dsir #9), in numpy, on the 8192-bucket fold.
    fold = 8192

    def dist(c):
        c = c.reshape(fold, -1).sum(axis=1).astype(np.float64)
        return c / c.sum()

    def kl(p, q):
        return np.inner(p, np.log(p + 1e-10) - np.log(q + 1e-10))

    t, rw, s = dist(r.target_counts_[0]), dist(r.raw_counts_), dist(r.count(sel))
    assert r.kl_reduction(sel) == pytest.approx(kl(t, rw) - kl(t, s), rel=1e-9)
    # The target itself is the best possible selection; the raw corpus reduces nothing.
    assert r.kl_reduction(target) == pytest.approx(kl(t, rw), rel=1e-9)
    assert r.kl_reduction(target) > r.kl_reduction(random.Random(1).sample(raw, 60))
    assert r.kl_reduction(raw) == pytest.approx(0.0, abs=1e-12)
    # Folding 2^16 xxh3 buckets to 8192 is exactly an 8192-bucket model.
    small = ImportanceResampler(n_buckets=8192).fit(target, raw)
    assert r.kl_reduction(sel) == pytest.approx(small.kl_reduction(sel), rel=1e-12)
    assert r.kl_reduction(sel, n_buckets=1 << 16) != r.kl_reduction(sel)
    with pytest.raises(ValueError, match="n_buckets"):
        r.kl_reduction(sel, n_buckets=10_000)


def test_save_load_roundtrip(corpora, tmp_path):
    target, raw = corpora
    r = ImportanceResampler(alpha=0.5, seed=3).fit(target, raw)
    path = r.save(tmp_path / "m.npz")
    r2 = ImportanceResampler.load(path)
    assert r2.get_params() == r.get_params()
    np.testing.assert_array_equal(r2.log_weights(raw), r.log_weights(raw))
    with np.load(path, allow_pickle=False) as z:
        assert "header" in z.files
    # Separate targets with shares left to the counts: the same parameters come back.
    t1, t2 = target[:30], target[30:]
    s = ImportanceResampler(separate_targets=True).fit([t1, t2], raw)
    s2 = ImportanceResampler.load(s.save(tmp_path / "s.npz"))
    assert s2.get_params() == s.get_params()
    np.testing.assert_array_equal(s2.target_proportions_, s.target_proportions_)


def test_load_reads_format_version_1(corpora, tmp_path):
    """Files written before the shared format: uint8 JSON ``meta``, random_state / n_jobs."""
    target, raw = corpora
    r = ImportanceResampler(alpha=0.5, seed=3, n_threads=1).fit(target, raw)
    params = {**r.get_params(), "random_state": 3, "n_jobs": 1}
    del params["seed"], params["n_threads"]
    meta = {"format": "tamis.dsir", "version": 1, "params": params}
    path = tmp_path / "v1.npz"
    np.savez(
        path,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        target_counts=r.target_counts_,
        raw_counts=r.raw_counts_,
        target_proportions=r.target_proportions_,
    )
    r1 = ImportanceResampler.load(path)
    assert r1.get_params() == r.get_params()
    np.testing.assert_array_equal(r1.log_weights(raw), r.log_weights(raw))
    meta["version"] = 7
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with pytest.raises(tamis.InputError, match="version 1 or 2"):
        ImportanceResampler.load(path)
    with pytest.raises(tamis.InputError, match="not a readable"):
        ImportanceResampler.load(tmp_path / "missing.npz")


def test_select_returns_the_shared_selection(corpora):
    target, raw = corpora
    r = ImportanceResampler().fit(target, raw)
    sel = r.select(raw, 20)
    assert tamis.Selection is tamis._base.Selection
    assert isinstance(sel, tamis.Selection)
    assert sel.method == "dsir/gumbel"
    assert sel.n_rows == len(raw)
    assert (
        sel.n_eligible
        == sel.info["n_eligible"]
        == int((r.log_weights(raw, return_n_tokens=True)[1] >= 100).sum())
    )
    assert sel.ids == sel.indices.tolist()  # no id column: row numbers
    np.testing.assert_array_equal(sel.log_weight, r.log_weights(raw)[sel.indices])
    noise = tamis._core.gumbel_noise(tamis.importance.stream.id_hashes(pa.array(sel.ids)), seed=0)
    np.testing.assert_array_equal(sel.key, sel.log_weight + noise)
    assert (sel.target == 0).all()
    table = sel.to_arrow()
    assert table.column_names == ["index", "id", "log_weight", "key", "target"]
    assert np.isnan(r.select(raw, 5, method="replacement").key).all()
    assert r.select(raw, 5, method="topk").method == "dsir/topk"


def test_former_parameter_names_warn_and_still_work(corpora, tmp_path):
    """0.1's random_state / n_jobs: accepted in 0.2 with a DeprecationWarning naming the new one."""
    target, raw = corpora
    with pytest.warns(DeprecationWarning, match="is deprecated") as caught:
        old = ImportanceResampler(random_state=3, n_jobs=1)
    assert sorted(str(w.message).split("(")[1].split("=")[0] for w in caught) == [
        "n_jobs",
        "random_state",
    ]
    assert all("tamis 0.3" in str(w.message) for w in caught)
    assert (old.seed, old.n_threads) == (3, 1)
    assert (old.random_state, old.n_jobs) == (3, 1)
    assert "random_state" not in old.get_params()
    assert repr(old) == "ImportanceResampler(seed=3, n_threads=1)"
    old.fit(target, raw)
    with pytest.warns(DeprecationWarning, match=r"select\(random_state=...\) is deprecated.*seed="):
        assert old.select(raw, 10, random_state=1).ids == old.select(raw, 10, seed=1).ids
    with pytest.warns(DeprecationWarning, match=r"resample\(random_state"):
        assert old.resample(raw, 10, random_state=1).equals(old.resample(raw, 10, seed=1))
    with pytest.warns(DeprecationWarning, match=r"load\(random_state"):
        assert ImportanceResampler.load(old.save(tmp_path / "m.npz"), random_state=5).seed == 5
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_job'"):
        ImportanceResampler(n_job=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_jobs'"):
        old.select(raw, 10, n_jobs=1)


def test_engine_shards_give_the_local_selection(corpora):
    """The public engine, run per shard and merged (as the Ray backend does), equals resample()."""
    from tamis.importance import model, stream

    target, raw = corpora
    table = pa.table({"id": [f"doc-{i}" for i in range(len(raw))], "text": raw})
    for separate, method in [(False, "gumbel"), (False, "topk"), (True, "gumbel")]:
        targets = [target[:30], target[30:]] if separate else target
        r = ImportanceResampler(separate_targets=separate).fit(targets, table)
        want = r.resample(table, 40, method=method, seed=7)
        params = model.ModelParams.of(r)
        tc = np.stack(
            [
                model.count_ngrams(r.featurizer, [pa.table({"text": t})], text_column="text")
                for t in model.target_sources(targets, separate_targets=separate)
            ]
        )
        rc = sum(
            model.count_ngrams(r.featurizer, [table.slice(a, 100)], text_column="text")
            for a in range(0, len(raw), 100)
        )
        m = model.fit_model(r.featurizer, tc, rc, params)
        ks = stream.target_ks(m, 40)
        merged = stream.TopKState.start(ks, method=method)
        for a in range(0, len(raw), 100):  # shards, each with its own top-k
            shard = table.slice(a, 100)
            local = stream.TopKState.start(ks, method=method)
            pos = np.arange(a, a + shard.num_rows, dtype=np.uint64)
            scan = stream.scan_batch(
                local, m, shard.column("text"), shard.column("id"), pos, seed=7
            )
            keep = np.flatnonzero(scan.kept)
            cand = stream.annotate_rows(
                shard.take(keep), pos[keep], scan.log_weights[keep], scan.keys[keep]
            )
            merged.push(scan.keys[keep], scan.id_hashes[keep], pos[keep], np.ones(len(keep), bool))
            merged.rows.add(cand)
            merged.n_rows += shard.num_rows
            merged.n_eligible += int(scan.eligible.sum())
        merged.rows.keep(merged.live_positions())
        positions, tgt = stream.resolve(merged, seed=7, min_length=params.min_length)
        got = stream.collect(merged, positions, tgt, separate_targets=separate)
        assert got.equals(want), (separate, method)
        keys = stream.keys_for_batch(scan.log_weights, scan.id_hashes, method="topk", seed=7)
        np.testing.assert_array_equal(keys, scan.log_weights)


def test_bad_input(corpora):
    target, raw = corpora
    with pytest.raises(NotFittedError):
        ImportanceResampler().log_weights(raw)
    with pytest.raises(ValueError, match="alpha"):
        ImportanceResampler(alpha=-1)
    with pytest.raises(ValueError, match="smooth"):
        ImportanceResampler(smooth="raw")
    with pytest.raises(ValueError, match="length_norm"):
        ImportanceResampler(length_norm=0)
    with pytest.raises(ValueError, match="hash"):
        ImportanceResampler(hash="md5")
    with pytest.raises(ValueError, match="eps"):
        ImportanceResampler(eps=0).fit(target, raw)
    r = ImportanceResampler().fit(target, raw)
    with pytest.raises(ValueError, match="method"):
        r.select(raw, 3, method="nope")
    with pytest.raises(ValueError, match="k must be"):
        r.select(raw, 0)
    with pytest.raises(TypeError, match="separate_targets"):
        ImportanceResampler(separate_targets=True).fit("x" * 3, raw)
    with pytest.raises(ValueError, match="raw_counts"):
        ImportanceResampler().fit(target)


def test_cli_dsir(tmp_path, corpora):
    target, raw = corpora
    rp, tp = tmp_path / "raw.jsonl", tmp_path / "target.jsonl"
    _write_jsonl(rp, raw)
    _write_jsonl(tp, target)
    out = tmp_path / "sel.parquet"
    summary = tmp_path / "s.json"
    rc = cli_main(
        [
            "dsir",
            "--target",
            str(tp),
            "--raw",
            str(rp),
            "-k",
            "25",
            "-o",
            str(out),
            "-q",
            "--json",
            str(summary),
        ]
    )
    assert rc == 0
    import pyarrow.parquet as pq

    t = pq.read_table(out)
    assert t.num_rows == 25
    assert {"id", "text", "log_weight", "gumbel_key"} <= set(t.column_names)
    meta = tamis.read_run_metadata(out)
    assert meta["command"] == "dsir"
    s = json.loads(summary.read_text())
    assert s["selected"] == 25
    assert "kl_reduction" in s
    # Deterministic: the same command gives the same rows.
    out2 = tmp_path / "sel2.parquet"
    cli_main(["dsir", "--target", str(tp), "--raw", str(rp), "-k", "25", "-o", str(out2), "-q"])
    assert pq.read_table(out2).column("id").equals(t.column("id"))
    assert (
        cli_main(["dsir", "--target", str(tp), "--raw", str(rp), "-k", "100000", "-o", str(out)])
        == 1
    )
