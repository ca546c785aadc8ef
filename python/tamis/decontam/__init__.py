"""Decontamination: find evaluation items in a corpus, report them, flag, drop or cut.

``DecontaminationIndex`` indexes the word n-grams of named eval sets (exact 64-bit hashes after
a normalisation that ignores line wrapping, case, punctuation and whitespace); its ``scan``
finds them in documents, with counts, items and character spans. ``Decontaminator`` is the
estimator over it; ``DatatroveDecontaminator`` reproduces datatrove's n-gram filter. See
``docs/decontamination.md``.
"""

from tamis.decontam._actions import ACTIONS, contaminated, cut_text
from tamis.decontam._datatrove import DatatroveDecontaminator, SpacySplitter
from tamis.decontam._decontaminator import REPORT_ITEMS, Decontaminator, apply_batch
from tamis.decontam._evalsets import EvalSet, as_eval_sets, load_eval_set
from tamis.decontam._index import DecontaminationIndex, ScanResult
from tamis.decontam._inject import MODES, disguise, inject
from tamis.decontam._report import Report

__all__ = [
    "ACTIONS",
    "MODES",
    "REPORT_ITEMS",
    "DatatroveDecontaminator",
    "DecontaminationIndex",
    "Decontaminator",
    "EvalSet",
    "Report",
    "ScanResult",
    "SpacySplitter",
    "apply_batch",
    "as_eval_sets",
    "contaminated",
    "cut_text",
    "disguise",
    "inject",
    "load_eval_set",
]
