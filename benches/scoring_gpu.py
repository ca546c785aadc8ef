#!/usr/bin/env python3
"""LM scoring throughput on one GPU: a naive padded Hugging Face loop vs tamis LMScorer.

One prepared run, no downloads (issue 18): a ~134M-parameter Llama built from a config (hidden
768, 12 layers, 12 heads, MLP 2048, vocab 32000; random weights, bf16), a byte-level BPE
tokenizer trained on the spot on the shipped sample corpus (``--byte-tokens`` skips training:
token = byte + 2), and documents cut from the sample corpus to a seeded log-normal length mix
(median ~450 tokens, a long tail past ``--max-length``, so padding matters as it does on web
text). Every method scores the same pre-tokenised documents (tokenisation is timed once,
separately), truncated at ``--max-length`` tokens:

- ``naive``: batches of 32 documents in input order, right-padded, ``model(...).logits`` in full,
  fp32 log-softmax at every position, masked per-document sums (what most scripts do);
- ``tamis padded``: ``LMScorer(pack=False)``: length-sorted token-budget batches, chunked head;
- ``tamis packed``: ``LMScorer(pack=True)``: documents packed into rows of ``max_length`` tokens
  with per-document attention (SDPA 4-D mask, or flash-attention varlen when flash-attn is
  installed), so no compute goes to padding;
- ``tamis packed + compile``: the same through ``torch.compile`` (skipped with --no-compile).

It prints tokens/s (scored tokens; padding excluded), the share of computed tokens that were
real, peak GPU memory, MFU (2 × non-embedding parameters × tokens/s over the bf16 dense peak,
989 TFLOP/s for an H100 SXM unless --peak-tflops says otherwise; attention's L² term not
counted) and the largest |mean NLL − naive's|, and writes bench-results/scoring_gpu.json.
Sized for well under 5 minutes on one H100/H200. Without a CUDA device (or without torch) it
says so and exits with status 0.

    bash benches/scoring_gpu.sh                 # or: python benches/scoring_gpu.py
    python benches/scoring_gpu.py --docs 2000 --no-compile
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, SAMPLE_CORPUS, rel

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: transformers.LlamaConfig fields of the ~134M model.
MODEL = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_key_value_heads": 12,
    "intermediate_size": 2048,
    "vocab_size": 32000,
}


#: The --cpu-smoke model: 2 layers, byte vocabulary (256 bytes + BOS + padding).
SMOKE_MODEL = dict(zip(MODEL, (64, 2, 4, 4, 128, 258), strict=True))


def gpu_or_exit(smoke: bool) -> tuple[object, str]:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as e:
        print(f"scoring_gpu: skipped, {e.name} is not installed (pip install -e '.[torch]')")
        raise SystemExit(0) from None
    if smoke:
        return torch, "cpu (smoke test)"
    if not torch.cuda.is_available():
        print("scoring_gpu: skipped, no CUDA device")
        raise SystemExit(0)
    return torch, torch.cuda.get_device_name(0)


def documents(n: int, seed: int, median_chars: int = 1800) -> list[str]:
    """``n`` documents cut from the sample corpus to a log-normal length mix (chars)."""
    with gzip.open(SAMPLE_CORPUS, "rt", encoding="utf-8") as f:
        pool = [t for t in (json.loads(line).get("text") for line in f) if t]
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(math.log(median_chars), 1.0, n), 40, None).astype(int)
    out = []
    for i, m in enumerate(lengths.tolist()):
        text = pool[(i * 7919) % len(pool)]
        while len(text) < m:  # a long document: several corpus texts in a row
            text += "\n\n" + pool[rng.integers(len(pool))]
        start = int(rng.integers(0, len(text) - m + 1))
        out.append(text[start : start + m])
    return out


def tokenizer(texts: list[str], byte_tokens: bool) -> object:
    """A transformers tokenizer: byte-level BPE trained here, or bytes + 2 (ids 0/1: BOS/pad)."""
    import transformers

    if byte_tokens:
        return ByteTokenizer()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=MODEL["vocab_size"],
        special_tokens=["<s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts[:3000], trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", pad_token="<pad>"
    )


class ByteTokenizer:
    """The fallback tokenizer: UTF-8 bytes, id = byte + 2 (0: BOS, 1: padding)."""

    bos_token_id = 0

    def __call__(self, texts: list[str], **_: object) -> dict[str, list[list[int]]]:
        return {"input_ids": [[b + 2 for b in t.encode()] for t in texts]}


def encode(tok: object, texts: list[str]) -> list[np.ndarray]:
    """Token ids with the BOS (id 0) prepended."""
    ids = tok(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]
    return [np.asarray([tok.bos_token_id, *x], dtype=np.int64) for x in ids]


def build_model(torch: object, device: str) -> tuple[object, int]:
    import transformers

    attn = "sdpa"
    with contextlib.suppress(ImportError):
        import flash_attn  # noqa: F401

        attn = "flash_attention_2"
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        **MODEL, max_position_embeddings=4096, bos_token_id=0, pad_token_id=1
    )
    cfg._attn_implementation = attn
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = transformers.LlamaForCausalLM(cfg).to(device, dtype=dtype).eval()
    return model, sum(p.numel() for p in model.parameters())


def naive(torch: object, model: object, seqs: list[np.ndarray], max_length: int) -> tuple:
    device = next(model.parameters()).device
    """Padded batches of 32 in input order, full logits, fp32 log-softmax everywhere."""
    out, computed = [], 0
    for i in range(0, len(seqs), 32):
        batch = [s[:max_length] for s in seqs[i : i + 32]]
        width = max(len(s) for s in batch)
        ids = torch.ones(len(batch), width, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for r, s in enumerate(batch):
            ids[r, : len(s)] = torch.from_numpy(s)
            mask[r, : len(s)] = 1
        ids, mask = ids.to(device), mask.to(device)
        computed += ids.numel()
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
        with torch.inference_mode(), amp or contextlib.nullcontext():
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            logp = torch.log_softmax(logits, -1)
            lp = logp.gather(2, ids[:, 1:, None])[..., 0]
            m = mask[:, 1:].float()
            nll = -(lp * m).sum(1) / m.sum(1)
        out.extend(nll.tolist())
    return np.array(out), computed


def computed_tokens(scorer: object, seqs: list[np.ndarray]) -> int:
    """Tokens the scorer's forward passes compute (padding included), from its own batching."""
    from tamis.scoring import token_budget_batches
    from tamis.scoring._packing import pack_rows

    lengths = np.array([min(len(s), scorer.max_length) for s in seqs])
    lengths = lengths[lengths > 1]
    if scorer.pack:
        rows = pack_rows(lengths, scorer.max_length)
        if scorer.compile:
            return len(rows) * scorer.max_length
        per = max(1, scorer.token_budget // scorer.max_length)
        return sum(
            len(group) * max(int(lengths[r].sum()) for r in group)
            for group in (rows[i : i + per] for i in range(0, len(rows), per))
        )
    return sum(
        len(b) * int(lengths[b].max()) for b in token_budget_batches(lengths, scorer.token_budget)
    )


def timed(torch: object, fn: object) -> tuple[object, float, float]:
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = fn()
    if cuda:
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
    return res, time.perf_counter() - t0, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=6000)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--token-budget", type=int, default=None, help="default 64 × max-length")
    ap.add_argument("--byte-tokens", action="store_true", help="bytes as tokens, no BPE training")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak (H100 SXM)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="default bench-results/scoring_gpu.json")
    ap.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="check the script on CPU: a 2-layer model, 48 docs of <= 128 tokens, byte tokens, "
        "results in bench-results/tmp/",
    )
    args = ap.parse_args()
    if args.cpu_smoke:
        MODEL.update(SMOKE_MODEL)
        args.docs, args.max_length, args.byte_tokens = 48, 128, True
        args.no_compile = True
    out = Path(args.out or RESULTS / ("tmp" if args.cpu_smoke else "") / "scoring_gpu.json")
    device = "cpu" if args.cpu_smoke else "cuda"
    torch, gpu = gpu_or_exit(args.cpu_smoke)
    from tamis.scoring import LMScorer

    t_start = time.perf_counter()
    texts = documents(args.docs, args.seed, 60 if args.cpu_smoke else 1800)
    tok = tokenizer(texts, args.byte_tokens)
    t0 = time.perf_counter()
    seqs = encode(tok, texts)
    t_tok = time.perf_counter() - t0
    model, n_params = build_model(torch, device)
    flop_params = n_params - model.get_input_embeddings().weight.numel()
    budget = args.token_budget or 64 * args.max_length
    lengths = np.array([len(s) for s in seqs])
    tokens = int(np.minimum(lengths, args.max_length).sum() - len(seqs))  # scored tokens
    print(
        f"GPU {gpu}, torch {torch.__version__}, attention {model.config._attn_implementation}; "
        f"llama {n_params / 1e6:.0f}M params, {len(seqs)} docs from {rel(SAMPLE_CORPUS)}, "
        f"{tokens:,} scored tokens (median doc {int(np.median(lengths))} tokens, "
        f"{np.mean(lengths > args.max_length):.0%} truncated at {args.max_length}); "
        f"tokenised at {lengths.sum() / t_tok:,.0f} tokens/s",
        flush=True,
    )

    def scorer(**kw: object) -> object:
        s = LMScorer(
            model, tok, device=device, max_length=args.max_length, token_budget=budget, **kw
        )
        return s

    methods = [("naive HF loop", None)]
    methods += [("tamis padded", scorer(pack=False)), ("tamis packed", scorer(pack=True))]
    if not args.no_compile:
        methods.append(("tamis packed + compile", scorer(pack=True, compile=True)))
    rows, ref = [], None
    for label, s in methods:
        if s is None:
            run = lambda: naive(torch, model, seqs, args.max_length)  # noqa: E731
        else:
            run = lambda s=s: (  # noqa: E731
                s.score_ids(seqs, ["mean_nll"])["mean_nll"].to_numpy(),
                computed_tokens(s, seqs),
            )
        # Warm up kernels and the allocator; a compiled scorer sees every shape of the timed run
        # (full batches and the last one), so no compilation is timed.
        warm = seqs if s is not None and s.compile else seqs[:: max(1, len(seqs) // 256)]
        if s is None:
            naive(torch, model, warm, args.max_length)
        else:
            s.score_ids(warm, ["mean_nll"])
        (nll, computed), secs, peak = timed(torch, run)
        ref = nll if ref is None else ref
        ok = ~np.isnan(nll) & ~np.isnan(ref)
        tps = tokens / secs
        row = {
            "method": label,
            "seconds": round(secs, 3),
            "tokens_per_s": round(tps),
            "real_token_share": round(tokens / computed, 3),
            "peak_gpu_gb": round(peak, 2),
            "mfu": round(2 * flop_params * tps / (args.peak_tflops * 1e12), 4),
            "max_abs_mean_nll_diff_vs_naive": float(np.max(np.abs(nll[ok] - ref[ok]))),
        }
        rows.append(row)
        print(
            f"{label:<24} {secs:7.2f} s {tps:>12,.0f} tokens/s  real {row['real_token_share']:.2f}"
            f"  MFU {100 * row['mfu']:4.1f}%  peak {peak:5.1f} GB"
            f"  |Δ mean NLL| {row['max_abs_mean_nll_diff_vs_naive']:.1e}",
            flush=True,
        )
    base = rows[0]["seconds"]
    for r in rows:
        r["speedup_vs_naive"] = round(base / r["seconds"], 2)
    print(
        "speed-up vs naive: " + ", ".join(f"{r['method']} {r['speedup_vs_naive']}x" for r in rows)
    )
    result = {
        "gpu": gpu,
        "torch": torch.__version__,
        "attention": model.config._attn_implementation,
        "model": {
            **MODEL,
            "params": n_params,
            "dtype": str(next(model.parameters()).dtype),
            "init": "random",
        },
        "tokenizer": "bytes"
        if isinstance(tok, ByteTokenizer)
        else "byte-level BPE trained on the sample corpus",
        "docs": len(seqs),
        "scored_tokens": tokens,
        "median_doc_tokens": int(np.median(lengths)),
        "max_length": args.max_length,
        "token_budget": budget,
        "tokenize_tokens_per_s": round(lengths.sum() / t_tok),
        "rows": rows,
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {rel(out)} ({result['total_seconds']} s in all)")


if __name__ == "__main__":
    sys.exit(main())
