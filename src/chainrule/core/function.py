"""Function, the base of every op, and the tensor record it computes on.

Every op is a :class:`Function` whose ``forward`` computes on ndarrays and whose
``backward`` turns the upstream gradient dL/d(out) into one downstream gradient
per input: downstream = upstream x local, the chain rule at one node.
``Function.apply`` runs the forward and, when a gradient is wanted, records the
node in the graph (the walk that uses it is in :mod:`chainrule.core.engine`).

The core knows tensors only as :class:`TensorBase`, the record an op reads and
writes (the array, its gradient, the node that made it, its version). The front's
``Tensor`` subclasses it and registers itself once (:func:`set_tensor_class`), so
that ``apply`` returns full Tensors without the core importing the front.
"""
from __future__ import annotations

import inspect
import itertools
import weakref

import numpy as np

from chainrule.core.errors import ShapeError
from chainrule.core.mode import mode, no_grad


# --------------------------------------------------------------------------- the tensor record
class TensorBase:
    """What the engine knows of a tensor: ``_data`` (the ndarray), ``_grad`` (an ndarray or None),
    ``requires_grad``, ``_ctx`` (the Function that made it, None for a leaf), ``name`` (a label for
    drawings), ``_vc`` (the version record shared by the tensors that stand for one array, see
    :func:`bump_version`) and ``_retains`` (``retain_grad()`` was called)."""

    __slots__ = ("_data", "_grad", "requires_grad", "_ctx", "name", "_vc", "_retains", "__weakref__")

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool = False, ctx=None):
        """``make(data, requires_grad, ctx)``, spelled as the constructor code written before it uses."""
        return make(data, requires_grad, ctx)

    def _accumulate(self, g) -> None:
        # out of place: the same array may be handed to several inputs (add passes it on)
        if self._grad is None:
            # a 0-d result may be a NumPy scalar, a sum's a read-only broadcast view
            self._grad = g.copy() if type(g) is not np.ndarray or not g.flags.writeable else g
        else:
            self._grad = np.asarray(self._grad + g)


_Tensor = TensorBase  # the class of the tensors ops return; the front registers its Tensor


def set_tensor_class(cls) -> None:
    """Make ``Function.apply`` (and the engine) return instances of ``cls``, a TensorBase subclass."""
    global _Tensor
    if not issubclass(cls, TensorBase):
        raise TypeError(f"set_tensor_class: {cls.__name__} is not a subclass of TensorBase")
    _Tensor = cls


def make(data: np.ndarray, requires_grad: bool = False, ctx=None):
    """A tensor of the registered class around the ndarray ``data`` (no copy, no checks)."""
    t = object.__new__(_Tensor)
    t._data = data
    t._grad = None
    t.requires_grad = requires_grad
    t._ctx = ctx
    t.name = None
    t._vc = None
    return t


def as_record(x):
    """``x`` itself if it is a tensor, else a constant tensor around ``np.asarray(x)``."""
    return x if isinstance(x, TensorBase) else make(np.asarray(x))


# --------------------------------------------------------------------------- Function
_seq = itertools.count()  # creation order: every node's inputs were made before it

# chainrule.compile's one hook into the engine: while a step is being traced, ``tracer`` is an
# object whose ``op(fn, inputs, options, out)`` hears of every op applied (None otherwise).
tracer = None

# needs_input_grad for one and two inputs, shared rather than built per node: every object a node
# keeps alive is one more for Python's garbage collector to scan while a graph is being built
_NEEDS1 = {False: (False,), True: (True,)}
_NEEDS2 = {False: {False: (False, False), True: (False, True)},
           True: {False: (True, False), True: (True, True)}}

ALL = slice(None)  # saved_inputs = ALL: the backward reads every input (einsum); slice(1, None): all but x


class Function:
    """Base class of every op: a forward rule and a backward rule, side by side.

    Subclass it to add an op (the lecture's "modular layer")::

        class Cube(Function):
            '''d(x^3)/dx = 3 x^2'''
            saved_inputs = (0,)                # the backward reads input 0: version-checked
            def forward(self, x):
                self.x = x                     # save what backward needs
                return x ** 3
            def backward(self, grad):
                return grad * 3 * self.x ** 2  # upstream x local

        y = Cube.apply(x)

    ``apply(*tensors, **options)``: ``forward`` receives ndarrays (one per tensor input) and the
    keyword options (numbers, tuples, strings; never an array the backward reads: such an array is
    an input, so that the version check covers it); ``backward`` receives dL/d(out) as an ndarray
    and returns one gradient per input (a tuple, or a single array for one input; None for an input
    that needs none). ``self.needs_input_grad`` tells which inputs want one. A gradient may have the
    broadcast shape: the engine sums it back.
    An op may add ``local(i)`` beside its backward, stating d(out)/d(input i) for the
    narration: ``(formula, *factors)``, the formula naming inputs ``{0}``, ``{1}`` and the
    upstream gradient ``{g}``, the factors' product being the local gradient (none for a
    vectorized rule, whose formula then gives the downstream gradient).

    PyTorch's style (a static ``forward(ctx, ...)`` and ``backward(ctx, grad)`` on Tensors) works
    too: see :class:`FunctionCtx`.
    """

    __slots__ = ("parents", "needs_input_grad", "seq", "freed", "__dict__")

    # What the backward reads besides the gradient, declared so that a later in-place change of it is
    # caught (see check_versions): the indices of the inputs whose arrays are kept (a tuple, or a slice
    # such as ALL), and
    # whether the output's array is kept. Subclasses set these two; _checks is derived once per class.
    saved_inputs: tuple = ()
    saves_output: bool = False
    _checks = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if isinstance(inspect.getattr_static(cls, "forward", None), staticmethod):
            # PyTorch's style: static forward(ctx, ...) and backward(ctx, grad) on Tensors
            cls.apply = classmethod(_ctx_apply)
            return
        saved = cls.saved_inputs
        cls._checks = (saved if type(saved) is slice else tuple(saved), bool(cls.saves_output)) \
            if saved or cls.saves_output else None

    def forward(self, *arrays, **options):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined")

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.backward is not defined")

    @classmethod
    def apply(cls, *inputs, **options):
        """Run the op on tensors (or array-likes) and record it in the graph."""
        for x in inputs:
            if not isinstance(x, TensorBase):
                inputs = tuple(as_record(x) for x in inputs)
                break
        fn = object.__new__(cls)
        n = len(inputs)
        try:  # one and two inputs are spelled out: this is the hottest path of the library
            if n == 2:
                a, b = inputs
                out = fn.forward(a._data, b._data, **options)
                needs = _NEEDS2[a.requires_grad][b.requires_grad]
            elif n == 1:
                a = inputs[0]
                out = fn.forward(a._data, **options)
                needs = _NEEDS1[a.requires_grad]
            elif n == 3:  # linear with a bias, where
                a, b, c = inputs
                out = fn.forward(a._data, b._data, c._data, **options)
                needs = (a.requires_grad, b.requires_grad, c.requires_grad)
            else:
                out = fn.forward(*[x._data for x in inputs], **options)
                needs = tuple([x.requires_grad for x in inputs])
        except ValueError as e:
            if "broadcast" not in str(e):
                raise
            shapes = " and ".join(str(x._data.shape) for x in inputs)
            raise ShapeError(f"{cls.__name__.lower()}: shapes {shapes} do not broadcast (NumPy rules: "
                             f"trailing axes must be equal or 1)") from None
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        t = object.__new__(_Tensor)  # make(), inlined on this hot path
        t._data = out
        t._grad = None
        t.name = None
        t._vc = None
        if True in needs and mode.enabled:
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

    @property
    def next_functions(self) -> tuple:
        """PyTorch's edges to the inputs' nodes: one ``(node, 0)`` per input, the node being the
        input's ``grad_fn``, an :class:`AccumulateGrad` for a leaf that requires grad, or None."""
        return tuple((p._ctx if p._ctx is not None else AccumulateGrad(p) if p.requires_grad else None, 0)
                     for p in getattr(self, "parents", ()))

    def __repr__(self):
        name = self.name
        return f"<{name if name.endswith('Backward') else name + 'Backward0'} object at {id(self):#x}>"


class AccumulateGrad:
    """The node where a leaf's gradient lands (PyTorch's ``AccumulateGrad``): ``variable`` is the leaf."""

    __slots__ = ("variable",)
    next_functions = ()
    name = "AccumulateGrad"

    def __init__(self, variable):
        self.variable = variable

    def __eq__(self, other):
        return isinstance(other, AccumulateGrad) and other.variable is self.variable

    def __hash__(self):
        return id(self.variable)

    def __repr__(self):
        return f"<AccumulateGrad object at {id(self):#x}>"


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
    if axes == [0] and grad.ndim == 2:  # a bias's gradient: the batch's rows summed
        return sum_rows(grad).reshape(shape)
    if axes:
        grad = grad.sum(axis=tuple(axes), keepdims=True)
    return grad.reshape(shape)


_ONES: dict = {}


def sum_rows(g: np.ndarray) -> np.ndarray:
    """The rows of a 2-D ``g`` summed (``g.sum(0)``), for float32 and float64 as a product with a vector
    of ones: BLAS's gemv is 3-5x faster than NumPy's reduction down the rows (0.6 against 1.9 us at
    (64, 100) float32, 3.7 against 17 us at (1024, 100)); the order of the additions differs, the
    result is the same within rounding."""
    n = g.shape[0]
    if g.dtype.char not in "fd" or n < 2:
        return np.add.reduce(g, axis=0)
    return np.dot(ones_vector(n, g.dtype), g)


def sum_last(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` summed over its last axis, keeping it (``x.sum(-1, keepdims=True)``); for float32 and float64
    as a product with a vector of ones: NumPy reduces a short last axis (softmax's 10 classes) 3-7x
    slower than gemv (15.7 against 2.1 us at (1024, 10)). ``out``: a C-contiguous array of the result's
    shape."""
    c = x.shape[-1]
    if x.dtype.char not in "fd" or c < 2 or x.ndim < 2 or not x.flags.c_contiguous:
        return np.add.reduce(x, axis=-1, keepdims=True, out=out)
    rows = x.reshape(-1, c)
    if out is None:
        return np.dot(rows, ones_vector(c, x.dtype)).reshape(x.shape[:-1] + (1,))
    np.dot(rows, ones_vector(c, x.dtype), out=out.reshape(rows.shape[0]))
    return out


def ones_vector(n: int, dtype) -> np.ndarray:
    """A read-only vector of n ones: a view of one block per dtype, grown when needed."""
    ones = _ONES.get(dtype)
    if ones is None or ones.size < n:
        ones = np.ones(max(n, 1024), dtype)
        ones.flags.writeable = False
        _ONES[dtype] = ones
    return ones[:n]


_SHAPE_CONSTANTS: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()  # id -> array


def shape_constant(a: np.ndarray) -> np.ndarray:
    """``a``, noted as made from shapes and options alone, never from a tensor's values (an index
    pattern, a causal mask): a compiled step keeps it as traced instead of refusing it as what could
    be a mask of the data. Read-only, so that nothing changes it after the note."""
    a.flags.writeable = False
    _SHAPE_CONSTANTS[id(a)] = a
    return a


def is_shape_constant(a) -> bool:
    """Was array ``a`` itself noted by :func:`shape_constant`?"""
    return _SHAPE_CONSTANTS.get(id(a)) is a


# --------------------------------------------------------------------------- versions (in-place ops)
def bump_version(t: TensorBase) -> None:
    """Record an in-place change of ``t``: its version goes up by one, stamped with the graph's clock.

    A tensor's version record ``_vc`` is ``[version, seq, seq, ...]``, the creation stamps of its
    latest in-place changes; it is shared by the tensors that stand for one array (an in-place op's
    earlier self, ``detach()``). A node created before the latest stamp saw an older version.
    """
    vc = t._vc
    if vc is None:
        t._vc = vc = [0]
    vc[0] += 1
    vc.append(next(_seq))
    if len(vc) > 17:
        del vc[1]


def _stale(vc, fn) -> bool:
    return vc is not None and len(vc) > 1 and vc[-1] > fn.seq


_TORCH_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
                "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
                "uint8": "ByteTensor", "bool": "BoolTensor"}


def torch_name(dtype) -> str:
    """PyTorch's tensor type name for a dtype ('FloatTensor'), used in error messages."""
    return _TORCH_NAMES.get(np.dtype(dtype).name, f"{np.dtype(dtype).name} tensor")


def version_error(t: TensorBase, vc, fn, what: str) -> RuntimeError:
    now = vc[0]
    expected = now - sum(1 for s in vc[1:] if s > fn.seq)
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{torch_name(t._data.dtype)} {list(t._data.shape)}], which is {what} of "
        f"{fn.name}, is at version {now}; expected version {expected} instead. Hint: the tensor was "
        f"changed in place (add_, mul_, +=, x[...] = ...) after {fn.name} saved it; change a copy "
        f"instead.")


def check_versions(t: TensorBase, fn) -> None:
    """Raise if an array that ``fn``'s backward reads was changed in place after ``fn`` ran."""
    inputs, output = fn._checks
    seq = fn.seq
    vc = t._vc
    if output and vc is not None and len(vc) > 1 and vc[-1] > seq:  # _stale, inlined: once per node
        raise version_error(t, vc, fn, "output 0")
    parents = fn.parents
    n = len(parents)
    for i in (range(n)[inputs] if type(inputs) is slice else inputs):
        if i < n:
            vc = parents[i]._vc
            if vc is not None and len(vc) > 1 and vc[-1] > seq:
                raise version_error(parents[i], vc, fn, f"input {i}")


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
            if x is not None and not isinstance(x, TensorBase):
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
                if x is not None and _stale(x._vc, self):
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
        gts = tuple(None if g is None else make(g) for g in grads)
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
                out.append(r._data if isinstance(r, TensorBase) else np.asarray(r))
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
    tensor_args = [i for i, a in enumerate(args) if isinstance(a, TensorBase)]
    ctx.needs_input_grad = tuple(isinstance(a, TensorBase) and a.requires_grad for a in args)
    ctx.freed = False
    with no_grad():
        out = cls.forward(ctx, *args, **kwargs)
    record = mode.enabled and any(ctx.needs_input_grad)
    single = not isinstance(out, tuple)
    outs = (out,) if single else out
    inputs = {id(args[i]) for i in tensor_args}
    outs = tuple(make(o._data) if isinstance(o, TensorBase) and id(o) in inputs else o for o in outs)
    if not record:
        return outs[0] if single else outs
    ctx.parents = tuple(args[i] for i in tensor_args)
    ctx._tensor_args = tuple(tensor_args)
    ctx._n_args = len(args)
    ctx.seq = next(_seq)
    non_diff = {id(x) for x in ctx.__dict__.get("_non_diff", ())}
    tensors = [o for o in outs if isinstance(o, TensorBase)]
    ctx._outputs_meta = tuple((o._data.shape, o._data.dtype) for o in tensors)
    diff = {id(o) for o in tensors if id(o) not in non_diff and o._data.dtype.kind == "f"}
    if len(tensors) == 1:
        if diff:
            tensors[0]._ctx, tensors[0].requires_grad = ctx, True
    else:
        holder = make(np.empty(0), True, ctx)
        for k, o in enumerate(tensors):
            if id(o) in diff:
                node = object.__new__(_PickOutput)
                node.k, node.n, node.holder = k, len(tensors), holder._data
                node.parents, node.needs_input_grad = (holder,), (True,)
                node.seq, node.freed = next(_seq), False
                o._ctx, o.requires_grad = node, True
    return outs[0] if single else outs
