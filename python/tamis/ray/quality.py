"""``tamis quality score`` on Ray: every block scored by the hashed classifier, in input order.

The classifier travels as plain arrays (:meth:`HashedClassifier.to_arrays`) and is rebuilt once
per block; each block calls :func:`tamis.quality.score_table`, the local engine.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis.quality import HashedClassifier, score_table
from tamis.ray._context import POS, collect, init
from tamis.ray._read import row_numbered


def _score_block(batch: pa.Table, state: tuple[Any, ...], min_score: Optional[float]) -> pa.Table:
    if not batch.num_rows:
        return batch
    clf = HashedClassifier.from_arrays(*state)
    return score_table(clf, batch, min_score=min_score)


def quality_score(
    source: Any,
    classifier: HashedClassifier,
    *,
    min_score: Optional[float] = None,
    text_column: str = "text",
    id_column: Optional[str] = None,
    num_blocks: Optional[int] = None,
) -> tuple[pa.Table, int]:
    """Score ``source`` on Ray: ``(kept rows in input order, rows read)``.

    The same rows and columns as :func:`tamis.quality.score_table` over the whole input (the kept
    rows are gathered on the driver).
    """
    init()
    ds, n_rows = row_numbered(
        source, text_column=text_column, id_column=id_column, num_blocks=num_blocks
    )
    params, coef, intercept, classes = classifier.to_arrays()
    state = ({**params, "text_column": text_column, "n_threads": 1}, coef, intercept, classes)
    table = collect(
        ds.map_batches(
            _score_block,
            batch_format="pyarrow",
            fn_kwargs={"state": state, "min_score": min_score},
        )
    )
    if table.num_rows:
        table = table.take(pa.array(np.argsort(table.column(POS).to_numpy(), kind="stable")))
        table = table.drop_columns([POS])
    return table, n_rows
