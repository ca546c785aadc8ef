"""The per-eval-set report: which items were found in the corpus, and in which documents."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from tamis.decontam._index import DecontaminationIndex, ScanResult


class Report:
    """Accumulates scan results batch by batch; :meth:`to_dict` gives the JSON report.

    For each eval set: its items, how many are indexed, how many were found in the corpus, how
    many documents hit the set, and the most contaminated items (by documents, then matched
    windows) with the ids of the corpus documents that contain them.
    """

    def __init__(self, index: DecontaminationIndex, *, max_documents: int = 10) -> None:
        self.index = index
        self.max_documents = max_documents
        self.n_documents = 0
        self.n_contaminated = 0
        self.set_docs = np.zeros(len(index.set_names), np.int64)
        self.item_docs: dict[int, int] = defaultdict(int)
        self.item_windows: dict[int, int] = defaultdict(int)
        self.item_examples: dict[int, list[str]] = defaultdict(list)

    def add(self, res: ScanResult, ids: Any, flagged: np.ndarray) -> None:
        """Add a batch: its scan result, its document ids and the documents flagged."""
        ids = list(ids)
        self.n_documents += len(res)
        self.n_contaminated += int(flagged.sum())
        sip, sids = res.arrays["set_indptr"], res.arrays["set_ids"]
        iip, iids, icnt = (
            res.arrays["item_indptr"],
            res.arrays["item_ids"],
            res.arrays["item_counts"],
        )
        for i in np.flatnonzero(flagged):
            for s in sids[sip[i] : sip[i + 1]]:
                self.set_docs[s] += 1
            for it, cnt in zip(
                iids[iip[i] : iip[i + 1]].tolist(), icnt[iip[i] : iip[i + 1]].tolist()
            ):
                self.item_docs[it] += 1
                self.item_windows[it] += cnt
                ex = self.item_examples[it]
                if len(ex) < self.max_documents:
                    ex.append(str(ids[i]))

    def to_dict(self, top: int = 20) -> dict[str, Any]:
        """The report as plain JSON types."""
        idx = self.index
        item_set = idx.item_set
        indexed = idx.item_ngrams > 0
        sets: dict[str, Any] = {}
        for s, name in enumerate(idx.set_names):
            members = np.flatnonzero(item_set == s)
            found = [it for it in self.item_docs if item_set[it] == s]
            found.sort(key=lambda it: (-self.item_docs[it], -self.item_windows[it], it))
            sets[name] = {
                "items": len(members),
                "items_indexed": int(indexed[members].sum()),
                "items_found": len(found),
                "items_found_fraction": round(len(found) / max(1, int(indexed[members].sum())), 6),
                "documents_hit": int(self.set_docs[s]),
                "most_contaminated_items": [
                    {
                        "id": str(idx.item_ids[it]),
                        "documents": self.item_docs[it],
                        "matched_ngrams": self.item_windows[it],
                        "item_ngrams": int(idx.item_ngrams[it]),
                        "document_ids": self.item_examples[it],
                    }
                    for it in found[:top]
                ],
            }
        return {
            "documents": self.n_documents,
            "contaminated_documents": self.n_contaminated,
            "ngram": idx.ngram,
            "index_ngrams": idx.n_ngrams,
            "eval_sets": sets,
        }
