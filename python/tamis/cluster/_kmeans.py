"""k-means over the Rust core: the :class:`KMeans` estimator and :func:`merge_centroids`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from tamis import _core
from tamis._base import Estimator, check_is_fitted, load_state, save_state
from tamis._validation import check_int, check_matrix, check_seed, check_threads

METRICS = ("l2", "cosine")
INITS = ("k-means++", "random")
ALGORITHMS = ("lloyd", "minibatch")
LINKAGES = ("ward", "average", "complete", "single")

FORMAT = "tamis.kmeans"
VERSION = 1


as_embeddings = check_matrix


def _choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return str(value)


class KMeans(Estimator):
    """k-means clustering of embeddings (Lloyd 1982; mini-batch: Sculley 2010).

    Distances use ``‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖²`` with one matrix product per block of rows,
    in the input's precision (float32 stays float32); sums are accumulated in float64. The
    result is the same, bit for bit, for any ``n_threads``.

    Parameters
    ----------
    k
        Number of clusters (at most the number of rows).
    metric
        ``"l2"`` (squared Euclidean) or ``"cosine"`` (rows and centroids normalised: spherical
        k-means; the inertia is then ``Σ 2(1 − cos)``).
    init
        ``"k-means++"`` (greedy, ``2 + ⌊ln k⌋`` candidates per centre, as scikit-learn) or
        ``"random"`` (k distinct rows, as faiss).
    algorithm
        ``"lloyd"`` (full batches) or ``"minibatch"`` (``batch_size`` rows per step).
    max_iter
        Lloyd iterations; for ``"minibatch"``, passes over the data.
    tol
        Lloyd stops once the total squared centroid shift is at most ``tol`` times the mean
        per-feature variance (scikit-learn's rule), or when no row changes cluster; ``0`` runs
        every iteration that changes something.
    n_init
        Runs from different seeds; the one with the lowest inertia is kept.
    batch_size
        Rows per mini-batch step.
    seed
        Seed of the initialisation and the mini-batches.
    n_threads
        Worker threads (``None``: all cores, or ``TAMIS_NUM_THREADS``).

    Attributes
    ----------
    centroids_ : numpy.ndarray
        ``(k, d)`` centroids, in the dtype of the fitted data (unit length for cosine).
    labels_ : numpy.ndarray
        int64 cluster of each fitted row.
    distances_ : numpy.ndarray
        Squared distance of each fitted row to its centroid.
    inertia_ : float
        Sum of ``distances_``.
    counts_ : numpy.ndarray
        Rows per cluster.
    n_iter_ : int
        Iterations run.
    converged_ : bool
        Whether Lloyd stopped before ``max_iter``.

    Examples
    --------
    >>> import numpy as np
    >>> from tamis.cluster import KMeans
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> km = KMeans(2, seed=0).fit(X)
    >>> sorted(km.counts_.tolist())
    [2, 2]
    >>> km.predict(np.array([[4.9, 5.2]])).tolist() == [km.labels_[2]]
    True
    """

    def __init__(
        self,
        k: int,
        *,
        metric: str = "l2",
        init: str = "k-means++",
        algorithm: str = "lloyd",
        max_iter: int = 100,
        tol: float = 1e-4,
        n_init: int = 1,
        batch_size: int = 1024,
        seed: int = 0,
        n_threads: Optional[int] = None,
    ) -> None:
        self.k = check_int("k", k, 1)
        self.metric = _choice("metric", metric, METRICS)
        self.init = _choice("init", init, INITS)
        self.algorithm = _choice("algorithm", algorithm, ALGORITHMS)
        self.max_iter = check_int("max_iter", max_iter, 1)
        if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)):
            raise TypeError(f"tol must be a number, got {type(tol).__name__}")
        if not (np.isfinite(tol) and tol >= 0):
            raise ValueError(f"tol must be a finite number >= 0, got {tol}")
        self.tol = float(tol)
        self.n_init = check_int("n_init", n_init, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seed = check_seed(seed)
        self.n_threads = check_threads(n_threads)

    @property
    def centroids(self) -> np.ndarray:
        """The fitted centroids (``centroids_``)."""
        check_is_fitted(self, "centroids_", "fit(X) or load()")
        return self.centroids_

    @property
    def inertia(self) -> float:
        """The fitted inertia (``inertia_``)."""
        check_is_fitted(self, "inertia_", "fit(X)")
        return self.inertia_

    def fit(self, X: Any) -> KMeans:
        """Cluster the rows of ``X`` (n × d, float32 or float64)."""
        a = as_embeddings(X)
        if a.shape[0] < self.k:
            raise ValueError(f"k must be at most the number of rows ({a.shape[0]}), got {self.k}")
        c, labels, dist, inertia, counts, n_iter, converged = _core.kmeans_fit(
            a,
            self.k,
            metric=self.metric,
            init=self.init,
            algorithm=self.algorithm,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            tol=self.tol,
            n_init=self.n_init,
            seed=self.seed,
            n_threads=self.n_threads,
        )
        self.centroids_ = c
        self.labels_ = labels
        self.distances_ = dist
        self.inertia_ = float(inertia)
        self.counts_ = counts
        self.n_iter_ = int(n_iter)
        self.converged_ = bool(converged)
        return self

    def fit_predict(self, X: Any) -> np.ndarray:
        """:meth:`fit`, then the labels of the fitted rows."""
        return self.fit(X).labels_

    def transform_distances(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Nearest centroid and squared distance to it of each row of ``X``: ``(labels, dist)``.

        Rows are processed as given, so a large file can be assigned batch by batch (streaming);
        the centroids' dtype decides the precision.
        """
        check_is_fitted(self, "centroids_", "fit(X) or load()")
        a = as_embeddings(X)
        d = self.centroids_.shape[1]
        if a.shape[1] != d:
            raise ValueError(f"X has {a.shape[1]} columns, the centroids have {d}")
        a = a.astype(self.centroids_.dtype, copy=False)
        labels, dist = _core.kmeans_assign(
            a, self.centroids_, metric=self.metric, n_threads=self.n_threads
        )
        return labels, dist

    def predict(self, X: Any) -> np.ndarray:
        """int64 nearest centroid of each row of ``X`` (ties: the lower cluster)."""
        return self.transform_distances(X)[0]

    def score(self, X: Any) -> float:
        """Minus the inertia of ``X`` against the fitted centroids (scikit-learn's sign)."""
        return -float(self.transform_distances(X)[1].sum())

    def save(self, path: Union[str, Path]) -> Path:
        """Write the centroids and parameters as a versioned ``.npz`` (no pickle)."""
        check_is_fitted(self, "centroids_", "fit(X)")
        return save_state(
            path,
            FORMAT,
            VERSION,
            self.get_params(),
            centroids=self.centroids_,
            counts=getattr(self, "counts_", np.zeros(self.k, dtype=np.int64)),
        )

    @classmethod
    def load(cls, path: Union[str, Path], **overrides: Any) -> KMeans:
        """A :class:`KMeans` with the centroids saved by :meth:`save`; keywords override params."""
        params, z = load_state(path, FORMAT, (VERSION,))
        km = cls(**{**params, **overrides})
        km.centroids_ = np.ascontiguousarray(z["centroids"])
        km.counts_ = np.asarray(z["counts"])
        if km.centroids_.ndim != 2 or km.centroids_.shape[0] != km.k:
            raise ValueError(f"{path}: centroids have shape {km.centroids_.shape}, k={km.k}")
        return km


def merge_centroids(
    centroids: Any,
    *,
    n_clusters: Optional[int] = None,
    threshold: Optional[float] = None,
    weights: Any = None,
    linkage: str = "ward",
) -> tuple[np.ndarray, np.ndarray]:
    """Merge centroids into super-clusters by agglomerative clustering (CLIMB).

    Parameters
    ----------
    centroids
        ``(k, d)`` centroids (e.g. ``KMeans.centroids_``).
    n_clusters, threshold
        Stop at ``n_clusters`` super-clusters, or merge every pair closer than ``threshold``
        (linkage distance); exactly one must be given.
    weights
        Cluster sizes (``KMeans.counts_``); Ward then merges as if each centroid stood for that
        many rows. ``None``: one each (SciPy's ``linkage(centroids, method)``).
    linkage
        ``"ward"``, ``"average"``, ``"complete"`` or ``"single"``.

    Returns
    -------
    (labels, Z)
        int64 super-cluster of each centroid (numbered in order of first appearance) and the
        SciPy-style linkage matrix ``Z`` (``k − 1`` rows ``a, b, distance, size``).

    Examples
    --------
    >>> import numpy as np
    >>> labels, Z = merge_centroids(np.array([[0.0], [0.1], [5.0], [5.2]]), n_clusters=2)
    >>> labels.tolist()
    [0, 0, 1, 1]
    """
    c = np.ascontiguousarray(as_embeddings(centroids, "centroids"), dtype=np.float64)
    _choice("linkage", linkage, LINKAGES)
    if (n_clusters is None) == (threshold is None):
        raise ValueError("give exactly one of n_clusters or threshold")
    if n_clusters is not None:
        n_clusters = check_int("n_clusters", n_clusters, 1, c.shape[0])
    if threshold is not None and not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    return _core.merge_centroids(
        c, weights=w, linkage=linkage, n_clusters=n_clusters, threshold=threshold
    )
