"""DataLoader: batches of a dataset as Tensors, in one process or loaded in parallel by worker processes."""
from __future__ import annotations

import itertools

import numpy as np

from chainrule.random import resolve
from chainrule.utils.data.collate import default_collate, default_convert
from chainrule.utils.data.dataset import IterableDataset
from chainrule.utils.data.fetch import fetch
from chainrule.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler
from chainrule.utils.data.worker import ExhaustedMarker, WorkerFailure, WorkerPool
from chainrule.utils.data.worker import _fetch_iterable as fetch_iterable

_FIXED = ("batch_size", "batch_sampler", "drop_last", "dataset", "persistent_workers")


class DataLoader:
    """Iterate over a dataset in batches, with PyTorch's arguments and rules.

    Args:
        dataset (Dataset or IterableDataset).
        batch_size (int or None, 1): samples per batch; None yields the samples one by one, unbatched.
        shuffle (bool, None): a new random order every epoch (map-style datasets).
        sampler (iterable of indices, None): the order (not with ``shuffle``). chainrule's
            :class:`~chainrule.data.DistributedSampler` is also accepted here: it keeps this rank's
            share of every batch (``batch_size`` stays the global batch).
        batch_sampler (iterable of index lists, None): whole batches (not with batch_size, shuffle,
            sampler or drop_last).
        num_workers (int, 0): worker processes that load batches in parallel (0: in this process).
        collate_fn (callable, None): merges a list of samples into a batch (default_collate).
        pin_memory (bool, False): accepted; there is no GPU memory to pin.
        drop_last (bool, False): skip a last, smaller batch.
        timeout (float, 0): seconds to wait for a worker's batch before a RuntimeError (0: forever).
        worker_init_fn (callable, None): called with the worker id in each worker at its start.
        multiprocessing_context (str or context, None): "fork", "spawn" or "forkserver" (None: Python's default).
        generator (Generator, None): draws the shuffled orders and the workers' base seed.
        prefetch_factor (int, None): batches requested ahead per worker (2 with workers).
        persistent_workers (bool, False): keep the workers between epochs.
        in_order (bool, True): with workers, yield batches in the sampler's order (False: as they come).
        seed (int, None): chainrule's extension: with ``shuffle``, epoch ``e``'s order comes from
            ``seed`` and ``e`` alone (``set_epoch``), so a resumed run sees the same batches.

    Each worker seeds Python's ``random`` and chainrule's generator with ``base_seed + worker id``.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.utils.data import DataLoader, TensorDataset
        >>> ds = TensorDataset(cr.arange(10.0).reshape(5, 2), cr.tensor([0, 1, 0, 1, 1]))
        >>> [tuple(x.shape) for x, y in DataLoader(ds, batch_size=2)]
        [(2, 2), (2, 2), (1, 2)]
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers: int = 0,
                 collate_fn=None, pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True, seed=None):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. Let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.sharder = None
        if sampler is not None and callable(getattr(sampler, "shard", None)):
            self.sharder, sampler = sampler, None      # chainrule's DistributedSampler splits every batch
        is_iterable = isinstance(dataset, IterableDataset)
        if is_iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got "
                                 f"sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but "
                                 f"got batch_sampler={batch_sampler}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if sampler is None and not is_iterable:
            sampler = RandomSampler(dataset, generator=generator, seed=seed) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not is_iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif is_iterable and batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.batch_sampler, self.persistent_workers = batch_sampler, persistent_workers
        self._sampler = sampler
        self.num_workers, self.pin_memory, self.pin_memory_device, self.timeout = \
            num_workers, pin_memory, pin_memory_device, timeout
        self.worker_init_fn, self.multiprocessing_context, self.generator = \
            worker_init_fn, multiprocessing_context, generator
        self.prefetch_factor = prefetch_factor if num_workers == 0 or prefetch_factor is not None else 2
        self.in_order, self.seed, self.epoch = in_order, seed, 0
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self._auto_collation else default_convert)
        self._pool = None

    # ------------------------------------------------------------------ PyTorch's attributes
    def __setattr__(self, name, value):
        if name in _FIXED and name in self.__dict__:
            raise ValueError(f"{name} attribute should not be set after {type(self).__name__} is initialized")
        object.__setattr__(self, name, value)

    @property
    def sampler(self):
        return self._sampler

    @sampler.setter
    def sampler(self, value):
        if not callable(getattr(value, "shard", None)):
            raise ValueError(f"sampler attribute should not be set after {type(self).__name__} is initialized")
        self.sharder = value        # chainrule's DistributedSampler, set by the distributed Trainer

    @property
    def _is_iterable(self) -> bool:
        return isinstance(self.dataset, IterableDataset)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_size is not None or self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self._sampler

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffled order the next iteration uses (with ``seed``)."""
        self.epoch = epoch
        for s in (self._sampler, self.batch_sampler, getattr(self.batch_sampler, "sampler", None)):
            if callable(getattr(s, "set_epoch", None)):
                s.set_epoch(epoch)
                break

    def __len__(self):
        if self._is_iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    # ------------------------------------------------------------------ iteration
    def __iter__(self):
        return self.batches()

    def batches(self, start: int = 0):
        """Iterate from batch ``start`` on (chainrule's extension: a run resumed mid-epoch skips the
        batches it already took, without loading them)."""
        if self.num_workers == 0:
            return self._single(start)
        return self._multi(start)

    def _requests(self, start: int):
        """The index lists (or arrays) of the batches, from batch ``start`` on, sharded."""
        bs = self.batch_sampler
        order = bs.sampler.order() if type(bs) is BatchSampler and callable(getattr(bs.sampler, "order", None)) \
            else None
        if order is not None:       # the usual case: slices of one array, no Python list per batch
            size = bs.batch_size
            it = (order[b * size:(b + 1) * size] for b in range(start, len(bs)))
        else:
            it = itertools.islice(iter(self._index_sampler), start, None)
        if self.sharder is None:
            return it
        return (self.sharder.shard(np.asarray(b, dtype=np.int64)) for b in it)

    def _single(self, start: int):
        if self._is_iterable:
            it = iter(self.dataset)
            for _ in range(start):
                fetch_iterable(it, self._auto_collation, self.batch_size, self.drop_last, lambda b: b)
            while True:
                try:
                    yield fetch_iterable(it, self._auto_collation, self.batch_size, self.drop_last, self.collate_fn)
                except StopIteration:
                    return
        for indices in self._requests(start):
            yield fetch(self.dataset, indices, self._auto_collation, self.collate_fn)

    def _workers(self) -> WorkerPool:
        if self._pool is None or not self.persistent_workers:
            seed = int(resolve(self.generator).integers(2 ** 62))
            self._pool = WorkerPool(self, self.num_workers, seed)
        elif self._is_iterable:
            for w in range(self.num_workers):
                self._pool.put(w, ("reset", None, None))
        return self._pool

    def _multi(self, start: int):
        pool = self._workers()
        pool.epoch = epoch = getattr(pool, "epoch", -1) + 1     # answers to an abandoned epoch are dropped
        n = self.num_workers
        requests = None if self._is_iterable else self._requests(start)
        active = list(range(n))
        turn = itertools.count()
        sent, waiting = 0, {}          # waiting: request number -> worker
        skip = start if self._is_iterable else 0

        def send() -> bool:
            nonlocal sent
            if not active:
                return False
            if requests is not None:
                indices = next(requests, None)
                if indices is None:
                    return False
                msg = ("fetch", (epoch, sent), indices)
            else:
                msg = ("next", (epoch, sent), None)
            w = active[next(turn) % len(active)]
            pool.put(w, msg)
            waiting[sent] = w
            sent += 1
            return True

        try:
            for _ in range(self.prefetch_factor * n):
                if not send():
                    break
            done, ready = 0, {}
            while waiting:
                key = done if self.in_order else next(iter(ready), None)
                while key not in ready:
                    (ep, i), data = pool.get(self.timeout)
                    if ep == epoch:
                        ready[i] = data
                        key = key if self.in_order else i
                data = ready.pop(key)
                w = waiting.pop(key)
                done += 1
                if isinstance(data, ExhaustedMarker):
                    if w in active:
                        active.remove(w)
                    continue
                if isinstance(data, WorkerFailure):
                    data.reraise()
                send()
                if skip:
                    skip -= 1
                    continue
                yield data
        finally:
            if not self.persistent_workers:
                pool.shutdown()
                self._pool = None

    def __del__(self):
        pool = self.__dict__.get("_pool")
        if pool is not None:
            pool.shutdown()
