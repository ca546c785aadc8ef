"""MetaCLIP-style entry matching and balancing (Xu et al., "Demystifying CLIP Data", 2023).

Two passes over a corpus, as in MetaCLIP: the first finds every entry in every document
(:class:`EntryMatcher`, Aho–Corasick in Rust) and counts the documents per entry; the second keeps
a document if any of its entries ``e`` passes a draw of probability ``min(1, t / count_e)``
(:func:`balance_matches`). The draw of ``(document, entry)`` is keyed by the seed, a hash of the
entry and a hash of the document id, so shards, batches and threads never change the result as
long as the counts cover the whole corpus. Per-group caps are in :mod:`tamis.balance.caps`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._base import Estimator, Selection, check_is_fitted
from tamis._progress import progress
from tamis._validation import check_seed, check_threads
from tamis.exceptions import InputError
from tamis.importance.stream import id_hashes
from tamis.io import DEFAULT_BATCH_SIZE, as_text_array, buffers, read_batches

#: MetaCLIP's threshold (entries matched by more than t texts are sampled down to about t).
DEFAULT_T = 20_000


@dataclass
class EntryMatches:
    """Occurrences of every entry in every document, in CSR layout (scipy's ``csr_matrix``).

    Row ``i`` owns ``indices[indptr[i]:indptr[i+1]]`` (sorted entry numbers) and ``data`` (how
    many times each occurs in document ``i``; overlapping occurrences count).
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_entries: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_documents, n_entries)``."""
        return (len(self.indptr) - 1, self.n_entries)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def row(self, i: int) -> dict[int, int]:
        """Occurrences in document ``i`` as ``{entry: count}``."""
        a, b = self.indptr[i], self.indptr[i + 1]
        return dict(zip(self.indices[a:b].tolist(), self.data[a:b].tolist()))

    def doc_counts(self) -> np.ndarray:
        """Documents per entry (``uint64``): MetaCLIP's count."""
        return np.bincount(self.indices, minlength=self.n_entries).astype(np.uint64)

    def to_scipy(self) -> Any:
        """A ``scipy.sparse.csr_matrix`` (needs scipy)."""
        try:
            from scipy.sparse import csr_matrix
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_scipy() needs scipy: pip install scipy") from e
        return csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)

    @classmethod
    def concat(cls, parts: Sequence[EntryMatches], n_entries: int) -> EntryMatches:
        """The rows of ``parts`` one after the other."""
        indptr = [np.zeros(1, dtype=np.int64)]
        base = 0
        for p in parts:
            indptr.append(p.indptr[1:] + base)
            base += int(p.indptr[-1])
        return cls(
            np.concatenate(indptr),
            np.concatenate([p.indices for p in parts] or [np.zeros(0, np.uint32)]),
            np.concatenate([p.data for p in parts] or [np.zeros(0, np.uint32)]),
            n_entries,
        )


def read_entries(path: Union[str, Path]) -> list[str]:
    """The entries of a text file: one per line, surrounding whitespace removed, blanks skipped.

    Raises
    ------
    InputError
        A line that is not UTF-8 (named by its number).
    """
    out = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                raise InputError(f"{path}: line {n} is not valid UTF-8 (byte {e.start})") from None
            if line:
                out.append(line)
    return out


def entry_keys(entries: Sequence[str]) -> np.ndarray:
    """The draw key of each entry: XXH3-64 of its UTF-8 text (as given, before normalisation).

    Keying draws by the entry's text rather than its position keeps a document's draws when
    entries are added to or removed from the list.
    """
    return id_hashes(pa.array(list(entries), pa.large_string()))


class EntryMatcher(Estimator):
    """Finds a list of entries in texts (Aho–Corasick) and counts documents per entry.

    Entries and texts are normalised the same way (lowercase by default) and every occurrence of
    every entry is found, overlapping ones included. With ``word_boundary`` an occurrence counts
    only between non-word characters (Python's ``\\w``) or the ends of the text, so ``"cat"``
    occurs in ``"a cat."`` but not in ``"cats"``.

    Parameters
    ----------
    entries
        The entries (strings; no two equal after normalisation).
    lowercase, nfkc, strip_punctuation, fold_whitespace
        Normalisation of entries and texts (:func:`tamis.normalize`).
    word_boundary
        Count only occurrences between non-word characters.
    n_threads
        Worker threads (``None``: all cores).

    Attributes
    ----------
    counts_
        After :meth:`fit`: documents of the corpus per entry (``uint64``).
    matches_
        After :meth:`fit`: the corpus' :class:`EntryMatches`.
    ids_
        After :meth:`fit`: the documents' ids.

    Examples
    --------
    >>> m = EntryMatcher(["cat", "new york", "york"])
    >>> m.transform(["A cat in New York", "cats"]).row(0)
    {0: 1, 1: 1, 2: 1}
    >>> m.fit(["a cat", "the cat", "a dog"]).counts_.tolist()
    [2, 0, 0]
    """

    def __init__(
        self,
        entries: Sequence[str],
        *,
        lowercase: bool = True,
        nfkc: bool = False,
        strip_punctuation: bool = False,
        fold_whitespace: bool = False,
        word_boundary: bool = True,
        n_threads: Optional[int] = None,
    ) -> None:
        if isinstance(entries, (str, bytes)):
            raise TypeError("entries must be a sequence of strings, got a single string")
        self.entries = list(entries)
        bad = next((i for i, e in enumerate(self.entries) if not isinstance(e, str)), None)
        if bad is not None:
            raise TypeError(
                f"entries must be strings, entry {bad} is {type(self.entries[bad]).__name__}"
            )
        self.lowercase = lowercase
        self.nfkc = nfkc
        self.strip_punctuation = strip_punctuation
        self.fold_whitespace = fold_whitespace
        self.word_boundary = word_boundary
        self.n_threads = check_threads(n_threads)
        self._matcher = self._build()

    def _build(self) -> Any:
        return _core.EntryMatcher(
            *buffers(pa.array(self.entries, pa.large_string())),
            lowercase=self.lowercase,
            nfkc=self.nfkc,
            strip_punctuation=self.strip_punctuation,
            fold_whitespace=self.fold_whitespace,
            word_boundary=self.word_boundary,
        )

    def __getstate__(self) -> dict[str, Any]:
        # The automaton is rebuilt from the entries (it is not picklable, and rebuilding is fast).
        return {k: v for k, v in self.__dict__.items() if k != "_matcher"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._matcher = self._build()

    def __repr__(self) -> str:
        # A MetaCLIP list has 500k entries: show how many, not which.
        defaults = inspect.signature(type(self).__init__).parameters
        shown = [f"<{self.n_entries} entries>"] + [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if k != "entries" and v != defaults[k].default
        ]
        return f"EntryMatcher({', '.join(shown)})"

    @property
    def n_entries(self) -> int:
        """Number of entries."""
        return len(self.entries)

    def transform(self, texts: Any) -> EntryMatches:
        """The :class:`EntryMatches` of ``texts`` (anything :func:`tamis.io.as_text_array` reads).

        Null texts have empty rows.
        """
        parts = []
        for arr in as_text_array(texts):
            indptr, indices, data, _, _ = self._matcher.match_texts(
                *buffers(arr), n_threads=self.n_threads
            )
            parts.append(EntryMatches(indptr, indices, data, self.n_entries))
        return EntryMatches.concat(parts, self.n_entries)

    def fit(
        self,
        source: Any,
        *,
        text_column: str = "text",
        id_column: Optional[str] = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        show_progress: bool = False,
    ) -> EntryMatcher:
        """The first pass: match every document of ``source`` and count documents per entry.

        ``source`` is anything :func:`tamis.read_batches` reads (files, tables, lists of texts).
        Sets ``counts_``, ``matches_`` and ``ids_``.
        """
        parts, ids = [], []
        bar = progress(desc="balance: match", enabled=show_progress)
        for batch in read_batches(
            source,
            text_column=text_column,
            id_column=id_column,
            columns=[],
            batch_size=batch_size,
        ):
            parts.append(self.transform(batch.column(text_column)))
            ids.append(batch.column(id_column or "id"))
            bar.update(batch.num_rows)
        bar.close()
        self.matches_ = EntryMatches.concat(parts, self.n_entries)
        self.counts_ = self.matches_.doc_counts()
        self.ids_ = pa.chunked_array(ids) if ids else pa.chunked_array([], pa.int64())
        return self

    def balance(
        self, t: float = DEFAULT_T, *, seed: int = 0, keep_unmatched: bool = False
    ) -> Selection:
        """MetaCLIP's balancing of the fitted corpus (:func:`balance_matches`)."""
        check_is_fitted(self, "counts_")
        return balance_matches(
            self.matches_,
            self.counts_,
            self.ids_,
            t=t,
            seed=seed,
            entries=self.entries,
            keep_unmatched=keep_unmatched,
            n_threads=self.n_threads,
        )


def _check_t(t: Any) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
        raise TypeError(f"t must be a number, got {type(t).__name__}")
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"t must be a positive number, got {t}")
    return float(t)


def balance_matches(
    matches: EntryMatches,
    counts: Any,
    ids: Any,
    *,
    t: float = DEFAULT_T,
    seed: int = 0,
    entries: Optional[Sequence[str]] = None,
    keep_unmatched: bool = False,
    n_threads: Optional[int] = None,
) -> Selection:
    """MetaCLIP's balancing: keep a document if any of its entries passes its draw.

    Entry ``e`` matched by ``count_e`` documents of the whole corpus passes for a document with
    probability ``p_e = min(1, t / count_e)``; a document matching entries ``E`` is kept with
    probability ``1 - prod_{e in E} (1 - p_e)``. The draw is
    ``keyed_uniform(seed, hash(entry), hash(id)) <= p_e``, a pure function of its key.

    Parameters
    ----------
    matches
        The documents' :class:`EntryMatches` (any subset of the corpus: a shard).
    counts
        Documents per entry over the *whole* corpus (the sum of every shard's
        :meth:`EntryMatches.doc_counts`).
    ids
        The documents' ids (strings or integers), aligned with the rows of ``matches``.
    t
        The per-entry threshold (MetaCLIP: 20,000 at 400M pairs).
    seed
        Seed of the draws.
    entries
        The entry texts (their hashes key the draws). ``None``: entry ``e`` is keyed by its
        number ``e``.
    keep_unmatched
        Keep documents that match no entry (MetaCLIP drops them).
    n_threads
        Worker threads.

    Returns
    -------
    Selection
        Kept rows in input order; ``columns``: ``probability`` (of being kept), ``entry`` (the
        entry whose draw kept it: the rarest that passed; ``None`` for a kept unmatched row),
        ``n_matched`` (entries the document matches); ``rows``: ``keep`` and ``probability`` of
        every row; ``info``: ``t``, ``seed``, ``n_matched`` (rows with an entry), ``n_head``
        (entries with ``count > t``).
    """
    t = _check_t(t)
    seed = check_seed(seed)
    n_threads = check_threads(n_threads)
    counts = np.ascontiguousarray(counts)
    if counts.ndim != 1 or len(counts) != matches.n_entries:
        raise ValueError(
            f"counts must have one value per entry ({matches.n_entries}), got shape {counts.shape}"
        )
    if counts.dtype.kind not in "iu" or (counts.dtype.kind == "i" and (counts < 0).any()):
        raise ValueError("counts must be non-negative integers")
    counts = counts.astype(np.uint64)
    if entries is None:
        keys = np.arange(matches.n_entries, dtype=np.uint64)
    else:
        if len(entries) != matches.n_entries:
            raise ValueError(f"{len(entries)} entries for {matches.n_entries} matched entries")
        keys = entry_keys(entries)
    id_arr = ids if isinstance(ids, (pa.Array, pa.ChunkedArray)) else pa.array(ids)
    if len(id_arr) != len(matches):
        raise ValueError(f"{len(id_arr)} ids for {len(matches)} documents")
    keep, prob, entry = _core.balance_draw(
        np.ascontiguousarray(matches.indptr, dtype=np.int64),
        np.ascontiguousarray(matches.indices, dtype=np.uint32),
        np.ascontiguousarray(matches.data, dtype=np.uint32),
        counts,
        keys,
        id_hashes(id_arr),
        t=t,
        seed=seed,
        keep_unmatched=keep_unmatched,
        n_threads=n_threads,
    )
    idx = np.flatnonzero(keep)
    names = np.array(
        list(entries) if entries is not None else [str(e) for e in range(matches.n_entries)],
        dtype=object,
    )
    kept_entry = entry[idx]
    entry_col = names[np.maximum(kept_entry, 0)]
    entry_col[kept_entry < 0] = None
    n_matched = np.diff(matches.indptr)
    return Selection(
        indices=idx,
        ids=id_arr.take(pa.array(idx)),
        columns={
            "probability": prob[idx],
            "entry": entry_col,
            "n_matched": n_matched[idx].astype(np.int64),
        },
        rows={"keep": keep, "probability": prob},
        n_rows=len(matches),
        method="balance/metaclip",
        info={
            "t": t,
            "seed": seed,
            "n_matched": int((n_matched > 0).sum()),
            "n_head": int((counts > t).sum()),
        },
    )


def balance(
    source: Any,
    entries: Sequence[str],
    t: float = DEFAULT_T,
    *,
    seed: int = 0,
    keep_unmatched: bool = False,
    text_column: str = "text",
    id_column: Optional[str] = None,
    lowercase: bool = True,
    word_boundary: bool = True,
    n_threads: Optional[int] = None,
) -> Selection:
    """Balance a corpus over ``entries`` as MetaCLIP does (both passes; see :func:`balance_matches`).

    Examples
    --------
    >>> texts = ["a cat"] * 50 + ["a dog"] * 3
    >>> sel = balance(texts, ["cat", "dog"], t=10, seed=0)
    >>> int((sel.entry == "dog").sum()), bool(abs((sel.entry == "cat").sum() - 10) <= 9)
    (3, True)
    """
    m = EntryMatcher(entries, lowercase=lowercase, word_boundary=word_boundary, n_threads=n_threads)
    m.fit(source, text_column=text_column, id_column=id_column)
    return m.balance(t, seed=seed, keep_unmatched=keep_unmatched)
