"""The engine: Function (the base of every op), grad mode, and the backward walk.

Every op is a :class:`Function` whose ``forward`` computes on ndarrays and whose
``backward`` turns the upstream gradient dL/d(out) into one downstream gradient
per input: downstream = upstream x local, the chain rule at one node.
``Function.apply`` runs the forward and, when a gradient is wanted, records the
node in the graph. :func:`backward` walks that graph once, in reverse
topological order, without recursion, and sums gradients that reach a
broadcast input back to the input's shape (:func:`unbroadcast`), so no op has
to.
"""
from __future__ import annotations

import functools
import heapq
import itertools
import threading

import numpy as np

from chainrule.tensor import Tensor


# --------------------------------------------------------------------------- grad mode
class _GradMode(threading.local):
    enabled = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when ops record the graph (the default), False inside ``no_grad()``."""
    return _mode.enabled


class _SetGrad:
    """Context manager and decorator that sets grad mode and restores it on exit."""

    _value = True

    def __enter__(self):
        self._prev = _mode.enabled
        _mode.enabled = self._value
        return self

    def __exit__(self, *exc):
        _mode.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_SetGrad):
    """Record no graph inside this block (evaluation, optimizer steps).

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> with cr.no_grad():
        ...     y = w * 2
        >>> y.requires_grad
        False
    """

    _value = False


class enable_grad(_SetGrad):
    """Record the graph again inside a ``no_grad`` block."""

    _value = True


# --------------------------------------------------------------------------- Function
# needs_input_grad for one and two inputs, shared rather than built per node: every object a node
# keeps alive is one more for Python's garbage collector to scan while a graph is being built
_NEEDS1 = {False: (False,), True: (True,)}
_NEEDS2 = {False: {False: (False, False), True: (False, True)},
           True: {False: (True, False), True: (True, True)}}
class Function:
    """Base class of every op: a forward rule and a backward rule, side by side.

    Subclass it to add an op (the lecture's "modular layer")::

        class Cube(Function):
            '''d(x^3)/dx = 3 x^2'''
            def forward(self, x):
                self.x = x                     # save what backward needs
                return x ** 3
            def backward(self, grad):
                return grad * 3 * self.x ** 2  # upstream x local

        y = Cube.apply(x)

    ``forward`` receives ndarrays (one per tensor input) and keyword options;
    ``backward`` receives dL/d(out) as an ndarray and returns one gradient per
    input (a tuple, or a single array for one input; None for an input that
    needs none). ``self.needs_input_grad`` tells which inputs want one. A
    gradient may have the broadcast shape: the engine sums it back.
    An op may add ``local(i)`` beside its backward, stating d(out)/d(input i) for the
    narration: ``(formula, *factors)``, the formula naming inputs ``{0}``, ``{1}`` and the
    upstream gradient ``{g}``, the factors' product being the local gradient (none for a
    vectorized rule, whose formula then gives the downstream gradient).
    """

    __slots__ = ("parents", "needs_input_grad", "seq", "freed", "__dict__")

    def forward(self, *arrays, **options):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined")

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.backward is not defined")

    @classmethod
    def apply(cls, *inputs, **options):
        """Run the op on tensors (or array-likes) and record it in the graph."""
        for x in inputs:
            if not isinstance(x, Tensor):
                inputs = tuple(x if isinstance(x, Tensor) else Tensor(x) for x in inputs)
                break
        fn = object.__new__(cls)
        n = len(inputs)
        try:  # one and two inputs are spelled out: this is the hottest path of the library
            if n == 2:
                a, b = inputs
                out = fn.forward(a.data, b.data, **options)
                needs = _NEEDS2[a.requires_grad][b.requires_grad]
            elif n == 1:
                a = inputs[0]
                out = fn.forward(a.data, **options)
                needs = _NEEDS1[a.requires_grad]
            elif n == 3:  # linear with a bias
                a, b, c = inputs
                out = fn.forward(a.data, b.data, c.data, **options)
                needs = (a.requires_grad, b.requires_grad, c.requires_grad)
            else:
                out = fn.forward(*[x.data for x in inputs], **options)
                needs = tuple([x.requires_grad for x in inputs])
        except ValueError as e:
            if "broadcast" not in str(e):
                raise
            shapes = " and ".join(str(x.shape) for x in inputs)
            raise ValueError(f"{cls.__name__.lower()}: shapes {shapes} do not broadcast (NumPy rules: "
                             f"trailing axes must be equal or 1)") from None
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        t = object.__new__(Tensor)  # Tensor._make, inlined on this hot path
        t.data = out
        t._grad = None
        t.name = None
        if True in needs and _mode.enabled:
            fn.parents = inputs
            fn.needs_input_grad = needs
            fn.seq = next(_seq)
            fn.freed = False
            t.requires_grad = True
            t._ctx = fn
        else:
            t.requires_grad = False
            t._ctx = None
        return t

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        return f"<{type(self).__name__} backward>"


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``.

    The one place where "a gradient has the shape of its variable" is enforced:
    a (3, 4) gradient reaching a (4,) bias is summed over axis 0, one reaching a
    (3, 1) input is summed over axis 1 (keepdims).
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"gradient of shape {grad.shape} cannot belong to an input of shape {shape}")
    axes = list(range(extra))
    for i, n in enumerate(shape):
        if n == 1 and grad.shape[extra + i] != 1:
            axes.append(extra + i)
        elif n != grad.shape[extra + i]:
            raise ValueError(f"gradient of shape {grad.shape} cannot belong to an input of shape {shape}")
    if axes:
        grad = grad.sum(axis=tuple(axes), keepdims=True)
    return grad.reshape(shape)


# --------------------------------------------------------------------------- the walk
_seq = itertools.count()  # creation order: every node's inputs were made before it


def toposort(root: Tensor) -> list:
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


def backward(root: Tensor, grad=None, retain_graph: bool = False, on_edge=None) -> None:
    """Backpropagate from ``root``: fill ``.grad`` of every tensor that requires it.

    ``grad`` is dL/d(root); it may be omitted only for a tensor of one element.
    Gradients accumulate into ``.grad`` (call ``zero_grad()`` between steps);
    intermediate tensors keep theirs too, so a drawing can show every node's.
    Without ``retain_graph`` the arrays the ops saved are released afterwards and
    a second backward through the same graph raises an error.
    ``on_edge(tensor, fn, upstream, parent_index, downstream)`` is called for
    every edge as the walk runs (used by :func:`chainrule.viz.explain`).

    The walk visits nodes newest first (a max-heap on creation order), which is
    a reverse topological order: every consumer of a tensor was created after
    it, so all of its gradient has arrived before the tensor is visited. No
    recursion, one pass.
    """
    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                           "create the inputs with requires_grad=True")
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward: grad can be implicitly created only for a tensor of one "
                               f"element, but the output has shape {root.shape}; call "
                               f"out.sum().backward() or pass grad= of that shape")
        g = np.ones(root.data.shape, root.data.dtype)
    else:
        g = grad.data if isinstance(grad, Tensor) else np.asarray(grad, dtype=root.dtype)
        if g.shape != root.shape:
            raise ValueError(f"backward: grad has shape {g.shape} but the output has shape {root.shape}")
        if g.dtype != root.dtype:
            g = g.astype(root.dtype)
    if root._ctx is None:  # a leaf: d(root)/d(root) = 1
        root._accumulate(g)
        _run_end_callbacks()
        return

    grads = {root: g}
    heap = [(-root._ctx.seq, root)]
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        t = pop(heap)[1]
        g = grads.pop(t)
        t._grad = g if t._grad is None else t._grad + g
        fn = t._ctx
        if fn.freed:
            raise RuntimeError(
                f"backward: trying to backward through the graph a second time ({fn.name} "
                f"already freed its saved arrays). Pass retain_graph=True to the first backward() "
                f"if you need to backpropagate twice.")
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
            pd = p.data
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
                p._accumulate(gi)
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
    _run_end_callbacks()
