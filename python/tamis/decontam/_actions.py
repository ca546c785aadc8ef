"""What to do with a contaminated document: flag it, drop it, or cut the matched spans out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tamis.decontam._index import ScanResult

ACTIONS = ("flag", "drop", "cut")


def contaminated(
    res: ScanResult, *, min_matches: int = 1, matched_fraction: float = 0.0
) -> np.ndarray:
    """Contaminated documents (a boolean mask).

    A document is contaminated when it has at least ``min_matches`` matched windows and at
    least ``matched_fraction`` of its n-grams matched.
    """
    mask = res.n_matches >= min_matches
    if matched_fraction > 0:
        mask &= res.matched_fraction >= matched_fraction
    return mask


def cut_text(
    text: str,
    spans: Sequence[tuple[int, int]],
    *,
    margin: int = 200,
    min_fragment_chars: int = 200,
    max_fragments: int = 10,
) -> list[str] | None:
    """Remove matched spans plus ``margin`` characters on each side (GPT-3's recipe).

    The text between removed regions forms the fragments. As in GPT-3 (Brown et al., 2020,
    appendix C: 200-character windows, pieces under 200 characters discarded, documents in more
    than 10 pieces removed), a document split into more than ``max_fragments`` pieces is dropped
    (``None``), and pieces shorter than ``min_fragment_chars`` (after trimming whitespace) are
    discarded.

    Examples
    --------
    >>> cut_text("keep this. BAD PART. and this", [(11, 20)], margin=0, min_fragment_chars=5)
    ['keep this.', 'and this']
    """
    if not spans:
        return [text]
    pieces = []
    pos = 0
    for a, b in sorted(spans):
        lo, hi = max(0, a - margin), min(len(text), b + margin)
        if lo > pos:
            pieces.append(text[pos:lo])
        pos = max(pos, hi)
    if pos < len(text):
        pieces.append(text[pos:])
    if len(pieces) > max_fragments:
        return None
    return [s for s in (p.strip() for p in pieces) if len(s) >= min_fragment_chars]
