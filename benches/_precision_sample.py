"""The held-out-domain task of benches/embedding_select.py: a stratified pool sample, target
samples, and MiniLM embeddings cached on disk.

The shared corpus has ~51k documents in 11 domains. Embedding all of it with MiniLM on a loaded
2-core machine takes hours, so the task uses a stratified sub-sample: ``n_targets`` documents of
each target domain are held out first; the pool is drawn from the rest, every domain getting its
proportional share of ``n_pool`` (at least ``min(60, what it has)``). Embeddings are computed in
chunks of 512 documents, each cached under ``bench-results/tmp/`` by a hash of its document ids
and the embedding settings, so a killed run resumes and a rerun embeds nothing.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np

CHUNK = 512
# Texts are cut to this many characters before tokenisation: MiniLM keeps the first 128
# tokens, and a WordPiece token is at least one character, so 4096 characters hold more than
# 128 tokens for every text but runs of 30+ character words; tokenising the whole of a
# 700 kB C file only to keep 128 tokens would dominate the time.
MAX_CHARS = 4096


def stratified_sample(
    domain: np.ndarray, targets: list[str], n_pool: int, n_target: int, seed: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pool row numbers (sorted) and, per target domain, ``n_target`` held-out row numbers."""
    rng = np.random.default_rng(seed)
    held: dict[str, np.ndarray] = {}
    taken = np.zeros(len(domain), dtype=bool)
    for d in targets:
        rows = np.flatnonzero(domain == d)
        if len(rows) < n_target + 100:
            raise SystemExit(f"domain {d!r} has {len(rows)} documents, too few to hold out")
        held[d] = np.sort(rng.choice(rows, n_target, replace=False))
        taken[held[d]] = True
    rest = np.flatnonzero(~taken)
    names, counts = np.unique(domain[rest], return_counts=True)
    share = counts / counts.sum()
    pool = []
    for name, c, s in zip(names, counts, share):
        n = int(min(c, max(min(60, c), round(n_pool * s))))
        rows = rest[domain[rest] == name]
        pool.append(rng.choice(rows, n, replace=False))
    return np.sort(np.concatenate(pool)), held


def embed_cached(texts: list[str], ids: np.ndarray, cache: Path, max_length: int) -> np.ndarray:
    """MiniLM embeddings of ``texts`` (float32, L2-normalised), cached per chunk of ids."""
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    embedder = None
    for s in range(0, len(texts), CHUNK):
        chunk_ids = np.ascontiguousarray(ids[s : s + CHUNK], dtype=np.int64)
        tag = f"minilm-{max_length}-{MAX_CHARS}-".encode() + chunk_ids.tobytes()
        path = cache / f"emb-{hashlib.sha256(tag).hexdigest()[:20]}.npy"
        if path.exists():
            out.append(np.load(path))
            continue
        if embedder is None:
            from tamis.scoring import Embedder

            embedder = Embedder(device="cpu", max_length=max_length)
        t = time.perf_counter()
        z = embedder.embed([x[:MAX_CHARS] for x in texts[s : s + CHUNK]])
        np.save(path.with_suffix(".tmp.npy"), z)
        os.replace(path.with_suffix(".tmp.npy"), path)
        print(
            f"  embedded {s + len(z)}/{len(texts)} ({len(z) / (time.perf_counter() - t):.0f} docs/s)",
            flush=True,
        )
        out.append(z)
    return np.concatenate(out) if out else np.zeros((0, 384), np.float32)
