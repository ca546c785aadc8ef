"""``ImportanceResampler``: the DSIR estimator, parameters over :mod:`.model` and :mod:`.stream`."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pyarrow as pa

from tamis._base import Estimator, Selection, check_is_fitted
from tamis._prefetch import prefetch
from tamis._progress import progress, total_rows
from tamis._validation import check_counts, check_int, check_seed, check_threads
from tamis.features import HashingFeaturizer
from tamis.importance import model, stream
from tamis.importance.persist import RENAMED, load_model, save_model
from tamis.importance.tape import Tape, count_with_tape
from tamis.io import DEFAULT_BATCH_SIZE, is_path_source, read_batches

#: Default memory for the raw corpus's bucket ids in :meth:`ImportanceResampler.fit_resample`
#: (megabytes): ~300 MB of English text.
KEEP_FEATURES_MB = 256.0


class ImportanceResampler(Estimator):
    """Select raw documents whose hashed n-gram distribution matches a target (DSIR).

    Parameters
    ----------
    n_buckets
        Hash buckets of the n-gram features. Default 2**16: on the shared corpus it raised the
        precision at k=200 from 0.82 (10000, the paper's value) to 0.90 for ~10% less speed;
        2**18 reaches 0.935 at ~60% of the speed (the tables outgrow the L2 cache).
    ngram_range
        ``(min_n, max_n)`` word n-grams (the paper: unigrams and bigrams).
    hash
        ``"xxh3"`` (fast) or ``"sha256"`` (the reference's bucket function).
    lowercase
        Lowercase before tokenising (the reference does).
    alpha
        Add-alpha pseudo-count per bucket (0: the reference's unsmoothed estimate).
    smooth
        ``"target"``: smooth the target distribution only; ``"both"``: also the raw one.
    eps
        Added to probabilities inside the logarithm (the reference: 1e-8).
    length_norm
        Rescale each log weight to this many tokens: ``w * length_norm / n_tokens``. ``None``: the
        raw sum (the reference), which grows with length, so the longest documents dominate; a
        per-token average (``1``) lets the Gumbel noise swamp the weights (``docs/dsir.md``).
    min_length
        Documents with fewer word tokens are never selected (the reference: 100).
    separate_targets
        With several target corpora: one model per target, ``k * proportion`` documents selected
        for each in turn (the reference's ``separate_targets``). Otherwise targets are pooled.
    target_proportions
        Share of ``k`` per target (``None``: proportional to each target's n-gram count).
    seed
        Seed of the Gumbel noise / draws (unsigned 64-bit). A document's noise depends only on
        ``(seed, target, id)``, so results do not depend on sharding or threads.
    n_threads
        Worker threads (``None``: all cores).
    text_column, id_column, batch_size
        How corpora are read (see :func:`tamis.read_batches`).

    ``random_state`` and ``n_jobs``, the former names of ``seed`` and ``n_threads``, are still
    accepted here and by :meth:`select` / :meth:`resample` / :meth:`load`.

    Examples
    --------
    >>> target = ["the cat sat on the mat"] * 3
    >>> raw = ["the cat sat on a mat", "stock prices fell sharply", "the mat and the cat"]
    >>> r = ImportanceResampler(min_length=0).fit(target, raw)
    >>> r.select(raw, k=2, method="topk").indices.tolist()
    [0, 2]
    """

    # Set in __init__ from the checked model.ModelParams (one attribute per field).
    alpha: float
    smooth: str
    eps: float
    length_norm: Optional[float]
    min_length: int
    separate_targets: bool
    n_threads: Optional[int]
    model_: model.Model

    def __init__(
        self,
        n_buckets: int = 1 << 16,
        ngram_range: tuple[int, int] = (1, 2),
        *,
        hash: str = "xxh3",
        lowercase: bool = True,
        alpha: float = 0.0,
        smooth: str = "target",
        eps: float = 1e-8,
        length_norm: Optional[float] = 100.0,
        min_length: int = 100,
        separate_targets: bool = False,
        target_proportions: Optional[Sequence[float]] = None,
        seed: int = 0,
        n_threads: Optional[int] = None,
        text_column: str = "text",
        id_column: Optional[str] = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **renamed: Any,
    ) -> None:
        old = _renamed("ImportanceResampler", renamed)
        seed, n_threads = old.get("seed", seed), old.get("n_threads", n_threads)
        # First, so that a too-large count is reported under the keyword the caller used.
        n_threads = check_threads(n_threads, "n_jobs" if "n_jobs" in renamed else "n_threads")
        self.featurizer = HashingFeaturizer(
            n_buckets, ngram_range, lowercase=lowercase, hash=hash, n_threads=n_threads
        )
        self.n_buckets = self.featurizer.n_buckets
        self.ngram_range = self.featurizer.ngram_range
        self.hash = hash
        self.lowercase = bool(lowercase)
        given: dict[str, Any] = {
            "alpha": alpha,
            "smooth": smooth,
            "eps": eps,
            "length_norm": length_norm,
        }
        given.update(min_length=min_length, separate_targets=separate_targets, n_threads=n_threads)
        p = model.ModelParams(**given, target_proportions=target_proportions)
        for f in fields(p):
            setattr(self, f.name, getattr(p, f.name))
        self.target_proportions = None if p.target_proportions is None else [*p.target_proportions]
        self.seed = check_seed(seed)
        self.text_column = text_column
        self.id_column = id_column
        self.batch_size = check_int("batch_size", batch_size, 1)

    @classmethod
    def reference(cls, **kwargs: Any) -> ImportanceResampler:
        """Settings of the reference package ``data-selection`` 1.0.3 (``HashedNgramDSIR``).

        SHA-256 buckets, lowercase WordPunct unigrams + bigrams, 10000 buckets, no smoothing,
        ``eps=1e-8``, no length normalisation, ``min_length=100``. Keyword arguments override.
        """
        params: dict[str, Any] = {"n_buckets": 10_000, "hash": "sha256", "alpha": 0.0}
        params.update(eps=1e-8, length_norm=None, min_length=100)
        return cls(**{**params, **kwargs})

    # -- fitting --------------------------------------------------------------------------------

    def count(self, source: Any, *, desc: str = "count", show_progress: bool = False) -> np.ndarray:
        """Bucket counts of a corpus (streamed), ``uint64`` of length ``n_buckets``.

        Counts of shards add up: ``count(a) + count(b) == count(a + b)``.
        """
        batches = _read(self, source, columns=[], desc=desc, show=show_progress, ids=False)
        return model.count_ngrams(self.featurizer, batches, text_column=self.text_column)

    def fit(
        self,
        target: Any,
        raw: Any = None,
        *,
        raw_counts: Optional[np.ndarray] = None,
        show_progress: bool = False,
    ) -> ImportanceResampler:
        """Estimate the target and raw n-gram distributions and the per-bucket log ratios.

        ``target`` is a corpus (path, glob, list of texts, table, ...), or with
        ``separate_targets=True`` a list of corpora, one per target. ``raw`` is the corpus to
        select from (streamed once); ``raw_counts`` (e.g. the sum of per-shard :meth:`count`
        results) replaces it.
        """
        self._fit(target, raw, raw_counts, show_progress=show_progress, keep_bytes=0)
        return self

    def _fit(
        self,
        target: Any,
        raw: Any,
        raw_counts: Optional[np.ndarray],
        *,
        show_progress: bool,
        keep_bytes: int,
    ) -> Optional[Tape]:
        """:meth:`fit`; with ``keep_bytes > 0``, also the raw corpus's tape if it fits."""
        t0 = time.perf_counter()
        if (raw is None) == (raw_counts is None):
            raise ValueError("pass exactly one of raw and raw_counts")
        if raw_counts is not None:  # checked before the targets are counted
            raw_counts = check_counts("raw_counts", raw_counts, 1, self.n_buckets)
        sources = model.target_sources(target, separate_targets=self.separate_targets)
        tc = np.stack([self.count(t, desc="target", show_progress=show_progress) for t in sources])
        kept = None
        if raw_counts is None:
            batches = _read(self, raw, columns=[], desc="raw counts", show=show_progress, ids=False)
            raw_counts, kept = count_with_tape(
                self.featurizer, batches, text_column=self.text_column, budget=keep_bytes
            )
        self.fit_counts(tc, raw_counts)
        self.fit_seconds_ = time.perf_counter() - t0
        return kept

    def fit_resample(
        self,
        target: Any,
        raw: Any,
        k: int,
        *,
        method: str = "gumbel",
        seed: Optional[int] = None,
        columns: Optional[Sequence[str]] = None,
        show_progress: bool = False,
        keep_features_mb: float = KEEP_FEATURES_MB,
    ) -> pa.Table:
        """``fit(target, raw).resample(raw, k, ...)``, featurising ``raw`` once.

        While counting, the bucket id of every raw n-gram is kept (2 bytes each, about 0.8 bytes
        per byte of English text) if they fit ``keep_features_mb`` megabytes (10^6 bytes) and the
        model has at most 65,536 buckets; the weighting pass then only sums log ratios over them.
        Same table as fit + resample, bit for bit (``tamis.importance.tape``).
        """
        k = stream.check_selection(k, method, separate_targets=self.separate_targets)
        if not (np.isfinite(keep_features_mb) and keep_features_mb >= 0):
            raise ValueError(f"keep_features_mb must be >= 0, got {keep_features_mb!r}")
        kept = self._fit(
            target, raw, None, show_progress=show_progress, keep_bytes=int(keep_features_mb * 1e6)
        )
        return _select(self, raw, k, method, seed, columns, show_progress, tape=kept)[3]

    def fit_counts(self, target_counts: Any, raw_counts: Any) -> ImportanceResampler:
        """Fit from counts computed elsewhere: ``(n_targets, n_buckets)`` and ``(n_buckets,)``."""
        params = model.ModelParams.of(self)
        self.model_ = model.fit_model(self.featurizer, target_counts, raw_counts, params)
        self.target_counts_ = self.model_.target_counts
        self.raw_counts_ = self.model_.raw_counts
        self.target_proportions_ = self.model_.target_proportions
        return self

    @property
    def log_ratio_(self) -> np.ndarray:
        """Per-bucket log ratios ``ln p_target - ln p_raw``, shape ``(n_buckets, n_targets)``."""
        self._check_fitted()
        return self.model_.log_ratio

    def _check_fitted(self) -> None:
        check_is_fitted(self, "model_", "fit(target, raw) or load()")

    @property
    def random_state(self) -> int:
        """Former name of ``seed`` (read-only)."""
        return self.seed

    @property
    def n_jobs(self) -> Optional[int]:
        """Former name of ``n_threads`` (read-only)."""
        return self.n_threads

    # -- scoring and selection ------------------------------------------------------------------

    def log_weights(self, texts: Any, *, return_n_tokens: bool = False) -> Any:
        """Log importance weights of a corpus (streamed), in input order.

        ``(n,)`` float64, or ``(n, n_targets)`` with ``separate_targets``; with
        ``return_n_tokens``, also the ``(n,)`` uint64 token counts (``min_length`` applies to them).
        """
        self._check_fitted()
        batches = _read(self, texts, columns=[], ids=False)
        w, n = model.score_batches(self.model_, batches, text_column=self.text_column)
        w = w if self.separate_targets else w[:, 0]
        return (w, n) if return_n_tokens else w

    def select(
        self,
        raw: Any,
        k: int,
        *,
        method: str = "gumbel",
        seed: Optional[int] = None,
        show_progress: bool = False,
        **renamed: Any,
    ) -> Selection:
        """Choose ``k`` raw documents by importance weight (one streaming pass over ``raw``).

        ``method``: ``"gumbel"`` samples without replacement ``∝ exp(log weight)`` (Gumbel top-k,
        the reference's default), ``"topk"`` takes the k largest weights, ``"replacement"`` makes
        k independent draws (8 bytes per raw document). ``seed``: default the estimator's. ``k``
        larger than the eligible pool is a ``ValueError``. Returns a :class:`~tamis.Selection`
        (:func:`.stream.to_selection`): ``indices`` in input order, ``ids``, ``log_weight``,
        ``key`` (log weight + Gumbel noise; NaN with replacement), ``target``.
        """
        seed = _renamed("select", renamed, ("random_state",)).get("seed", seed)
        state, pos, tgt, table = _select(self, raw, k, method, seed, [], show_progress)
        return stream.to_selection(state, pos, tgt, table, id_column=self.id_column or "id")

    def resample(
        self,
        raw: Any,
        k: int,
        *,
        method: str = "gumbel",
        seed: Optional[int] = None,
        columns: Optional[Sequence[str]] = None,
        show_progress: bool = False,
        **renamed: Any,
    ) -> pa.Table:
        """Like :meth:`select`, but return the selected rows themselves.

        The table keeps the input columns (or ``columns`` plus text and id) in input order and adds
        ``log_weight``, ``gumbel_key`` (``method="gumbel"``; ``key`` for ``"topk"``) and, with
        separate targets, ``target``. Memory: O(k) rows, whatever the corpus size (except
        ``method="replacement"``, which keeps every row's weight and all rows).
        """
        seed = _renamed("resample", renamed, ("random_state",)).get("seed", seed)
        return _select(self, raw, k, method, seed, columns, show_progress)[3]

    def kl_reduction(
        self, selected: Any, *, raw: Any = None, n_buckets: Optional[int] = None
    ) -> float:
        """The paper's KL reduction of a selection, on hashed n-gram features.

        ``selected``: the selected documents (texts, a table from :meth:`resample`, a path, ...);
        ``raw``: the corpus to compare with (default: the counts seen by :meth:`fit`). See
        :func:`tamis.importance.model.kl_reduction` for the definition and ``n_buckets``.
        """
        self._check_fitted()
        raw_counts = None if raw is None else self.count(raw)
        return model.kl_reduction(
            self.model_, self.count(selected), raw_counts=raw_counts, n_buckets=n_buckets
        )

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: Union[str, Path]) -> Path:
        """Save the fitted model as ``.npz`` (counts + JSON parameters; no pickle)."""
        self._check_fitted()
        return save_model(
            path,
            self.get_params(),
            target_counts=self.target_counts_,
            raw_counts=self.raw_counts_,
            target_proportions=self.target_proportions_,
        )

    @classmethod
    def load(cls, path: Union[str, Path], **overrides: Any) -> ImportanceResampler:
        """Load a model saved by :meth:`save` (``allow_pickle=False``); keywords override params."""
        saved = load_model(path)
        former = {name: value for name, value in overrides.items() if name in RENAMED}
        overrides = {name: value for name, value in overrides.items() if name not in RENAMED}
        overrides.update(_renamed("load", former))
        # Shares left to the counts are recomputed from the same counts: the saved ones.
        r = cls(**{**saved.params, **overrides})
        return r.fit_counts(saved.target_counts, saved.raw_counts)


def _select(
    r: ImportanceResampler,
    raw: Any,
    k: Any,
    method: str,
    seed: Optional[int],
    columns: Optional[Sequence[str]],
    show_progress: bool,
    tape: Optional[Tape] = None,
) -> tuple[stream.TopKState, np.ndarray, np.ndarray, pa.Table]:
    """One pass over ``raw``: the state, the selected positions, their targets and their rows."""
    r._check_fitted()
    k = stream.check_selection(k, method, separate_targets=r.separate_targets)
    seed = r.seed if seed is None else check_seed(seed)
    state = stream.stream(
        r.model_,
        _read(r, raw, columns=columns, desc="weights", show=show_progress),
        k,
        method=method,
        seed=seed,
        text_column=r.text_column,
        id_column=r.id_column or "id",
        batch_size=r.batch_size,
        tape=tape,
    )
    pos, tgt = stream.resolve(state, seed=seed, min_length=r.min_length)
    return state, pos, tgt, stream.collect(state, pos, tgt, separate_targets=r.separate_targets)


def _read(
    r: ImportanceResampler,
    source: Any,
    *,
    columns: Optional[Sequence[str]],
    desc: str = "",
    show: bool = False,
    ids: bool = True,
) -> Iterator[pa.RecordBatch]:
    """``source`` read with the estimator's columns and batch size, with a progress bar.

    ``ids=False`` when the ids are not used (counting, weights): a target corpus need not have
    the raw corpus's id column.
    """
    bar = progress(total_rows(source) if show else None, desc, enabled=show)
    kwargs: dict[str, Any] = {
        "text_column": r.text_column,
        "id_column": r.id_column if ids else None,
        "batch_size": r.batch_size,
    }
    batches = read_batches(source, columns=columns, **kwargs)
    if is_path_source(source):
        # Files are decoded (JSON parsing, Parquet pages) one batch ahead in a thread while the
        # kernels hash the current one: both release the GIL (docs/dsir.md, "Thread scaling").
        batches = prefetch(batches, release=0)
    try:
        for batch in batches:
            yield batch
            bar.update(batch.num_rows)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:  # stops and joins the reader thread now, not at collection
            close()
        bar.close()


def _renamed(
    where: str, renamed: dict[str, Any], allowed: Sequence[str] = tuple(RENAMED)
) -> dict[str, Any]:
    """Values passed under a parameter's former name, by its current name.

    The names of 0.1 (``random_state``, ``n_jobs``) still work in 0.2 with a DeprecationWarning
    and go in 0.3 (CHANGELOG.md).
    """
    unknown = sorted(set(renamed) - set(allowed))
    if unknown:
        raise TypeError(f"{where}() got an unexpected keyword argument {unknown[0]!r}")
    for name in renamed:
        warnings.warn(
            f"{where}({name}=...) is deprecated: the parameter is now {RENAMED[name]}= "
            "(the old name goes in tamis 0.3)",
            DeprecationWarning,
            stacklevel=3,
        )
    return {RENAMED[name]: value for name, value in renamed.items()}


#: The paper's name for the method.
DSIR = ImportanceResampler
