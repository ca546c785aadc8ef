"""PreSelect's predictive strength: documents whose loss ranks models as benchmarks do.

Shum, Huang, Zou, Ding, Liao, Chen, Liu, He (2025), "Predictive Data Selection: The Data That
Predicts Is the Data That Teaches" (arXiv:2503.00808). Given ``N`` models with benchmark scores
``s_1..s_N`` and a document's normalised losses ``c_1..c_N`` (bits per character under each
model), the document's predictive strength is the share of model pairs that its losses order
like the benchmark does::

    S = sum_{i,j} 1[s_i > s_j] * 1[c_i < c_j] / Z,    Z = sum_{i,j} 1[s_i > s_j]

``S = 1``: the better a model is on the benchmark, the lower its loss on the document (it
"predicts" the benchmark ranking); ``S = 0``: the opposite order. Pairs of models with equal
benchmark scores are not counted; equal losses count as disagreement (strict ``<``, as the
formula). Documents with high ``S`` become positives and those with low ``S`` negatives for a
cheap classifier (:class:`~tamis.quality.HashedClassifier`), which then filters the corpus.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def bits_per_character(sum_nll: Any, n_chars: Any) -> np.ndarray:
    """Normalised loss: a document's total negative log-likelihood (nats) per character, in bits.

    ``sum_nll / (ln 2 * n_chars)``: comparable across tokenizers, which is why PreSelect uses it
    (a model with a larger vocabulary has fewer, harder tokens). Empty documents give NaN.
    """
    nll = np.asarray(sum_nll, dtype=np.float64)
    chars = np.asarray(n_chars, dtype=np.float64)
    if nll.shape != chars.shape:
        raise ValueError(f"sum_nll {nll.shape} and n_chars {chars.shape} differ in shape")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(chars > 0, nll / (math.log(2) * chars), np.nan)


def predictive_strength(losses: Any, scores: Any) -> np.ndarray:
    """Each document's rank agreement between its losses and the models' benchmark scores.

    Parameters
    ----------
    losses
        ``(n_documents, n_models)`` normalised losses (e.g. :func:`bits_per_character`); lower
        is better.
    scores
        ``(n_models,)`` benchmark scores; higher is better.

    Returns
    -------
    numpy.ndarray
        ``(n_documents,)`` float64 in ``[0, 1]`` (NaN for a document with a NaN loss).

    Raises
    ------
    ValueError
        Shapes that do not match, fewer than two models, or scores that are all equal.

    Examples
    --------
    >>> predictive_strength([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 3.0, 2.0]],
    ...                     [0.9, 0.5, 0.1]).tolist()
    [1.0, 0.0, 0.6666666666666666]
    """
    c = np.asarray(losses, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"losses must be 2-d (n_documents, n_models), got shape {c.shape}")
    if s.ndim != 1 or s.shape[0] != c.shape[1]:
        raise ValueError(f"scores must have one value per model ({c.shape[1]}), got {s.shape}")
    if s.shape[0] < 2:
        raise ValueError("predictive strength needs at least two models")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    pairs = [(i, j) for i in range(len(s)) for j in range(len(s)) if s[i] > s[j]]
    if not pairs:
        raise ValueError("scores are all equal: no pair of models to rank")
    agree = np.zeros(c.shape[0])
    for i, j in pairs:
        agree += c[:, i] < c[:, j]
    out = agree / len(pairs)
    out[np.isnan(c).any(axis=1)] = np.nan
    return out


def label_by_strength(strength: Any, *, positive_fraction: float, negative_fraction: float) -> Any:
    """Labels from predictive strength: 1 (top), 0 (bottom), -1 (unused).

    1 for the top ``positive_fraction`` of documents, 0 for the bottom ``negative_fraction``,
    -1 in between and for NaN.

    Ties are broken by position (a stable sort), so the counts are exactly
    ``floor(fraction * n)`` of the documents with a finite strength.
    """
    s = np.asarray(strength, dtype=np.float64)
    for name, f in (
        ("positive_fraction", positive_fraction),
        ("negative_fraction", negative_fraction),
    ):
        if not (0 < f <= 1):
            raise ValueError(f"{name} must be in (0, 1], got {f!r}")
    if positive_fraction + negative_fraction > 1:
        raise ValueError("positive_fraction + negative_fraction must be <= 1")
    finite = np.flatnonzero(np.isfinite(s))
    order = finite[np.argsort(-s[finite], kind="stable")]
    n = len(finite)
    labels = np.full(len(s), -1, dtype=np.int64)
    labels[order[: int(positive_fraction * n)]] = 1
    n_neg = int(negative_fraction * n)
    if n_neg:
        labels[order[n - n_neg :]] = 0
    return labels


__all__ = ["bits_per_character", "label_by_strength", "predictive_strength"]
