"""tamis: fast, honest selection of pre-training data.

The heavy parts run in Rust (``tamis._core``), multi-threaded with the GIL released; this package
holds the Arrow I/O, the public API and the command line.
"""

import warnings

from tamis import _core, cluster, sensitivity
from tamis._base import Selection
from tamis._core import __version__
from tamis.balance import EntryMatcher, UCBBandit, cap_per_group, mig_select
from tamis.dedup import (
    MinHashDeduplicator,
    candidate_pairs,
    cluster_band_keys,
    datasketch_permutations,
    lsh_params,
    minhash_signatures,
    remove_repeated_lines,
    write_band_keys,
)
from tamis.exceptions import InputError, NotFittedError, TamisError
from tamis.features import HashingFeaturizer, SparseCounts
from tamis.importance import DSIR, ImportanceResampler
from tamis.io import Files, ParquetSink, files, read_batches, read_run_metadata, write_parquet
from tamis.scoring import (
    ClassifierScorer,
    Embedder,
    EmbeddingClassifier,
    LMScorer,
    color_filter,
    select_top,
)
from tamis.text import normalize, tokenize, xxh3_64

if _core.build_profile == "debug":  # pragma: no cover - depends on how it was built
    warnings.warn(
        "tamis was built without optimisations; rebuild with `maturin develop --release` "
        "(or `pip install .`) before measuring anything",
        RuntimeWarning,
        stacklevel=2,
    )

__all__ = [
    "DSIR",
    "ClassifierScorer",
    "Embedder",
    "EmbeddingClassifier",
    "EntryMatcher",
    "Files",
    "HashingFeaturizer",
    "ImportanceResampler",
    "InputError",
    "LMScorer",
    "MinHashDeduplicator",
    "NotFittedError",
    "ParquetSink",
    "Selection",
    "SparseCounts",
    "TamisError",
    "UCBBandit",
    "__version__",
    "candidate_pairs",
    "cap_per_group",
    "cluster",
    "cluster_band_keys",
    "color_filter",
    "datasketch_permutations",
    "files",
    "lsh_params",
    "mig_select",
    "minhash_signatures",
    "normalize",
    "read_batches",
    "read_run_metadata",
    "remove_repeated_lines",
    "select_top",
    "sensitivity",
    "tokenize",
    "write_band_keys",
    "write_parquet",
    "xxh3_64",
]
