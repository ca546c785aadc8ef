"""The sampler as a ``torch.utils.data.IterableDataset`` (torch is imported only here)."""

from __future__ import annotations

from typing import Any

from tamis.mix.sampler import MixtureSampler


def torch_dataset(sampler: MixtureSampler, *, batches: bool = False) -> Any:
    """An ``IterableDataset`` over ``sampler`` that splits it across DataLoader workers.

    Each worker of each rank reads a disjoint shard of the stream (positions ``p`` with
    ``p mod (world_size × num_workers) = rank + world_size × worker_id``); the union over workers
    and ranks is the single-process stream. Set the rank with the sampler's ``rank`` and
    ``world_size`` (e.g. from ``torch.distributed.get_rank()``).

    ``batches=True`` yields Arrow record batches (use ``batch_size=None`` in the DataLoader);
    otherwise one ``dict`` per document (the default collate makes lists of the strings).
    """
    import torch.utils.data as tud

    class MixtureDataset(tud.IterableDataset):
        def __init__(self) -> None:
            self.sampler = sampler

        def __iter__(self) -> Any:
            info = tud.get_worker_info()
            s = self.sampler if info is None else self.sampler.shard(info.id, info.num_workers)
            return s.iter_batches() if batches else iter(s)

    return MixtureDataset()
