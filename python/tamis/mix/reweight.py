"""Online reweighting of domains from training signals: pure functions over weight vectors.

- :func:`exp_weights_update`: the exponentiated-gradient step of DoReMi (Xie et al. 2023,
  Algorithm 1) and DGA (Fan et al. 2024): ``α' ∝ α ⊙ exp(η·λ)`` (in log space), then mixed with
  the uniform distribution, ``(1 − c)·α' + c/k``.
- :func:`skill_it_update`: Skill-it's online mixture (Chen et al. 2023, Algorithm 1):
  ``p' ∝ p ⊙ exp(η·A·L)``, with ``A[i, j]`` how much training on skill ``i`` helps skill ``j``
  and ``L[j]`` skill ``j``'s validation loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _probabilities(weights: Any, name: str = "weights") -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d array, got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"{name} must be finite, >= 0 and not all 0, got {w.tolist()}")
    return w / w.sum()


def _signal(signal: Any, k: int, name: str) -> np.ndarray:
    s = np.asarray(signal, dtype=np.float64)
    if s.shape != (k,):
        raise ValueError(f"{name} must have shape ({k},), got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} must be finite, got {s.tolist()}")
    return s


def _exp_step(p: np.ndarray, step: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        logits = np.log(p) + step
    logits -= logits[np.isfinite(logits)].max()
    out = np.exp(logits)
    return out / out.sum()


def exp_weights_update(
    weights: Any, signal: Any, eta: float = 1.0, smoothing: float = 1e-3
) -> np.ndarray:
    """One multiplicative-weights step: ``(1 − c)·normalize(α ⊙ exp(η·λ)) + c/k``.

    Parameters
    ----------
    weights
        Current domain weights ``α`` (normalised first).
    signal
        Per-domain signal ``λ`` (DoReMi: the clipped excess loss of the proxy over the reference
        model; DGA: the alignment of each domain's gradient with the target's).
    eta
        Step size ``η``.
    smoothing
        ``c`` in [0, 1]: the share of the uniform distribution mixed in.

    Examples
    --------
    >>> exp_weights_update([0.5, 0.5], [0.0, np.log(3.0)], eta=1.0, smoothing=0.0).tolist()
    [0.25, 0.75]
    """
    p = _probabilities(weights)
    s = _signal(signal, len(p), "signal")
    c = float(smoothing)
    if not 0 <= c <= 1:
        raise ValueError(f"smoothing must be in [0, 1], got {smoothing}")
    out = _exp_step(p, float(eta) * s)
    return (1 - c) * out + c / len(p)


def skill_it_update(
    weights: Any, graph: Any, losses: Any, eta: float = 1.0, smoothing: float = 0.0
) -> np.ndarray:
    """One Skill-it step: ``p' ∝ p ⊙ exp(η · Σ_j A[i, j] · L[j])``, then mixed with uniform.

    Parameters
    ----------
    weights
        Current mixture over the ``k`` training skills.
    graph
        ``A``, shape ``(k, m)``: ``A[i, j] >= 0`` is how much training on skill ``i`` lowers the
        loss of evaluation skill ``j`` (the identity when skills are independent).
    losses
        ``L``, shape ``(m,)``: the evaluation skills' current validation losses.
    eta, smoothing
        Step size and the uniform share, as in :func:`exp_weights_update`.

    Examples
    --------
    >>> A = [[1.0, 0.0], [1.0, 1.0]]
    >>> skill_it_update([0.5, 0.5], A, [0.0, np.log(2.0)]).tolist()
    [0.3333333333333333, 0.6666666666666666]
    """
    p = _probabilities(weights)
    a = np.asarray(graph, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != len(p):
        raise ValueError(f"graph must have shape ({len(p)}, m), got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("graph must be finite")
    loss = _signal(losses, a.shape[1], "losses")
    c = float(smoothing)
    if not 0 <= c <= 1:
        raise ValueError(f"smoothing must be in [0, 1], got {smoothing}")
    out = _exp_step(p, float(eta) * (a @ loss))
    return (1 - c) * out + c / len(p)
