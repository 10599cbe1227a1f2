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
import inspect
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


# --------------------------------------------------------------------------- compile hook
# chainrule.compile's one hook into the engine: while a step is being traced, ``tracer`` is an
# object whose ``op(fn, inputs, options, out)`` hears of every op applied (None otherwise).
tracer = None


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

    # What the backward reads besides the gradient, declared so that a later in-place change of it is
    # caught (see _check_versions): the indices of the inputs whose arrays are kept, and whether the
    # output's array is kept. Subclasses set these two; _checks is derived once per class.
    saved_inputs: tuple = ()
    saves_output: bool = False
    _checks = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if isinstance(inspect.getattr_static(cls, "forward", None), staticmethod):
            # PyTorch's style: static forward(ctx, ...) and backward(ctx, grad) on Tensors
            cls.apply = classmethod(_ctx_apply)
            return
        cls._checks = (tuple(cls.saved_inputs), bool(cls.saves_output)) \
            if cls.saved_inputs or cls.saves_output else None

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
            shapes = " and ".join(str(x.data.shape) for x in inputs)
            raise ValueError(f"{cls.__name__.lower()}: shapes {shapes} do not broadcast (NumPy rules: "
                             f"trailing axes must be equal or 1)") from None
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        t = object.__new__(Tensor)  # Tensor._make, inlined on this hot path
        t.data = out
        t._grad = None
        t.name = None
        t._vc = None
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
        if tracer is not None:  # chainrule.compile is tracing: report the op (see the hook above)
            tracer.op(fn, inputs, options, t)
        return t

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        name = self.name
        return f"<{name if name.endswith('Backward') else name + 'Backward0'} object at {id(self):#x}>"


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


def backward(tensors, grad_tensors=None, retain_graph: bool = False, on_edge=None, *, grad=None) -> None:
    """Backpropagate from ``tensors`` (one tensor or a sequence): fill ``.grad`` of every tensor that needs it.

    ``grad_tensors`` is dL/d(root) per root; it may be omitted only for a tensor of one element.
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
    if grad is not None:
        grad_tensors = grad
    roots, gs = _roots(tensors, grad_tensors, "backward")
    _walk(roots, gs, retain_graph, on_edge, None)
    _run_end_callbacks()


def _roots(tensors, grad_tensors, op):
    if isinstance(tensors, Tensor):
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
        if grad is None:
            if root.data.size != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for a tensor of one "
                                   f"element, but the output has shape {root.shape}; call "
                                   f"out.sum().backward() or pass a gradient of that shape")
            g = np.ones(root.data.shape, root.data.dtype)
        else:
            g = grad.data if isinstance(grad, Tensor) else np.asarray(grad, dtype=root.dtype)
            if g.shape != root.shape:
                raise ValueError(f"{op}: grad has shape {g.shape} but the output has shape {root.shape}")
            if g.dtype != root.dtype:
                g = g.astype(root.dtype)
        gs.append(g)
    return tensors, gs


def _walk(roots, gs, retain_graph, on_edge, capture) -> None:
    """The backward pass from ``roots`` seeded with ``gs``; with ``capture`` (a dict keyed by tensors)
    the gradients of those tensors are collected there and no ``.grad`` is touched."""
    grads = {}
    heap = []
    pop, push = heapq.heappop, heapq.heappush
    for root, g in zip(roots, gs):
        if root._ctx is None:  # a leaf: d(root)/d(root) = 1
            if capture is None:
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
            _check_versions(t, fn)
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
                if capture is None:
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
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    for x in inputs:
        if not isinstance(x, Tensor) or not x.requires_grad:
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
            result.append(Tensor._make(np.zeros_like(x.data), False, None) if materialize_grads else None)
        else:
            result.append(Tensor._make(np.array(g, dtype=x.data.dtype), False, None))
    return tuple(result)


# --------------------------------------------------------------------------- versions (in-place ops)
def bump_version(t: Tensor) -> None:
    """Record an in-place change of ``t``: its version goes up by one, stamped with the graph's clock.

    A tensor's version record ``_vc`` is ``[version, seq, seq, ...]``, the creation stamps of its
    latest in-place changes; it is shared by the tensors that stand for one array (an in-place op's
    earlier self, ``detach()``). A node created before the latest stamp saw an older version.
    """
    vc = getattr(t, "_vc", None)  # tolerant of tensors made with object.__new__ elsewhere
    if vc is None:
        t._vc = vc = [0]
    vc[0] += 1
    vc.append(next(_seq))
    if len(vc) > 17:
        del vc[1]


def _stale(vc, fn) -> bool:
    return vc is not None and len(vc) > 1 and vc[-1] > fn.seq


def version_error(t: Tensor, vc, fn, what: str) -> RuntimeError:
    now = vc[0]
    expected = now - sum(1 for s in vc[1:] if s > fn.seq)
    from chainrule.dtypes import torch_name
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{torch_name(t.data.dtype)} {list(t.shape)}], which is {what} of {fn.name}, is at "
        f"version {now}; expected version {expected} instead. Hint: the tensor was changed in place "
        f"(add_, mul_, +=, x[...] = ...) after {fn.name} saved it; change a copy instead.")


def _check_versions(t: Tensor, fn) -> None:
    """Raise if an array that ``fn``'s backward reads was changed in place after ``fn`` ran."""
    inputs, output = fn._checks
    if output and _stale(getattr(t, "_vc", None), fn):
        raise version_error(t, t._vc, fn, "output 0")
    for i in inputs:
        if i < len(fn.parents):
            p = fn.parents[i]
            if _stale(getattr(p, "_vc", None), fn):
                raise version_error(p, p._vc, fn, f"input {i}")


# --------------------------------------------------------------------------- PyTorch-style Function
class FunctionCtx(Function):
    """The node of a PyTorch-style Function: ``ctx`` in its static forward and backward.

    It keeps what forward stores (``save_for_backward``, any attribute) and, in the backward pass,
    calls the user's static ``backward(ctx, *grad_outputs)`` on Tensors.
    """

    _fn_cls = None
    _n_out = 1

    @property
    def name(self) -> str:
        return f"{self._fn_cls.__name__}Backward"

    def save_for_backward(self, *tensors) -> None:
        for x in tensors:
            if x is not None and not isinstance(x, Tensor):
                raise TypeError(f"save_for_backward can only save tensors (or None), got "
                                f"{type(x).__name__}; store other values as ctx attributes")
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        if self.freed:
            raise RuntimeError("Trying to backward through the graph a second time (or directly access "
                               "saved tensors after they have already been freed). Specify "
                               "retain_graph=True if you need to backward a second time.")
        saved = self.__dict__.get("_saved", ())
        if hasattr(self, "seq"):
            for x in saved:
                if x is not None and _stale(getattr(x, "_vc", None), self):
                    raise version_error(x, x._vc, self, "saved tensor")
        return saved

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_diff = tuple(tensors)

    def mark_dirty(self, *tensors) -> None:
        self._dirty = tuple(tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self._materialize = bool(value)

    def backward(self, grad):
        grads = grad.grads if type(grad) is _Grads else (grad,)
        outs = self._outputs_meta
        if self.__dict__.get("_materialize", True):
            grads = tuple(np.zeros(shape, dt) if g is None else g for g, (shape, dt) in zip(grads, outs))
        gts = tuple(None if g is None else Tensor._make(g, False, None) for g in grads)
        with no_grad():
            res = self._fn_cls.backward(self, *gts)
        if not isinstance(res, tuple):
            res = (res,)
        n = self._n_args
        if len(res) < n or any(r is not None for r in res[n:]):
            raise RuntimeError(f"function {self.name} returned an incorrect number of gradients "
                               f"(expected {n}, got {len(res)})")
        out = []
        for k in self._tensor_args:
            r = res[k]
            if r is None:
                out.append(None)
            else:
                out.append(r.data if isinstance(r, Tensor) else np.asarray(r))
        return tuple(out)


class _Grads:
    """The gradients of a multi-output Function's outputs, gathered before its backward runs."""

    __slots__ = ("grads", "shape", "dtype")

    def __init__(self, grads, shape, dtype):
        self.grads, self.shape, self.dtype = grads, shape, dtype

    def __add__(self, other):
        gs = tuple(a if b is None else b if a is None else a + b for a, b in zip(self.grads, other.grads))
        return _Grads(gs, self.shape, self.dtype)


class _PickOutput(Function):
    """Output k of a multi-output Function: its gradient goes to slot k of the node's gradients."""

    def forward(self, holder, k, n):
        self.k, self.n, self.holder = k, n, holder
        return holder

    def backward(self, grad):
        gs = [None] * self.n
        gs[self.k] = grad
        return _Grads(tuple(gs), self.holder.shape, self.holder.dtype)


def _ctx_apply(cls, *args, **kwargs):
    """``Function.apply`` for PyTorch-style subclasses: run the static forward without recording,
    then make its outputs children of one node whose backward calls the static backward."""
    ctx = object.__new__(FunctionCtx)
    ctx._fn_cls = cls
    tensor_args = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
    ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
    ctx.freed = False
    with no_grad():
        out = cls.forward(ctx, *args, **kwargs)
    record = _mode.enabled and any(ctx.needs_input_grad)
    single = not isinstance(out, tuple)
    outs = (out,) if single else out
    inputs = {id(args[i]) for i in tensor_args}
    outs = tuple(Tensor._make(o.data, False, None) if isinstance(o, Tensor) and id(o) in inputs else o
                 for o in outs)
    if not record:
        return outs[0] if single else outs
    ctx.parents = tuple(args[i] for i in tensor_args)
    ctx._tensor_args = tuple(tensor_args)
    ctx._n_args = len(args)
    ctx.seq = next(_seq)
    non_diff = {id(x) for x in ctx.__dict__.get("_non_diff", ())}
    tensors = [o for o in outs if isinstance(o, Tensor)]
    ctx._outputs_meta = tuple((o.data.shape, o.data.dtype) for o in tensors)
    diff = {id(o) for o in tensors if id(o) not in non_diff and o.data.dtype.kind == "f"}
    if len(tensors) == 1:
        if diff:
            tensors[0]._ctx, tensors[0].requires_grad = ctx, True
    else:
        holder = Tensor._make(np.empty(0), True, ctx)
        for k, o in enumerate(tensors):
            if id(o) in diff:
                node = object.__new__(_PickOutput)
                node.k, node.n, node.holder = k, len(tensors), holder.data
                node.parents, node.needs_input_grad = (holder,), (True,)
                node.seq, node.freed = next(_seq), False
                o._ctx, o.requires_grad = node, True
    return outs[0] if single else outs
