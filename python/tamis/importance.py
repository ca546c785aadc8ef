"""DSIR: data selection by importance resampling on hashed n-grams.

Implements "Data Selection for Language Models via Importance Resampling" (Xie, Santurkar, Ma,
Liang; NeurIPS 2023, arXiv:2302.03169). Target and raw corpora are summarised by hashed n-gram
bucket counts; a raw document's log importance weight is the sum over its n-grams of
``ln p_target(bucket) - ln p_raw(bucket)``; k documents are then resampled by weight (Gumbel
top-k, without replacement). Everything heavy runs in Rust; corpora are streamed in Arrow batches,
so memory is O(k + n_buckets) plus one batch.

``ImportanceResampler.reference()`` reproduces the reference package ``data-selection`` 1.0.3
(its log weights to 1e-9 relative). The default settings differ where measurement showed a gain
(see ``docs/dsir.md``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tamis import _core
from tamis._progress import progress, total_rows
from tamis._validation import check_counts, check_int, check_seed, check_threads
from tamis.exceptions import NotFittedError
from tamis.features import HashingFeaturizer
from tamis.io import DEFAULT_BATCH_SIZE, buffers, read_batches

__all__ = ["DSIR", "ImportanceResampler", "Selection"]

METHODS = ("gumbel", "topk", "replacement")
_SMOOTH = ("target", "both")
_FORMAT_VERSION = 1


@dataclass
class Selection:
    """The result of :meth:`ImportanceResampler.select`.

    Attributes
    ----------
    indices
        Row numbers of the selected documents in the raw input, ascending (input order). With
        replacement a row appears once per draw.
    log_weight
        Log importance weight of each selected row (under the target that selected it).
    key
        The sort key: ``log_weight`` plus the row's Gumbel noise (``method="gumbel"``), the
        weight itself (``"topk"``), or NaN (``"replacement"``).
    target
        Index of the target that selected the row (always 0 with one target).
    ids
        The rows' ids (the input's id column, or row numbers).
    n_eligible
        Rows that passed the minimum length.
    n_rows
        Rows seen.
    """

    indices: np.ndarray
    log_weight: np.ndarray
    key: np.ndarray
    target: np.ndarray
    ids: list[Any] = field(default_factory=list)
    n_eligible: int = 0
    n_rows: int = 0

    def __len__(self) -> int:
        return len(self.indices)


def _id_hashes(ids: pa.Array) -> np.ndarray:
    arr = ids if ids.type in (pa.string(), pa.large_string()) else pc.cast(ids, pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return _core.id_hashes(*buffers(arr))


class ImportanceResampler:
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
        Rescale each log weight to this many tokens: ``w * length_norm / n_tokens``, the log
        likelihood ratio of a ``length_norm``-token document with the same n-gram mix. ``None``:
        the raw sum (the reference), which grows with length, so that the longest documents
        dominate and the Gumbel noise hardly matters. A plain per-token average (``1``) has the
        opposite problem: the noise swamps the weights. See ``docs/dsir.md`` for the measurements.
    min_length
        Documents with fewer word tokens are never selected (the reference: 100).
    separate_targets
        With several target corpora: fit one model per target and select ``k * proportion``
        documents for each in turn (the reference's ``separate_targets``). Otherwise the targets
        are pooled.
    target_proportions
        Share of ``k`` per target (``None``: proportional to each target's n-gram count).
    random_state
        Seed of the Gumbel noise / draws (unsigned 64-bit). The noise of a document depends only
        on ``(random_state, target, id)``, so results do not depend on sharding or threads.
    n_jobs
        Worker threads (``None``: all cores).
    text_column, id_column, batch_size
        How corpora are read (see :func:`tamis.read_batches`).

    Examples
    --------
    >>> target = ["the cat sat on the mat"] * 3
    >>> raw = ["the cat sat on a mat", "stock prices fell sharply", "the mat and the cat"]
    >>> r = ImportanceResampler(min_length=0).fit(target, raw)
    >>> r.select(raw, k=2, method="topk").indices.tolist()
    [0, 2]
    """

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
        random_state: int = 0,
        n_jobs: Optional[int] = None,
        text_column: str = "text",
        id_column: Optional[str] = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        n_jobs = check_threads(n_jobs, "n_jobs")  # first: the warning names n_jobs
        self.featurizer = HashingFeaturizer(
            n_buckets, ngram_range, lowercase=lowercase, hash=hash, n_threads=n_jobs
        )
        self.n_buckets = self.featurizer.n_buckets
        self.ngram_range = self.featurizer.ngram_range
        self.hash = hash
        self.lowercase = bool(lowercase)
        self.alpha = float(alpha)
        if not (np.isfinite(self.alpha) and self.alpha >= 0):
            raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}")
        if smooth not in _SMOOTH:
            raise ValueError(f"smooth must be one of {_SMOOTH}, got {smooth!r}")
        self.smooth = smooth
        self.eps = float(eps)
        if not (np.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"eps must be finite and >= 0, got {eps!r}")
        if length_norm is not None:
            length_norm = float(length_norm)
            if not (np.isfinite(length_norm) and length_norm > 0):
                raise ValueError(
                    f"length_norm must be a positive number of tokens or None, got {length_norm!r}"
                )
        self.length_norm = length_norm
        self.min_length = check_int("min_length", min_length, 0)
        self.separate_targets = bool(separate_targets)
        if target_proportions is not None:
            props = np.asarray(target_proportions, dtype=np.float64)
            if props.ndim != 1 or len(props) == 0 or (props < 0).any() or props.sum() <= 0:
                raise ValueError(
                    "target_proportions must be non-negative numbers with a positive sum, "
                    f"got {target_proportions!r}"
                )
            target_proportions = [float(p) for p in props / props.sum()]
        self.target_proportions = target_proportions
        self.random_state = check_seed(random_state)
        self.n_jobs = n_jobs
        self.text_column = text_column
        self.id_column = id_column
        self.batch_size = check_int("batch_size", batch_size, 1)

    @classmethod
    def reference(cls, **kwargs: Any) -> ImportanceResampler:
        """Settings of the reference package ``data-selection`` 1.0.3 (``HashedNgramDSIR``).

        SHA-256 buckets, lowercase WordPunct unigrams + bigrams, 10000 buckets, no smoothing,
        ``eps=1e-8``, no length normalisation, ``min_length=100``. Keyword arguments override.
        """
        params: dict[str, Any] = {
            "n_buckets": 10_000,
            "hash": "sha256",
            "alpha": 0.0,
            "eps": 1e-8,
            "length_norm": None,
            "min_length": 100,
        }
        params.update(kwargs)
        return cls(**params)

    # -- scikit-learn conventions ---------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters."""
        return {
            "n_buckets": self.n_buckets,
            "ngram_range": tuple(self.ngram_range),
            "hash": self.hash,
            "lowercase": self.lowercase,
            "alpha": self.alpha,
            "smooth": self.smooth,
            "eps": self.eps,
            "length_norm": self.length_norm,
            "min_length": self.min_length,
            "separate_targets": self.separate_targets,
            "target_proportions": self.target_proportions,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
            "text_column": self.text_column,
            "id_column": self.id_column,
            "batch_size": self.batch_size,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"ImportanceResampler({args})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                "this ImportanceResampler is not fitted yet: call fit(target, raw) or load()"
            )

    # -- fitting --------------------------------------------------------------------------------

    def _batches(self, source: Any, columns: Optional[Sequence[str]] = None) -> Iterator[Any]:
        return read_batches(
            source,
            text_column=self.text_column,
            id_column=self.id_column,
            columns=columns,
            batch_size=self.batch_size,
        )

    def count(self, source: Any, *, desc: str = "count", show_progress: bool = False) -> np.ndarray:
        """Bucket counts of a corpus (streamed), ``uint64`` of length ``n_buckets``.

        Counts of shards add up: ``count(a) + count(b) == count(a + b)``.
        """
        out = np.zeros(self.n_buckets, dtype=np.uint64)
        bar = progress(total_rows(source) if show_progress else None, desc, enabled=show_progress)
        try:
            for batch in self._batches(source, columns=[]):
                self.featurizer.count(batch.column(self.text_column), out=out)
                bar.update(batch.num_rows)
        finally:
            bar.close()
        return out

    def _target_sources(self, target: Any) -> list[Any]:
        if not self.separate_targets:
            return [target]
        if not isinstance(target, (list, tuple)) or not target:
            raise TypeError(
                "with separate_targets=True, target must be a non-empty list of corpora (paths, "
                f"lists of texts, tables), one per target; got {type(target).__name__}"
            )
        return list(target)

    def fit(
        self,
        target: Any,
        raw: Any = None,
        *,
        raw_counts: Optional[np.ndarray] = None,
        show_progress: bool = False,
    ) -> ImportanceResampler:
        """Estimate the target and raw n-gram distributions and the per-bucket log ratios.

        Parameters
        ----------
        target
            The target corpus (path, glob, list of texts, table, ...). With
            ``separate_targets=True``: a list of corpora, one per target.
        raw
            The raw corpus to select from (streamed once).
        raw_counts
            Precomputed raw counts (e.g. the sum of per-shard :meth:`count` results) instead of
            ``raw``.
        show_progress
            Show progress bars.

        Returns
        -------
        self
        """
        t0 = time.perf_counter()
        if (raw is None) == (raw_counts is None):
            raise ValueError("pass exactly one of raw and raw_counts")
        if raw_counts is not None:  # checked before the targets are counted
            raw_counts = check_counts("raw_counts", raw_counts, 1, self.n_buckets)
        sources = self._target_sources(target)
        tc = np.stack([self.count(s, desc="target", show_progress=show_progress) for s in sources])
        if raw_counts is not None:
            rc = raw_counts
        else:
            rc = self.count(raw, desc="raw counts", show_progress=show_progress)
        self._fit_counts(tc, rc)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _fit_counts(self, target_counts: np.ndarray, raw_counts: np.ndarray) -> None:
        # Also the path of load(): saved counts are checked like user input.
        target_counts = check_counts("target_counts", target_counts, 2, self.n_buckets)
        raw_counts = check_counts("raw_counts", raw_counts, 1, self.n_buckets)
        if len(target_counts) == 0:
            raise ValueError("target_counts must have at least one target, got 0 rows")
        totals = target_counts.sum(axis=1).astype(np.float64)
        if self.separate_targets:
            props = self.target_proportions
            if props is None:
                props = list(totals / totals.sum()) if totals.sum() > 0 else None
            if props is None or len(props) != len(target_counts):
                raise ValueError(
                    f"target_proportions must have one entry per target ({len(target_counts)}), "
                    f"got {self.target_proportions!r}"
                )
            self.target_proportions_ = np.asarray(props, dtype=np.float64)
        else:
            self.target_proportions_ = np.ones(1)
        self.target_counts_ = np.ascontiguousarray(target_counts, dtype=np.uint64)
        self.raw_counts_ = np.ascontiguousarray(raw_counts, dtype=np.uint64)
        self.model_ = _core.ImportanceModel.fit(
            self.featurizer._core,
            self.target_counts_,
            self.raw_counts_,
            alpha=self.alpha,
            smooth_raw=self.smooth == "both",
            eps=self.eps,
        )

    @property
    def log_ratio_(self) -> np.ndarray:
        """Per-bucket log ratios ``ln p_target - ln p_raw``, shape ``(n_buckets, n_targets)``."""
        self._check_fitted()
        return self.model_.log_ratio

    # -- scoring --------------------------------------------------------------------------------

    def _score_array(self, text: Any) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        return self.model_.log_weights(
            *buffers(text), length_norm=self.length_norm, n_threads=self.n_jobs
        )

    def log_weights(self, texts: Any, *, return_n_tokens: bool = False) -> Any:
        """Log importance weights of documents, in input order.

        Parameters
        ----------
        texts
            A corpus (streamed): list of str, Arrow array/table, path, ...
        return_n_tokens
            Also return the token count of each document (``min_length`` applies to it).

        Returns
        -------
        numpy.ndarray
            ``(n,)`` float64, or ``(n, n_targets)`` with ``separate_targets``; optionally with
            the ``(n,)`` uint64 token counts.
        """
        self._check_fitted()
        ws, ns = [], []
        for batch in self._batches(texts, columns=[]):
            w, n = self._score_array(batch.column(self.text_column))
            ws.append(w)
            ns.append(n)
        t = self.model_.n_targets
        w = np.concatenate(ws) if ws else np.zeros((0, t))
        n = np.concatenate(ns) if ns else np.zeros(0, np.uint64)
        if not self.separate_targets:
            w = w[:, 0]
        return (w, n) if return_n_tokens else w

    # -- selection ------------------------------------------------------------------------------

    def _ks(self, k: int) -> list[int]:
        if not self.separate_targets:
            return [k]
        return _core.split_k(k, [float(p) for p in self.target_proportions_])

    def _stream(
        self,
        raw: Any,
        k: int,
        method: str,
        seed: int,
        keep_rows: bool,
        columns: Optional[Sequence[str]],
        show_progress: bool,
    ) -> dict[str, Any]:
        """One pass over raw: weights, keys, per-target top-k, and (optionally) candidate rows."""
        ks = self._ks(k)
        tops = [_core.TopK(c) for c in _core.sequential_capacities(ks)]
        replacement = method == "replacement"
        all_w: list[np.ndarray] = []
        all_elig: list[np.ndarray] = []
        kept: list[pa.Table] = []
        n_kept = 0
        pos0 = 0
        n_eligible = 0
        id_name = self.id_column or "id"
        bar = progress(total_rows(raw) if show_progress else None, "weights", enabled=show_progress)
        for batch in self._batches(raw, columns=columns):
            n = batch.num_rows
            w, ntok = self._score_array(batch.column(self.text_column))
            elig = ntok >= self.min_length
            text_valid = batch.column(self.text_column).is_valid().to_numpy(zero_copy_only=False)
            elig &= text_valid
            n_eligible += int(elig.sum())
            positions = np.arange(pos0, pos0 + n, dtype=np.uint64)
            if replacement:
                all_w.append(w[:, 0])
                all_elig.append(elig)
                if keep_rows:
                    kept.append(self._annotate(batch, positions, w, None))
            else:
                idh = _id_hashes(batch.column(id_name))
                any_kept = np.zeros(n, dtype=bool)
                keys = []
                for t, top in enumerate(tops):
                    key = np.ascontiguousarray(w[:, t])
                    if method == "gumbel":
                        key = key + _core.gumbel_noise(idh, seed=seed, target=t)
                    keys.append(key)
                    any_kept |= top.push(key, idh, positions, elig)
                if keep_rows and any_kept.any():
                    idx = np.flatnonzero(any_kept)
                    kept.append(
                        self._annotate(
                            batch.take(pa.array(idx)),
                            positions[idx],
                            w[idx],
                            np.stack(keys, axis=1)[idx],
                        )
                    )
                    n_kept += len(idx)
                    if n_kept > 2 * sum(t.k for t in tops) + self.batch_size:
                        live = np.unique(np.concatenate([t.entries()[2] for t in tops]))
                        table = pa.concat_tables(kept)
                        mask = np.isin(table.column("__pos").to_numpy(), live)
                        kept = [table.filter(pa.array(mask))]
                        n_kept = kept[0].num_rows
            pos0 += n
            bar.update(n)
        bar.close()
        return {
            "ks": ks,
            "tops": tops,
            "weights": all_w,
            "eligible": all_elig,
            "kept": kept,
            "n_rows": pos0,
            "n_eligible": n_eligible,
        }

    @staticmethod
    def _annotate(
        batch: pa.RecordBatch, positions: np.ndarray, w: np.ndarray, keys: Optional[np.ndarray]
    ) -> pa.Table:
        """Rows plus their position, weights and keys (one list entry per target)."""

        def lists(a: np.ndarray) -> pa.Array:
            a = a if a.ndim == 2 else a[:, None]
            return pa.FixedSizeListArray.from_arrays(pa.array(a.ravel(), pa.float64()), a.shape[1])

        table = pa.Table.from_batches([batch])
        table = table.append_column("__pos", pa.array(positions, pa.uint64()))
        table = table.append_column("__w", lists(w))
        if keys is not None:
            table = table.append_column("__key", lists(keys))
        return table

    def _resolve(
        self, st: dict[str, Any], k: int, method: str, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Selected positions (ascending) and the target of each."""
        if method == "replacement":
            w = np.concatenate(st["weights"]) if st["weights"] else np.zeros(0)
            elig = np.concatenate(st["eligible"]) if st["eligible"] else np.zeros(0, bool)
            if k > 0 and not elig.any():
                raise ValueError(f"k={k} draws asked but no document is eligible (min_length)")
            pos = _core.sample_with_replacement(
                np.ascontiguousarray(w), k, seed=seed, eligible=elig
            )
            return pos.astype(np.int64), np.zeros(len(pos), dtype=np.int64)
        try:
            pos, tgt = _core.select_sequential(st["tops"], st["ks"])
        except ValueError as e:
            raise ValueError(
                f"k={k} is larger than the eligible pool: {st['n_eligible']} of {st['n_rows']} "
                f"documents have >= min_length={self.min_length} tokens ({e})"
            ) from None
        order = np.argsort(pos, kind="stable")
        return pos[order].astype(np.int64), tgt[order].astype(np.int64)

    def _check_select(self, k: Any, method: str, random_state: Any) -> tuple[int, int]:
        self._check_fitted()
        k = check_int("k", k, 1)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if method == "replacement" and self.separate_targets:
            raise ValueError("method='replacement' does not support separate_targets=True")
        seed = self.random_state if random_state is None else check_seed(random_state)
        return k, seed

    def select(
        self,
        raw: Any,
        k: int,
        *,
        method: str = "gumbel",
        random_state: Optional[int] = None,
        show_progress: bool = False,
    ) -> Selection:
        """Choose ``k`` raw documents by importance weight (one streaming pass over ``raw``).

        Parameters
        ----------
        raw
            The raw corpus (the one given to :meth:`fit`, or any other).
        k
            Documents to select. Larger than the eligible pool: ``ValueError``.
        method
            ``"gumbel"``: sample without replacement ``∝ exp(log weight)`` (Gumbel top-k, the
            reference's default); ``"topk"``: the k largest weights; ``"replacement"``: k
            independent draws (needs 8 bytes per raw document).
        random_state
            Seed (default: the estimator's ``random_state``).
        show_progress
            Show a progress bar.

        Returns
        -------
        Selection
            Row numbers in input order, with weights, keys and ids.
        """
        k, seed = self._check_select(k, method, random_state)
        st = self._stream(raw, k, method, seed, True, [], show_progress)
        pos, tgt = self._resolve(st, k, method, seed)
        table = self._collect(st, pos, tgt, method)
        id_name = self.id_column or "id"
        key_col = {"gumbel": "gumbel_key", "topk": "key"}.get(method)
        return Selection(
            indices=pos,
            log_weight=table.column("log_weight").to_numpy(),
            key=table.column(key_col).to_numpy() if key_col else np.full(len(pos), np.nan),
            target=tgt,
            ids=table.column(id_name).to_pylist(),
            n_eligible=st["n_eligible"],
            n_rows=st["n_rows"],
        )

    def _collect(
        self, st: dict[str, Any], pos: np.ndarray, tgt: np.ndarray, method: str
    ) -> pa.Table:
        """The selected rows (input columns + log_weight [+ key] [+ target]) in input order."""
        kept = st["kept"]
        if not kept:
            raise ValueError("nothing was read from raw")
        table = pa.concat_tables(kept)
        all_pos = table.column("__pos").to_numpy()
        # Map each selected position to its kept row (positions are unique in `kept` after the
        # filter below; with replacement a row is taken once per draw).
        order = np.argsort(all_pos, kind="stable")
        rows = order[np.searchsorted(all_pos[order], pos.astype(np.uint64))]
        table = table.take(pa.array(rows))
        w = table.column("__w").combine_chunks().flatten().to_numpy().reshape(len(rows), -1)
        lw = w[np.arange(len(rows)), tgt] if w.shape[1] > 1 else w[:, 0]
        out = table.drop_columns([c for c in ("__pos", "__w", "__key") if c in table.column_names])
        out = out.append_column("log_weight", pa.array(lw, pa.float64()))
        if method != "replacement":
            keys = (
                table.column("__key").combine_chunks().flatten().to_numpy().reshape(len(rows), -1)
            )
            kk = keys[np.arange(len(rows)), tgt]
            out = out.append_column(
                "gumbel_key" if method == "gumbel" else "key", pa.array(kk, pa.float64())
            )
        if self.separate_targets:
            out = out.append_column("target", pa.array(tgt, pa.int64()))
        return out

    def resample(
        self,
        raw: Any,
        k: int,
        *,
        method: str = "gumbel",
        random_state: Optional[int] = None,
        columns: Optional[Sequence[str]] = None,
        show_progress: bool = False,
    ) -> pa.Table:
        """Like :meth:`select`, but return the selected rows themselves.

        The table keeps the input columns (or ``columns`` plus text and id) in input order and adds
        ``log_weight``, ``gumbel_key`` (``method="gumbel"``; ``key`` for ``"topk"``) and, with
        separate targets, ``target``. Memory: O(k) rows, whatever the corpus size (except
        ``method="replacement"``, which keeps every row's weight and all rows).
        """
        k, seed = self._check_select(k, method, random_state)
        st = self._stream(raw, k, method, seed, True, columns, show_progress)
        pos, tgt = self._resolve(st, k, method, seed)
        return self._collect(st, pos, tgt, method)

    # -- evaluation -----------------------------------------------------------------------------

    def kl_reduction(
        self, selected: Any, *, raw: Any = None, n_buckets: Optional[int] = None
    ) -> float:
        """The paper's KL reduction of a selection, on hashed n-gram features.

        ``mean_t [KL(target_t || raw) - KL(target_t || selected)]`` with
        ``KL(p||q) = sum p (ln(p + 1e-10) - ln(q + 1e-10))`` (Xie et al. 2023, Section 6 and
        Appendix I; the definition the authors gave in p-lambda/dsir issues #9 and #11).
        Positive: the selection is closer to the target than the raw corpus is.

        The paper computes it on 10,000 buckets. With many more buckets than the samples can fill,
        the metric mostly measures how many target buckets a small selection leaves empty, so by
        default the model's xxh3 counts are folded to 8192 buckets: for a power-of-two bucket
        count, bucket ``(h * 2^a) >> 64`` folded by ``2^(a-13)`` is exactly bucket
        ``(h * 8192) >> 64``, so no second pass over the raw corpus is needed.

        Parameters
        ----------
        selected
            The selected documents (texts, a table from :meth:`resample`, a path, ...).
        raw
            The raw corpus to compare with (default: the counts seen by :meth:`fit`).
        n_buckets
            Buckets to compute it on: a power of two dividing the model's (xxh3 models only), or
            the model's own. Default: 8192 for xxh3 models with more buckets, else the model's.
        """
        self._check_fitted()
        sc = self.count(selected)
        rc = self.raw_counts_ if raw is None else self.count(raw)
        tc = self.target_counts_
        nb = self.n_buckets
        pow2 = nb & (nb - 1) == 0
        if n_buckets is None:
            n_buckets = 8192 if self.hash == "xxh3" and pow2 and nb > 8192 else nb
        n_buckets = check_int("n_buckets", n_buckets, 1)
        if n_buckets != nb:
            if self.hash != "xxh3" or not pow2 or n_buckets & (n_buckets - 1) or n_buckets > nb:
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

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: Union[str, Path]) -> Path:
        """Save the fitted model as ``.npz`` (arrays + JSON parameters; no pickle)."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": "tamis.dsir", "version": _FORMAT_VERSION, "params": self.get_params()}
        with open(path, "wb") as f:
            np.savez(
                f,
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                target_counts=self.target_counts_,
                raw_counts=self.raw_counts_,
                target_proportions=self.target_proportions_,
            )
        return path

    @classmethod
    def load(cls, path: Union[str, Path], **overrides: Any) -> ImportanceResampler:
        """Load a model saved by :meth:`save` (``allow_pickle=False``); keywords override params."""
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != "tamis.dsir" or meta.get("version") != _FORMAT_VERSION:
                raise ValueError(f"{path}: not a tamis DSIR model (version {_FORMAT_VERSION})")
            params = {**meta["params"], **overrides}
            params["ngram_range"] = tuple(params["ngram_range"])
            self = cls(**params)
            tp = z["target_proportions"]
            if self.separate_targets and self.target_proportions is None:
                self.target_proportions = [float(p) for p in tp]
            self._fit_counts(z["target_counts"], z["raw_counts"])
        return self


#: The paper's name for the method.
DSIR = ImportanceResampler
