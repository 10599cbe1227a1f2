"""DistributedDataParallel: the same model on every rank, gradients averaged after backward().

Each rank runs the forward and backward on its share of the batch; when ``backward()``
finishes, every parameter's gradient is copied into one flat buffer (or a few buckets),
summed across ranks with ONE ``MPI_Allreduce`` per bucket, and handed back as the averaged
gradient. Every rank then takes the same optimizer step, so the parameters stay identical.
"""
from __future__ import annotations

import time

import numpy as np

from chainrule import autograd
from chainrule import distributed as dist
from chainrule.nn.module import Module


def _view(flat: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A view of ``flat`` (1-D, like.size items) with ``like``'s shape and memory layout."""
    if like.flags.c_contiguous or like.ndim < 2:
        return flat.reshape(like.shape)
    if like.flags.f_contiguous:    # Linear's weight: (out, in) stored as the transpose of (in, out)
        return flat.reshape(like.shape[::-1]).T
    return flat.reshape(like.shape)


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training on every rank of the process group.

    At construction rank 0's parameters and buffers are broadcast to all ranks (one flat
    ``MPI_Bcast``). After each ``backward()`` the gradients are averaged across ranks with one
    ``MPI_Allreduce`` over a single flat buffer (``bucket_cap_mb``: a few buckets instead).

    The average is weighted by each rank's share of the batch (the first dimension of the
    forward's input): gradient = sum_k (n_k / N) g_k, which is exactly the gradient of a mean
    loss over the whole global batch, also when the shares differ by one. With equal shares
    it is PyTorch's plain average sum_k g_k / K (``weight_by_batch=False`` always does that).

    Args:
        module (Module): the model; the same architecture on every rank.
        bucket_cap_mb (float, None): None: one bucket holding every gradient; otherwise start
            a new bucket (a new Allreduce) when one would exceed this many MiB.
        broadcast_buffers (bool, True): also broadcast buffers (BatchNorm statistics) at start.
        weight_by_batch (bool, True): weight each rank's gradient by its share of the samples.

    ``.module`` is the wrapped model. ``state_dict()`` has PyTorch's "module." prefix on every
    key (save ``ddp.module.state_dict()`` for files that load into the bare model, as the
    Trainer does).

    Example (run under ``mpiexec -n 2``)::

        dist.init_process_group("mpi")
        model = DistributedDataParallel(nn.MLP([2, 100, 3]))
        loss = F.cross_entropy(model(X_share), y_share)
        loss.backward()          # gradients are now the global-batch average on every rank
        opt.step()
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters: bool = False, weight_by_batch: bool = True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a Module, got {type(module).__name__}")
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: the default process group is not initialized; "
                               "call chainrule.distributed.init_process_group('mpi') first (under mpiexec)")
        if dim != 0:
            raise ValueError("DistributedDataParallel: only dim=0 (the batch dimension) is supported")
        self.module = module
        self.weight_by_batch = weight_by_batch
        self.bucket_cap_mb = bucket_cap_mb
        self.world_size = dist.get_world_size()
        self._samples = 0          # samples this rank forwarded since the last sync
        self._queued = False
        self._extra = None         # values summed in the same Allreduce as the next gradients
        self.reduced = None        # ... and their sums, after the sync
        self.allreduce_calls = 0   # how many MPI_Allreduce calls the syncs made (for tests, benchmarks)
        self.bytes_reduced = 0     # bytes of the last sync's buffers
        self.comm_seconds = 0.0    # time spent inside Allreduce (waiting for the slowest rank included)
        self._check_same_model()
        self.broadcast_parameters(buffers=broadcast_buffers)
        self._build_buckets()

    # ------------------------------------------------------------------ setup
    def _check_same_model(self) -> None:
        """Every rank must wrap the same architecture (names, shapes, dtypes); else one clear error on all."""
        mine = [[n, list(p.shape), p._data.dtype.name] for n, p in self.module.named_parameters()]
        everyone = [None] * self.world_size
        dist.all_gather_object(everyone, mine)
        for r, other in enumerate(everyone):
            if other != everyone[0]:
                diff = next((f"{a} vs {b}" for a, b in zip(everyone[0], other) if a != b),
                            f"{len(everyone[0])} vs {len(other)} parameters")
                raise ValueError(f"DistributedDataParallel: rank {r}'s model differs from rank 0's ({diff}); "
                                 f"build the same model on every rank")

    def broadcast_parameters(self, buffers: bool = True) -> None:
        """Make every rank's parameters (and float buffers) rank 0's, with one flat broadcast per dtype."""
        arrays = [p._data for p in self.module.parameters()]
        if buffers:
            arrays += [b for _, b in self.module.named_buffers() if isinstance(b, np.ndarray) and b.size]
        by_dtype: dict = {}
        for a in arrays:
            by_dtype.setdefault(a.dtype.str, []).append(a)
        for key in sorted(by_dtype):
            group = by_dtype[key]
            flat = np.concatenate([a.ravel(order="K") for a in group]) if group else np.empty(0)
            dist.broadcast(flat, src=0)
            off = 0
            for a in group:
                a[...] = _view(flat[off:off + a.size], a)
                off += a.size

    def _build_buckets(self) -> None:
        params = [p for p in self.module.parameters() if p.requires_grad]
        if not params:
            raise ValueError("DistributedDataParallel: the module has no parameters that require grad")
        dtypes = {p._data.dtype for p in params}
        if len(dtypes) > 1:
            raise TypeError(f"DistributedDataParallel: all parameters must share one dtype, got "
                            f"{sorted(d.name for d in dtypes)}; call module.to(dtype) first")
        self._dtype = params[0]._data.dtype
        cap = None if self.bucket_cap_mb is None else max(1, int(self.bucket_cap_mb * 2 ** 20 / self._dtype.itemsize))
        buckets, cur, size = [], [], 0
        for p in params:
            if cap is not None and cur and size + p._data.size > cap:
                buckets.append(cur)
                cur, size = [], 0
            cur.append(p)
            size += p._data.size
        buckets.append(cur)
        self._params = params
        self._sizes = [sum(p._data.size for p in group) for group in buckets]   # gradients per bucket
        self._buckets = []          # [flat buffer, [(param, view)]]; the last one has room for extras
        for i, group in enumerate(buckets):
            n = sum(p._data.size for p in group)
            flat = np.zeros(n, dtype=self._dtype)
            views, off = [], 0
            for p in group:
                views.append((p, _view(flat[off:off + p._data.size], p._data)))
                off += p._data.size
            self._buckets.append([flat, views])

    # ------------------------------------------------------------------ forward
    def forward(self, *inputs, **kwargs):
        if autograd.is_grad_enabled():
            x = inputs[0] if inputs else None
            self._samples += int(len(x)) if x is not None and getattr(x, "ndim", 0) else 1
            if not self._queued:
                self._queued = True
                autograd.queue_callback(self.reduce_gradients)
        return self.module(*inputs, **kwargs)

    def all_reduce_with_grads(self, values) -> None:
        """Sum ``values`` (a few numbers: a loss, counts) across ranks in the same Allreduce as the
        next gradients, at no extra message; the sums are in ``self.reduced`` after that sync."""
        self._extra = np.asarray(values, dtype=np.float64).ravel()

    # ------------------------------------------------------------------ the sync
    def reduce_gradients(self, samples=None) -> None:
        """Average every parameter's gradient across ranks now (called automatically when the
        backward after a forward finishes). A rank with no samples in this step calls it directly
        with ``samples=0`` so that the others are not left waiting: it contributes zeros.
        """
        self._queued = False
        n = self._samples if samples is None else samples
        self._samples = 0
        extra = self._extra
        self._extra = None
        n_extra = 1 + (len(extra) if extra is not None else 0)
        last = self._buckets[-1]
        if len(last[0]) != self._sizes[-1] + n_extra:   # make room for n and the extras after the gradients
            grown = np.zeros(self._sizes[-1] + n_extra, dtype=self._dtype)
            off, views = 0, []
            for p, _ in last[1]:
                views.append((p, _view(grown[off:off + p._data.size], p._data)))
                off += p._data.size
            last[0], last[1] = grown, views
        scale = float(n) if self.weight_by_batch else 1.0
        total = None
        nbytes = 0
        for i, (flat, views) in enumerate(self._buckets):
            for p, v in views:
                g = p._grad
                if g is None or n == 0:
                    v[...] = 0
                elif scale == 1.0:
                    if g is not v:
                        v[...] = g
                else:
                    np.multiply(g, scale, out=v)
            if i == len(self._buckets) - 1:
                tail = flat[len(flat) - n_extra:]
                tail[0] = n if self.weight_by_batch else (1 if n else 0)
                if extra is not None:
                    tail[1:] = extra
            t0 = time.perf_counter()
            dist.all_reduce(flat, dist.ReduceOp.SUM)
            self.comm_seconds += time.perf_counter() - t0
            self.allreduce_calls += 1
            nbytes += flat.nbytes
            if i == len(self._buckets) - 1:
                total = float(flat[len(flat) - n_extra])
                self.reduced = flat[len(flat) - n_extra + 1:].astype(np.float64) if extra is not None else None
        self.bytes_reduced = nbytes
        # weight_by_batch: sum_k n_k g_k / N; otherwise sum_k g_k / K (PyTorch's average)
        denom = total if self.weight_by_batch else float(self.world_size)
        if denom == 0:
            raise RuntimeError("DistributedDataParallel: no rank had any samples in this step")
        inv = 1.0 / denom
        for (flat, views), size in zip(self._buckets, self._sizes):
            flat[:size] *= inv
            for p, v in views:
                p._grad = v
