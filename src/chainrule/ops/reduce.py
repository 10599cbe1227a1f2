"""Reductions: sum, mean, max/min (amax/amin), logsumexp; var from primitives.

A reduction's backward spreads the upstream gradient back over the reduced
axes: sum copies it, mean divides it by the count, max routes it to the
largest element (split evenly among ties, as PyTorch's amax does).
"""
from __future__ import annotations

import builtins
import collections

import numpy as np

from chainrule import dtypes
from chainrule.autograd import Function
from chainrule.ops.convert import as_tensor
from chainrule.tensor import Tensor


def normalize_axis(axis, ndim: int, op: str) -> tuple | None:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of axes, or None for all."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    n = ndim or 1  # a 0-d tensor reduces over axis 0 or -1, as in PyTorch
    for a in axes:
        if not -n <= a < n:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % n)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def _keepdims_grad(grad, shape, axes, keepdims):
    """Reinsert the reduced axes into ``grad`` so that it broadcasts against the input."""
    if keepdims:
        return grad
    if axes is None:
        return grad.reshape((1,) * len(shape))
    return np.expand_dims(grad, axes)


class Sum(Function):
    """sum of x over axes; d/dx_i = 1: the upstream gradient is copied to every element."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(self, grad):
        g = _keepdims_grad(grad, self.shape, self.axis, self.keepdims)
        return np.broadcast_to(g, self.shape)

    def local(self, i):
        return ("{g} copied to every element of {0}",)


class Mean(Function):
    """mean of x over axes; d/dx_i = 1/n for the n elements averaged."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        self.n = x.size if axis is None else int(np.prod([x.shape[a] for a in axis]))
        # np.add.reduce, not x.mean(): the same sum in C without NumPy's Python-level wrapper
        return np.add.reduce(x, axis=axis, keepdims=keepdims) / x.dtype.type(self.n)

    def backward(self, grad):
        g = np.empty(self.shape, dtype=grad.dtype)
        g[...] = _keepdims_grad(grad, self.shape, self.axis, self.keepdims) / grad.dtype.type(self.n)
        return g

    def local(self, i):
        return ("{g} / %d copied to every element of {0}" % self.n,)


class Amax(Function):
    """max of x over axes; the gradient goes to the maximal elements, split evenly among ties
    (to the NaN entries where the result is NaN, as PyTorch)."""

    saved_inputs, saves_output = (0,), True
    reduce = staticmethod(np.amax)

    def forward(self, x, axis=None, keepdims=False):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        self.out = self.reduce(x, axis=axis, keepdims=True)
        return self.out if keepdims else (self.out.reshape(()) if axis is None else
                                          np.squeeze(self.out, axis=axis))

    def backward(self, grad):
        g = _keepdims_grad(grad, self.x.shape, self.axis, self.keepdims)
        mask = self.x == self.out
        if np.isnan(self.out).any():
            mask |= np.isnan(self.x) & np.isnan(self.out)
        count = mask.sum(axis=self.axis, keepdims=True)
        return mask * (g / count)


class Amin(Amax):
    """min of x over axes; the gradient goes to the minimal elements, split evenly among ties."""

    reduce = staticmethod(np.amin)


class LogSumExp(Function):
    """log sum exp(x) over axes, computed stably; d/dx_i = softmax(x)_i."""

    saved_inputs, saves_output = (0,), True

    def forward(self, x, axis=None, keepdims=False):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        m = np.amax(x, axis=axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):  # an empty axis: log(0) = -inf, PyTorch's value
            self.out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
        return self.out if keepdims else (self.out.reshape(()) if axis is None else
                                          np.squeeze(self.out, axis=axis))

    def backward(self, grad):
        g = _keepdims_grad(grad, self.x.shape, self.axis, self.keepdims)
        return g * np.exp(self.x - self.out)


class MaxDim(Function):
    """max (or min) of x along one axis, with the position; the gradient goes to that position only
    (PyTorch's max(dim): one index per slice, the first one on ties, a NaN when there is one)."""

    def forward(self, x, axis, keepdim, largest=True):
        idx = np.argmax(x, axis=axis) if largest else np.argmin(x, axis=axis)
        self.idx, self.shape, self.axis, self.keepdim = np.expand_dims(idx, axis), x.shape, axis, keepdim
        values = np.take_along_axis(x, self.idx, axis)
        return values if keepdim else np.squeeze(values, axis)

    def backward(self, grad):
        g = np.zeros(self.shape, grad.dtype)
        np.put_along_axis(g, self.idx, grad if self.keepdim else np.expand_dims(grad, self.axis), self.axis)
        return g


# ----------------------------------------------------------------------------- functions
def dims(op: str, dim, keepdim, axis, keepdims):
    """PyTorch's ``dim``/``keepdim`` with NumPy's ``axis``/``keepdims`` as aliases; ``dim=[]`` means all."""
    if axis is not None:
        if dim is not None and dim != ():
            raise TypeError(f"{op}: give dim or its alias axis, not both")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    if isinstance(dim, (list, tuple)) and len(dim) == 0:
        dim = None
    return dim, bool(keepdim)


def _no_out(op, out):
    if out is not None:
        raise TypeError(f"{op}: out= is not supported here; assign the result instead "
                        f"(out= works with add, sub, mul, div, matmul and sum)")


def sum(x, dim=None, keepdim: bool = False, *, dtype=None, out=None, axis=None,  # noqa: A001
        keepdims=None) -> Tensor:
    """Sum over ``dim`` (None or []: all elements); ``axis``/``keepdims`` are NumPy-style aliases.

    Integer and bool tensors sum to int64, as in PyTorch.
    """
    if dim is None and axis is None and dtype is None and out is None and keepdims is None and \
            isinstance(x, Tensor) and x.data.dtype.kind == "f":  # the common x.sum(): a short path
        return Sum.apply(x, axis=None, keepdims=bool(keepdim))
    x = as_tensor(x)
    dim, keepdim = dims("sum", dim, keepdim, axis, keepdims)
    if dtype is not None:
        x = x.to(dtype)
    elif x.data.dtype.kind in "biu" and x.data.dtype != np.int64:
        x = x.to(np.int64)
    r = Sum.apply(x, axis=None if dim is None else normalize_axis(dim, x.ndim, "sum"), keepdims=keepdim)
    if out is None:
        return r
    from chainrule.ops.elementwise import write_out
    return write_out(r, out, "sum")


def mean(x, dim=None, keepdim: bool = False, *, dtype=None, out=None, axis=None, keepdims=None) -> Tensor:
    """Mean over ``dim`` (None or []: all elements); ``axis``/``keepdims`` are aliases."""
    x = as_tensor(x)
    _no_out("mean", out)
    dim, keepdim = dims("mean", dim, keepdim, axis, keepdims)
    if dtype is not None:
        x = x.to(dtype)
    if x.data.dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating "
                           f"point or complex dtype. Got: {dtypes.type_name(x.dtype)}")
    return Mean.apply(x, axis=normalize_axis(dim, x.ndim, "mean"), keepdims=keepdim)


def _check_nonempty(x, op):
    if x.data.size == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")


class _ValuesIndices:
    def __repr__(self):
        return f"chainrule.return_types.{type(self).__name__}(\nvalues={self.values!r},\nindices={self.indices!r})"


class MaxResult(_ValuesIndices, collections.namedtuple("max", ["values", "indices"])):
    """max(dim=...)'s result: a named tuple (values, indices), as torch.return_types.max."""

    __slots__ = ()


class MinResult(_ValuesIndices, collections.namedtuple("min", ["values", "indices"])):
    """min(dim=...)'s result: a named tuple (values, indices), as torch.return_types.min."""

    __slots__ = ()


MaxResult.__name__, MinResult.__name__ = "max", "min"


def _extreme(x, dim, keepdim, axis, keepdims, out, largest):
    op = "max" if largest else "min"
    if isinstance(dim, Tensor):  # torch.max(a, b): the elementwise maximum
        from chainrule.ops.elementwise import maximum, minimum
        return (maximum if largest else minimum)(x, dim)
    x = as_tensor(x)
    _no_out(op, out)
    _check_nonempty(x, op)
    dim, keepdim = dims(op, dim, keepdim, axis, keepdims)
    if dim is None:  # the whole tensor: a 0-d value, the gradient split evenly among ties
        return (Amax if largest else Amin).apply(x, axis=None, keepdims=False)
    if not isinstance(dim, (int, np.integer)):  # several axes: values only, as amax
        return (Amax if largest else Amin).apply(x, axis=normalize_axis(dim, x.ndim, op), keepdims=keepdim)
    a = normalize_axis(dim, x.ndim, op)[0]
    if x.ndim == 0:
        values = (Amax if largest else Amin).apply(x, axis=None, keepdims=False)
        return (MaxResult if largest else MinResult)(values, Tensor._make(np.array(0), False, None))
    values = MaxDim.apply(x, axis=a, keepdim=keepdim, largest=largest)
    idx = np.argmax(x.data, axis=a) if largest else np.argmin(x.data, axis=a)
    if keepdim:
        idx = np.expand_dims(idx, a)
    return (MaxResult if largest else MinResult)(values, Tensor._make(np.asarray(idx, np.int64), False, None))


def max(x, dim=None, keepdim: bool = False, *, out=None, axis=None, keepdims=None):  # noqa: A001
    """The largest value: of all elements (a 0-d tensor), or along ``dim`` as a named tuple
    ``(values, indices)`` as in PyTorch; ``max(a, b)`` with two tensors is the elementwise maximum.

    Example:
        >>> import chainrule as cr
        >>> v, i = cr.tensor([[1.0, 5.0], [7.0, 2.0]]).max(dim=1)
        >>> v.tolist(), i.tolist()
        ([5.0, 7.0], [1, 0])
    """
    return _extreme(x, dim, keepdim, axis, keepdims, out, True)


def min(x, dim=None, keepdim: bool = False, *, out=None, axis=None, keepdims=None):  # noqa: A001
    """The smallest value: of all elements, or ``(values, indices)`` along ``dim`` (see :func:`max`)."""
    return _extreme(x, dim, keepdim, axis, keepdims, out, False)


def amax(x, dim=(), keepdim: bool = False, *, out=None, axis=None, keepdims=None) -> Tensor:
    """The largest values over ``dim`` (all axes by default); ties share the gradient evenly."""
    return _amaxmin(Amax, "amax", x, dim, keepdim, out, axis, keepdims)


def amin(x, dim=(), keepdim: bool = False, *, out=None, axis=None, keepdims=None) -> Tensor:
    """The smallest values over ``dim`` (all axes by default); ties share the gradient evenly."""
    return _amaxmin(Amin, "amin", x, dim, keepdim, out, axis, keepdims)


def _amaxmin(op, name, x, dim, keepdim, out, axis, keepdims) -> Tensor:
    x = as_tensor(x)
    _no_out(name, out)
    _check_nonempty(x, name)
    dim, keepdim = dims(name, dim, keepdim, axis, keepdims)
    return op.apply(x, axis=normalize_axis(dim, x.ndim, name), keepdims=keepdim)


def logsumexp(x, dim=None, keepdim: bool = False, *, out=None, axis=None, keepdims=None) -> Tensor:
    """log(sum(exp(x))) over ``dim``, without overflow (-inf over an empty axis)."""
    x = as_tensor(x)
    _no_out("logsumexp", out)
    dim, keepdim = dims("logsumexp", dim, keepdim, axis, keepdims)
    if x.data.dtype.kind != "f":
        x = x.to(dtypes.DEFAULT_FLOAT)
    return LogSumExp.apply(x, axis=normalize_axis(dim, x.ndim, "logsumexp"), keepdims=keepdim)


def _var_args(op, dim, unbiased, keepdim, correction, axis, keepdims):
    if isinstance(dim, bool):  # the old positional form var(x, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: give correction= or unbiased=, not both")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dim, keepdim = dims(op, dim, keepdim, axis, keepdims)
    return dim, keepdim, correction


def var(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, out=None, axis=None,
        keepdims=None) -> Tensor:
    """Variance over ``dim``, dividing by max(0, N - correction) (1: unbiased, PyTorch's default;
    ``unbiased=False`` is correction 0). A correction of N or more divides by 0 (inf, as PyTorch).

    Written from primitives (mean, sub, mul, sum), so it needs no backward of its own.
    """
    x = as_tensor(x)
    _no_out("var", out)
    dim, keepdim, correction = _var_args("var", dim, unbiased, keepdim, correction, axis, keepdims)
    if x.data.dtype.kind != "f":
        raise RuntimeError(f"var(): only floating-point tensors are supported, got "
                           f"{dtypes.type_name(x.dtype)}")
    axes = normalize_axis(dim, x.ndim, "var")
    n = x.data.size if axes is None else int(np.prod([x.shape[a] for a in axes]))
    d = x - mean(x, axes, keepdim=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sum(d * d, axes, keepdim) / float(builtins.max(0, n - correction))


def std(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, out=None, axis=None,
        keepdims=None) -> Tensor:
    """Standard deviation: the square root of :func:`var` (same arguments)."""
    from chainrule.ops.elementwise import sqrt
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction, out=out, axis=axis, keepdims=keepdims))
