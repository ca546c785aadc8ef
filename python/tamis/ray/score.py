"""Scoring on Ray: an actor pool of :class:`tamis.LMScorer` replicas, each with ``num_gpus``."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from tamis.ray._context import init
from tamis.ray._read import read_dataset


class _ScoreActor:
    def __init__(self, kwargs: dict[str, Any], text_column: str, metrics: Any) -> None:
        from tamis.scoring import LMScorer

        self.scorer = LMScorer(**kwargs)
        self.text_column = text_column
        self.metrics = metrics

    def __call__(self, batch: pa.Table) -> pa.Table:
        if not batch.num_rows:  # an empty file's block may have no columns
            return batch
        scores = self.scorer.score(batch.column(self.text_column), self.metrics)
        for name in scores.column_names:
            batch = batch.append_column(name, scores.column(name))
        return batch


def score(
    source: Any,
    *,
    model: Any,
    tokenizer: Any = None,
    text_column: str = "text",
    metrics: Any = None,
    num_actors: int = 1,
    num_gpus: float = 0.0,
    num_cpus: float = 1.0,
    batch_size: int = 256,
    **scorer_kwargs: Any,
) -> Any:
    """Score documents with :class:`tamis.LMScorer` replicas in a Ray actor pool.

    Each actor holds one model (``num_gpus`` per actor; the device defaults to CUDA when the actor
    has a GPU). Returns a lazy Ray Dataset: the input columns plus the score columns.
    """
    ray = init()
    ds = read_dataset(source, text_column=text_column)
    kwargs = {"model": model, "tokenizer": tokenizer, **scorer_kwargs}
    if num_gpus and "device" not in kwargs:
        kwargs["device"] = "cuda"
    return ds.map_batches(
        _ScoreActor,
        batch_format="pyarrow",
        batch_size=batch_size,
        fn_constructor_kwargs={"kwargs": kwargs, "text_column": text_column, "metrics": metrics},
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_gpus=num_gpus,
        num_cpus=num_cpus,
    )
