"""The datatrove-compatible mode: datatrove 0.10.1's ``NGramsDecontIndexer`` + ``NGramsDecontFilter``.

Normalisation, n-grams and XXH64 hashes run in Rust (``tamis._core.DatatroveIndex``); the one
piece taken from spaCy itself is how it splits each space-free chunk of the simplified text
("dont" → "do", "nt"), asked once per distinct chunk and cached, so the tokens are spaCy's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._base import load_state, save_state
from tamis._validation import check_int, check_threads
from tamis.decontam._evalsets import as_eval_sets
from tamis.decontam._index import _texts
from tamis.io import buffers

FORMAT = "tamis-decontam-datatrove"
VERSION = 1


class SpacySplitter:
    """spaCy's word tokens of each chunk, cached; feeds ``_core.DatatroveSplits``.

    Tokens are those of datatrove's ``SpaCyTokenizer.word_tokenize`` (``spacy.blank(language)``,
    tokens stripped, empty ones dropped).
    """

    def __init__(self, language: str = "en") -> None:
        try:
            import spacy
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("the datatrove-compatible mode needs spaCy: pip install spacy") from e
        self.nlp = spacy.blank(language)
        self.splits = _core.DatatroveSplits()
        self.seen: set[str] = set()

    def learn(self, chunks: list[str]) -> None:
        """Ask spaCy about the chunks not seen yet."""
        new = [c for c in chunks if c not in self.seen]
        if not new:
            return
        self.seen.update(new)
        tokenizer: Any = self.nlp.tokenizer
        for chunk, doc in zip(new, tokenizer.pipe(new)):
            toks = [t.text.strip() for t in doc]
            toks = [t for t in toks if t]
            if toks != [chunk]:
                self.splits.insert(chunk, toks)

    def learn_texts(self, texts: list[str], n_threads: int | None = None) -> None:
        """:meth:`learn` the distinct chunks of ``texts`` (simplified in Rust)."""
        arr = pa.array(texts, pa.large_string())
        self.learn(_core.datatrove_chunks(*buffers(arr), n_threads=n_threads))


class DatatroveDecontaminator:
    """datatrove's n-gram decontamination, decision for decision.

    Parameters
    ----------
    ngram
        ``NGramsDecontConfig.n_grams`` (12).
    find_query_ngrams, find_overlap_ngrams
        As in ``NGramsDecontConfig``: also index the query's n-grams / those straddling query
        and label.
    language
        spaCy language of the word tokenizer (datatrove: ``en``).
    n_threads
        Worker threads.
    """

    def __init__(
        self,
        ngram: int = 12,
        find_query_ngrams: bool = False,
        find_overlap_ngrams: bool = True,
        language: str = "en",
        n_threads: int | None = None,
    ) -> None:
        self.ngram = check_int("ngram", ngram, 1, 1000)
        self.find_query_ngrams = find_query_ngrams
        self.find_overlap_ngrams = find_overlap_ngrams
        self.language = language
        self.n_threads = check_threads(n_threads)
        self.splitter = SpacySplitter(language)

    def fit(self, eval_sets: Any, **load_kwargs: Any) -> DatatroveDecontaminator:
        """Index the eval sets: ``texts`` are the labels, ``queries`` the queries (if any)."""
        sets = as_eval_sets(eval_sets, **load_kwargs)
        labels = [t for s in sets for t in s.texts]
        has_q = any(s.queries is not None for s in sets)
        if has_q and not all(s.queries is not None for s in sets):
            raise ValueError("query_fields must be given for every eval set or none")
        queries = [q for s in sets for q in (s.queries or [])] if has_q else None
        self.splitter.learn_texts(labels + (queries or []), self.n_threads)
        item_set = (
            np.concatenate([np.full(len(s.texts), i, np.uint32) for i, s in enumerate(sets)])
            if labels
            else np.zeros(0, np.uint32)
        )
        self.set_names = [s.name for s in sets]
        self.index_ = _core.DatatroveIndex.build(
            labels,
            queries,
            item_set,
            self.splitter.splits,
            ngram=self.ngram,
            find_query_ngrams=self.find_query_ngrams,
            find_overlap_ngrams=self.find_overlap_ngrams,
            n_threads=self.n_threads,
        )
        return self

    def filter(self, texts: Any) -> tuple[np.ndarray, list[str | None], list[str | None]]:
        """``(keep, contaminated_ngram, contaminated_task)`` per document, as datatrove's filter."""
        arr = _texts(texts)
        bufs = buffers(arr)
        self.splitter.learn(_core.datatrove_chunks(*bufs, n_threads=self.n_threads))
        keep, ngrams, sets = self.index_.filter(
            *bufs, self.splitter.splits, n_threads=self.n_threads
        )
        tasks = [self.set_names[s] if s >= 0 else None for s in sets.tolist()]
        return keep, ngrams, tasks

    def save(self, path: Any) -> Any:
        """Write the index (hashes and sets) as ``.npz``."""
        hashes, sets = self.index_.arrays()
        params = {
            "ngram": self.ngram,
            "find_query_ngrams": self.find_query_ngrams,
            "find_overlap_ngrams": self.find_overlap_ngrams,
            "language": self.language,
            "set_names": self.set_names,
        }
        return save_state(path, FORMAT, VERSION, params, hashes=hashes, sets=sets)

    @classmethod
    def load(cls, path: Any, n_threads: int | None = None) -> DatatroveDecontaminator:
        """Read what :meth:`save` wrote."""
        params, z = load_state(path, FORMAT, (VERSION,))
        self = cls(
            params["ngram"],
            params["find_query_ngrams"],
            params["find_overlap_ngrams"],
            params["language"],
            n_threads,
        )
        with z:
            self.index_ = _core.DatatroveIndex.from_arrays(
                z["hashes"],
                z["sets"],
                ngram=self.ngram,
                find_query_ngrams=self.find_query_ngrams,
                find_overlap_ngrams=self.find_overlap_ngrams,
            )
        self.set_names = list(params["set_names"])
        return self
