"""k-means and SemDeDup: inertia and time side by side with faiss-cpu and scikit-learn, one run.

Protocol (issue 15): the same k, the same number of Lloyd iterations (tol = 0, so every library
runs all of them) and the same initialisation budget, at the same thread count:
  tamis init="random"     vs faiss.Kmeans (random init, max_points_per_centroid large: all rows);
  tamis init="k-means++"  vs sklearn.cluster.KMeans(init="k-means++", algorithm="lloyd");
  tamis minibatch         vs sklearn MiniBatchKMeans (same batch size and passes).
The inertia of every result is recomputed the same way (float64, nearest of its centroids), over
several seeds; times are the median per method. Datasets: MiniLM embeddings (all-MiniLM-L6-v2 of
the first --n-docs documents of the shared corpus, L2-normalised, d = 384; embedded once on CPU and
cached under bench-results/tmp/) and Gaussian blobs. SemDeDup: time of `tamis.cluster.semdedup`
on the MiniLM clusters vs a numpy implementation of the paper's rule (one similarity matrix per
cluster), and the number of rows removed (must be equal).

    python benches/cluster.py                 # 3000 MiniLM docs (k=50) + blobs 50000 x 64 (k=100)
    python benches/cluster.py --quick         # 1000 docs, small blobs: a smoke test
Writes bench-results/cluster.json (bench-results/tmp/ with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

import tamis
from _common import RESULTS, add_corpus_arg, add_quick_arg, corpus_path, need, out_path
from tamis.cluster import KMeans, semdedup


def inertia(X: np.ndarray, C: np.ndarray) -> float:
    """Σ min_j ‖x − c_j‖² in float64, by blocks (the common yardstick)."""
    C = C.astype(np.float64)
    cn = (C * C).sum(1)
    total = 0.0
    for i in range(0, len(X), 4096):
        B = X[i : i + 4096].astype(np.float64)
        d = (B * B).sum(1)[:, None] - 2 * B @ C.T + cn[None, :]
        total += float(np.maximum(d.min(1), 0).sum())
    return total


def minilm(corpus: str, n_docs: int, max_length: int) -> np.ndarray:
    """MiniLM embeddings of the first ``n_docs`` documents, cached under bench-results/tmp/."""
    cache = RESULTS / "tmp" / f"minilm_{n_docs}_{max_length}.npy"
    if cache.exists():
        return np.load(cache)
    import pyarrow.parquet as pq

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tamis.scoring import Embedder

    texts = pq.read_table(corpus, columns=["text"]).column("text").slice(0, n_docs).to_pylist()
    t0 = time.perf_counter()
    X = Embedder(device="cpu", max_length=max_length).embed(texts)
    print(f"embedded {len(texts)} docs in {time.perf_counter() - t0:.1f} s -> {cache}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, X)
    return X


def blobs(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Overlapping blobs (centre spread 1.5 × the noise): a continuum of local optima, so the
    # inertia compares the algorithms rather than the luck of which blobs an init misses.
    centres = rng.normal(scale=1.5, size=(k, d))
    return (centres[rng.integers(0, k, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    C = fn()
    return time.perf_counter() - t0, C


def compare(X: np.ndarray, k: int, n_iter: int, seeds: list[int], threads: int) -> dict[str, Any]:
    import faiss
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.cluster import MiniBatchKMeans

    faiss.omp_set_num_threads(threads)
    n, d = X.shape
    batch = 1024
    passes = max(1, n_iter // 4)

    def ours(init: str, algorithm: str = "lloyd") -> Callable[[int], np.ndarray]:
        return lambda s: (
            KMeans(
                k, init=init, algorithm=algorithm, max_iter=passes if algorithm != "lloyd" else
                n_iter, tol=0, batch_size=batch, seed=s, n_threads=threads,
            ).fit(X).centroids_
        )  # fmt: skip

    def fa(s: int) -> np.ndarray:
        km = faiss.Kmeans(d, k, niter=n_iter, seed=s, max_points_per_centroid=n + 1)
        km.train(X)
        return km.centroids

    def sk(s: int) -> np.ndarray:
        m = SkKMeans(k, init="k-means++", n_init=1, max_iter=n_iter, tol=0, random_state=s)
        return m.fit(X).cluster_centers_

    def skmb(s: int) -> np.ndarray:
        m = MiniBatchKMeans(
            k, batch_size=batch, max_iter=passes, n_init=1, random_state=s, tol=0,
            max_no_improvement=None, reassignment_ratio=0.0,
        )  # fmt: skip
        return m.fit(X).cluster_centers_

    methods = {
        "tamis_random": ours("random"),
        "faiss_random": fa,
        "tamis_kmeanspp": ours("k-means++"),
        "sklearn_kmeanspp": sk,
        "tamis_minibatch": ours("k-means++", "minibatch"),
        "sklearn_minibatch": skmb,
    }
    out: dict[str, Any] = {"n": n, "d": d, "k": k, "n_iter": n_iter, "seeds": seeds}
    with threadpool_limits(threads):
        for name, fn in methods.items():
            times, inert = [], []
            for s in seeds:
                t, C = timed(lambda fn=fn, s=s: fn(s))
                times.append(t)
                inert.append(inertia(X, C))
            out[name] = {
                "seconds_median": statistics.median(times),
                "inertia_mean": statistics.fmean(inert),
                "inertia": inert,
            }
            print(f"  {name:18s} {statistics.median(times):8.3f} s  inertia {inert[0]:.6g}")
    for ours_name, peer in (
        ("tamis_random", "faiss_random"),
        ("tamis_kmeanspp", "sklearn_kmeanspp"),
        ("tamis_minibatch", "sklearn_minibatch"),
    ):
        a, b = out[ours_name], out[peer]
        out[f"{ours_name}_vs_{peer}"] = {
            "inertia_ratio": a["inertia_mean"] / b["inertia_mean"],
            "speedup": b["seconds_median"] / a["seconds_median"],
        }
        print(
            f"  {ours_name} / {peer}: inertia ratio {a['inertia_mean'] / b['inertia_mean']:.4f}, "
            f"{b['seconds_median'] / a['seconds_median']:.2f}x faster"
        )
    return out


def semdedup_numpy(X: np.ndarray, labels: np.ndarray, C: np.ndarray, eps: float) -> np.ndarray:
    """The paper's rule with one similarity matrix per cluster (farthest from the centroid first)."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    Cn = C / np.linalg.norm(C, axis=1, keepdims=True)
    keep = np.ones(len(X), dtype=bool)
    for c in range(len(C)):
        rows = np.flatnonzero(labels == c)
        cos = U[rows] @ Cn[c]
        rows = rows[np.lexsort((rows, cos))]
        S = np.triu(U[rows] @ U[rows].T, 1)
        keep[rows] = ~(S.max(axis=0) >= 1 - eps)
    return keep


def bench_semdedup(X: np.ndarray, k: int, eps: float, threads: int) -> dict[str, Any]:
    km = KMeans(k, metric="cosine", seed=0, n_threads=threads).fit(X)
    t0 = time.perf_counter()
    sel = semdedup(X, eps, labels=km.labels_, centroids=km.centroids_, n_threads=threads)
    t_ours = time.perf_counter() - t0
    with threadpool_limits(threads):
        t0 = time.perf_counter()
        ref = semdedup_numpy(X, km.labels_, km.centroids_, eps)
        t_np = time.perf_counter() - t0
    same = bool((ref == sel.keep).all())
    print(
        f"  semdedup eps={eps}: removed {sel.n_removed} of {len(X)} ({t_ours:.3f} s), numpy "
        f"removed {int((~ref).sum())} ({t_np:.3f} s), same set: {same}"
    )
    return {
        "k": k,
        "eps": eps,
        "n_removed": sel.n_removed,
        "numpy_removed": int((~ref).sum()),
        "same_set": same,
        "seconds": t_ours,
        "numpy_seconds": t_np,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_corpus_arg(ap)
    add_quick_arg(ap)
    ap.add_argument("--n-docs", type=int, default=3000, help="MiniLM documents")
    ap.add_argument("--max-length", type=int, default=128, help="MiniLM tokens per document")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="for every library")
    ap.add_argument("--seeds", type=int, default=5, help="seeds per method")
    ap.add_argument("-o", "--output", default=None, help="JSON output")
    args = ap.parse_args()
    need("cluster", "faiss", "pip install faiss-cpu", args.quick)
    need("cluster", "sklearn", "pip install scikit-learn", args.quick)
    n_docs = 1000 if args.quick else args.n_docs
    seeds = list(range(1 if args.quick else args.seeds))
    X = minilm(corpus_path(args.corpus, "cluster"), n_docs, args.max_length)
    result: dict[str, Any] = {
        "tamis": tamis.__version__,
        "build": tamis._core.build_profile,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
    }
    k = 20 if args.quick else 50
    print(f"MiniLM {X.shape}, k={k}:")
    result["minilm"] = compare(X, k, 20, seeds, args.threads)
    result["minilm"]["max_length"] = args.max_length
    nb, kb = (5000, 20) if args.quick else (50000, 100)
    B = blobs(nb, 64, kb)
    print(f"blobs {B.shape}, k={kb}:")
    result["blobs"] = compare(B, kb, 20, seeds, args.threads)
    print("SemDeDup on the MiniLM embeddings:")
    result["semdedup"] = [bench_semdedup(X, k, eps, args.threads) for eps in (0.01, 0.05, 0.1)]
    path = out_path(args.output, "cluster.json", args.quick)
    path.parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
