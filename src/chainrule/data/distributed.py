"""DistributedSampler: each rank's share of every global batch, in the order the seeded loader gives.

Unlike PyTorch's DistributedSampler (which splits the dataset, so that each rank batches its own
part), this one splits each batch: with ``DataLoader(ds, batch_size=B, shuffle=True, seed=s,
sampler=DistributedSampler())`` every rank draws the same global batch of B samples as a
one-process run and keeps its share. B not divisible by K: shares differ by one (the first
B mod K ranks take one more); DistributedDataParallel weights each rank's gradient by its share,
so K ranks compute exactly the one-process gradient of every batch.
"""
from __future__ import annotations

import numpy as np

from chainrule import distributed as dist


class DistributedSampler:
    """Shard every batch of a DataLoader across the ranks of the process group.

    Args:
        num_replicas (int, None): the number of ranks K (None: the group's world size).
        rank (int, None): this rank (None: the group's rank).

    Rank r of K gets rows ``[r * n // K + min(r, n % K) ...)`` of a batch of n: contiguous
    shares whose sizes differ by at most one, as ``numpy.array_split`` makes them.

        >>> s = DistributedSampler(num_replicas=3, rank=1)
        >>> s.shard(np.arange(8))
        array([3, 4, 5])
    """

    def __init__(self, num_replicas: int | None = None, rank: int | None = None):
        if num_replicas is None or rank is None:
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank {rank} is not in [0, {num_replicas})")
        self.num_replicas, self.rank = int(num_replicas), int(rank)

    def bounds(self, n: int) -> tuple:
        """(start, stop) of this rank's rows in a batch of ``n``."""
        q, r = divmod(n, self.num_replicas)
        start = self.rank * q + min(self.rank, r)
        return start, start + q + (1 if self.rank < r else 0)

    def shard(self, indices: np.ndarray) -> np.ndarray:
        """This rank's share of one batch's sample indices."""
        a, b = self.bounds(len(indices))
        return indices[a:b]
