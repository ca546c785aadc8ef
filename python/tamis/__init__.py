"""tamis: fast, honest selection of pre-training data.

The heavy parts run in Rust (``tamis._core``), multi-threaded with the GIL released; this package
holds the Arrow I/O, the public API and the command line.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from tamis import _core
from tamis._core import __version__
from tamis.exceptions import InputError, NotFittedError, TamisError

if TYPE_CHECKING:  # the names below are imported on first use (see __getattr__)
    from tamis import cluster, sensitivity
    from tamis._base import Selection
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

#: Where each public name lives. ``import tamis`` loads none of these modules (measured: 0.25 s
#: and ~6 MB less start-up for every ``tamis`` command, and no scipy/torch/ray/pandas import);
#: the first ``tamis.X`` imports X's module.
_LAZY = {
    "Selection": "tamis._base",
    **dict.fromkeys(["EntryMatcher", "UCBBandit", "cap_per_group", "mig_select"], "tamis.balance"),
    **dict.fromkeys(
        [
            "MinHashDeduplicator",
            "candidate_pairs",
            "cluster_band_keys",
            "datasketch_permutations",
            "lsh_params",
            "minhash_signatures",
            "remove_repeated_lines",
            "write_band_keys",
        ],
        "tamis.dedup",
    ),
    **dict.fromkeys(["HashingFeaturizer", "SparseCounts"], "tamis.features"),
    **dict.fromkeys(["DSIR", "ImportanceResampler"], "tamis.importance"),
    **dict.fromkeys(
        ["Files", "ParquetSink", "files", "read_batches", "read_run_metadata", "write_parquet"],
        "tamis.io",
    ),
    **dict.fromkeys(
        [
            "ClassifierScorer",
            "Embedder",
            "EmbeddingClassifier",
            "LMScorer",
            "color_filter",
            "select_top",
        ],
        "tamis.scoring",
    ),
    **dict.fromkeys(["normalize", "tokenize", "xxh3_64"], "tamis.text"),
}
_SUBMODULES = ("cluster", "sensitivity")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module(f"tamis.{name}")
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'tamis' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
