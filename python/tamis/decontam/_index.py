"""The n-gram index of the eval sets and the scan of a batch of documents against it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._base import load_state, save_state
from tamis._validation import check_int, check_threads
from tamis.decontam._evalsets import EvalSet, as_eval_sets
from tamis.io import as_text_array, buffers

FORMAT = "tamis-decontam-index"
VERSION = 1
_ARRAYS = (
    "keys",
    "owners",
    "short_keys",
    "short_owners",
    "short_lengths",
    "multi_indptr",
    "multi_items",
    "item_set",
    "item_ngrams",
)


def _texts(texts: Any) -> pa.Array:
    chunks = list(as_text_array(texts))
    if not chunks:
        return pa.array([], pa.large_string())
    if len(chunks) == 1:
        return chunks[0]
    return pa.concat_arrays([c.cast(pa.large_string()) for c in chunks])


@dataclass
class ScanResult:
    """What :meth:`DecontaminationIndex.scan` found in a batch: per-document arrays and lists.

    ``n_tokens``, ``n_ngrams`` (windows of ``ngram`` tokens), ``n_matched`` (those found in the
    index), ``n_short_matched`` (windows equal to a short item, indexed whole) and ``n_items``
    (distinct items matched) are arrays with one value per document. Windows, spans, items and
    sets are CSR lists (``<name>_indptr`` and values); use :meth:`windows`, :meth:`spans`,
    :meth:`items` and :meth:`sets` for one document.
    """

    arrays: dict[str, np.ndarray]
    set_names: list[str]
    item_ids: np.ndarray
    item_set: np.ndarray

    def __len__(self) -> int:
        return len(self.arrays["n_tokens"])

    def __getattr__(self, name: str) -> Any:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    def _list(self, prefix: str, names: Sequence[str], i: int) -> list[tuple[int, ...]]:
        a, b = self.arrays[f"{prefix}_indptr"][i : i + 2]
        cols = [self.arrays[n][a:b].tolist() for n in names]
        return list(zip(*cols))

    @property
    def n_matches(self) -> np.ndarray:
        """Matched windows per document (``n_matched + n_short_matched``)."""
        return self.arrays["n_matched"].astype(np.int64) + self.arrays["n_short_matched"]

    @property
    def matched_fraction(self) -> np.ndarray:
        """Fraction of a document's ``ngram``-token windows found in the index (0 if none)."""
        n = self.arrays["n_ngrams"].astype(np.float64)
        m = self.arrays["n_matched"].astype(np.float64)
        return np.divide(m, n, out=np.zeros_like(m), where=n > 0)

    def windows(self, i: int) -> list[tuple[int, int]]:
        """Matched windows of document ``i`` as ``(first token, length)``."""
        return self._list("window", ["window_start", "window_len"], i)  # type: ignore[return-value]

    def spans(self, i: int) -> list[tuple[int, int]]:
        """Matched character spans ``[start, end)`` of document ``i`` (merged, sorted)."""
        return self._list("span", ["span_start", "span_end"], i)  # type: ignore[return-value]

    def items(self, i: int) -> list[tuple[str, str, int]]:
        """``(set name, item id, matched windows)`` of document ``i``, most matched first."""
        out = []
        for item, count in self._list("item", ["item_ids", "item_counts"], i):
            out.append((self.set_names[self.item_set[item]], str(self.item_ids[item]), count))
        return out

    def sets(self, i: int) -> list[str]:
        """Names of the eval sets matched by document ``i``."""
        a, b = self.arrays["set_indptr"][i : i + 2]
        return [self.set_names[s] for s in self.arrays["set_ids"][a:b]]

    def columns(self, max_items: int | None = None) -> dict[str, pa.Array]:
        """The explanation columns of the output: counts, fraction, sets, items and spans."""
        n = len(self)
        sets = pa.ListArray.from_arrays(
            pa.array(self.arrays["set_indptr"].astype(np.int32)),
            pa.array(
                np.array(self.set_names, dtype=object)[self.arrays["set_ids"]].tolist()
                if len(self.arrays["set_ids"])
                else [],
                pa.string(),
            ),
        )
        ip = self.arrays["item_indptr"]
        if max_items is not None:
            sizes = np.minimum(np.diff(ip), max_items)
            parts = [np.arange(a, a + s, dtype=np.int64) for a, s in zip(ip[:-1], sizes)]
            take: np.ndarray = np.concatenate(parts) if n else np.zeros(0, np.int64)
            ip = np.concatenate([[0], np.cumsum(sizes)])
        else:
            take = np.arange(ip[-1], dtype=np.int64)
        item_idx = self.arrays["item_ids"][take]
        labels = [
            f"{self.set_names[self.item_set[it]]}/{self.item_ids[it]}" for it in item_idx.tolist()
        ]
        items = pa.ListArray.from_arrays(
            pa.array(ip.astype(np.int32)), pa.array(labels, pa.string())
        )
        spans = pa.ListArray.from_arrays(
            pa.array(self.arrays["span_indptr"].astype(np.int32)),
            pa.StructArray.from_arrays(
                [pa.array(self.arrays["span_start"]), pa.array(self.arrays["span_end"])],
                names=["start", "end"],
            ),
        )
        return {
            "n_ngrams": pa.array(self.arrays["n_ngrams"]),
            "n_matched": pa.array(self.n_matches),
            "matched_fraction": pa.array(self.matched_fraction),
            "eval_sets": sets,
            "eval_items": items,
            "matched_spans": spans,
        }


class DecontaminationIndex:
    """The exact n-gram index of one or more eval sets (see ``docs/decontamination.md``).

    Build with :meth:`build`, persist with :meth:`save` / :meth:`load` (``.npz`` arrays and a
    JSON header, no pickle), scan documents with :meth:`scan`.

    Examples
    --------
    >>> from tamis.decontam import EvalSet
    >>> item = "the quick brown fox jumps over the lazy dog near the old river bank today"
    >>> idx = DecontaminationIndex.build([EvalSet("demo", [item], ["q1"])], ngram=13)
    >>> idx.n_ngrams
    3
    >>> res = idx.scan(["Intro. The quick brown fox\\njumps over the LAZY dog, near the old river."])
    >>> int(res.n_matched[0]), res.items(0)
    (1, [('demo', 'q1', 1)])
    """

    def __init__(
        self, core: _core.DecontamIndex, set_names: list[str], item_ids: np.ndarray
    ) -> None:
        self.core = core
        self.set_names = list(set_names)
        self.item_ids = np.asarray(item_ids, dtype=str)
        self.item_set = core.arrays()["item_set"]

    @classmethod
    def build(
        cls,
        eval_sets: Any,
        *,
        ngram: int = 13,
        min_tokens: int = 8,
        n_threads: int | None = None,
    ) -> DecontaminationIndex:
        """Index the eval sets.

        Parameters
        ----------
        eval_sets
            ``EvalSet`` objects or a mapping ``{name: source}`` (see :func:`load_eval_set`).
        ngram
            Words per n-gram, 8 to 50 (GPT-3: 13).
        min_tokens
            Items with fewer than ``ngram`` tokens but at least ``min_tokens`` are indexed whole;
            shorter ones are not indexed (they would match common phrases).
        n_threads
            Worker threads (``None``: all cores).
        """
        check_int("ngram", ngram, 8, 50)
        check_int("min_tokens", min_tokens, 1, ngram)
        sets: list[EvalSet] = as_eval_sets(eval_sets)
        texts = [t for s in sets for t in s.texts]
        item_set = (
            np.concatenate([np.full(len(s.texts), i, np.uint32) for i, s in enumerate(sets)])
            if texts
            else np.zeros(0, np.uint32)
        )
        ids = np.array([x for s in sets for x in s.ids], dtype=str)
        core = _core.DecontamIndex.build(
            *buffers(pa.array(texts, pa.large_string())),
            item_set,
            len(sets),
            ngram=ngram,
            min_tokens=min_tokens,
            n_threads=check_threads(n_threads),
        )
        return cls(core, [s.name for s in sets], ids)

    @property
    def ngram(self) -> int:
        """Words per n-gram."""
        return int(self.core.ngram)

    @property
    def min_tokens(self) -> int:
        """Shortest item indexed (whole)."""
        return int(self.core.min_tokens)

    @property
    def n_ngrams(self) -> int:
        """Distinct n-grams indexed (short items count one each)."""
        return int(self.core.n_ngrams)

    @property
    def n_items(self) -> int:
        """Items of all sets."""
        return int(self.core.n_items)

    @property
    def nbytes(self) -> int:
        """Bytes of the lookup structures (keys, owners, directories, owner lists)."""
        return int(self.core.nbytes)

    @property
    def item_ngrams(self) -> np.ndarray:
        """Indexed n-grams of each item (0: shorter than ``min_tokens``)."""
        return self.core.arrays()["item_ngrams"]

    def save(self, path: Any) -> Path:
        """Write the index as ``.npz`` (arrays + JSON header; loads without pickle)."""
        params = {"ngram": self.ngram, "min_tokens": self.min_tokens, "set_names": self.set_names}
        return save_state(
            path, FORMAT, VERSION, params, item_ids=self.item_ids, **self.core.arrays()
        )

    @classmethod
    def load(cls, path: Any) -> DecontaminationIndex:
        """Read what :meth:`save` wrote (arrays checked: a corrupt file is an error)."""
        params, z = load_state(path, FORMAT, (VERSION,))
        with z:
            state = {k: z[k] for k in (*_ARRAYS, "item_ids")}
        return cls.from_state({**state, "params": params})

    def state(self) -> dict[str, Any]:
        """Plain arrays and parameters (what :meth:`from_state` takes; sent to Ray workers)."""
        params = {"ngram": self.ngram, "min_tokens": self.min_tokens, "set_names": self.set_names}
        return {"params": params, "item_ids": self.item_ids, **self.core.arrays()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DecontaminationIndex:
        """The index of :meth:`state` (arrays checked)."""
        params = state["params"]
        core = _core.DecontamIndex.from_arrays(
            ngram=int(params["ngram"]),
            min_tokens=int(params["min_tokens"]),
            n_sets=len(params["set_names"]),
            **{k: state[k] for k in _ARRAYS},
        )
        return cls(core, params["set_names"], state["item_ids"])

    def scan(self, texts: Any, *, max_items: int = 10, n_threads: int | None = None) -> ScanResult:
        """Look up every window of every document.

        Parameters
        ----------
        texts
            A text column: list of ``str``, pyarrow string array or chunked array.
        max_items
            Most matched items listed per document (most matched first).
        n_threads
            Worker threads (``None``: all cores).
        """
        check_int("max_items", max_items, 0)
        arr = _texts(texts)
        out = self.core.scan(*buffers(arr), max_items=max_items, n_threads=check_threads(n_threads))
        return ScanResult(dict(out), self.set_names, self.item_ids, self.item_set)

    def __repr__(self) -> str:
        return (
            f"DecontaminationIndex(sets={self.set_names}, items={self.n_items}, "
            f"ngram={self.ngram}, n_ngrams={self.n_ngrams}, nbytes={self.nbytes})"
        )
