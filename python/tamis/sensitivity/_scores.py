"""Sensitivity scores: leverage scores, l_p Lewis weights and the sampling schemes built on them.

Also the input checks every part of :mod:`tamis.sensitivity` shares (:func:`_as_matrix`,
:func:`_check_p`).
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np

from tamis import _core
from tamis._validation import check_int, check_matrix, check_seed, check_threads

SCHEMES = ("lewis", "leverage", "root_leverage", "mixed", "uniform")


_as_matrix = check_matrix


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
    ``w`` is the leverage), accelerated by Chebyshev semi-iteration in log space on the known
    spectral interval of the map (asymptotic rate ``0.17`` at ``p = 1`` and ``0.10`` at ``p = 3``
    instead of ``|p/2 − 1|``; about 11 steps to 1e-6 at ``p = 1`` on heavy-tailed data, where the
    plain iteration takes 23). The first steps run their matrix passes in float32 while the
    residual is far above float32 rounding; the final ones are float64. ``Σw = rank A``. Rows of
    zeros get weight 0.

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
