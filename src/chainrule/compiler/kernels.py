"""Replay kernels: the hot ops again, over preallocated buffers, and the fusions that pay.

A kernel repeats an op's forward and backward with ``out=`` arrays allocated once, in the same
NumPy calls as the op's own rule (so the results are bit-for-bit the eager ones), and fuses where
that saves work:

- ``Linear`` + ``ReLU``: the activation is applied in place on the linear layer's output, and its
  backward masks the incoming gradient in place;
- ``CrossEntropy`` + ``Mean``: the log-softmax of the forward is kept, the per-sample losses are
  never stored, and the backward writes softmax - onehot scaled by 1/N straight into the logits'
  gradient;
- ``Linear``'s weight gradient is handed to the optimizer unevaluated when
  :mod:`chainrule.compiler.update` folds it into the update.

Every other op is replayed by its own ``forward``/``backward`` (see ``Builder.generic_forward``).
"""
from __future__ import annotations

import numpy as np

from chainrule.compiler import autotune, fused
from chainrule.compiler.blas import weight_grad
from chainrule.compiler.engine import array_of
from chainrule.compiler.errors import Fallback
from chainrule.compiler.update import PendingGrad
from chainrule.core import sum_last, sum_rows
from chainrule.rules.elementwise import ReLU, zeros_of
from chainrule.rules.embedding import Embedding
from chainrule.rules.index import (IndexAdd, IndexCopy, IndexFill, IndexSelect, OneHot, Scatter, ScatterAdd,
                                   ScatterReduce, TakeAlong)
from chainrule.rules.linalg import Linear
from chainrule.rules.loss import NLL, CrossEntropy
from chainrule.rules.reduce import Mean
from chainrule.tensor import Tensor


class Plan:
    """What the builder needs to know before it emits steps: dead ops, kernels, backward reach."""

    def __init__(self):
        self.dead: set = set()
        self.kernels: dict = {}     # op index -> kernel
        self.backwarded: dict = {}  # op index -> True when some backward() reaches it
        self.consumers: dict = {}   # id(tensor) -> [op records reading it]
        self.pinned: set = set()    # ids of tensors returned, used as backward roots/seeds or read by a draw


def plan(b, tr) -> Plan:
    pl = Plan()
    fuse = b.autotune and fused.available()  # max-autotune with Numba: the fused loops of fused.py
    reads = {rec.index: _reads(b, rec) for rec in tr.ops}
    for rec in tr.ops:
        for t in reads[rec.index]:
            pl.consumers.setdefault(id(t), []).append(rec)
    leaves: list = []
    from_result(b.result, leaves)
    pinned = list(leaves)
    for ev in tr.events:
        if ev[0] == "backward":
            for root, seed in zip(ev[1], ev[2]):
                pinned.append(root)
                if seed is not None:
                    pinned.append(seed)
                reach(b, root, pl.backwarded)
    for d in tr.draws:     # a draw from the step's tensors (bernoulli's p) reads them: they are live
        pinned.extend(d.inputs)
    for v in pinned:
        pl.pinned.add(id(v))
        src = b.alias_of(v)  # a detached view of an op's output pins that output
        if isinstance(src, Tensor):
            pl.pinned.add(id(src))
    # liveness: the ops that a returned tensor, a backward root or a seed depends on
    live: set = set()
    stack = [b.producer[i] for i in pl.pinned if i in b.producer]
    while stack:
        rec = stack.pop()
        if rec.index in live:
            continue
        live.add(rec.index)
        for t in reads[rec.index]:
            r = b.producer.get(id(t))
            if r is not None and r.index not in live:
                stack.append(r)
    pl.dead = {rec.index for rec in tr.ops} - live
    for rec in tr.ops:
        if rec.index in pl.dead:
            continue
        if rec.cls is Linear and _linear_ok(rec):
            pl.kernels[rec.index] = LinearKernel()
        elif rec.cls is Mean and _ce_mean(b, pl, rec):
            ce = b.producer[id(rec.inputs[0])]
            pl.kernels[ce.index] = CrossEntropyKernel(fuse)
            pl.kernels[rec.index] = CrossEntropyMeanKernel(ce, fuse)
    for rec in tr.ops:  # ReLU after the Linear kernels are known: it may work in place on their output
        if rec.index not in pl.dead and rec.cls is ReLU and array_of(rec.inputs[0]).dtype.kind == "f":
            src = b.producer.get(id(rec.inputs[0]))
            inplace = src is not None and isinstance(pl.kernels.get(src.index), LinearKernel) and \
                _only_use(pl, rec.inputs[0], rec)
            users = pl.consumers.get(id(rec.out), [])
            owned = len(users) == 1 and id(rec.out) not in pl.pinned and \
                isinstance(pl.kernels.get(users[0].index), LinearKernel) and \
                users[0].inputs[0] is rec.out and users[0].inputs[1] is not rec.out
            with_bias = inplace and fuse and len(src.inputs) == 3 and array_of(rec.out).ndim == 2
            if with_bias:  # the Linear kernel's step adds the bias and takes the max in one loop
                pl.kernels[src.index].relu = True
            pl.kernels[rec.index] = ReLUKernel(inplace, owned, fuse and array_of(rec.out).ndim == 2, with_bias)
    return pl


def _reads(b, rec) -> list:
    """The tensors op ``rec`` reads: its inputs, its tensor options, and the op outputs or arguments
    that an input or an array option is a view of (``detach()``, ``.data``, labels as an option)."""
    out = []
    for v in list(rec.inputs) + list(rec.options.values()):
        if isinstance(v, Tensor):
            out.append(v)
        src = b.alias_of(v)
        if isinstance(src, Tensor):
            out.append(src)
    return out


def from_result(result, leaves):
    if isinstance(result, (tuple, list)):
        for r in result:
            from_result(r, leaves)
    elif isinstance(result, dict):
        for r in result.values():
            from_result(r, leaves)
    elif hasattr(result, "requires_grad"):
        leaves.append(result)


def reach(b, root, seen: dict) -> None:
    rec = b.producer.get(id(root))
    if rec is None or not rec.recorded:
        return
    stack = [rec]
    while stack:
        r = stack.pop()
        if r.index in seen:
            continue
        seen[r.index] = True
        for t in r.inputs:
            p = b.producer.get(id(t))
            if p is not None and p.recorded and t.requires_grad:
                stack.append(p)


def _only_use(pl, t, rec) -> bool:
    users = pl.consumers.get(id(t), [])
    return len(users) == 1 and users[0] is rec and id(t) not in pl.pinned


def _linear_ok(rec) -> bool:
    x, w = array_of(rec.inputs[0]), array_of(rec.inputs[1])
    if rec.options or x.ndim != 2 or w.ndim != 2 or x.dtype.kind != "f" or x.dtype != w.dtype:
        return False
    return len(rec.inputs) == 2 or (array_of(rec.inputs[2]).ndim == 1 and array_of(rec.inputs[2]).dtype == x.dtype)


def _ce_mean(b, pl, rec) -> bool:
    if rec.options.get("axis") is not None or rec.options.get("keepdims"):
        return False
    ce = b.producer.get(id(rec.inputs[0]))
    if ce is None or ce.cls is not CrossEntropy or not _only_use(pl, ce.out, rec):
        return False
    logits = array_of(ce.inputs[0])
    target_ok = isinstance(ce.options.get("target"), np.ndarray) if len(ce.inputs) == 1 else \
        len(ce.inputs) == 2 and array_of(ce.inputs[1]).dtype.kind in "iu"
    return target_ok and logits.ndim == 2 and logits.dtype.kind == "f" and not ce.options.get("label_smoothing")


def deliver(b, target, buffer: bool = False):
    """A function ``(gi, g)`` that hands gradient ``gi`` to ``target`` as the engine's walk does.

    ``buffer``: gi is a kernel's buffer, overwritten by the next replay, so a leaf gets a copy (its
    ``.grad`` must not change under the user's feet)."""
    if target is None:
        return None
    if target[0] == "node":
        env, s = b.p.env, target[1]

        def to_node(gi, g):
            prev = env[s]
            env[s] = gi if prev is None else prev + gi
        return to_node
    acc = b.leaf_accumulator(target)
    if not buffer:
        return acc
    return lambda gi, g: acc(gi.copy(), g)


class LinearKernel:
    """y = x W^T + b into one buffer; backward: g W into a buffer, g^T x (or folded), sum_n g."""

    relu = False  # max-autotune: the ReLU that follows is applied here, with the bias (fused.py)

    def forward(self, b, rec):
        env = b.p.env
        xs, ws = b.tensor_slot(rec.inputs[0]), b.tensor_slot(rec.inputs[1])
        bs = b.tensor_slot(rec.inputs[2]) if len(rec.inputs) == 3 else None
        y = np.empty(array_of(rec.out).shape, array_of(rec.out).dtype)
        self.xs, self.ws, self.y = xs, ws, y
        out = b.new_slot(y)
        add = np.add
        tuned = autotune.forward(array_of(rec.inputs[0]), array_of(rec.inputs[1]), y) if b.autotune else None
        if tuned is None:
            dot = np.dot

            def product():
                dot(env[xs], env[ws].T, out=y)     # (N, in) @ (in, out) -> (N, out)
        else:               # mode="max-autotune": the engine its site times and keeps (autotune.py)
            def product():
                tuned(env[xs], env[ws], y)
        if bs is None:
            b.p.steps.append(product)
        elif self.relu:     # max-autotune: y + b and the ReLU after it, one loop (fused.py)
            bias_relu = fused.loop("bias_relu")

            def forward():
                product()
                bias_relu(y, env[bs])
            b.p.steps.append(forward)
        else:
            def forward():
                product()
                add(y, env[bs], out=y)
            b.p.steps.append(forward)
        return out

    def backward(self, b, rec, gs, targets):
        env = b.p.env
        xs, ws = self.xs, self.ws
        tx, tw = deliver(b, targets[0], buffer=True), deliver(b, targets[1])
        tb = deliver(b, targets[2]) if len(targets) == 3 else None
        gx = np.empty(array_of(rec.inputs[0]).shape, array_of(rec.out).dtype) if tx is not None else None
        fold, bias_fold = b.folds.get(rec.index), b.bias_folds.get(rec.index)
        tuned = autotune.update(array_of(rec.inputs[1]), array_of(rec.inputs[0]), array_of(rec.out)) \
            if b.autotune and fold is not None and tw is not None else None  # max-autotune: the folded update's site
        dot = np.dot

        def backward():
            g = env[gs]
            if g is None:
                return
            env[gs] = None
            if tx is not None:
                tx(dot(g, env[ws], out=gx), g)               # (N, out) @ (out, in) -> (N, in)
            if tw is not None:
                x, w = env[xs], env[ws]
                prev = None if fold is None else fold._grad
                if fold is not None and (prev is None or type(prev) is np.ndarray):  # the optimizer
                    fold._grad = PendingGrad(x, g, w.flags.f_contiguous, prev, tuned)  # folds it into W
                else:
                    tw(weight_grad(x, g, w.flags.f_contiguous), g)
            if tb is not None:
                prev = None if bias_fold is None else bias_fold._grad
                if bias_fold is not None and (prev is None or type(prev) is np.ndarray):
                    bias_fold._grad = PendingGrad(None, g, False, prev)  # folded into b: gemv
                else:
                    tb(sum_rows(g), g)

        b.p.steps.append(backward)
        return True


class ReLUKernel:
    """max(0, x), in place on a Linear kernel's output when nothing else reads it; backward zeroes
    the gradient where the output is <= 0 (in place when the gradient is a buffer of ours)."""

    def __init__(self, inplace: bool, owned: bool, fuse: bool = False, in_linear: bool = False):
        self.inplace, self.owned = inplace, owned
        self.fuse = fuse            # max-autotune: the backward's mask in one loop (fused.py)
        self.in_linear = in_linear  # ... and the forward done by the Linear kernel before it

    def forward(self, b, rec):
        env = b.p.env
        xs = b.tensor_slot(rec.inputs[0])
        if self.inplace:
            r = env[xs]
            out = xs
        else:
            r = np.empty(array_of(rec.out).shape, array_of(rec.out).dtype)
            out = b.new_slot(r)
        self.r = r
        if self.in_linear:
            return out
        zeros = zeros_of(r)  # eager ReLU's zero block: maximum is several times faster against an array
        maximum = np.maximum
        b.p.steps.append(lambda: maximum(env[xs], zeros, out=r))
        return out

    def backward(self, b, rec, gs, targets):
        env, r = b.p.env, self.r
        tx = deliver(b, targets[0], buffer=True)
        if tx is None:
            return True
        gbuf = None if self.owned else np.empty(r.shape, r.dtype)  # owned: the incoming gradient is a
        # Linear kernel's buffer, read by nobody else, so it is masked in place
        if self.fuse:   # max-autotune: one loop (fused.py)
            relu_mask = fused.loop("relu_mask")

            def masked(g, out):
                relu_mask(g, out, r)
                return out
        else:
            mask = np.empty(r.shape, bool)
            le, lnot, mul = np.less_equal, np.logical_not, np.multiply

            def masked(g, out):
                le(r, 0, out=mask)
                lnot(mask, out=mask)
                return mul(g, mask, out=out)  # grad * ~(out <= 0), as the op does

        def backward():
            g = env[gs]
            if g is None:
                return
            env[gs] = None
            tx(masked(g, g if gbuf is None else gbuf), g)
        b.p.steps.append(backward)
        return True


def outside(dtype, n: int, c: int, skip=None):
    """A test ``(t) -> bool``: does index array t (n integers of ``dtype``) hold one outside [0, c)
    (other than ``skip``, an ignored label)?"""
    mx, mn = np.maximum.reduce, np.minimum.reduce
    if not n:
        return lambda t: False
    if skip is not None:
        return lambda t: bool((((t < 0) | (t >= c)) & (t != skip)).any())
    if dtype.kind == "i":  # one reduction: as unsigned, a negative index is huge
        unsigned = np.dtype(f"u{dtype.itemsize}")
        return lambda t: mx(t.view(unsigned), axis=None) >= c if t.dtype == dtype else \
            mn(t, axis=None) < 0 or mx(t, axis=None) >= c
    return lambda t: mn(t, axis=None) < 0 or mx(t, axis=None) >= c


WRITES_ALONG = (IndexAdd, IndexCopy, IndexFill, ScatterReduce, ScatterAdd, Scatter)  # their index is the last input


def guard(b, rec):
    """A replay step that checks the indices the front checked before applying op ``rec`` (the labels
    of CrossEntropy, NLL and one_hot, an Embedding's rows, the indices of gather, index_select,
    index_add, index_copy, index_fill, scatter, scatter_add and scatter_reduce: NumPy would wrap a
    negative one silently), raising Fallback so that the call runs eagerly and meets the front's error;
    None when nothing is checked."""
    skip = None
    if rec.cls is NLL or (rec.cls is CrossEntropy and len(rec.inputs) == 2):
        idx, bound, what = rec.inputs[1], array_of(rec.inputs[0]).shape[-1], "labels outside [0, C)"
        skip = rec.options.get("ignore_index")   # NLL's ignored label, wherever it is
    elif rec.cls is Embedding:
        idx, bound, what = rec.inputs[1], array_of(rec.inputs[0]).shape[0], "indices outside the table"
    elif rec.cls in (TakeAlong, IndexSelect):  # gather's and index_select's indices (sort's, topk's
        idx, what = rec.inputs[1], f"{'gather' if rec.cls is TakeAlong else 'index_select'}'s indices " \
            "outside the input"                 # and interpolate's are in range by construction)
        bound = (array_of(rec.inputs[0]).shape or (1,))[rec.options["dim"]]
    elif rec.cls in WRITES_ALONG:  # index_add/copy/fill's slices, scatter_reduce's and scatter(_add)'s positions
        idx, what = rec.inputs[-1], f"{rec.cls.__name__}'s indices outside the input"
        bound = (array_of(rec.inputs[0]).shape or (1,))[rec.options["dim"]]
    elif rec.cls is OneHot:
        idx, bound, what = rec.inputs[0], rec.options["num_classes"], "one_hot's labels outside [0, num_classes)"
    else:
        return None
    env, s = b.p.env, b.tensor_slot(idx)
    bad = outside(array_of(idx).dtype, array_of(idx).size, bound, skip)

    def check():
        if bad(env[s]):
            raise Fallback(what)
    return check


class CrossEntropyKernel:
    """The log-softmax of the logits into a buffer, in the NumPy calls of eager's log_softmax_array (the
    per-sample losses are left to the mean). Fused (max-autotune): nothing here, the mean's loops
    (fused.py, softmax_xent) do it all."""

    def __init__(self, fuse: bool = False):
        self.fuse = fuse

    def forward(self, b, rec):
        env = b.p.env
        xs = b.tensor_slot(rec.inputs[0])
        if len(rec.inputs) == 2:  # the labels as an input tensor (so that version checks cover them)
            ts, labels = b.tensor_slot(rec.inputs[1]), array_of(rec.inputs[1])
        else:                     # the labels as an option
            labels = rec.options["target"]
            ts = b.array_slot(labels, "the target array of cross_entropy")
        n, c = array_of(rec.inputs[0]).shape
        dt = array_of(rec.inputs[0]).dtype
        logp = np.empty((n, c), dt)
        # the labels' places in the flattened (n, c) arrays: row * c + label
        base, picks = np.arange(0, n * c, c), np.empty(n, np.intp)
        self.logp, self.picks, self.n, self.xs, self.ts = logp, picks, n, xs, ts
        if self.fuse:
            return b.new_slot()
        m, s, e = np.empty((n, 1), dt), np.empty((n, 1), dt), np.empty((n, c), dt)
        mx, sub, exp, log, add = np.maximum.reduce, np.subtract, np.exp, np.log, np.add
        xt, mt, copyto = np.empty((c, n), dt), m.reshape(1, n), np.copyto
        bad = outside(np.asarray(labels).dtype, n, c)

        def forward():
            x, t = env[xs], env[ts]
            if bad(t):
                raise Fallback("labels outside [0, C)")
            add(base, t, out=picks)
            copyto(xt, x.T)                              # the row maxima down the columns of x^T:
            mx(xt, axis=0, keepdims=True, out=mt)        # NumPy reduces (N, C) along C slowly for a small C
            sub(x, m, out=logp)                          # z = x - max
            exp(logp, out=e)
            sum_last(e, out=s)                           # the row sums, as eager's
            log(s, out=s)
            sub(logp, s, out=logp)                       # z - log sum e^z

        b.p.steps.append(forward)
        return b.new_slot()  # the per-sample losses: never stored

    def backward(self, b, rec, gs, targets):
        self.target = targets[0]
        return True  # its gradient comes through CrossEntropyMeanKernel


class CrossEntropyMeanKernel:
    """mean_i -log p_i[y_i] from the kept log-softmax; backward: (softmax - onehot) * g / N."""

    def __init__(self, ce, fuse: bool = False):
        self.ce, self.fuse = ce, fuse

    def forward(self, b, rec):
        env = b.p.env
        ck = b.plan.kernels[self.ce.index]
        if self.fuse:
            return self._fused_forward(b, ck)
        flat, picks, n = ck.logp.reshape(-1), ck.picks, ck.n
        nn = ck.logp.dtype.type(n)
        v = np.empty(n, ck.logp.dtype)
        out = b.new_slot()
        take, add, isfinite = np.take, np.add.reduce, np.isfinite

        def forward():
            take(flat, picks, out=v, mode="clip")        # log p_i[y_i] (the labels were checked)
            loss = np.asarray(-add(v, axis=None) / nn)
            if not isfinite(loss):
                raise Fallback("a non-finite loss")
            env[out] = loss

        b.p.steps.append(forward)
        return out

    def _fused_forward(self, b, ck):
        """The loss, and softmax - onehot into ``self.d``, in fused.py's loops; the labels checked there."""
        env, xs, ts, dt = b.p.env, ck.xs, ck.ts, ck.logp.dtype
        self.d = d = np.empty_like(ck.logp)
        m = np.empty(ck.n, dt)  # the row maxima
        out = b.new_slot()
        xent, isfinite, scalar = fused.loop("softmax_xent"), np.isfinite, dt.type

        def forward():
            loss = xent(env[xs], env[ts], d, m)
            if loss < 0:
                raise Fallback("labels outside [0, C)")
            loss = np.asarray(scalar(loss))
            if not isfinite(loss):
                raise Fallback("a non-finite loss")
            env[out] = loss
        b.p.steps.append(forward)
        return out

    def backward(self, b, rec, gs, targets):
        env = b.p.env
        ck = b.plan.kernels[self.ce.index]
        logp, picks, n = ck.logp, ck.picks, ck.n
        t = self.ce.inputs[0]
        if not t.requires_grad:
            return True
        r = b.producer.get(id(t))
        target = ("node", b.grad_slot(r), r) if r is not None and r.recorded else \
            ("leaf", b.tensor_slot(t), t)
        tx = deliver(b, target, buffer=True)
        nn = logp.dtype.type(n)
        mul = np.multiply
        if self.fuse:   # softmax - onehot is there from the forward's loop (fused.py)
            d = self.d

            def softmax_minus_onehot():
                pass
        else:
            d, exp = np.empty_like(logp), np.exp
            flat = d.reshape(-1)

            def softmax_minus_onehot():
                exp(logp, out=d)                         # softmax
                flat[picks] -= 1                         # - onehot

        def backward():
            g = env[gs]
            if g is None:
                return
            env[gs] = None
            softmax_minus_onehot()
            mul(d, g / nn, out=d)                        # * dL/dloss_i = g / N
            tx(d, None)

        b.p.steps.append(backward)
        return True
