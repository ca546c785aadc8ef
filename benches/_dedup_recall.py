"""Recall just above the threshold: a controlled corpus of original / edited document pairs.

``controlled_pairs`` takes documents of the shared corpus that are not near-duplicates of each
other (brute-force exact Jaccard < 0.3 between every two originals), and makes one edited copy
of each: ``k`` random word replacements, deletions and insertions, with ``k`` drawn so that the
pairs' Jaccard (tamis' own word 5-gram shingles, ``MinHasher.shingle_sets``) spreads over
0.6-1.0. Each tool deduplicates the 2 x n documents; a pair is *caught* when both copies end in
one cluster, a *false merge* is a cluster joining documents of two different pairs or a caught
pair whose Jaccard is below the threshold. ``tests/test_dedup_banding.py`` runs a small
synthetic version of the same check.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

import tamis
from tamis.dedup import make_hasher
from tamis.io import buffers

THRESHOLD = 0.8


def _sets(texts: list[str]) -> list[np.ndarray]:
    """tamis' word 5-gram shingle hashes of each text (sorted, unique)."""
    indptr, hashes = make_hasher().shingle_sets(*buffers(pa.array(texts, pa.large_string())), None)
    return [hashes[indptr[i] : indptr[i + 1]] for i in range(len(texts))]


def _distinct(texts: list[str], limit: float = 0.3) -> list[int]:
    """Rows whose exact Jaccard with every earlier kept row is below ``limit`` (brute force)."""
    sets = _sets(texts)
    flat = np.concatenate(sets)
    _, cols = np.unique(flat, return_inverse=True)
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    a = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)))
    inter = (a @ a.T).toarray()
    size = np.array([len(s) for s in sets], np.float64)
    jac = inter / np.maximum(size[:, None] + size[None, :] - inter, 1)
    np.fill_diagonal(jac, 0)
    kept: list[int] = []
    for i in range(len(texts)):
        if not kept or jac[i, kept].max() < limit:
            kept.append(i)
    return kept


def _edit(words: list[str], k: int, vocab: list[str], rng: np.random.Generator) -> list[str]:
    out = list(words)
    for _ in range(k):
        op, pos = rng.integers(3), int(rng.integers(len(out)))
        if op == 0:
            out[pos] = vocab[rng.integers(len(vocab))]
        elif op == 1 and len(out) > 10:
            del out[pos]
        else:
            out.insert(pos, vocab[rng.integers(len(vocab))])
    return out


def controlled_pairs(
    pool: list[str], n_pairs: int = 1200, seed: int = 0
) -> tuple[list[str], np.ndarray]:
    """``(texts, jaccard)``: originals ``0..n`` then their edits ``n..2n``; Jaccard per pair."""
    rng = np.random.default_rng(seed)
    cand = [t for t in pool if 150 <= len(t.split()) <= 3000]
    pick = rng.choice(len(cand), min(len(cand), int(n_pairs * 1.6)), replace=False)
    cand = [cand[i] for i in pick]
    originals = [cand[i] for i in _distinct(cand)][:n_pairs]
    vocab = [w for t in originals[:200] for w in t.split()]
    edited = []
    for t in originals:
        words = t.split()
        # 5 shingles change per edit: J ~ (L - 5k) / (L + 5k); k up to ~5% of the words
        k = int(rng.integers(0, max(2, len(words) // 20)))
        edited.append(" ".join(_edit(words, k, vocab, rng)))
    sets = _sets(originals + edited)
    n = len(originals)
    jac = np.array(
        [
            len(np.intersect1d(sets[i], sets[n + i], assume_unique=True))
            / max(1, len(np.union1d(sets[i], sets[n + i])))
            for i in range(n)
        ]
    )
    return originals + edited, jac


def score(cluster_id: np.ndarray, jac: np.ndarray, threshold: float = THRESHOLD) -> dict:
    """Recall per Jaccard band and false merges of one clustering of ``controlled_pairs``."""
    n = len(jac)
    pair = np.concatenate([np.arange(n), np.arange(n)])
    caught = cluster_id[:n] == cluster_id[n:]
    cross = 0
    for c in np.unique(cluster_id):
        members = np.flatnonzero(cluster_id == c)
        if len(members) > 1:
            cross += len(np.unique(pair[members])) - 1
    out = {
        "pairs": n,
        "false_merges": int(cross + (caught & (jac < threshold)).sum()),
    }
    for lo in (0.8, 0.85, 0.9):
        sel = jac >= lo
        out[f"pairs_j{lo}"] = int(sel.sum())
        out[f"recall_j{lo}"] = float(caught[sel].mean()) if sel.any() else 1.0
    sel = (jac >= 0.85) & (jac < 0.9)
    out["recall_j0.85_0.9"] = float(caught[sel].mean()) if sel.any() else 1.0
    return out


def _roots(n: int, pairs: set[tuple[int, int]]) -> np.ndarray:
    from dedup import components

    return components(n, pairs)


def recall_section(pool: list[str], tools: list[str], n_pairs: int = 1200) -> dict:
    """Recall and false merges of each banding (and the anchors) on the controlled pairs."""
    texts, jac = controlled_pairs(pool, n_pairs)
    print(
        f"recall on {len(jac)} controlled pairs: {int((jac >= 0.85).sum())} with J >= 0.85, "
        f"{int(((jac >= 0.8) & (jac < 0.9)).sum())} with 0.8 <= J < 0.9",
        flush=True,
    )
    runs = {}
    if "tamis" in tools:
        for banding in ("recall", "datasketch"):

            def run(banding: str = banding) -> np.ndarray:
                d = tamis.MinHashDeduplicator(threshold=THRESHOLD, banding=banding)
                d.fit(texts)
                return d.cluster_id_

            d0 = tamis.MinHashDeduplicator(threshold=THRESHOLD, banding=banding)
            runs[f"tamis exact, {banding} banding ({d0.num_bands_}x{d0.rows_})"] = run
    if "datasketch" in tools:
        from dedup import pairs_datasketch

        runs["datasketch MinHashLSH (9x13)"] = lambda: _roots(len(texts), pairs_datasketch(texts))
    if "rensa" in tools:
        from dedup import pairs_rensa

        runs["rensa RMinHashLSH (16x8)"] = lambda: _roots(len(texts), pairs_rensa(texts))
    res: dict = {
        "pairs": len(jac),
        "jaccard_quantiles": np.quantile(jac, [0, 0.25, 0.5, 0.75, 1]).tolist(),
        "tools": {},
    }
    for name, fn in runs.items():
        t0 = time.perf_counter()
        roots = fn()
        r = score(np.asarray(roots), jac)
        r["seconds"] = time.perf_counter() - t0
        res["tools"][name] = r
        print(
            f"  {name:<44} recall J>=0.85 {r['recall_j0.85']:.4f} (0.85-0.9: "
            f"{r['recall_j0.85_0.9']:.4f}), J>=0.8 {r['recall_j0.8']:.4f}, "
            f"false merges {r['false_merges']}",
            flush=True,
        )
    return res
