"""Samplers and coresets: draw rows by score, weight them by 1/probability."""

from __future__ import annotations

from typing import Any, ClassVar, Optional

import numpy as np

from tamis import _core
from tamis._base import Selection
from tamis._validation import check_int, check_seed, check_threads
from tamis.sensitivity._scores import _as_matrix, sensitivity_scores

SAMPLERS = ("bernoulli", "iid", "priority")


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


class Coreset(Selection):
    """A weighted row subset: ``A[indices]`` with weights ``weight`` approximates ``A`` in l_p.

    A :class:`tamis._base.Selection` (``method`` ``"coreset/<scheme>/<sampler>"``) with

    - ``indices``: the selected rows, ascending, int64 (``ids``: the same row numbers);
    - ``columns["weight"]``: their weights (1/probability, or draws/(k·q) for ``"iid"``);
    - ``columns["probability"]``: their inclusion probabilities;
    - ``rows["score"]``: the sampling score of every row of ``A``;
    - ``info``: ``p``, ``k`` and ``seed``.

    ``to_arrow()`` gives ``index, id, weight, probability``. The names of earlier releases stay
    readable: ``weights``, ``probabilities`` (per selected row) and ``scores`` (per input row).
    """

    aliases: ClassVar[dict[str, str]] = {
        "weights": "weight",
        "probabilities": "probability",
        "scores": "score",
    }


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
        A :class:`tamis._base.Selection`: ``indices``, the columns ``weight`` and
        ``probability`` (also readable as ``weights``, ``probabilities``) and the row scores
        ``rows["score"]`` (``scores``).

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
    return Coreset(
        idx,
        columns={"weight": w, "probability": prob},
        rows={"score": s},
        n_rows=int(s.shape[0]),
        method=f"coreset/{scheme}/{method}",
        info={"p": float(p), "k": int(k), "seed": int(seed)},
    )
