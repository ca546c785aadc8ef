"""Mixture search (CLIMB, Diao et al. 2025; RegMix, Liu et al. 2024): propose, fit, prune, resample.

1. :func:`propose` draws candidate mixtures from a Dirichlet distribution (uniform over the
   simplex, or concentrated around a mixture).
2. The user trains small proxy models on some of them and scores each (lower is better, e.g.
   validation loss).
3. :class:`Surrogate` fits a regressor ``weights -> score`` on those pairs: scikit-learn's
   ``GradientBoostingRegressor`` (the extra ``tamis[mix]``): a well-kept gradient-boosted tree
   model, the regressor family RegMix used (LightGBM), exact and single-threaded on the few
   hundred points a search has, without another compiled dependency.
4. :func:`search` repeats: predict many fresh proposals around the best mixtures found so far,
   evaluate the most promising ones, refit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tamis._validation import check_seed


def propose(
    k: int,
    n_sources: int,
    *,
    around: Any = None,
    concentration: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """``k`` mixtures over ``n_sources``: rows of a ``(k, n_sources)`` array summing to 1.

    Without ``around``: ``Dirichlet(concentration · 1)`` (``concentration=1`` is uniform on the
    simplex). With ``around`` (a mixture): ``Dirichlet(concentration · n_sources · around)``, whose
    mean is ``around``; larger ``concentration`` stays closer.

    Examples
    --------
    >>> w = propose(4, 3, seed=0)
    >>> w.shape, bool(np.allclose(w.sum(axis=1), 1.0))
    ((4, 3), True)
    """
    k, n_sources = int(k), int(n_sources)
    if k < 1 or n_sources < 1:
        raise ValueError(f"k and n_sources must be >= 1, got {k}, {n_sources}")
    c = float(concentration)
    if not np.isfinite(c) or c <= 0:
        raise ValueError(f"concentration must be > 0, got {concentration}")
    rng = np.random.default_rng(check_seed(seed))
    if around is None:
        alpha = np.full(n_sources, c)
    else:
        a = np.asarray(around, dtype=np.float64)
        if a.shape != (n_sources,) or not np.isfinite(a).all() or (a < 0).any() or a.sum() <= 0:
            raise ValueError(f"around must be {n_sources} weights >= 0, got {a.tolist()}")
        # A floor of 0.5 keeps every source reachable (a zero weight would stay zero forever).
        a = a / a.sum()
        alpha = np.maximum(c * n_sources * a, 0.5)
    return rng.dirichlet(alpha, size=k)


class Surrogate:
    """A regressor ``mixture -> score`` (scikit-learn's ``GradientBoostingRegressor``).

    Parameters
    ----------
    seed
        Seed of the regressor.
    **params
        Passed to ``GradientBoostingRegressor`` (defaults: ``n_estimators=200``,
        ``learning_rate=0.05``, ``max_depth=3``, ``subsample=0.8``).
    """

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        self.seed = check_seed(seed)
        self.params = {
            "n_estimators": 200,
            "learning_rate": 0.05,
            "max_depth": 3,
            "subsample": 0.8,
            **params,
        }

    def fit(self, weights: Any, scores: Any) -> Surrogate:
        """Fit on mixtures (rows) and their scores."""
        try:
            from sklearn.ensemble import GradientBoostingRegressor
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the mixture surrogate needs scikit-learn: pip install 'tamis[mix]'"
            ) from None
        x = np.asarray(weights, dtype=np.float64)
        y = np.asarray(scores, dtype=np.float64)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(f"weights must be (n, k) and scores (n,), got {x.shape}, {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError("scores must be finite")
        self.model_ = GradientBoostingRegressor(random_state=self.seed % 2**32, **self.params).fit(
            x, y
        )
        return self

    def predict(self, weights: Any) -> np.ndarray:
        """Predicted scores of mixtures (rows)."""
        from tamis._base import check_is_fitted

        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict(np.asarray(weights, dtype=np.float64)))


@dataclass
class SearchResult:
    """The best mixture found, its score, and every evaluated ``(weights, score)``."""

    weights: np.ndarray
    score: float
    history_weights: np.ndarray
    history_scores: np.ndarray
    rounds: list[dict[str, Any]] = field(default_factory=list)


def search(
    evaluate: Callable[[np.ndarray], float],
    n_sources: int,
    *,
    rounds: int = 3,
    k: int = 16,
    n_candidates: int = 2000,
    top_k: int = 4,
    concentration: float = 1.0,
    refine_concentration: float = 20.0,
    seed: int = 0,
) -> SearchResult:
    """CLIMB-style search: minimise ``evaluate(weights)`` (e.g. a proxy model's loss).

    Round 1 evaluates ``k`` uniform Dirichlet proposals. Each later round fits a
    :class:`Surrogate` on everything evaluated, draws ``n_candidates`` proposals, half over the
    whole simplex and half around the ``top_k`` best mixtures so far (Dirichlet concentration ``refine_concentration × 2^(r−1)`` in
    round ``r``: the pruning, only a shrinking neighbourhood of the best survives), and evaluates
    the ``k`` with the best predicted scores.

    Returns
    -------
    SearchResult
        The best evaluated mixture (never a prediction).
    """
    rounds, k, top_k = int(rounds), int(k), int(top_k)
    if rounds < 1 or k < 1 or top_k < 1 or int(n_candidates) < k:
        raise ValueError("need rounds, k, top_k >= 1 and n_candidates >= k")
    seed = check_seed(seed)
    xs = propose(k, n_sources, concentration=concentration, seed=seed)
    ys = np.array([float(evaluate(w)) for w in xs])
    log = [{"round": 0, "evaluated": k, "best": float(ys.min())}]
    for r in range(1, rounds):
        model = Surrogate(seed=seed + r).fit(xs, ys)
        best = np.argsort(ys, kind="stable")[:top_k]
        # Half the candidates cover the whole simplex (RegMix: the surrogate ranks them
        # globally), half the neighbourhoods of the best, which shrink every round.
        n_local = int(n_candidates) // 2
        per = -(-n_local // len(best))
        conc = refine_concentration * 2 ** (r - 1)
        cands = np.concatenate(
            [
                propose(
                    int(n_candidates) - n_local,
                    n_sources,
                    concentration=concentration,
                    seed=seed + 1000 * r,
                )
            ]
            + [
                propose(
                    per, n_sources, around=xs[i], concentration=conc, seed=seed + 1000 * r + j + 1
                )
                for j, i in enumerate(best)
            ]
        )
        # Half the evaluations: the best predicted candidates (ties, as trees predict in steps,
        # broken at random); the other half: random neighbours of the best mixture so far (a
        # tree is flat near its best leaf and does not extrapolate, so ranking there stalls).
        pred = model.predict(cands)
        tie = np.random.default_rng(seed + r).random(len(cands))
        glob = np.lexsort((tie, pred))[: k - k // 2]
        start = int(n_candidates) - n_local  # the neighbours of best[0] come first
        near = np.setdiff1d(np.arange(start, start + per), glob)[: k // 2]
        new = cands[np.concatenate([glob, near])]
        xs = np.vstack([xs, new])
        ys = np.concatenate([ys, [float(evaluate(w)) for w in new]])
        log.append({"round": r, "evaluated": k, "best": float(ys.min())})
    i = int(np.argmin(ys))
    return SearchResult(xs[i], float(ys[i]), xs, ys, log)
