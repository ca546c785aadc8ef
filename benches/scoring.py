#!/usr/bin/env python3
"""Throughput of tamis.scoring.LMScorer against a naive Hugging Face loop.

Both score the same documents (a seeded sample of the shared corpus, so a realistic length mix)
with the same randomly initialised Llama model and the same locally trained byte-level BPE
tokenizer, truncated at ``--max-length`` tokens:

- naive: padded batches of 32 documents in input order, ``model(...).logits`` in full, fp32
  log-softmax over every position, then the masked per-document sums (what most scripts do);
- tamis: ``LMScorer.score`` (length-sorted token-budget batches, chunked head, one device copy).

Tokens/s counts the *scored* tokens (padding excluded); both include tokenisation. The run prints
the device, checks that both give the same mean NLL, and writes bench-results/scoring.json.
On CUDA both run with bf16 weights (the naive loop under the same autocast), and the table adds
the peak GPU memory and the model FLOPs utilisation (2 × non-embedding parameters × tokens /
time / peak, attention's L² term not counted; H100 SXM dense bf16 peak 989 TFLOP/s unless
--peak-tflops says otherwise).

Documents come from ``--input`` (Parquet or JSONL); by default from the shared corpus that
``make corpus`` builds (data/corpus/pool.parquet), else from the shipped sample corpus
(data/sample/corpus.jsonl.gz), with a note. Needs the torch extra (``pip install -e '.[torch]'``).

CPU (CI-sized):  python benches/scoring.py --config tiny --docs 256
Smoke test:      python benches/scoring.py --quick   (64 documents of at most 256 tokens;
                 results go to bench-results/tmp/)
GPU (≤ 5 min):   bash benches/scoring_gpu.sh   (125m with 4096 docs, then 1b with 2048)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from _common import (
    DEFAULT_CORPUS,
    SAMPLE_CORPUS,
    add_quick_arg,
    corpus_path,
    need,
    out_path,
    rel,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CONFIGS = {
    # name: hidden, layers, heads, kv heads, intermediate, vocab
    "tiny": (64, 2, 4, 4, 128, 4096),
    "125m": (768, 12, 12, 12, 2048, 32000),
    "1b": (2048, 16, 32, 8, 5632, 32000),
}


def corpus(path: str | None) -> Path:
    """``path`` (which must exist), else the shared corpus, else the shipped sample corpus."""
    if path:
        return Path(corpus_path(path, "scoring"))
    if DEFAULT_CORPUS.is_file():
        return DEFAULT_CORPUS
    if SAMPLE_CORPUS.is_file():
        print(
            f"scoring: {rel(DEFAULT_CORPUS)} not found (`make corpus` builds it); "
            f"using the sample corpus {rel(SAMPLE_CORPUS)}",
            file=sys.stderr,
        )
        return SAMPLE_CORPUS
    return Path(corpus_path(None, "scoring"))


def load_texts(path: Path, n: int, seed: int) -> list[str]:
    import pyarrow.compute as pc
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    c = str(path)
    table = pq.read_table(c, columns=["text"]) if c.endswith(".parquet") else pj.read_json(c)
    table = table.filter(pc.invert(pc.is_null(table["text"])))
    rng = np.random.default_rng(seed)
    idx = rng.choice(table.num_rows, size=min(n, table.num_rows), replace=False)
    print(f"corpus: {rel(path)} ({table.num_rows} docs, sampled {len(idx)})", file=sys.stderr)
    return table.take(idx)["text"].to_pylist()


def build(config: str, texts: list[str], device: str) -> tuple[object, object, int]:
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    hidden, layers, heads, kv, inter, vocab = CONFIGS[config]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts[:2000], trainer)
    hf_tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", pad_token="<pad>"
    )
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        max_position_embeddings=4096,
    )
    model = transformers.LlamaForCausalLM(cfg).eval()
    if device.startswith("cuda"):
        model = model.to(device, dtype=torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    return model, hf_tok, n_params


def naive(model: object, tok: object, texts: list[str], max_length: int, device: str) -> tuple:
    """Padded batches of 32 in input order, full logits, fp32 log-softmax everywhere."""
    import contextlib

    import torch

    amp = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.startswith("cuda")
        else contextlib.nullcontext()
    )
    out, padded = [], 0
    for i in range(0, len(texts), 32):
        batch = [tok.bos_token + t for t in texts[i : i + 32]]
        enc = tok(
            batch,
            add_special_tokens=False,
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        padded += enc["input_ids"].numel()
        with torch.inference_mode(), amp:
            logits = model(**enc).logits[:, :-1].float()
            logp = torch.log_softmax(logits, -1)
            tgt = enc["input_ids"][:, 1:]
            lp = logp.gather(2, tgt[..., None])[..., 0]
            mask = enc["attention_mask"][:, 1:].float()
            nll = -(lp * mask).sum(1) / mask.sum(1)
        out.extend(nll.tolist())
    return np.array(out), padded


def timed(fn: object, device: str) -> tuple[object, float]:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        PEAK_GB.append(torch.cuda.max_memory_allocated() / 2**30)
    return res, time.perf_counter() - t0


PEAK_GB: list[float] = []  # CUDA peak memory of each timed call, in order


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=list(CONFIGS), default="tiny")
    ap.add_argument("--docs", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument(
        "--token-budget", type=int, default=None, help="default 16 (CPU) / 64 (CUDA) × max-length"
    )
    ap.add_argument(
        "--input",
        "--corpus",
        default=None,
        help=f"parquet/jsonl corpus (default: {rel(DEFAULT_CORPUS)}, else the sample corpus)",
    )
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="for MFU (H100 bf16 dense)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs, best is kept")
    ap.add_argument("--out", default=None, help="default bench-results/scoring.json")
    add_quick_arg(ap)
    args = ap.parse_args()
    source = corpus(args.input)
    if args.quick:
        args.config, args.docs, args.max_length = "tiny", min(args.docs, 64), 256
    for module in ("torch", "transformers", "tokenizers"):
        need("scoring", module, "the torch extra: pip install -e '.[torch]'", args.quick)

    import torch

    from tamis.scoring import LMScorer

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor()
    name = name or platform.machine()
    print(
        f"device: {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    texts = load_texts(source, args.docs, seed=0)
    model, tok, n_params = build(args.config, texts, device)
    # GPUs want big forwards (CoLoR-Filter's reference: 256 × 512 tokens); CPUs do not gain.
    # Matmul parameters: the input embedding is a lookup (attention's L² FLOPs are not counted).
    flop_params = n_params - model.get_input_embeddings().weight.numel()
    budget = args.token_budget or (64 if device.startswith("cuda") else 16) * args.max_length
    scorer = LMScorer(model, tok, device=device, max_length=args.max_length, token_budget=budget)
    # Warm up both paths (allocator, kernels) on a few documents.
    scorer.score(texts[:8], ["mean_nll"])
    naive(model, tok, texts[:8], args.max_length, device)

    best = {}
    PEAK_GB.clear()
    for _ in range(args.repeat):
        (ours_tab, t_ours) = timed(lambda: scorer.score(texts, ["mean_nll", "n_tokens"]), device)
        ((ref, padded), t_ref) = timed(
            lambda: naive(model, tok, texts, args.max_length, device), device
        )
        best["ours"] = min(best.get("ours", math.inf), t_ours)
        best["naive"] = min(best.get("naive", math.inf), t_ref)
    tokens = int(ours_tab["n_tokens"].to_numpy().sum())
    ours_nll = ours_tab["mean_nll"].to_numpy()
    ok = ~np.isnan(ours_nll)
    max_diff = float(np.nanmax(np.abs(ours_nll[ok] - ref[ok]))) if ok.any() else 0.0
    lengths = ours_tab["n_tokens"].to_numpy() + 1
    batches_budget = sum(
        len(b) * int(lengths[b].max())
        for b in __import__("tamis.scoring").scoring.token_budget_batches(lengths, budget)
    )
    rows = []
    for label, t, pad in (
        ("naive HF loop", best["naive"], padded),
        ("tamis LMScorer", best["ours"], batches_budget),
    ):
        tps = tokens / t
        mfu = (
            2 * flop_params * tps / (args.peak_tflops * 1e12) if device.startswith("cuda") else None
        )
        peaks = PEAK_GB[1::2] if label.startswith("naive") else PEAK_GB[0::2]
        rows.append(
            {
                "method": label,
                "seconds": round(t, 3),
                "tokens_per_s": round(tps, 1),
                "padded_tokens": int(pad),
                "padding_efficiency": round(tokens / max(pad, 1), 3),
                "mfu": None if mfu is None else round(mfu, 4),
                "peak_gpu_gb": round(max(peaks), 2) if peaks else None,
            }
        )
    ratio = best["naive"] / best["ours"]
    print(
        f"model: llama-{args.config} ({n_params / 1e6:.1f}M params), {len(texts)} docs, "
        f"{tokens} scored tokens, max_length {args.max_length}, token budget {budget}"
    )
    print(
        f"{'method':<16} {'seconds':>9} {'tokens/s':>12} {'pad eff':>8} {'MFU':>7} {'peak GB':>8}"
    )
    for r in rows:
        mfu = "-" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        print(
            f"{r['method']:<16} {r['seconds']:>9.2f} {r['tokens_per_s']:>12,.0f} "
            f"{r['padding_efficiency']:>8.2f} {mfu:>7} {r['peak_gpu_gb'] or '-':>8}"
        )
    print(f"speed-up: {ratio:.2f}x   max |mean_nll difference|: {max_diff:.2e}")
    result = {
        "device": device,
        "device_name": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "config": args.config,
        "params": n_params,
        "docs": len(texts),
        "tokens": tokens,
        "max_length": args.max_length,
        "token_budget": budget,
        "rows": rows,
        "speedup": round(ratio, 3),
        "max_mean_nll_diff": max_diff,
    }
    out = out_path(args.out, "scoring.json", args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(out.read_text()) if out.exists() else {}
    runs[f"{args.config}-{device}-{args.max_length}"] = result
    out.write_text(json.dumps(runs, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
