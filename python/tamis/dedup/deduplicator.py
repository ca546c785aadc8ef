""":class:`MinHashDeduplicator`: parameters, add / cluster / fit / select / save / load.

The estimator holds no algorithm: hashing is :func:`~tamis.dedup.sign_batch`, storage a
:class:`~tamis.dedup.SignatureStore`, banding :mod:`tamis.dedup.lsh`, clusters and the keep
policy :mod:`tamis.dedup.cluster` (the functions the Ray backend calls too).

Size: the class is ~300 lines, of which ~65 are its docstring (the one place the parameters are
documented) and ~25 the constructor's signature; each method is a few engine calls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from tamis._base import Estimator, Selection, check_is_fitted, load_state, save_state
from tamis._validation import check_int, check_threads
from tamis.dedup._checks import check_choice, check_threshold
from tamis.dedup.cluster import KEEP_POLICIES, VERIFY_MODES, choose_kept, cluster_store
from tamis.dedup.lsh import candidate_rows, query_rows, resolve_banding
from tamis.dedup.signatures import (
    MAX_NUM_PERM,
    Normalization,
    candidate_shingle_sets,
    make_hasher,
    sign_batch,
    text_chunks,
)
from tamis.dedup.store import SignatureStore, SignedBatch
from tamis.exceptions import NotFittedError
from tamis.io import as_text_array

#: ``banding`` values: ``"auto"`` is ``"recall"`` with exact verification, else ``"datasketch"``.
BANDING_RULES = ("auto", "recall", "datasketch")

#: ``format`` of the saved ``.npz`` header (:func:`tamis._base.save_state`), and its version.
#: Version 1 (a ``params`` JSON array, before the shared header) is still read.
KIND = "MinHashDeduplicator"
FORMAT_VERSION = 2


def _stored(name: str, doc: str) -> property:
    def get(self: MinHashDeduplicator) -> np.ndarray:
        value = None if self._store is None else getattr(self._store, name)
        if value is None:
            raise NotFittedError(f"this MinHashDeduplicator has no {name}_ (add() or fit() first)")
        return value

    return property(get, doc=doc)


def _check_verify(verify: Any, low_memory: Any) -> str:
    verify = check_choice("verify", verify, VERIFY_MODES)
    if low_memory and verify == "estimate":
        raise ValueError(
            "low_memory=True keeps no signatures to estimate from: "
            "use verify='exact' or verify='none'"
        )
    return verify


def _per_row(name: str, doc: str) -> property:
    def get(self: MinHashDeduplicator) -> np.ndarray:
        check_is_fitted(self, "selection_", "fit() (or add() then cluster())")
        return self.selection_.rows[name]

    return property(get, doc=doc)


class MinHashDeduplicator(Estimator):
    """Near-duplicate removal with MinHash LSH, verified candidates and union-find clusters.

    Candidates share one of ``num_bands`` bands of ``rows`` signature slots; a candidate pair is a
    duplicate when its Jaccard reaches ``threshold``. Clusters are the connected components of the
    duplicate pairs, plus (``exact=True``) documents with equal normalised texts; one document per
    cluster is kept. Results do not depend on ``n_threads``.

    Parameters
    ----------
    threshold
        Jaccard threshold in (0, 1).
    num_perm
        Signature length, ``1 <= num_perm <= 8192`` (``MAX_NUM_PERM``).
    ngram, analyzer
        Shingles: word (default, 5-grams) or character n-grams.
    scheme, seed
        ``"fast"``, ``"affine32"`` or ``"legacy"`` (:func:`minhash_signatures`); permutation seed.
    num_bands, rows
        Banding; both ``None`` (default) picks it by the ``banding`` rule.
    banding
        ``"recall"``: :func:`~tamis.dedup.lsh_params_recall`, the steepest banding that makes a
        pair at ``threshold`` a candidate with probability >= 0.99 (its extra candidates are
        removed by exact verification); ``"datasketch"``: datasketch's optimum
        (:func:`~tamis.dedup.lsh_params`, a trade-off for tools without verification);
        ``"auto"`` (default): ``"recall"`` with ``verify="exact"``, else ``"datasketch"``.
    weights
        ``(false_positive_weight, false_negative_weight)`` for datasketch's optimum.
    verify
        How a candidate pair is checked: ``"exact"`` (default) Jaccard of the shingle hashes
        (:meth:`fit` computes the sets of the candidate rows; after :meth:`add`, call
        :meth:`add_shingle_sets`), ``"estimate"`` from the signatures (faster, less precise) or
        ``"none"`` (every candidate).
    keep
        The kept document of a cluster: ``"first"`` (lowest id, or first row without ids),
        ``"longest"`` (most bytes) or ``"score"`` (highest ``scores``); ties go to the first row.
    exact
        Also join documents with identical normalised text (XXH3-128); empty documents are then
        duplicates of each other (without it they, and nulls always, are their own cluster).
    lowercase, nfkc, strip_punctuation, fold_whitespace
        Normalisation before shingling and exact hashing.
    low_memory
        Keep only the band keys of each document (about 100 bytes per document at 9 bands)
        instead of its signature (4 bytes per permutation); needs ``verify="exact"`` or
        ``"none"``, and :meth:`query` returns band matches.
    n_threads
        Worker threads (``None``: all cores).

    Attributes
    ----------
    selection_ : tamis._base.Selection
        Kept rows (``indices``, ``ids``, ``cluster_id``) and, per input row, ``keep``,
        ``cluster_id``, ``duplicate_of``, ``n_shingles`` (``method="dedup/minhash"``).
    cluster_id_, keep_mask_, duplicate_of_ : numpy.ndarray
        ``selection_.rows``: smallest row of the cluster; kept; kept row of the cluster (-1: kept).
    store_ : SignatureStore
        Per added document: ``signatures_`` (not with ``low_memory``), ``band_keys_`` (only with
        it), ``n_shingles_``, exact hashes, lengths, shingle sets.
    num_bands_, rows_ : int
        Banding used.

    Examples
    --------
    >>> d = MinHashDeduplicator(threshold=0.5, ngram=2)
    >>> d.fit(["a b c d e", "a b c d e f", "x y z"]).keep_mask_.tolist()
    [True, False, True]
    >>> d.duplicate_of_.tolist()
    [-1, 0, -1]
    """

    signatures_ = _stored("signatures", "``(n_docs, num_perm)`` uint32 signatures.")
    band_keys_ = _stored("band_keys", "``(n_docs, num_bands)`` uint64 band keys (low_memory).")
    n_shingles_ = _stored("n_shingles", "Shingles per document (uint64).")
    cluster_id_ = _per_row("cluster_id", "int64 smallest row of each document's cluster.")
    keep_mask_ = _per_row("keep", "bool, True for kept documents.")
    duplicate_of_ = _per_row("duplicate_of", "int64 row of the kept document, -1 if kept.")

    def __init__(
        self,
        threshold: float = 0.8,
        num_perm: int = 128,
        *,
        ngram: int = 5,
        analyzer: str = "word",
        scheme: str = "fast",
        seed: int = 1,
        num_bands: Optional[int] = None,
        rows: Optional[int] = None,
        banding: str = "auto",
        weights: tuple[float, float] = (0.5, 0.5),
        verify: str = "exact",
        keep: str = "first",
        exact: bool = True,
        lowercase: bool = True,
        nfkc: bool = False,
        strip_punctuation: bool = False,
        fold_whitespace: bool = False,
        low_memory: bool = False,
        n_threads: Optional[int] = None,
    ) -> None:
        self.threshold = check_threshold(threshold)
        self.num_perm = check_int("num_perm", num_perm, 1, MAX_NUM_PERM)
        self.ngram, self.analyzer, self.scheme, self.seed = ngram, analyzer, scheme, seed
        self.verify = _check_verify(verify, low_memory)
        self.keep = check_choice("keep", keep, KEEP_POLICIES)
        self.exact, self.low_memory = bool(exact), bool(low_memory)
        self.lowercase, self.nfkc = bool(lowercase), bool(nfkc)
        self.strip_punctuation = bool(strip_punctuation)
        self.fold_whitespace = bool(fold_whitespace)
        self.n_threads = check_threads(n_threads)
        self.weights = tuple(weights)
        self.num_bands, self.rows = num_bands, rows
        self.banding = check_choice("banding", banding, BANDING_RULES)
        rule = (
            banding if banding != "auto" else "recall" if self.verify == "exact" else "datasketch"
        )
        self.num_bands_, self.rows_ = resolve_banding(
            self.threshold, self.num_perm, num_bands, rows, weights, rule
        )
        #: The text normalisation and the ``_core.MinHasher`` of these parameters (what
        #: :func:`~tamis.dedup.sign_batch` takes).
        self.normalization = Normalization(
            self.lowercase, self.nfkc, self.strip_punctuation, self.fold_whitespace
        )
        self.hasher = make_hasher(
            num_perm=self.num_perm,
            scheme=scheme,
            seed=seed,
            analyzer=analyzer,
            ngram=ngram,
            normalization=self.normalization,
        )
        self.reset()

    @property
    def store_(self) -> SignatureStore:
        """Everything kept per added document (:class:`~tamis.dedup.SignatureStore`)."""
        if self._store is None:
            raise NotFittedError("this MinHashDeduplicator has no documents: call add() or fit()")
        return self._store

    def set_params(self, **params: Any) -> MinHashDeduplicator:
        """:meth:`tamis._base.Estimator.set_params`, forgetting every added document."""
        super().set_params(**params)
        return self.reset()

    def reset(self) -> MinHashDeduplicator:
        """Forget every added document."""
        self._store: Optional[SignatureStore] = None
        self.__dict__.pop("selection_", None)
        return self

    def _added(self) -> SignatureStore:
        if self._store is None:
            self._store = SignatureStore(
                num_perm=self.num_perm,
                num_bands=self.num_bands_,
                low_memory=self.low_memory,
                exact=self.exact,
                lengths=self.keep == "longest",
            )
        return self._store

    def add(self, texts: Any) -> MinHashDeduplicator:
        """Add a batch of documents (incremental use); call :meth:`cluster` when all are added."""
        store = self._added()
        for arr in text_chunks(texts):
            store.append(self.sign(arr, signatures=not self.low_memory, band_keys=self.low_memory))
        return self

    def sign(self, texts: Any, *, signatures: bool = True, band_keys: bool = False) -> SignedBatch:
        """:func:`~tamis.dedup.sign_batch` of one string array with this estimator's settings.

        What every backend keeps per document (the local store, Ray blocks, datatrove stages):
        signatures and/or LSH band keys, the exact-duplicate hashes when ``exact``, the byte
        lengths when ``keep="longest"``.
        """
        return sign_batch(
            self.hasher,
            texts,
            num_bands=self.num_bands_,
            rows=self.rows_,
            signatures=signatures,
            band_keys=band_keys,
            exact_hashes=self.normalization if self.exact else None,
            lengths=self.keep == "longest",
            n_threads=self.n_threads,
        )

    def add_shingle_sets(self, texts: Any) -> MinHashDeduplicator:
        """Shingle sets for ``verify="exact"``, computed for the candidate rows only.

        Exact verification compares the shingle sets of candidate pairs; only rows that share an
        LSH band with another row can be compared, usually a small part of the corpus, so only
        their sets are kept (8 bytes per distinct shingle). :meth:`fit` calls this; after
        :meth:`add`, pass the same documents again, in the same order (a list, an Arrow array, or
        an iterable of batches, e.g. a second pass over the files).
        """
        store = self._added()
        cand = candidate_rows(
            store.n_shingles > 0,
            num_bands=self.num_bands_,
            rows=self.rows_,
            signatures=store.signatures,
            band_keys=store.band_keys,
            n_threads=self.n_threads,
        )
        store.shingle_sets = candidate_shingle_sets(
            self.hasher, texts, cand, n_threads=self.n_threads
        )
        return self

    def cluster(
        self, *, ids: Optional[Any] = None, scores: Optional[Any] = None
    ) -> MinHashDeduplicator:
        """Cluster every added document and apply the keep policy (sets :attr:`selection_`).

        Parameters
        ----------
        ids
            Optional document ids (sortable); with ``keep="first"`` the lowest id is kept. They
            are also ``selection_.ids``.
        scores
            Per-document scores, required for ``keep="score"`` (NaN ranks lowest).
        """
        store = self._added()
        roots = cluster_store(
            store,
            num_bands=self.num_bands_,
            rows=self.rows_,
            threshold=self.threshold,
            verify=self.verify,
            n_threads=self.n_threads,
        )
        res = choose_kept(roots, self.keep, ids=ids, scores=scores, lengths=store.lengths)
        info = {"num_bands": self.num_bands_, "rows_per_band": self.rows_}
        self.selection_ = res.selection(ids=ids, n_shingles=store.n_shingles, info=info)
        return self

    def fit(
        self, texts: Any, *, ids: Optional[Any] = None, scores: Optional[Any] = None
    ) -> MinHashDeduplicator:
        """Signatures and clusters of ``texts`` (replacing anything added before)."""
        arrays = list(as_text_array(texts))
        self.reset().add(arrays)
        if self.verify == "exact":
            self.add_shingle_sets(arrays)
        return self.cluster(ids=ids, scores=scores)

    def fit_predict(self, texts: Any, **kwargs: Any) -> np.ndarray:
        """:meth:`fit`, then the keep mask."""
        return self.fit(texts, **kwargs).keep_mask_

    def select(
        self, texts: Any = None, *, ids: Optional[Any] = None, scores: Optional[Any] = None
    ) -> Selection:
        """The kept rows as a :class:`~tamis._base.Selection` (:attr:`selection_`).

        With ``texts``, :meth:`fit` them first (``ids`` / ``scores`` as there); without, the
        result of the last :meth:`fit` or :meth:`cluster`.
        """
        if texts is not None:
            self.fit(texts, ids=ids, scores=scores)
        elif ids is not None or scores is not None:
            raise ValueError("ids and scores go with texts (or to cluster())")
        check_is_fitted(self, "selection_", "fit() (or add() then cluster())")
        return self.selection_

    def transform(self, texts: Any) -> list[Any]:
        """The kept documents of the fitted ``texts`` (same order), as a list."""
        keep = self.keep_mask_
        out = [t for arr in as_text_array(texts) for t in arr.to_pylist()]
        if len(out) != len(keep):
            raise ValueError(f"fitted on {len(keep)} documents, got {len(out)}")
        return [t for t, k in zip(out, keep) if k]

    def query(self, text: str) -> np.ndarray:
        """Rows of the added documents that are near-duplicates of ``text``.

        A row qualifies when it shares an LSH band with ``text`` and passes the estimated-Jaccard
        check (``verify="none"`` or ``low_memory``: every band match).
        """
        store, none = self._store, np.empty(0, np.int64)
        q = sign_batch(self.hasher, next(as_text_array([text])), n_threads=self.n_threads)
        if store is None or not len(store) or q.n_shingles[0] == 0 or q.signatures is None:
            return none
        check = self.verify != "none" and not self.low_memory
        return query_rows(
            q.signatures[0],
            store.n_shingles > 0,
            num_bands=self.num_bands_,
            rows=self.rows_,
            signatures=store.signatures,
            band_keys=store.band_keys,
            threshold=self.threshold if check else None,
        )

    def save(self, path: Any) -> Path:
        """Save parameters and added documents (a versioned ``.npz``, no pickle); see :meth:`load`."""
        arrays = self._added().to_arrays()
        return save_state(path, KIND, FORMAT_VERSION, self.get_params(), **arrays)

    @classmethod
    def load(cls, path: Any) -> MinHashDeduplicator:
        """A deduplicator saved by :meth:`save`, with its documents added (call :meth:`cluster`).

        Reads this release's files and format 1 (``params`` JSON array, before version 2).
        """
        params, arrays = _read(path)
        params["weights"] = tuple(params["weights"])
        # files written before ``banding`` existed used datasketch's banding (their band keys too)
        params.setdefault("banding", "datasketch")
        self = cls(**params)
        self._added().load_arrays(arrays)
        return self


def _read(path: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(params, arrays)`` of a saved deduplicator, format 1 or 2."""
    try:
        z = np.load(str(path), allow_pickle=False)
    except (OSError, ValueError):
        z = None  # load_state names the problem
    if z is not None:
        with z:
            if "params" in z.files and "header" not in z.files:  # format 1
                meta = json.loads(str(z["params"]))
                if meta.get("format") != 1:
                    raise ValueError(f"{path}: unknown format {meta.get('format')!r}")
                return meta["params"], {k: z[k] for k in z.files if k != "params"}
    params, z = load_state(path, KIND, (FORMAT_VERSION,))
    with z:
        return params, {k: z[k] for k in z.files if k != "header"}
