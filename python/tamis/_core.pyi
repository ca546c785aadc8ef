"""Type stubs of the native module ``tamis._core`` (hand-written; checked by mypy.stubtest)."""

from typing import Optional

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeAlias

__version__: str
build_profile: str
unicode_version: str
default_threads: int

class TamisError(Exception):
    """Base class of the errors raised by tamis that are not argument errors."""

def xxh3_64(data: bytes, seed: int = 0) -> int:
    """XXH3-64 of ``data`` with ``seed``."""

def normalize(
    text: str,
    *,
    lowercase: bool = True,
    nfkc: bool = False,
    strip_punctuation: bool = False,
    fold_whitespace: bool = False,
) -> str:
    """Normalise one text."""

def tokenize(
    text: str,
    *,
    lowercase: bool = True,
    nfkc: bool = False,
    strip_punctuation: bool = False,
    fold_whitespace: bool = False,
) -> list[str]:
    """Normalise one text and return its ``\\w+|[^\\w\\s]+`` tokens."""

_Offsets: TypeAlias = npt.NDArray[np.int32] | npt.NDArray[np.int64]
_Bytes: TypeAlias = npt.NDArray[np.uint8]
_Valid: TypeAlias = Optional[npt.NDArray[np.bool_]]

class Featurizer:
    """Hashed n-gram featuriser over Arrow string buffers."""

    def __new__(
        cls,
        *,
        n_buckets: int,
        min_n: int,
        max_n: int,
        analyzer: str = "word",
        lowercase: bool = True,
        nfkc: bool = False,
        strip_punctuation: bool = False,
        fold_whitespace: bool = False,
        seed: int = 0,
    ) -> Featurizer: ...
    def buckets(self, text: str) -> list[int]:
        """Buckets of every n-gram of one text, in text order."""
    def count_tokens(
        self,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid = None,
        n_threads: Optional[int] = None,
    ) -> npt.NDArray[np.uint64]:
        """Tokens per row after normalisation."""
    def transform_csr(
        self,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid = None,
        n_threads: Optional[int] = None,
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.uint32],
        npt.NDArray[np.uint32],
        npt.NDArray[np.uint64],
    ]:
        """CSR counts: ``(indptr, indices, counts, n_tokens)``."""
    def transform_dense(
        self,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid = None,
        n_threads: Optional[int] = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint64]]:
        """Dense counts ``(n_rows, n_buckets)`` and tokens per row."""
    def accumulate(
        self,
        offsets: _Offsets,
        data: _Bytes,
        counts: npt.NDArray[np.uint64],
        validity: _Valid = None,
        n_threads: Optional[int] = None,
    ) -> dict[str, int]:
        """Add every row's n-gram counts into ``counts``; returns document/token statistics."""

# --- sensitivity (l_p sensitivity sampling; documented API in tamis.sensitivity) ---
_FloatMatrix: TypeAlias = npt.NDArray[np.float32] | npt.NDArray[np.float64]

def leverage_scores(
    a: _FloatMatrix,
    *,
    method: str = "exact",
    sketch_rows: Optional[int] = None,
    jl_dim: Optional[int] = None,
    seed: int = 0,
    n_threads: Optional[int] = None,
) -> tuple[npt.NDArray[np.float64], int, str, float]:
    """Leverage scores of a C-contiguous matrix: ``(scores, rank, solver, gram_condition)``."""

def lewis_weights(
    a: _FloatMatrix,
    p: float,
    *,
    tol: float = 1e-8,
    max_iter: int = 100,
    n_threads: Optional[int] = None,
) -> tuple[npt.NDArray[np.float64], int, bool, float, int]:
    """l_p Lewis weights: ``(weights, n_iter, converged, max_change, rank)``."""

def sensitivity_scores(
    a: _FloatMatrix,
    p: float,
    *,
    scheme: str = "lewis",
    mix: float = 0.5,
    tol: float = 1e-8,
    max_iter: int = 100,
    n_threads: Optional[int] = None,
) -> npt.NDArray[np.float64]:
    """Sampling scores under ``scheme`` (lewis, leverage, root_leverage, mixed, uniform)."""

def sample(
    scores: npt.NDArray[np.float64],
    k: int,
    *,
    method: str = "bernoulli",
    seed: int = 0,
    n_threads: Optional[int] = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Weighted sample: ``(indices, weights, inclusion probabilities)``."""

def bernoulli_probabilities(scores: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.float64]:
    """``p_i = min(1, c·s_i)`` with ``Σp_i = k``."""
