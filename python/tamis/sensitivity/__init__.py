"""l_p sensitivity sampling: leverage scores, Lewis weights and weighted coresets.

Rows of a matrix ``A`` (n × d: document embeddings, hashed n-gram features, per-example
gradients) are sampled with probabilities driven by upper bounds on their l_p sensitivities and
weighted by 1/probability, so that ``Σ_j w_j |a_jᵀx|^p ≈ ||Ax||_p^p`` for every ``x``
(Woodruff & Yasuda, "Sharper Bounds for l_p Sensitivity Sampling", ICML 2023). Uniform sampling
misses rare directions (rare topics, rare features); sensitivity sampling keeps them.

The scores, the samplers and the linear algebra run in Rust (``tamis._core``), multi-threaded,
with identical output for any thread count. The evaluation helpers
(:func:`embedding_distortion`, :func:`lp_regression`) are numpy.

Layout (every public name is importable from ``tamis.sensitivity``):

- :mod:`tamis.sensitivity._scores`: :func:`leverage_scores`, :func:`lewis_weights`,
  :func:`sensitivity_scores` and the input checks;
- :mod:`tamis.sensitivity._sampling`: :func:`sample`, :func:`coreset` and :class:`Coreset` (a
  :class:`tamis._base.Selection`);
- :mod:`tamis.sensitivity._evaluation`: :func:`embedding_distortion`, :func:`lp_regression`.
"""

from __future__ import annotations

from tamis.sensitivity._evaluation import _directions as _directions  # for benches/coreset.py
from tamis.sensitivity._evaluation import embedding_distortion, lp_regression
from tamis.sensitivity._sampling import SAMPLERS, Coreset, coreset, sample
from tamis.sensitivity._sampling import _sample_raw as _sample_raw  # for benches/coreset.py
from tamis.sensitivity._scores import SCHEMES, leverage_scores, lewis_weights, sensitivity_scores
from tamis.sensitivity._scores import _as_matrix as _as_matrix
from tamis.sensitivity._scores import _check_p as _check_p

__all__ = [
    "SAMPLERS",
    "SCHEMES",
    "Coreset",
    "coreset",
    "embedding_distortion",
    "leverage_scores",
    "lewis_weights",
    "lp_regression",
    "sample",
    "sensitivity_scores",
]
