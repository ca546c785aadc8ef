"""The language-model scorer: perplexity, Min-K% and Min-K%++ per document (:class:`LMScorer`).

torch and transformers are an optional extra (``pip install 'tamis[torch]'``); they are imported
when a scorer is built, never when this module is imported.

Speed: the scorers sort documents by token length and cut them into *token-budget* batches (a batch
holds as many documents as fit ``token_budget`` padded tokens), so little compute is spent on
padding; with ``pack`` (the default on CUDA) documents are packed into rows of ``max_length``
tokens with per-document attention (:mod:`tamis.scoring._packing`), so none is; on CUDA the
forward pass runs under bf16 autocast, optionally through ``torch.compile``; the language-model
head is applied in chunks of tokens, so the full ``tokens × vocab`` logits never exist in fp32
(only ``chunk_tokens × vocab`` at a time); per-token results stay on the device until the end of
a call (one device-to-host copy per call, no per-document ``.item()``); a CUDA out-of-memory
error halves the batch. Results come back in input order.

Definitions (per document, over the tokens that are *scored*: every document token when the
tokenizer has a BOS token, which is then prepended as context; every token but the first
otherwise):

- ``sum_nll``: sum of the token negative log-likelihoods (nats); ``n_tokens``: how many tokens
  were scored; both add up across the windows of a long document. ``mean_nll = sum_nll /
  n_tokens``; ``ppl = exp(mean_nll)``.
- ``min_k`` (Min-K% Prob, Shi et al. 2023, "Detecting Pretraining Data from Large Language
  Models"): the mean of the ``floor(min_k_fraction · n_tokens)`` lowest token
  log-probabilities.
- ``min_k_pp`` (Min-K%++, Zhang et al. 2024): the same over ``z_t = (log p(x_t) − μ_t) / σ_t``,
  with ``μ_t`` and ``σ_t`` the mean and standard deviation of ``log p(·)`` under the model's own
  next-token distribution at position ``t``.

Sign convention: ``min_k`` and ``min_k_pp`` are means of log-probabilities (z-scores), so *higher
means more likely seen in training* (the convention of the Min-K%++ reference code). The original
Min-K% code reports the negation. A document with ``floor(min_k_fraction · n_tokens) == 0`` gets
NaN, as do all metrics of a document with no scored token (empty, null, or one token without a
BOS).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from tamis.io import read_batches
from tamis.scoring._models import (
    _encode,
    _first,
    _load_model,
    _special_id,
    _texts,
    _torch,
    default_device,
)
from tamis.scoring._packing import block_causal_mask, pack_rows, packed_arrays, packing_kind
from tamis.scoring._select import _check_int, _check_metrics, prefetch, token_budget_batches
from tamis.scoring._windows import _doc_metrics, _make_pieces, _min_k_fraction, _Pieces

# --------------------------------------------------------------------------------------------
# The language-model scorer


class LMScorer:
    """Score documents with a causal language model: NLL, perplexity, Min-K%, Min-K%++.

    Parameters
    ----------
    model
        A local Hugging Face model folder (loaded with ``local_files_only=True``) or a causal LM
        ``torch.nn.Module`` (a transformers ``*ForCausalLM``, or any module mapping
        ``input_ids, attention_mask`` to logits).
    tokenizer
        A transformers or ``tokenizers`` tokenizer; default: loaded from the model folder.
    device
        ``"cuda"``, ``"cpu"``, ...; default: CUDA when available. A module is moved there.
    max_length
        Longest window in tokens (including the BOS); default: the model's
        ``max_position_embeddings`` capped at 2048.
    stride
        ``None``: documents longer than ``max_length`` are truncated (``truncated`` is true).
        An int in ``[1, max_length - 1]``: they are scored in windows starting every ``stride``
        tokens, each scoring only new tokens; ``sum_nll`` and ``n_tokens`` add up across windows.
    min_k_fraction
        Fraction of tokens for Min-K% / Min-K%++, in ``(0, 1]`` (0.2 in Shi et al.).
    token_budget
        Padded tokens per forward pass (batch size × longest sequence; rows × ``max_length``
        when packing).
    max_batch_size
        Optional cap on documents (packed: rows) per forward pass.
    bos_token_id
        ``"auto"``: the tokenizer's BOS token, prepended so that every document token is scored;
        ``None``: nothing is prepended and the first token is context only; or an id.
    autocast
        Run the forward pass under bf16 autocast; default: on for CUDA, off otherwise.
    chunk_elements
        Logit elements (tokens × vocab) materialised in fp32 at once by the chunked head.
    dtype
        Weights' dtype when loading from a folder; default bf16 on CUDA, fp32 on CPU.
    pack
        Pack several documents into each row of ``max_length`` tokens, with position ids
        restarting per document and block-diagonal causal attention (a 4-D mask for SDPA/eager,
        variable-length flash attention through ``position_ids`` for ``flash_attention_*``), so
        no compute goes to padding (see :mod:`tamis.scoring._packing`). ``None`` (default): on
        CUDA when the model supports it (a transformers model with sdpa, eager or flash
        attention and no sliding window shorter than ``max_length``); ``True`` raises a
        ``ValueError`` for a model that does not. Results equal the unpacked path up to float
        rounding.
    compile
        Run the backbone through ``torch.compile`` (worth it on CUDA for long runs; the first
        batches pay the compilation).
    k
        Deprecated name of ``min_k_fraction`` (in tamis ``k`` is always a count); warns.

    Examples
    --------
    >>> scorer = LMScorer("path/to/model", stride=256)  # doctest: +SKIP
    >>> scorer.score(["some text", "more text"]).column("mean_nll")  # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        device: str | None = None,
        max_length: int | None = None,
        stride: int | None = None,
        min_k_fraction: float = 0.2,
        token_budget: int = 16384,
        max_batch_size: int | None = None,
        bos_token_id: Any = "auto",
        autocast: bool | None = None,
        chunk_elements: int = 1 << 26,
        dtype: Any = None,
        pack: bool | None = None,
        compile: bool = False,
        k: float | None = None,
    ) -> None:
        self.min_k_fraction = _min_k_fraction(min_k_fraction, k)
        self.device = str(device or default_device())
        model, tokenizer = _load_model(model, tokenizer, "AutoModelForCausalLM", self.device, dtype)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        config = getattr(model, "config", None)
        if max_length is None:
            max_length = min(int(getattr(config, "max_position_embeddings", 2048) or 2048), 2048)
        self.max_length = _check_int("max_length", max_length, 2)
        if stride is not None:
            stride = _check_int("stride", stride, 1, self.max_length - 1)
        self.stride = stride
        self.token_budget = _check_int("token_budget", token_budget, self.max_length)
        self.max_batch_size = (
            None if max_batch_size is None else _check_int("max_batch_size", max_batch_size, 1)
        )
        if bos_token_id == "auto":
            bos_token_id = _special_id(tokenizer, "bos")
        self.bos_token_id = (
            None if bos_token_id is None else _check_int("bos_token_id", bos_token_id, 0)
        )
        self.autocast = self.device.startswith("cuda") if autocast is None else bool(autocast)
        self.chunk_elements = _check_int("chunk_elements", chunk_elements, 1)
        self._backbone, self._head = _split_head(model)
        kind, why = packing_kind(self._backbone, model, self.max_length)
        if pack and kind is None:
            raise ValueError(f"pack=True: this model cannot run packed rows: {why}")
        if pack is None:
            pack = self.device.startswith("cuda") and kind is not None
        self.pack = bool(pack)
        self._pack_kind = kind if self.pack else None
        self.compile = bool(compile)
        if self.compile:  # the backbone is the whole model when there is no separate head
            self._backbone = _torch().compile(self._backbone)

    # -- public API --------------------------------------------------------------------------

    def tokenize(self, texts: Any) -> list[np.ndarray]:
        """Token ids per document, with the BOS prepended when there is one."""
        ids = _encode(self.tokenizer, _texts(texts))
        if self.bos_token_id is None:
            return [np.asarray(x, dtype=np.int64) for x in ids]
        return [np.asarray([self.bos_token_id, *x], dtype=np.int64) for x in ids]

    def score(self, texts: Any, metrics: Sequence[str] | None = None) -> pa.Table:
        """Score documents; one row per document, in input order.

        Parameters
        ----------
        texts
            A list of str, a pyarrow string array, or anything :func:`tamis.io.as_text_array`
            accepts. Nulls count as empty documents.
        metrics
            Columns to return, from :data:`LM_METRICS` (default: all). ``min_k_pp`` costs extra
            work per token; the others come from the same forward pass.

        Returns
        -------
        pyarrow.Table
            ``sum_nll``, ``mean_nll``, ``ppl``, ``min_k``, ``min_k_pp`` (float64, NaN where
            undefined), ``n_tokens`` (int64), ``truncated`` (bool), as requested.
        """
        metrics = _check_metrics(metrics)
        return self.score_ids(self.tokenize(texts), metrics)

    def score_ids(
        self, sequences: Sequence[np.ndarray], metrics: Sequence[str] | None = None
    ) -> pa.Table:
        """Like :meth:`score` for already tokenised sequences (BOS included if wanted)."""
        metrics = _check_metrics(metrics)
        res = self._score(list(sequences), need_z="min_k_pp" in metrics)
        return pa.table({m: res[m] for m in metrics})

    def score_batches(
        self, source: Any, metrics: Sequence[str] | None = None, **read_kwargs: Any
    ) -> Iterator[pa.RecordBatch]:
        """Stream a corpus (see :func:`tamis.io.read_batches`) and yield ``id`` + metric batches."""
        metrics = _check_metrics(metrics)
        id_col = read_kwargs.get("id_column") or "id"
        text_col = read_kwargs.get("text_column", "text")
        batches = read_batches(source, columns=[], **read_kwargs)
        # Read and tokenise batch i+1 in a thread while the model scores batch i.
        for batch, ids in prefetch(batches, lambda b: self.tokenize(b.column(text_col))):
            table = self.score_ids(ids, metrics)
            yield pa.RecordBatch.from_arrays(
                [batch.column(id_col), *(c.combine_chunks() for c in table.columns)],
                names=[id_col, *table.column_names],
            )

    # -- internals ---------------------------------------------------------------------------

    def _score(self, seqs: list[np.ndarray], need_z: bool) -> dict[str, np.ndarray]:
        torch = _torch()
        n_docs = len(seqs)
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=n_docs)
        pieces, truncated = _make_pieces(lengths, self.max_length, self.stride)
        n_scored = np.maximum(pieces.lengths - pieces.score_from, 0)
        counts = np.bincount(pieces.doc, weights=n_scored, minlength=n_docs).astype(np.int64)
        logp_parts: list[Any] = []
        z_parts: list[Any] = []
        doc_parts: list[np.ndarray] = []
        live = np.flatnonzero(n_scored > 0)
        pending: list[Any]
        if self.pack:
            rows = [live[r] for r in pack_rows(pieces.lengths[live], self.max_length)]
            per = max(1, self.token_budget // self.max_length)
            if self.max_batch_size:
                per = min(per, self.max_batch_size)
            pending = [rows[i : i + per] for i in range(0, len(rows), per)][::-1]
        else:
            batches = token_budget_batches(
                pieces.lengths[live], self.token_budget, self.max_batch_size
            )
            pending = [live[b] for b in reversed(batches)]
        while pending:
            batch = pending.pop()
            try:
                logp, z, docs = self._run_batch(seqs, pieces, batch, need_z)
            except torch.cuda.OutOfMemoryError:
                if len(batch) == 1:
                    raise
                if self.device.startswith("cuda"):
                    torch.cuda.empty_cache()
                half = len(batch) // 2
                pending.extend([batch[half:], batch[:half]])
                continue
            logp_parts.append(logp)
            z_parts.append(z)
            doc_parts.append(docs)
        if logp_parts:
            logp_all = torch.cat(logp_parts).cpu().numpy().astype(np.float64)
            z_all = torch.cat(z_parts).cpu().numpy().astype(np.float64) if need_z else None
            doc_all = np.concatenate(doc_parts)
        else:
            logp_all = np.zeros(0)
            z_all = np.zeros(0) if need_z else None
            doc_all = np.zeros(0, dtype=np.int64)
        return _doc_metrics(logp_all, z_all, doc_all, counts, truncated, self.min_k_fraction)

    def _run_batch(
        self, seqs: list[np.ndarray], pieces: _Pieces, batch: Any, need_z: bool
    ) -> tuple[Any, Any, np.ndarray]:
        """Forward one batch; per scored token: log p(target), z-score (or None), document.

        ``batch`` is an array of piece indices (padded rows) or, when packing, a list of rows.
        """
        torch = _torch()
        if self.pack:
            width = self.max_length
            if not self.compile:  # a fixed width keeps compiled shapes static
                width = max(int(pieces.lengths[r].sum()) for r in batch)
            arrays = packed_arrays(seqs, pieces, batch, width)
        else:
            arrays = _padded_arrays(seqs, pieces, batch)
        ids = arrays["input_ids"]
        rows, width = ids.shape
        dev = self.device
        pin = dev.startswith("cuda")

        def to_dev(a: np.ndarray) -> Any:
            t = torch.from_numpy(a)
            return t.pin_memory().to(dev, non_blocking=True) if pin else t.to(dev)

        t = {k: to_dev(v) for k, v in arrays.items() if k != "docs"}
        if self._pack_kind == "varlen":
            # One flat sequence: transformers turns the position restarts into cu_seqlens.
            kwargs = {
                "input_ids": t["input_ids"].reshape(1, -1),
                "position_ids": t["position_ids"].reshape(1, -1),
            }
        elif self._pack_kind is not None:
            dtype = next(self.model.parameters()).dtype
            mask = block_causal_mask(t["segment"], self._pack_kind, dtype)
            kwargs = {
                "input_ids": t["input_ids"],
                "position_ids": t["position_ids"],
                "attention_mask": mask,
            }
        elif self._head is not None:
            # Right padding under causal attention: no real token ever sees a pad, so the mask
            # is not needed, and without it SDPA can take its fused causal kernels.
            kwargs = {"input_ids": t["input_ids"]}
        else:
            kwargs = {"input_ids": t["input_ids"], "attention_mask": t["mask"]}
        amp = (
            torch.autocast(device_type=dev.split(":")[0], dtype=torch.bfloat16)
            if self.autocast
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), amp:
            out = _first(self._backbone(**kwargs))
            hidden = out.reshape(rows * width, -1).index_select(0, t["pred"])
            logp, z = _chunked_token_stats(
                hidden, t["targets"], self._head, self.chunk_elements, need_z
            )
        return logp, z, arrays["docs"]


def _padded_arrays(
    seqs: list[np.ndarray], pieces: _Pieces, batch: np.ndarray
) -> dict[str, np.ndarray]:
    """Inputs of one right-padded forward pass: one piece per row, as wide as the longest."""
    width = int(pieces.lengths[batch].max())
    rows = len(batch)
    ids = np.zeros((rows, width), dtype=np.int64)
    mask = np.zeros((rows, width), dtype=np.int64)
    pred_idx, docs = [], []
    for r, j in enumerate(batch.tolist()):
        d, a, b, frm = (
            int(x[j]) for x in (pieces.doc, pieces.start, pieces.end, pieces.score_from)
        )
        ids[r, : b - a] = seqs[d][a:b]
        mask[r, : b - a] = 1
        t = np.arange(frm, b - a, dtype=np.int64)
        pred_idx.append(r * width + t - 1)
        docs.append(np.full(len(t), d, dtype=np.int64))
    pred = np.concatenate(pred_idx)
    return {
        "input_ids": ids,
        "mask": mask,
        "pred": pred,
        "targets": ids.reshape(-1)[pred + 1],
        "docs": np.concatenate(docs),
    }


def _split_head(model: Any) -> tuple[Any, Any]:
    """(backbone, head) when the model is backbone → plain linear head, else (model, None).

    The split lets the head run on a chunk of selected positions at a time. Models whose logits
    are post-processed (soft-capping, logit scaling) keep the full forward pass.
    """
    torch = _torch()
    config = getattr(model, "config", None)
    for attr in ("final_logit_softcapping", "logit_scale", "output_mult"):
        if getattr(config, attr, None) not in (None, 1, 1.0):
            return model, None
    get_head = getattr(model, "get_output_embeddings", None)
    base = getattr(model, "base_model", None)
    if get_head is None or base is None or base is model:
        return model, None
    head = get_head()
    if not isinstance(head, torch.nn.Linear):
        return model, None
    return base, head


def _chunked_token_stats(
    hidden: Any, targets: Any, head: Any, chunk_elements: int, need_z: bool
) -> tuple[Any, Any]:
    """Log p(target) and (optionally) the Min-K%++ z-score per row, a chunk of rows at a time.

    ``hidden`` holds either hidden states (``head`` given) or logits (``head`` None). Only
    ``chunk × vocab`` fp32 logits exist at any time.
    """
    torch = _torch()
    n = hidden.shape[0]
    vocab = head.out_features if head is not None else hidden.shape[1]
    chunk = max(1, chunk_elements // max(vocab, 1))
    logps, zs = [], []
    for c in range(0, n, chunk):
        h = hidden[c : c + chunk]
        logits = (head(h) if head is not None else h).float()
        logp_all = torch.log_softmax(logits, dim=-1)
        del logits
        lp = logp_all.gather(1, targets[c : c + chunk, None]).squeeze(1)
        logps.append(lp)
        if need_z:
            p = logp_all.exp()
            safe = logp_all.clamp_min(-1e4)  # p is 0 there; avoids 0 * inf
            mu = (p * safe).sum(-1)
            # Two-pass variance: E[p (log p - mu)^2] does not cancel catastrophically in fp32
            # when the distribution is nearly flat (sigma tiny), unlike E[p log^2 p] - mu^2.
            dev = safe - mu[:, None]
            var = (p * dev * dev).sum(-1).clamp_min(1e-30)
            zs.append((lp - mu) / var.sqrt())
    empty = hidden.new_zeros(0, dtype=torch.float32)
    logp = torch.cat(logps) if logps else empty
    z = (torch.cat(zs) if zs else empty) if need_z else None
    return logp, z
