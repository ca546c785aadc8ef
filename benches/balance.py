#!/usr/bin/env python3
"""MetaCLIP entry matching: tamis side by side with pyahocorasick, in one run.

Entries are MetaCLIP-like: the most frequent words (3+ letters) and word bigrams of a sample of
the corpus (``--n-entries``, default 5,000), matched case-insensitively at word boundaries, as
``tamis balance --entries`` does. Two measurements on the shared corpus (``--corpus``, default
data/corpus/pool.parquet, built by ``make corpus``):

1. agreement on the whole corpus: documents per entry, occurrences per entry and occurrences per
   document, tamis (``EntryMatcher``) against pyahocorasick (``str.lower()``, then every match
   filtered by the same word-boundary rule in Python); the result must be identical;
2. throughput (MB of text per second) on the first ``--time-docs`` documents: tamis with 1 thread
   and with all threads, pyahocorasick iterating its matches (lowercasing included), and
   pyahocorasick with the boundary check and per-document counts (what tamis returns).

Usage: python benches/balance.py [--corpus PATH] [--n-entries 5000] [--time-docs 10000] [--quick]
Writes bench-results/balance.json (bench-results/tmp/balance.json with --quick). MB = 1e6 bytes of
UTF-8 text. The machines are small and shared: compare the ratios.
"""

from __future__ import annotations

import argparse
import collections
import importlib.metadata
import json
import os
import platform
import re
import sys
import time

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

import tamis
from _common import add_corpus_arg, add_quick_arg, corpus_path, need, out_path
from tamis.balance import EntryMatcher

WORD = re.compile(r"\w")


def make_entries(texts: list[str], n: int) -> list[str]:
    words = collections.Counter(w for t in texts for w in re.findall(r"[^\W\d_]{3,}", t.lower()))
    bigrams = collections.Counter(
        f"{a} {b}"
        for t in texts
        for a, b in zip(*(lambda w: (w, w[1:]))(re.findall(r"[^\W\d_]{3,}", t.lower())))
    )
    n_bi = n // 5
    out = [w for w, _ in words.most_common(n - n_bi)] + [b for b, _ in bigrams.most_common(n_bi)]
    return list(dict.fromkeys(out))


def automaton(entries: list[str]):
    import ahocorasick

    a = ahocorasick.Automaton()
    for i, e in enumerate(entries):
        a.add_word(e.lower(), (i, len(e)))
    a.make_automaton()
    return a


def aho_rows(a, texts: list[str]) -> list[collections.Counter]:
    """Occurrences per entry of each document, with the word-boundary rule of tamis."""
    rows = []
    for t in texts:
        t = t.lower()
        n = len(t)
        row: collections.Counter = collections.Counter()
        for end, (i, k) in a.iter(t):
            s, e = end - k + 1, end + 1
            if (s > 0 and WORD.match(t[s - 1])) or (e < n and WORD.match(t[e])):
                continue
            row[i] += 1
        rows.append(row)
    return rows


def aho_iterate(a, texts: list[str]) -> int:
    """Matches found by iterating the automaton (no boundary check, no counting)."""
    total = 0
    for t in texts:
        for _ in a.iter(t.lower()):
            total += 1
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arg(ap)
    add_quick_arg(ap)
    ap.add_argument("--n-entries", type=int, default=5000)
    ap.add_argument("--time-docs", type=int, default=10_000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    need("balance", "ahocorasick", "pip install pyahocorasick", args.quick)
    table = pq.read_table(corpus_path(args.corpus, "balance"), columns=["text"])
    if args.quick:
        table = table.slice(0, 3000)
        args.time_docs = min(args.time_docs, 1000)
        args.n_entries = min(args.n_entries, 1000)
    texts = table.column("text").to_pylist()
    n_bytes = int(pc.sum(pc.binary_length(table.column("text"))).as_py())
    entries = make_entries(texts[: min(len(texts), 3000)], args.n_entries)
    print(
        f"{len(texts)} documents, {n_bytes / 1e6:.1f} MB, {len(entries)} entries", file=sys.stderr
    )

    # 1. Agreement on the whole corpus.
    m = EntryMatcher(entries)
    t0 = time.perf_counter()
    got = m.transform(table.column("text"))
    t_tamis_all = time.perf_counter() - t0
    a = automaton(entries)
    t0 = time.perf_counter()
    rows = aho_rows(a, texts)
    t_aho_all = time.perf_counter() - t0
    doc_counts = np.zeros(len(entries), np.int64)
    occ = np.zeros(len(entries), np.int64)
    per_doc = np.zeros(len(texts), np.int64)
    for d, row in enumerate(rows):
        if row:
            keys = np.fromiter(row.keys(), np.int64, len(row))
            vals = np.fromiter(row.values(), np.int64, len(row))
            doc_counts[keys] += 1
            occ[keys] += vals
            per_doc[d] = vals.sum()
    t_occ = np.bincount(got.indices, weights=got.data, minlength=len(entries)).astype(np.int64)
    t_doc = np.add.reduceat(np.append(got.data.astype(np.int64), 0), got.indptr[:-1])
    t_doc[np.diff(got.indptr) == 0] = 0
    agree = {
        "doc_counts_equal": bool((got.doc_counts().astype(np.int64) == doc_counts).all()),
        "occurrences_per_entry_equal": bool((t_occ == occ).all()),
        "occurrences_per_document_equal": bool((t_doc == per_doc).all()),
        "entries_differing": int((got.doc_counts().astype(np.int64) != doc_counts).sum()),
        "documents_differing": int((t_doc != per_doc).sum()),
        "total_occurrences": int(occ.sum()),
        "documents_matched": int((per_doc > 0).sum()),
        "seconds_tamis_all_threads": round(t_tamis_all, 3),
        "seconds_pyahocorasick_with_counts": round(t_aho_all, 3),
    }
    print(json.dumps(agree, indent=2), file=sys.stderr)

    # 2. Throughput side by side on the first --time-docs documents.
    sub = table.slice(0, args.time_docs).column("text")
    sub_texts = texts[: args.time_docs]
    sub_mb = int(pc.sum(pc.binary_length(sub)).as_py()) / 1e6

    def best(f, repeat=3):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        return min(times)

    one = EntryMatcher(entries, n_threads=1)
    runs = {
        "tamis, 1 thread": best(lambda: one.transform(sub)),
        f"tamis, {os.cpu_count()} threads": best(lambda: m.transform(sub)),
        "pyahocorasick, iterate matches": best(lambda: aho_iterate(a, sub_texts), 2),
        "pyahocorasick, boundary + counts": best(lambda: aho_rows(a, sub_texts), 2),
    }
    base = runs["tamis, 1 thread"]
    throughput = {
        k: {
            "seconds": round(v, 4),
            "mb_per_s": round(sub_mb / v, 2),
            "vs_tamis_1t": round(v / base, 2),
        }
        for k, v in runs.items()
    }
    for k, v in throughput.items():
        print(
            f"{k:40s} {v['mb_per_s']:8.2f} MB/s  ({v['vs_tamis_1t']}x tamis 1 thread)",
            file=sys.stderr,
        )
    result = {
        "corpus": {"documents": len(texts), "mb": round(n_bytes / 1e6, 1)},
        "entries": {
            "n": len(entries),
            "kind": "top words (3+ letters) and bigrams of 3,000 documents",
        },
        "options": {"lowercase": True, "word_boundary": True},
        "agreement_with_pyahocorasick": agree,
        "throughput": {"documents": args.time_docs, "mb": round(sub_mb, 2), "runs": throughput},
        "automaton_bytes": m._matcher.memory_usage,
        "versions": {
            "tamis": tamis.__version__,
            "pyahocorasick": importlib.metadata.version("pyahocorasick"),
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    out = out_path(args.out, "balance.json", args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out}", file=sys.stderr)
    return 0 if agree["doc_counts_equal"] and agree["occurrences_per_document_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
