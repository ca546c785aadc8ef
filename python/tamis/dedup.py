"""Near-duplicate removal: MinHash signatures, LSH banding, verified union-find clusters.

Three permutation schemes share one signature layout (``num_perm`` uint32 values per document):
``"fast"`` (tamis' own: XXH3 token hashes, rolling n-gram hash, vectorised affine permutations),
and datasketch 2.0's ``"affine32"`` and ``"legacy"``, reproduced bit for bit (their permutations are
drawn here with numpy's ``RandomState(seed)`` exactly as datasketch draws them). Band parameters
default to datasketch's ``_optimal_param`` for the threshold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np

from tamis import _core
from tamis._validation import check_int, check_seed, check_threads
from tamis.exceptions import NotFittedError
from tamis.io import as_text_array, buffers

SCHEMES = ("fast", "affine32", "legacy")
KEEP_POLICIES = ("first", "longest", "score")
VERIFY_MODES = ("estimate", "exact", "none")
_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
#: Largest accepted ``num_perm`` (2**13), shared with the Rust core.
MAX_NUM_PERM: int = _core.MAX_NUM_PERM


def datasketch_permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` permutation parameters datasketch 2.0 draws for ``MinHash(num_perm, seed)``.

    Parameters
    ----------
    num_perm
        Number of permutations.
    seed
        datasketch's ``seed`` (numpy ``RandomState`` seed, ``0 <= seed < 2**32``).
    scheme
        ``"affine32"`` or ``"legacy"``.

    Returns
    -------
    tuple of numpy.ndarray
        Two uint64 arrays of length ``num_perm``.
    """
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array(
            [
                (
                    gen.randint(1, _MERSENNE_PRIME, dtype=np.uint64),
                    gen.randint(0, _MERSENNE_PRIME, dtype=np.uint64),
                )
                for _ in range(num_perm)
            ],
            dtype=np.uint64,
        ).reshape(num_perm, 2)
        return np.ascontiguousarray(ab[:, 0]), np.ascontiguousarray(ab[:, 1])
    if scheme == "affine32":
        a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        return a.astype(np.uint64), b.astype(np.uint64)
    raise ValueError(f"scheme must be 'affine32' or 'legacy', got {scheme!r}")


def _text_chunks(texts: Any) -> Iterator[Any]:
    """String arrays of ``texts``: one collection of texts, or a list / iterator of collections."""
    import pyarrow as pa

    nested = isinstance(texts, (list, tuple)) and any(
        not (isinstance(t, str) or t is None) for t in texts
    )
    stream = not isinstance(texts, (list, tuple, pa.Array, pa.ChunkedArray)) and hasattr(
        texts, "__next__"
    )
    if nested or stream:
        for part in texts:
            yield from as_text_array(part)
    else:
        yield from as_text_array(texts)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def _check_threshold(threshold: Any) -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise TypeError(f"threshold must be a number, got {type(threshold).__name__}") from None
    if not 0.0 < t < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    return t


def _make_hasher(
    num_perm: int,
    scheme: str,
    seed: int,
    analyzer: str,
    ngram: int,
    lowercase: bool,
    nfkc: bool,
    strip_punctuation: bool,
    fold_whitespace: bool,
) -> Any:
    num_perm = check_int("num_perm", num_perm, 1, MAX_NUM_PERM)
    scheme = _check_choice("scheme", scheme, SCHEMES)
    analyzer = _check_choice("analyzer", analyzer, ("word", "char"))
    ngram = check_int("ngram", ngram, 1, 64)
    seed = check_seed(seed)
    a = b = None
    if scheme != "fast":
        if seed >= 2**32:
            raise ValueError(f"seed must be < 2**32 for scheme {scheme!r} (numpy), got {seed}")
        a, b = datasketch_permutations(num_perm, seed, scheme)
    return _core.MinHasher(
        num_perm=num_perm,
        scheme=scheme,
        seed=seed,
        a=a,
        b=b,
        analyzer=analyzer,
        ngram=ngram,
        lowercase=bool(lowercase),
        nfkc=bool(nfkc),
        strip_punctuation=bool(strip_punctuation),
        fold_whitespace=bool(fold_whitespace),
    )


def minhash_signatures(
    texts: Any,
    *,
    num_perm: int = 128,
    scheme: str = "fast",
    seed: int = 1,
    ngram: int = 5,
    analyzer: str = "word",
    lowercase: bool = True,
    nfkc: bool = False,
    strip_punctuation: bool = False,
    fold_whitespace: bool = False,
    n_threads: Optional[int] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures of texts, computed in parallel in Rust with the GIL released.

    Parameters
    ----------
    texts
        A list of str, a pyarrow string array or another input of :func:`tamis.io.as_text_array`.
    num_perm
        Signature length, ``1 <= num_perm <= 8192`` (``MAX_NUM_PERM``): the estimate's
        standard error is already 0.0055 at 8192, and signatures cost ``4 * num_perm`` bytes
        per document.
    scheme
        ``"fast"`` (default), or datasketch 2.0's ``"affine32"`` / ``"legacy"``: with those, the
        result equals ``datasketch.MinHash(num_perm, seed, scheme=...).update_batch(shingles)``
        for the shingles of :meth:`tamis._core.MinHasher.shingles` (UTF-8 bytes).
    seed
        Permutation seed (datasketch's ``seed`` for its schemes).
    ngram, analyzer
        Shingles: word n-grams (tokens ``\\w+|[^\\w\\s]+`` joined by one space) or character
        n-grams. A document with fewer than ``ngram`` tokens has one shingle, all its tokens.
    lowercase, nfkc, strip_punctuation, fold_whitespace
        Normalisation before shingling.
    n_threads
        Worker threads (``None``: all cores). Results do not depend on it.

    Returns
    -------
    signatures : numpy.ndarray
        ``(n_docs, num_perm)`` uint32; all ``2**32 - 1`` for empty and null documents.
    n_shingles : numpy.ndarray
        Shingles per document (uint64, 0 for empty and null documents).

    Examples
    --------
    >>> sig, n = minhash_signatures(["a b c d e f", "a b c d e f"], num_perm=16)
    >>> bool((sig[0] == sig[1]).all()), n.tolist()
    (True, [2, 2])
    """
    hasher = _make_hasher(
        num_perm,
        scheme,
        seed,
        analyzer,
        ngram,
        lowercase,
        nfkc,
        strip_punctuation,
        fold_whitespace,
    )
    return _signatures(hasher, texts, check_threads(n_threads))


def _signatures(hasher: Any, texts: Any, n_threads: Optional[int]) -> tuple[np.ndarray, np.ndarray]:
    sigs, counts = [], []
    for arr in as_text_array(texts):
        s, c = hasher.signatures(*buffers(arr), n_threads)
        sigs.append(s)
        counts.append(c)
    if not sigs:
        return np.empty((0, hasher.num_perm), np.uint32), np.empty(0, np.uint64)
    if len(sigs) == 1:
        return sigs[0], counts[0]
    return np.concatenate(sigs), np.concatenate(counts)


def lsh_params(
    threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)
) -> tuple[int, int]:
    """``(num_bands, rows)`` for a Jaccard threshold, as datasketch's ``MinHashLSH`` chooses them.

    Minimises ``weights[0] * FP + weights[1] * FN``, the areas under the banding S-curve
    ``1 - (1 - s**r)**b`` below the threshold and above it, over every ``b * r <= num_perm``
    (the same answer as datasketch's exhaustive search, which most pairs skip by a cheap lower
    bound: under a second at the largest ``num_perm``).

    Parameters
    ----------
    threshold
        Jaccard threshold in (0, 1).
    num_perm
        Signature length, ``1 <= num_perm <= 8192`` (``MAX_NUM_PERM``).
    weights
        ``(false_positive_weight, false_negative_weight)``, non-negative, summing to 1.

    Examples
    --------
    >>> lsh_params(0.8, 128)
    (9, 13)
    """
    t = _check_threshold(threshold)
    k = check_int("num_perm", num_perm, 1, MAX_NUM_PERM)
    try:
        fp, fn = (float(w) for w in weights)
    except (TypeError, ValueError):
        raise ValueError(f"weights must be a pair of numbers, got {weights!r}") from None
    return tuple(_core.lsh_params(t, k, fp, fn))  # type: ignore[return-value]


def candidate_pairs(
    signatures: np.ndarray,
    *,
    num_bands: int,
    rows: int,
    valid: Optional[np.ndarray] = None,
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """All pairs ``(i, j)``, ``i < j``, of documents that share at least one LSH band.

    Quadratic in bucket size; meant for inspection and small corpora (the deduplicator never
    materialises all pairs). ``valid`` (default: rows whose signature is not all ``2**32 - 1``)
    selects the indexed rows.
    """
    sig = _check_signatures(signatures)
    if valid is None:
        valid = ~(sig == np.uint32(0xFFFFFFFF)).all(axis=1)
    return _core.candidate_pairs(
        sig,
        np.ascontiguousarray(valid, dtype=bool),
        num_bands=check_int("num_bands", num_bands, 1),
        rows=check_int("rows", rows, 1),
        n_threads=check_threads(n_threads),
    )


def _check_signatures(signatures: Any) -> np.ndarray:
    sig = np.asarray(signatures)
    if sig.ndim != 2 or sig.dtype != np.uint32:
        raise TypeError("signatures must be a 2-d uint32 array (n_docs, num_perm)")
    return np.ascontiguousarray(sig)


class MinHashDeduplicator:
    """Near-duplicate removal with MinHash LSH, verified candidates and union-find clusters.

    Candidate pairs are documents that share one of ``num_bands`` bands of ``rows`` signature
    slots; a candidate is a duplicate when its estimated Jaccard (``verify="estimate"``, default)
    or its exact Jaccard on shingle hashes (``verify="exact"``) reaches ``threshold``
    (``verify="none"``: every candidate). Clusters are the connected components of the duplicate
    pairs, plus (``exact=True``) documents whose normalised texts are equal. One document per
    cluster is kept. Results do not depend on ``n_threads``.

    Parameters
    ----------
    threshold
        Jaccard threshold in (0, 1).
    num_perm
        Signature length, ``1 <= num_perm <= 8192`` (``MAX_NUM_PERM``).
    ngram, analyzer
        Shingles: word (default, 5-grams) or character n-grams.
    scheme
        ``"fast"``, ``"affine32"`` or ``"legacy"`` (see :func:`minhash_signatures`).
    seed
        Permutation seed.
    num_bands, rows
        Banding; both ``None`` (default) picks datasketch's optimum for ``threshold``.
    weights
        ``(false_positive_weight, false_negative_weight)`` for that optimum.
    verify
        ``"estimate"``, ``"exact"`` or ``"none"``.
    keep
        Which document of a cluster is kept: ``"first"`` (lowest id, or first row when no ids),
        ``"longest"`` (most bytes) or ``"score"`` (highest ``scores`` value given to :meth:`fit`).
        Ties go to the first row.
    exact
        Also join documents with identical normalised text (XXH3-128). Empty documents are then
        duplicates of each other; without it they (and nulls, always) are their own cluster.
    lowercase, nfkc, strip_punctuation, fold_whitespace
        Normalisation before shingling and exact hashing.
    low_memory
        Keep only the band keys of each document (8 bytes per band: 72 bytes at the default
        9 bands, about 100 bytes per document in all) instead of its signature (4 bytes per
        permutation). Needs ``verify="exact"`` or ``"none"`` (there is no signature to estimate
        from); :meth:`query` then returns band matches.
    n_threads
        Worker threads (``None``: all cores).

    Attributes
    ----------
    signatures_ : numpy.ndarray
        ``(n_docs, num_perm)`` uint32 signatures of every added document (not with
        ``low_memory``).
    band_keys_ : numpy.ndarray
        ``(n_docs, num_bands)`` uint64 band keys (only with ``low_memory``).
    n_shingles_ : numpy.ndarray
        Shingles per document.
    cluster_id_ : numpy.ndarray
        int64, the smallest row index of each document's cluster.
    keep_mask_ : numpy.ndarray
        bool, True for kept documents.
    duplicate_of_ : numpy.ndarray
        int64 row index of the kept document of the cluster, -1 for kept documents.
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
        weights: tuple[float, float] = (0.5, 0.5),
        verify: str = "estimate",
        keep: str = "first",
        exact: bool = True,
        lowercase: bool = True,
        nfkc: bool = False,
        strip_punctuation: bool = False,
        fold_whitespace: bool = False,
        low_memory: bool = False,
        n_threads: Optional[int] = None,
    ) -> None:
        self.threshold = _check_threshold(threshold)
        self.num_perm = check_int("num_perm", num_perm, 1, MAX_NUM_PERM)
        self.ngram = ngram
        self.analyzer = analyzer
        self.scheme = scheme
        self.seed = seed
        self.verify = _check_choice("verify", verify, VERIFY_MODES)
        self.keep = _check_choice("keep", keep, KEEP_POLICIES)
        self.exact = bool(exact)
        self.lowercase = bool(lowercase)
        self.nfkc = bool(nfkc)
        self.strip_punctuation = bool(strip_punctuation)
        self.fold_whitespace = bool(fold_whitespace)
        self.n_threads = check_threads(n_threads)
        self.low_memory = bool(low_memory)
        if self.low_memory and self.verify == "estimate":
            raise ValueError(
                "low_memory=True keeps no signatures to estimate from: "
                "use verify='exact' or verify='none'"
            )
        self.weights = tuple(weights)
        if (num_bands is None) != (rows is None):
            raise ValueError("num_bands and rows must be given together (or neither)")
        if num_bands is None:
            self.num_bands_, self.rows_ = lsh_params(self.threshold, self.num_perm, weights)
        else:
            self.num_bands_ = check_int("num_bands", num_bands, 1)
            self.rows_ = check_int("rows", rows, 1)
            if self.num_bands_ * self.rows_ > self.num_perm:
                raise ValueError(
                    f"num_bands * rows must be <= num_perm={self.num_perm}, "
                    f"got {self.num_bands_} * {self.rows_}"
                )
        self.num_bands = num_bands
        self.rows = rows
        self._hasher = _make_hasher(
            self.num_perm,
            scheme,
            seed,
            analyzer,
            ngram,
            lowercase,
            nfkc,
            strip_punctuation,
            fold_whitespace,
        )
        self.reset()

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters."""
        return {
            "threshold": self.threshold,
            "num_perm": self.num_perm,
            "ngram": self.ngram,
            "analyzer": self.analyzer,
            "scheme": self.scheme,
            "seed": self.seed,
            "num_bands": self.num_bands,
            "rows": self.rows,
            "weights": self.weights,
            "verify": self.verify,
            "keep": self.keep,
            "exact": self.exact,
            "lowercase": self.lowercase,
            "nfkc": self.nfkc,
            "strip_punctuation": self.strip_punctuation,
            "fold_whitespace": self.fold_whitespace,
            "low_memory": self.low_memory,
            "n_threads": self.n_threads,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"MinHashDeduplicator({args})"

    def reset(self) -> MinHashDeduplicator:
        """Forget every added document."""
        self._sigs: list[np.ndarray] = []
        self._keys: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._hashes: list[np.ndarray] = []
        self._hash_ok: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._sets: list[tuple[np.ndarray, np.ndarray]] = []
        for attr in (
            "signatures_",
            "band_keys_",
            "n_shingles_",
            "cluster_id_",
            "keep_mask_",
            "duplicate_of_",
        ):
            self.__dict__.pop(attr, None)
        return self

    def add(self, texts: Any) -> MinHashDeduplicator:
        """Add a batch of documents (incremental use); call :meth:`cluster` when all are added."""
        nt = self.n_threads
        for arr in _text_chunks(texts):
            bufs = buffers(arr)
            s, c = self._hasher.signatures(*bufs, nt)
            if self.low_memory:
                self._keys.append(
                    _core.band_keys(s, num_bands=self.num_bands_, rows=self.rows_, n_threads=nt)
                )
            else:
                self._sigs.append(s)
            self._counts.append(c)
            if self.exact:
                h, ok = _core.text_hashes(
                    *bufs,
                    lowercase=self.lowercase,
                    nfkc=self.nfkc,
                    strip_punctuation=self.strip_punctuation,
                    fold_whitespace=self.fold_whitespace,
                    n_threads=nt,
                )
                self._hashes.append(h)
                self._hash_ok.append(ok)
            if self.keep == "longest":
                import pyarrow.compute as pc

                lengths = pc.fill_null(pc.binary_length(arr), 0).to_numpy(zero_copy_only=False)
                self._lengths.append(lengths.astype(np.float64))
        if self.low_memory:
            self.band_keys_ = self._concat(self._keys, (0, self.num_bands_), np.uint64)
            self._keys = [self.band_keys_]
        else:
            self.signatures_ = self._concat(self._sigs, (0, self.num_perm), np.uint32)
            self._sigs = [self.signatures_]
        self.n_shingles_ = self._concat(self._counts, (0,), np.uint64)
        self._counts = [self.n_shingles_]
        return self

    def _candidate_rows(self) -> np.ndarray:
        valid = self.n_shingles_ > 0
        if not self.low_memory:
            return _core.candidate_rows(
                self.signatures_,
                valid,
                num_bands=self.num_bands_,
                rows=self.rows_,
                n_threads=self.n_threads,
            )
        mask = np.zeros(len(valid), bool)
        rows = np.flatnonzero(valid)
        for band in range(self.num_bands_):
            _, inv, counts = np.unique(
                self.band_keys_[rows, band], return_inverse=True, return_counts=True
            )
            mask[rows[counts[inv] >= 2]] = True
        return mask

    @staticmethod
    def _concat(parts: list[np.ndarray], empty_shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        if not parts:
            return np.empty(empty_shape, dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def add_shingle_sets(self, texts: Any) -> MinHashDeduplicator:
        """Shingle sets for ``verify="exact"``, computed for the candidate rows only.

        Exact verification compares the shingle sets of candidate pairs; only rows that share an
        LSH band with another row can be compared, usually a small part of the corpus, so only
        their sets are kept (8 bytes per distinct shingle). :meth:`fit` calls this; after
        :meth:`add`, pass the same documents again, in the same order (a list, an Arrow array, or
        an iterable of batches, e.g. a second pass over the files).
        """
        if not hasattr(self, "n_shingles_"):
            self.add([])
        n = len(self.n_shingles_)
        cand = self._candidate_rows()
        lengths = np.zeros(n, np.uint64)
        hashes, row = [], 0
        for arr in _text_chunks(texts):
            m = len(arr)
            if row + m > n:
                raise ValueError(f"more documents than the {n} added")
            sel = np.flatnonzero(cand[row : row + m])
            if len(sel):
                import pyarrow as pa

                part = arr.take(pa.array(sel))
                ip, hs = self._hasher.shingle_sets(*buffers(part), self.n_threads)
                lengths[row + sel] = np.diff(ip)
                hashes.append(hs)
            row += m
        if row != n:
            raise ValueError(f"got {row} documents, {n} were added")
        indptr = np.zeros(n + 1, np.uint64)
        np.cumsum(lengths, out=indptr[1:])
        self._sets = [(indptr, self._concat(hashes, (0,), np.uint64))]
        return self

    def _shingle_sets(self) -> tuple[np.ndarray, np.ndarray]:
        indptr, hashes, base = [np.zeros(1, np.uint64)], [], 0
        for ip, hs in self._sets:
            indptr.append(ip[1:] + np.uint64(base))
            hashes.append(hs)
            base += len(hs)
        return np.concatenate(indptr), self._concat(hashes, (0,), np.uint64)

    def cluster(
        self, *, ids: Optional[Any] = None, scores: Optional[Any] = None
    ) -> MinHashDeduplicator:
        """Cluster every added document and apply the keep policy.

        Parameters
        ----------
        ids
            Optional document ids (sortable); with ``keep="first"`` the lowest id is kept.
        scores
            Per-document scores, required for ``keep="score"`` (NaN ranks lowest).
        """
        if not hasattr(self, "n_shingles_"):
            self.add([])
        n = len(self.n_shingles_)
        valid = self.n_shingles_ > 0
        pre = None
        if self.exact and self._hashes:
            pre = _core.exact_roots(
                self._concat(self._hashes, (0, 2), np.uint64),
                self._concat(self._hash_ok, (0,), bool),
            )
        set_indptr = set_hashes = None
        if self.verify == "exact":
            if not self._sets:
                raise ValueError(
                    "verify='exact' needs the shingle sets: call add_shingle_sets(texts) "
                    "before cluster() (fit() does it)"
                )
            set_indptr, set_hashes = self._shingle_sets()
            if len(set_indptr) != n + 1:
                raise ValueError("shingle sets are stale: call add_shingle_sets(texts) again")
        if self.low_memory:
            roots = self._cluster_keys(valid, pre, set_indptr, set_hashes)
        else:
            roots = _core.lsh_clusters(
                self.signatures_,
                valid,
                num_bands=self.num_bands_,
                rows=self.rows_,
                threshold=self.threshold,
                verify=self.verify,
                set_indptr=set_indptr,
                set_hashes=set_hashes,
                pre_roots=pre,
                n_threads=self.n_threads,
            )
        priority = None
        if self.keep == "score":
            if scores is None:
                raise ValueError("keep='score' needs scores")
            priority = np.ascontiguousarray(scores, dtype=np.float64)
            if priority.shape != (n,):
                raise ValueError(f"scores has shape {priority.shape}, expected ({n},)")
        elif self.keep == "longest":
            priority = self._concat(self._lengths, (0,), np.float64)
        elif ids is not None:
            ids = np.asarray(ids)
            if ids.shape != (n,):
                raise ValueError(f"ids has shape {ids.shape}, expected ({n},)")
            rank = np.empty(n, np.float64)
            rank[np.argsort(ids, kind="stable")] = np.arange(n, dtype=np.float64)
            priority = -rank
        keep, dup = _core.keep_policy(roots, priority)
        self.cluster_id_ = roots.astype(np.int64)
        self.keep_mask_ = keep
        self.duplicate_of_ = dup
        return self

    def _cluster_keys(
        self,
        valid: np.ndarray,
        pre: Optional[np.ndarray],
        set_indptr: Optional[np.ndarray],
        set_hashes: Optional[np.ndarray],
    ) -> np.ndarray:
        """Clusters from the band keys, one band at a time (``low_memory``)."""
        n = len(valid)
        rows = np.flatnonzero(valid).astype(np.uint32)
        edges = []
        for band in range(self.num_bands_):
            edges.append(
                _core.edges_from_keys(
                    np.ascontiguousarray(self.band_keys_[rows, band]),
                    rows,
                    None,
                    threshold=self.threshold,
                    verify=self.verify,
                    set_indptr=set_indptr,
                    set_hashes=set_hashes,
                    n_threads=self.n_threads,
                )
            )
        if pre is not None:
            edges.append(np.stack([np.arange(n, dtype=np.uint32), pre], axis=1))
        all_edges = np.concatenate(edges) if edges else np.empty((0, 2), np.uint32)
        return _core.union_roots(n, np.ascontiguousarray(all_edges))

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

    def _check_fitted(self) -> None:
        if not hasattr(self, "keep_mask_"):
            raise NotFittedError("call fit() (or add() then cluster()) first")

    def transform(self, texts: Any) -> list[Any]:
        """The kept documents of the fitted ``texts`` (same order), as a list."""
        self._check_fitted()
        out = [t for arr in as_text_array(texts) for t in arr.to_pylist()]
        if len(out) != len(self.keep_mask_):
            raise ValueError(f"fitted on {len(self.keep_mask_)} documents, got {len(out)}")
        return [t for t, k in zip(out, self.keep_mask_) if k]

    def query(self, text: str) -> np.ndarray:
        """Rows of the added documents that are near-duplicates of ``text``.

        A row qualifies when it shares an LSH band with ``text`` and passes the estimated-Jaccard
        check (``verify="none"`` or ``low_memory``: every band match).
        """
        if not hasattr(self, "n_shingles_"):
            return np.empty(0, np.int64)
        q, c = self._hasher.signatures(*buffers(next(as_text_array([text]))), self.n_threads)
        if c[0] == 0 or len(self.n_shingles_) == 0:
            return np.empty(0, np.int64)
        if self.low_memory:
            qk = _core.band_keys(q, num_bands=self.num_bands_, rows=self.rows_)
            hit = (self.band_keys_ == qk[0]).any(axis=1) & (self.n_shingles_ > 0)
            return np.flatnonzero(hit)
        sig = self.signatures_
        r = self.rows_
        hit = np.zeros(len(sig), bool)
        for band in range(self.num_bands_):
            sl = slice(band * r, (band + 1) * r)
            hit |= (sig[:, sl] == q[0, sl]).all(axis=1)
        hit &= self.n_shingles_ > 0
        if self.verify != "none":
            hit &= (sig == q[0]).mean(axis=1) >= self.threshold
        return np.flatnonzero(hit)

    def save(self, path: Any) -> Path:
        """Save parameters and signatures (``.npz``); :meth:`load` restores them."""
        if not hasattr(self, "n_shingles_"):
            self.add([])
        path = Path(path)
        arrays = {"n_shingles": self.n_shingles_}
        if self.low_memory:
            arrays["band_keys"] = self.band_keys_
        else:
            arrays["signatures"] = self.signatures_
        if self._hashes:
            arrays["hashes"] = self._concat(self._hashes, (0, 2), np.uint64)
            arrays["hash_ok"] = self._concat(self._hash_ok, (0,), bool)
        if self._lengths:
            arrays["lengths"] = self._concat(self._lengths, (0,), np.float64)
        if self._sets:
            arrays["set_indptr"], arrays["set_hashes"] = self._shingle_sets()
        params = json.dumps({"format": 1, "params": self.get_params()})
        with path.open("wb") as f:
            np.savez(f, params=np.array(params), **arrays)
        return path

    @classmethod
    def load(cls, path: Any) -> MinHashDeduplicator:
        """A deduplicator saved by :meth:`save`, with its documents added (call :meth:`cluster`)."""
        with np.load(Path(path)) as z:
            meta = json.loads(str(z["params"]))
            if meta.get("format") != 1:
                raise ValueError(f"{path}: unknown format {meta.get('format')!r}")
            p = meta["params"]
            p["weights"] = tuple(p["weights"])
            self = cls(**p)
            if "signatures" in z:
                self._sigs = [z["signatures"]]
            if "band_keys" in z:
                self._keys = [z["band_keys"]]
            self._counts = [z["n_shingles"]]
            if "hashes" in z:
                self._hashes, self._hash_ok = [z["hashes"]], [z["hash_ok"]]
            if "lengths" in z:
                self._lengths = [z["lengths"]]
            if "set_indptr" in z:
                self._sets = [(z["set_indptr"], z["set_hashes"])]
        if self._sigs:
            self.signatures_ = self._sigs[0]
        if self._keys:
            self.band_keys_ = self._keys[0]
        self.n_shingles_ = self._counts[0]
        return self


def write_band_keys(
    signatures: np.ndarray,
    out_dir: Any,
    *,
    num_bands: int,
    rows: int,
    n_partitions: int = 16,
    row_offset: int = 0,
    valid: Optional[np.ndarray] = None,
    part_name: str = "part-0",
    n_threads: Optional[int] = None,
) -> list[Path]:
    """Write the LSH band keys of a batch of signatures to Parquet partitions (staged mode).

    Each valid row contributes one ``(key, row)`` record per band (``key`` is band-specific, so
    bands never mix) to partition ``key % n_partitions``, written as
    ``out_dir/partition=<p>/<part_name>.parquet``. Workers can write disjoint ``part_name``\\ s in
    parallel (this is what the Ray backend does); :func:`cluster_band_keys` then reads one partition
    at a time, so memory is bounded by the largest partition plus 4 bytes per document.

    Parameters
    ----------
    signatures
        ``(n, num_perm)`` uint32 signatures of rows ``row_offset .. row_offset + n``.
    out_dir
        Output directory.
    num_bands, rows
        Banding.
    n_partitions
        Number of partitions.
    row_offset
        Global row number of the first signature.
    valid
        Rows to index (default: rows whose signature is not all ``2**32 - 1``, i.e. not empty).
    part_name
        File name (without suffix) inside each partition.
    n_threads
        Worker threads.

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    sig = _check_signatures(signatures)
    n_partitions = check_int("n_partitions", n_partitions, 1, 1 << 16)
    if valid is None:
        valid = ~(sig == np.uint32(0xFFFFFFFF)).all(axis=1)
    keys = _core.band_keys(
        sig,
        num_bands=check_int("num_bands", num_bands, 1),
        rows=check_int("rows", rows, 1),
        n_threads=check_threads(n_threads),
    )
    idx = np.flatnonzero(valid)
    keys = keys[idx].ravel()
    row_ids = np.repeat(idx.astype(np.uint64) + np.uint64(row_offset), num_bands)
    if len(row_ids) and row_ids.max() >= 2**32:
        raise ValueError("row numbers must be < 2**32")
    part = keys % np.uint64(n_partitions)
    order = np.argsort(part, kind="stable")
    keys, row_ids, part = keys[order], row_ids[order].astype(np.uint32), part[order]
    bounds = np.searchsorted(part, np.arange(n_partitions + 1, dtype=np.uint64))
    out_dir = Path(out_dir)
    written = []
    for p in range(n_partitions):
        lo, hi = bounds[p], bounds[p + 1]
        d = out_dir / f"partition={p}"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{part_name}.parquet"
        pq.write_table(pa.table({"key": keys[lo:hi], "row": row_ids[lo:hi]}), path)
        written.append(path)
    return written


def cluster_band_keys(
    out_dir: Any,
    n_docs: int,
    *,
    signatures: Optional[np.ndarray] = None,
    threshold: Optional[float] = None,
    pre_roots: Optional[np.ndarray] = None,
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """Clusters from band keys written by :func:`write_band_keys`, one partition at a time.

    Parameters
    ----------
    out_dir
        The directory given to :func:`write_band_keys`.
    n_docs
        Total number of rows.
    signatures, threshold
        If given, candidates are verified by estimated Jaccard ``>= threshold``; ``signatures`` may
        be an ``np.memmap`` (``np.load(..., mmap_mode="r")``) so that they need not fit in memory.
        Without them every bucket is a duplicate cluster (plain LSH).
    pre_roots
        Optional roots to start from (e.g. exact-duplicate clusters).
    n_threads
        Worker threads.

    Returns
    -------
    numpy.ndarray
        int64 cluster id (smallest row of the cluster) of every row.
    """
    import pyarrow.parquet as pq

    n_docs = check_int("n_docs", n_docs, 0, 2**32 - 1)
    verify = "none"
    sig = None
    if signatures is not None:
        if threshold is None:
            raise ValueError("threshold is required with signatures")
        t = float(threshold)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        sig = signatures if isinstance(signatures, np.ndarray) else np.asarray(signatures)
        if sig.ndim != 2 or sig.dtype != np.uint32 or not sig.flags.c_contiguous:
            raise TypeError("signatures must be a C-contiguous 2-d uint32 array")
        verify = "estimate"
    edges = []
    nt = check_threads(n_threads)
    for part in sorted(Path(out_dir).glob("partition=*"), key=lambda p: int(p.name.split("=")[1])):
        table = pq.read_table(part)
        if table.num_rows == 0:
            continue
        keys = np.ascontiguousarray(table.column("key").to_numpy(), dtype=np.uint64)
        rows = np.ascontiguousarray(table.column("row").to_numpy(), dtype=np.uint32)
        edges.append(
            _core.edges_from_keys(
                keys, rows, sig, threshold=float(threshold or 0.0), verify=verify, n_threads=nt
            )
        )
    if pre_roots is not None:
        pre = np.asarray(pre_roots, dtype=np.uint32)
        edges.append(np.stack([np.arange(n_docs, dtype=np.uint32), pre], axis=1))
    all_edges = np.concatenate(edges) if edges else np.empty((0, 2), np.uint32)
    return _core.union_roots(n_docs, np.ascontiguousarray(all_edges)).astype(np.int64)


def remove_repeated_lines(
    texts: Any,
    *,
    lowercase: bool = False,
    nfkc: bool = False,
    strip_punctuation: bool = False,
    fold_whitespace: bool = True,
    n_threads: Optional[int] = None,
) -> tuple[Any, np.ndarray]:
    """Line-level exact dedup across a corpus (as CCNet and Dolma do for paragraphs).

    Every ``\\n``-separated line is normalised and hashed (XXH3-64); a line whose hash already
    occurred earlier in the corpus (in an earlier document, or earlier in the same one) is removed,
    so the first occurrence of each line is kept. Lines that are blank after normalisation are
    never removed. The texts are processed as one corpus, so pass all of them at once (chunked
    Arrow arrays are fine).

    Parameters
    ----------
    texts
        A list of str, a pyarrow string array / chunked array, or another input of
        :func:`tamis.io.as_text_array`.
    lowercase, nfkc, strip_punctuation, fold_whitespace
        Normalisation applied to each line before hashing (the output keeps the original text).
    n_threads
        Worker threads.

    Returns
    -------
    texts : pyarrow.LargeStringArray
        The texts without their repeated lines (nulls stay null).
    n_removed : numpy.ndarray
        Lines removed per document (int64).

    Examples
    --------
    >>> out, n = remove_repeated_lines(["menu\\nhello", "menu\\nworld"])
    >>> out.to_pylist(), n.tolist()
    (['menu\\nhello', 'world'], [0, 1])
    """
    import pyarrow as pa

    nt = check_threads(n_threads)
    arrays = list(as_text_array(texts))
    parts = []
    for arr in arrays:
        parts.append(
            _core.line_hashes(
                *buffers(arr),
                lowercase=bool(lowercase),
                nfkc=bool(nfkc),
                strip_punctuation=bool(strip_punctuation),
                fold_whitespace=bool(fold_whitespace),
                n_threads=nt,
            )
        )
    hashes = np.concatenate([p[2] for p in parts]) if parts else np.empty(0, np.uint64)
    dup = _core.repeated(hashes)
    out, removed, base = [], [], 0
    for arr, (indptr, line_no, h) in zip(arrays, parts):
        d = dup[base : base + len(h)]
        base += len(h)
        row_of = np.repeat(np.arange(len(arr)), np.diff(indptr).astype(np.int64))
        counts = np.bincount(row_of[d], minlength=len(arr)).astype(np.int64)
        removed.append(counts)
        if not counts.any():
            out.append(arr.cast(pa.large_string()))
            continue
        values = arr.to_pylist()
        drop_rows = row_of[d]
        drop_lines = line_no[d]
        for r in np.unique(drop_rows):
            gone = set(drop_lines[drop_rows == r].tolist())
            lines = values[r].split("\n")
            values[r] = "\n".join(x for k, x in enumerate(lines) if k not in gone)
        out.append(pa.array(values, pa.large_string()))
    result = pa.concat_arrays(out) if out else pa.array([], pa.large_string())
    n_removed = np.concatenate(removed) if removed else np.empty(0, np.int64)
    return result, n_removed
