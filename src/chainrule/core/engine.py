"""The backward walk: :func:`backward` fills ``.grad``, :func:`grad` returns gradients.

The walk visits nodes newest first (a max-heap on creation order), which is a
reverse topological order: every consumer of a tensor was created after it, so
all of its gradient has arrived before the tensor is visited. No recursion, one
pass. Gradients that reach a broadcast input are summed back to the input's
shape here (:func:`~chainrule.core.function.unbroadcast`), so no op has to.
"""
from __future__ import annotations

import heapq
import itertools
import weakref

import numpy as np

from chainrule.core.errors import ShapeError
from chainrule.core.function import TensorBase, check_versions, make, unbroadcast


def toposort(root: TensorBase) -> list:
    """The non-leaf tensors that ``root`` depends on, ``root`` first (reverse topological order).

    An iterative search (no recursion), sorted by creation order.
    """
    if root._ctx is None:
        return []
    seen = {root}
    stack = [root]
    while stack:
        for p in stack.pop()._ctx.parents:
            if p._ctx is not None and p not in seen:
                seen.add(p)
                stack.append(p)
    return sorted(seen, key=lambda t: t._ctx.seq, reverse=True)


# ----------------------------------------------------------------------------- tensor hooks
_hooks: dict = {}  # id(tensor) -> {id: hook}, dropped with the tensor; empty (the walk's fast path) when unused
_hook_ids = itertools.count()


class RemovableHandle:
    """What ``register_hook`` (and a Module's ``register_*_hook``) returns: ``remove()`` unregisters
    the hook (twice is harmless); also a context manager that removes it on exit (PyTorch's handle)."""

    def __init__(self, table: dict, key: int | None = None):
        self._table = table  # the hook table it was entered in (a tensor's own: not the tensor)
        self.id = next(_hook_ids) if key is None else key

    def remove(self) -> None:
        self._table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def register_hook(t: TensorBase, hook) -> RemovableHandle:
    """Call ``hook(grad)`` when the gradient of ``t`` is computed (PyTorch's ``Tensor.register_hook``):
    it may return a tensor that replaces the gradient (passed on to ``t``'s inputs, and what a leaf
    accumulates), or None. A leaf's hooks see its whole gradient once, before it reaches ``.grad``."""
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    table = _hooks.get(id(t))
    if table is None:
        table = _hooks[id(t)] = {}
        weakref.finalize(t, _hooks.pop, id(t), None)
    handle = RemovableHandle(table)
    table[handle.id] = hook
    return handle


def _run_hooks(t: TensorBase, g):
    for hook in list(_hooks[id(t)].values()):
        r = hook(make(g))
        if r is not None:
            r = r._data if isinstance(r, TensorBase) else np.asarray(r)
            if r.shape != g.shape:
                raise RuntimeError(f"hook: the gradient returned has shape {r.shape}, expected {g.shape}")
            g = r.astype(g.dtype, copy=False)
    return g


_end_callbacks: list = []  # run once when the current (or next) backward finishes


def queue_callback(fn) -> None:
    """Run ``fn()`` once, when the next ``backward()`` has filled every gradient.

    PyTorch's ``Variable._execution_engine.queue_callback``; DistributedDataParallel uses it to
    all-reduce the gradients right after backward.
    """
    _end_callbacks.append(fn)


def _run_end_callbacks() -> None:
    while _end_callbacks:
        _end_callbacks.pop(0)()


def backward(tensors, grad_tensors=None, retain_graph: bool = False, on_edge=None, *, grad=None) -> None:
    """Backpropagate from ``tensors`` (one tensor or a sequence): fill ``.grad`` of every tensor that needs it.

    ``grad_tensors`` is dL/d(root) per root; it may be omitted only for a tensor of one element.
    Gradients accumulate into ``.grad`` (call ``zero_grad()`` between steps);
    intermediate tensors keep theirs too, so a drawing can show every node's.
    Without ``retain_graph`` the arrays the ops saved are released afterwards and
    a second backward through the same graph raises an error.
    ``on_edge(tensor, fn, upstream, parent_index, downstream)`` is called for
    every edge as the walk runs (used by :func:`chainrule.viz.explain`).
    """
    if grad is not None:
        grad_tensors = grad
    roots, gs = _roots(tensors, grad_tensors, "backward")
    _walk(roots, gs, retain_graph, on_edge, None)
    _run_end_callbacks()


def _roots(tensors, grad_tensors, op):
    if isinstance(tensors, TensorBase):
        tensors, grad_tensors = (tensors,), (grad_tensors,)
    else:
        tensors = tuple(tensors)
        grad_tensors = (None,) * len(tensors) if grad_tensors is None else tuple(grad_tensors)
        if len(grad_tensors) != len(tensors):
            raise RuntimeError(f"{op}: got {len(grad_tensors)} gradients for {len(tensors)} tensors")
    gs = []
    for root, grad in zip(tensors, grad_tensors):
        if not root.requires_grad:
            raise RuntimeError(f"{op}: element 0 of tensors does not require grad and does not have a "
                               f"grad_fn (create the inputs with requires_grad=True)")
        data = root._data
        if grad is None:
            if data.size != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for a tensor of one "
                                   f"element, but the output has shape {data.shape}; call "
                                   f"out.sum().backward() or pass a gradient of that shape")
            g = np.array(1, data.dtype).reshape(data.shape)  # np.ones, without its Python wrapper
        else:
            g = grad._data if isinstance(grad, TensorBase) else np.asarray(grad, dtype=data.dtype)
            if g.shape != data.shape:
                raise ShapeError(f"{op}: grad has shape {g.shape} but the output has shape {data.shape}")
            if g.dtype != data.dtype:
                g = g.astype(data.dtype)
        gs.append(g)
    return tensors, gs


# PyTorch's backward never warns about floating-point events: 1/0 = inf (log's gradient at 0), 0/0 = nan,
# overflow to inf happen silently, as they do in the forward ops that note it
_QUIET = {"divide": "ignore", "invalid": "ignore", "over": "ignore"}


@np.errstate(**_QUIET)
def _walk(roots, gs, retain_graph, on_edge, capture) -> None:
    """The backward pass from ``roots`` seeded with ``gs``; with ``capture`` (a dict keyed by tensors)
    the gradients of those tensors are collected there and no ``.grad`` is touched. NumPy computes
    inf and nan silently in it (``_QUIET``), as PyTorch does."""
    grads = {}
    heap = []
    pop, push = heapq.heappop, heapq.heappush
    hooked = {} if _hooks else None  # leaves with hooks: their whole gradient, hooked once at the end
    for root, g in zip(roots, gs):
        if root._ctx is None:  # a leaf: d(root)/d(root) = 1
            if hooked is not None and id(root) in _hooks:
                hooked[root] = g if root not in hooked else hooked[root] + g
            elif capture is None:
                root._accumulate(g)
            elif root in capture:
                capture[root] = g if capture[root] is None else capture[root] + g
        elif root in grads:
            grads[root] = grads[root] + g
        else:
            grads[root] = g
            push(heap, (-root._ctx.seq, root))
    while heap:
        t = pop(heap)[1]
        g = grads.pop(t)
        if hooked is not None and id(t) in _hooks:
            g = _run_hooks(t, g)
        if capture is None:
            t._grad = g if t._grad is None else t._grad + g
        elif t in capture:
            capture[t] = g if capture[t] is None else capture[t] + g
        fn = t._ctx
        if fn.freed:
            raise RuntimeError(
                f"backward: trying to backward through the graph a second time ({fn.name} "
                f"already freed its saved arrays). Pass retain_graph=True to the first backward() "
                f"if you need to backpropagate twice.")
        if fn._checks is not None:
            check_versions(t, fn)
        out = fn.backward(g)
        if type(out) is not tuple:
            out = (out,)
        parents = fn.parents
        if len(out) != len(parents):
            raise RuntimeError(f"{fn.name}.backward returned {len(out)} gradients for "
                               f"{len(parents)} inputs")
        i = -1
        for p, gi in zip(parents, out):
            i += 1
            if gi is None or not p.requires_grad:
                continue
            pd = p._data
            if gi.shape != pd.shape:
                try:
                    gi = unbroadcast(np.asarray(gi), pd.shape)
                except ValueError:
                    raise RuntimeError(f"{fn.name}.backward returned a gradient of shape {gi.shape} "
                                       f"for input {i} of shape {pd.shape}") from None
            if gi.dtype is not pd.dtype and gi.dtype != pd.dtype:
                gi = gi.astype(pd.dtype)
            if on_edge is not None:
                on_edge(t, fn, g, i, gi)
            if p._ctx is None:
                if hooked is not None and id(p) in _hooks:
                    hooked[p] = gi.copy() if p not in hooked else hooked[p] + gi
                elif capture is None:
                    # the add gate hands its upstream array to both inputs: a leaf gets its own,
                    # so that an in-place change of one .grad (p.grad.mul_(c)) leaves the other alone
                    p._accumulate(gi.copy() if gi is g else gi)
                elif p in capture:
                    capture[p] = gi if capture[p] is None else capture[p] + gi
            else:
                prev = grads.get(p)
                if prev is None:
                    grads[p] = gi
                    push(heap, (-p._ctx.seq, p))
                else:
                    grads[p] = prev + gi
        if not retain_graph:
            fn.__dict__.clear()
            fn.freed = True
    for p, g in (hooked or {}).items():
        g = _run_hooks(p, g)
        if capture is None:
            p._accumulate(g)
        elif p in capture:
            capture[p] = g if capture[p] is None else capture[p] + g


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused: bool = False, materialize_grads: bool = False):
    """The gradients of ``outputs`` with respect to ``inputs``, as a tuple (``.grad`` is left alone).

    PyTorch's ``torch.autograd.grad``: ``grad_outputs`` weights each output (needed for outputs of
    more than one element); ``retain_graph`` keeps the graph for another pass. ``create_graph``
    (gradients that are themselves differentiable) is not supported: chainrule's backward rules
    compute on ndarrays.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> cr.autograd.grad(x * x, x)[0].item()
        6.0
    """
    if create_graph:
        raise NotImplementedError("autograd.grad: create_graph=True (higher-order gradients) is not "
                                  "supported; chainrule's backward rules compute on NumPy arrays")
    single = isinstance(inputs, TensorBase)
    inputs = (inputs,) if single else tuple(inputs)
    for x in inputs:
        if not isinstance(x, TensorBase) or not x.requires_grad:
            raise RuntimeError("autograd.grad: one of the differentiated Tensors does not require grad")
    roots, gs = _roots(outputs, grad_outputs, "autograd.grad")
    capture = dict.fromkeys(inputs)
    _walk(roots, gs, bool(retain_graph), None, capture)
    result = []
    for x in inputs:
        g = capture[x]
        if g is None:
            if not (allow_unused or materialize_grads):
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in "
                                   "the graph. Set allow_unused=True if this is the desired behavior.")
            result.append(make(np.zeros_like(x._data)) if materialize_grads else None)
        else:
            result.append(make(np.array(g, dtype=x._data.dtype)))
    return tuple(result)
