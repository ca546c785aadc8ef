"""``Decontaminator``: the estimator over the index, the scan and the actions."""

from __future__ import annotations

from typing import Any

import numpy as np

from tamis._base import Estimator, Selection, check_is_fitted
from tamis._validation import check_int
from tamis.decontam._actions import ACTIONS, contaminated, cut_text
from tamis.decontam._evalsets import as_eval_sets
from tamis.decontam._index import DecontaminationIndex, ScanResult, _texts
from tamis.decontam._report import Report

#: Items listed per document for the report (the output column keeps ``max_items``).
REPORT_ITEMS = 1000


class Decontaminator(Estimator):
    """Find evaluation items in a corpus and flag, drop or cut the documents that contain them.

    Parameters
    ----------
    ngram
        Words per n-gram, 8 to 50 (GPT-3: 13).
    min_tokens
        Shortest item indexed (whole, when shorter than ``ngram``).
    action
        ``"flag"`` (keep every document, explain), ``"drop"`` (remove contaminated documents) or
        ``"cut"`` (remove the matched spans plus ``margin`` characters).
    min_matches
        Matched windows that make a document contaminated.
    matched_fraction
        Also require this fraction of the document's n-grams to be matched (0: any).
    margin, min_fragment_chars, max_fragments
        ``cut``: characters removed around each span, shortest fragment kept, most fragments
        before the whole document is dropped (GPT-3: 200, 200, 10).
    max_items
        Items listed per document in the output.
    n_threads
        Worker threads (``None``: all cores).

    Examples
    --------
    >>> from tamis.decontam import EvalSet
    >>> item = "the quick brown fox jumps over the lazy dog near the old river bank today"
    >>> d = Decontaminator(action="drop").fit([EvalSet("demo", [item], ["q1"])])
    >>> sel = d.select(["clean text", "THE QUICK brown fox jumps over the lazy dog near the old river"])
    >>> sel.indices.tolist(), sel.rows["contaminated"].tolist()
    ([0], [False, True])
    """

    def __init__(
        self,
        ngram: int = 13,
        min_tokens: int = 8,
        action: str = "flag",
        min_matches: int = 1,
        matched_fraction: float = 0.0,
        margin: int = 200,
        min_fragment_chars: int = 200,
        max_fragments: int = 10,
        max_items: int = 10,
        n_threads: int | None = None,
    ) -> None:
        self.ngram = ngram
        self.min_tokens = min_tokens
        self.action = action
        self.min_matches = min_matches
        self.matched_fraction = matched_fraction
        self.margin = margin
        self.min_fragment_chars = min_fragment_chars
        self.max_fragments = max_fragments
        self.max_items = max_items
        self.n_threads = n_threads

    def _check(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        check_int("min_matches", self.min_matches, 1)
        if not 0.0 <= float(self.matched_fraction) <= 1.0:
            raise ValueError(f"matched_fraction must be in [0, 1], got {self.matched_fraction}")
        check_int("margin", self.margin, 0)
        check_int("min_fragment_chars", self.min_fragment_chars, 0)
        check_int("max_fragments", self.max_fragments, 1)
        check_int("max_items", self.max_items, 0)

    def fit(self, eval_sets: Any, **load_kwargs: Any) -> Decontaminator:
        """Build the index of ``eval_sets`` (``EvalSet`` objects or ``{name: source}``)."""
        self._check()
        self.index_ = DecontaminationIndex.build(
            as_eval_sets(eval_sets, **load_kwargs),
            ngram=self.ngram,
            min_tokens=self.min_tokens,
            n_threads=self.n_threads,
        )
        return self

    def set_index(self, index: DecontaminationIndex) -> Decontaminator:
        """Use a built (or loaded) index instead of :meth:`fit`."""
        self._check()
        self.index_ = index
        self.ngram = index.ngram
        self.min_tokens = index.min_tokens
        return self

    def scan(self, texts: Any) -> tuple[ScanResult, np.ndarray]:
        """Scan one batch: ``(result, contaminated mask)``."""
        check_is_fitted(self, "index_")
        res = self.index_.scan(texts, max_items=REPORT_ITEMS, n_threads=self.n_threads)
        flag = contaminated(
            res, min_matches=self.min_matches, matched_fraction=self.matched_fraction
        )
        return res, flag

    def cut(self, text: str, spans: list[tuple[int, int]]) -> list[str] | None:
        """The fragments of a contaminated ``text`` kept by ``cut`` (``None``: drop it)."""
        return cut_text(
            text,
            spans,
            margin=self.margin,
            min_fragment_chars=self.min_fragment_chars,
            max_fragments=self.max_fragments,
        )

    def select(self, texts: Any, ids: Any = None) -> Selection:
        """Scan ``texts``; the selection is the documents kept (input order).

        With ``action="flag"`` every document is kept. ``rows`` holds ``contaminated``,
        ``n_matched`` and ``matched_fraction`` for every input row; ``info["report"]`` the
        per-eval-set report. ``cut`` keeps the documents that still have a fragment (use
        :meth:`cut` for the fragments).
        """
        arr = _texts(texts)
        res, flag = self.scan(arr)
        ids = np.arange(len(res)) if ids is None else ids
        report = Report(self.index_)
        report.add(res, ids, flag)
        self.report_ = report.to_dict()
        if self.action == "flag":
            keep = np.ones(len(res), bool)
        elif self.action == "drop":
            keep = ~flag
        else:
            keep = ~flag
            docs = arr.to_pylist()
            for i in np.flatnonzero(flag):
                frags = self.cut(docs[i] or "", res.spans(int(i)))
                keep[i] = bool(frags)
        idx = np.flatnonzero(keep)
        id_arr = np.asarray(ids)
        return Selection(
            indices=idx,
            ids=id_arr[idx],
            rows={
                "contaminated": flag,
                "n_matched": res.n_matches,
                "matched_fraction": res.matched_fraction,
            },
            n_rows=len(res),
            method=f"decontam/{self.action}",
            info={"report": self.report_, "n_contaminated": int(flag.sum())},
        )


def apply_batch(
    d: Decontaminator, batch: Any, text_column: str = "text"
) -> tuple[Any, ScanResult, np.ndarray]:
    """Scan one Arrow batch and apply ``d.action``: ``(output table, result, contaminated)``.

    ``flag`` adds the explanation columns to every row; ``drop`` keeps the clean rows; ``cut``
    keeps clean rows whole and replaces each contaminated row by its fragments (a ``fragment``
    column numbers them; -1 for an untouched row). Used by the CLI and the Ray backend alike.
    """
    import pyarrow as pa

    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    res, flag = d.scan(table.column(text_column))
    if d.action == "flag":
        for name, col in res.columns(d.max_items).items():
            table = table.append_column(name, col)
        return table.append_column("contaminated", pa.array(flag)), res, flag
    if d.action == "drop":
        return table.filter(pa.array(~flag)), res, flag
    texts = table.column(text_column).to_pylist()
    rows: list[int] = []
    new_text: list[str | None] = []
    frag_no: list[int] = []
    for i in range(table.num_rows):
        if not flag[i]:
            rows.append(i)
            new_text.append(texts[i])
            frag_no.append(-1)
            continue
        for k, frag in enumerate(d.cut(texts[i] or "", res.spans(i)) or []):
            rows.append(i)
            new_text.append(frag)
            frag_no.append(k)
    out = table.take(pa.array(rows, pa.int64()))
    j = out.column_names.index(text_column)
    out = out.set_column(j, text_column, pa.array(new_text, out.schema.field(j).type))
    return out.append_column("fragment", pa.array(frag_no, pa.int32())), res, flag
