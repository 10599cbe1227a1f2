"""Samplers: the order in which a DataLoader visits a map-style dataset's indices, and their batching."""
from __future__ import annotations

import numpy as np

from chainrule.random import resolve


class Sampler:
    """Base class: an iterable of dataset indices (``__iter__``, and ``__len__`` where it is known)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def order(self) -> np.ndarray:
        """The whole order as one array (what iterating gives), for the DataLoader's fast path."""
        return np.arange(len(self.data_source))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the indices (a new one every iteration), or ``num_samples`` draws with replacement.

    Args:
        data_source (Dataset).
        replacement (bool, False): draw with replacement.
        num_samples (int, None): how many indices (default: the dataset's length).
        generator (Generator, None): the stream (None: chainrule's global one).
        seed (int, None): chainrule's extension: the order of epoch ``e`` (see ``set_epoch``) is drawn
            from ``seed`` and ``e`` alone, so a resumed run sees the batches of an uninterrupted one.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples=None, generator=None, *, seed=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        if num_samples is not None and (not isinstance(num_samples, int) or isinstance(num_samples, bool)
                                        or num_samples <= 0):
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if seed is not None and generator is not None:
            raise ValueError("RandomSampler: pass generator= or seed=, not both")
        self.data_source, self.replacement, self._num_samples = data_source, replacement, num_samples
        self.generator, self.seed, self.epoch = generator, seed, 0

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration draws (with ``seed``)."""
        self.epoch = epoch

    def _rng(self) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng([self.seed, self.epoch])
        return resolve(self.generator)

    def __iter__(self):
        n, k, rng = len(self.data_source), self.num_samples, self._rng()
        # drawn lazily, a chunk at a time: num_samples may be huge (an "infinite" sampler)
        if self.replacement:
            for start in range(0, k, 32):
                yield from rng.integers(0, n, size=min(32, k - start)).tolist()
            return
        for start in range(0, k, max(n, 1)):
            yield from rng.permutation(n)[:k - start].tolist()

    def order(self):
        """The next iteration's order as one array (the same draws as iterating), or None where it is
        drawn lazily (with replacement, or num_samples other than the dataset's length)."""
        if self.replacement or self.num_samples != len(self.data_source):
            return None
        return self._rng().permutation(len(self.data_source))

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        for i in resolve(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights``."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {w.shape}")
        self.weights, self.num_samples, self.replacement, self.generator = w, num_samples, replacement, generator

    def __iter__(self):
        p = self.weights / self.weights.sum()
        return iter(resolve(self.generator).choice(len(p), self.num_samples, replace=self.replacement, p=p).tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless ``drop_last``).

    Example:
        >>> from chainrule.utils.data import BatchSampler, SequentialSampler
        >>> list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False))
        [[0, 1, 2], [3, 4, 5], [6]]
    """

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
