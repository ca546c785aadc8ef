"""Argument checks shared by the public API: messages name the parameter and the bad value."""

from __future__ import annotations

from typing import Any

U64_MAX = 2**64 - 1


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]`` or raise naming ``name``."""
    if isinstance(value, bool) or (
        not isinstance(value, (int,)) and not hasattr(value, "__index__")
    ):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}, got {v}")
    return v


def check_seed(seed: Any) -> int:
    """A seed as an unsigned 64-bit integer."""
    return check_int("seed", seed, 0, U64_MAX)


def check_threads(n_threads: Any) -> int | None:
    """``None`` (all cores) or a positive thread count."""
    return None if n_threads is None else check_int("n_threads", n_threads, 1, 4096)
