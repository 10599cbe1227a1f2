"""DataLoader worker processes: each loads and collates whole batches in parallel with the others
and with training, and sends them back through a multiprocessing queue.

The dataset reaches a worker as the process starts (inherited by fork, or pickled by spawn), and
batches come back pickled: both ends are chainrule's own processes, and nothing read from a file
is ever unpickled. ``get_worker_info()`` tells code inside a worker which one it is (to give each
worker its share of an IterableDataset).
"""
from __future__ import annotations

import multiprocessing
import queue
import random
import sys
import time
import traceback
import weakref
from dataclasses import dataclass

from chainrule import random as cr_random
from chainrule.utils.data.fetch import fetch as fetch_batch


@dataclass(frozen=True)
class WorkerInfo:
    """Inside a worker: its ``id`` (0 ... num_workers - 1), ``num_workers``, its ``seed`` and its copy
    of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The WorkerInfo of the worker process this runs in, or None in the main process.

    Example (an IterableDataset that gives each worker every num_workers-th item)::

        def __iter__(self):
            info = get_worker_info()
            start, step = (0, 1) if info is None else (info.id, info.num_workers)
            return iter(self.items[start::step])
    """
    return _worker_info


class ExhaustedMarker:
    """What a worker sends when its copy of an IterableDataset has no more items."""


class _PlainMessage(str):
    """A message that prints as itself even where Python shows its repr (a KeyError's argument)."""

    def __repr__(self):
        return str(self)


class WorkerFailure:
    """An exception raised in a worker, carried back to the main process and raised there again."""

    def __init__(self, worker_id: int, where: str = ""):
        exc = sys.exc_info()[1]
        self.exc_type, self.message = type(exc), str(exc)
        self.worker_id, self.where = worker_id, where
        self.trace = traceback.format_exc()

    def reraise(self):
        msg = (f"Caught {self.exc_type.__name__} in DataLoader worker process {self.worker_id}{self.where}: "
               f"{self.message}\nOriginal {self.trace}")
        if issubclass(self.exc_type, KeyError):   # KeyError prints its argument's repr: keep the lines
            msg = _PlainMessage(msg)
        try:
            err = self.exc_type(msg)
        except Exception:       # an exception type that takes other arguments
            err = RuntimeError(msg)
        raise err


def _fetch_iterable(it, auto_collation: bool, batch_size: int, drop_last: bool, collate_fn):
    if not auto_collation:
        return collate_fn(next(it))
    items = []
    for item in it:
        items.append(item)
        if len(items) == batch_size:
            break
    if not items or (drop_last and len(items) < batch_size):
        raise StopIteration
    return collate_fn(items)


def worker_loop(dataset, is_iterable: bool, auto_collation: bool, batch_size, drop_last: bool, collate_fn,
                index_queue, result_queue, worker_id: int, num_workers: int, seed: int, init_fn) -> None:
    """The body of one worker: take (kind, key, indices) requests until None, answer (key, batch)."""
    global _worker_info
    random.seed(seed)
    cr_random.manual_seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    failed = None
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except Exception:
            failed = WorkerFailure(worker_id, " (in worker_init_fn)")
    try:
        _serve(dataset, is_iterable, auto_collation, batch_size, drop_last, collate_fn, index_queue, result_queue,
               worker_id, failed)
    except KeyboardInterrupt:    # Ctrl-C reaches every process of the group: the main process reports it
        pass


def _serve(dataset, is_iterable, auto_collation, batch_size, drop_last, collate_fn, index_queue, result_queue,
           worker_id, failed) -> None:
    it = None
    while True:
        msg = index_queue.get()
        if msg is None:
            break
        kind, key, indices = msg
        if kind == "reset":          # a new epoch of persistent workers: restart the iterable dataset
            it = None
            continue
        if failed is not None:
            result_queue.put((key, failed))
            continue
        try:
            if is_iterable:
                if it is None:
                    it = iter(dataset)
                out = _fetch_iterable(it, auto_collation, batch_size, drop_last, collate_fn)
            else:
                out = fetch_batch(dataset, indices, auto_collation, collate_fn)
        except StopIteration:
            out = ExhaustedMarker()
        except Exception:
            out = WorkerFailure(worker_id)
        result_queue.put((key, out))


class WorkerPool:
    """``num_workers`` processes, one request queue each and one shared result queue."""

    def __init__(self, loader, num_workers: int, seed: int):
        ctx = loader.multiprocessing_context
        ctx = multiprocessing.get_context(ctx) if isinstance(ctx, str) or ctx is None else ctx
        self.result_queue = ctx.Queue()
        self.index_queues, self.workers = [], []
        for w in range(num_workers):
            q = ctx.Queue()
            p = ctx.Process(target=worker_loop, daemon=True, name=f"chainrule-dataloader-{w}",
                            args=(loader.dataset, loader._is_iterable, loader._auto_collation,
                                  loader.batch_size, loader.drop_last, loader.collate_fn, q, self.result_queue, w,
                                  num_workers, seed + w, loader.worker_init_fn))
            p.start()
            self.index_queues.append(q)
            self.workers.append(p)
        self._finalizer = weakref.finalize(self, _shutdown, self.workers, self.index_queues, self.result_queue)

    def put(self, worker: int, msg) -> None:
        self.index_queues[worker].put(msg)

    def get(self, timeout: float):
        """The next (key, batch) from any worker; RuntimeError if a worker died or ``timeout`` passed."""
        start = time.monotonic()
        while True:
            wait = 1.0 if not timeout else min(1.0, max(0.0, timeout - (time.monotonic() - start)))
            try:
                return self.result_queue.get(timeout=wait)
            except queue.Empty:
                dead = [p.pid for p in self.workers if not p.is_alive()]
                if dead:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader worker (pid(s) {', '.join(map(str, dead))}) exited "
                                       f"unexpectedly") from None
                if timeout and time.monotonic() - start >= timeout:
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None

    def shutdown(self) -> None:
        self._finalizer()


def _shutdown(workers, index_queues, result_queue) -> None:
    """Ask every worker to stop, drain what they still send (so none blocks on a full pipe), join them,
    and terminate any that does not stop within a few seconds."""
    for q in index_queues:
        try:
            q.put(None)
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + 5.0
    while any(p.is_alive() for p in workers) and time.monotonic() < deadline:
        try:
            result_queue.get(timeout=0.05)
        except (queue.Empty, OSError, ValueError, EOFError):
            pass
    for p in workers:
        if p.is_alive():
            p.terminate()
        p.join(timeout=1.0)
    for q in (*index_queues, result_queue):
        q.cancel_join_thread()
        q.close()
