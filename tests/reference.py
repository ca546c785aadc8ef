"""Brute-force Python references the Rust core is checked against."""

from __future__ import annotations

import re
from collections import Counter

import xxhash

WORDPUNCT = re.compile(r"\w+|[^\w\s]+")


def tokens(text: str, lowercase: bool = True) -> list[str]:
    return WORDPUNCT.findall(text.lower() if lowercase else text)


def bucket(h: int, n_buckets: int) -> int:
    return (h * n_buckets) >> 64


def word_ngram_counts(
    text: str, n_buckets: int, ngram_range: tuple[int, int], seed: int = 0, lowercase: bool = True
) -> Counter:
    toks = tokens(text, lowercase)
    out: Counter = Counter()
    lo, hi = ngram_range
    for n in range(lo, hi + 1):
        for i in range(len(toks) - n + 1):
            gram = " ".join(toks[i : i + n]).encode("utf-8")
            out[bucket(xxhash.xxh3_64_intdigest(gram, seed), n_buckets)] += 1
    return out


def char_ngram_counts(
    text: str, n_buckets: int, ngram_range: tuple[int, int], seed: int = 0
) -> Counter:
    text = text.lower()
    out: Counter = Counter()
    lo, hi = ngram_range
    for n in range(lo, hi + 1):
        for i in range(len(text) - n + 1):
            out[
                bucket(xxhash.xxh3_64_intdigest(text[i : i + n].encode("utf-8"), seed), n_buckets)
            ] += 1
    return out
