"""CoLoR-Filter (Brandfonbrener et al. 2024): prior loss minus conditional loss, keep the top."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from tamis._base import Selection
from tamis.scoring._models import _texts
from tamis.scoring._select import _check_int
from tamis.scoring.lm import LMScorer


class ColorFilterResult(Selection):
    """Output of :func:`color_filter`: a :class:`tamis._base.Selection`.

    Its ``method`` is ``"score/color_filter"``; ``info`` holds ``n_eligible`` (documents with a
    score) and ``reduction``.

    Attributes
    ----------
    indices
        Selected documents, best first (``ids``: the same row numbers).
    columns
        ``score`` of each selected document (``to_arrow()``: ``index, id, score``).
    rows
        Per input document: ``score`` (``prior_nll − conditional_nll``, NaN where undefined;
        higher is more target-like), ``prior_nll`` and ``conditional_nll`` (mean or sum per
        document, see ``reduction``) and ``keep`` (boolean mask of the selected documents).
    scores, prior_nll, conditional_nll, keep
        The ``rows`` arrays, readable under the names of earlier releases (``scores`` is every
        document's score; ``score`` the selected documents').
    """

    @property
    def scores(self) -> np.ndarray:
        """Every document's score, ``rows["score"]``."""
        return self.rows["score"]


def color_filter(
    prior: LMScorer,
    conditional: LMScorer,
    docs: Any,
    *,
    tau: float | None = None,
    k: int | None = None,
    reduction: str = "mean",
    **deprecated: Any,
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
    k
        Or the number of documents to keep (exclusive with ``tau``). Neither: keep all, ranked.
        ``n_select=`` is its deprecated spelling (a DeprecationWarning).
    reduction
        ``"mean"`` (per-token loss; compares documents of different lengths) or ``"sum"`` (the
        paper's choice for its fixed-length 512-token sequences).

    Returns
    -------
    ColorFilterResult
        A :class:`tamis._base.Selection`: the selected indices, best first, with their scores;
        every document's score, both losses and the keep mask in ``rows``. Documents with an
        undefined score (no scored token) are never selected.
    """
    k = _deprecated_n_select(k, deprecated)
    for name, s in (("prior", prior), ("conditional", conditional)):
        if not isinstance(s, LMScorer):
            raise TypeError(f"{name} must be an LMScorer, got {type(s).__name__}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if tau is not None and k is not None:
        raise ValueError("give tau or k, not both")
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
    elif k is not None:
        n_keep = _check_int("k", k, 0)
    else:
        n_keep = n
    order = valid[np.argsort(-scores[valid], kind="stable")][:n_keep]
    keep = np.zeros(n, dtype=bool)
    keep[order] = True
    return ColorFilterResult(
        order,
        columns={"score": scores[order]},
        rows={"score": scores, "prior_nll": p, "conditional_nll": c, "keep": keep},
        n_rows=n,
        method="score/color_filter",
        info={"n_eligible": len(valid), "reduction": reduction},
    )


def _deprecated_n_select(k: int | None, deprecated: dict[str, Any]) -> int | None:
    """``k``, or the deprecated ``n_select=`` (warned); other unknown keywords raise TypeError."""
    unknown = sorted(set(deprecated) - {"n_select"})
    if unknown:
        raise TypeError(f"color_filter() got an unexpected keyword argument {unknown[0]!r}")
    if "n_select" not in deprecated:
        return k
    warnings.warn(
        "color_filter(n_select=...) is deprecated: the count is now k=",
        DeprecationWarning,
        stacklevel=3,
    )
    if k is not None:
        raise ValueError("give k or its deprecated spelling n_select, not both")
    return deprecated["n_select"]
