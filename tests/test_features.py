import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.reference import char_ngram_counts, word_ngram_counts

import tamis
from tamis import HashingFeaturizer

# Characters this Python's Unicode database knows: lowercasing follows Rust's (newer) Unicode
# tables, which map some characters that CPython 3.11 (Unicode 14) considers unassigned.
KNOWN = st.characters(blacklist_categories=("Cs", "Cn"))
texts_st = st.lists(st.one_of(st.none(), st.text(alphabet=KNOWN, max_size=60)), max_size=20)


def rows(csr):
    return [csr.row(i) for i in range(len(csr))]


@pytest.mark.parametrize(
    ("n_buckets", "ngram_range"), [(10_000, (1, 2)), (97, (1, 3)), (1, (2, 2))]
)
def test_csr_matches_brute_force_on_sample(sample_texts, n_buckets, ngram_range):
    texts = sample_texts[:300]
    f = HashingFeaturizer(n_buckets, ngram_range, seed=7)
    got = f.transform(texts)
    assert got.shape == (300, n_buckets)
    for i, t in enumerate(texts):
        assert got.row(i) == dict(word_ngram_counts(t, n_buckets, ngram_range, seed=7)), i
    assert np.all(np.diff(got.indptr) >= 0)


@given(texts_st, st.integers(1, 3), st.integers(0, 2), st.integers(0, 2**64 - 1))
def test_csr_matches_brute_force_generated(texts, lo, extra, seed):
    rng = (lo, lo + extra)
    got = HashingFeaturizer(64, rng, seed=seed).transform(texts)
    for i, t in enumerate(texts):
        assert got.row(i) == (dict(word_ngram_counts(t, 64, rng, seed)) if t is not None else {})


@pytest.mark.parametrize("seed", [0, 1, 2**63, 2**64 - 1])
def test_every_ngram_length_matches_xxhash(seed):
    # The kernel's own XXH3 has one formula per length class (0-3, 4-8, 9-16, 17-128, more) and
    # reads around each n-gram: tokens of every length 1..140, joined by one space (hashed in
    # place) or by other gaps (joined in a buffer), must give xxhash's buckets.
    rng = np.random.default_rng(seed % 2**32)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789_"))
    toks = ["".join(rng.choice(alphabet, size=n)) for n in [*range(1, 141), *range(1, 20)]]
    rng.shuffle(toks)
    gaps = [" ", " ", " ", "  ", "\t", " , ", "\n"]
    text = "".join(t + gaps[i % len(gaps)] for i, t in enumerate(toks))
    nb = 2**32 - 1
    got = HashingFeaturizer(nb, (1, 3), seed=seed).transform([text, text[:64], ""])
    for i, t in enumerate([text, text[:64], ""]):
        assert got.row(i) == dict(word_ngram_counts(t, nb, (1, 3), seed)), i


@given(st.lists(st.text(alphabet=KNOWN, max_size=40), max_size=10), st.integers(1, 4))
def test_char_ngrams_match_brute_force(texts, n):
    got = HashingFeaturizer(50, (1, n), analyzer="char").transform(texts)
    assert rows(got) == [dict(char_ngram_counts(t, 50, (1, n))) for t in texts]
    assert got.n_tokens.tolist() == [len(t.lower()) for t in texts]


def test_dense_count_and_tokens_agree(sample_texts):
    texts = sample_texts[:200]
    f = HashingFeaturizer(512, (1, 2))
    csr = f.transform(texts)
    dense = f.transform_dense(texts)
    np.testing.assert_array_equal(dense, csr.toarray())
    np.testing.assert_array_equal(f.count(texts), dense.sum(axis=0, dtype=np.uint64))
    assert f.last_stats_["n_docs"] == 200
    assert f.last_stats_["n_ngrams"] == int(dense.sum())
    np.testing.assert_array_equal(f.count_tokens(texts), csr.n_tokens)
    assert csr.n_tokens.tolist() == [len(tamis.tokenize(t)) for t in texts]


def test_thread_count_does_not_change_results(sample_texts):
    texts = sample_texts[:700]
    outs = [HashingFeaturizer(1000, (1, 3), n_threads=n) for n in (1, 2, 3)]
    csrs = [f.transform(texts) for f in outs]
    for c in csrs[1:]:
        for a in ("indptr", "indices", "data", "n_tokens"):
            np.testing.assert_array_equal(getattr(c, a), getattr(csrs[0], a))
    sums = [f.count(texts) for f in outs]
    for s in sums[1:]:
        np.testing.assert_array_equal(s, sums[0])


def test_streaming_count_equals_one_shot(sample_texts):
    f = HashingFeaturizer(300, (1, 2))
    total = np.zeros(300, dtype=np.uint64)
    for start in range(0, 500, 37):
        f.count(sample_texts[start : min(start + 37, 500)], out=total)
    np.testing.assert_array_equal(total, f.count(sample_texts[:500]))
    # A stream of chunks in one call, too.
    chunks = (sample_texts[s : s + 100] for s in range(0, 500, 100))
    np.testing.assert_array_equal(f.count(chunks), total)


def test_arrow_inputs_zero_copy_paths():
    texts = ["alpha beta", None, "", "gamma"]
    f = HashingFeaturizer(32, (1, 2))
    ref = f.transform(texts)
    for arr in (
        pa.array(texts, pa.string()),
        pa.array(texts, pa.large_string()),
        pa.array(["pad", *texts], pa.string()).slice(1),
        pa.chunked_array([texts[:2], texts[2:]]),
        pa.array(texts, pa.string_view()),
    ):
        got = f.transform(arr)
        assert rows(got) == rows(ref)
        assert got.n_tokens.tolist() == [2, 0, 0, 1]


def test_empty_inputs():
    f = HashingFeaturizer(8)
    assert f.transform([]).shape == (0, 8)
    assert f.transform_dense([]).shape == (0, 8)
    assert f.count([]).sum() == 0
    assert f.transform([""]).row(0) == {}


def test_huge_single_document():
    doc = "lorem ipsum dolor sit amet " * 4_000_000  # ~108 MB
    f = HashingFeaturizer(16, (1, 1))
    counts = f.count([doc])
    assert int(counts.sum()) == 5 * 4_000_000
    assert f.last_stats_["n_tokens"] == 20_000_000


def test_invalid_utf8_names_the_row():
    data = np.frombuffer(b"okbad\xff", dtype=np.uint8)
    offsets = np.array([0, 2, 6], dtype=np.int32)
    f = HashingFeaturizer(8)
    with pytest.raises(ValueError, match="row 1: text is not valid UTF-8"):
        f._core.transform_csr(offsets, data)
    with pytest.raises(ValueError, match="row 1"):
        f._core.accumulate(offsets, data, np.zeros(8, np.uint64))


def test_malformed_buffers_are_rejected():
    f = HashingFeaturizer(8)
    data = np.frombuffer(b"abc", dtype=np.uint8)
    with pytest.raises(ValueError, match="offsets decrease"):
        f._core.transform_csr(np.array([0, 2, 1], np.int64), data)
    with pytest.raises(ValueError, match="past the data"):
        f._core.transform_csr(np.array([0, 9], np.int64), data)
    with pytest.raises(ValueError, match="contiguous"):
        f._core.transform_csr(np.array([0, 0, 1, 1, 3, 3], np.int64)[::2], data)
    with pytest.raises(ValueError, match="n_threads"):
        f._core.transform_csr(np.array([0, 3], np.int64), data, None, 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_buckets": 0}, "n_buckets must be >= 1, got 0"),
        ({"n_buckets": 2**32}, "n_buckets"),
        ({"ngram_range": (0, 2)}, "ngram_range"),
        ({"ngram_range": (3, 2)}, "ngram_range"),
        ({"ngram_range": (1, 65)}, "ngram_range"),
        ({"analyzer": "bpe"}, "analyzer"),
        ({"seed": -1}, "seed"),
        ({"n_threads": 0}, "n_threads"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HashingFeaturizer(**kwargs)


def test_bad_out_and_texts():
    f = HashingFeaturizer(8)
    with pytest.raises(TypeError, match="uint64"):
        f.count(["a"], out=np.zeros(8, np.float64))
    with pytest.raises(ValueError, match="n_buckets=8"):
        f.count(["a"], out=np.zeros(9, np.uint64))
    with pytest.raises(ValueError, match="contiguous"):
        f.count(["a"], out=np.zeros(16, np.uint64)[::2])
    with pytest.raises(TypeError, match="single string"):
        f.transform("not a list")
    with pytest.raises(TypeError, match="strings"):
        f.transform(pa.array([1, 2]))


def test_normalisation_options_change_features():
    plain = HashingFeaturizer(1 << 20, (1, 1), lowercase=False)
    folded = HashingFeaturizer(1 << 20, (1, 1), nfkc=True, strip_punctuation=True)
    assert plain.buckets("Ａb") != folded.buckets("Ａb!")
    assert folded.buckets("Ａb!") == folded.buckets("ab")


def test_repr_and_params():
    f = HashingFeaturizer(10, (1, 3), seed=3)
    assert "n_buckets=10" in repr(f)
    assert HashingFeaturizer(**f.get_params()).get_params() == f.get_params()
