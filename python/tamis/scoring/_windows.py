"""Token windows of long documents and the per-document reductions of :class:`~tamis.scoring.LMScorer`.

A document longer than the model's window is truncated or cut into strided windows
(:func:`_make_pieces`); the per-token log-probabilities of every window are then reduced per
document (:func:`_doc_metrics`: NLL, perplexity, Min-K%, Min-K%++). NumPy only, no torch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------------
# Token windows


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
    windows: list[tuple[int, int, int, int]] = []  # (doc, start, end, first scored target)
    for i, length in enumerate(lengths.tolist()):
        if length <= max_length:
            windows.append((i, 0, length, 1))
            continue
        scored = 1  # targets [1, scored) are done
        b = min(length, max_length)
        while True:
            a = max(0, b - max_length)
            windows.append((i, a, b, scored - a))
            scored = b
            if b >= length:
                break
            b = min(length, b + stride)
    arr = np.asarray(windows, dtype=np.int64).reshape(-1, 4)
    return _Pieces(*(np.ascontiguousarray(arr[:, j]) for j in range(4))), np.zeros(n, dtype=bool)


# --------------------------------------------------------------------------------------------
# Per-document reductions (NumPy, vectorised over a flat array of per-token values)


def _segment_means_of_lowest(
    values: np.ndarray, doc: np.ndarray, counts: np.ndarray, fraction: float
) -> np.ndarray:
    """Per document: mean of its ``floor(fraction * count)`` lowest values; NaN where that is 0."""
    n_docs = len(counts)
    out = np.full(n_docs, np.nan)
    if len(values) == 0:
        return out
    order = np.lexsort((values, doc))  # by document, then value
    sorted_vals = values[order].astype(np.float64)
    starts = np.zeros(n_docs, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    m = np.floor(counts * fraction + 1e-9).astype(np.int64)
    csum = np.concatenate([[0.0], np.cumsum(sorted_vals)])
    ok = m > 0
    out[ok] = (csum[starts[ok] + m[ok]] - csum[starts[ok]]) / m[ok]
    return out


def _min_k_fraction(min_k_fraction: Any, k: Any) -> float:
    """The checked Min-K% fraction, taking the deprecated ``k=`` when it is given."""
    if k is not None:
        warnings.warn(
            "LMScorer(k=...) is deprecated: the Min-K% fraction is now min_k_fraction=",
            DeprecationWarning,
            stacklevel=3,
        )
        min_k_fraction = k
    f = min_k_fraction
    if not isinstance(f, (int, float)) or isinstance(f, bool) or not 0 < f <= 1:
        raise ValueError(f"min_k_fraction must be a fraction in (0, 1], got {f!r}")
    return float(f)


def _doc_metrics(
    logp: np.ndarray,
    z: np.ndarray | None,
    doc: np.ndarray,
    counts: np.ndarray,
    truncated: np.ndarray,
    fraction: float,
) -> dict[str, np.ndarray]:
    """Every :data:`LM_METRICS` column from the per-token log-probs (and z-scores) of the docs."""
    n_docs = len(counts)
    sum_nll = np.bincount(doc, weights=-logp, minlength=n_docs)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_nll = np.where(counts > 0, sum_nll / np.maximum(counts, 1), np.nan)
    sum_nll = np.where(counts > 0, sum_nll, np.nan)
    return {
        "sum_nll": sum_nll,
        "mean_nll": mean_nll,
        "ppl": np.exp(mean_nll),
        "n_tokens": counts,
        "truncated": truncated,
        "min_k": _segment_means_of_lowest(logp, doc, counts, fraction),
        "min_k_pp": (
            _segment_means_of_lowest(z, doc, counts, fraction)
            if z is not None
            else np.full(n_docs, np.nan)
        ),
    }
