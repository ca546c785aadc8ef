"""``tamis filter`` on Ray: every block decided by the local engine (:func:`decide_batch`).

The work is per document, so a block needs nothing from another: each actor rebuilds the stages
once from the command's arguments (:func:`tamis.cli.filter.build_stages`: the rules, a fastText
model, an eval-set index), decides its blocks, and returns every row with the statistics columns
and the reason code. The driver receives the blocks in input order (the backend preserves order)
and writes kept rows, rejected rows and the drop table exactly as the local backend does.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any, Optional

import pyarrow as pa

from tamis.ray._context import init
from tamis.ray._read import read_dataset


class _FilterBlock:
    def __init__(self, args: argparse.Namespace) -> None:
        from tamis.cli.filter import build_stages

        self.stages, _, self.offsets = build_stages(args)
        self.stats = bool(args.stats)

    def __call__(self, block: pa.Table) -> pa.Table:
        from tamis.cli.filter import decide_batch

        if not block.num_rows:
            return block
        tables = [
            decide_batch(self.stages, self.offsets, b, self.stats) for b in block.to_batches()
        ]
        return pa.concat_tables(tables)


def filter_documents(
    source: Any,
    args: argparse.Namespace,
    *,
    text_column: str = "text",
    id_column: Optional[str] = None,
    batch_size: int = 4096,
    num_actors: Optional[int] = None,
) -> Iterator[pa.Table]:
    """Decide every document of ``source`` on Ray with the stages ``args`` names.

    ``args``: the ``tamis filter`` arguments (files they name absolute: workers may run
    elsewhere; :func:`tamis.cli.filter.portable_args`). Yields, block by block in input order,
    every row with the statistics columns (``args.stats``) and
    :data:`tamis.cli.filter.CODE`, as :func:`tamis.cli.filter.decide_batch` does locally.
    ``num_actors``: stage replicas (default: the cluster's CPUs less one, at least one), each
    deciding with one thread.
    """
    ray = init()
    if num_actors is None:
        num_actors = max(1, int(ray.cluster_resources().get("CPU", 1)) - 1)
    worker_args = argparse.Namespace(**{**vars(args), "n_threads": 1})
    ds = read_dataset(source, text_column=text_column, id_column=id_column)
    decided = ds.map_batches(
        _FilterBlock,
        batch_format="pyarrow",
        batch_size=batch_size,
        fn_constructor_kwargs={"args": worker_args},
        concurrency=num_actors,
    )
    for block in decided.iter_batches(batch_format="pyarrow", batch_size=None):
        if block.num_rows:
            yield block
