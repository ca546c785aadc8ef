"""CoLoR-Filter (Brandfonbrener et al. 2024): prior loss minus conditional loss, keep the top."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tamis.scoring._models import _texts
from tamis.scoring._select import _check_int
from tamis.scoring.lm import LMScorer


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
