"""Decontamination bench: scan speed vs datatrove's filter, index cost, recall and precision.

One run, side by side on one core each: tamis's scan (default mode, n = 13) and datatrove
0.10.1's ``NGramsDecontFilter`` (n = 12, spaCy tokens) over the same documents of the shared
corpus; index build time and bytes per n-gram (eval items from the held-out documentation of
data/sample, and a synthetic 10M-n-gram index); recall on the injected contamination of
``tamis.decontam.inject`` (five disguises); documents flagged on the clean corpus, each checked
by the brute-force oracle of tests/test_decontam.py.

    python benches/decontam.py            # writes bench-results/decontam.json
    python benches/decontam.py --quick    # smoke test, bench-results/tmp/
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import DEFAULT_CORPUS, REPO, RESULTS, add_corpus_arg, add_quick_arg
from tamis.decontam import (
    MODES,
    DecontaminationIndex,
    Decontaminator,
    inject,
)


def eval_items() -> list[str]:
    with gzip.open(REPO / "data/sample/target.jsonl.gz", "rt") as f:
        rows = [json.loads(x) for x in f]
    out = []
    for row in rows:
        for para in row["text"].split("\n\n"):
            words = para.split()
            half = " ".join(words[: (len(words) + 1) // 2])
            if 30 <= len(words) <= 120 and len(re.findall(r"\w+", half)) >= 13:
                out.append(para)
    return out


def datatrove_filter(items: list[str], docs: list[str], tmp: Path) -> tuple[float, int]:
    import xxhash
    from datatrove.data import Document
    from datatrove.pipeline.decont.n_grams import NGramsDecontFilter, NGramsDecontIndexer
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    def xxh64(s: str) -> int:  # datatrove 0.10.1 passes str, which xxhash >= 3.6 refuses
        return xxhash.xxh64_intdigest(s.encode())

    from types import SimpleNamespace

    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig

    cfg = NGramsDecontConfig()
    fake = SimpleNamespace(config=cfg, tokenizer=load_word_tokenizer("en"), hash_func=xxh64)
    hashes: set[int] = set()
    for it in items:
        hashes.update(NGramsDecontIndexer.compute_hashes(fake, it, None))
    np.array(sorted(hashes), dtype="<u8").tofile(tmp / "bench.index.hashes")
    f = NGramsDecontFilter(str(tmp), config=cfg)
    f.hash_func = xxh64
    f.filter(Document(text="warm up", id="0"))
    t0 = time.perf_counter()
    dropped = sum(f.filter(Document(text=t, id=str(i))) is not True for i, t in enumerate(docs))
    return time.perf_counter() - t0, dropped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arg(ap)
    add_quick_arg(ap)
    args = ap.parse_args()
    corpus = Path(args.corpus or DEFAULT_CORPUS)
    texts = pq.read_table(corpus, columns=["text"]).column("text").to_pylist()
    items = eval_items()
    out: dict = {"corpus": str(corpus.name), "documents": len(texts), "eval_items": len(items)}

    t0 = time.perf_counter()
    idx = DecontaminationIndex.build({"pydocs": items}, ngram=13, n_threads=1)
    out["index"] = {
        "build_seconds": round(time.perf_counter() - t0, 3),
        "n_ngrams": idx.n_ngrams,
        "bytes_per_ngram": round(idx.nbytes / idx.n_ngrams, 2),
    }
    big_items = 200 if args.quick else 20_000
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(50_000)]
    synth = [" ".join(rng.choices(vocab, k=512)) for _ in range(big_items)]
    t0 = time.perf_counter()
    big = DecontaminationIndex.build({"synthetic": synth}, ngram=13, n_threads=1)
    out["index_10M"] = {
        "n_ngrams": big.n_ngrams,
        "build_seconds_1_thread": round(time.perf_counter() - t0, 3),
        "megabytes": round(big.nbytes / 1e6, 1),
        "bytes_per_ngram": round(big.nbytes / big.n_ngrams, 2),
    }
    del big, synth

    # Clean corpus: every flagged document is a real copy (checked by the oracle of the tests).
    d = Decontaminator(n_threads=1).set_index(idx)
    scan_docs = texts[:2000] if args.quick else texts
    t0 = time.perf_counter()
    res, flag = d.scan(scan_docs)
    secs = time.perf_counter() - t0
    mb = sum(len(t.encode()) for t in scan_docs) / 1e6
    from tests.test_decontam import oracle_scan

    hits = np.flatnonzero(flag)
    want = oracle_scan(items, [scan_docs[i] for i in hits], 13, 8)
    confirmed = sum(1 for i, (w, _, _) in zip(hits, want) if w and res.windows(int(i)) == w)
    out["clean"] = {
        "documents": len(scan_docs),
        "megabytes": round(mb, 1),
        "flagged": len(hits),
        "flagged_confirmed_by_oracle": confirmed,
        "false_positives": len(hits) - confirmed,
        "tamis_mb_per_s_1_thread": round(mb / secs, 1),
    }

    # Side by side on the same documents, one core each.
    n_dt = 300 if args.quick else 600
    sub = [t for t, f in zip(scan_docs, flag) if not f][:n_dt]
    sub_mb = sum(len(t.encode()) for t in sub) / 1e6
    t0 = time.perf_counter()
    d.scan(sub)
    t_tamis = time.perf_counter() - t0
    tmp = RESULTS / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    t_dt, dt_dropped = datatrove_filter(items, sub, tmp)
    out["speed"] = {
        "documents": len(sub),
        "megabytes": round(sub_mb, 2),
        "tamis_mb_per_s": round(sub_mb / t_tamis, 2),
        "datatrove_mb_per_s": round(sub_mb / t_dt, 3),
        "ratio": round(t_dt / t_tamis, 1),
        "datatrove_dropped": dt_dropped,
    }

    # Recall on injected contamination.
    clean = [t for t, f in zip(scan_docs, flag) if not f]
    recall = {}
    for mode in MODES:
        docs = inject(clean, items, mode, seed=1, long_chars=100_000)
        r, fl = d.scan(docs)
        found = sum(1 for i in range(len(docs)) if fl[i] and str(i) in [x[1] for x in r.items(i)])
        recall[mode] = round(found / len(docs), 4)
    out["recall_n13"] = recall
    dest = (RESULTS / "tmp" if args.quick else RESULTS) / "decontam.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
