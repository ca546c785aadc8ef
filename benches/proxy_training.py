#!/usr/bin/env python3
"""Proxy training: does a model trained on tamis' selections fit the target domain better than
one trained on the same number of random tokens? (issue 17)

1. Split. From the shared corpus, one target domain (``--target-domain``, several allowed)
   gives a *target sample* (what the selectors see, ``n_target`` docs) and a disjoint *target
   eval* set; a random *general eval* set is drawn from all domains. The *raw pool* is a random
   subset (``--raw``) of the remaining documents: the other domains and the rest of the target
   domain, as in a real pool.
2. Select. Each method (``_proxy_select.METHODS``: random, DSIR default and reference settings,
   dedup then DSIR, the target classifier, cluster-DSIR, GOT-D, kNN and an l2 coreset on hashed
   LSA embeddings, a temperature mixture plan over domains) picks ``k`` raw documents; the
   selection is shuffled (fixed seed) and cut to exactly the same number of tokens
   (``budget``), each document truncated to ``--max-doc-tokens``. Selection time is wall-clock,
   fitting included, at ``n_threads=1``. Selection uses seed 0 for every training seed, so the
   reported std is training noise only.
3. Train (``_proxy_train``). A byte-level BPE tokenizer trained once per target on a random
   sample of the raw pool (shared by every method); a Llama-style model trained from scratch on
   each selection for a fixed number of steps, ``--seeds`` seeds, torch at ``--torch-threads``
   threads; targets run in ``--jobs`` parallel processes.
4. Report. Per method: mean ± std over seeds of the held-out target-domain loss and of the
   general held-out loss (mean token cross-entropy, nats), target loss vs tokens, the KL
   reduction of the selection (``kl_reduction`` of one DSIR-default resampler fitted on target
   vs raw, so every method is measured the same way), the gap to random in units of the pooled
   seed std (``z``; "beats random" is ``z > 3``), and the Pearson correlation between KL reduction
   and target loss (centred per target) over all (target, method) points, with its sample size.

Usage::

    python benches/proxy_training.py [--quick] [--preset cpu|gpu] [--jobs 2] [--target-domain ...]
    python benches/proxy_training_plot.py          # the PNG of loss vs tokens

Writes ``bench-results/proxy_training.json`` (``bench-results/tmp/`` with ``--quick``, unless
``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tamis
from _common import RESULTS, add_corpus_arg, add_quick_arg, corpus_path, out_path
from _proxy_select import METHODS, TARGET_FREE, select_all
from _proxy_train import build_model, pack, train, train_tokenizer
from tamis import ImportanceResampler

# Model and training sizes. "cpu": ~0.24M parameters, 205k tokens per run (sized so that 3
# targets x 10 methods x 3 seeds, --jobs 3, fit in ~1 h of 2 cores shared by ~9 agents: ~100 s
# per run at a load of 15); "gpu": ~34M parameters, 65M tokens per run (one GPU; not run yet).
PRESETS = {
    "cpu": {
        "vocab": 2048,
        "hidden": 64,
        "layers": 2,
        "heads": 4,
        "inter": 192,
        "seq": 128,
        "batch": 16,
        "steps": 100,
        "lr": 3e-3,
        "raw": 20_000,
        "n_target": 500,
        "n_eval": 150,
        "seeds": 3,
        "eval_every": 20,
        "tok_docs": 1000,
    },
    "gpu": {
        "vocab": 16384,
        "hidden": 512,
        "layers": 8,
        "heads": 8,
        "inter": 1408,
        "seq": 512,
        "batch": 32,
        "steps": 4000,
        "lr": 1e-3,
        "raw": 40_000,
        "n_target": 500,
        "n_eval": 300,
        "seeds": 3,
        "eval_every": 400,
        "tok_docs": 3000,
    },
}
# Quick: a smoke test (~0.2M parameters, ~60k tokens per run); its losses are not the figures.
QUICK = {"vocab": 1024, "hidden": 64, "heads": 4, "inter": 192, "layers": 2, "seq": 128, "batch": 8, "steps": 60,
             "raw": 3000, "n_target": 200, "n_eval": 40, "seeds": 2, "eval_every": 30, "tok_docs": 300}  # fmt: skip
DEFAULT_TARGETS = ["python-docs", "kernel-docs", "quotes-de"]


def split(pool: pa.Table, target: str, cfg: dict, rng: np.random.Generator) -> dict:
    """Indices of the target sample, target eval, general eval and raw pool (disjoint)."""
    domain = np.asarray(pool.column("domain").to_numpy(zero_copy_only=False))
    tgt = rng.permutation(np.flatnonzero(domain == target))
    n_t, n_e = cfg["n_target"], cfg["n_eval"]
    if len(tgt) < n_t + n_e + 50:
        raise SystemExit(f"proxy_training: domain {target!r} has only {len(tgt)} documents")
    target_idx, target_eval = tgt[:n_t], tgt[n_t : n_t + n_e]
    rest = np.setdiff1d(np.arange(pool.num_rows), tgt[: n_t + n_e])
    rest = rng.permutation(rest)
    general_eval = rest[:n_e]
    raw_idx = np.sort(rest[n_e : n_e + cfg["raw"]])
    return {
        "target": target_idx,
        "target_eval": target_eval,
        "general_eval": general_eval,
        "raw": raw_idx,
    }


def ms(xs: list[float]) -> dict:
    a = np.asarray(xs, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0}


def vs_random(res: dict) -> None:
    """Adds ``vs_random`` to every method: the target-loss gap ``random − method`` (positive:
    better than random), the pooled seed std ``sqrt((s_r² + s_m²) / 2)`` and ``z = gap / std``."""
    if "random" not in res:
        return
    r = res["random"]["target_loss"]
    for v in res.values():
        m = v["target_loss"]
        gap = r["mean"] - m["mean"]
        sd = math.sqrt((r["std"] ** 2 + m["std"] ** 2) / 2)
        z = gap / sd if sd > 0 else None
        v["vs_random"] = {"gap": gap, "pooled_std": sd, "z": z,
                          "beats_random_3sigma": bool(z is not None and z > 3)}  # fmt: skip


def correlation(per_target: dict, exclude: tuple[str, ...] = ()) -> dict | None:
    """Pearson r between KL reduction and target loss − per-target mean, one point per
    (target, method) outside ``exclude``."""
    from scipy.stats import pearsonr

    xs, ys = [], []
    for res in per_target.values():
        ms_ = {m: v for m, v in res["methods"].items() if m not in exclude}
        base = np.mean([v["target_loss"]["mean"] for v in ms_.values()])
        for v in ms_.values():
            xs.append(v["kl_reduction"])
            ys.append(v["target_loss"]["mean"] - base)
    if len(xs) < 3 or np.std(xs) == 0 or np.std(ys) == 0:
        return None
    r, p = pearsonr(xs, ys)
    return {"pearson_r": float(r), "p_value": float(p), "n": len(xs)}


def run_target(corpus: str, target_domain: str, cfg: dict, methods: list[str], device: str,
               threads: int) -> dict:  # fmt: skip
    """Split, select, train and evaluate for one target domain (runs in its own process)."""
    import torch

    torch.set_num_threads(threads)
    pool = pq.read_table(corpus, columns=["id", "text", "domain"])
    rng = np.random.default_rng(0)
    sp = split(pool, target_domain, cfg, rng)
    texts = pool.column("text")
    raw = pool.take(pa.array(sp["raw"])).select(["id", "text"])
    target = pool.take(pa.array(sp["target"])).select(["text"])
    raw_texts = raw.column("text").to_pylist()

    t0 = time.perf_counter()
    tok_sample = [raw_texts[i] for i in rng.choice(len(raw_texts), cfg["tok_docs"], replace=False)]
    tok = train_tokenizer(tok_sample, cfg["vocab"])
    tok_s = time.perf_counter() - t0

    budget = cfg["steps"] * cfg["batch"] * cfg["seq"]
    lens = [min(len(e.ids) + 1, cfg["max_doc"]) for e in tok.encode_batch(tok_sample[:200])]
    k = min(math.ceil(1.5 * budget / np.mean(lens)) + 10, raw.num_rows // 4)

    def blocks(idx: np.ndarray, n_tok: int):
        import torch

        ts = texts.take(pa.array(idx)).to_pylist()
        s, _, _ = pack(tok, ts, n_tok, cfg["max_doc"])
        return torch.from_numpy(s[: (len(s) // cfg["seq"]) * cfg["seq"]].reshape(-1, cfg["seq"]))

    eval_tok = cfg["n_eval"] * cfg["seq"]
    evals = {
        "target": blocks(sp["target_eval"], eval_tok),
        "general": blocks(sp["general_eval"], eval_tok),
    }

    print(f"  tokenizer {tok_s:.1f}s, budget {budget} tokens, k {k}", flush=True)
    raw_domain = np.asarray(
        pool.column("domain").take(pa.array(sp["raw"])).to_numpy(zero_copy_only=False)
    )
    sels, emb_s = select_all(raw, target, raw_domain, k, methods)
    kl_model = ImportanceResampler(n_threads=1).fit(target, raw)
    # What every selection is, before any training (kept even if training is cut short).
    selections, streams = {}, {}
    for m, (idx, sel_s) in sels.items():
        order = np.random.default_rng(1).permutation(idx)
        streams[m], n_docs, n_unique = pack(
            tok, [raw_texts[i] for i in order], budget, cfg["max_doc"]
        )
        used = order[:n_docs]
        selections[m] = {
            "selection_s": sel_s,
            "sees_target": m not in TARGET_FREE,
            "k_selected": len(idx),
            "docs_used": int(n_docs),
            "epochs": budget / n_unique,
            "target_domain_share": float(np.mean(raw_domain[used] == target_domain)),
            "kl_reduction": float(kl_model.kl_reduction([raw_texts[i] for i in used])),
        }  # fmt: skip
    head = {"n_raw": raw.num_rows, "budget_tokens": budget, "k": k, "tokenizer_s": tok_s,
            "embedding_s": emb_s, "selections": selections}  # fmt: skip
    partial = RESULTS / "tmp" / f"proxy_training_partial_{target_domain}.json"
    partial.parent.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for m, sel in selections.items():
        runs = []
        for seed in range(cfg["seeds"]):
            t1 = time.perf_counter()
            r = train(cfg, streams[m], evals, seed, device)
            r["train_s"] = time.perf_counter() - t1
            print(f"    {target_domain} trained {m} seed {seed}: {r['train_s']:.1f}s", flush=True)
            runs.append(r)
        results[m] = {
            **sel,
            "target_loss": ms([r["target_loss"] for r in runs]),
            "general_loss": ms([r["general_loss"] for r in runs]),
            "runs": runs,
        }
        partial.write_text(json.dumps({**head, "methods": results}, indent=1) + "\n")
        tl, gl = results[m]["target_loss"], results[m]["general_loss"]
        print(f"  {target_domain:12s} {m:15s} sel {sel['selection_s']:6.1f}s  share "
              f"{sel['target_domain_share']:.2f}  KLred {sel['kl_reduction']:7.3f}  target "
              f"{tl['mean']:.3f}±{tl['std']:.3f}  general {gl['mean']:.3f}±{gl['std']:.3f}",
              flush=True)  # fmt: skip
    vs_random(results)
    return {
        "n_raw": raw.num_rows,
        "n_target_sample": len(sp["target"]),
        "n_eval_docs": cfg["n_eval"],
        "eval_blocks": {n: len(b) for n, b in evals.items()},
        "budget_tokens": budget,
        "k": k,
        "tokenizer_s": tok_s,
        "embedding_s": emb_s,
        "selections": selections,
        "methods": results,
    }


def assemble(targets: list[str], methods: list[str]) -> tuple[dict, str]:
    """Per-target results from the partial files of an interrupted run, cut to the methods that
    finished on every target, and a note that says so."""
    parts = {}
    for t in targets:
        path = RESULTS / "tmp" / f"proxy_training_partial_{t}.json"
        if not path.is_file():
            raise SystemExit(f"proxy_training: no partial results for {t!r} ({path})")
        parts[t] = json.loads(path.read_text())
    done = [m for m in methods if all(m in p["methods"] for p in parts.values())]
    per_target = {}
    for t, p in parts.items():
        res = {m: p["methods"][m] for m in done}
        vs_random(res)
        per_target[t] = {**{k: v for k, v in p.items() if k != "methods"}, "methods": res}
    left = [m for m in methods if m not in done]
    note = (f"assembled from an interrupted full run (--assemble): methods {', '.join(done)} "
            f"finished on every target; not finished: {', '.join(left) or 'none'}")  # fmt: skip
    return per_target, note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arg(ap)
    add_quick_arg(ap)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    ap.add_argument("--target-domain", nargs="+", default=None, help="default: python-docs "
                    f"(quick) or {' '.join(DEFAULT_TARGETS)}")  # fmt: skip
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--raw", type=int, default=None, help="raw pool size (documents)")
    ap.add_argument("--max-doc-tokens", type=int, default=1024)
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="targets run in parallel processes")
    ap.add_argument("--out", default=None)
    ap.add_argument("--assemble", action="store_true", help="train nothing: write the JSON from "
                    "the per-method results an interrupted run left in bench-results/tmp/ (the "
                    "methods complete on every target; the note says so)")  # fmt: skip
    args = ap.parse_args()
    if "random" not in args.methods:
        args.methods.insert(0, "random")  # the baseline of every comparison

    import torch

    device = "cuda" if args.preset == "gpu" and torch.cuda.is_available() else "cpu"
    cfg = dict(PRESETS[args.preset])
    if args.quick:
        cfg.update(QUICK)
    for key in ("seeds", "steps", "raw"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    cfg["max_doc"] = args.max_doc_tokens
    cfg["eval_every"] = min(cfg["eval_every"], cfg["steps"])
    targets = args.target_domain or (["python-docs"] if args.quick else DEFAULT_TARGETS)
    corpus = corpus_path(args.corpus, "proxy_training")
    n_params = sum(p.numel() for p in build_model(cfg, 0).parameters())
    load0 = os.getloadavg()
    print(f"proxy_training: preset {args.preset}{' (quick)' if args.quick else ''}, "
          f"{n_params / 1e6:.2f}M params, device {device}, targets {targets}, "
          f"load {load0[0]:.1f}", flush=True)  # fmt: skip

    t0 = time.perf_counter()
    job = (cfg, args.methods, device, args.torch_threads)
    note = "quick run: smoke-test sizes, not the figures of issue 17" if args.quick else "full run"
    if args.assemble:
        per_target, note = assemble(targets, args.methods)
    elif args.jobs > 1 and len(targets) > 1:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that ran torch
        with ProcessPoolExecutor(min(args.jobs, len(targets)), mp_context=ctx) as ex:
            futs = {t: ex.submit(run_target, corpus, t, *job) for t in targets}
            per_target = {t: f.result() for t, f in futs.items()}
    else:
        per_target = {t: run_target(corpus, t, *job) for t in targets}

    # KL reduction vs mean target loss, one point per (target, method); loss is centred per
    # target so that the differing difficulty of targets does not dominate the correlation.
    corr = correlation(per_target)
    corr_aimed = correlation(per_target, exclude=TARGET_FREE)

    print(f"\n{'target':12s} {'method':15s} {'sel s':>7s} {'KL red':>8s} "
          f"{'target loss':>16s} {'z':>6s} {'general loss':>16s}")  # fmt: skip
    for t, res in per_target.items():
        for m, v in res["methods"].items():
            tl, gl, z = v["target_loss"], v["general_loss"], v["vs_random"]["z"]
            print(f"{t:12s} {m:15s} {v['selection_s']:7.1f} {v['kl_reduction']:8.3f} "
                  f"{tl['mean']:8.3f} ± {tl['std']:.3f} {z or 0:6.1f} "
                  f"{gl['mean']:8.3f} ± {gl['std']:.3f}")  # fmt: skip
    print(f"corr(KL reduction, target loss − per-target mean): {corr}; target-aware only: "
          f"{corr_aimed}")  # fmt: skip

    out = out_path(args.out, "proxy_training.json", args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    load1 = os.getloadavg()
    doc = {
        "bench": "proxy_training",
        "quick": bool(args.quick),
        "note": note,
        "preset": args.preset,
        "config": cfg,
        "methods": args.methods,
        "n_params": n_params,
        "device": device,
        "torch_threads": args.torch_threads,
        "jobs": args.jobs,
        "selection_seed": 0,
        "targets": per_target,
        "kl_vs_target_loss": corr,
        "kl_vs_target_loss_target_aware": corr_aimed,
        "total_s": time.perf_counter() - t0,
        "load_avg_1m": {"start": load0[0], "end": load1[0]},
        "tamis": tamis.__version__,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
