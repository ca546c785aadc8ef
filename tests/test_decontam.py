"""Decontamination: the index and scan against a brute-force oracle, injected recall, actions."""

from __future__ import annotations

import gzip
import json
import random
import re
import unicodedata

import numpy as np
import pyarrow as pa
import pytest
from tests.conftest import SAMPLE

from tamis.decontam import (
    MODES,
    DecontaminationIndex,
    Decontaminator,
    EvalSet,
    cut_text,
    inject,
    load_eval_set,
)

# --- the oracle -----------------------------------------------------------------------------------


def oracle_tokens(text: str) -> list[tuple[int, int, str]]:
    """The documented normalisation: ``\\w+`` runs, NFKC, lowercase, ß → ss, ς → σ."""
    return [
        (
            m.start(),
            m.end(),
            unicodedata.normalize("NFKC", m.group()).lower().replace("ß", "ss").replace("ς", "σ"),
        )
        for m in re.finditer(r"\w+", text)
    ]


def oracle_scan(items: list[str], docs: list[str], n: int, min_tokens: int):
    grams: dict[tuple[str, ...], set[int]] = {}
    short: dict[tuple[str, ...], set[int]] = {}
    for i, it in enumerate(items):
        toks = [t for _, _, t in oracle_tokens(it)]
        if len(toks) >= n:
            for s in range(len(toks) - n + 1):
                grams.setdefault(tuple(toks[s : s + n]), set()).add(i)
        elif len(toks) >= min_tokens:
            short.setdefault(tuple(toks), set()).add(i)
    lengths = sorted({len(k) for k in short})
    out = []
    for d in docs:
        toks = oracle_tokens(d)
        words = [t for _, _, t in toks]
        wins = []
        for k, table in [(n, grams)] + [(k, short) for k in lengths]:
            for s in range(len(words) - k + 1):
                owners = table.get(tuple(words[s : s + k]))
                if owners:
                    wins.append((s, k, owners))
        wins.sort(key=lambda w: (w[0], w[1]))
        spans: list[list[int]] = []
        for s, k, _ in wins:
            a, b = toks[s][0], toks[s + k - 1][1]
            if spans and a <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], b)
            else:
                spans.append([a, b])
        counts: dict[int, int] = {}
        for _, _, owners in wins:
            for o in owners:
                counts[o] = counts.get(o, 0) + 1
        out.append(
            (
                [(s, k) for s, k, _ in wins],
                [tuple(x) for x in spans],
                sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])),
            )
        )
    return out


WORDS = [
    "alpha",
    "Straße",
    "ΟΔΟΣ",
    "Beta",
    "gamma",
    "délta",
    "ÉPSILON",
    "zeta",
    "eta",
    "theta",
    "ＩＯＴＡ",
    "kappa",
]
SEPS = [" ", "  ", "\n", ", ", "; ", " -- ", "\t", "!\n", " (", ") ", "’", "."]


def random_text(rng: random.Random, n_words: int) -> str:
    return "".join(rng.choice(WORDS) + rng.choice(SEPS) for _ in range(n_words))


@pytest.mark.parametrize("seed", range(25))
def test_scan_equals_the_brute_force_oracle(seed):
    rng = random.Random(seed)
    n = rng.choice([8, 9, 13])
    min_tokens = rng.randint(3, n)
    items = [random_text(rng, rng.randint(2, 30)) for _ in range(rng.randint(1, 6))]
    docs = []
    for _ in range(12):
        parts = [random_text(rng, rng.randint(0, 20))]
        if rng.random() < 0.6:
            it = oracle_tokens(rng.choice(items))
            a = rng.randint(0, max(0, len(it) - 1))
            parts.append(" ".join(t for _, _, t in it[a:]).upper())
        parts.append(random_text(rng, rng.randint(0, 20)))
        docs.append(" ".join(parts))
    sets = [EvalSet("s", items, [f"i{i}" for i in range(len(items))])]
    idx = DecontaminationIndex.build(sets, ngram=n, min_tokens=min_tokens, n_threads=2)
    res = idx.scan(docs, max_items=100)
    want = oracle_scan(items, docs, n, min_tokens)
    for i, (wins, spans, counts) in enumerate(want):
        assert res.windows(i) == wins, (seed, i)
        assert res.spans(i) == spans, (seed, i)
        got = [(int(it[1][1:]), it[2]) for it in res.items(i)]
        assert got == counts, (seed, i)


def test_spans_are_character_offsets():
    item = "Über die Straße gehen wir heute Abend ganz langsam nach Hause zurück ja"
    idx = DecontaminationIndex.build({"de": [item]}, ngram=8)
    doc = "ÄÖÜ ß » " + item.upper() + " « fin"
    ((a, b),) = idx.scan([doc]).spans(0)
    assert doc[a:b] == item.upper()


# --- eval sets, persistence -----------------------------------------------------------------------


def test_eval_sets_from_files_datasets_and_memory(tmp_path):
    rows = [
        {"qid": "a", "question": "What is one plus one?", "choices": ["1", "2"], "answer": "2"},
        {"qid": "b", "question": "Name a colour.", "choices": ["red"], "answer": None},
    ]
    p = tmp_path / "ev.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows))
    s = load_eval_set("qa", p, fields=["question", "choices"], id_column="qid")
    assert s.ids == ["a", "b"]
    assert s.texts[0] == "What is one plus one?\n1\n2"
    pq = tmp_path / "ev.parquet"
    import pyarrow.parquet as ppq

    ppq.write_table(pa.Table.from_pylist(rows), pq)
    assert load_eval_set("qa", pq, fields=["question", "choices"], id_column="qid") == s
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(rows)
    assert load_eval_set("qa", ds, fields=["question", "choices"], id_column="qid") == s
    ds.save_to_disk(str(tmp_path / "saved"))
    assert (
        load_eval_set("qa", tmp_path / "saved", fields=["question", "choices"], id_column="qid")
        == s
    )
    every = load_eval_set("qa", rows, id_column="qid")  # all text columns
    assert every.texts[1] == "Name a colour.\nred"
    with pytest.raises(ValueError, match="no field 'nope'"):
        load_eval_set("qa", p, fields=["nope"])
    with pytest.raises(ValueError, match="no id column"):
        load_eval_set("qa", p, id_column="nope")


def test_save_load_roundtrip_without_pickle(tmp_path):
    items = [random_text(random.Random(i), 30) for i in range(20)]
    idx = DecontaminationIndex.build({"a": items[:10], "b": items[10:] + items[:2]}, ngram=8)
    path = idx.save(tmp_path / "idx.npz")
    z = np.load(path, allow_pickle=False)
    assert "keys" in z.files
    back = DecontaminationIndex.load(path)
    docs = items[::3]
    r1, r2 = idx.scan(docs), back.scan(docs)
    for k, v in r1.arrays.items():
        np.testing.assert_array_equal(v, r2.arrays[k])
    assert back.set_names == ["a", "b"]
    assert back.n_ngrams == idx.n_ngrams
    assert r1.sets(0) == ["a", "b"]
    # A corrupted file is an error, not a wrong answer.
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["keys"] = arrays["keys"][::-1].copy()
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="strictly increasing"):
        DecontaminationIndex.load(tmp_path / "bad.npz")


def test_bad_parameters():
    with pytest.raises(ValueError, match="ngram"):
        DecontaminationIndex.build({"a": ["x"]}, ngram=7)
    with pytest.raises(ValueError, match="min_tokens"):
        DecontaminationIndex.build({"a": ["x"]}, ngram=13, min_tokens=14)
    with pytest.raises(ValueError, match="action"):
        Decontaminator(action="burn").fit({"a": ["x"]})
    with pytest.raises(ValueError, match="distinct"):
        Decontaminator().fit([EvalSet("a", ["x"], ["1"]), EvalSet("a", ["y"], ["2"])])


def test_bytes_per_ngram():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(5000)]
    items = [" ".join(rng.choice(vocab) for _ in range(200)) for _ in range(500)]
    idx = DecontaminationIndex.build({"a": items}, ngram=13)
    assert idx.n_ngrams == 500 * 188
    assert idx.nbytes / idx.n_ngrams < 14  # 10M n-grams within 140 MB


# --- recall on injected contamination, zero on the clean sample -----------------------------------


def read_jsonl(name: str) -> list[dict]:
    with gzip.open(SAMPLE / name, "rt") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def eval_items() -> list[str]:
    """Paragraphs of held-out documentation, 30–120 words, whose first half has >= 13 tokens."""
    out = []
    for row in read_jsonl("target.jsonl.gz"):
        for para in row["text"].split("\n\n"):
            words = para.split()
            half = " ".join(words[: (len(words) + 1) // 2])
            if 30 <= len(words) <= 120 and len(re.findall(r"\w+", half)) >= 13:
                out.append(para)
    return out[:400]


def test_recall_on_injected_contamination_and_no_false_positive(eval_items, sample_texts):
    d = Decontaminator(action="drop", n_threads=2).fit({"docs": eval_items})
    res, flag = d.scan(sample_texts)
    # CPython's code quotes its documentation (docstrings re-wrapped from the .rst sources): the
    # few documents flagged are real copies, each confirmed by the oracle; no false positive.
    hits = np.flatnonzero(flag)
    assert len(hits) <= 20
    want = oracle_scan(eval_items, [sample_texts[i] for i in hits], 13, 8)
    for i, (wins, spans, _) in zip(hits, want):
        assert wins
        assert res.windows(int(i)) == wins
        assert res.spans(int(i)) == spans
    clean_texts = [t for i, t in enumerate(sample_texts) if not flag[i]]
    for mode in MODES:
        docs = inject(clean_texts, eval_items, mode, seed=1, long_chars=20_000)
        res, flag = d.scan(docs)
        assert flag.all(), mode
        for i in range(0, len(docs), 7):
            assert str(i) in [it[1] for it in res.items(i)], mode


# --- actions and the report -----------------------------------------------------------------------


def test_cut_follows_gpt3():
    text = "a" * 300 + " BAD " + "b" * 300
    bad = (300, 305)
    assert cut_text(text, [bad], margin=200, min_fragment_chars=200) == []
    frags = cut_text(text, [bad], margin=10, min_fragment_chars=200)
    assert frags == ["a" * 290, "b" * 290]
    many = "x" * 50 + "".join(f" BAD{i} " + "y" * 50 for i in range(12))
    spans = [(m.start(), m.end()) for m in re.finditer(r"BAD\d+", many)]
    assert cut_text(many, spans, margin=0, min_fragment_chars=1, max_fragments=10) is None


def test_decontaminator_actions_and_report(eval_items, sample_texts):
    d = Decontaminator().fit({"docs": eval_items})
    clean = [t for t, f in zip(sample_texts[:200], d.scan(sample_texts[:200])[1]) if not f]
    docs = clean[:50] + inject(clean[50:], eval_items[:5], "verbatim")
    ids = [f"doc{i}" for i in range(len(docs))]
    flag = Decontaminator(action="flag").fit({"docs": eval_items}).select(docs, ids)
    assert len(flag) == 55
    assert flag.rows["contaminated"].sum() == 5
    drop = Decontaminator(action="drop").fit({"docs": eval_items}).select(docs, ids)
    assert drop.indices.tolist() == list(range(50))
    rep = drop.info["report"]["eval_sets"]["docs"]
    assert rep["items_found"] == 5
    assert rep["documents_hit"] == 5
    top = rep["most_contaminated_items"][0]
    assert f"doc{50 + int(top['id'])}" in top["document_ids"]
    cut = Decontaminator(action="cut", margin=0, min_fragment_chars=1)
    sel = cut.fit({"docs": eval_items}).select(docs, ids)
    assert len(sel) == 55
