"""MetaCLIP entry matching and balancing, and the per-group cap.

Oracles: ``pyahocorasick`` and a brute-force search for the matches; binomial bounds for the
balancing draw; a pure-Python sort for the cap.
"""

import collections
import json
import re
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tamis
from tamis import _core
from tamis.balance import (
    EntryMatcher,
    EntryMatches,
    balance,
    balance_matches,
    cap_per_group,
    entry_keys,
    read_entries,
)
from tamis.importance.stream import id_hashes

WORD = re.compile(r"\w")


def _entries_from(texts, n_words=300, n_bigrams=150):
    """Frequent words and bigrams of the texts, plus sub-word and punctuation entries."""
    words = collections.Counter(w for t in texts for w in re.findall(r"\w+", t.lower()))
    bigrams = collections.Counter(
        " ".join(p) for t in texts[:500] for p in zip(t.lower().split(), t.lower().split()[1:])
    )
    out = [w for w, _ in words.most_common(n_words)]
    out += [b for b, _ in bigrams.most_common(n_bigrams) if b not in out]
    out += ["ing", "tion", "self.", "()", "==", "-", "the"]
    return list(dict.fromkeys(out))


def _oracle_ahocorasick(entries, texts, word_boundary):
    """Occurrences per (document, entry) found by pyahocorasick on str.lower() texts."""
    ahocorasick = pytest.importorskip("ahocorasick")
    a = ahocorasick.Automaton()
    for i, e in enumerate(entries):
        a.add_word(e.lower(), (i, len(e.lower())))
    a.make_automaton()
    rows = []
    for t in texts:
        t = t.lower()
        row = collections.Counter()
        for end, (i, n) in a.iter(t):
            s, e = end - n + 1, end + 1
            if word_boundary and (
                (s > 0 and WORD.match(t[s - 1])) or (e < len(t) and WORD.match(t[e]))
            ):
                continue
            row[i] += 1
        rows.append(dict(row))
    return rows


def _brute(entries, text, word_boundary):
    t = text.lower()
    out = {}
    for i, e in enumerate(entries):
        e = e.lower()
        c, s = 0, t.find(e)
        while s >= 0:
            end = s + len(e)
            if not word_boundary or not (
                (s > 0 and WORD.match(t[s - 1])) or (end < len(t) and WORD.match(t[end]))
            ):
                c += 1
            s = t.find(e, s + 1)
        if c:
            out[i] = c
    return out


@pytest.mark.parametrize("word_boundary", [True, False])
def test_matches_equal_pyahocorasick_on_the_sample(sample_texts, word_boundary):
    texts = sample_texts[:1500]
    entries = _entries_from(texts)
    m = EntryMatcher(entries, word_boundary=word_boundary, n_threads=3)
    got = m.transform(texts)
    want = _oracle_ahocorasick(entries, texts, word_boundary)
    assert [got.row(i) for i in range(len(texts))] == want
    counts = np.zeros(len(entries), np.uint64)
    for row in want:
        counts[list(row)] += 1
    np.testing.assert_array_equal(got.doc_counts(), counts)
    # The oracle itself against the definition, on a few documents.
    for i in range(0, len(texts), 150):
        assert want[i] == _brute(entries, texts[i], word_boundary)


def test_matches_are_scipy_csr_and_thread_independent(sample_texts):
    sp = pytest.importorskip("scipy.sparse")
    texts = sample_texts[:600]
    entries = _entries_from(texts, 100, 20)
    a = EntryMatcher(entries, n_threads=1).transform(texts)
    b = EntryMatcher(entries, n_threads=4).transform(pa.chunked_array([texts[:250], texts[250:]]))
    for x, y in zip((a.indptr, a.indices, a.data), (b.indptr, b.indices, b.data)):
        np.testing.assert_array_equal(x, y)
    csr = a.to_scipy()
    assert isinstance(csr, sp.csr_matrix)
    assert csr.shape == (600, len(entries))
    assert csr.has_sorted_indices
    np.testing.assert_array_equal((csr > 0).sum(axis=0).A1, a.doc_counts())


def test_case_and_word_boundary_options():
    texts = ["A Cat, a cat; concat CATS", None, "New York york"]
    m = EntryMatcher(["cat", "new york", "york"])
    got = m.transform(texts)
    assert [got.row(i) for i in range(3)] == [{0: 2}, {}, {1: 1, 2: 2}]
    cs = EntryMatcher(["cat", "York"], lowercase=False, word_boundary=False).transform(texts)
    assert [cs.row(i) for i in range(3)] == [{0: 2}, {}, {1: 1}]


def test_bad_entries_are_named():
    with pytest.raises(ValueError, match=r"entries 0 and 2 are equal"):
        EntryMatcher(["Cat", "dog", "cat"])
    with pytest.raises(ValueError, match="entry 1"):
        EntryMatcher(["cat", "   "], fold_whitespace=True)
    with pytest.raises(TypeError, match="entry 1 is int"):
        EntryMatcher(["cat", 3])
    with pytest.raises(TypeError, match="single string"):
        EntryMatcher("cat")


def _synthetic(n, n_entries, seed):
    """Documents matching 1-3 entries drawn from a Zipf-like law (heads and tails)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_entries + 1) ** 1.1
    p /= p.sum()
    draws = rng.choice(n_entries, size=(n, 3), p=p)
    draws[np.arange(3) >= rng.integers(1, 4, n)[:, None]] = n_entries  # 1-3 draws per row
    draws.sort(axis=1)
    valid = draws < n_entries
    valid[:, 1:] &= draws[:, 1:] != draws[:, :-1]  # repeated entries count once
    indptr = np.concatenate([[0], np.cumsum(valid.sum(axis=1))]).astype(np.int64)
    indices = draws[valid].astype(np.uint32)
    m = EntryMatches(indptr, indices, np.ones(len(indices), np.uint32), n_entries)
    ids = pa.array([f"doc-{i}" for i in range(n)])
    return m, ids


def test_balance_keeps_each_entry_within_binomial_bounds():
    m, ids = _synthetic(200_000, 300, 0)
    counts = m.doc_counts()
    t = 2_000
    assert (counts > t).sum() >= 10  # enough heads to test
    sel = balance_matches(m, counts, ids, t=t, seed=7)
    keep, prob = sel.rows["keep"], sel.rows["probability"]
    # The probability of each document, from its entries' p_e = min(1, t / count_e).
    p_e = np.minimum(1.0, t / counts)
    rows = np.repeat(np.arange(len(m)), np.diff(m.indptr))
    miss = np.ones(len(m))
    np.multiply.at(miss, rows, 1.0 - p_e[m.indices])
    np.testing.assert_allclose(prob, 1.0 - miss, rtol=1e-12)
    # Per entry: kept documents matching it against sum(prob) +- 5 sd (independent draws).
    kept_per_entry = np.bincount(m.indices, weights=keep[rows], minlength=m.n_entries)
    mean = np.bincount(m.indices, weights=prob[rows], minlength=m.n_entries)
    var = np.bincount(m.indices, weights=(prob * (1 - prob))[rows], minlength=m.n_entries)
    z = (kept_per_entry - mean) / np.sqrt(np.maximum(var, 1e-12))
    assert np.abs(z).max() < 5.0, np.abs(z).max()
    # Documents whose only entry is e: Binomial(m_e, p_e) exactly.
    single = np.diff(m.indptr) == 1
    e_single = m.indices[m.indptr[:-1][single]]
    n_e = np.bincount(e_single, minlength=m.n_entries)
    k_e = np.bincount(e_single, weights=keep[single], minlength=m.n_entries)
    sd = np.sqrt(n_e * p_e * (1 - p_e))
    ok = n_e > 0
    assert (np.abs(k_e - n_e * p_e)[ok] <= 5 * sd[ok] + 1e-9).all()
    assert (k_e[p_e == 1] == n_e[p_e == 1]).all()  # tail entries keep everything
    # The explanation: the entry that kept a row is one of its entries and passed.
    assert (sel.n_matched >= 1).all()
    assert np.isfinite(sel.probability).all()
    assert sel.info["n_head"] == int((counts > t).sum())


def test_balance_is_identical_across_shardings_and_threads(sample_texts):
    texts = sample_texts[:900]
    entries = _entries_from(texts, 60, 10)
    ids = [f"d{i}" for i in range(len(texts))]
    full = EntryMatcher(entries).fit(pa.table({"text": texts, "id": ids}))
    want = full.balance(t=40, seed=3)
    assert 0 < len(want) < len(texts)
    counts = full.counts_
    for n_shards, threads in ((3, 1), (7, 4)):
        order = np.random.default_rng(n_shards).permutation(len(texts))
        kept = set()
        parts = np.array_split(order, n_shards)
        matcher = EntryMatcher(entries, n_threads=threads)
        shard_counts = sum(matcher.transform([texts[i] for i in p]).doc_counts() for p in parts)
        np.testing.assert_array_equal(shard_counts, counts)
        for p in parts:
            mm = matcher.transform([texts[i] for i in p])
            s = balance_matches(
                mm, counts, [ids[i] for i in p], t=40, seed=3, entries=entries, n_threads=threads
            )
            kept |= set(s.ids.to_pylist())
        assert kept == set(want.ids.to_pylist())
    other = full.balance(t=40, seed=4)
    assert set(other.ids.to_pylist()) != set(want.ids.to_pylist())


def test_balance_explains_and_keeps_unmatched():
    texts = ["a cat", "a dog", "nothing here", "cat and dog"]
    sel = balance(texts, ["cat", "dog"], t=100)
    assert sel.indices.tolist() == [0, 1, 3]
    assert sel.entry.tolist() == ["cat", "dog", "cat"]
    assert sel.probability.tolist() == [1.0, 1.0, 1.0]
    assert sel.n_matched.tolist() == [1, 1, 2]
    sel = balance(texts, ["cat", "dog"], t=100, keep_unmatched=True)
    assert sel.indices.tolist() == [0, 1, 2, 3]
    assert sel.entry[2] is None
    t = sel.to_arrow()
    assert t.column_names == ["index", "id", "probability", "entry", "n_matched"]


def test_balance_keys_draws_by_entry_text():
    keys = entry_keys(["cat", "dog"])
    assert keys.tolist() == [tamis.xxh3_64(b"cat"), tamis.xxh3_64(b"dog")]
    m, ids = _synthetic(2000, 20, 1)
    counts = m.doc_counts()
    names = [f"e{i}" for i in range(20)]
    a = balance_matches(m, counts, ids, t=30, seed=1, entries=names)
    # Reversing the entry list (and the matrix columns with it) keeps the same rows.
    rev = EntryMatches(m.indptr, (19 - m.indices).astype(np.uint32), m.data, 20)
    order = np.lexsort((rev.indices, np.repeat(np.arange(2000), np.diff(m.indptr))))
    rev = EntryMatches(m.indptr, rev.indices[order], rev.data[order], 20)
    b = balance_matches(rev, counts[::-1].copy(), ids, t=30, seed=1, entries=names[::-1])
    np.testing.assert_array_equal(a.indices, b.indices)


def test_balance_bad_arguments():
    m, ids = _synthetic(100, 5, 2)
    counts = m.doc_counts()
    with pytest.raises(ValueError, match="t must be a positive"):
        balance_matches(m, counts, ids, t=0)
    with pytest.raises(TypeError, match="t must be a number"):
        balance_matches(m, counts, ids, t="5")
    with pytest.raises(ValueError, match="one value per entry"):
        balance_matches(m, counts[:3], ids, t=5)
    with pytest.raises(ValueError, match="99 ids for 100"):
        balance_matches(m, counts, ids[:99], t=5)
    with pytest.raises(ValueError, match="whole corpus"):
        balance_matches(m, np.zeros(5, np.uint64), ids, t=5)
    with pytest.raises(ValueError, match="seed"):
        balance_matches(m, counts, ids, t=5, seed=-1)
    with pytest.raises(tamis.NotFittedError):
        EntryMatcher(["a"]).balance()


def _cap_oracle(groups, ids, cap, seed):
    gh = {g: tamis.xxh3_64(str(g).encode()) for g in set(groups)}
    idh = id_hashes(pa.array([str(i) for i in ids]))
    u = _core.keyed_uniforms(np.array([gh[g] for g in groups], np.uint64), idh, seed=seed)
    by = collections.defaultdict(list)
    for i, g in enumerate(groups):
        by[g].append((u[i], idh[i], i))
    keep = set()
    for rows in by.values():
        keep |= {i for _, _, i in sorted(rows)[:cap]}
    return sorted(keep)


def test_cap_per_group_equals_oracle_and_is_order_free():
    rng = np.random.default_rng(0)
    groups = rng.choice(["web", "code", "books", "wiki"], size=3000, p=[0.6, 0.25, 0.1, 0.05])
    ids = [f"r{i}" for i in range(3000)]
    sel = cap_per_group(groups, 200, ids=ids, seed=5)
    assert sel.indices.tolist() == _cap_oracle(groups.tolist(), ids, 200, 5)
    sizes = collections.Counter(groups.tolist())
    got = collections.Counter(sel.group.tolist())
    assert got == {g: min(200, s) for g, s in sizes.items()}
    assert sel.info["n_capped"] == sum(s > 200 for s in sizes.values())
    np.testing.assert_allclose(
        sel.probability, [min(1, 200 / sizes[g]) for g in sel.group.tolist()]
    )
    perm = rng.permutation(3000)
    again = cap_per_group(groups[perm], 200, ids=[ids[i] for i in perm], seed=5, n_threads=3)
    assert set(again.ids.to_pylist()) == set(sel.ids.to_pylist())


def test_cap_per_group_is_uniform_within_a_group():
    # 40 rows, cap 10: every row is kept with probability 1/4 over seeds.
    hits = np.zeros(40)
    for seed in range(800):
        hits[cap_per_group([1] * 40, 10, seed=seed).indices] += 1
    # Binomial(800, 0.25): sd 12.2.
    assert np.abs(hits - 200).max() < 5 * 12.25


def test_cap_per_group_nulls_and_errors():
    sel = cap_per_group(pa.array(["a", None, None, "a"]), 1)
    assert sorted(sel.group.tolist(), key=str) == [None, "a"]
    with pytest.raises(ValueError, match="cap"):
        cap_per_group(["a"], 0)
    with pytest.raises(ValueError, match="2 ids for 1"):
        cap_per_group(["a"], 1, ids=["x", "y"])
    with pytest.raises(TypeError, match="groups"):
        cap_per_group(3, 1)


def test_read_entries(tmp_path):
    p = tmp_path / "e.txt"
    p.write_bytes(b" cat \n\nnew york\r\n")
    assert read_entries(p) == ["cat", "new york"]
    p.write_bytes(b"cat\n\xff\n")
    with pytest.raises(tamis.InputError, match="line 2"):
        read_entries(p)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tamis", "balance", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_entries_and_groups(tmp_path, sample_texts):
    texts = sample_texts[:400]
    src = tmp_path / "in.parquet"
    pq.write_table(
        pa.table({"text": texts, "id": [f"d{i}" for i in range(400)], "dom": ["a", "b"] * 200}),
        src,
    )
    entries = tmp_path / "entries.txt"
    entries.write_text("the\nThe\nimport\nwhich\n")
    out, counts = tmp_path / "out.parquet", tmp_path / "counts.jsonl"
    r = _cli(
        src,
        "--entries",
        entries,
        "--t",
        30,
        "--seed",
        2,
        "-o",
        out,
        "--counts",
        counts,
        "--json",
        "-",
        "-q",
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["duplicate_entries_dropped"] == 1
    want = balance(pq.read_table(src), ["the", "import", "which"], t=30, seed=2)
    got = pq.read_table(out)
    assert got.column("id").to_pylist() == want.ids.to_pylist()
    assert got.column_names == ["text", "id", "dom"]
    low = tmp_path / "low.parquet"
    r = _cli(
        src,
        "--entries",
        entries,
        "--t",
        30,
        "--seed",
        2,
        "-o",
        low,
        "--low-memory",
        "--json",
        "-",
        "-q",
        "--batch-size",
        64,
    )
    assert r.returncode == 0, r.stderr
    assert {**json.loads(r.stdout), "seconds": 0} == {**summary, "seconds": 0}
    assert pq.read_table(low).equals(got)
    rows = [json.loads(line) for line in counts.read_text().splitlines()]
    assert [r["entry"] for r in rows] == ["the", "import", "which"]
    r = _cli(src, "--by", "dom", "--cap", 7, "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    got = pq.read_table(out)
    assert collections.Counter(got.column("dom").to_pylist()) == {"a": 7, "b": 7}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "exactly one of --entries"),
        (["--by", "dom"], "--by needs --cap"),
        (["--by", "nope", "--cap", "3"], "nope"),
        (["--entries", "missing.txt"], "no such file"),
        (["--by", "dom", "--cap", "0"], "--cap must be >= 1"),
        (["--entries", "ENTRIES", "--t", "-1"], "--t must be a positive"),
        (["--entries", "ENTRIES", "--seed", "-3"], "seed"),
        (["--entries", "ENTRIES", "--cap", "3"], "--cap goes with --by"),
    ],
)
def test_cli_errors_before_reading(tmp_path, extra, message):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["a cat"], "dom": ["x"]}), src)
    entries = tmp_path / "e.txt"
    entries.write_text("cat\n")
    extra = [str(entries) if e == "ENTRIES" else e for e in extra]
    out = tmp_path / "out.parquet"
    r = _cli(src, *extra, "-o", out)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert not out.exists()


def test_cli_never_overwrites_its_inputs(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a cat", "id": "x"}\n')
    entries = tmp_path / "e.txt"
    entries.write_text("cat\n")
    before = (src.read_bytes(), entries.read_bytes())
    assert _cli(src, "--entries", entries, "-o", src, "-q").returncode != 0
    r = _cli(src, "--entries", entries, "-o", tmp_path / "o.jsonl", "--counts", entries, "-q")
    assert r.returncode != 0
    assert "--entries file" in r.stderr
    assert (src.read_bytes(), entries.read_bytes()) == before
    r = _cli(src, "--entries", entries, "-o", "-", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["id"] == "x"


def test_matcher_pickles_and_has_a_short_repr():
    import pickle

    m = EntryMatcher([f"e{i}" for i in range(1000)], word_boundary=False)
    assert repr(m) == "EntryMatcher(<1000 entries>, word_boundary=False)"
    m.fit(["e1 e22", "x"])
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m2.counts_, m.counts_)
    assert m2.transform(["e999"]).row(0) == {999: 1, 99: 1, 9: 1}


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(st.text("abAB .İßΣσ_1", min_size=1, max_size=4), min_size=1, max_size=6),
    texts=st.lists(st.text("abAB .İßΣσ_1\n", max_size=30), max_size=5),
    word_boundary=st.booleans(),
    lowercase=st.booleans(),
)
def test_matching_equals_brute_force_on_random_text(entries, texts, word_boundary, lowercase):
    norm = (lambda s: s.lower()) if lowercase else (lambda s: s)
    entries = list({norm(e): e for e in entries}.values())  # distinct after normalisation
    m = EntryMatcher(entries, lowercase=lowercase, word_boundary=word_boundary)
    got = m.transform(texts)
    for i, text in enumerate(texts):
        t = norm(text)
        want = {}
        for j, e in enumerate(entries):
            e = norm(e)
            c = sum(
                1
                for s in range(len(t) - len(e) + 1)
                if t.startswith(e, s)
                and not (
                    word_boundary
                    and (
                        (s > 0 and WORD.match(t[s - 1]))
                        or (s + len(e) < len(t) and WORD.match(t[s + len(e)]))
                    )
                )
            )
            if c:
                want[j] = c
        assert got.row(i) == want
