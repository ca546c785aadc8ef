"""MinHash dedup against datasketch 2.0.0 (signatures, LSH parameters, candidates), a pure
Python reference of the fast scheme, binomial bounds and brute-force connected components."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash

import tamis
from reference import tokens
from tamis import _core
from tamis._base import Selection, load_state
from tamis.cli import main
from tamis.dedup import (
    SignatureStore,
    SignedBatch,
    band_key_groups,
    choose_kept,
    cluster_key_groups,
    cluster_store,
    components,
    datasketch_permutations,
    exact_edges,
    sign_batch,
)


@pytest.fixture
def datasketch():
    """The oracle of this file's reference tests (skips only those tests when missing)."""
    return pytest.importorskip("datasketch")


M64 = (1 << 64) - 1


def shingles(text: str, n: int) -> list[bytes]:
    toks = tokens(text)
    if not toks:
        return []
    w = min(n, len(toks))
    return [" ".join(toks[i : i + w]).encode() for i in range(len(toks) - w + 1)]


@pytest.fixture(scope="module")
def corpus(sample_texts) -> list[str]:
    """150 real documents (first 150 tokens) and 90 edited copies with Jaccard spread over 0.3-1."""
    rng = random.Random(0)
    base = [" ".join(t.split()[:150]) for t in sample_texts if len(t.split()) >= 40][:150]
    docs = list(base)
    for _i in range(90):
        words = base[rng.randrange(len(base))].split()
        rate = rng.choice([0.0, 0.01, 0.03, 0.06, 0.1, 0.2])
        for _ in range(int(len(words) * rate)):
            words[rng.randrange(len(words))] = f"edit{rng.randrange(10**6)}"
        docs.append(" ".join(words))
    rng.shuffle(docs)
    return docs


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize(("seed", "num_perm"), [(1, 128), (7, 64), (42, 256), (2**32 - 1, 16)])
def test_signatures_equal_datasketch(corpus, scheme, seed, num_perm, datasketch):
    docs = [*corpus[:40], "short", "a b", "Ünïcode ДОК 😀 mixed, punct!!", "x" * 3]
    sig, n = tamis.minhash_signatures(
        docs, num_perm=num_perm, seed=seed, scheme=scheme, ngram=5, n_threads=2
    )
    for i, doc in enumerate(docs):
        sh = shingles(doc, 5)
        m = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme=scheme)
        m.update_batch(sh)
        assert n[i] == len(sh)
        np.testing.assert_array_equal(sig[i], m.hashvalues.astype(np.uint64), err_msg=doc[:60])


def test_permutations_equal_datasketch(datasketch):
    for scheme in ("affine32", "legacy"):
        m = datasketch.MinHash(num_perm=32, seed=3, scheme=scheme)
        a, b = datasketch_permutations(32, 3, scheme)
        np.testing.assert_array_equal(a, m.permutations[0].astype(np.uint64))
        np.testing.assert_array_equal(b, m.permutations[1].astype(np.uint64))


def test_char_shingles_equal_datasketch(datasketch):
    docs = ["Hello wörld", "ab", "", "abcdefgh ij"]
    sig, n = tamis.minhash_signatures(
        docs, num_perm=32, scheme="affine32", analyzer="char", ngram=4, lowercase=False
    )
    for i, doc in enumerate(docs):
        w = min(4, len(doc))
        sh = [doc[j : j + w].encode() for j in range(len(doc) - w + 1)] if doc else []
        m = datasketch.MinHash(num_perm=32, seed=1)
        m.update_batch(sh)
        assert n[i] == len(sh)
        np.testing.assert_array_equal(sig[i], m.hashvalues)


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & M64
    return h ^ (h >> 33)


def _token_hash(tok: bytes, seed: int) -> int:
    if len(tok) > 16:
        return xxhash.xxh3_64_intdigest(tok, seed)
    w = tok.ljust(16, b"\0")
    lo, hi = int.from_bytes(w[:8], "little"), int.from_bytes(w[8:], "little")
    m_lo, m_hi = 0xA0761D6478BD642F, 0xE7037ED1A0B428DB
    k0, k1 = _fmix64(seed ^ m_lo), _fmix64(seed ^ m_hi)
    x = ((hi ^ k1) * m_hi) & M64
    x = ((x << 32) | (x >> 32)) & M64
    return _fmix64((((lo ^ k0) * m_lo) & M64) ^ x ^ len(tok))


def _fast_reference(text: str, n: int, num_perm: int, seed: int) -> np.ndarray:
    """The documented fast scheme, in plain Python."""
    st, a, b = seed, [], []
    for _ in range(2 * num_perm):
        st = (st + 0x9E3779B97F4A7C15) & M64
        z = st
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        (a if len(a) == len(b) else b).append(z ^ (z >> 31))
    a = [(x & 0xFFFFFFFF) | 1 for x in a]
    b = [x & 0xFFFFFFFF for x in b]
    th = [_token_hash(t.encode(), seed) for t in tokens(text)]
    w = min(n, len(th))
    sig = [0xFFFFFFFF] * num_perm
    for i in range(len(th) - w + 1 if th else 0):
        acc = 0
        for t in th[i : i + w]:
            x = acc ^ t
            acc = (((x << 27) | (x >> 37)) & M64) * 0x9E3779B97F4A7C15 & M64
        x = _fmix64(acc) >> 32
        sig = [min(s, (ak * x + bk) & 0xFFFFFFFF) for s, ak, bk in zip(sig, a, b)]
    return np.array(sig, dtype=np.uint32)


def test_fast_scheme_matches_python_reference(corpus):
    docs = [*corpus[:5], "one", "", "a b c", "a_very_long_identifier_of_many_bytes x"]
    sig, _ = tamis.minhash_signatures(docs, num_perm=40, seed=9, ngram=3)
    for i, doc in enumerate(docs):
        np.testing.assert_array_equal(sig[i], _fast_reference(doc, 3, 40, 9))


def test_lsh_params_equal_datasketch(datasketch):
    for num_perm in (8, 32, 100, 128, 256):
        for t in (0.05, 0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95):
            for w in ((0.5, 0.5), (0.3, 0.7)):
                want = datasketch.lsh._optimal_param(t, num_perm, *w)
                assert tamis.lsh_params(t, num_perm, w) == want, (t, num_perm, w)
                if num_perm == 128 and w == (0.5, 0.5):
                    lsh = datasketch.MinHashLSH(threshold=t, num_perm=num_perm)
                    assert (lsh.b, lsh.r) == want


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_candidates_equal_datasketch_lsh(corpus, threshold, datasketch):
    sig, _n = tamis.minhash_signatures(corpus, num_perm=128, scheme="affine32", seed=1)
    lsh = datasketch.MinHashLSH(threshold=threshold, num_perm=128)
    for i, doc in enumerate(corpus):
        m = datasketch.MinHash(num_perm=128, seed=1)
        m.update_batch(shingles(doc, 5))
        lsh.insert(i, m)
    want = set()
    for i, doc in enumerate(corpus):
        m = datasketch.MinHash(num_perm=128, seed=1)
        m.update_batch(shingles(doc, 5))
        want |= {(min(i, j), max(i, j)) for j in lsh.query(m) if j != i}
    pairs = tamis.candidate_pairs(sig, num_bands=lsh.b, rows=lsh.r)
    got = {(int(a), int(b)) for a, b in pairs}
    assert got == want
    assert len(got) > 20  # the corpus does contain near-duplicates


@pytest.mark.parametrize("scheme", ["fast", "affine32"])
def test_jaccard_estimate_unbiased(scheme):
    # Pairs of word sets with known Jaccard; the mean estimate over independent seeds lies
    # within 4 standard deviations of the binomial mean.
    num_perm, n_seeds = 64, 24
    for inter, only in [(100, 0), (90, 10), (50, 50), (20, 200), (300, 300)]:
        a = " ".join(f"w{i}" for i in range(inter + only))
        b = " ".join(f"w{i}" for i in [*range(inter), *range(10**5, 10**5 + only)])
        j = inter / (inter + 2 * only)
        est = []
        for seed in range(1, n_seeds + 1):
            sig, _ = tamis.minhash_signatures(
                [a, b], num_perm=num_perm, seed=seed, ngram=1, scheme=scheme
            )
            est.append((sig[0] == sig[1]).mean())
        sd = math.sqrt(j * (1 - j) / (num_perm * n_seeds))
        assert abs(np.mean(est) - j) <= 4 * sd + 1e-12, (inter, only, np.mean(est), j)


def _components(n: int, edges) -> np.ndarray:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)])


@pytest.mark.parametrize("verify", ["estimate", "none", "exact"])
def test_clusters_equal_brute_force_components(corpus, verify):
    docs = [*corpus, *corpus[:30]]  # exact copies too
    d = tamis.MinHashDeduplicator(threshold=0.7, exact=False, verify=verify, n_threads=2).fit(docs)
    sig = d.signatures_
    pairs = tamis.candidate_pairs(sig, num_bands=d.num_bands_, rows=d.rows_)
    if verify == "none":
        edges = pairs
    elif verify == "estimate":
        edges = [(a, b) for a, b in pairs if (sig[a] == sig[b]).mean() >= 0.7]
    else:
        sets = [{xxhash.xxh3_64_intdigest(s) for s in shingles(t, 5)} for t in docs]
        edges = [(a, b) for a, b in pairs if len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= 0.7]
    np.testing.assert_array_equal(d.cluster_id_, _components(len(docs), edges))
    assert (~d.keep_mask_).sum() >= 30
    one = tamis.MinHashDeduplicator(threshold=0.7, exact=False, verify=verify, n_threads=1)
    np.testing.assert_array_equal(one.fit(docs).cluster_id_, d.cluster_id_)


def test_exact_dedup_and_empty_documents():
    docs = ["Same text here", "same   TEXT here", "", "", None, "tiny", "tiny"]
    d = tamis.MinHashDeduplicator(threshold=0.9, fold_whitespace=True)
    d.fit(pa.array(docs, pa.string()))
    assert d.keep_mask_.tolist() == [True, False, True, False, True, True, False]
    assert d.duplicate_of_.tolist() == [-1, 0, -1, 2, -1, -1, 5]
    # Without exact dedup, empty and null documents are never duplicates; short ones (fewer
    # tokens than ngram: one shingle of all tokens) still are.
    d = tamis.MinHashDeduplicator(threshold=0.9, exact=False).fit(docs)
    assert d.keep_mask_.tolist() == [True, False, True, True, True, True, False]
    assert d.n_shingles_.tolist() == [1, 1, 0, 0, 0, 1, 1]


def test_keep_policies():
    docs = ["a b c d e f", "a b c d e f g", "x y z", "a b c d e f g"]
    d = tamis.MinHashDeduplicator(threshold=0.5, ngram=2, keep="longest").fit(docs)
    assert d.keep_mask_.tolist() == [False, True, True, False]
    d = tamis.MinHashDeduplicator(threshold=0.5, ngram=2, keep="score")
    d.fit(docs, scores=[0.1, 0.2, 0.0, 0.9])
    assert d.duplicate_of_.tolist() == [3, 3, -1, -1]
    d = tamis.MinHashDeduplicator(threshold=0.5, ngram=2).fit(docs, ids=["d", "c", "b", "a"])
    assert d.keep_mask_.tolist() == [False, False, True, True]
    with pytest.raises(ValueError, match="scores"):
        tamis.MinHashDeduplicator(keep="score").fit(docs)


def test_incremental_query_save_load(tmp_path, corpus):
    d = tamis.MinHashDeduplicator(threshold=0.8, verify="estimate")
    d.add(corpus[:100]).add(pa.chunked_array([pa.array(corpus[100:])]))
    full = tamis.MinHashDeduplicator(threshold=0.8, verify="estimate").fit(corpus)
    np.testing.assert_array_equal(d.cluster().cluster_id_, full.cluster_id_)
    assert 7 in d.query(corpus[7]).tolist()
    assert d.query("nothing like it at all in the corpus, really nothing").tolist() == []
    d.save(tmp_path / "idx.npz")
    e = tamis.MinHashDeduplicator.load(tmp_path / "idx.npz").cluster()
    np.testing.assert_array_equal(e.keep_mask_, full.keep_mask_)
    assert e.get_params() == d.get_params()


def test_bad_parameters():
    with pytest.raises(ValueError, match="num_perm"):
        tamis.minhash_signatures(["a"], num_perm=0)
    for t in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="threshold"):
            tamis.MinHashDeduplicator(threshold=t)
    with pytest.raises(ValueError, match="num_bands"):
        tamis.MinHashDeduplicator(num_perm=64, num_bands=9, rows=8)
    with pytest.raises(ValueError, match="num_bands"):
        tamis.candidate_pairs(np.zeros((2, 16), np.uint32), num_bands=5, rows=4)
    with pytest.raises(ValueError, match="scheme"):
        tamis.minhash_signatures(["a"], scheme="md5")
    with pytest.raises(ValueError, match="ngram"):
        tamis.minhash_signatures(["a"], ngram=0)
    with pytest.raises(ValueError, match="keep"):
        tamis.MinHashDeduplicator(keep="random")
    with pytest.raises(ValueError, match="verify"):
        tamis.MinHashDeduplicator(verify="maybe")
    with pytest.raises(ValueError, match="weights"):
        tamis.lsh_params(0.5, 64, (0.9, 0.9))
    with pytest.raises(ValueError, match="n_threads"):
        tamis.minhash_signatures(["a"], n_threads=0)
    with pytest.raises(ValueError, match="odd"):
        _core.MinHasher(
            num_perm=1, scheme="affine32", a=np.array([2], np.uint64), b=np.array([1], np.uint64)
        )
    with pytest.raises(tamis.NotFittedError):
        tamis.MinHashDeduplicator().transform(["a"])


def test_cli_dedup(tmp_path, corpus):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": [*corpus, *corpus[:10]], "q": np.arange(250.0)}), src)
    out = tmp_path / "out.parquet"
    assert main(["dedup", str(src), "-o", str(out), "-q", "--json", str(tmp_path / "s.json")]) == 0
    kept = pq.read_table(out)
    d = tamis.MinHashDeduplicator(verify="exact").fit([*corpus, *corpus[:10]])
    assert kept.num_rows == int(d.keep_mask_.sum()) < 250
    assert tamis.read_run_metadata(out)["command"] == "dedup"
    out2 = tmp_path / "all.parquet"
    args = ["dedup", str(src), "-o", str(out2), "-q", "--all-rows", "--keep", "score"]
    assert main([*args, "--score-column", "q"]) == 0
    t = pq.read_table(out2)
    assert t.num_rows == 250
    assert set(t.column_names) >= {"text", "id", "cluster_id", "duplicate_of", "keep"}
    # Higher q later in the file: copies (rows 240..249) are kept over their originals.
    assert t.column("keep").to_pylist()[240:] == [True] * 10
    assert main(["dedup", str(src), "-o", str(out2), "--keep", "score"]) == 1


@pytest.mark.parametrize("verify", ["estimate", "none"])
def test_partitioned_mode_equals_in_memory(tmp_path, corpus, verify):
    docs = [*corpus, *corpus[:20], ""]
    d = tamis.MinHashDeduplicator(threshold=0.7, exact=False, verify=verify).fit(docs)
    sig = d.signatures_
    half = len(docs) // 2
    for i, (lo, hi) in enumerate([(0, half), (half, len(docs))]):
        tamis.write_band_keys(
            sig[lo:hi],
            tmp_path / "keys",
            num_bands=d.num_bands_,
            rows=d.rows_,
            n_partitions=4,
            row_offset=lo,
            part_name=f"worker-{i}",
        )
    assert len(list((tmp_path / "keys").glob("partition=*/*.parquet"))) == 8
    kw = {}
    if verify == "estimate":
        np.save(tmp_path / "sig.npy", sig)
        kw = {"signatures": np.load(tmp_path / "sig.npy", mmap_mode="r"), "threshold": 0.7}
    roots = tamis.cluster_band_keys(tmp_path / "keys", len(docs), **kw)
    np.testing.assert_array_equal(roots, d.cluster_id_)
    with pytest.raises(ValueError, match="threshold"):
        tamis.cluster_band_keys(tmp_path / "keys", len(docs), signatures=sig)


def test_exact_verification_incremental(corpus):
    docs = [*corpus, *corpus[:10]]
    full = tamis.MinHashDeduplicator(threshold=0.8, verify="exact").fit(docs)
    d = tamis.MinHashDeduplicator(threshold=0.8, verify="exact")
    d.add(docs[:100]).add(docs[100:])
    with pytest.raises(ValueError, match="add_shingle_sets"):
        d.cluster()
    d.add_shingle_sets(iter([docs[:50], pa.array(docs[50:])])).cluster()
    np.testing.assert_array_equal(d.cluster_id_, full.cluster_id_)
    with pytest.raises(ValueError, match="documents"):
        d.add_shingle_sets(docs[:-1])


def test_cli_dedup_exact(tmp_path, corpus):
    docs = [*corpus, *corpus[:10]]
    pq.write_table(pa.table({"text": docs}), tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    args = ["dedup", str(tmp_path / "in.parquet"), "-o", str(out), "-q", "--verify", "exact"]
    assert main([*args, "--batch-size", "64"]) == 0
    d = tamis.MinHashDeduplicator(verify="exact").fit(docs)
    assert pq.read_table(out).num_rows == int(d.keep_mask_.sum())


@pytest.mark.parametrize("verify", ["exact", "none"])
def test_low_memory_index(tmp_path, corpus, verify):
    docs = [*corpus, *corpus[:10], "", None]
    full = tamis.MinHashDeduplicator(threshold=0.8, verify=verify).fit(docs)
    low = tamis.MinHashDeduplicator(threshold=0.8, verify=verify, low_memory=True).fit(docs)
    np.testing.assert_array_equal(low.cluster_id_, full.cluster_id_)
    assert not hasattr(low, "signatures_")
    # 8 bytes per band key (9 bands with verify="none", 16 with "exact"'s recall banding),
    # shingle counts and exact hashes (25 bytes); the shingle sets of candidate rows not counted
    assert low.store_.nbytes / len(docs) <= 8 * low.num_bands_ + 25
    assert 3 in low.query(docs[3]).tolist()
    low.save(tmp_path / "low.npz")
    again = tamis.MinHashDeduplicator.load(tmp_path / "low.npz")
    if verify == "exact":
        again.add_shingle_sets(docs)
    np.testing.assert_array_equal(again.cluster().cluster_id_, full.cluster_id_)
    with pytest.raises(ValueError, match="low_memory"):
        tamis.MinHashDeduplicator(low_memory=True, verify="estimate")
    assert tamis.MinHashDeduplicator(low_memory=True).verify == "exact"  # the default works


def test_remove_repeated_lines():
    docs = ["Home | Menu\nfirst  story\n\n", "Home |  Menu\nsecond\nsecond", None, "", "x\n\nx"]
    out, n = tamis.remove_repeated_lines(pa.chunked_array([pa.array(docs[:2]), pa.array(docs[2:])]))
    assert out.to_pylist() == ["Home | Menu\nfirst  story\n\n", "second", None, "", "x\n"]
    assert n.tolist() == [0, 2, 0, 0, 1]
    # Brute force: keep the first occurrence of each normalised non-blank line.
    seen, want = set(), []
    for d in docs:
        if d is None:
            want.append(None)
            continue
        kept = []
        for line in d.split("\n"):
            key = " ".join(line.split())
            if key and key in seen:
                continue
            seen.add(key)
            kept.append(line)
        want.append("\n".join(kept))
    assert out.to_pylist() == want


def test_default_verify_is_exact(corpus):
    docs = [*corpus, *corpus[:10]]
    d = tamis.MinHashDeduplicator(threshold=0.8)
    assert d.verify == "exact"
    want = tamis.MinHashDeduplicator(threshold=0.8, verify="exact").fit(docs)
    np.testing.assert_array_equal(d.fit(docs).cluster_id_, want.cluster_id_)
    d.reset().add(docs)  # incremental use: exact verification needs the second pass
    with pytest.raises(ValueError, match="add_shingle_sets"):
        d.cluster()
    np.testing.assert_array_equal(d.add_shingle_sets(docs).cluster().keep_mask_, want.keep_mask_)


def test_select_returns_a_selection(corpus):
    docs = [*corpus[:60], *corpus[:5], "", None]
    ids = [f"doc{i:03d}" for i in range(len(docs))]
    d = tamis.MinHashDeduplicator(threshold=0.8)
    with pytest.raises(tamis.NotFittedError):
        d.select()
    sel = d.select(docs, ids=ids)
    assert isinstance(sel, Selection)
    assert sel is d.selection_
    assert d.select() is sel
    assert sel.method == "dedup/minhash"
    assert sel.n_rows == len(docs)
    np.testing.assert_array_equal(sel.indices, np.flatnonzero(d.keep_mask_))
    assert not sel.mask()[60:65].any()
    assert sel.mask()[65:].all()
    assert list(sel.ids) == [ids[i] for i in sel.indices]
    np.testing.assert_array_equal(sel.cluster_id, d.cluster_id_[sel.indices])
    assert set(sel.rows) == {"keep", "cluster_id", "duplicate_of", "n_shingles"}
    np.testing.assert_array_equal(sel.rows["keep"], d.keep_mask_)
    np.testing.assert_array_equal(sel.rows["duplicate_of"], d.duplicate_of_)
    np.testing.assert_array_equal(sel.rows["n_shingles"], d.n_shingles_)
    assert sel.n_removed == len(docs) - len(sel) >= 5
    assert (sel.num_bands, sel.rows_per_band) == (d.num_bands_, d.rows_)
    table = sel.to_arrow()
    assert table.column_names == ["index", "id", "cluster_id"]
    assert table.num_rows == len(sel)
    # Arrow ids stay Arrow; without ids the ids are the row numbers.
    arrow_ids = d.select(docs, ids=pa.array(ids)).ids
    assert arrow_ids.to_pylist() == [ids[i] for i in sel.indices]
    np.testing.assert_array_equal(d.select(docs).ids, sel.indices)
    with pytest.raises(ValueError, match="texts"):
        d.select(ids=ids)


def test_signature_store(corpus):
    d = tamis.MinHashDeduplicator(threshold=0.5, ngram=2, keep="longest")
    kw = {"num_perm": d.num_perm, "num_bands": d.num_bands_}
    store = SignatureStore(**kw, exact=True, lengths=True)
    assert len(store) == 0
    assert store.signatures.shape == (0, d.num_perm)
    assert store.band_keys is None
    assert store.hashes.shape == (0, 2)
    batches = [["a b c", "a b c dé", None], ["x y", ""]]
    flat = [t for b in batches for t in b]
    for texts in batches:
        arr = pa.array(texts, pa.string())
        store.append(sign_batch(d.hasher, arr, exact_hashes=d.normalization, lengths=True))
    assert len(store) == 5
    merged = store.merged()
    assert store.merged() is merged  # concatenated once
    sig, n = tamis.minhash_signatures(flat, num_perm=d.num_perm, ngram=2)
    np.testing.assert_array_equal(merged.signatures, sig)
    np.testing.assert_array_equal(merged.n_shingles, n)
    assert merged.lengths.tolist() == [5, 9, 0, 3, 0]
    assert merged.hash_ok.tolist() == [True, True, False, True, True]
    assert store.nbytes == merged.nbytes == sum(a.nbytes for a in merged.arrays().values())
    with pytest.raises(ValueError, match="fields"):
        store.append(sign_batch(d.hasher, pa.array(["q"])))  # no hashes, no lengths
    # What save() writes, load() reads back, with the candidate rows' shingle sets.
    d.fit(flat)
    again = SignatureStore(**kw, exact=True, lengths=True).load_arrays(d.store_.to_arrays())
    for name in SignedBatch.FIELDS:
        a, b = getattr(again, name), getattr(d.store_, name)
        assert (a is None and b is None) or np.array_equal(a, b), name
    np.testing.assert_array_equal(again.shingle_sets.indptr, d.store_.shingle_sets.indptr)
    with pytest.raises(ValueError, match="lengths"):
        SignatureStore(**kw, exact=True, lengths=True).load_arrays(
            {k: v for k, v in d.store_.to_arrays().items() if k != "lengths"}
        )
    # The Ray backend's block layout: signatures and band keys as fixed-size binary rows.
    both = sign_batch(
        d.hasher, pa.array(corpus[:7]), num_bands=d.num_bands_, rows=d.rows_, band_keys=True
    )
    table = both.to_arrow()
    assert table.column_names == ["n_shingles", "sig", "keys"]
    raw = np.frombuffer(table.column("sig").combine_chunks().buffers()[1], np.uint32)
    np.testing.assert_array_equal(raw.reshape(7, -1), both.signatures)
    keys = np.frombuffer(table.column("keys").combine_chunks().buffers()[1], np.uint64)
    np.testing.assert_array_equal(keys.reshape(7, -1), both.band_keys)
    low = SignatureStore(**kw, low_memory=True)
    low.append(SignedBatch(n_shingles=both.n_shingles, band_keys=both.band_keys))
    assert low.signatures is None
    assert low.band_keys.shape == (7, d.num_bands_)


def test_save_format_versions(tmp_path, corpus):
    docs = [*corpus[:80], *corpus[:5]]
    d = tamis.MinHashDeduplicator(threshold=0.8, keep="longest").fit(docs)
    path = d.save(tmp_path / "v2.npz")
    params, z = load_state(path, "MinHashDeduplicator", (2,))
    z.close()
    assert params == json.loads(json.dumps(d.get_params()))
    # Format 1 (a ``params`` JSON array, what earlier releases wrote) still loads.
    old = {"format": 1, "params": d.get_params()}
    with open(tmp_path / "v1.npz", "wb") as f:
        np.savez(f, params=np.array(json.dumps(old)), **d.store_.to_arrays())
    for p in (path, tmp_path / "v1.npz"):
        e = tamis.MinHashDeduplicator.load(p)
        assert e.get_params() == d.get_params()
        np.testing.assert_array_equal(e.cluster().keep_mask_, d.keep_mask_)
    (tmp_path / "junk.npz").write_text("not an npz")
    with pytest.raises(tamis.InputError):
        tamis.MinHashDeduplicator.load(tmp_path / "junk.npz")


def test_engine_functions_equal_the_estimator(corpus):
    docs = [*corpus, *corpus[:20], ""]
    ids = np.array([f"{(7 * i) % len(docs):04d}" for i in range(len(docs))])
    d = tamis.MinHashDeduplicator(threshold=0.7, verify="estimate", exact=False).fit(docs, ids=ids)
    store, kw = d.store_, {"threshold": 0.7, "verify": "estimate"}
    roots = cluster_store(store, num_bands=d.num_bands_, rows=d.rows_, **kw)
    np.testing.assert_array_equal(roots, d.cluster_id_)
    # Band by band from a key matrix (the low_memory and partitioned paths) gives the same.
    keys = _core.band_keys(store.signatures, num_bands=d.num_bands_, rows=d.rows_)
    groups = band_key_groups(keys, store.n_shingles > 0)
    by_band = cluster_key_groups(groups, len(docs), signatures=store.signatures, **kw)
    np.testing.assert_array_equal(by_band, roots)
    res = choose_kept(roots, "first", ids=ids)
    np.testing.assert_array_equal(res.keep_mask, d.keep_mask_)
    np.testing.assert_array_equal(res.duplicate_of, d.duplicate_of_)
    edges = exact_edges(np.array([10, 11, 12, 13]), np.array([[1, 2], [3, 4], [1, 2], [1, 2]]))
    assert edges.tolist() == [[10, 10], [11, 11], [12, 10], [13, 10]]
    assert components(5, [np.array([[1, 3], [3, 4]])]).tolist() == [0, 1, 2, 1, 1]
