#!/usr/bin/env python3
"""fastText inference benchmark: tamis.quality.FastTextModel vs the ``fasttext`` bindings 0.9.3.

On the shared corpus, one run, side by side:

1. **Equality.** Models are trained with the bindings (each in a fresh interpreter: 0.9.3 ends a
   second training in one process with "Encountered NaN."): a domain classifier over the
   corpus's 11 domains (softmax with word bigrams and no subwords, as DCLM's quality model; hs and
   ova variants; a quantized ``.ftz``) and a language-ID model over the four quote collections
   (``quotes-en/de/es/ru``: softmax, character 2-4-grams as ``lid.176``; dense and ``.ftz``).
   Every model predicts the top 2 labels of the same 10,000 held-out documents with tamis and
   with the bindings' ``f.predict(text.replace("\\n", " ") + "\\n", 2, 0.0)``; we count documents
   whose labels and probabilities (within 1e-5) agree.
2. **Speed.** Documents per second of tamis (batches of 10,000, 1 and 2 threads) against the
   bindings called per document as users do (the loop above; 1 process, and 2 processes each with
   its own copy of the model for the 2-thread figure).

Usage::

    python benches/quality_fasttext.py [--corpus data/corpus/pool.parquet] [--quick]

Writes ``bench-results/quality_fasttext.json`` (``bench-results/tmp/`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_corpus_arg, add_quick_arg, corpus_path, need, out_path
from tamis import _core
from tamis.quality.fasttext import FastTextModel

BENCH = "quality_fasttext"
TRAIN = """
import json, sys, fasttext
path, out, quantize, kw = json.loads(sys.argv[1])
ft = fasttext.train_supervised(path, verbose=0, dim=16, epoch=5, thread=2, **kw)
ft.save_model(out + ".bin")
if quantize is not None:
    ft.quantize(input=path, retrain=False, **quantize)
    ft.save_model(out + ".ftz")
"""


def train(rows, out: Path, quantize=None, **kw) -> None:
    path = out.with_suffix(".txt")
    with path.open("w", encoding="utf-8") as f:
        for label, text in rows:
            f.write(f"__label__{label} {text.replace(chr(10), ' ')}\n")
    for seed in range(6):
        args = json.dumps([str(path), str(out), quantize, {**kw, "seed": seed}])
        done = subprocess.run([sys.executable, "-c", TRAIN, args], capture_output=True)
        if done.returncode == 0:
            return
    raise RuntimeError(f"fasttext training failed: {done.stderr.decode()[-500:]}")


def reference(path: str, texts: list[str], k: int) -> list:
    import fasttext

    fasttext.FastText.eprint = lambda *a, **kw: None
    f = fasttext.load_model(path).f
    return [f.predict(t.replace("\n", " ") + "\n", k, 0.0, "strict") for t in texts]


def agreement(model: FastTextModel, ref: list, texts: list[str], k: int) -> dict:
    ids, probs = model.predict(texts, k=k, n_threads=2)
    equal, max_diff = 0, 0.0
    for i, pairs in enumerate(ref):
        got = [(model.labels[j], p) for j, p in zip(ids[i], probs[i]) if j >= 0]
        ok = len(got) == len(pairs)
        ref_prob = {label: p for p, label in pairs}
        for (rp, rl), (gl, gp) in zip(pairs, got):
            max_diff = max(max_diff, abs(rp - gp))
            ok &= abs(rp - gp) <= 1e-5
            if gl != rl:  # a tie may order labels differently
                ok &= abs(ref_prob.get(gl, pairs[-1][0]) - gp) <= 1e-5
        equal += bool(ok)
    return {"documents": len(ref), "equal": equal, "max_abs_diff": float(max_diff)}


def _bindings_chunk(args: tuple[str, list[str]]) -> int:
    path, texts = args
    return len(reference(path, texts, 2))


def speed(path: str, texts: list[str], repeat: int) -> dict:
    """Docs/s of the four cases, timed in interleaved rounds (tamis 1 and 2 threads, bindings 1
    and 2 processes, then again), so that a drift of the shared machine's speed hits every case
    alike: the best round per case, and the median over rounds of the per-round ratios."""
    model = FastTextModel(path)
    model.predict(texts[:100], k=2, n_threads=1)
    reference(path, texts[:100], 2)
    halves = [(path, texts[0::2]), (path, texts[1::2])]
    times: dict[str, list[float]] = {}
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pool.map(_bindings_chunk, [(path, texts[:10])] * 2)
        cases = {
            "tamis_1_threads": lambda: model.predict(texts, k=2, n_threads=1),
            "tamis_2_threads": lambda: model.predict(texts, k=2, n_threads=2),
            "bindings_1_process": lambda: reference(path, texts, 2),
            "bindings_2_processes": lambda: pool.map(_bindings_chunk, halves),
        }
        for _ in range(repeat):
            for name, fn in cases.items():
                times.setdefault(name, []).append(_timed(fn))
    out: dict = {name: len(texts) / min(t) for name, t in times.items()}
    for n, ref in ((1, "bindings_1_process"), (2, "bindings_2_processes")):
        out[f"speedup_{n}"] = out[f"tamis_{n}_threads"] / out[ref]
        rounds = [r / t for t, r in zip(times[f"tamis_{n}_threads"], times[ref])]
        out[f"speedup_{n}_rounds"] = rounds
        out[f"speedup_{n}_median"] = float(np.median(rounds))
    out["threads_scaling"] = out["tamis_2_threads"] / out["tamis_1_threads"]
    return out


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_corpus_arg(ap)
    add_quick_arg(ap)
    ap.add_argument("--output", default=None)
    args = ap.parse_args()
    need(BENCH, "fasttext", "pip install fasttext==0.9.3", args.quick)
    table = pq.read_table(corpus_path(args.corpus, BENCH), columns=["text", "domain"])
    rows = list(zip(table.column("domain").to_pylist(), table.column("text").to_pylist()))
    random.Random(0).shuffle(rows)
    n_eval = 2000 if args.quick else 10_000
    n_train = 3000 if args.quick else 15_000
    train_rows = [(d, t[:2000]) for d, t in rows[:n_train]]
    eval_texts = [t for _, t in rows[n_train : n_train + n_eval]]
    quotes = [(d.split("-")[1], t) for d, t in rows[:n_train] if d.startswith("quotes-")]
    results: dict = {
        "corpus_documents": len(rows),
        "eval_documents": len(eval_texts),
        "eval_mean_chars": float(np.mean([len(t) for t in eval_texts])),
        "train_documents": {"domain": len(train_rows), "lid": len(quotes)},
        "machine": platform.machine(),
        "cpus": _core.default_threads,
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        bigram = {"wordNgrams": 2, "minn": 0, "maxn": 0, "bucket": 200_000}
        train(train_rows, d / "domain-softmax", {"qnorm": True, "cutoff": 50_000}, **bigram)
        train(train_rows, d / "domain-hs", loss="hs", **bigram)
        train(
            train_rows, d / "domain-ova", loss="ova", wordNgrams=1, minn=3, maxn=5, bucket=200_000
        )
        lid = {"wordNgrams": 1, "minn": 2, "maxn": 4, "bucket": 200_000}
        train(quotes, d / "lid", {"qnorm": True, "cutoff": 20_000}, **lid)
        variants = {
            "domain softmax, word bigrams (.bin)": d / "domain-softmax.bin",
            "domain softmax, word bigrams (.ftz)": d / "domain-softmax.ftz",
            "domain hs, word bigrams (.bin)": d / "domain-hs.bin",
            "domain ova, subwords 3-5 (.bin)": d / "domain-ova.bin",
            "language ID, subwords 2-4 (.bin)": d / "lid.bin",
            "language ID, subwords 2-4 (.ftz)": d / "lid.ftz",
        }
        for name, path in variants.items():
            model = FastTextModel(path)
            ref = reference(str(path), eval_texts, 2)
            entry = {"labels": len(model.labels), "loss": model.loss, "quantized": model.quantized}
            entry.update(agreement(model, ref, eval_texts, 2))
            results["models"][name] = entry
            print(f"{name}: {entry}", flush=True)
        repeat = 1 if args.quick else 5
        # The machine is shared: the load average says how much the speed figures mean.
        results["load_average_before_speed"] = list(os.getloadavg())
        results["speed_docs_per_s"] = {
            name: speed(str(variants[name]), eval_texts, repeat)
            for name in (
                "domain softmax, word bigrams (.bin)",
                "language ID, subwords 2-4 (.ftz)",
            )
        }
        results["load_average_after_speed"] = list(os.getloadavg())
        for name, s in results["speed_docs_per_s"].items():
            scalars = {k: v for k, v in s.items() if not isinstance(v, list)}
            print(f"{name}: " + ", ".join(f"{k} {v:,.2f}" for k, v in scalars.items()), flush=True)
        print(
            f"{'model (tamis / bindings: best rounds; median)':48} {'1 thread':>14} {'2 threads':>14}"
        )
        for name, s in results["speed_docs_per_s"].items():
            one = f"{s['speedup_1']:.2f}x; {s['speedup_1_median']:.2f}x"
            two = f"{s['speedup_2']:.2f}x; {s['speedup_2_median']:.2f}x"
            print(f"{name:48} {one:>14} {two:>14}")
        print(
            f"load average {results['load_average_before_speed']} -> "
            f"{results['load_average_after_speed']}"
        )
    out = out_path(args.output, "quality_fasttext.json", args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
