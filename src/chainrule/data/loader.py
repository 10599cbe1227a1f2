"""Datasets and the DataLoader that batches them into Tensors, reproducibly."""
from __future__ import annotations

import numpy as np

from chainrule.core import make
from chainrule.random import get_rng
from chainrule.tensor import Tensor


class Dataset:
    """A map-style dataset: ``len(ds)`` and ``ds[i] -> (x, y)``."""

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, i):
        raise NotImplementedError


class ArrayDataset(Dataset):
    """Inputs and labels held as arrays of equal length (batched by fancy indexing, fast).

    Args:
        X (array-like): inputs, shape (N, ...).
        y (array-like): labels, shape (N,).
        classes (list of str, None): class names, for reports.
    """

    def __init__(self, X, y, classes=None):
        X = X._data if isinstance(X, Tensor) else np.asarray(X)
        y = y._data if isinstance(y, Tensor) else np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"ArrayDataset: {len(X)} inputs but {len(y)} labels")
        self.X, self.y = X, y
        self.classes = list(classes) if classes is not None else None

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


TensorDataset = ArrayDataset


class DataLoader:
    """Iterate over a dataset in batches of Tensors ``(X, y)``.

    Args:
        dataset (Dataset): an ArrayDataset (fast path) or any map-style dataset.
        batch_size (int, 1).
        shuffle (bool, False): a new order every epoch, drawn from ``seed`` and the epoch number,
            so that a resumed run sees the same batches as an uninterrupted one.
        drop_last (bool, False): skip a last, smaller batch.
        seed (int, None): the shuffling seed (None: chainrule's generator).
        sampler (DistributedSampler, None): keep only this rank's share of every batch
            (``batch_size`` stays the global batch; see :mod:`chainrule.data.distributed`).
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False, seed=None,
                 sampler=None):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        if sampler is not None and not hasattr(sampler, "shard"):
            raise TypeError(f"DataLoader: sampler must be a chainrule.data.DistributedSampler (it shards every "
                            f"batch), got {type(sampler).__name__}; other samplers are not supported")
        self.seed, self.sampler = seed, sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration uses."""
        self.epoch = epoch

    def order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self.seed is None:
            return get_rng().permutation(n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(n)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batches(self, start: int = 0):
        """Yield batches from batch index ``start`` on (used to resume mid-epoch)."""
        idx = self.order()
        ds = self.dataset
        for b in range(start, len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            if self.sampler is not None:
                sel = self.sampler.shard(sel)
            if isinstance(ds, ArrayDataset):
                X, y = ds.X[sel], ds.y[sel]
            elif not len(sel):    # a rank's empty share of a small last batch
                x0, y0 = ds[0]
                X, y = (np.empty((0, *np.shape(a)), np.asarray(a).dtype) for a in (x0, y0))
            else:
                items = [ds[int(i)] for i in sel]
                X, y = np.stack([np.asarray(a) for a, _ in items]), np.asarray([b_ for _, b_ in items])
            yield make(np.ascontiguousarray(X)), make(np.asarray(y))

    def __iter__(self):
        return self.batches()
