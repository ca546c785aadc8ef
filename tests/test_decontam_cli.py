"""``tamis decontaminate``: local and Ray backends, actions, report; datatrove decision equality."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tamis.decontam import DatatroveDecontaminator, EvalSet, inject

ITEMS = [
    "Which planet in the solar system has the longest day, longer even than its own year "
    "around the sun, and why does it rotate backwards compared with almost every other planet "
    "that astronomers have observed so far?",
    "The mitochondria is the organelle that produces most of the chemical energy needed to "
    "power the cell's biochemical reactions, storing it in molecules of adenosine triphosphate "
    "that the rest of the cell can use when needed.",
]


@pytest.fixture
def files(tmp_path: Path, sample_texts: list[str]) -> SimpleNamespace:
    clean = sample_texts[:40]
    dirty = inject(sample_texts[40:], ITEMS, "rewrap8") + inject(sample_texts[50:], ITEMS, "half")
    texts = clean + dirty
    corpus = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts}), corpus)
    ev = tmp_path / "ev.jsonl"
    ev.write_text(
        "\n".join(json.dumps({"qid": f"q{i}", "question": t}) for i, t in enumerate(ITEMS))
    )
    return SimpleNamespace(corpus=corpus, ev=ev, n=len(texts), tmp=tmp_path)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tamis", "decontaminate", *args, "-q"],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_cli_actions_and_report(files, backend):
    if backend == "ray":
        pytest.importorskip("ray")
    common = [str(files.corpus), "--eval", f"quiz={files.ev}", "--eval-id-column", "quiz=qid"]
    common += ["--backend", backend, "--n-threads", "2"]
    out = files.tmp / f"flag-{backend}.parquet"
    rep = files.tmp / f"rep-{backend}.json"
    r = cli(*common, "-o", str(out), "--report", str(rep))
    assert r.returncode == 0, r.stderr
    t = pq.read_table(out)
    assert t.num_rows == files.n
    assert t.column("contaminated").to_pylist() == [False] * 40 + [True] * 4
    assert t.column("eval_items").to_pylist()[40] == ["quiz/q0"]
    report = json.loads(rep.read_text())["eval_sets"]["quiz"]
    assert report["items_found"] == 2
    assert report["documents_hit"] == 4
    assert report["most_contaminated_items"][0]["document_ids"][0] in {"d40", "d41", "d42", "d43"}
    if backend == "ray":  # Ray starts in ~40 s per command: the actions run locally only
        return
    drop = files.tmp / f"drop-{backend}.parquet"
    assert cli(*common, "-o", str(drop), "--action", "drop").returncode == 0
    assert pq.read_table(drop).column("id").to_pylist() == [f"d{i}" for i in range(40)]
    cut = files.tmp / f"cut-{backend}.jsonl"
    r = cli(*common, "-o", str(cut), "--action", "cut", "--margin", "0")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in cut.read_text().splitlines()]
    assert all("mitochondria" not in x["text"] for x in rows)
    assert {x["fragment"] for x in rows} >= {-1, 0}


def test_cli_errors(files):
    r = cli(str(files.corpus), "-o", str(files.tmp / "o.parquet"))
    assert r.returncode != 0
    assert "--eval" in r.stderr
    r = cli(str(files.corpus), "--eval", "nope", "-o", str(files.tmp / "o.parquet"))
    assert "NAME=VALUE" in r.stderr
    r = cli(str(files.corpus), "--eval", f"q={files.ev}", "--ngram", "5", "-o", "x.parquet")
    assert "ngram" in r.stderr


# --- datatrove: the same decisions as NGramsDecontIndexer + NGramsDecontFilter --------------------


def datatrove_decisions(labels, queries, docs, tmp_path, **config):
    pytest.importorskip("datatrove")
    pytest.importorskip("spacy")
    import xxhash
    from datatrove.data import Document
    from datatrove.pipeline.decont.n_grams import (
        NGramsDecontConfig,
        NGramsDecontFilter,
        NGramsDecontIndexer,
    )
    from datatrove.utils.hashing import create_hash_func
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    cfg = NGramsDecontConfig(**config)
    assert create_hash_func(cfg.hash_config).__name__ == "xxhash64"

    def xxh64(s: str) -> int:
        # datatrove 0.10.1 passes str to xxhash.xxh64_intdigest, which xxhash >= 3.6 refuses;
        # older xxhash hashed the UTF-8 bytes, which this does.
        return xxhash.xxh64_intdigest(s.encode())

    # The indexer's constructor needs lighteval; its hashing method needs only these three.
    fake = SimpleNamespace(config=cfg, tokenizer=load_word_tokenizer("en"), hash_func=xxh64)
    hashes = set()
    for lab, q in zip(labels, queries):
        hashes.update(NGramsDecontIndexer.compute_hashes(fake, lab, q))
    np.array(sorted(hashes), dtype="<u8").tofile(tmp_path / "task.index.hashes")
    f = NGramsDecontFilter(str(tmp_path), config=cfg)
    f.hash_func = xxh64
    return [f.filter(Document(text=t, id=str(i))) is True for i, t in enumerate(docs)]


@pytest.mark.parametrize("config", [{}, {"find_query_ngrams": True, "find_overlap_ngrams": False}])
def test_datatrove_mode_equals_datatrove(sample_texts, tmp_path, config):
    queries = [t[:300] for t in sample_texts[3000:3030]]
    labels = [t[300:700] for t in sample_texts[3000:3030]]
    # Contamination: labels, queries and their junction, disguised, inside clean documents.
    pieces = [q[-80:] + " " + lab[:80] for q, lab in zip(queries, labels)] + labels[::2]
    docs = sample_texts[:60] + inject(sample_texts[150:], pieces, "case_punct", seed=3)
    docs += inject(sample_texts[200:], queries[::3], "rewrap8", seed=4)
    want = datatrove_decisions(labels, queries, docs, tmp_path, **config)
    d = DatatroveDecontaminator(**config, n_threads=2)
    d.fit([EvalSet("task", labels, [str(i) for i in range(len(labels))], queries)])
    keep, ngrams, _tasks = d.filter(docs)
    assert keep.tolist() == want
    assert 0 < sum(not k for k in want) < len(docs)
    assert all((n is None) == k for n, k in zip(ngrams, keep))


def test_dsir_exclude_eval(files):
    out = files.tmp / "dsir.parquet"
    summary = files.tmp / "dsir.json"
    r = subprocess.run(
        [sys.executable, "-m", "tamis", "dsir", "--target", str(files.corpus), "--raw",
         str(files.corpus), "-k", "20", "-o", str(out), "--json", str(summary), "-q",
         "--exclude-eval", f"quiz={files.ev}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    ids = pq.read_table(out).column("id").to_pylist()
    assert len(ids) == 20
    assert not {"d40", "d41", "d42", "d43"} & set(ids)
    assert json.loads(summary.read_text())["excluded_contaminated"] == 4


def test_filter_exclude_eval(files):
    out = files.tmp / "filtered.parquet"
    r = subprocess.run(
        [sys.executable, "-m", "tamis", "filter", str(files.corpus), "--rules", "none",
         "--exclude-eval", f"quiz={files.ev}", "-o", str(out), "-q"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert pq.read_table(out).column("id").to_pylist() == [f"d{i}" for i in range(40)]
