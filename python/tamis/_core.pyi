"""Type stubs of the native module ``tamis._core`` (hand-written; checked by mypy.stubtest)."""

from typing import Optional, final

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

@final
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
        hash: str = "xxh3",
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

# --- importance (DSIR) ---------------------------------------------------------------------------

@final
class ImportanceModel:
    """A fitted DSIR model: per-bucket log ratios of each target against the raw corpus."""

    @staticmethod
    def fit(
        featurizer: Featurizer,
        target_counts: npt.NDArray[np.uint64],
        raw_counts: npt.NDArray[np.uint64],
        *,
        alpha: float = 0.0,
        smooth_raw: bool = False,
        eps: float = 1e-8,
    ) -> ImportanceModel:
        """Fits ``ln(p_t + eps) - ln(p_raw + eps)`` with add-alpha smoothing (targets are rows)."""
    @staticmethod
    def from_log_ratio(
        featurizer: Featurizer, log_ratio: npt.NDArray[np.float64]
    ) -> ImportanceModel:
        """A model from saved log ratios (``n_buckets x n_targets``)."""
    @property
    def log_ratio(self) -> npt.NDArray[np.float64]:
        """Per-bucket log ratios, ``n_buckets x n_targets``."""
    @property
    def n_targets(self) -> int:
        """Number of targets."""
    def log_weights(
        self,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid = None,
        *,
        length_norm: Optional[float] = None,
        n_threads: Optional[int] = None,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint64]]:
        """Log weights (``n_rows x n_targets``; rescaled to ``length_norm`` tokens) and tokens."""

@final
class TopK:
    """Streaming top-k by key; ties go to the smaller id hash, then the smaller position."""

    def __new__(cls, k: int) -> TopK: ...
    def push(
        self,
        keys: npt.NDArray[np.float64],
        id_hashes: npt.NDArray[np.uint64],
        positions: npt.NDArray[np.uint64],
        eligible: Optional[npt.NDArray[np.bool_]] = None,
    ) -> npt.NDArray[np.bool_]:
        """Offers a batch; returns which rows are kept for now."""
    def merge(self, other: TopK) -> None:
        """Adds another selection's entries (exact: a top-k of top-ks)."""
    def entries(
        self,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """Kept entries, best first: ``(keys, id_hashes, positions)``."""
    @property
    def k(self) -> int:
        """Capacity."""
    @property
    def seen(self) -> int:
        """Entries offered so far."""
    def __len__(self) -> int: ...

def id_hashes(offsets: _Offsets, data: _Bytes, validity: _Valid = None) -> npt.NDArray[np.uint64]:
    """XXH3-64 (seed 0) of every id string; null ids hash as the empty string."""

def gumbel_noise(
    id_hashes: npt.NDArray[np.uint64], *, seed: int, target: int = 0
) -> npt.NDArray[np.float64]:
    """Standard Gumbel noise keyed by ``(seed, target, id_hash)``."""

def select_sequential(
    tops: list[TopK], ks: list[int]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Target ``t`` takes its best ``ks[t]`` candidates not taken before: ``(positions, targets)``."""

def split_k(k: int, proportions: list[float]) -> list[int]:
    """``floor(k * p)`` per target, the remainder to the last (the reference's split)."""

def sequential_capacities(ks: list[int]) -> list[int]:
    """Per-target TopK capacities that make :func:`select_sequential` exact."""

def sample_with_replacement(
    log_weights: npt.NDArray[np.float64],
    k: int,
    *,
    seed: int,
    eligible: Optional[npt.NDArray[np.bool_]] = None,
) -> npt.NDArray[np.uint64]:
    """``k`` draws with replacement, ``P(i) ∝ exp(log_weights[i])``; sorted row indices."""

def kl_reduction(
    target_counts: npt.NDArray[np.uint64],
    raw_counts: npt.NDArray[np.uint64],
    selected_counts: npt.NDArray[np.uint64],
) -> float:
    """Mean over targets of ``KL(t||raw) - KL(t||selected)`` (eps 1e-10), from bucket counts."""
