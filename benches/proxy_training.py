#!/usr/bin/env python3
"""Proxy training: does a model trained on tamis' selections fit the target domain better than
one trained on the same number of random tokens? (issue 17; first version)

1. Split. From the shared corpus, one target domain (``--target-domain``, several allowed)
   gives a *target sample* (what the selectors see, ``--n-target`` docs) and a disjoint
   *target eval* set; a random *general eval* set is drawn from all domains. The *raw pool* is
   a random subset (``--raw``) of the remaining documents: the other domains and the rest of
   the target domain, as in a real pool.
2. Select. Each method ranks/samples ``k`` raw documents; the selection is shuffled (fixed
   seed) and cut to exactly the same number of tokens (``budget``), each document truncated to
   ``--max-doc-tokens``. Methods: ``random``; ``dsir`` (``ImportanceResampler()`` defaults);
   ``dsir-reference`` (``ImportanceResampler.reference()``, the settings of data-selection
   1.0.3); ``dedup+dsir`` (``MinHashDeduplicator()`` on the raw pool, then DSIR defaults);
   ``classifier`` (``tamis.quality.classifier_select``, target vs raw). Selection time is
   wall-clock, including fitting, at ``n_threads=1``. Selection uses seed 0 for every
   training seed, so the reported std is training noise only.
3. Train. A byte-level BPE tokenizer (``tokenizers``) trained once on a random sample of the
   raw pool (shared by every method); a Llama-style model (``transformers.LlamaConfig``)
   trained from scratch on each selection for a fixed number of steps (AdamW, warmup + cosine),
   ``--seeds`` seeds (``torch.manual_seed``), torch at ``--torch-threads`` threads.
4. Report. Per method: mean ± std over seeds of the held-out target-domain loss and of the
   general held-out loss (mean token cross-entropy, nats), the target loss at a few points
   of training (loss vs tokens), the KL reduction of the selection (``kl_reduction`` of one
   DSIR-default resampler fitted on target vs raw, so every method is measured the same way),
   and the Pearson correlation between KL reduction and mean target loss across methods and
   targets, with its sample size.

Usage::

    python benches/proxy_training.py [--quick] [--preset cpu|gpu] [--target-domain python-docs ...]

Writes ``bench-results/proxy_training.json`` (``bench-results/tmp/`` with ``--quick``, unless
``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import tamis
from _common import add_corpus_arg, add_quick_arg, corpus_path, out_path
from tamis import ImportanceResampler, MinHashDeduplicator
from tamis.quality import classifier_select

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

METHODS = ("random", "dsir", "dsir-reference", "dedup+dsir", "classifier")

# Model and training sizes. "cpu": ~1.5M parameters (2 cores); "gpu": ~30M, for one GPU run.
PRESETS = {
    "cpu": {
        "vocab": 4096,
        "hidden": 128,
        "layers": 4,
        "heads": 4,
        "inter": 384,
        "seq": 256,
        "batch": 16,
        "steps": 600,
        "lr": 3e-3,
        "raw": 20_000,
        "n_target": 500,
        "n_eval": 200,
        "seeds": 3,
        "eval_every": 150,
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
        "eval_every": 500,
        "tok_docs": 3000,
    },
}
# Quick: a smoke test (~0.2M parameters, ~60k tokens per run); its losses are not the figures.
QUICK = {"vocab": 1024, "hidden": 64, "heads": 4, "inter": 192, "layers": 2, "seq": 128, "batch": 8, "steps": 60,
             "raw": 3000, "n_target": 200, "n_eval": 40, "seeds": 2, "eval_every": 30, "tok_docs": 300}  # fmt: skip


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


def select_all(
    raw: pa.Table, target: pa.Table, k: int, methods: list[str]
) -> dict[str, tuple[np.ndarray, float]]:
    """Method → (selected raw row indices, selection seconds)."""
    out: dict[str, tuple[np.ndarray, float]] = {}
    for m in methods:
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
        else:
            raise ValueError(f"unknown method {m!r}")
        out[m] = (np.asarray(idx, dtype=np.int64), time.perf_counter() - t0)
        print(f"  selected {m}: {out[m][1]:.1f}s", flush=True)
    return out


def train_tokenizer(texts: list[str], vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def pack(tok, texts: list[str], n_tokens: int, max_doc: int) -> tuple[np.ndarray, int, int]:
    """Concatenate ``<s> doc`` (each doc cut to ``max_doc`` tokens) up to ``n_tokens`` tokens.
    Returns the stream, how many documents it used and their token count; a stream shorter than ``n_tokens`` is
    repeated (the JSON records the number of epochs)."""
    bos = tok.token_to_id("<s>")
    parts: list[list[int]] = []
    total = 0
    for i in range(0, len(texts), 256):
        for enc in tok.encode_batch(texts[i : i + 256]):
            ids = [bos, *enc.ids[: max_doc - 1]]
            parts.append(ids)
            total += len(ids)
            if total >= n_tokens:
                break
        if total >= n_tokens:
            break
    stream = np.fromiter((t for p in parts for t in p), dtype=np.int64)
    n_unique = len(stream)
    if n_unique < n_tokens:
        stream = np.resize(stream, n_tokens)
    return stream[:n_tokens], len(parts), n_unique


def build_model(cfg: dict, seed: int):
    import torch
    import transformers

    torch.manual_seed(seed)
    mc = transformers.LlamaConfig(
        vocab_size=cfg["vocab"],
        hidden_size=cfg["hidden"],
        intermediate_size=cfg["inter"],
        num_hidden_layers=cfg["layers"],
        num_attention_heads=cfg["heads"],
        num_key_value_heads=cfg["heads"],
        max_position_embeddings=cfg["seq"],
        tie_word_embeddings=True,
    )
    return transformers.LlamaForCausalLM(mc)


def eval_loss(model, blocks, device: str, bs: int = 16) -> float:
    import torch

    model.eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(blocks), bs):
            x = blocks[i : i + bs].to(device)
            loss = model(input_ids=x, labels=x).loss
            tot += float(loss) * len(x)
            n += len(x)
    model.train()
    return tot / n


def train(cfg: dict, stream: np.ndarray, evals: dict, seed: int, device: str) -> dict:
    import torch

    model = build_model(cfg, seed).to(device)
    seq, bs, steps = cfg["seq"], cfg["batch"], cfg["steps"]
    blocks = torch.from_numpy(stream.reshape(-1, seq))
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(blocks), generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.1, betas=(0.9, 0.95))
    warm = max(1, steps // 10)

    def lr_at(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    curve = []
    for s in range(steps):
        x = blocks[order[s * bs : (s + 1) * bs]].to(device)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if (s + 1) % cfg["eval_every"] == 0 and s + 1 < steps:
            curve.append(
                {"tokens": (s + 1) * bs * seq, "target": eval_loss(model, evals["target"], device)}
            )
    final = {name: eval_loss(model, b, device) for name, b in evals.items()}
    curve.append({"tokens": steps * bs * seq, "target": final["target"]})
    return {"target_loss": final["target"], "general_loss": final["general"], "curve": curve}


def ms(xs: list[float]) -> dict:
    a = np.asarray(xs, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0}


def run_target(pool: pa.Table, target_domain: str, cfg: dict, methods: list[str], device: str):
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

    eval_tok = cfg["n_eval"] * cfg["seq"] * 2
    evals = {
        "target": blocks(sp["target_eval"], eval_tok),
        "general": blocks(sp["general_eval"], eval_tok),
    }

    print(f"  tokenizer {tok_s:.1f}s, budget {budget} tokens, k {k}", flush=True)
    sels = select_all(raw, target, k, methods)
    kl_model = ImportanceResampler(n_threads=1).fit(target, raw)
    raw_domain = np.asarray(
        pool.column("domain").take(pa.array(sp["raw"])).to_numpy(zero_copy_only=False)
    )
    results = {}
    for m, (idx, sel_s) in sels.items():
        order = np.random.default_rng(1).permutation(idx)
        sel_texts = [raw_texts[i] for i in order]
        stream, n_docs, n_unique = pack(tok, sel_texts, budget, cfg["max_doc"])
        epochs = budget / n_unique
        used = order[:n_docs]
        kl = kl_model.kl_reduction([raw_texts[i] for i in used])
        runs = []
        for seed in range(cfg["seeds"]):
            t1 = time.perf_counter()
            r = train(cfg, stream, evals, seed, device)
            r["train_s"] = time.perf_counter() - t1
            print(f"    trained {m} seed {seed}: {r['train_s']:.1f}s", flush=True)
            runs.append(r)
        share = float(np.mean(raw_domain[used] == target_domain))
        results[m] = {
            "selection_s": sel_s,
            "k_selected": len(idx),
            "docs_used": int(n_docs),
            "epochs": epochs,
            "target_domain_share": share,
            "kl_reduction": float(kl),
            "target_loss": ms([r["target_loss"] for r in runs]),
            "general_loss": ms([r["general_loss"] for r in runs]),
            "runs": runs,
        }
        print(
            f"  {target_domain:12s} {m:15s} sel {sel_s:6.1f}s  share {share:.2f}  "
            f"KLred {kl:7.3f}  target {results[m]['target_loss']['mean']:.3f}"
            f"±{results[m]['target_loss']['std']:.3f}  general "
            f"{results[m]['general_loss']['mean']:.3f}±{results[m]['general_loss']['std']:.3f}",
            flush=True,
        )
    return {
        "n_raw": raw.num_rows,
        "n_target_sample": len(sp["target"]),
        "n_eval_docs": cfg["n_eval"],
        "eval_blocks": {n: len(b) for n, b in evals.items()},
        "budget_tokens": budget,
        "k": k,
        "tokenizer_s": tok_s,
        "methods": results,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arg(ap)
    add_quick_arg(ap)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    ap.add_argument("--target-domain", nargs="+", default=None, help="default: python-docs "
                    "(quick) or python-docs kernel-docs quotes-de")  # fmt: skip
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--raw", type=int, default=None, help="raw pool size (documents)")
    ap.add_argument("--max-doc-tokens", type=int, default=1024)
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.torch_threads)
    device = "cuda" if args.preset == "gpu" and torch.cuda.is_available() else "cpu"
    cfg = dict(PRESETS[args.preset])
    if args.quick:
        cfg.update(QUICK)
    for key in ("seeds", "steps", "raw"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    cfg["max_doc"] = args.max_doc_tokens
    cfg["eval_every"] = min(cfg["eval_every"], cfg["steps"])
    targets = args.target_domain or (
        ["python-docs"] if args.quick else ["python-docs", "kernel-docs", "quotes-de"]
    )
    pool = pq.read_table(
        corpus_path(args.corpus, "proxy_training"), columns=["id", "text", "domain"]
    )
    n_params = sum(p.numel() for p in build_model(cfg, 0).parameters())
    print(f"proxy_training: preset {args.preset}{' (quick)' if args.quick else ''}, "
          f"{n_params / 1e6:.2f}M params, device {device}, targets {targets}", flush=True)  # fmt: skip

    t0 = time.perf_counter()
    per_target = {t: run_target(pool, t, cfg, args.methods, device) for t in targets}

    # KL reduction vs mean target loss, one point per (target, method); loss is centred per
    # target so that the differing difficulty of targets does not dominate the correlation.
    from scipy.stats import pearsonr

    xs, ys = [], []
    for res in per_target.values():
        base = np.mean([m["target_loss"]["mean"] for m in res["methods"].values()])
        for m in res["methods"].values():
            xs.append(m["kl_reduction"])
            ys.append(m["target_loss"]["mean"] - base)
    corr = None
    if len(xs) >= 3 and np.std(xs) > 0 and np.std(ys) > 0:
        r, p = pearsonr(xs, ys)
        corr = {"pearson_r": float(r), "p_value": float(p), "n": len(xs)}

    print(f"\n{'target':12s} {'method':15s} {'sel s':>7s} {'KL red':>8s} "
          f"{'target loss':>16s} {'general loss':>16s}")  # fmt: skip
    for t, res in per_target.items():
        for m, v in res["methods"].items():
            tl, gl = v["target_loss"], v["general_loss"]
            print(f"{t:12s} {m:15s} {v['selection_s']:7.1f} {v['kl_reduction']:8.3f} "
                  f"{tl['mean']:8.3f} ± {tl['std']:.3f} {gl['mean']:8.3f} ± {gl['std']:.3f}")  # fmt: skip
    print(f"corr(KL reduction, target loss − per-target mean): {corr}")

    out = out_path(args.out, "proxy_training.json", args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "bench": "proxy_training",
        "quick": bool(args.quick),
        "note": "quick run: smoke-test sizes, not the figures of issue 17"
        if args.quick
        else "full run",
        "preset": args.preset,
        "config": cfg,
        "n_params": n_params,
        "device": device,
        "torch_threads": args.torch_threads,
        "selection_seed": 0,
        "targets": per_target,
        "kl_vs_target_loss": corr,
        "total_s": time.perf_counter() - t0,
        "tamis": tamis.__version__,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
