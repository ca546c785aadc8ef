"""Argument checks shared by the public API: messages name the parameter and the bad value."""

from __future__ import annotations

import os
import warnings
from typing import Any, Optional

import numpy as np

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


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS reports one)."""
    count = getattr(os, "process_cpu_count", None)  # Python >= 3.13
    if count is not None:
        return int(count() or 1)
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def max_threads() -> int:
    """Largest thread count used as asked: twice the CPUs, at least 4 (see :func:`check_threads`)."""
    return max(4, 2 * available_cpus())


def check_threads(n_threads: Any, name: str = "n_threads") -> int | None:
    """``None`` (all cores, or ``TAMIS_NUM_THREADS``: read by the Rust core) or a positive count.

    The one thread policy of the package: fewer than 1 is a ValueError. Mild oversubscription
    (up to :func:`max_threads`, twice the CPUs and at least 4) is used as asked: it costs little
    and is how the tests check that results do not depend on the thread count. Beyond that,
    extra threads only add overhead (4000 threads made dedup 75x slower), so the count is
    capped at the CPU count with a RuntimeWarning. Results never depend on the thread count, so
    capping cannot change them.
    """
    if n_threads is None:
        return None
    n = check_int(name, n_threads, 1)
    if n > max_threads():
        cpus = available_cpus()
        warnings.warn(
            f"{name}={n} exceeds the {cpus} CPUs available; using {cpus} "
            "(extra threads only add overhead)",
            RuntimeWarning,
            stacklevel=3,
        )
        return cpus
    return n


def check_counts(name: str, value: Any, ndim: int, length: Optional[int] = None) -> np.ndarray:
    """Count data as a C-contiguous uint64 array, or raise naming ``name``.

    Counts must be integral, finite and non-negative (a negative count would wrap around to
    ~1.8e19 as uint64, a NaN to an arbitrary integer), ``ndim``-dimensional, with ``length``
    entries along the last axis when given.
    """
    a = np.asarray(value)
    if a.dtype == np.bool_ or not (
        np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
    ):
        raise TypeError(f"{name} must be an array of integer counts, got dtype {a.dtype}")
    if a.ndim != ndim or (length is not None and a.shape[-1] != length):
        last = "n_buckets" if length is None else str(length)
        want = f"(n_targets, {last})" if ndim == 2 else f"({last},)"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if np.issubdtype(a.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise ValueError(f"{name} must be finite, got {a.flat[bad[0]]} at flat index {bad[0]}")
        bad = np.flatnonzero(a != np.floor(a))
        if bad.size:
            raise ValueError(
                f"{name} must be whole numbers, got {a.flat[bad[0]]} at flat index {bad[0]}"
            )
        bad = np.flatnonzero(a >= 2.0**64)
        if bad.size:
            raise ValueError(f"{name} must be < 2**64, got {a.flat[bad[0]]} at flat index {bad[0]}")
    if not np.issubdtype(a.dtype, np.unsignedinteger):
        bad = np.flatnonzero(a < 0)
        if bad.size:
            raise ValueError(f"{name} must be >= 0, got {a.flat[bad[0]]} at flat index {bad[0]}")
    return np.ascontiguousarray(a, dtype=np.uint64)


def check_matrix(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a C-contiguous float32/float64 2-D array (no copy when it already is one).

    Other numeric dtypes become float64; sparse matrices, non-numeric arrays and arrays that are
    not 2-D raise naming ``name``.
    """
    if hasattr(X, "toarray") and not isinstance(X, np.ndarray):
        raise TypeError(f"{name} must be a dense array; sparse input: call .toarray() first")
    a = np.asarray(X)
    if a.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
        a = a.astype(np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n rows × d columns), got {a.ndim}-D")
    return np.ascontiguousarray(a)
