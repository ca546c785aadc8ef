"""MinHash signatures, band keys, exact hashes and shingle sets of texts (the hashing engine).

Three permutation schemes share one signature layout (``num_perm`` uint32 values per document):
``"fast"`` (tamis' own: XXH3 token hashes, rolling n-gram hash, vectorised affine permutations),
and datasketch 2.0's ``"affine32"`` and ``"legacy"``, reproduced bit for bit (their permutations are
drawn here with numpy's ``RandomState(seed)`` exactly as datasketch draws them).

:func:`sign_batch` is what every backend runs per batch (``MinHashDeduplicator.add`` locally, a
Ray task per block), so both compute the same arrays with the same options.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._arrow import from_numpy
from tamis._validation import check_int, check_seed, check_threads
from tamis.dedup._checks import check_choice
from tamis.dedup.store import ShingleSets, SignedBatch
from tamis.io import as_text_array, buffers

SCHEMES = ("fast", "affine32", "legacy")
_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
#: Largest accepted ``num_perm`` (2**13), shared with the Rust core.
MAX_NUM_PERM: int = _core.MAX_NUM_PERM


@dataclass(frozen=True)
class Normalization:
    """Text normalisation before shingling and exact hashing (the estimator's four flags)."""

    lowercase: bool = True
    nfkc: bool = False
    strip_punctuation: bool = False
    fold_whitespace: bool = False

    def kwargs(self) -> dict[str, bool]:
        """The flags as keyword arguments of the ``_core`` hashing functions."""
        return {k: bool(v) for k, v in asdict(self).items()}


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


def make_hasher(
    *,
    num_perm: int = 128,
    scheme: str = "fast",
    seed: int = 1,
    analyzer: str = "word",
    ngram: int = 5,
    normalization: Normalization = Normalization(),
) -> _core.MinHasher:
    """A checked ``_core.MinHasher`` (parameters as in :func:`minhash_signatures`)."""
    num_perm = check_int("num_perm", num_perm, 1, MAX_NUM_PERM)
    scheme = check_choice("scheme", scheme, SCHEMES)
    analyzer = check_choice("analyzer", analyzer, ("word", "char"))
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
        **normalization.kwargs(),
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
    norm = Normalization(lowercase, nfkc, strip_punctuation, fold_whitespace)
    hasher = make_hasher(
        num_perm=num_perm,
        scheme=scheme,
        seed=seed,
        analyzer=analyzer,
        ngram=ngram,
        normalization=norm,
    )
    nt = check_threads(n_threads)
    parts = [sign_batch(hasher, arr, n_threads=nt) for arr in as_text_array(texts)]
    if not parts:
        return np.empty((0, hasher.num_perm), np.uint32), np.empty(0, np.uint64)
    out = SignedBatch.concat(parts)
    assert out.signatures is not None
    return out.signatures, out.n_shingles


def text_chunks(texts: Any) -> Iterator[pa.Array]:
    """String arrays of ``texts``: one collection of texts, or a list / iterator of collections."""
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


def sign_batch(
    hasher: _core.MinHasher,
    texts: pa.Array,
    *,
    num_bands: Optional[int] = None,
    rows: Optional[int] = None,
    signatures: bool = True,
    band_keys: bool = False,
    exact_hashes: Optional[Normalization] = None,
    lengths: bool = False,
    n_threads: Optional[int] = None,
) -> SignedBatch:
    """Everything dedup keeps per document, for one batch of texts.

    Parameters
    ----------
    hasher
        The ``_core.MinHasher`` (:func:`make_hasher`, or ``MinHashDeduplicator.hasher``).
    texts
        One pyarrow string / large_string array.
    num_bands, rows
        Banding, needed for ``band_keys``.
    signatures, band_keys
        Keep the signatures, the LSH band keys (either or both).
    exact_hashes
        If given, also the XXH3-128 of each text normalised this way (exact duplicates).
    lengths
        Also the byte length of each text (``keep="longest"``).
    n_threads
        Worker threads.

    Returns
    -------
    SignedBatch
        ``n_shingles`` and the fields asked for.
    """
    nt = check_threads(n_threads)
    bufs = buffers(texts)
    sig, counts = hasher.signatures(*bufs, nt)
    out = SignedBatch(n_shingles=counts, signatures=sig if signatures else None)
    if band_keys:
        if num_bands is None or rows is None:
            raise ValueError("band_keys=True needs num_bands and rows")
        out.band_keys = _core.band_keys(sig, num_bands=num_bands, rows=rows, n_threads=nt)
    if exact_hashes is not None:
        norm = exact_hashes
        out.hashes, out.hash_ok = _core.text_hashes(
            *bufs,
            lowercase=norm.lowercase,
            nfkc=norm.nfkc,
            strip_punctuation=norm.strip_punctuation,
            fold_whitespace=norm.fold_whitespace,
            n_threads=nt,
        )
    if lengths:
        import pyarrow.compute as pc

        out.lengths = (
            pc.fill_null(pc.binary_length(texts), 0).to_numpy(zero_copy_only=False)
        ).astype(np.float64)
    return out


def shingle_sets(
    hasher: _core.MinHasher, texts: pa.Array, *, n_threads: Optional[int] = None
) -> ShingleSets:
    """Sorted unique shingle hashes of every text of one string array (exact verification)."""
    indptr, hashes = hasher.shingle_sets(*buffers(texts), check_threads(n_threads))
    return ShingleSets(indptr, hashes)


def candidate_shingle_sets(
    hasher: _core.MinHasher,
    texts: Any,
    candidates: np.ndarray,
    *,
    n_threads: Optional[int] = None,
) -> ShingleSets:
    """Shingle sets of the rows where ``candidates`` is True (others get an empty set).

    ``texts`` (anything :func:`text_chunks` reads: a list, an Arrow array, an iterable of
    batches) must hold exactly ``len(candidates)`` documents, in order; only the candidate rows
    are hashed and kept (8 bytes per distinct shingle).
    """
    n = len(candidates)
    sizes = np.zeros(n, np.uint64)
    hashes, row = [], 0
    for arr in text_chunks(texts):
        m = len(arr)
        if row + m > n:
            raise ValueError(f"more documents than the {n} added")
        sel = np.flatnonzero(candidates[row : row + m])
        if len(sel):
            part = shingle_sets(hasher, arr.take(from_numpy(sel)), n_threads=n_threads)
            sizes[row + sel] = np.diff(part.indptr)
            hashes.append(part.hashes)
        row += m
    if row != n:
        raise ValueError(f"got {row} documents, {n} were added")
    indptr = np.zeros(n + 1, np.uint64)
    np.cumsum(sizes, out=indptr[1:])
    flat = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
    return ShingleSets(indptr, flat)
