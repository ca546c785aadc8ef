"""Packed LM scoring (tamis.scoring._packing) against the unpacked path, on CPU with tiny models.

Packing puts several documents in one row with per-document position ids and block-diagonal
causal attention; every metric must equal the padded path's (NLL to 1e-4, as issue 18 asks),
for SDPA and eager attention, with strided windows of long documents and with documents longer
than a row (truncated). The flash-attention (varlen) path needs a GPU and flash-attn; it is
exercised by benches/scoring_gpu.sh.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tamis.scoring import LMScorer
from tamis.scoring._packing import pack_rows

os.environ.setdefault("HF_HUB_OFFLINE", "1")

COLS = ("sum_nll", "mean_nll", "ppl", "min_k", "min_k_pp")


@pytest.fixture(scope="module")
def tok(sample_texts: list[str]) -> object:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from test_scoring import TEXTS, train_tokenizer

    return train_tokenizer(sample_texts[:200] + TEXTS)


@pytest.fixture(scope="module")
def texts(sample_texts: list[str]) -> list[str]:
    from test_scoring import TEXTS

    # Real documents of very different lengths (some longer than the 128-token rows below),
    # plus the edge cases: empty, one character.
    return [t[: 10 + (37 * i) % 250] for i, t in enumerate(sample_texts[200:240])] + TEXTS


def llama(vocab: int, attn: str) -> object:
    from test_scoring import tiny_llama

    model = tiny_llama(vocab, seed=1)
    model.config._attn_implementation = attn
    return model


def assert_same(a: object, b: object) -> None:
    assert a["n_tokens"].equals(b["n_tokens"])
    assert a["truncated"].equals(b["truncated"])
    for col in COLS:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-4, err_msg=col)


@pytest.mark.parametrize(("attn", "stride"), [("sdpa", None), ("sdpa", 40), ("eager", None)])
def test_packed_equals_unpacked(tok: object, texts: list[str], attn: str, stride: object) -> None:
    model = llama(len(tok), attn)
    kw = {"device": "cpu", "max_length": 128, "stride": stride, "min_k_fraction": 0.3}
    plain = LMScorer(model, tok, pack=False, **kw)
    packed = LMScorer(model, tok, pack=True, token_budget=4 * 128, **kw)
    assert packed._pack_kind == ("mask" if attn == "sdpa" else "additive")
    a, b = plain.score(texts), packed.score(texts)
    assert_same(a, b)
    if stride is None:  # documents longer than a row are truncated, as unpacked
        assert a["truncated"].to_numpy().sum() > 5
    # Several documents really share rows.
    lengths = np.array([len(x) for x in packed.tokenize(texts)])
    assert len(pack_rows(np.minimum(lengths, 128), 128)) < 0.8 * len(texts)


def test_packed_equals_per_document_reference(tok: object, texts: list[str]) -> None:
    """Each packed document's NLL equals the model run on that document alone."""
    import torch

    model = llama(len(tok), "sdpa")
    scorer = LMScorer(model, tok, device="cpu", max_length=512, pack=True)
    table = scorer.score(texts)
    for i, ids in enumerate(scorer.tokenize(texts)):
        if len(ids) < 2:
            continue
        with torch.no_grad():
            logits = model(input_ids=torch.tensor(ids)[None]).logits[0, :-1].double()
        lp = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
        assert table["sum_nll"][i].as_py() == pytest.approx(-float(lp.sum()), rel=1e-4, abs=1e-4)


def test_pack_defaults_and_refusals(tok: object) -> None:
    import torch

    model = llama(len(tok), "sdpa")
    assert not LMScorer(model, tok, device="cpu").pack  # auto: CUDA only
    assert LMScorer(model, tok, device="cpu", pack=True).pack

    class Bare(torch.nn.Module):  # a plain module: no config, no position ids
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, input_ids: object, attention_mask: object) -> object:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    with pytest.raises(ValueError, match="pack=True"):
        LMScorer(Bare(), tok, device="cpu", pack=True)
    assert not LMScorer(Bare(), tok, device="cpu").pack
    window = llama(len(tok), "sdpa")
    window.config.sliding_window = 16
    with pytest.raises(ValueError, match="sliding-window"):
        LMScorer(window, tok, device="cpu", max_length=64, pack=True)


def test_pack_rows_is_a_tight_permutation() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 101, size=500)
    rows = pack_rows(lengths, 100)
    flat = np.concatenate(rows)
    assert sorted(flat.tolist()) == list(range(500))
    fill = sorted(int(lengths[r].sum()) for r in rows)
    assert fill[-1] <= 100
    # Best fit never leaves two rows that could have been merged.
    assert fill[0] + fill[1] > 100
    # Short documents fill rows to the volume bound.
    short = rng.integers(1, 31, size=2000)
    assert len(pack_rows(short, 100)) <= int(np.ceil(short.sum() / 100)) + 1
    assert pack_rows(np.zeros(0, dtype=np.int64), 8) == []
    with pytest.raises(ValueError, match="capacity"):
        pack_rows(np.array([9]), 8)
