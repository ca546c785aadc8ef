"""One featurisation for DSIR's two passes over the raw corpus: the bucket ids kept in between.

:meth:`~tamis.importance.ImportanceResampler.fit_resample` counts the raw corpus's n-gram buckets
(the fit) and then weights every raw document (the selection). Tokenising and hashing are most of
both passes, so while counting it keeps each row's bucket ids (``_core.tape_record``: 2 bytes per
n-gram, about 0.8 bytes per byte of English text) as long as they fit ``budget`` bytes; the
weighting pass then only sums log ratios over them (``ImportanceModel.log_weights_tape``, in the
same order as ``log_weights``, so the weights are bit-identical). Past the budget, or with more
than 65,536 buckets, the tape is dropped and the second pass featurises again, as before.

A batch of the second pass uses the tape only if the tape holds exactly its rows: the same first
row and the same text length in bytes for every row (the corpus is read twice the same way);
otherwise it is featurised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis.features import HashingFeaturizer
from tamis.io import buffers

#: Buckets a tape can hold (its ids are ``uint16``).
MAX_BUCKETS = 1 << 16


@dataclass(frozen=True)
class TapePart:
    """The tape of one batch of the counting pass."""

    first_row: int
    #: Text length in bytes per row (checks that a later batch holds the same rows).
    text_lengths: np.ndarray
    ids: np.ndarray
    lens: np.ndarray
    n_tokens: np.ndarray


class Tape:
    """Bucket ids of consecutive raw rows, batch by batch, within a memory budget (bytes)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.parts: dict[int, TapePart] = {}
        self.n_rows = 0
        self.nbytes = 0

    def add(self, part: TapePart) -> bool:
        """Keep ``part``; False (and nothing kept) once the budget is exceeded."""
        self.nbytes += sum(
            a.nbytes for a in (part.text_lengths, part.ids, part.lens, part.n_tokens)
        )
        if self.nbytes > self.budget:
            self.parts.clear()
            return False
        self.parts[part.first_row] = part
        self.n_rows += len(part.lens)
        return True

    def scores(
        self, model: Any, text: pa.Array, first_row: int
    ) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """Log weights ``(n, n_targets)`` and token counts of rows ``first_row...``.

        None if the tape does not hold exactly these rows.
        """
        part = self.parts.get(first_row)
        if part is None or len(part.lens) != len(text):
            return None
        offsets = buffers(text)[0]
        if not np.array_equal(np.diff(offsets), part.text_lengths):
            return None
        w = model.core.log_weights_tape(
            part.ids,
            part.lens,
            part.n_tokens,
            length_norm=model.params.length_norm,
            n_threads=model.params.n_threads,
        )
        return w, part.n_tokens


def count_with_tape(
    featurizer: HashingFeaturizer, batches: Iterable[Any], *, text_column: str, budget: int
) -> tuple[np.ndarray, Optional[Tape]]:
    """Bucket counts of record batches and their tape.

    The counts are :func:`~tamis.importance.model.count_ngrams`'s; the tape is None when it did
    not fit ``budget`` bytes or the model has too many buckets.
    """
    out = np.zeros(featurizer.n_buckets, dtype=np.uint64)
    keep = budget > 0 and featurizer.n_buckets <= MAX_BUCKETS
    tape: Optional[Tape] = Tape(budget) if keep else None
    first_row = 0
    for batch in batches:
        text = batch.column(text_column)
        text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
        if tape is None:
            featurizer.count(text, out)
        else:
            offsets, data, valid = buffers(text)
            ids, lens, n_tokens = _core.tape_record(
                featurizer._core, offsets, data, out, valid, featurizer.n_threads
            )
            part = TapePart(first_row, np.diff(offsets), ids, lens, n_tokens)
            if not tape.add(part):
                tape = None
        first_row += len(text)
    return out, tape
