"""l_p sensitivity sampling: leverage scores, Lewis weights and weighted coresets.

Rows of a matrix ``A`` (n × d: document embeddings, hashed n-gram features, per-example
gradients) are sampled with probabilities driven by upper bounds on their l_p sensitivities and
weighted by 1/probability, so that ``Σ_j w_j |a_jᵀx|^p ≈ ||Ax||_p^p`` for every ``x``
(Woodruff & Yasuda, "Sharper Bounds for l_p Sensitivity Sampling", ICML 2023). Uniform sampling
misses rare directions (rare topics, rare features); sensitivity sampling keeps them.

The scores, the samplers and the linear algebra run in Rust (``tamis._core``), multi-threaded,
with identical output for any thread count. The evaluation helpers
(:func:`embedding_distortion`, :func:`lp_regression`) are numpy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from tamis import _core
from tamis._validation import check_int, check_seed, check_threads

__all__ = [
    "Coreset",
    "coreset",
    "embedding_distortion",
    "leverage_scores",
    "lewis_weights",
    "lp_regression",
    "sample",
    "sensitivity_scores",
]

SCHEMES = ("lewis", "leverage", "root_leverage", "mixed", "uniform")
SAMPLERS = ("bernoulli", "iid", "priority")


def _as_matrix(A: Any, name: str = "A") -> np.ndarray:
    """A C-contiguous float32/float64 2-D array (no copy when it already is one)."""
    if hasattr(A, "toarray") and not isinstance(A, np.ndarray):
        raise TypeError(f"{name} must be a dense array; sparse input: call .toarray() first")
    a = np.asarray(A)
    if a.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
        a = a.astype(np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n rows × d columns), got {a.ndim}-D")
    return np.ascontiguousarray(a)


def _check_p(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"p must be a number, got {type(p).__name__}")
    p = float(p)
    if not (np.isfinite(p) and p >= 1.0):
        raise ValueError(f"p must be a finite number >= 1, got {p}")
    return p


def leverage_scores(
    A: Any,
    *,
    method: str = "exact",
    sketch_rows: Optional[int] = None,
    jl_dim: Optional[int] = None,
    seed: int = 0,
    n_threads: Optional[int] = None,
    return_info: bool = False,
) -> Any:
    """Statistical leverage scores ``τ_i = a_iᵀ(AᵀA)⁺a_i`` of the rows of ``A``.

    The scores do not depend on the scale of ``A`` or of its columns: columns whose largest
    magnitude is outside ``2**±200`` are rescaled by a power of two first, so ``A * 1e300`` and
    ``A * 1e-300`` give the scores of ``A`` (as do Lewis weights and sensitivity scores).

    Parameters
    ----------
    A
        Dense ``(n, d)`` matrix with ``n >= d``, float32 or float64 (read without copying when
        C-contiguous; other numeric dtypes are converted to float64). NaN/inf are rejected.
    method
        ``"exact"``: Gram matrix → Cholesky → per-block triangular maps, falling back to a
        column-pivoted QR of ``A`` when ``AᵀA`` is ill-conditioned (scaled condition estimate
        above 1e8) or ``A`` is rank deficient; ``Στ = rank A``. ``"sketch"``: CountSketch of
        ``sketch_rows`` rows → QR → ``τ̃_i = ||a_iᵀR⁻¹||²`` (Drineas et al. 2012), optionally
        through a Gaussian projection with ``jl_dim`` columns.
    sketch_rows
        Rows of the sketch, ``d <= sketch_rows <= n`` (default ``min(4 d², n)``);
        ``method="sketch"`` only.
    jl_dim
        Columns of the Johnson–Lindenstrauss projection, ``1 <= jl_dim <= n`` (default none:
        exact norms of ``a_iᵀR⁻¹``, which is as fast unless ``jl_dim`` is much smaller than
        ``d``).
    seed
        Seed of the sketch.
    n_threads
        Worker threads (default: all cores). The output does not depend on it.
    return_info
        Also return a dict with ``rank``, ``solver`` (``"cholesky"``, ``"qr"`` or ``"sketch"``)
        and ``gram_condition`` (estimate of cond(AᵀA) after unit-diagonal scaling, ``inf``
        when rank deficient).

    Returns
    -------
    numpy.ndarray
        float64 scores of shape ``(n,)`` in ``[0, 1]`` (and the info dict if requested).

    Raises
    ------
    ValueError
        NaN/inf entries, ``n < d``, ``d == 0``, unknown ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> from tamis.sensitivity import leverage_scores
    >>> tau = leverage_scores(np.eye(3, 2))
    >>> tau.round(6).tolist()
    [1.0, 1.0, 0.0]
    """
    a = _as_matrix(A)
    if sketch_rows is not None:
        sketch_rows = check_int("sketch_rows", sketch_rows, 1)
    if jl_dim is not None:
        jl_dim = check_int("jl_dim", jl_dim, 1)
    scores, rank, solver, cond = _core.leverage_scores(
        a,
        method=method,
        sketch_rows=sketch_rows,
        jl_dim=jl_dim,
        seed=check_seed(seed),
        n_threads=check_threads(n_threads),
    )
    if return_info:
        return scores, {"rank": rank, "solver": solver, "gram_condition": cond}
    return scores


def lewis_weights(
    A: Any,
    p: float,
    *,
    tol: float = 1e-8,
    max_iter: int = 100,
    n_threads: Optional[int] = None,
    return_info: bool = False,
) -> Any:
    """l_p Lewis weights of the rows of ``A`` (Cohen & Peng 2015), for ``1 <= p < 4``.

    The unique ``w`` with ``w_i = (a_iᵀ(AᵀW^{1−2/p}A)⁺a_i)^{p/2}``, found by iterating that map
    from ``w = 1``; it contracts ``ln w`` by ``|p/2 − 1|`` per step (one step at ``p = 2``, where
    ``w`` is the leverage), over-relaxed in log space (rate ``|p−2|/(p+2)`` near the fixed point
    instead of ``|p−2|/2``; about 20 steps to 1e-8 at ``p = 1``). ``Σw = rank A``. Rows of zeros
    get weight 0.

    Parameters
    ----------
    A
        Dense ``(n, d)`` matrix, as in :func:`leverage_scores`.
    p
        The norm, ``1 <= p < 4``. ``p >= 4`` raises: the iteration does not contract there and
        the concave program of Fazel, Lee, Padmanabhan & Sidford (2022) is not implemented.
    tol
        Stop when the residual ``max_i |ln(T(w)_i / w_i)| < tol`` (T: the map above).
    max_iter
        Iteration cap; a RuntimeWarning is issued if it is reached first.
    n_threads
        Worker threads (default: all cores). The output does not depend on it.
    return_info
        Also return a dict with ``n_iter``, ``converged``, ``max_change`` and ``rank``.

    Returns
    -------
    numpy.ndarray
        float64 weights of shape ``(n,)`` (and the info dict if requested).

    Raises
    ------
    ValueError
        ``p`` outside ``[1, 4)``, ``tol <= 0``, ``max_iter < 1``, bad ``A``.
    """
    p = _check_p(p)
    a = _as_matrix(A)
    w, n_iter, converged, change, rank = _core.lewis_weights(
        a,
        p,
        tol=float(tol),
        max_iter=check_int("max_iter", max_iter, 1),
        n_threads=check_threads(n_threads),
    )
    if not converged:
        warnings.warn(
            f"lewis_weights did not converge in {n_iter} iterations "
            f"(max log change {change:.3g} > tol {tol:g})",
            RuntimeWarning,
            stacklevel=2,
        )
    if return_info:
        return w, {"n_iter": n_iter, "converged": converged, "max_change": change, "rank": rank}
    return w


def sensitivity_scores(
    A: Any,
    p: float,
    *,
    scheme: str = "lewis",
    mix: float = 0.5,
    tol: float = 1e-8,
    max_iter: int = 100,
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """Sampling scores for l_p sensitivity sampling.

    Parameters
    ----------
    A
        Dense ``(n, d)`` matrix, as in :func:`leverage_scores`.
    p
        The norm, ``p >= 1`` (``p < 4`` for the schemes that use Lewis weights).
    scheme
        ``"lewis"``: ``d^{max(0, p/2−1)}·w_i`` with ``w`` the l_p Lewis weights, an upper bound
        on the sensitivity for ``1 <= p < 4``. ``"leverage"``: ``τ_i``. ``"root_leverage"``:
        ``τ_i^{p/2}``, an upper bound for ``p <= 2`` (Woodruff & Yasuda 2023; a heuristic above).
        ``"mixed"``: ``mix·τ/Στ + (1−mix)·s/Σs`` with ``s`` the Lewis bound (Munteanu & Omlor
        2024). ``"uniform"``: all ones.
    mix
        Weight of leverage in ``"mixed"``, in ``[0, 1]``.
    tol, max_iter
        Passed to :func:`lewis_weights`.
    n_threads
        Worker threads (default: all cores).

    Returns
    -------
    numpy.ndarray
        Non-negative float64 scores of shape ``(n,)``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}; got {scheme!r}")
    return _core.sensitivity_scores(
        _as_matrix(A),
        _check_p(p),
        scheme=scheme,
        mix=float(mix),
        tol=float(tol),
        max_iter=check_int("max_iter", max_iter, 1),
        n_threads=check_threads(n_threads),
    )


def _sample_raw(
    scores: Any, k: int, method: str, seed: int, n_threads: Optional[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.ascontiguousarray(np.asarray(scores, dtype=np.float64))
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got {s.ndim}-D")
    if method not in SAMPLERS:
        raise ValueError(f"method must be one of {', '.join(SAMPLERS)}; got {method!r}")
    k = check_int("k", k, 1)
    if k > s.shape[0]:
        raise ValueError(f"k must be <= the number of rows ({s.shape[0]}), got {k}")
    return _core.sample(
        s, k, method=method, seed=check_seed(seed), n_threads=check_threads(n_threads)
    )


def sample(
    scores: Any,
    k: int,
    *,
    method: str = "bernoulli",
    seed: int = 0,
    n_threads: Optional[int] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample about ``k`` rows with probabilities driven by ``scores``; weights keep sums unbiased.

    Parameters
    ----------
    scores
        Non-negative finite scores, shape ``(n,)``; rows scoring 0 are never selected.
    k
        Sample size: exactly ``k`` draws for ``"iid"``, exactly ``k`` rows for ``"priority"``,
        ``k`` rows in expectation for ``"bernoulli"``.
    method
        ``"bernoulli"``: independent inclusion with ``p_i = min(1, c·s_i)``, ``c`` chosen so that
        ``Σp_i = k``, weight ``1/p_i``. ``"iid"``: ``k`` draws with replacement from
        ``q = s/Σs``, weight ``(times drawn)/(k·q_i)``. ``"priority"``: priority sampling
        (Duffield, Lund & Thorup 2007), the ``k`` largest ``s_i/u_i``, weight
        ``max(s_i, τ)/s_i``.
    seed
        Random numbers are keyed by ``(seed, row)``: identical output for any thread count.
    n_threads
        Worker threads (default: all cores).

    Returns
    -------
    indices : numpy.ndarray
        Distinct selected rows, ascending, int64.
    weights : numpy.ndarray
        float64 weights with ``E[Σ_{i∈S} w_i f_i] = Σ_i f_i`` for any ``f``.

    Raises
    ------
    ValueError
        Negative or non-finite scores, all scores 0, ``k < 1``, ``k > n`` (and, for
        ``"bernoulli"``/``"priority"``, ``k`` above the number of positive scores).

    Examples
    --------
    >>> from tamis.sensitivity import sample
    >>> idx, w = sample([1.0, 1.0, 2.0, 4.0], 2, method="priority", seed=1)
    >>> len(idx)
    2
    """
    idx, w, _ = _sample_raw(scores, k, method, seed, n_threads)
    return idx, w


@dataclass(frozen=True)
class Coreset:
    """A weighted row subset: ``A[indices]`` with ``weights`` approximates ``A`` in l_p.

    Attributes
    ----------
    indices
        Selected rows, ascending, int64.
    weights
        Their weights (1/probability).
    probabilities
        Their inclusion probabilities.
    scores
        The sampling scores of all rows.
    """

    indices: np.ndarray
    weights: np.ndarray
    probabilities: np.ndarray
    scores: np.ndarray


def coreset(
    A: Any,
    k: int,
    p: float,
    *,
    b: Any = None,
    scheme: str = "lewis",
    method: str = "bernoulli",
    mix: float = 0.5,
    seed: int = 0,
    tol: float = 1e-8,
    max_iter: int = 100,
    n_threads: Optional[int] = None,
) -> Coreset:
    """An l_p sensitivity-sampling coreset of the rows of ``A`` (of ``[A b]`` when ``b`` is given).

    Parameters
    ----------
    A
        Dense ``(n, d)`` matrix.
    k
        Sample size (see :func:`sample`).
    p
        The norm to preserve, ``p >= 1``.
    b
        Optional targets ``(n,)`` for l_p regression; scores are then computed on ``[A b]`` so the
        coreset preserves ``||Ax − b||_p`` for every ``x``.
    scheme, mix, tol, max_iter
        See :func:`sensitivity_scores`.
    method, seed
        See :func:`sample`.
    n_threads
        Worker threads (default: all cores).

    Returns
    -------
    Coreset
        ``indices``, ``weights``, ``probabilities`` and the ``scores`` used.

    Examples
    --------
    >>> import numpy as np
    >>> from tamis.sensitivity import coreset
    >>> A = np.random.default_rng(0).standard_normal((1000, 4))
    >>> cs = coreset(A, 100, p=1.0, seed=0)
    >>> bool(abs(cs.weights.sum() / 1000 - 1) < 0.3)
    True
    """
    a = _as_matrix(A)
    if b is not None:
        bb = np.asarray(b, dtype=a.dtype).reshape(-1)
        if bb.shape[0] != a.shape[0]:
            raise ValueError(
                f"b must have {a.shape[0]} entries (one per row of A), got {bb.shape[0]}"
            )
        a = np.ascontiguousarray(np.column_stack([a, bb]))
    s = sensitivity_scores(
        a, p, scheme=scheme, mix=mix, tol=tol, max_iter=max_iter, n_threads=n_threads
    )
    idx, w, prob = _sample_raw(s, k, method, seed, n_threads)
    return Coreset(indices=idx, weights=w, probabilities=prob, scores=s)


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
