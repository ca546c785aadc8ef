"""Tokenizer, packing, model and training loop of benches/proxy_training.py.

A byte-level BPE tokenizer (``tokenizers``), documents packed as ``<s> doc`` into one stream, a
Llama-style causal LM (``transformers.LlamaConfig``) trained from scratch with AdamW (betas 0.9,
0.95, weight decay 0.1), linear warmup over 10% of the steps then cosine decay to 10% of the peak
learning rate, gradient clipping at 1. Losses are mean token cross-entropies in nats.
"""

from __future__ import annotations

import math

import numpy as np


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
