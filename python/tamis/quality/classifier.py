"""A hashed n-gram linear classifier (logistic / softmax), fitted exactly in Rust.

The DCLM and PreSelect recipe trains a fastText bigram classifier on positives and negatives and
keeps the documents it scores highest. :class:`HashedClassifier` is the same model family on
DSIR's features (:class:`tamis.HashingFeaturizer`: hashed word unigrams and bigrams, 2^18
buckets), with ``ln(1 + count)`` values and rows scaled to unit L2 norm, fitted by L-BFGS to the
exact optimum of scikit-learn's L2-regularised ``LogisticRegression`` objective (so the fit does
not depend on a seed, an epoch count or the thread count). :func:`tamis.quality.target.
classifier_select` uses it as a target selector.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._base import Estimator, check_is_fitted, load_state, save_state
from tamis._validation import check_int, check_seed, check_threads
from tamis.exceptions import InputError
from tamis.features import HashingFeaturizer
from tamis.io import buffers, read_batches

#: ``save_state`` kind and versions of the model file.
KIND, VERSION = "tamis-hashed-classifier", 1


@dataclass(frozen=True)
class HashedFeatures:
    """Weighted hashed n-gram features in CSR layout (``values`` are float64)."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    n_buckets: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_documents, n_buckets)``."""
        return (len(self.indptr) - 1, self.n_buckets)

    def to_scipy(self) -> Any:
        """A ``scipy.sparse.csr_matrix`` (needs scipy)."""
        from scipy.sparse import csr_matrix

        return csr_matrix((self.values, self.indices, self.indptr), shape=self.shape)


class HashedClassifier(Estimator):
    """Logistic (two classes) or softmax regression on hashed n-gram features.

    Minimises ``mean_i(s_i * loss_i) + l2 / 2 * ||W||^2`` (weighted mean over the sample weights
    ``s_i``, which include the class weights; the intercept is not penalised). This is
    scikit-learn's ``LogisticRegression(C=1 / (l2 * sum(s)))`` objective, solved to the same
    optimum by L-BFGS in Rust: multi-threaded and bit-identical for any ``n_threads``.

    Parameters
    ----------
    n_buckets
        Hash buckets (feature dimension).
    ngram_range
        Word n-gram lengths ``(min_n, max_n)``; ``(1, 2)``: unigrams and bigrams.
    lowercase
        Lowercase texts before tokenising.
    log_counts
        Feature value ``ln(1 + count)`` instead of ``count``.
    l2_normalize
        Scale each document's feature vector to unit L2 norm.
    l2
        L2 penalty strength.
    class_weight
        ``None`` (every row weighs 1), ``"balanced"`` (``n / (n_classes * count(class))``, as in
        scikit-learn) or a dict ``{class: weight}``.
    fit_intercept
        Fit an unpenalised intercept.
    tol
        Stop when the largest absolute gradient entry is ``<= tol`` (scikit-learn's default
        on the same objective; ``1e-8`` and below reproduce it to about 1e-6).
    max_iter
        L-BFGS iterations at most.
    seed
        Seed of the n-gram hash (unsigned 64-bit); the fit itself has no randomness.
    n_threads
        Worker threads (``None``: all cores).
    text_column
        Text column of tabular inputs.

    Examples
    --------
    >>> clf = HashedClassifier(n_buckets=1024, l2=1e-3)
    >>> clf = clf.fit(["good text here", "nice good text", "bad spam", "spam spam bad"],
    ...               [1, 1, 0, 0])
    >>> clf.predict(["good text", "spam"]).tolist()
    [1, 0]
    """

    def __init__(
        self,
        n_buckets: int = 1 << 18,
        ngram_range: tuple[int, int] = (1, 2),
        *,
        lowercase: bool = True,
        log_counts: bool = True,
        l2_normalize: bool = True,
        l2: float = 1e-5,
        class_weight: Union[str, dict[Any, float], None] = None,
        fit_intercept: bool = True,
        tol: float = 1e-4,
        max_iter: int = 1000,
        seed: int = 0,
        n_threads: Optional[int] = None,
        text_column: str = "text",
    ) -> None:
        self.n_buckets = check_int("n_buckets", n_buckets, 1, 2**32 - 1)
        self.ngram_range = tuple(int(x) for x in ngram_range)
        self.lowercase = bool(lowercase)
        self.log_counts = bool(log_counts)
        self.l2_normalize = bool(l2_normalize)
        if not (isinstance(l2, (int, float)) and np.isfinite(l2) and l2 >= 0):
            raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
        self.l2 = float(l2)
        if not (
            class_weight is None or class_weight == "balanced" or isinstance(class_weight, dict)
        ):
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict, got {class_weight!r}"
            )
        self.class_weight = class_weight
        self.fit_intercept = bool(fit_intercept)
        if not (isinstance(tol, (int, float)) and tol > 0):
            raise ValueError(f"tol must be > 0, got {tol!r}")
        self.tol = float(tol)
        self.max_iter = check_int("max_iter", max_iter, 1)
        self.seed = check_seed(seed)
        self.n_threads = check_threads(n_threads)
        self.text_column = text_column
        self.featurizer = HashingFeaturizer(
            self.n_buckets,
            self.ngram_range,  # type: ignore[arg-type]
            lowercase=self.lowercase,
            seed=self.seed,
            n_threads=self.n_threads,
        )

    # -- features -------------------------------------------------------------------------------

    def transform(self, texts: Any) -> HashedFeatures:
        """The weighted features of ``texts`` (what :meth:`fit` trains on)."""
        c = self.featurizer.transform(_texts(texts, self.text_column))
        values = _core.weigh_counts(
            c.indptr, c.data, log=self.log_counts, l2_normalize=self.l2_normalize
        )
        return HashedFeatures(c.indptr, c.indices, values, self.n_buckets)

    # -- fitting --------------------------------------------------------------------------------

    def fit(self, texts: Any, y: Any, sample_weight: Any = None) -> HashedClassifier:
        """Fit on documents ``texts`` with labels ``y`` (any sortable labels, at least two).

        Parameters
        ----------
        texts
            Documents: a list of str, a pyarrow array or table, a path, ...
        y
            One label per document. With two classes the second of the sorted labels is the
            positive class (``decision_function`` is its log-odds).
        sample_weight
            Optional non-negative weight per document, multiplied with the class weights.

        Returns
        -------
        HashedClassifier
            ``self``, with ``classes_``, ``coef_`` ``(n_buckets, K)``, ``intercept_`` ``(K,)``
            (``K = 1`` for two classes), ``n_iter_``, ``converged_``, ``loss_``.

        Raises
        ------
        ValueError
            ``y`` of the wrong length or with one class, bad ``sample_weight``.
        """
        t0 = time.perf_counter()
        x = self.transform(texts)
        y = np.asarray(y)
        n = x.shape[0]
        if y.ndim != 1 or len(y) != n:
            raise ValueError(f"y must hold one label per document: {n} documents, y {y.shape}")
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y must hold at least two classes, got {classes.tolist()}")
        sw = self._sample_weight(classes, codes, sample_weight, n)
        coef, intercept, report = _core.linear_fit(
            x.indptr,
            x.indices,
            x.values,
            self.n_buckets,
            codes.astype(np.uint32),
            sw,
            len(classes),
            l2=self.l2,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
            n_threads=self.n_threads,
        )
        self.classes_ = classes
        self.coef_ = coef
        self.intercept_ = intercept
        self.n_iter_ = int(report["n_iter"])
        self.converged_ = bool(report["converged"])
        self.loss_ = float(report["loss"])
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _sample_weight(
        self, classes: np.ndarray, codes: np.ndarray, sample_weight: Any, n: int
    ) -> np.ndarray:
        sw = np.ones(n) if sample_weight is None else np.array(sample_weight, dtype=np.float64)
        if sw.shape != (n,):
            raise ValueError(
                f"sample_weight must have one value per document ({n}), got {sw.shape}"
            )
        if not np.all(np.isfinite(sw)) or (sw < 0).any():
            raise ValueError("sample_weight must be finite and >= 0")
        if self.class_weight == "balanced":
            counts = np.bincount(codes, minlength=len(classes))
            sw *= (n / (len(classes) * counts))[codes]
        elif isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(classes.tolist())
            if unknown:
                raise ValueError(f"class_weight names classes not in y: {sorted(unknown)!r}")
            per = np.array([float(self.class_weight.get(c, 1.0)) for c in classes.tolist()])
            sw *= per[codes]
        return np.ascontiguousarray(sw)

    def fit_binary(self, positive: Any, negative: Any) -> HashedClassifier:
        """Fit positives (label 1) against negatives (label 0); each a corpus or list of texts."""
        pos, neg = _texts(positive, self.text_column), _texts(negative, self.text_column)
        texts = pa.chunked_array([*pos.chunks, *neg.chunks], type=pa.large_string())
        y = np.concatenate([np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)])
        return self.fit(texts, y)

    # -- prediction -----------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        check_is_fitted(self, "coef_", "fit() or load()")

    def _decision(self, texts: Any) -> np.ndarray:
        self._check_fitted()
        parts = []
        for arr in _text_arrays(texts, self.text_column):
            off, data, valid = buffers(arr)
            parts.append(
                _core.linear_decision_texts(
                    self.featurizer._core,
                    off,
                    data,
                    valid,
                    self.coef_,
                    self.intercept_,
                    log=self.log_counts,
                    l2_normalize=self.l2_normalize,
                    n_threads=self.n_threads,
                )
            )
        k = self.coef_.shape[1]
        return np.concatenate(parts) if parts else np.zeros((0, k))

    def decision_function(self, texts: Any) -> np.ndarray:
        """Log-odds of the positive class ``(n,)`` (two classes), else logits ``(n, K)``."""
        d = self._decision(texts)
        return d[:, 0] if d.shape[1] == 1 else d

    def predict_proba(self, texts: Any) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``, columns in ``classes_`` order."""
        d = self._decision(texts)
        if d.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-d[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        d = d - d.max(axis=1, keepdims=True)
        e = np.exp(d)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, texts: Any) -> np.ndarray:
        """The most probable class of each document."""
        d = self._decision(texts)
        best = (d[:, 0] > 0).astype(np.int64) if d.shape[1] == 1 else d.argmax(axis=1)
        return self.classes_[best]

    def score(self, texts: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` against ``y``."""
        return float(np.mean(self.predict(texts) == np.asarray(y)))

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: Union[str, Path]) -> Path:
        """Save as ``.npz`` (weights, classes and JSON parameters; no pickle)."""
        self._check_fitted()
        params = self.get_params()
        if isinstance(params["class_weight"], dict):
            params["class_weight"] = [[k, v] for k, v in params["class_weight"].items()]
        classes = self.classes_
        kind = "str" if classes.dtype.kind in "US" else "int" if classes.dtype.kind in "iu" else ""
        if not kind:
            raise TypeError(f"cannot save class labels of dtype {classes.dtype} (use int or str)")
        return save_state(
            path,
            KIND,
            VERSION,
            {**params, "classes_kind": kind},
            coef=self.coef_,
            intercept=self.intercept_,
            classes=classes.astype(str) if kind == "str" else classes.astype(np.int64),
        )

    @classmethod
    def load(cls, path: Union[str, Path], **overrides: Any) -> HashedClassifier:
        """Load what :meth:`save` wrote; keywords override parameters (e.g. ``n_threads``)."""
        params, z = load_state(path, KIND, (VERSION,))
        params.pop("classes_kind", None)
        if isinstance(params.get("class_weight"), list):
            params["class_weight"] = dict(params["class_weight"])
        try:
            return cls.from_arrays({**params, **overrides}, z["coef"], z["intercept"], z["classes"])
        except (KeyError, ValueError) as e:
            raise InputError(f"{path}: not a valid hashed classifier ({e})") from None

    def to_arrays(self) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
        """``(params, coef_, intercept_, classes_)``: the fitted state as plain values."""
        self._check_fitted()
        return self.get_params(), self.coef_, self.intercept_, self.classes_

    @classmethod
    def from_arrays(
        cls, params: dict[str, Any], coef: Any, intercept: Any, classes: Any
    ) -> HashedClassifier:
        """A fitted classifier from :meth:`to_arrays`'s values (checked)."""
        params = {**params, "ngram_range": tuple(params.get("ngram_range", (1, 2)))}
        clf = cls(**params)
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        intercept = np.ascontiguousarray(intercept, dtype=np.float64).reshape(-1)
        classes = np.asarray(classes)
        k = 1 if len(classes) == 2 else len(classes)
        if coef.shape != (clf.n_buckets, k) or intercept.shape != (k,) or len(classes) < 2:
            raise ValueError(
                f"coef {coef.shape}, intercept {intercept.shape} and {len(classes)} classes do "
                f"not fit n_buckets={clf.n_buckets}"
            )
        clf.coef_, clf.intercept_, clf.classes_ = coef, intercept, classes
        return clf


def score_table(
    clf: HashedClassifier, table: Any, *, min_score: Optional[float] = None
) -> pa.Table:
    """``table`` plus the classifier's scores, keeping rows with ``score >= min_score``.

    Two classes: ``score`` (probability of the positive class) and ``log_odds``. More: ``label``
    (the predicted class, as a string) and ``score`` (its probability). The engine of ``tamis
    quality score`` (local and Ray).
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    texts = table.column(clf.text_column)
    d = clf.decision_function(texts)
    if d.ndim == 1:
        with np.errstate(over="ignore"):
            score = 1.0 / (1.0 + np.exp(-d))
        table = table.append_column("score", pa.array(score, pa.float64()))
        table = table.append_column("log_odds", pa.array(d, pa.float64()))
    else:
        proba = clf.predict_proba(texts) if len(texts) else np.zeros((0, d.shape[1]))
        best = proba.argmax(axis=1) if len(texts) else np.zeros(0, np.int64)
        labels = clf.classes_.astype(str)[best]
        table = table.append_column("label", pa.array(labels.tolist(), pa.string()))
        table = table.append_column("score", pa.array(proba.max(axis=1, initial=0.0), pa.float64()))
    if min_score is not None:
        table = table.filter(pa.array(table.column("score").to_numpy() >= min_score))
    return table


# -- input helpers ---------------------------------------------------------------------------------


def _is_stream(texts: Any) -> bool:
    return not isinstance(
        texts, (str, list, tuple, pa.Array, pa.ChunkedArray, pa.Table, Path)
    ) and hasattr(texts, "__next__")


def _text_arrays(texts: Any, text_column: str) -> Iterator[pa.Array]:
    """Text arrays of ``texts``: in-memory texts, a table, a path or a stream of batches."""
    from tamis.io import as_text_array

    if isinstance(texts, (pa.Table, pa.RecordBatch)):
        texts = texts.column(text_column)
    if _is_stream(texts):
        for batch in texts:
            yield from _text_arrays(batch, text_column)
        return
    if isinstance(texts, (str, Path)) or (
        isinstance(texts, Sequence) and texts and isinstance(texts[0], Path)
    ):
        for batch in read_batches(texts, text_column=text_column, columns=[]):
            yield from as_text_array(batch.column(text_column))
        return
    yield from as_text_array(texts)


def _texts(texts: Any, text_column: str) -> pa.ChunkedArray:
    return pa.chunked_array(
        [a.cast(pa.large_string()) for a in _text_arrays(texts, text_column)],
        type=pa.large_string(),
    )


__all__ = ["HashedClassifier", "HashedFeatures", "score_table"]
