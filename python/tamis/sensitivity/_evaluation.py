"""Evaluation helpers (numpy): how well a weighted subset embeds ``A``; weighted l_p regression."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from tamis._validation import check_int, check_seed
from tamis.sensitivity._scores import _as_matrix, _check_p, leverage_scores


def _directions(A: np.ndarray, n_random: int, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Test directions (d × m): random, right singular vectors, high-leverage rows, axes."""
    d = A.shape[1]
    G = A.T @ A
    evals, V = np.linalg.eigh(G)
    dirs = [rng.standard_normal((d, n_random)), V, np.eye(d)]
    if n_rows > 0:
        tau = leverage_scores(A)
        top = np.argsort(-tau, kind="stable")[:n_rows]
        # x = (AᵀA)⁺ a_i maximises |a_iᵀx| / ||Ax||_2: the direction that only row i "sees".
        keep = evals > evals.max() * A.shape[0] * np.finfo(np.float64).eps
        Gp = (V[:, keep] / evals[keep]) @ V[:, keep].T
        dirs.append(Gp @ A[top].T)
    X = np.concatenate(dirs, axis=1)
    return X[:, np.linalg.norm(X, axis=0) > 0]


def embedding_distortion(
    A: Any,
    indices: Any,
    weights: Any,
    p: float,
    *,
    n_random: int = 64,
    n_rows: int = 32,
    seed: int = 0,
    return_all: bool = False,
) -> Any:
    """Worst relative error of a weighted subset as an l_p subspace embedding.

    ``max_x |(Σ_j w_j |a_jᵀx|^p / ||Ax||_p^p)^{1/p} − 1|`` over ``n_random`` Gaussian directions,
    the right singular vectors of ``A``, the coordinate axes and, for the ``n_rows`` rows of
    highest leverage, the direction ``(AᵀA)⁺a_i`` that only that row sees (the adversarial
    directions uniform sampling fails on).

    Parameters
    ----------
    A
        The full ``(n, d)`` matrix.
    indices, weights
        The subset, as returned by :func:`sample` or :func:`coreset`.
    p
        The norm, ``p >= 1``.
    n_random, n_rows
        Number of random and of high-leverage-row directions.
    seed
        Seed of the random directions.
    return_all
        Return the per-direction errors instead of their maximum.

    Returns
    -------
    float or numpy.ndarray
        The worst error (or every direction's error).
    """
    p = _check_p(p)
    a = np.asarray(_as_matrix(A), dtype=np.float64)
    idx = np.asarray(indices, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    if idx.shape != w.shape:
        raise ValueError(
            f"indices and weights must have the same shape, got {idx.shape} and {w.shape}"
        )
    X = _directions(
        a,
        check_int("n_random", n_random, 0),
        check_int("n_rows", n_rows, 0),
        np.random.default_rng(check_seed(seed)),
    )
    full = np.sum(np.abs(a @ X) ** p, axis=0)
    sub = w @ (np.abs(a[idx] @ X) ** p)
    ok = full > 0
    err = np.abs((sub[ok] / full[ok]) ** (1.0 / p) - 1.0)
    return err if return_all else float(err.max())


def _lp_cost(r: np.ndarray, p: float, w: Optional[np.ndarray]) -> float:
    v = np.abs(r) ** p
    return float(v.sum() if w is None else w @ v)


def lp_regression(
    A: Any,
    b: Any,
    p: float,
    *,
    weights: Any = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> np.ndarray:
    """Minimise ``Σ_i w_i |a_iᵀx − b_i|^p`` by iteratively reweighted least squares.

    Each step solves the weighted least-squares problem with weights
    ``w_i·max(|r_i|, ε)^{p−2}`` and halves the step until the objective decreases, so the cost
    never increases (``p = 1`` uses ``ε = 1e-9·max|r|`` to keep the weights finite).

    Parameters
    ----------
    A
        ``(n, d)`` design matrix.
    b
        ``(n,)`` targets.
    p
        The norm, ``p >= 1``.
    weights
        Optional non-negative row weights (e.g. coreset weights).
    max_iter
        Iteration cap.
    tol
        Stop when the relative decrease of the objective falls below ``tol``.

    Returns
    -------
    numpy.ndarray
        The solution ``x`` of shape ``(d,)``.
    """
    p = _check_p(p)
    a = np.asarray(_as_matrix(A), dtype=np.float64)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    if y.shape[0] != a.shape[0]:
        raise ValueError(f"b must have {a.shape[0]} entries, got {y.shape[0]}")
    w = None if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w is not None and (w.shape[0] != a.shape[0] or np.any(~np.isfinite(w)) or np.any(w < 0)):
        raise ValueError("weights must be finite, non-negative and have one entry per row of A")
    ww = np.ones(a.shape[0]) if w is None else w

    def wls(c: np.ndarray) -> np.ndarray:
        # Normal equations (fast; fine at the accuracy a cost ratio needs), lstsq if singular.
        ac = a * c[:, None]
        try:
            return np.linalg.solve(ac.T @ a, ac.T @ y)
        except np.linalg.LinAlgError:
            sc = np.sqrt(c)
            return np.linalg.lstsq(a * sc[:, None], y * sc, rcond=None)[0]

    x = wls(ww)
    cost = _lp_cost(a @ x - y, p, w)
    if p == 2.0:
        return x
    for _ in range(check_int("max_iter", max_iter, 1)):
        r = np.abs(a @ x - y)
        eps = 1e-9 * max(float(r.max()), 1e-300)
        cand = wls(ww * np.maximum(r, eps) ** (p - 2.0))
        step, new_x, new_cost = 1.0, cand, _lp_cost(a @ cand - y, p, w)
        while new_cost > cost and step > 1e-6:
            step /= 2
            new_x = x + step * (cand - x)
            new_cost = _lp_cost(a @ new_x - y, p, w)
        if new_cost > cost:
            break
        done = cost - new_cost <= tol * max(cost, 1e-300)
        x, cost = new_x, new_cost
        if done:
            break
    return x
