"""The DSIR model: bucket counts, fitting, scoring and the KL metric, as plain functions.

:class:`~tamis.importance.ImportanceResampler` and the Ray backend both call these; nothing here
reads files or draws progress bars (callers pass Arrow batches or text arrays)::

    params = ModelParams(length_norm=100.0, min_length=100)
    target_counts = np.stack([count_ngrams(featurizer, b, text_column="text") for b in targets])
    raw_counts = count_ngrams(featurizer, raw_batches, text_column="text")
    model = fit_model(featurizer, target_counts, raw_counts, params)
    log_weights, n_tokens = score_batch(model, batch.column("text"))

Counts of shards add up, so ``raw_counts`` may be the sum of per-shard counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._arrow import to_numpy
from tamis._validation import check_counts, check_int, check_threads
from tamis.features import HashingFeaturizer
from tamis.io import buffers

SMOOTH = ("target", "both")


@dataclass(frozen=True)
class ModelParams:
    """How a model is fitted and applied (besides its featurizer); checked on construction.

    See :class:`~tamis.importance.ImportanceResampler` for the meaning of each field.
    ``target_proportions`` is normalised to sum to 1.
    """

    alpha: float = 0.0
    smooth: str = "target"
    eps: float = 1e-8
    length_norm: Optional[float] = 100.0
    min_length: int = 100
    separate_targets: bool = False
    #: Normalised to a tuple summing to 1.
    target_proportions: Optional[Sequence[float]] = None
    n_threads: Optional[int] = None

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("alpha", float(self.alpha))
        if not (np.isfinite(self.alpha) and self.alpha >= 0):
            raise ValueError(f"alpha must be finite and >= 0, got {self.alpha!r}")
        if self.smooth not in SMOOTH:
            raise ValueError(f"smooth must be one of {SMOOTH}, got {self.smooth!r}")
        put("eps", float(self.eps))
        if not (np.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"eps must be finite and >= 0, got {self.eps!r}")
        if self.length_norm is not None:
            put("length_norm", float(self.length_norm))
            if not (np.isfinite(self.length_norm) and self.length_norm > 0):
                raise ValueError(
                    "length_norm must be a positive number of tokens or None, "
                    f"got {self.length_norm!r}"
                )
        put("min_length", check_int("min_length", self.min_length, 0))
        put("separate_targets", bool(self.separate_targets))
        if self.target_proportions is not None:
            props = np.asarray(self.target_proportions, dtype=np.float64)
            if props.ndim != 1 or len(props) == 0 or (props < 0).any() or props.sum() <= 0:
                raise ValueError(
                    "target_proportions must be non-negative numbers with a positive sum, "
                    f"got {self.target_proportions!r}"
                )
            put("target_proportions", tuple(float(p) for p in props / props.sum()))
        put("n_threads", check_threads(self.n_threads))

    @classmethod
    def of(cls, obj: Any) -> ModelParams:
        """The fields read from same-named attributes of ``obj`` (an estimator)."""
        return cls(**{f.name: getattr(obj, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Model:
    """A fitted DSIR model: the counts it was fitted on and the per-bucket log ratios."""

    featurizer: HashingFeaturizer
    params: ModelParams
    #: The native model (``_core.ImportanceModel``): log ratios, scoring.
    core: Any
    #: ``(n_targets, n_buckets)`` uint64.
    target_counts: np.ndarray
    #: ``(n_buckets,)`` uint64.
    raw_counts: np.ndarray
    #: Share of ``k`` per target (``[1.0]`` with pooled targets).
    target_proportions: np.ndarray

    @property
    def n_targets(self) -> int:
        """Number of targets (1 when pooled)."""
        return int(self.core.n_targets)

    @property
    def log_ratio(self) -> np.ndarray:
        """``ln p_target - ln p_raw`` per bucket, ``(n_buckets, n_targets)``."""
        return self.core.log_ratio


def target_sources(target: Any, *, separate_targets: bool) -> list[Any]:
    """The target corpora: ``[target]`` when pooled, else the list of corpora, one per target."""
    if not separate_targets:
        return [target]
    if not isinstance(target, (list, tuple)) or not target:
        raise TypeError(
            "with separate_targets=True, target must be a non-empty list of corpora (paths, "
            f"lists of texts, tables), one per target; got {type(target).__name__}"
        )
    return list(target)


def count_ngrams(
    featurizer: HashingFeaturizer,
    batches: Iterable[Any],
    *,
    text_column: str,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Bucket counts (``uint64``, ``n_buckets``) of the text column of record batches or tables.

    Counts of shards add up: summing per-shard results gives the counts of the whole corpus.
    """
    out = np.zeros(featurizer.n_buckets, dtype=np.uint64) if out is None else out
    for batch in batches:
        text = batch.column(text_column)
        featurizer.count(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text, out)
    return out


def fit_model(
    featurizer: HashingFeaturizer,
    target_counts: Any,
    raw_counts: Any,
    params: ModelParams,
) -> Model:
    """Fit the per-bucket log ratios from bucket counts (checked like user input).

    ``target_counts`` has one row per target (one row when targets are pooled).
    """
    tc = check_counts("target_counts", target_counts, 2, featurizer.n_buckets)
    rc = check_counts("raw_counts", raw_counts, 1, featurizer.n_buckets)
    if len(tc) == 0:
        raise ValueError("target_counts must have at least one target, got 0 rows")
    props = np.ones(1)
    if params.separate_targets:
        given = params.target_proportions
        totals = tc.sum(axis=1).astype(np.float64)
        shares = given if given is not None else (totals / totals.sum() if totals.sum() else None)
        if shares is None or len(shares) != len(tc):
            raise ValueError(
                f"target_proportions must have one entry per target ({len(tc)}), got {given!r}"
            )
        props = np.asarray(shares, dtype=np.float64)
    core = _core.ImportanceModel.fit(
        featurizer._core,
        tc,
        rc,
        alpha=params.alpha,
        smooth_raw=params.smooth == "both",
        eps=params.eps,
    )
    return Model(featurizer, params, core, tc, rc, props)


def score_batch(model: Model, text: Any) -> tuple[np.ndarray, np.ndarray]:
    """Log weights ``(n, n_targets)`` float64 and token counts ``(n,)`` uint64 of a text array."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    return model.core.log_weights(
        *buffers(text), length_norm=model.params.length_norm, n_threads=model.params.n_threads
    )


def score_batches(
    model: Model, batches: Iterable[Any], *, text_column: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`score_batch` of every batch, concatenated (``(0, n_targets)`` and ``(0,)`` if none)."""
    scored = [score_batch(model, batch.column(text_column)) for batch in batches]
    if not scored:
        return np.zeros((0, model.n_targets)), np.zeros(0, np.uint64)
    return np.concatenate([w for w, _ in scored]), np.concatenate([n for _, n in scored])


def eligible_rows(model: Model, text: Any, n_tokens: np.ndarray) -> np.ndarray:
    """Rows that may be selected: non-null text with at least ``min_length`` tokens."""
    valid = to_numpy(text.is_valid()) if text.null_count else True
    return (n_tokens >= model.params.min_length) & valid


def kl_reduction(
    model: Model,
    selected_counts: np.ndarray,
    *,
    raw_counts: Optional[np.ndarray] = None,
    n_buckets: Optional[int] = None,
) -> float:
    """The paper's KL reduction of a selection, from bucket counts.

    ``mean_t [KL(target_t || raw) - KL(target_t || selected)]`` with
    ``KL(p||q) = sum p (ln(p + 1e-10) - ln(q + 1e-10))`` (Xie et al. 2023, Section 6 and
    Appendix I; the definition the authors gave in p-lambda/dsir issues #9 and #11). Positive: the
    selection is closer to the target than the raw corpus is.

    The paper computes it on 10,000 buckets. With many more buckets than the samples can fill, the
    metric mostly measures how many target buckets a small selection leaves empty, so by default
    xxh3 counts are folded to 8192 buckets: for a power-of-two bucket count, bucket
    ``(h * 2^a) >> 64`` folded by ``2^(a-13)`` is exactly bucket ``(h * 8192) >> 64``, so no
    second pass over the raw corpus is needed.

    Parameters
    ----------
    selected_counts
        Bucket counts of the selection.
    raw_counts
        Counts of the raw corpus to compare with (default: the model's).
    n_buckets
        A power of two dividing the model's bucket count (xxh3 models only), or the model's own.
        Default: 8192 for xxh3 models with more buckets, else the model's.
    """
    sc = selected_counts
    rc = model.raw_counts if raw_counts is None else raw_counts
    tc = model.target_counts
    nb = model.featurizer.n_buckets
    xxh3_pow2 = model.featurizer.hash == "xxh3" and nb & (nb - 1) == 0
    if n_buckets is None:
        n_buckets = 8192 if xxh3_pow2 and nb > 8192 else nb
    n_buckets = check_int("n_buckets", n_buckets, 1)
    if n_buckets != nb:
        if not xxh3_pow2 or n_buckets & (n_buckets - 1) or n_buckets > nb:
            raise ValueError(
                f"n_buckets must be the model's ({nb}) or, for xxh3 models with a "
                f"power-of-two bucket count, a smaller power of two; got {n_buckets}"
            )
        g = nb // n_buckets
        sc = sc.reshape(n_buckets, g).sum(axis=1)
        rc = rc.reshape(n_buckets, g).sum(axis=1)
        tc = tc.reshape(len(tc), n_buckets, g).sum(axis=2)
    return float(
        _core.kl_reduction(
            np.ascontiguousarray(tc, np.uint64),
            np.ascontiguousarray(rc, np.uint64),
            np.ascontiguousarray(sc, np.uint64),
        )
    )
