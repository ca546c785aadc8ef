#!/usr/bin/env python3
"""DSIR benchmark: tamis vs the reference package data-selection 1.0.3, on the shared corpus.

Three parts, all in one run so the figures are comparable:

1. Throughput per core (one thread, MB per CPU-second: ``time.process_time``, which the other
   jobs of a shared machine disturb less than wall time) for each phase: fit (raw + target bucket counts), weights
   (log importance weight of every raw document), select (Gumbel top-k). The reference's phases are
   its own code paths without file I/O or joblib: ``_fit_bow``'s loop
   (``get_ngram_counts(text, counts=counts)``), ``compute_importance_weights``'s loop
   (``featurizer`` + ``np.dot(log_diff, features)``) and ``resample``'s Gumbel + argpartition.
   MB = 1e6 bytes of UTF-8 text.
2. Peak RSS of ``tamis dsir`` (a fresh process each) at 10k and 40k raw documents.
3. End to end (``_dsir_e2e.py``): the whole ``tamis dsir`` process against data-selection's whole
   run (``reference_dsir.py whole``) on the same 12k-document corpus, CPU seconds, wall and peak
   RSS of each, and a check that both select the same documents in reference-compatible top-k.
4. Selection precision: raw = 15k random documents (``--raw-docs``), target = 500 held-out
   ``python-docs`` documents (not in raw); precision = fraction of the k selected that are
   ``python-docs``, at k = 200 and 1000, averaged over splits and Gumbel seeds, for the reference
   settings and for candidate default settings. The reference's weights are computed by tamis'
   compatible mode, which equals data-selection's to 1e-9 (tests/test_importance.py); its noise
   differs (unseeded numpy), which averaging over seeds takes care of.

Usage (``make corpus`` builds the default corpus; the reference comes with the dev extra)::

    python benches/dsir.py [--corpus data/corpus/pool.parquet] [--quick]

Writes ``bench-results/dsir.json`` (``bench-results/tmp/dsir.json`` with ``--quick``), keeping
the parts of an existing file that this run skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import _dsir_e2e
import tamis
from _common import add_corpus_arg, add_quick_arg, corpus_path, die, out_path
from tamis import ImportanceResampler
from tamis.importance import _id_hashes

os.environ.setdefault("TQDM_DISABLE", "1")


def mb(texts: list[str]) -> float:
    return sum(len(t.encode()) for t in texts) / 1e6


# -- 1. throughput ------------------------------------------------------------------------------


def reference_phases(target: list[str], raw: list[str], clock=time.process_time) -> dict:
    from data_selection.hashed_ngram_dsir import get_ngram_counts, wpt

    nb, tok = 10_000, wpt.tokenize
    t0 = clock()
    rc = np.zeros(nb, dtype=int)
    for t in raw:
        rc = get_ngram_counts(t, n=2, num_buckets=nb, counts=rc, tokenizer=tok)
    tc = np.zeros(nb, dtype=int)
    for t in target:
        tc = get_ngram_counts(t, n=2, num_buckets=nb, counts=tc, tokenizer=tok)
    log_diff = np.log(tc / tc.sum() + 1e-8) - np.log(rc / rc.sum() + 1e-8)
    t1 = clock()
    w, lengths = [], []
    for t in raw:
        f = get_ngram_counts(t, n=2, num_buckets=nb, tokenizer=tok)
        w.append(np.dot(log_diff, f))
        lengths.append((f.sum() + 1) // 2)
    w = np.asarray(w)
    t2 = clock()
    mask = np.asarray(lengths) >= 100
    cur = w[mask] + np.random.gumbel(size=int(mask.sum()))
    k = min(200, len(cur) - 1)
    np.where(mask)[0][np.argpartition(-cur, k)[:k]]
    t3 = clock()
    return {"fit": t1 - t0, "weights": t2 - t1, "select": t3 - t2, "weights_arr": w}


def tamis_phases(
    r: ImportanceResampler, target: list[str], raw: list[str], clock=time.process_time
) -> dict:
    tarr = pa.array(target, pa.large_string())
    rarr = pa.table({"text": pa.array(raw, pa.large_string())})
    t0 = clock()
    r.fit(tarr, rarr)
    t1 = clock()
    w, ntok = r.log_weights(rarr, return_n_tokens=True)
    t2 = clock()
    # The selection work of select()'s streaming pass, given the weights: id hashes, Gumbel
    # noise, streaming top-k in batches, resolution.
    ids = pa.array(np.arange(len(raw)))
    top = tamis._core.TopK(200)
    for s in range(0, len(raw), 8192):
        idh = _id_hashes(ids.slice(s, 8192))
        key = w[s : s + 8192] + tamis._core.gumbel_noise(idh, seed=0)
        pos = np.arange(s, s + len(key), dtype=np.uint64)
        top.push(key, idh, pos, ntok[s : s + 8192] >= 100)
    tamis._core.select_sequential([top], [min(200, len(top))])
    t3 = clock()
    return {"fit": t1 - t0, "weights": t2 - t1, "select": t3 - t2, "weights_arr": w}


def throughput(texts: list[str], target: list[str], n_ref: int, n_ours: int) -> dict:
    ref_raw, our_raw = texts[:n_ref], texts[:n_ours]
    out: dict = {"reference_docs": n_ref, "tamis_docs": n_ours}
    ref = reference_phases(target, ref_raw)
    ref_mb, our_mb = mb(ref_raw), mb(our_raw)
    t_mb = mb(target)
    rows = {}
    rows["reference"] = {
        "fit": (ref_mb + t_mb) / ref["fit"],
        "weights": ref_mb / ref["weights"],
        "select_docs_per_s": len(ref_raw) / max(ref["select"], 1e-9),
    }
    for name, est in [
        ("tamis default", ImportanceResampler(n_threads=1)),
        ("tamis default, 10k buckets", ImportanceResampler(n_buckets=10_000, n_threads=1)),
        ("tamis default, 2^18 buckets", ImportanceResampler(n_buckets=1 << 18, n_threads=1)),
        ("tamis reference mode", ImportanceResampler.reference(n_threads=1)),
    ]:
        res = tamis_phases(est, target, our_raw)
        rows[name] = {
            "fit": (our_mb + t_mb) / res["fit"],
            "weights": our_mb / res["weights"],
            "select_docs_per_s": len(our_raw) / max(res["select"], 1e-9),
        }
    # Same weights as the reference on its documents?
    chk = ImportanceResampler.reference(n_threads=1).fit(target, ref_raw).log_weights(ref_raw)
    out["max_rel_diff_vs_reference"] = float(
        np.max(np.abs(chk - ref["weights_arr"]) / np.maximum(np.abs(ref["weights_arr"]), 1e-300))
    )
    all_threads = ImportanceResampler(n_threads=None)
    res = tamis_phases(all_threads, target, our_raw, clock=time.perf_counter)
    rows[f"tamis default, {tamis._core.default_threads} threads"] = {
        "fit": (our_mb + t_mb) / res["fit"],
        "weights": our_mb / res["weights"],
        "select_docs_per_s": len(our_raw) / max(res["select"], 1e-9),
    }
    for name, row in rows.items():
        if name != "reference":
            row["ratio_fit"] = row["fit"] / rows["reference"]["fit"]
            row["ratio_weights"] = row["weights"] / rows["reference"]["weights"]
    out["mb_per_s"] = rows
    return out


# -- 2. peak RSS --------------------------------------------------------------------------------

# VmHWM (this process's peak RSS), not ru_maxrss: Linux carries ru_maxrss across exec, so a
# child of a big parent would report the parent's peak.
RSS_SNIPPET = (
    "import sys; from tamis.cli import main; rc = main(sys.argv[1:]); "
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
    "print('RSS', hwm.split()[1], flush=True); sys.exit(rc)"
)


def peak_rss(table: pa.Table, target: pa.Table, sizes: list[int], tmp: Path) -> dict:
    tpath = tmp / "target.parquet"
    pq.write_table(target, tpath)
    out = {}
    for n in sizes:
        rpath = tmp / f"raw{n}.parquet"
        pq.write_table(table.slice(0, n), rpath, row_group_size=2048)
        cmd = [sys.executable, "-c", RSS_SNIPPET, "dsir", "--target", str(tpath)]
        cmd += ["--raw", str(rpath), "-k", "200", "-o", str(tmp / "o.parquet"), "-q"]
        cmd += ["--batch-size", "2048"]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, check=True)
        secs = time.perf_counter() - t0
        kb = int(next(line for line in p.stdout.splitlines() if line.startswith("RSS")).split()[1])
        out[str(n)] = {"peak_rss_mb": kb / 1024, "seconds": secs, "raw_mb": mb_col(table, n)}
    return out


def mb_col(table: pa.Table, n: int) -> float:
    return pc.sum(pc.binary_length(table.column("text").slice(0, n))).as_py() / 1e6


# -- 3. precision -------------------------------------------------------------------------------

CONFIGS = {
    "reference: sha256, 10k buckets, raw sum": {
        "hash": "sha256",
        "n_buckets": 10_000,
        "length_norm": None,
    },
    "xxh3, 10k buckets, raw sum": {"n_buckets": 10_000, "length_norm": None},
    "xxh3, 10k buckets, per token (L=1)": {"n_buckets": 10_000, "length_norm": 1.0},
    "xxh3, 10k buckets, L=100": {"n_buckets": 10_000, "length_norm": 100.0},
    "xxh3, 2^16 buckets, L=100": {"n_buckets": 1 << 16, "length_norm": 100.0},
    "xxh3, 2^18 buckets, raw sum": {"n_buckets": 1 << 18, "length_norm": None},
    "xxh3, 2^18 buckets, L=100": {"n_buckets": 1 << 18, "length_norm": 100.0},
    "xxh3, 2^18 buckets, L=100, alpha=1 both": {
        "n_buckets": 1 << 18,
        "length_norm": 100.0,
        "alpha": 1.0,
        "smooth": "both",
    },
    "xxh3, 2^18 buckets, L=100, min_length=50": {
        "n_buckets": 1 << 18,
        "length_norm": 100.0,
        "min_length": 50,
    },
}


def precision(
    pool: pa.Table, n_splits: int, n_seeds: int, ks: list[int], n_raw: int = 15_000
) -> dict:
    domain = np.asarray(pool.column("domain").to_pylist(), dtype=object)
    is_pd = domain == "python-docs"
    results: dict = {name: {f"k={k}": [] for k in ks} for name in CONFIGS}
    results.update({name + " [topk]": {f"k={k}": [] for k in ks} for name in CONFIGS})
    for split in range(n_splits):
        rng = np.random.default_rng(split)
        pd_idx = rng.permutation(np.flatnonzero(is_pd))
        target_idx = pd_idx[:500]
        rest = np.setdiff1d(np.arange(pool.num_rows), target_idx)
        raw_idx = np.sort(rng.choice(rest, min(n_raw, len(rest)), replace=False))
        raw = pool.take(pa.array(raw_idx)).select(["id", "text"])
        target = pool.take(pa.array(target_idx)).select(["text"])
        labels = is_pd[raw_idx]
        idh = _id_hashes(raw.column("id"))
        for name, cfg in CONFIGS.items():
            r = ImportanceResampler(**{"min_length": 100, **cfg}).fit(target, raw)
            w, ntok = r.log_weights(raw, return_n_tokens=True)
            elig = ntok >= r.min_length
            for k in ks:
                top = np.argsort(-np.where(elig, w, -np.inf), kind="stable")[:k]
                results[name + " [topk]"][f"k={k}"].append(float(labels[top].mean()))
                for seed in range(n_seeds):
                    keys = np.where(elig, w + tamis._core.gumbel_noise(idh, seed=seed), -np.inf)
                    sel = np.argpartition(-keys, k)[:k]
                    results[name][f"k={k}"].append(float(labels[sel].mean()))
            if split == 0 and name == "xxh3, 2^18 buckets, L=100":
                # The numpy re-implementation above is what select() does.
                s = r.select(raw, ks[0], seed=0)
                keys = np.where(elig, w + tamis._core.gumbel_noise(idh, seed=0), -np.inf)
                assert set(s.indices) == set(np.argpartition(-keys, ks[0])[: ks[0]])
    summary = {
        name: {
            k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
            for k, v in res.items()
        }
        for name, res in results.items()
    }
    summary["_raw_python_docs_share"] = float(labels.mean())
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arg(ap, "--pool")
    ap.add_argument("--out", default=None, help="default bench-results/dsir.json")
    ap.add_argument("--ref-docs", type=int, default=1500, help="documents timed for the reference")
    ap.add_argument("--tamis-docs", type=int, default=15000, help="documents timed for tamis")
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--raw-docs", type=int, default=15000, help="raw documents per precision split")
    add_quick_arg(ap)
    ap.add_argument("--e2e-docs", type=int, default=12_000, help="raw documents, end to end")
    ap.add_argument("--e2e-k", type=int, default=1000, help="k of the end-to-end runs")
    ap.add_argument("--e2e-repeats", type=int, default=3, help="tamis runs per variant (median)")
    ap.add_argument(
        "--skip", nargs="*", default=[], choices=["throughput", "rss", "e2e", "precision"]
    )
    args = ap.parse_args()
    args.corpus = corpus_path(args.corpus, "dsir")
    needs_ref = {"throughput", "e2e"} - set(args.skip)
    if needs_ref and importlib.util.find_spec("data_selection") is None:
        die(
            "dsir",
            "the throughput and e2e parts need data_selection (pip install data-selection==1.0.3 "
            "nltk==3.9.4, in the dev extra), or pass --skip throughput e2e",
        )
    if tamis._core.build_profile != "release":
        print("dsir bench: refusing to time a debug build", file=sys.stderr)
        return 2
    if args.quick:
        args.ref_docs, args.tamis_docs, args.splits, args.seeds = 200, 1000, 1, 2
        args.raw_docs, args.e2e_docs, args.e2e_k, args.e2e_repeats = 3000, 600, 50, 1
    pool = pq.read_table(args.corpus)
    rng = np.random.default_rng(123)
    shuffled = pool.take(pa.array(rng.permutation(pool.num_rows)))
    texts = [t for t in shuffled.column("text").to_pylist() if t]
    pd_texts = pc.filter(pool.column("text"), pc.equal(pool.column("domain"), "python-docs"))
    target = pd_texts.to_pylist()[:300]
    result: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "tamis": tamis.__version__,
        }
    }
    if "throughput" not in args.skip:
        result["throughput"] = throughput(texts, target, args.ref_docs, args.tamis_docs)
        print("\nThroughput per CPU-second, one thread (MB/s; select: docs/s); last row: wall time")
        print(
            f"{'implementation':<34}{'fit':>10}{'weights':>10}{'select':>14}{'x fit':>8}{'x wts':>8}"
        )
        for name, row in result["throughput"]["mb_per_s"].items():
            print(
                f"{name:<34}{row['fit']:>10.2f}{row['weights']:>10.2f}"
                f"{row['select_docs_per_s']:>14.0f}"
                f"{row.get('ratio_fit', 1):>8.0f}{row.get('ratio_weights', 1):>8.0f}"
            )
        print(
            f"max rel. diff vs reference: {result['throughput']['max_rel_diff_vs_reference']:.2e}"
        )
    if "rss" not in args.skip:
        sizes = [1000, 4000] if args.quick else [10_000, 40_000]
        tgt = pa.table({"text": pa.array(target)})
        with tempfile.TemporaryDirectory() as tmp:
            result["peak_rss"] = peak_rss(
                shuffled.select(["id", "text", "domain"]), tgt, sizes, Path(tmp)
            )
        print("\nPeak RSS of `tamis dsir -k 200` (fresh process)")
        for n, row in result["peak_rss"].items():
            print(
                f"  {n:>6} raw docs ({row['raw_mb']:.0f} MB): {row['peak_rss_mb']:.0f} MB, {row['seconds']:.1f}s"
            )
    if "e2e" not in args.skip:
        with tempfile.TemporaryDirectory() as tmp:
            result["end_to_end"] = _dsir_e2e.run(
                pool, Path(tmp), n_raw=args.e2e_docs, k=args.e2e_k, repeats=args.e2e_repeats
            )
        _dsir_e2e.report(result["end_to_end"])
    if "precision" not in args.skip:
        ks = [200, 1000]
        result["precision"] = precision(pool, args.splits, args.seeds, ks, args.raw_docs)
        print(
            f"\nPrecision (python-docs share of the selection; raw share "
            f"{result['precision']['_raw_python_docs_share']:.3f})"
        )
        print(f"{'settings':<48}" + "".join(f"{'k=' + str(k):>16}" for k in ks))
        for name, res in result["precision"].items():
            if name.startswith("_"):
                continue
            cells = "".join(
                f"{res[f'k={k}']['mean']:>9.3f} ±{res[f'k={k}']['std']:.3f}" for k in ks
            )
            print(f"{name:<48}{cells}")
    out = out_path(args.out, "dsir.json", args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file():  # keep what this run skipped (e.g. precision, peak RSS)
        result = {**json.loads(out.read_text()), **result}
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
