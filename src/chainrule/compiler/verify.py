"""The first replay is checked against the eager step, on the same state.

A step can change state that the trace cannot see: NumPy on ``.data`` or ``.grad`` arrays
(``p.data -= lr * p.grad.data``, a gradient clipped by hand), a module buffer replaced in its
forward (BatchNorm's running statistics). The replay would silently skip that work. So the first
replay of each trace runs on a snapshot of everything the step may touch (the live leaves and
their gradients, the parameters and buffers of the modules it called, the state of the
optimizers it stepped), the state is put back, the eager step runs, and the two results are
compared. A difference sends this signature to eager for good, with a warning; the eager result is
the one kept.
"""
from __future__ import annotations

import copy

import numpy as np

from chainrule.compiler.engine import array_of, set_array
from chainrule.compiler.program import rng_states, set_rng_states
from chainrule.tensor import Tensor


class Snapshot:
    """What a step of ``program`` may change, and how to take, restore and compare it."""

    def __init__(self, program, flat):
        tensors = {id(rec[0]): rec[0] for rec in program.live}
        for a in flat:
            if isinstance(a, Tensor):
                tensors[id(a)] = a
        self.modules = list(program.modules)
        for m in self.modules:
            for p in m.parameters():
                tensors[id(p)] = p
        for opt in program.optimizers:
            for g in opt.param_groups:
                for p in g["params"]:
                    tensors[id(p)] = p
        self.tensors = list(tensors.values())
        self.optimizers = program.optimizers
        self.rngs = program.rngs

    def take(self):
        ts = [(array_of(t), np.array(array_of(t)), None if t._grad is None else np.array(t._grad)) for t in self.tensors]
        bufs = [dict(m._buffers) for m in self.modules]
        bufs = [{k: (v, np.array(v) if isinstance(v, np.ndarray) else copy.deepcopy(v)) for k, v in b.items()}
                for b in bufs]
        # the keys are the parameters themselves: kept, not copied; the buffers are copied
        opts = [[(k, copy.deepcopy(v)) for k, v in opt.state.items()] for opt in self.optimizers]
        return ts, bufs, opts, rng_states(self.rngs)

    def restore(self, snap) -> None:
        ts, bufs, opts, streams = snap
        set_rng_states(streams)
        for t, (arr, values, grad) in zip(self.tensors, ts):
            if array_of(t) is arr:
                if arr.flags.writeable:  # a read-only array (a constant) cannot have changed
                    arr[...] = values
            else:
                set_array(t, values.copy())
            t._grad = None if grad is None else grad.copy()
        for m, b in zip(self.modules, bufs):
            m._buffers.clear()
            for k, (obj, values) in b.items():
                if isinstance(obj, np.ndarray) and obj.flags.writeable:
                    obj[...] = values
                m._buffers[k] = obj
        for opt, state in zip(self.optimizers, opts):
            opt.state.clear()
            for k, v in state:
                opt.state[k] = copy.deepcopy(v)

    @staticmethod
    def same(a, b) -> str | None:
        """None when the two snapshots agree within float rounding, else what differs."""
        for (_, x, gx), (_, y, gy) in zip(a[0], b[0]):
            if not close(x, y):
                return "a tensor's values"
            if (gx is None) != (gy is None) or (gx is not None and not close(gx, gy)):
                return "a gradient"
        for ba, bb in zip(a[1], b[1]):
            if ba.keys() != bb.keys() or any(not close(ba[k][1], bb[k][1]) for k in ba):
                return "a module buffer"
        for sa, sb in zip(a[2], b[2]):
            if len(sa) != len(sb) or any(ka is not kb or not same_tree(va, vb) for (ka, va), (kb, vb) in zip(sa, sb)):
                return "the optimizer's state"
        if [st for _, st in a[3]] != [st for _, st in b[3]]:
            return "the random stream"
        return None


def close(x, y) -> bool:
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    if x.dtype.kind not in "fc":
        return np.array_equal(x, y)
    tol = dict(rtol=1e-4, atol=1e-6) if x.dtype.itemsize <= 4 else dict(rtol=1e-9, atol=1e-12)
    return bool(np.allclose(x, y, equal_nan=True, **tol))


def same_tree(a, b) -> bool:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return isinstance(a, Tensor) and isinstance(b, Tensor) and close(array_of(a), array_of(b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return close(a, b)
    return a == b
