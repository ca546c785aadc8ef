"""The selectors of benches/proxy_training.py: each picks ``k`` raw documents for a target sample.

Every method is a public tamis API at its defaults, fitted by this module on the split it is
given (nothing pre-trained). Methods on embeddings share one set of *hashed LSA embeddings*:
hashed word unigrams (``tamis.HashingFeaturizer``, 2^16 buckets), sublinear tf-idf, a
``TruncatedSVD`` to 64 dimensions fitted on the raw pool, rows L2-normalised. This stands in
for a sentence encoder (MiniLM on 20k documents takes ~10 min of the 2 shared cores); the
embedding time is counted in each embedding method's selection time and reported on its own.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyarrow as pa

from tamis import HashingFeaturizer, ImportanceResampler, MinHashDeduplicator
from tamis.mix import temperature
from tamis.quality import classifier_select
from tamis.select import cluster_importance_select, gradient_select, nearest_select
from tamis.sensitivity import coreset

#: Every method, in report order. ``random`` first: the baseline of every comparison.
METHODS = (
    "random",
    "dsir",
    "dsir-reference",
    "dedup+dsir",
    "classifier",
    "cluster-dsir",
    "got-d",
    "knn",
    "coreset",
    "mix-temperature",
)
#: Methods that see no target: they change the pool's make-up, not its aim.
TARGET_FREE = ("random", "coreset", "mix-temperature")
EMBED_METHODS = ("cluster-dsir", "got-d", "knn", "coreset")
EMBED_DIM = 64
MIX_TAU = 3.0  # mT5's alpha = 0.3 is tau = 1/0.3 ~ 3.3


def embed(raw_texts: list[str], target_texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hashed LSA embeddings (unit rows) of the raw pool and the target sample."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer

    f = HashingFeaturizer(n_buckets=1 << 16, ngram_range=(1, 1), n_threads=1)
    xr = f.transform(raw_texts).to_scipy()
    xt = f.transform(target_texts).to_scipy()
    tfidf = TfidfTransformer(sublinear_tf=True).fit(xr)
    svd = TruncatedSVD(EMBED_DIM, random_state=0).fit(tfidf.transform(xr))

    def unit(x):
        e = svd.transform(tfidf.transform(x))
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    return unit(xr), unit(xt)


def mix_select(domains: np.ndarray, k: int, tau: float = MIX_TAU) -> np.ndarray:
    """A temperature plan over the raw pool's domains (``tamis.mix.temperature``, documents as
    the unit, budget ``k``), each domain's share drawn uniformly at random (seed 0)."""
    names, counts = np.unique(domains, return_counts=True)
    plan = temperature(
        {str(n): int(c) for n, c in zip(names, counts)}, tau, budget=k, unit="documents",
        warn_epochs=None,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    picked = []
    for name in names:
        rows = np.flatnonzero(domains == name)
        want = min(round(plan.weights[str(name)] * k), len(rows))
        picked.append(rng.choice(rows, size=want, replace=False))
    return np.sort(np.concatenate(picked))


def knn_select(pool: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
    """``nearest_select`` searching deeper until ``k`` distinct documents are found: target
    points share neighbours (a small target domain in the pool), and the default depth
    ``ceil(1.1 k / m) + 1`` then finds fewer than ``k``."""
    per = max(16, 4 * math.ceil(k / len(target)))
    while True:
        try:
            return nearest_select(pool, target, k, per_target=min(per, len(pool))).indices
        except ValueError:
            if per >= len(pool):
                raise
            per *= 4


def select_all(
    raw: pa.Table, target: pa.Table, raw_domain: np.ndarray, k: int, methods: list[str]
) -> tuple[dict[str, tuple[np.ndarray, float]], float | None]:
    """Method → (selected raw row indices, selection seconds); and the embedding seconds.

    Seconds are wall-clock at ``n_threads=1``, fitting included; an embedding method's time
    includes the shared embedding time. Every selection uses seed 0."""
    out: dict[str, tuple[np.ndarray, float]] = {}
    emb: tuple[np.ndarray, np.ndarray] | None = None
    emb_s: float | None = None
    for m in methods:
        if m in EMBED_METHODS and emb is None:
            t0 = time.perf_counter()
            emb = embed(raw.column("text").to_pylist(), target.column("text").to_pylist())
            emb_s = time.perf_counter() - t0
            print(f"  embeddings: {emb_s:.1f}s", flush=True)
        t0 = time.perf_counter()
        if m == "random":
            idx = np.random.default_rng(0).choice(raw.num_rows, size=k, replace=False)
        elif m == "dsir":
            r = ImportanceResampler(n_threads=1).fit(target, raw)
            idx = r.select(raw, k, seed=0).indices
        elif m == "dsir-reference":
            r = ImportanceResampler.reference(n_threads=1).fit(target, raw)
            idx = r.select(raw, k, seed=0).indices
        elif m == "dedup+dsir":
            d = MinHashDeduplicator(n_threads=1).fit(raw.column("text"))
            kept = np.flatnonzero(d.keep_mask_)
            sub = raw.take(pa.array(kept))
            r = ImportanceResampler(n_threads=1).fit(target, sub)
            idx = kept[np.asarray(r.select(sub, min(k, len(kept)), seed=0).indices)]
        elif m == "classifier":
            idx = classifier_select(raw, target, k, seed=0, n_threads=1).indices
        elif m == "cluster-dsir":
            assert emb is not None
            idx = cluster_importance_select(emb[0], emb[1], k, seed=0, n_threads=1).indices
        elif m == "got-d":
            assert emb is not None
            idx = gradient_select(emb[0], emb[1], k, n_threads=1).indices
        elif m == "knn":
            assert emb is not None
            idx = knn_select(emb[0], emb[1], k)
        elif m == "coreset":
            assert emb is not None
            idx = coreset(emb[0], k, p=2.0, method="priority", seed=0, n_threads=1).indices
        elif m == "mix-temperature":
            idx = mix_select(raw_domain, k)
        else:
            raise ValueError(f"unknown method {m!r}")
        sel_s = time.perf_counter() - t0 + ((emb_s or 0.0) if m in EMBED_METHODS else 0.0)
        out[m] = (np.asarray(idx, dtype=np.int64), sel_s)
        print(f"  selected {m}: {sel_s:.1f}s", flush=True)
    return out, emb_s
