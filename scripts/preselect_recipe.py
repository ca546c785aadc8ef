#!/usr/bin/env python3
"""PreSelect end to end on the shipped sample, with tiny local models (CPU, no download).

Shum et al. 2025, "Predictive Data Selection: The Data That Predicts Is the Data That Teaches":

1. N language models of different abilities. Here: four tiny Llamas (2 layers, width 64, a BPE
   tokenizer trained on the sample), each trained from scratch for the same number of steps on a
   different mixture of the sample's domains (docs only, docs + code, code only, tests only).
   Their "benchmark": minus their bits per character on the held-out python-docs target
   (``data/sample/target.jsonl.gz``). Models that differ only in training length would rank the
   same on every document (every document's strength would be 1): PreSelect needs models whose
   ranking varies with the data.
2. Score a sample of documents with every model (:class:`tamis.LMScorer`): normalised loss =
   bits per character (:func:`tamis.quality.bits_per_character`).
3. Each document's predictive strength (:func:`tamis.quality.predictive_strength`): the share of
   model pairs its losses rank as the benchmark does. Top 30%: positives, bottom 30%: negatives.
4. Train :class:`tamis.quality.HashedClassifier` on them and score the whole corpus with it; keep
   the documents whose probability of being "predictive" is at least 0.5.

Usage (needs torch, transformers, tokenizers: ``pip install 'tamis[torch]'``)::

    python scripts/preselect_recipe.py [--docs 400] [--out preselected.jsonl] [--seed 0]

Prints the predictive-strength distribution, the classifier's held-out accuracy on the labelled
sample, and the domain shares of the kept documents against the corpus.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"


def tokenizer(texts: list[str]):
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", pad_token="<pad>"
    )


def train_models(mixtures: list[list[str]], tok, n_steps: int, seed: int) -> list:
    """One tiny Llama per mixture of texts, each trained ``n_steps`` steps."""
    import torch
    import transformers

    out = []
    for texts in mixtures:
        ids = [torch.tensor(tok(t)["input_ids"][:128]) for t in texts if t]
        ids = [x for x in ids if len(x) >= 16]
        torch.manual_seed(seed)
        cfg = transformers.LlamaConfig(
            vocab_size=len(tok),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
        )
        model = transformers.LlamaForCausalLM(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        gen = np.random.default_rng(seed)
        model.train()
        for _ in range(n_steps):
            batch = [ids[i] for i in gen.choice(len(ids), 8)]
            x = torch.nn.utils.rnn.pad_sequence(batch, batch_first=True, padding_value=-100)
            labels = x.clone()
            x[x == -100] = tok.pad_token_id
            loss = model(input_ids=x, attention_mask=(labels != -100).long(), labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        out.append(model.eval())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=200, help="documents scored by the models")
    ap.add_argument("--steps", type=int, default=60, help="training steps per model")
    ap.add_argument("--chars", type=int, default=400, help="characters scored per document")
    ap.add_argument("--out", type=Path, default=None, help="write the kept documents here")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        print("preselect_recipe: needs torch and transformers (pip install 'tamis[torch]')")
        return 2
    import tamis
    from tamis.quality import (
        HashedClassifier,
        bits_per_character,
        label_by_strength,
        predictive_strength,
    )

    corpus = pa.Table.from_batches(
        list(tamis.read_batches(SAMPLE / "corpus.jsonl.gz", columns=["domain"]))
    )
    target = [
        t
        for b in tamis.read_batches(SAMPLE / "target.jsonl.gz", columns=[])
        for t in b.column("text").to_pylist()
    ]
    texts = corpus.column("text").to_pylist()
    rng = np.random.default_rng(args.seed)
    # Random order: label_by_strength breaks ties by position. Documents are cut to --chars
    # characters so that every scored character fits in the models' window.
    sample_idx = rng.choice(len(texts), args.docs, replace=False)
    sample = [texts[i][: args.chars] for i in sample_idx]
    target = [t[: args.chars] for t in target]

    # 1. Models of different ability, and their benchmark.
    tok = tokenizer(texts[:1000])
    domains = np.asarray(corpus.column("domain").to_pylist())
    by = {d: [t for t, x in zip(texts, domains) if x == d] for d in set(domains.tolist())}
    mixtures = {
        "docs": by["python-docs"],
        "docs+code": by["python-docs"] + by["python-code"],
        "code": by["python-code"],
        "tests": by["python-tests"],
    }
    models = train_models(list(mixtures.values()), tok, args.steps, args.seed)
    n_chars_target = np.array([len(t) for t in target[:50]])
    scores = []
    for m in models:
        s = tamis.LMScorer(m, tok, device="cpu", max_length=256).score(target[:50], ["sum_nll"])
        bpc = bits_per_character(s.column("sum_nll").to_numpy(), n_chars_target)
        scores.append(-float(np.mean(bpc)))
    print("benchmark (minus target bits/char) per model:", flush=True)
    print(" ", dict(zip(mixtures, np.round(scores, 3).tolist())))

    # 2. Normalised losses of the sample under every model.
    n_chars = np.array([len(t) for t in sample])
    losses = np.stack(
        [
            bits_per_character(
                tamis.LMScorer(m, tok, device="cpu", max_length=256)
                .score(sample, ["sum_nll"])
                .column("sum_nll")
                .to_numpy(),
                n_chars,
            )
            for m in models
        ],
        axis=1,
    )

    # 3. Predictive strength and labels.
    strength = predictive_strength(losses, scores)
    labels = label_by_strength(strength, positive_fraction=0.3, negative_fraction=0.3)
    hist = collections.Counter(np.round(strength, 2).tolist())
    print("predictive strength (value: documents):", dict(sorted(hist.items())))
    sample_dom = domains[sample_idx]
    for d in sorted(by):
        print(f"  mean strength of {d:<13} {np.nanmean(strength[sample_dom == d]):.3f}")

    # 4. Classifier: trained on the labelled sample (3/4), checked on the rest, then filter.
    used = np.flatnonzero(labels >= 0)
    train, test = used[np.arange(len(used)) % 4 != 0], used[np.arange(len(used)) % 4 == 0]
    clf = HashedClassifier(class_weight="balanced", l2=1e-4)
    clf.fit([sample[i] for i in train], labels[train])
    acc = clf.score([sample[i] for i in test], labels[test])
    print(f"classifier: {len(train)} training documents, held-out accuracy {acc:.3f}")
    proba = clf.predict_proba(corpus.column("text"))[:, 1]
    keep = proba >= 0.5
    domains = np.asarray(corpus.column("domain").to_pylist())
    print(f"kept {int(keep.sum())} of {len(keep)} documents; domain shares kept vs corpus:")
    for d in sorted(set(domains.tolist())):
        print(f"  {d:<14} {np.mean(domains[keep] == d):6.1%}  {np.mean(domains == d):6.1%}")
    if args.out is not None:
        from tamis.output import open_sink

        table = corpus.filter(pa.array(keep)).append_column(
            "score", pa.array(proba[keep], pa.float64())
        )
        with open_sink(args.out, "preselect_recipe", {"docs": args.docs}, table.schema) as sink:
            sink.write(table)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
