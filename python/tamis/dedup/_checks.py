"""Argument checks shared by the dedup engine modules and the estimator."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` naming ``name``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def check_threshold(threshold: Any) -> float:
    """A Jaccard threshold in the open interval (0, 1)."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise TypeError(f"threshold must be a number, got {type(threshold).__name__}") from None
    if not 0.0 < t < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    return t


def check_signatures(signatures: Any) -> np.ndarray:
    """A C-contiguous ``(n_docs, num_perm)`` uint32 array."""
    sig = np.asarray(signatures)
    if sig.ndim != 2 or sig.dtype != np.uint32:
        raise TypeError("signatures must be a 2-d uint32 array (n_docs, num_perm)")
    return np.ascontiguousarray(sig)


def not_empty(signatures: np.ndarray) -> np.ndarray:
    """Rows whose signature is not all ``2**32 - 1`` (empty and null documents are)."""
    return ~(signatures == np.uint32(0xFFFFFFFF)).all(axis=1)
