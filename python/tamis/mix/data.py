"""The sampler as a ``torch.utils.data.IterableDataset`` (torch is imported only here)."""

from __future__ import annotations

from typing import Any

from tamis.mix.sampler import MixtureSampler


def torch_dataset(
    sampler: MixtureSampler,
    *,
    batches: bool = False,
    resume_batches: int = 0,
    loader_batch_size: int = 1,
) -> Any:
    """An ``IterableDataset`` over ``sampler`` that splits it across DataLoader workers.

    Each worker of each rank reads a disjoint shard of the stream (positions ``p`` with
    ``p mod (world_size × num_workers) = rank + world_size × worker_id``); the union over workers
    and ranks is the single-process stream. Set the rank with the sampler's ``rank`` and
    ``world_size`` (e.g. from ``torch.distributed.get_rank()``).

    ``batches=True`` yields Arrow record batches (use ``batch_size=None`` in the DataLoader);
    otherwise one ``dict`` per document (the default collate makes lists of the strings).

    Resuming a DataLoader: pass ``resume_batches`` (batches the loader already gave) and
    ``loader_batch_size`` (the DataLoader's ``batch_size``; 1 with ``batches=True``). The
    DataLoader takes batches from its workers in turn, so worker ``i`` of the new loader takes
    over shard ``(i + resume_batches) mod num_workers`` and skips what that shard gave
    (:meth:`MixtureSampler.skip`): the new loader continues exactly where the old one stopped.
    """
    import torch.utils.data as tud

    if resume_batches < 0 or loader_batch_size < 1:
        raise ValueError("resume_batches must be >= 0 and loader_batch_size >= 1")

    class MixtureDataset(tud.IterableDataset):
        def __init__(self) -> None:
            self.sampler = sampler

        def __iter__(self) -> Any:
            info = tud.get_worker_info()
            n_workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
            shard = (worker + resume_batches) % n_workers
            s = self.sampler.shard(shard, n_workers) if n_workers > 1 else self.sampler
            if resume_batches:
                # Loader batches j < resume_batches came from shard j mod n_workers.
                done = len(range(shard, resume_batches, n_workers))
                s = s.shard(0, 1) if s is self.sampler else s  # a copy: leave the user's alone
                s.skip(done * (s.batch_size if batches else loader_batch_size))
            return s.iter_batches() if batches else iter(s)

    return MixtureDataset()
