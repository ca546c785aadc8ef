"""Hashed n-gram features: the featuriser shared by DSIR, dedup and decontamination."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from tamis import _core
from tamis._validation import check_int, check_seed, check_threads
from tamis.io import as_text_array, buffers


@dataclass(frozen=True)
class SparseCounts:
    """Per-document n-gram counts in CSR layout.

    Row ``i`` owns ``indices[indptr[i]:indptr[i+1]]`` (sorted, unique bucket ids) and the matching
    ``data`` (counts). ``n_tokens[i]`` is the number of tokens of document ``i`` after
    normalisation (characters for ``analyzer="char"``); null documents are empty rows.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_tokens: np.ndarray
    n_buckets: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_documents, n_buckets)``."""
        return (len(self.indptr) - 1, self.n_buckets)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def row(self, i: int) -> dict[int, int]:
        """Counts of document ``i`` as ``{bucket: count}``."""
        a, b = self.indptr[i], self.indptr[i + 1]
        return dict(zip(self.indices[a:b].tolist(), self.data[a:b].tolist()))

    def toarray(self) -> np.ndarray:
        """Dense ``uint32`` matrix (beware: ``n_documents × n_buckets``)."""
        out = np.zeros(self.shape, dtype=np.uint32)
        rows = np.repeat(np.arange(len(self)), np.diff(self.indptr))
        out[rows, self.indices] = self.data
        return out

    def to_scipy(self) -> Any:
        """A ``scipy.sparse.csr_matrix`` (needs scipy)."""
        try:
            from scipy.sparse import csr_matrix
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_scipy() needs scipy: pip install scipy") from e
        return csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


def _concat(parts: list[SparseCounts], n_buckets: int) -> SparseCounts:
    if len(parts) == 1:
        return parts[0]
    if not parts:
        e = np.empty(0, dtype=np.uint32)
        return SparseCounts(np.zeros(1, np.int64), e, e.copy(), np.empty(0, np.uint64), n_buckets)
    offsets = np.cumsum([0] + [p.indptr[-1] for p in parts[:-1]])
    indptr = np.concatenate(
        [parts[0].indptr[:1]] + [p.indptr[1:] + o for p, o in zip(parts, offsets)]
    )
    return SparseCounts(
        indptr,
        np.concatenate([p.indices for p in parts]),
        np.concatenate([p.data for p in parts]),
        np.concatenate([p.n_tokens for p in parts]),
        n_buckets,
    )


class HashingFeaturizer:
    """Hashed n-gram counts of texts, computed in parallel in Rust.

    Each text is normalised, cut into word tokens (``\\w+|[^\\w\\s]+``, as NLTK's WordPunct and
    DSIR) or characters, and every n-gram with ``ngram_range[0] <= n <= ngram_range[1]`` is hashed
    with XXH3-64 (``seed``). A word n-gram is its tokens joined by one space. The bucket of hash
    ``h`` is ``(h * n_buckets) >> 64``. Results do not depend on ``n_threads``.

    Parameters
    ----------
    n_buckets
        Number of hash buckets (feature dimension), 1 to 2**32 - 1.
    ngram_range
        ``(min_n, max_n)``, inclusive.
    analyzer
        ``"word"`` or ``"char"`` n-grams.
    lowercase, nfkc, strip_punctuation, fold_whitespace
        Normalisation, applied in the order NFKC, lowercase, strip punctuation, fold whitespace.
    seed
        Hash seed (unsigned 64-bit).
    hash
        ``"xxh3"`` (default) or ``"sha256"``: the DSIR reference's bucket function,
        ``int(sha256(ngram).hexdigest(), 16) % n_buckets`` (seed-free, about 10x slower).
    n_threads
        Worker threads (``None``: all cores).

    Examples
    --------
    >>> f = HashingFeaturizer(n_buckets=16, ngram_range=(1, 1))
    >>> f.transform(["a b a"]).row(0) == {f.buckets("a")[0]: 2, f.buckets("b")[0]: 1}
    True
    """

    def __init__(
        self,
        n_buckets: int = 10_000,
        ngram_range: tuple[int, int] = (1, 2),
        *,
        analyzer: str = "word",
        lowercase: bool = True,
        nfkc: bool = False,
        strip_punctuation: bool = False,
        fold_whitespace: bool = False,
        seed: int = 0,
        n_threads: Optional[int] = None,
        hash: str = "xxh3",
    ) -> None:
        self.n_buckets = check_int("n_buckets", n_buckets, 1, 2**32 - 1)
        try:
            min_n, max_n = (int(x) for x in ngram_range)
        except (TypeError, ValueError):
            raise ValueError(
                f"ngram_range must be a pair (min_n, max_n), got {ngram_range!r}"
            ) from None
        self.ngram_range = (min_n, max_n)
        if analyzer not in ("word", "char"):
            raise ValueError(f"analyzer must be 'word' or 'char', got {analyzer!r}")
        self.analyzer = analyzer
        self.lowercase = bool(lowercase)
        self.nfkc = bool(nfkc)
        self.strip_punctuation = bool(strip_punctuation)
        self.fold_whitespace = bool(fold_whitespace)
        self.seed = check_seed(seed)
        self.n_threads = check_threads(n_threads)
        if hash not in ("xxh3", "sha256"):
            raise ValueError(f"hash must be 'xxh3' or 'sha256', got {hash!r}")
        self.hash = hash
        if min_n < 1 or max_n < min_n:
            raise ValueError(f"ngram_range must satisfy 1 <= min_n <= max_n, got {ngram_range!r}")
        self._core = _core.Featurizer(
            n_buckets=self.n_buckets,
            min_n=min_n,
            max_n=max_n,
            analyzer=analyzer,
            lowercase=self.lowercase,
            nfkc=self.nfkc,
            strip_punctuation=self.strip_punctuation,
            fold_whitespace=self.fold_whitespace,
            seed=self.seed,
            hash=self.hash,
        )

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as scikit-learn estimators report them."""
        return {
            "n_buckets": self.n_buckets,
            "ngram_range": self.ngram_range,
            "analyzer": self.analyzer,
            "lowercase": self.lowercase,
            "nfkc": self.nfkc,
            "strip_punctuation": self.strip_punctuation,
            "fold_whitespace": self.fold_whitespace,
            "seed": self.seed,
            "n_threads": self.n_threads,
            "hash": self.hash,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"HashingFeaturizer({args})"

    def buckets(self, text: str) -> list[int]:
        """Bucket of every n-gram of one text, in text order."""
        return self._core.buckets(text)

    def transform(self, texts: Any) -> SparseCounts:
        """Per-document counts in CSR layout.

        Parameters
        ----------
        texts
            A list of str, a pyarrow string array / chunked array, a pandas Series, or another
            input accepted by :func:`tamis.io.as_text_array`. Nulls give empty rows.

        Raises
        ------
        ValueError
            A text that is not valid UTF-8 (the row is named).
        """
        parts = []
        for arr in as_text_array(texts):
            off, data, valid = buffers(arr)
            indptr, indices, counts, n_tokens = self._core.transform_csr(
                off, data, valid, self.n_threads
            )
            parts.append(SparseCounts(indptr, indices, counts, n_tokens, self.n_buckets))
        return _concat(parts, self.n_buckets)

    def transform_dense(self, texts: Any) -> np.ndarray:
        """Per-document counts as a dense ``uint32`` array ``(n_documents, n_buckets)``."""
        blocks = []
        for arr in as_text_array(texts):
            off, data, valid = buffers(arr)
            dense, _ = self._core.transform_dense(off, data, valid, self.n_threads)
            blocks.append(dense)
        if not blocks:
            return np.zeros((0, self.n_buckets), dtype=np.uint32)
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)

    def count_tokens(self, texts: Any) -> np.ndarray:
        """Tokens per document after normalisation (characters for ``analyzer="char"``)."""
        out = [
            self._core.count_tokens(*buffers(arr), self.n_threads) for arr in as_text_array(texts)
        ]
        return np.concatenate(out) if out else np.empty(0, dtype=np.uint64)

    def count(self, texts: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Sum the n-gram counts of all documents into one vector, without per-document features.

        Parameters
        ----------
        texts
            Texts, or an iterable of text chunks (e.g. the text columns of record batches).
        out
            A ``uint64`` vector of length ``n_buckets`` to add into (streaming use). A new
            zero vector if None.

        Returns
        -------
        numpy.ndarray
            ``out`` (or the new vector). ``self.last_stats_`` holds the counts of documents, nulls,
            tokens and n-grams seen by this call.
        """
        if out is None:
            out = np.zeros(self.n_buckets, dtype=np.uint64)
        elif not isinstance(out, np.ndarray) or out.dtype != np.uint64 or out.ndim != 1:
            raise TypeError("out must be a 1-d numpy array of dtype uint64")
        elif out.shape[0] != self.n_buckets:
            raise ValueError(f"out has length {out.shape[0]}, expected n_buckets={self.n_buckets}")
        elif not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("out must be a contiguous, writeable array")
        totals = {"n_docs": 0, "n_null": 0, "n_tokens": 0, "n_ngrams": 0}
        for arr in _chunks(texts):
            off, data, valid = buffers(arr)
            st = self._core.accumulate(off, data, out, valid, self.n_threads)
            for k in totals:
                totals[k] += st[k]
        self.last_stats_ = totals
        return out


def _chunks(texts: Any) -> Iterable[Any]:
    """Text arrays of ``texts``, which may also be an iterable of text collections (a stream)."""
    import pyarrow as pa

    if (
        isinstance(texts, (list, tuple))
        and texts
        and not all(isinstance(t, str) or t is None for t in texts)
    ):
        for part in texts:
            yield from as_text_array(part)
        return
    if not isinstance(texts, (list, tuple, pa.Array, pa.ChunkedArray)) and hasattr(
        texts, "__next__"
    ):
        for part in texts:
            yield from as_text_array(part)
        return
    yield from as_text_array(texts)
