"""MIG: greedy information gain over a label graph.

Chen et al. 2025, "MIG: Automatic Data Selection for Instruction Tuning by Maximizing
Information Gain in Semantic Space". Every document ``i`` has labels (tags), a quality score ``q_i`` and, through a label similarity
graph ``G`` (``L x L``, non-negative, identity when absent), a vector of information over labels

    w_i = q_i * x_i G,     x_i = its labels (each 1, or given weights), divided by their sum,
                           G = the graph, each row divided by its sum

The information of a set is ``F(S) = sum_j phi(sum_{i in S} w_ij)`` with ``phi`` concave and
increasing (``x**alpha`` or ``log1p``): quality counts, but a label that is already well covered
earns less and less, so the greedy selection spreads over the label space. ``F`` is monotone
submodular (a concave function of a non-negative modular one), so the greedy set is within
``1 - 1/e`` of the best set of the same size (Nemhauser, Wolsey & Fisher 1978). The lazy greedy
(Minoux 1978) returns the same rows in the same order with far fewer gain evaluations.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from tamis import _core
from tamis._base import Selection
from tamis._validation import check_int, check_threads

PHIS = ("power", "log1p")


def _label_csr(
    labels: Any, n_labels: Optional[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Labels as CSR ``(indptr, indices, data, n_labels)`` (float64 data)."""
    if hasattr(labels, "tocsr"):  # a scipy sparse matrix or array
        m = labels.tocsr(copy=True)
        m.sum_duplicates()
        m.sort_indices()
        width = m.shape[1] if n_labels is None else n_labels
        if m.shape[1] > width:
            raise ValueError(f"labels has {m.shape[1]} columns but n_labels={width}")
        return (
            m.indptr.astype(np.int64),
            m.indices.astype(np.int64),
            np.asarray(m.data, dtype=np.float64),
            int(width),
        )
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        rows, cols = np.nonzero(labels)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=labels.shape[0]))])
        width = labels.shape[1] if n_labels is None else n_labels
        return (
            indptr.astype(np.int64),
            cols.astype(np.int64),
            labels[rows, cols].astype(np.float64),
            int(width),
        )
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
        raise TypeError(
            "labels must be a list of label-id lists, a 2-D array or a scipy sparse matrix, "
            f"got {type(labels).__name__}"
        )
    ptr: list[int] = [0]
    flat: list[int] = []
    for i, row in enumerate(labels):
        flat.extend(sorted({check_int(f"labels[{i}]", v, 0) for v in row}))
        ptr.append(len(flat))
    idx = np.asarray(flat, dtype=np.int64)
    width = (int(idx.max()) + 1 if len(idx) else 0) if n_labels is None else n_labels
    return np.asarray(ptr, dtype=np.int64), idx, np.ones(len(idx)), int(width)


def mig_weights(
    labels: Any,
    *,
    quality: Any = None,
    graph: Any = None,
    n_labels: Optional[int] = None,
    normalize_labels: bool = True,
    normalize_graph: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The information vectors ``w_i = q_i * x_i G`` as CSR ``(indptr, indices, data, n_labels)``.

    Parameters
    ----------
    labels
        Per document: a list of label ids, or a ``(n, L)`` dense array / scipy sparse matrix of
        label weights.
    quality
        Per-document quality scores (``>= 0``; default 1).
    graph
        ``(L, L)`` non-negative label similarity (dense or scipy sparse; needs scipy). Include the
        diagonal: a label's own information is ``G[l, l]``. ``None``: the identity.
    n_labels
        Number of labels (default: from ``labels`` or ``graph``).
    normalize_labels
        Divide each document's label weights by their sum (a document's information is its
        quality, however many labels it has).
    normalize_graph
        Divide each row of ``graph`` by its sum, so propagation spreads a label's information
        over its neighbours instead of adding to it (a document with a well-connected label
        then carries no more information than one with an isolated label).
    """
    if n_labels is None and graph is not None:
        n_labels = int(graph.shape[0])
    indptr, indices, data, width = _label_csr(labels, n_labels)
    n = len(indptr) - 1
    if len(indices) and (indices.max() >= width):
        raise ValueError(f"labels has label id {int(indices.max())} but n_labels={width}")
    if len(data) and not (np.isfinite(data).all() and (data >= 0).all()):
        raise ValueError("labels weights must be finite and >= 0")
    if normalize_labels and len(data):
        sums = np.add.reduceat(data, indptr[:-1].clip(max=len(data) - 1))
        sums = np.where(np.diff(indptr) > 0, sums, 1.0)
        data = data / np.repeat(np.where(sums > 0, sums, 1.0), np.diff(indptr))
    if quality is None:
        q = np.ones(n)
    else:
        q = np.asarray(quality, dtype=np.float64)
        if q.shape != (n,):
            raise ValueError(f"quality must have one score per document ({n}), got shape {q.shape}")
        if not (np.isfinite(q).all() and (q >= 0).all()):
            bad = int(np.flatnonzero(~(np.isfinite(q) & (q >= 0)))[0])
            raise ValueError(f"quality must be finite and >= 0, got {q[bad]} at row {bad}")
    data = data * np.repeat(q, np.diff(indptr))
    if graph is None:
        return indptr, indices.astype(np.uint32), data, width
    try:
        import scipy.sparse as sp
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("a label graph needs scipy: pip install scipy") from e
    G = sp.csr_matrix(graph, dtype=np.float64)
    if G.shape != (width, width):
        raise ValueError(f"graph must be ({width}, {width}), got {G.shape}")
    if G.nnz and not (np.isfinite(G.data).all() and (G.data >= 0).all()):
        raise ValueError("graph must be finite and >= 0")
    if normalize_graph:
        sums = np.asarray(G.sum(axis=1)).ravel()
        G = sp.diags(np.where(sums > 0, 1.0 / np.where(sums > 0, sums, 1.0), 0.0)) @ G
    W = sp.csr_matrix((data, indices, indptr), shape=(n, width)) @ G
    W = sp.csr_matrix(W)
    W.eliminate_zeros()
    W.sum_duplicates()
    W.sort_indices()
    return W.indptr.astype(np.int64), W.indices.astype(np.uint32), W.data.astype(np.float64), width


def _phi(x: np.ndarray, phi: str, alpha: float) -> np.ndarray:
    return np.power(x, alpha) if phi == "power" else np.log1p(x)


def mig_objective(
    weights: tuple[np.ndarray, np.ndarray, np.ndarray, int],
    rows: Any,
    *,
    phi: str = "power",
    alpha: float = 0.8,
) -> float:
    """``F(S) = sum_j phi(sum_{i in S} w_ij)`` for the rows ``S`` (numpy, from scratch)."""
    indptr, indices, data, width = weights
    mass = np.zeros(width)
    for i in np.asarray(rows, dtype=np.int64).tolist():
        a, b = indptr[i], indptr[i + 1]
        np.add.at(mass, indices[a:b].astype(np.int64), data[a:b])
    return float(_phi(mass, phi, alpha).sum())


def mig_select(
    labels: Any,
    k: int,
    *,
    quality: Any = None,
    graph: Any = None,
    n_labels: Optional[int] = None,
    phi: str = "power",
    alpha: float = 0.8,
    normalize_labels: bool = True,
    normalize_graph: bool = True,
    lazy: bool = True,
    ids: Any = None,
    n_threads: Optional[int] = None,
) -> Selection:
    """Select ``k`` documents by greedy information gain (MIG).

    Parameters
    ----------
    labels, quality, graph, n_labels, normalize_labels, normalize_graph
        The information vectors (:func:`mig_weights`).
    k
        Documents to select.
    phi
        ``"power"`` (``x ** alpha``) or ``"log1p"``.
    alpha
        Exponent of ``"power"``, in ``(0, 1]`` (``1``: no diversity, the top-``k`` by quality).
    lazy
        Lazy greedy (same result, fewer evaluations) instead of the plain greedy.
    ids
        Document ids (default: row numbers).
    n_threads
        Worker threads (the plain greedy evaluates gains in parallel).

    Returns
    -------
    Selection
        Rows in the order the greedy added them; ``columns``: ``gain`` (its marginal gain when
        added, non-increasing) and ``quality``; ``info``: ``objective`` (``F`` of the set),
        ``n_evaluations``, ``phi``, ``alpha``.

    Examples
    --------
    >>> sel = mig_select([[0], [0], [1], [0, 1]], 2, quality=[1.0, 0.9, 0.5, 0.6], phi="log1p")
    >>> sel.indices.tolist()
    [0, 2]
    """
    if phi not in PHIS:
        raise ValueError(f"phi must be 'power' or 'log1p', got {phi!r}")
    weights = mig_weights(
        labels,
        quality=quality,
        graph=graph,
        n_labels=n_labels,
        normalize_labels=normalize_labels,
        normalize_graph=normalize_graph,
    )
    indptr, indices, data, width = weights
    n = len(indptr) - 1
    k = check_int("k", k, 0, n)
    n_threads = check_threads(n_threads)
    rows, gains, n_eval = _core.mig_greedy(
        indptr,
        indices,
        data,
        width,
        k=k,
        phi=phi,
        alpha=float(alpha),
        lazy=lazy,
        n_threads=n_threads,
    )
    idx = rows.astype(np.int64)
    q = np.ones(n) if quality is None else np.asarray(quality, dtype=np.float64)
    id_values = idx if ids is None else np.asarray(ids)[idx]
    return Selection(
        indices=idx,
        ids=id_values,
        columns={"gain": gains, "quality": q[idx]},
        n_rows=n,
        method=f"mig/{'lazy' if lazy else 'greedy'}",
        info={
            "objective": mig_objective(weights, idx, phi=phi, alpha=alpha),
            "n_evaluations": int(n_eval),
            "phi": phi,
            "alpha": float(alpha),
        },
    )
