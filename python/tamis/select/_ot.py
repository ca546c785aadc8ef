"""Entropic OT (the Rust core's log-domain Sinkhorn) and GOT-D gradient selection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from tamis import _core
from tamis._base import Selection
from tamis._validation import check_int, check_threads

METRICS = ("cosine", "sqeuclidean")


@dataclass
class OTResult:
    """Entropic OT between a pool and a target.

    ``cost`` is ``⟨P, M⟩`` (POT's ``sinkhorn2``); ``f`` (pool) and ``g`` (target) are the dual
    potentials ``eps · log u`` and ``eps · log v``; ``n_iter``, ``err`` (marginal violation
    ``‖Pᵀ1 − b‖₂``) and ``converged`` report the iteration.
    """

    cost: float
    f: np.ndarray
    g: np.ndarray
    n_iter: int
    err: float
    converged: bool


def _points(x: Any, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of points, got shape {arr.shape}")
    return arr


def _mass(w: Any, n: int, name: str) -> np.ndarray:
    if w is None:
        return np.full(n, 1.0 / n) if n else np.empty(0)
    arr = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    if arr.shape != (n,):
        raise ValueError(f"{name} must have one mass per point ({n}), got shape {arr.shape}")
    return arr


def sinkhorn(
    pool: Any,
    target: Any,
    *,
    a: Any = None,
    b: Any = None,
    eps: float = 0.05,
    metric: str = "cosine",
    max_iter: int = 1000,
    tol: float = 1e-9,
    cost: Any = None,
    max_memory: int = 1 << 30,
    n_threads: Optional[int] = None,
    device: Optional[str] = None,
) -> OTResult:
    """Entropic OT between ``pool`` (n × d, masses ``a``) and ``target`` (m × d, masses ``b``).

    Parameters
    ----------
    pool, target
        Points (float32/float64 arrays); masses default to uniform.
    eps
        Entropic regularisation (POT's ``reg``), in the cost's units; the log-domain iteration
        stays stable for small values.
    metric
        ``"cosine"`` (``1 − cos``) or ``"sqeuclidean"``; ignored when ``cost`` is given.
    max_iter, tol
        POT's ``numItermax`` and ``stopThr`` (marginal error checked every 10 iterations).
    cost
        A precomputed ``n × m`` cost matrix instead of points (then ``pool``/``target`` may be
        None).
    max_memory
        Bytes the cached cost matrix may take (``n × m × 8``); above it the cost is recomputed in
        blocks of 256 pool rows every iteration, so memory stays O(256 × m).
    device
        A torch device (``"cuda"``, ``"cpu"``, ...; needs ``tamis[torch]``): the same iteration
        in float64 torch on that device, with the whole cost matrix in its memory. ``None``: the
        Rust core (CPU threads).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be 'cosine' or 'sqeuclidean', got {metric!r}")
    max_iter = check_int("max_iter", max_iter, 1)
    nt = check_threads(n_threads)
    if device is not None:
        return _sinkhorn_torch(pool, target, a, b, eps, metric, max_iter, tol, cost, device)
    if cost is not None:
        m = np.ascontiguousarray(np.asarray(cost, dtype=np.float64))
        if m.ndim != 2:
            raise ValueError(f"cost must be an n × m matrix, got shape {m.shape}")
        out = _core.sinkhorn_cost(
            m,
            _mass(a, m.shape[0], "a"),
            _mass(b, m.shape[1], "b"),
            eps=float(eps),
            max_iter=max_iter,
            tol=float(tol),
            n_threads=nt,
        )
    else:
        x, y = _points(pool, "pool"), _points(target, "target")
        out = _core.sinkhorn_points(
            x,
            y,
            _mass(a, len(x), "a"),
            _mass(b, len(y), "b"),
            eps=float(eps),
            metric=metric,
            max_iter=max_iter,
            tol=float(tol),
            cache_bytes=check_int("max_memory", max_memory, 0),
            n_threads=nt,
        )
    return OTResult(*out)


def _sinkhorn_torch(
    pool: Any,
    target: Any,
    a: Any,
    b: Any,
    eps: float,
    metric: str,
    max_iter: int,
    tol: float,
    cost: Any,
    device: str,
) -> OTResult:
    """POT's ``sinkhorn_log`` iteration in torch (float64) on ``device``."""
    import torch

    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps}")
    dt = torch.float64
    if cost is not None:
        m = torch.as_tensor(np.asarray(cost, dtype=np.float64), device=device)
    else:
        x = torch.as_tensor(_points(pool, "pool"), device=device)
        y = torch.as_tensor(_points(target, "target"), device=device)
        if metric == "cosine":
            x = x / x.norm(dim=1, keepdim=True)
            y = y / y.norm(dim=1, keepdim=True)
            m = 1.0 - x @ y.T
        else:
            m = ((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T).clamp_min(0.0)
    n, k = m.shape
    wa = torch.as_tensor(_mass(a, n, "a"), dtype=dt, device=device)
    wb = torch.as_tensor(_mass(b, k, "b"), dtype=dt, device=device)
    if bool((wa <= 0).any()) or bool((wb <= 0).any()):
        raise ValueError("masses must be positive")
    mr = -m / eps
    log_a, log_b = wa.log(), wb.log()
    u = torch.zeros(n, dtype=dt, device=device)
    v = torch.zeros(k, dtype=dt, device=device)
    err, it, converged = float("inf"), 0, False
    for it in range(max_iter):
        v = log_b - torch.logsumexp(mr + u[:, None], 0)
        u = log_a - torch.logsumexp(mr + v[None, :], 1)
        if it % 10 == 0:
            err = float(torch.linalg.norm(torch.exp(mr + u[:, None] + v[None, :]).sum(0) - wb))
            if err < tol:
                converged = True
                break
    plan = torch.exp(mr + u[:, None] + v[None, :])
    return OTResult(
        cost=float((plan * m).sum()),
        f=(u * eps).cpu().numpy(),
        g=(v * eps).cpu().numpy(),
        n_iter=it,
        err=err,
        converged=converged,
    )


def gradient_select(
    pool: Any,
    target: Any,
    k: int,
    *,
    eps: float = 0.05,
    metric: str = "cosine",
    rounds: int = 1,
    max_iter: int = 1000,
    tol: float = 1e-9,
    ids: Any = None,
    max_memory: int = 1 << 30,
    n_threads: Optional[int] = None,
    device: Optional[str] = None,
) -> Selection:
    """GOT-D: the ``k`` pool points whose OT gradient toward ``target`` is most negative.

    Kang et al. 2024 ("Get more for less: principled data selection for warming up fine-tuning
    in LLMs"): with uniform pool mass, the gradient of ``OT_eps(pool, target)`` with respect to
    the mass of pool point ``i`` is its dual potential ``f_i`` up to a constant (the paper's
    calibrated gradient ``f_i − Σ_{j≠i} f_j / (n − 1)`` ranks the points as ``f_i`` does).
    Points with the most negative gradient are those whose extra mass moves the pool toward the
    target the most. With ``rounds > 1`` the selection is made in ``rounds`` equal parts, the OT
    re-solved each time without the points already selected.

    Returns
    -------
    Selection
        ``indices`` in input order; columns ``potential`` (``f_i`` of the round that chose the
        point), ``gradient`` (the calibrated gradient) and ``round``; ``info``: the OT cost of
        the first round, iterations.
    """
    x, y = _points(pool, "pool"), _points(target, "target")
    n = len(x)
    k = check_int("k", k, 1, n)
    rounds = check_int("rounds", rounds, 1, k)
    alive = np.arange(n)
    chosen: list[np.ndarray] = []
    pot: list[np.ndarray] = []
    grad: list[np.ndarray] = []
    rnd: list[np.ndarray] = []
    costs, iters = [], []
    sizes = np.diff(np.linspace(0, k, rounds + 1).round().astype(np.int64))
    for r, size in enumerate(sizes):
        res = sinkhorn(
            x[alive],
            y,
            eps=eps,
            metric=metric,
            max_iter=max_iter,
            tol=tol,
            max_memory=max_memory,
            n_threads=n_threads,
            device=device,
        )
        costs.append(res.cost)
        iters.append(res.n_iter)
        f = res.f
        m = len(f)
        calibrated = (f - (f.sum() - f) / (m - 1)) if m > 1 else f.copy()
        # Most negative first; ties by input position (stable), so the result is deterministic.
        order = np.argsort(f, kind="stable")[:size]
        chosen.append(alive[order])
        pot.append(f[order])
        grad.append(calibrated[order])
        rnd.append(np.full(len(order), r, np.int64))
        alive = np.delete(alive, order)
    idx = np.concatenate(chosen)
    sort = np.argsort(idx, kind="stable")
    idx = idx[sort]
    sel_ids = None if ids is None else np.asarray(ids)[idx]
    return Selection(
        indices=idx,
        ids=sel_ids,
        columns={
            "potential": np.concatenate(pot)[sort],
            "gradient": np.concatenate(grad)[sort],
            "round": np.concatenate(rnd)[sort],
        },
        n_rows=n,
        method="otgrad",
        info={"ot_cost": costs[0], "ot_costs": costs, "n_iter": iters, "eps": eps},
    )
