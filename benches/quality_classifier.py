#!/usr/bin/env python3
"""Hashed classifier benchmark: tamis.quality.HashedClassifier vs fastText, and the classifier
selector vs DSIR, on the shared corpus. One run, side by side.

1. Accuracy and speed against ``fasttext`` supervised training (0.9.3) on the same data and the
   same n-grams: both see the same tokens (tamis' ``\\w+|[^\\w\\s]+`` tokenizer, lowercased, the
   tokens joined by spaces for fastText), word unigrams + bigrams, 2^18 hash buckets. Tasks:
   ``domain`` (11-way softmax over the corpus's domains) and ``python-docs`` (binary, one domain
   against the rest). Held-out accuracy on a disjoint test split. Training time: tamis from raw
   texts (featurisation included); fastText from its training file (written beforehand, not
   timed; its tokenisation was done by us, also not timed). Inference: tamis scores the test
   texts in batch; fastText is called per document (``model.f.predict``, as users do), one
   thread. Both are timed at 1 thread and at all cores for training.
2. Selection precision (the task of ``benches/dsir.py``): raw = 15k random documents, target =
   500 held-out ``python-docs`` documents not in raw; precision = share of the k selected that are
   ``python-docs``, at k = 200 and 1000, averaged over splits and Gumbel seeds, for DSIR's
   default settings and for ``classifier_select`` (Gumbel and top-k).

Usage::

    python benches/quality_classifier.py [--corpus data/corpus/pool.parquet] [--quick]

Writes ``bench-results/quality_classifier.json`` (``bench-results/tmp/`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import tamis
from _common import add_corpus_arg, add_quick_arg, corpus_path, out_path
from tamis import ImportanceResampler
from tamis.importance import stream
from tamis.quality import HashedClassifier, classifier_select

os.environ.setdefault("TQDM_DISABLE", "1")
N_BUCKETS = 1 << 18


def _fasttext_text(texts: list[str]) -> list[str]:
    return [" ".join(tamis.tokenize(t)) for t in texts]


def fasttext_vs_tamis(
    pool: pa.Table, task: str, n_train: int, n_test: int, l2: float, seed: int = 0
) -> dict:
    import fasttext

    rng = np.random.default_rng(seed)
    idx = rng.permutation(pool.num_rows)[: n_train + n_test]
    texts = pool.column("text").take(pa.array(idx)).to_pylist()
    dom = np.asarray(pool.column("domain").take(pa.array(idx)).to_pylist())
    y = dom if task == "domain" else np.where(dom == "python-docs", "pos", "neg")
    tr, te = slice(0, n_train), slice(n_train, n_train + n_test)
    mb = sum(len(t.encode()) for t in texts[tr]) / 1e6
    res: dict = {"task": task, "n_train": n_train, "n_test": n_test, "train_mb": mb}
    # tamis
    for threads in (1, None):
        clf = HashedClassifier(n_buckets=N_BUCKETS, l2=l2, n_threads=threads)
        t0 = time.perf_counter()
        clf.fit(texts[tr], y[tr])
        res[f"tamis_train_s_threads={threads or 'all'}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = clf.predict(texts[te])
    res["tamis_predict_docs_per_s"] = n_test / (time.perf_counter() - t0)
    one = HashedClassifier.from_arrays({**clf.get_params(), "n_threads": 1}, *clf.to_arrays()[1:])
    t0 = time.perf_counter()
    one.predict(texts[te])
    res["tamis_predict_docs_per_s_1thread"] = n_test / (time.perf_counter() - t0)
    res["tamis_accuracy"] = float(np.mean(pred == y[te]))
    res["tamis_n_iter"] = clf.n_iter_
    # fastText on the same tokens
    ft_texts = _fasttext_text(texts)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "train.txt"
        path.write_text("".join(f"__label__{lab} {t}\n" for lab, t in zip(y[tr], ft_texts[tr])))
        for threads in (1, os.cpu_count() or 1):
            t0 = time.perf_counter()
            ft = fasttext.train_supervised(
                str(path), wordNgrams=2, bucket=N_BUCKETS, minCount=1, thread=threads, seed=seed,
                verbose=0,
            )  # fmt: skip
            res[f"fasttext_train_s_threads={threads}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels = [ft.f.predict(t, 1, 0.0, "strict")[0][1] for t in ft_texts[te]]
    res["fasttext_predict_docs_per_s"] = n_test / (time.perf_counter() - t0)
    res["fasttext_accuracy"] = float(np.mean(np.array([s[9:] for s in labels]) == y[te]))
    res["accuracy_difference_points"] = 100 * (res["tamis_accuracy"] - res["fasttext_accuracy"])
    return res


TEMPERATURES = (1.0, 0.5, 0.25)


def precision(pool: pa.Table, n_splits: int, n_seeds: int, ks: list[int], n_raw: int) -> dict:
    domain = np.asarray(pool.column("domain").to_pylist(), dtype=object)
    is_pd = domain == "python-docs"
    names = ["dsir (default)", "dsir (default) [topk]", "classifier [topk]"]
    names += [f"classifier (gumbel, temperature={t})" for t in TEMPERATURES]
    results: dict = {n: {f"k={k}": [] for k in ks} for n in names}
    fit_s = []
    for split in range(n_splits):
        rng = np.random.default_rng(split)
        pd_idx = rng.permutation(np.flatnonzero(is_pd))
        target_idx = pd_idx[:500]
        rest = np.setdiff1d(np.arange(pool.num_rows), target_idx)
        raw_idx = np.sort(rng.choice(rest, min(n_raw, len(rest)), replace=False))
        raw = pool.take(pa.array(raw_idx)).select(["id", "text"])
        target = pool.take(pa.array(target_idx)).select(["text"])
        labels = is_pd[raw_idx]
        r = ImportanceResampler().fit(target, raw)
        w, ntok = r.log_weights(raw, return_n_tokens=True)
        elig = ntok >= r.min_length
        idh = stream.id_hashes(raw.column("id"))
        t0 = time.perf_counter()
        clf = HashedClassifier(class_weight="balanced").fit_binary(target, raw)
        fit_s.append(time.perf_counter() - t0)
        z = clf.decision_function(raw.column("text"))
        for k in ks:
            top = np.argsort(-np.where(elig, w, -np.inf), kind="stable")[:k]
            results["dsir (default) [topk]"][f"k={k}"].append(float(labels[top].mean()))
            top = np.argsort(-z, kind="stable")[:k]
            results["classifier [topk]"][f"k={k}"].append(float(labels[top].mean()))
            for seed in range(n_seeds):
                s = r.select(raw, k, seed=seed)
                results["dsir (default)"][f"k={k}"].append(float(labels[s.indices].mean()))
                noise = tamis._core.gumbel_noise(idh, seed=seed)
                for t in TEMPERATURES:
                    sel = np.argpartition(-(z / t + noise), k)[:k]
                    name = f"classifier (gumbel, temperature={t})"
                    results[name][f"k={k}"].append(float(labels[sel].mean()))
            if split == 0:
                # The numpy re-implementation above is what classifier_select does.
                sel = classifier_select(raw, target, k, seed=0, temperature=0.5, classifier=clf)
                want = np.argpartition(-(z / 0.5 + tamis._core.gumbel_noise(idh, seed=0)), k)[:k]
                assert set(sel.indices) == set(want)
    out = {
        n: {
            k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
            for k, v in r.items()
        }
        for n, r in results.items()
    }
    out["_raw_python_docs_share"] = float(labels.mean())
    out["_classifier_fit_seconds_mean"] = float(np.mean(fit_s))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_corpus_arg(ap)
    add_quick_arg(ap)
    ap.add_argument("--out", default=None)
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], choices=["fasttext", "precision"])
    args = ap.parse_args()
    pool = pq.read_table(
        corpus_path(args.corpus, "quality_classifier"), columns=["id", "text", "domain"]
    )
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "tamis_build": tamis._core.build_profile,
    }
    n_train, n_test = (3000, 1000) if args.quick else (10_000, 5_000)
    path = out_path(args.out, "quality_classifier.json", args.quick)
    if path.exists() and args.skip:  # a partial rerun keeps the other parts' figures
        result = {**json.loads(path.read_text()), **result}
    if "fasttext" not in args.skip:
        result["fasttext"] = [
            fasttext_vs_tamis(pool, task, n_train, n_test, l2=1e-5)
            for task in ("domain", "python-docs")
        ]
        for r in result["fasttext"]:
            print(json.dumps(r, indent=1))
    if "precision" not in args.skip:
        splits, seeds = (1, 1) if args.quick else (args.splits, args.seeds)
        result["precision"] = precision(
            pool, splits, seeds, [200, 1000], 3000 if args.quick else 15_000
        )
        print(json.dumps(result["precision"], indent=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
