"""Type stubs of the native module ``tamis._core`` (hand-written; checked by mypy.stubtest)."""

from collections.abc import Sequence
from typing import Any, Optional, final

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeAlias

# What rust/src/py/mod.rs registers (pyo3 builds the runtime __all__ from it), sorted.
__all__ = [
    "MAX_NUM_PERM",
    "DatatroveIndex",
    "DatatroveSplits",
    "DecontamIndex",
    "EntryMatcher",
    "FastTextModel",
    "Featurizer",
    "ImportanceModel",
    "MinHasher",
    "MixParquetText",
    "MixTextBlock",
    "QualityRules",
    "TamisError",
    "TopK",
    "__version__",
    "balance_draw",
    "band_keys",
    "bernoulli_probabilities",
    "build_profile",
    "candidate_pairs",
    "candidate_rows",
    "datatrove_chunks",
    "datatrove_simplify",
    "default_threads",
    "edges_from_keys",
    "exact_roots",
    "gumbel_noise",
    "id_hashes",
    "keep_policy",
    "keyed_uniforms",
    "kl_reduction",
    "kmeans_assign",
    "kmeans_fit",
    "leverage_scores",
    "lewis_weights",
    "line_hashes",
    "linear_decision",
    "linear_decision_texts",
    "linear_fit",
    "lsh_clusters",
    "lsh_params",
    "merge_centroids",
    "mig_greedy",
    "mix_block_gather",
    "mix_block_strings",
    "mix_gather",
    "mix_integer_weights",
    "mix_reweight",
    "mix_schedule",
    "mix_strings",
    "normalize",
    "permutation",
    "repeated",
    "rule_sentences",
    "rule_words",
    "sample",
    "sample_with_replacement",
    "select_sequential",
    "semdedup",
    "sensitivity_scores",
    "sequential_capacities",
    "sinkhorn_cost",
    "sinkhorn_points",
    "split_k",
    "tape_record",
    "text_hashes",
    "tokenize",
    "unicode_version",
    "union_roots",
    "weigh_counts",
    "xxh3_64",
]

__version__: str
build_profile: str
unicode_version: str
default_threads: int
MAX_NUM_PERM: int

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

# --- decontam ---------------------------------------------------------------------------------

@final
class DecontamIndex:
    """The n-gram index of eval sets (see :class:`tamis.decontam.DecontaminationIndex`)."""

    @staticmethod
    def build(
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid,
        item_set: npt.NDArray[np.uint32],
        n_sets: int,
        *,
        ngram: int = 13,
        min_tokens: int = 8,
        n_threads: Optional[int] = None,
    ) -> DecontamIndex:
        """Index a text column of items, item ``i`` in set ``item_set[i]``."""
    @staticmethod
    def from_arrays(
        *,
        ngram: int,
        min_tokens: int,
        n_sets: int,
        keys: npt.NDArray[np.uint64],
        owners: npt.NDArray[np.uint32],
        short_keys: npt.NDArray[np.uint64],
        short_owners: npt.NDArray[np.uint32],
        short_lengths: npt.NDArray[np.uint32],
        multi_indptr: npt.NDArray[np.uint64],
        multi_items: npt.NDArray[np.uint32],
        item_set: npt.NDArray[np.uint32],
        item_ngrams: npt.NDArray[np.uint32],
    ) -> DecontamIndex:
        """Rebuild an index from :meth:`arrays` (checked: a corrupt file is a ValueError)."""
    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The arrays :meth:`from_arrays` takes."""
    @property
    def ngram(self) -> int:
        """Words per n-gram."""
    @property
    def min_tokens(self) -> int:
        """Shortest item indexed (whole)."""
    @property
    def n_sets(self) -> int:
        """Eval sets."""
    @property
    def n_items(self) -> int:
        """Items."""
    @property
    def n_ngrams(self) -> int:
        """Distinct indexed n-grams (short items included)."""
    @property
    def nbytes(self) -> int:
        """Bytes of the lookup structures."""
    def scan(
        self,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid,
        *,
        max_items: int = 10,
        n_threads: Optional[int] = None,
    ) -> dict[str, npt.NDArray[np.generic]]:
        """Per-document counts and CSR lists of windows, spans, items and sets."""

@final
class DatatroveSplits:
    """spaCy's tokens of the chunks it splits (the rest are one token each)."""

    def __new__(cls) -> DatatroveSplits: ...
    def insert(self, chunk: str, tokens: list[str]) -> None:
        """Record the tokens of ``chunk``."""
    def __len__(self) -> int: ...

@final
class DatatroveIndex:
    """A datatrove-compatible index (XXH64 of n-grams → eval set)."""

    @staticmethod
    def build(
        labels: list[str],
        queries: Optional[list[str]],
        item_set: npt.NDArray[np.uint32],
        splits: DatatroveSplits,
        *,
        ngram: int = 12,
        find_query_ngrams: bool = False,
        find_overlap_ngrams: bool = True,
        n_threads: Optional[int] = None,
    ) -> DatatroveIndex:
        """Index (label, query) items as ``NGramsDecontIndexer.compute_hashes``."""
    @staticmethod
    def from_arrays(
        hashes: npt.NDArray[np.uint64],
        sets: npt.NDArray[np.uint32],
        *,
        ngram: int = 12,
        find_query_ngrams: bool = False,
        find_overlap_ngrams: bool = True,
    ) -> DatatroveIndex:
        """An index from sorted hashes and their sets."""
    def arrays(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32]]:
        """``(hashes, sets)``."""
    @property
    def ngram(self) -> int:
        """n-gram length."""
    @property
    def find_query_ngrams(self) -> bool:
        """Query n-grams indexed."""
    @property
    def find_overlap_ngrams(self) -> bool:
        """Query/label overlap n-grams indexed."""
    def filter(
        self,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid,
        splits: DatatroveSplits,
        *,
        n_threads: Optional[int] = None,
    ) -> tuple[npt.NDArray[np.bool_], list[Optional[str]], npt.NDArray[np.int64]]:
        """``(keep, first contaminated n-gram, its set or -1)`` per row."""

def datatrove_simplify(text: str) -> str:
    """Datatrove's ``simplify_text`` with its default configuration."""

def datatrove_chunks(
    offsets: _Offsets, data: _Bytes, validity: _Valid, *, n_threads: Optional[int] = None
) -> list[str]:
    """Distinct space-free chunks of the simplified texts, sorted."""

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
    def log_weights_tape(
        self,
        ids: npt.NDArray[np.uint16],
        lens: npt.NDArray[np.uint64],
        n_tokens: npt.NDArray[np.uint64],
        *,
        length_norm: Optional[float] = None,
        n_threads: Optional[int] = None,
    ) -> npt.NDArray[np.float64]:
        """``log_weights`` of the rows of a tape (``tape_record``'s arrays or a slice of them)."""

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

def tape_record(
    featurizer: Featurizer,
    offsets: _Offsets,
    data: _Bytes,
    counts: npt.NDArray[np.uint64],
    validity: _Valid = None,
    n_threads: Optional[int] = None,
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Adds bucket counts into ``counts``; returns every n-gram's bucket, n-grams and tokens per row."""

@final
class MinHasher:
    """MinHash signatures (see :func:`tamis.minhash_signatures`)."""

    def __new__(
        cls,
        *,
        num_perm: int = 128,
        scheme: str = "fast",
        seed: int = 1,
        a: Optional[npt.NDArray[np.uint64]] = None,
        b: Optional[npt.NDArray[np.uint64]] = None,
        analyzer: str = "word",
        ngram: int = 5,
        lowercase: bool = True,
        nfkc: bool = False,
        strip_punctuation: bool = False,
        fold_whitespace: bool = False,
    ) -> MinHasher: ...
    @property
    def num_perm(self) -> int:
        """Signature length."""
    def shingles(self, text: str) -> list[bytes]:
        """The shingles of one text, as bytes (what datasketch's ``update`` receives)."""
    def permutations(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """The permutation parameters ``(a, b)``."""
    def signatures(
        self,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid = None,
        n_threads: Optional[int] = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint64]]:
        """``(n, num_perm)`` signatures and shingles per row."""
    def shingle_sets(
        self,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid = None,
        n_threads: Optional[int] = None,
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """Sorted unique shingle hashes per row in CSR layout ``(indptr, hashes)``."""

def lsh_params(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """``(num_bands, rows)`` as datasketch's ``_optimal_param`` chooses them."""

def candidate_pairs(
    signatures: npt.NDArray[np.uint32],
    valid: npt.NDArray[np.bool_],
    *,
    num_bands: int,
    rows: int,
    n_threads: Optional[int] = None,
) -> npt.NDArray[np.uint32]:
    """All pairs of valid rows sharing a band, ``(n_pairs, 2)``, sorted."""

def lsh_clusters(
    signatures: npt.NDArray[np.uint32],
    valid: npt.NDArray[np.bool_],
    *,
    num_bands: int,
    rows: int,
    threshold: float,
    verify: str = "estimate",
    set_indptr: Optional[npt.NDArray[np.uint64]] = None,
    set_hashes: Optional[npt.NDArray[np.uint64]] = None,
    pre_roots: Optional[npt.NDArray[np.uint32]] = None,
    n_threads: Optional[int] = None,
) -> npt.NDArray[np.uint32]:
    """Root (smallest row) of every row's duplicate cluster."""

def keep_policy(
    roots: npt.NDArray[np.uint32], priority: Optional[npt.NDArray[np.float64]] = None
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """``(keep, duplicate_of)``: highest priority (else first row) of each cluster is kept."""

def text_hashes(
    offsets: _Offsets,
    data: _Bytes,
    validity: _Valid = None,
    *,
    lowercase: bool = False,
    nfkc: bool = False,
    strip_punctuation: bool = False,
    fold_whitespace: bool = False,
    n_threads: Optional[int] = None,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """XXH3-128 of each normalised text as ``(n, 2)`` ``[high, low]``, and which rows are not null."""

def exact_roots(
    hashes: npt.NDArray[np.uint64], valid: npt.NDArray[np.bool_]
) -> npt.NDArray[np.uint32]:
    """Smallest row with the same hash, for every row."""

def band_keys(
    signatures: npt.NDArray[np.uint32],
    *,
    num_bands: int,
    rows: int,
    n_threads: Optional[int] = None,
) -> npt.NDArray[np.uint64]:
    """``(n, num_bands)`` band keys (XXH3-64 of the band's values, seeded by the band number)."""

def edges_from_keys(
    keys: npt.NDArray[np.uint64],
    rows: npt.NDArray[np.uint32],
    signatures: Optional[npt.NDArray[np.uint32]] = None,
    *,
    threshold: float = 0.0,
    verify: str = "estimate",
    set_indptr: Optional[npt.NDArray[np.uint64]] = None,
    set_hashes: Optional[npt.NDArray[np.uint64]] = None,
    n_threads: Optional[int] = None,
) -> npt.NDArray[np.uint32]:
    """Verified spanning-forest edges ``(m, 2)`` of the buckets formed by ``(keys, rows)``."""

def union_roots(n: int, edges: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """Component roots (smallest member) of ``0..n`` joined by ``edges``."""

def line_hashes(
    offsets: _Offsets,
    data: _Bytes,
    validity: _Valid = None,
    *,
    lowercase: bool = False,
    nfkc: bool = False,
    strip_punctuation: bool = False,
    fold_whitespace: bool = True,
    n_threads: Optional[int] = None,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32], npt.NDArray[np.uint64]]:
    """XXH3-64 of every normalised non-blank line: ``(indptr, line_no, hashes)``."""

def repeated(hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    """Whether each hash occurs earlier in the array."""

def candidate_rows(
    signatures: npt.NDArray[np.uint32],
    valid: npt.NDArray[np.bool_],
    *,
    num_bands: int,
    rows: int,
    n_threads: Optional[int] = None,
) -> npt.NDArray[np.bool_]:
    """Rows sharing at least one band with another row."""

# --- ot (log-domain Sinkhorn; documented API in tamis.select) ---
_SinkhornOut: TypeAlias = tuple[
    float, npt.NDArray[np.float64], npt.NDArray[np.float64], int, float, bool
]

def sinkhorn_points(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    *,
    eps: float,
    metric: str = "sqeuclidean",
    max_iter: int = 1000,
    tol: float = 1e-9,
    cache_bytes: int = 1073741824,
    n_threads: Optional[int] = None,
) -> _SinkhornOut:
    """Entropic OT between point clouds: ``(cost, f, g, n_iter, err, converged)``."""

def sinkhorn_cost(
    cost: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    *,
    eps: float,
    max_iter: int = 1000,
    tol: float = 1e-9,
    n_threads: Optional[int] = None,
) -> _SinkhornOut:
    """Entropic OT for a cost matrix (POT's ``sinkhorn_log``): ``(cost, f, g, n_iter, err, converged)``."""

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

# -- linear (tamis.quality.HashedClassifier) ------------------------------------------------------

def weigh_counts(
    indptr: npt.NDArray[np.int64],
    counts: npt.NDArray[np.uint32],
    *,
    log: bool = True,
    l2_normalize: bool = True,
) -> npt.NDArray[np.float64]:
    """Feature values of CSR counts: ``ln(1 + count)``, rows scaled to unit L2 norm."""

def linear_fit(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float64],
    n_features: int,
    y: npt.NDArray[np.uint32],
    sample_weight: npt.NDArray[np.float64],
    n_classes: int,
    *,
    l2: float,
    fit_intercept: bool = True,
    tol: float = 1e-6,
    max_iter: int = 1000,
    memory: int = 10,
    n_threads: Optional[int] = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], dict[str, Any]]:
    """Logistic (two classes) or softmax regression by L-BFGS: ``(coef, intercept, report)``."""

def linear_decision(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float64],
    coef: npt.NDArray[np.float64],
    intercept: npt.NDArray[np.float64],
    n_threads: Optional[int] = None,
) -> npt.NDArray[np.float64]:
    """Decision values ``x @ coef + intercept`` of CSR features, ``(n_rows, K)``."""

def linear_decision_texts(
    featurizer: Featurizer,
    offsets: _Offsets,
    data: _Bytes,
    validity: _Valid,
    coef: npt.NDArray[np.float64],
    intercept: npt.NDArray[np.float64],
    *,
    log: bool = True,
    l2_normalize: bool = True,
    n_threads: Optional[int] = None,
) -> npt.NDArray[np.float64]:
    """Decision values of an Arrow text column featurised by ``featurizer``, ``(n_rows, K)``."""

# --- balance (MetaCLIP entry matching, balancing draws, MIG) ------------------------------------

@final
class EntryMatcher:
    """Aho–Corasick automaton over a list of entries (normalised like the texts)."""

    def __new__(
        cls,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid = None,
        *,
        lowercase: bool = True,
        nfkc: bool = False,
        strip_punctuation: bool = False,
        fold_whitespace: bool = False,
        word_boundary: bool = True,
    ) -> EntryMatcher: ...
    @property
    def n_entries(self) -> int:
        """Number of entries."""
    @property
    def memory_usage(self) -> int:
        """Heap bytes of the automaton."""
    def match_texts(
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
        int,
    ]:
        """Matches a batch of texts: ``(indptr, indices, values, doc_counts, n_null)``."""

def balance_draw(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.uint32],
    values: npt.NDArray[np.uint32],
    counts: npt.NDArray[np.uint64],
    entry_keys: npt.NDArray[np.uint64],
    id_hashes: npt.NDArray[np.uint64],
    *,
    t: float,
    seed: int,
    keep_unmatched: bool = False,
    n_threads: Optional[int] = None,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """MetaCLIP's balancing draw: ``(keep, probability, entry)`` per document."""

def keyed_uniforms(
    keys: npt.NDArray[np.uint64],
    id_hashes: npt.NDArray[np.uint64],
    *,
    seed: int,
    n_threads: Optional[int] = None,
) -> npt.NDArray[np.float64]:
    """``keyed_uniform(seed, keys[i], id_hashes[i])`` for every row, in ``(0, 1]``."""

def mig_greedy(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float64],
    n_labels: int,
    *,
    k: int,
    phi: str = "power",
    alpha: float = 0.8,
    lazy: bool = True,
    n_threads: Optional[int] = None,
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64], int]:
    """Greedy maximisation of ``sum_j phi(sum_{i in S} w_ij)``: ``(rows, gains, n_evaluations)``."""

# --- mix -------------------------------------------------------------------------------------------

def mix_integer_weights(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.uint64]:
    """Probabilities as integer weights (multiples of 2^-32 of the total; positive stays > 0)."""

def mix_schedule(
    weights: npt.NDArray[np.uint64],
    credit: npt.NDArray[np.int64],
    consumed: npt.NDArray[np.uint64],
    n: int,
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint64]]:
    """The next ``n`` smooth weighted round-robin steps: ``(source, rank)`` per step.

    ``credit`` and ``consumed`` (documents per source so far) are updated in place.
    """

def mix_gather(
    offsets: Sequence[_Offsets],
    data: Sequence[_Bytes],
    chunk: npt.NDArray[np.uint32],
    row: npt.NDArray[np.uint32],
    out: Optional[npt.NDArray[np.uint8]] = None,
) -> npt.NDArray[np.int64]:
    """The ``large_string`` offsets of rows ``(chunk[j], row[j])`` of string columns.

    Columns are ``(offsets[i], data[i])`` without nulls. With ``out`` (exactly the rows' size,
    the last offset) the rows are also copied into it.
    """

def mix_strings(
    offsets: Sequence[_Offsets],
    data: Sequence[_Bytes],
    chunk: npt.NDArray[np.uint32],
    row: npt.NDArray[np.uint32],
) -> list[str]:
    """Rows ``(chunk[j], row[j])`` of string columns (no nulls) as Python strings."""

@final
class MixTextBlock:
    """The texts of one Parquet row group decoded by :class:`MixParquetText` (no nulls)."""

    def __len__(self) -> int: ...
    @property
    def n_bytes(self) -> int:
        """The bytes of all rows together."""

    def first_invalid_utf8(self) -> Optional[tuple[int, int]]:
        """``(row, byte offset)`` of the first row that is not valid UTF-8, or ``None``."""

@final
class MixParquetText:
    """A Parquet file's text column, memory-mapped, decoded without copying the texts."""

    @staticmethod
    def open(path: str, column: str) -> Optional[MixParquetText]:
        """``None`` when ``column`` is not a flat string (``BYTE_ARRAY``) column of the file."""

    @property
    def n_row_groups(self) -> int:
        """The number of row groups."""

    def read(self, row_group: int) -> Optional[MixTextBlock]:
        """The texts of ``row_group``.

        ``None`` when it holds nulls or another codec than uncompressed, snappy or lz4 (read it
        with pyarrow).
        """

def mix_block_gather(
    blocks: Sequence[MixTextBlock],
    chunk: npt.NDArray[np.uint32],
    row: npt.NDArray[np.uint32],
    out: Optional[npt.NDArray[np.uint8]] = None,
) -> npt.NDArray[np.int64]:
    """As :func:`mix_gather`, from row groups decoded by :meth:`MixParquetText.read`."""

def mix_block_strings(
    blocks: Sequence[MixTextBlock],
    chunk: npt.NDArray[np.uint32],
    row: npt.NDArray[np.uint32],
) -> list[str]:
    """As :func:`mix_strings`, from row groups decoded by :meth:`MixParquetText.read`."""

def mix_reweight(
    weights: npt.NDArray[np.uint64],
    credit: npt.NDArray[np.int64],
    new_weights: npt.NDArray[np.uint64],
) -> npt.NDArray[np.int64]:
    """Credits rescaled from ``weights`` to ``new_weights`` (each source keeps its lag)."""

def permutation(n: int, seed: int) -> npt.NDArray[np.uint64]:
    """A seeded uniform permutation of ``0..n`` (Fisher-Yates over SplitMix64)."""

# --- kmeans (rust/src/kmeans/) -------------------------------------------------------------------

def kmeans_fit(
    x: _FloatMatrix,
    k: int,
    *,
    metric: str = "l2",
    init: str = "k-means++",
    algorithm: str = "lloyd",
    batch_size: int = 1024,
    max_iter: int = 100,
    tol: float = 1e-4,
    n_init: int = 1,
    seed: int = 0,
    n_threads: Optional[int] = None,
) -> tuple[
    _FloatMatrix,
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    float,
    npt.NDArray[np.int64],
    int,
    bool,
]:
    """k-means of a float32/float64 matrix (centroids in its dtype).

    Returns ``(centroids, labels, distances, inertia, counts, n_iter, converged)``.
    """

def kmeans_assign(
    x: _FloatMatrix,
    centroids: _FloatMatrix,
    *,
    metric: str = "l2",
    n_threads: Optional[int] = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Nearest centroid and squared distance of each row (same dtype for both matrices)."""

def merge_centroids(
    centroids: npt.NDArray[np.float64],
    *,
    weights: Optional[npt.NDArray[np.float64]] = None,
    linkage: str = "ward",
    n_clusters: Optional[int] = None,
    threshold: Optional[float] = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Agglomerative merging of centroids: ``(labels, Z)`` with SciPy's linkage layout."""

def semdedup(
    x: _FloatMatrix,
    labels: npt.NDArray[np.int64],
    tie: npt.NDArray[np.uint64],
    eps: float,
    *,
    centroids: Optional[_FloatMatrix] = None,
    score: Optional[npt.NDArray[np.float64]] = None,
    keep: str = "farthest",
    rule: str = "paper",
    n_threads: Optional[int] = None,
) -> tuple[
    npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]
]:
    """SemDeDup inside clusters: ``(keep, duplicate_of, similarity, rank)`` per row."""

# --- fasttext (tamis.quality.fasttext) ----------------------------------------------------------

@final
class FastTextModel:
    """A supervised fastText model (see :class:`tamis.quality.fasttext.FastTextModel`)."""

    @staticmethod
    def load(path: str) -> FastTextModel:
        """Reads a ``.bin`` / ``.ftz`` file (ValueError naming the part if it is malformed)."""
    @staticmethod
    def from_bytes(data: bytes) -> FastTextModel:
        """Reads a model from the bytes of its file."""
    @property
    def labels(self) -> list[str]:
        """Label names with their ``__label__`` prefix."""
    @property
    def dim(self) -> int:
        """Hidden dimension."""
    @property
    def loss(self) -> str:
        """``softmax``, ``hs``, ``ova`` or ``ns``."""
    @property
    def word_ngrams(self) -> int:
        """Longest word n-gram."""
    @property
    def minn(self) -> int:
        """Shortest character n-gram."""
    @property
    def maxn(self) -> int:
        """Longest character n-gram (0: none)."""
    @property
    def bucket(self) -> int:
        """Hash buckets."""
    @property
    def n_words(self) -> int:
        """In-vocabulary words."""
    @property
    def quantized(self) -> bool:
        """Whether the input matrix is product-quantized."""
    def predict(
        self,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid = None,
        *,
        k: int = 1,
        threshold: float = 0.0,
        n_threads: Optional[int] = None,
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
        """Top-k label indices (-1: none) and probabilities, both ``(n, k)``."""
    def label_probs(
        self,
        offsets: _Offsets,
        data: _Bytes,
        validity: _Valid = None,
        *,
        label: int,
        n_threads: Optional[int] = None,
    ) -> npt.NDArray[np.float64]:
        """Probability of one label per row (0.0: not reported, NaN: null row)."""
    def input_rows(self, text: str) -> list[int]:
        """Input-matrix rows of one text (words, subwords, word n-grams)."""

@final
class QualityRules:
    """Heuristic quality rules (see :class:`tamis.quality.QualityRules`)."""

    def __new__(cls, families: list[tuple[str, dict[str, Any]]]) -> QualityRules: ...
    def reasons(self) -> list[tuple[str, str]]:
        """``(family, rule)`` of every reason code ``i + 1``, in check order."""
    def stat_names(self) -> list[str]:
        """Names of the statistics columns."""
    def apply(
        self,
        offsets: npt.NDArray[np.int32] | npt.NDArray[np.int64],
        data: npt.NDArray[np.uint8],
        validity: Optional[npt.NDArray[np.bool_]],
        *,
        with_stats: bool = False,
        n_threads: Optional[int] = None,
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint16], npt.NDArray[np.float64]]:
        """``(keep, reason codes, statistics)`` of an Arrow string column's buffers."""

def rule_words(text: str) -> list[str]:
    """The words datatrove's rules see (spaCy-compatible English tokens)."""

def rule_sentences(text: str) -> int:
    """Number of sentences spaCy's sentencizer finds in ``text``."""
