"""The optimizer's side of a replay: zero_grad, and the step with the weight gradient folded in.

A Linear layer's weight gradient dW = D^T X need not be stored when the next thing to read it is
the optimizer's update. The backward then leaves a :class:`PendingGrad` in ``W.grad`` (the two
factors, computed into a real array only if someone reads ``.grad``), and the step folds the
product into the update in one BLAS call:

- SGD: W <- (1 - lr wd) W - lr D^T X (gemm with beta = 1 - lr wd, into W);
- SGD with momentum (no Nesterov, no weight decay): buf <- momentum buf + (1 - dampening) D^T X
  (gemm with beta = momentum, into the buffer), then W <- W - lr buf (axpy);
- Adam and AdamW: dW is written by gemm into a buffer kept from step to step (no allocation), then
  the optimizer's own rule runs on it.

Everything else runs the optimizer's own per-parameter rule, so the state (momentum buffers,
Adam's moments, the step count) is exactly the eager one. The learning rate and the other
hyper-parameters are read from ``param_groups`` at every replay: a scheduler's change takes effect
without a retrace.
"""
from __future__ import annotations

from operator import is_

import numpy as np

from chainrule.compiler.engine import array_of, opt_state
from chainrule.compiler.blas import _blas, axpy_into, gemm_into, weight_grad
from chainrule.core import sum_rows
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.sgd import SGD, Adam, AdamW

_EAGER_STEP = Optimizer.step
_EAGER_ZERO_GRAD = Optimizer.zero_grad
FOLDABLE = (SGD, Adam, AdamW)


class PendingGrad:
    """dL/dW = extra + D^T X, the product not yet computed: an array-like that computes (once) when
    read. ``extra`` is the gradient W had already received in this backward from other ops (an L2
    penalty's 2 lambda W), or None. For a bias ``x`` is None: dL/db = extra + D^T 1, D's rows summed."""

    __slots__ = ("x", "d", "fortran", "extra", "value", "tuned")

    def __init__(self, x, d, fortran: bool, extra=None, tuned=None):
        self.x, self.d, self.fortran, self.extra, self.value = x, d, fortran, extra, None
        self.tuned = tuned  # mode="max-autotune": the update's site, its GEMM on the engine kept (autotune.py)

    def __array__(self, dtype=None, copy=None):
        v = self.value
        if v is None:
            v = sum_rows(self.d) if self.x is None else weight_grad(self.x, self.d, self.fortran)
            if self.extra is not None:
                v = np.asarray(self.extra + v)   # as the walk accumulates: what came first, plus dW
            self.value = v
        if dtype is not None and dtype != v.dtype:
            return v.astype(dtype)
        return v.copy() if copy else v   # np.array(g) asks for a copy: the value may be a kept buffer

    @property
    def shape(self):
        return (self.d.shape[1],) if self.x is None else (self.d.shape[1], self.x.shape[1])

    @property
    def dtype(self):
        return self.d.dtype

    def __getattr__(self, name):  # any other ndarray attribute or method reads the value
        if name.startswith("__"):  # NumPy's array protocols: __array__ above is the one
            raise AttributeError(name)
        return getattr(np.asarray(self), name)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        return np.asarray(self)[index]


def _binary(name):
    op = getattr(np.ndarray, name)
    return lambda self, other: op(np.asarray(self), other)


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
              "__rtruediv__", "__pow__", "__matmul__", "__rmatmul__", "__eq__", "__ne__", "__lt__",
              "__le__", "__gt__", "__ge__"):
    setattr(PendingGrad, _name, _binary(_name))
PendingGrad.__neg__ = lambda self: -np.asarray(self)
PendingGrad.__abs__ = lambda self: abs(np.asarray(self))
PendingGrad.__hash__ = object.__hash__


def plan_folds(b, tr) -> tuple[dict, dict]:
    """The Linear ops (by index) whose weight gradient, and those whose bias gradient, the optimizer
    can fold: the weight (the bias) is a live leaf read by one Linear op (other ops may read it too:
    an L2 penalty's gradient arrives first, as ``extra``), one backward() reaches the op, and a step
    of SGD, Adam or AdamW that owns the parameter follows it. Returns ({index: weight}, {index: bias})."""
    if _blas is None:
        return {}, {}
    backs = [i for i, ev in enumerate(tr.events) if ev[0] == "backward"]
    if len(backs) != 1:
        return {}, {}
    stepped = set()
    for ev in tr.events[backs[0] + 1:]:
        if ev[0] == "step" and type(ev[1]) in FOLDABLE:
            stepped.update(id(p) for g in ev[1].param_groups for p in g["params"])
    uses: dict = {}  # id(weight or bias) -> the Linear kernels reading it
    for index, kernel in b.plan.kernels.items():
        if type(kernel).__name__ == "LinearKernel":
            for p in tr.ops[index].inputs[1:]:
                uses[id(p)] = uses.get(id(p), 0) + 1

    def foldable(p) -> bool:
        if id(p) in b.producer or id(p) in tr.born or id(p) in b.slot_of or not p.requires_grad:
            return False  # not a parameter (an argument, a computed tensor, a constant)
        return uses.get(id(p)) == 1 and id(p) in stepped and array_of(p).dtype.kind == "f"

    folds, bias_folds = {}, {}
    for index, kernel in b.plan.kernels.items():
        if type(kernel).__name__ != "LinearKernel" or index not in b.plan.backwarded:
            continue
        inputs = tr.ops[index].inputs
        if foldable(inputs[1]):
            folds[index] = inputs[1]
        if len(inputs) == 3 and foldable(inputs[2]):
            bias_folds[index] = inputs[2]
    return folds, bias_folds


def zero_grad_step(opt, set_to_none: bool):
    if not set_to_none:
        return lambda: _EAGER_ZERO_GRAD(opt, False)

    def zero_grad():
        for group in opt.param_groups:
            for p in group["params"]:
                p._grad = None
    return zero_grad


def clear_grad_step(t):
    def clear():
        t._grad = None
    return clear


def drop_stale_step(params):
    """Before a replay's first op overwrites its buffers: a PendingGrad of the previous replay that
    is still in ``.grad`` (no zero_grad in between) is computed now, from buffers still intact."""
    def drop():
        for p in params:
            g = p._grad
            if type(g) is PendingGrad:
                p._grad = np.array(g)
    return drop


def step(b, opt):
    """The optimizer's step as a replay step."""
    folded = {id(w) for w in b.folds.values()} | {id(p) for p in b.bias_folds.values()}
    if type(opt) not in FOLDABLE or not any(id(p) in folded for g in opt.param_groups for p in g["params"]):
        return lambda: _EAGER_STEP(opt)
    buffers: dict = {}  # id(param) -> dW buffer (Adam)
    sgd = type(opt) is SGD
    orders: dict = {}   # id(group) -> (its params, the same smallest first)

    def run():
        for group in opt.param_groups:
            params = _smallest_first(group["params"], orders, id(group))
            maximize = group.get("maximize")
            if sgd and not group["momentum"] and not group["weight_decay"] and not maximize:
                _plain_sgd(opt, group["lr"], params)
                continue
            for p in params:
                g = p._grad
                if g is None:
                    continue
                st = opt_state(opt, p)
                if type(g) is PendingGrad and not maximize and \
                        _fold(opt, array_of(p), g, st, group, buffers, id(p)):
                    continue
                g = np.asarray(g)
                opt._update(array_of(p), -g if maximize else g, st, group)
    return run


def _smallest_first(params: list, orders: dict, key) -> list:
    """``params`` smallest first. Each parameter's update is its own (the order changes no result), but
    a large layer's folded GEMM streams its input X (12 MB at batch 1024 for a 3072-input layer) through
    the caches: run after it, the small layers' GEMMs would read their D and X back from memory."""
    known = orders.get(key)
    if known is not None and len(known[0]) == len(params) and all(map(is_, known[0], params)):
        return known[1]
    order = sorted(params, key=lambda p: array_of(p).size)
    orders[key] = (list(params), order)
    return order


def _plain_sgd(opt, lr: float, params: list) -> None:
    """w <- w - lr g for every parameter: the folded gemm, or one axpy."""
    for p in params:
        g = p._grad
        if g is None:
            continue
        opt_state(opt, p)
        w = array_of(p)
        if type(g) is PendingGrad:
            if not _gemm_grad(w, -lr, g, 1.0):
                w -= lr * np.asarray(g)
        else:
            axpy_into(w, -lr, g)


def _gemm_grad(c, alpha, g: PendingGrad, beta) -> bool:
    """c = beta c + alpha dW, with dW = D^T X (+ g.extra) never formed; False when the GEMM cannot run
    here (c unchanged)."""
    tuned = g.tuned if g.x is not None else None
    if not (gemm_into if tuned is None else tuned)(c, alpha, g.x, g.d, beta):
        return False
    if g.extra is not None:
        axpy_into(c, alpha, g.extra)
    return True


def _fold(opt, w, g: PendingGrad, st: dict, group: dict, buffers: dict, key) -> bool:
    """W's update with dW = D^T X folded in; False when this case is not folded (nothing changed)."""
    if type(opt) is SGD:
        lr, mom, wd = group["lr"], group["momentum"], group["weight_decay"]
        if not mom:
            return _gemm_grad(w, -lr, g, 1.0 - lr * wd if wd else 1.0)
        if group["nesterov"] or wd:
            return False
        if st.get("momentum_buffer") is None:  # the first step: buf = dW
            buf = opt._buffer(st, "momentum_buffer", w)  # the optimizer's own buffer, in w's layout
            if not _gemm_grad(buf, 1.0, g, 0.0):
                buf[...] = np.asarray(g)
        else:
            buf = array_of(st["momentum_buffer"])
            damp = 1.0 - group["dampening"]
            if buf.shape != w.shape or not _gemm_grad(buf, damp, g, mom):
                return False
        axpy_into(w, -lr, buf)
        return True
    # Adam, AdamW: dW into a kept buffer, then the optimizer's own rule
    buf = buffers.get(key)
    if buf is None or buf.shape != w.shape or buf.dtype != w.dtype:
        buf = buffers[key] = np.empty_like(w)
    if not _gemm_grad(buf, 1.0, g, 0.0):
        return False
    g.value = buf
    opt._update(w, buf, st, group)
    return True
