"""Reductions (PyTorch's signatures): sum, mean, max/min (amax/amin), aminmax, logsumexp; var and std
(and var_mean, std_mean); cov and corrcoef from primitives. The rules are in :mod:`chainrule.rules.reduce`."""
from __future__ import annotations

import collections
import warnings

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, ShapeError, TensorBase, make
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, float_input
from chainrule.ops.elementwise import clip, maximum, minimum
from chainrule.ops.inplace import write_out
from chainrule.ops.linalg import matmul
from chainrule.rules.reduce import Amax, Amin, LogSumExp, MaxDim, Mean, Std, Sum, Var


def sum(x, dim=None, keepdim: bool = False, *, dtype=None, out=None, axis=None,  # noqa: A001
        keepdims=None):
    """Sum over ``dim`` (None or []: all elements); ``axis``/``keepdims`` are NumPy-style aliases.

    Integer and bool tensors sum to int64, as in PyTorch.
    """
    if dim is None and axis is None and dtype is None and out is None and keepdims is None and \
            isinstance(x, TensorBase) and x._data.dtype.kind == "f":  # the common x.sum(): a short path
        return Sum.apply(x, axis=None, keepdims=bool(keepdim))
    x = as_tensor(x)
    dim, keepdim = args.alias("sum", dim, keepdim, axis, keepdims)
    if dtype is not None:
        x = x.to(dtype)
    elif x._data.dtype.kind in "biu" and x._data.dtype != np.int64:
        x = x.to(np.int64)
    r = Sum.apply(x, axis=None if dim is None else args.dims(dim, x.ndim, "sum"), keepdims=keepdim)
    if out is None:
        return r
    return write_out(r, out, "sum")


def mean(x, dim=None, keepdim: bool = False, *, dtype=None, out=None, axis=None, keepdims=None):
    """Mean over ``dim`` (None or []: all elements); ``axis``/``keepdims`` are aliases."""
    x = as_tensor(x)
    args.no_out("mean", out)
    dim, keepdim = args.alias("mean", dim, keepdim, axis, keepdims)
    if dtype is not None:
        x = x.to(dtype)
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating "
                           f"point or complex dtype. Got: {dtypes.type_name(x.dtype)}")
    return Mean.apply(x, axis=args.dims(dim, x.ndim, "mean"), keepdims=keepdim)


def _check_nonempty(x, op):
    if x._data.size == 0:
        raise ShapeError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")


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
    if isinstance(dim, TensorBase):  # torch.max(a, b): the elementwise maximum
        return (maximum if largest else minimum)(x, dim)
    x = as_tensor(x)
    args.no_out(op, out)
    _check_nonempty(x, op)
    dim, keepdim = args.alias(op, dim, keepdim, axis, keepdims)
    if dim is None:  # the whole tensor: a 0-d value, the gradient split evenly among ties
        return (Amax if largest else Amin).apply(x, axis=None, keepdims=False)
    if not isinstance(dim, (int, np.integer)):  # several axes: values only, as amax
        return (Amax if largest else Amin).apply(x, axis=args.dims(dim, x.ndim, op), keepdims=keepdim)
    a = args.dims(dim, x.ndim, op)[0]
    if x.ndim == 0:
        values = (Amax if largest else Amin).apply(x, axis=None, keepdims=False)
        return (MaxResult if largest else MinResult)(values, make(np.array(0)))
    values = MaxDim.apply(x, axis=a, keepdim=keepdim, largest=largest)
    idx = np.argmax(x._data, axis=a) if largest else np.argmin(x._data, axis=a)
    if keepdim:
        idx = np.expand_dims(idx, a)
    return (MaxResult if largest else MinResult)(values, make(np.asarray(idx, np.int64)))


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


def amax(x, dim=(), keepdim: bool = False, *, out=None, axis=None, keepdims=None):
    """The largest values over ``dim`` (all axes by default); ties share the gradient evenly."""
    return _amaxmin(Amax, "amax", x, dim, keepdim, out, axis, keepdims)


def amin(x, dim=(), keepdim: bool = False, *, out=None, axis=None, keepdims=None):
    """The smallest values over ``dim`` (all axes by default); ties share the gradient evenly."""
    return _amaxmin(Amin, "amin", x, dim, keepdim, out, axis, keepdims)


def _amaxmin(op, name, x, dim, keepdim, out, axis, keepdims):
    x = as_tensor(x)
    args.no_out(name, out)
    _check_nonempty(x, name)
    dim, keepdim = args.alias(name, dim, keepdim, axis, keepdims)
    return op.apply(x, axis=args.dims(dim, x.ndim, name), keepdims=keepdim, route_nan=False)


def logsumexp(x, dim=None, keepdim: bool = False, *, out=None, axis=None, keepdims=None):
    """log(sum(exp(x))) over ``dim``, without overflow (-inf over an empty axis)."""
    x = float_input(x)
    args.no_out("logsumexp", out)
    dim, keepdim = args.alias("logsumexp", dim, keepdim, axis, keepdims)
    return LogSumExp.apply(x, axis=args.dims(dim, x.ndim, "logsumexp"), keepdims=keepdim)


def _var_args(op, dim, unbiased, keepdim, correction, axis, keepdims):
    if isinstance(dim, bool):  # the old positional form var(x, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: give correction= or unbiased=, not both")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dim, keepdim = args.alias(op, dim, keepdim, axis, keepdims)
    return dim, keepdim, correction


def var(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, out=None, axis=None,
        keepdims=None):
    """Variance over ``dim``, dividing by max(0, N - correction) (1: unbiased, PyTorch's default;
    ``unbiased=False`` is correction 0). A correction of N or more divides by 0 (inf, as PyTorch),
    and so does its gradient (:class:`~chainrule.rules.reduce.Var`)."""
    return _var_std(Var, "var", x, dim, unbiased, keepdim, correction, out, axis, keepdims)


def std(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, out=None, axis=None,
        keepdims=None):
    """Standard deviation: the square root of :func:`var` (same arguments); the gradient of a
    constant slice is 0, as PyTorch's."""
    return _var_std(Std, "std", x, dim, unbiased, keepdim, correction, out, axis, keepdims)


def _var_std(rule, op, x, dim, unbiased, keepdim, correction, out, axis, keepdims):
    x = as_tensor(x)
    args.no_out(op, out)
    dim, keepdim, correction = _var_args(op, dim, unbiased, keepdim, correction, axis, keepdims)
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{op}(): only floating-point tensors are supported, got "
                           f"{dtypes.type_name(x.dtype)}")
    return rule.apply(x, axis=args.dims(dim, x.ndim, op), correction=correction, keepdims=keepdim)


# ----------------------------------------------------------------------------- var_mean, std_mean, aminmax
def var_mean(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, out=None, axis=None,
             keepdims=None):
    """``(var, mean)`` over ``dim``, a tuple as torch.var_mean (the arguments of :func:`var`).

    Example:
        >>> import chainrule as cr
        >>> [t.item() for t in cr.var_mean(cr.tensor([1.0, 2.0, 3.0]))]
        [1.0, 2.0]
    """
    return _with_mean(var, "var_mean", x, dim, unbiased, keepdim, correction, out, axis, keepdims)


def std_mean(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, out=None, axis=None,
             keepdims=None):
    """``(std, mean)`` over ``dim``, a tuple as torch.std_mean (the arguments of :func:`std`)."""
    return _with_mean(std, "std_mean", x, dim, unbiased, keepdim, correction, out, axis, keepdims)


def _with_mean(spread, op, x, dim, unbiased, keepdim, correction, out, axis, keepdims):
    x = as_tensor(x)
    args.no_out(op, out)
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{op} only support floating point and complex dtypes")
    s = spread(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)
    d, k, _ = _var_args(op, dim, unbiased, keepdim, correction, axis, keepdims)
    return s, mean(x, d, k)


class AminmaxResult(collections.namedtuple("aminmax", ["min", "max"])):
    """aminmax's result: a named tuple (min, max), as torch.return_types.aminmax."""

    __slots__ = ()

    def __repr__(self):
        return f"chainrule.return_types.aminmax(\nmin={self.min!r},\nmax={self.max!r})"


def aminmax(input, *, dim=None, keepdim: bool = False, out=None):  # noqa: A002
    """``(min, max)`` of all elements or along ``dim``, a named tuple as torch.aminmax; the gradients
    are amin's and amax's (split evenly among ties).

    Example:
        >>> import chainrule as cr
        >>> r = cr.aminmax(cr.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1)
        >>> r.min.tolist(), r.max.tolist()
        ([1.0, 2.0], [5.0, 7.0])
    """
    x = as_tensor(input)
    args.no_out("aminmax", out)
    if dim is None:
        if x._data.size == 0:
            raise ShapeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has "
                             "no identity.")
        axes = None
    else:
        axes = args.dims(dim, x.ndim, "aminmax")
        if x.ndim == 0:
            axes = None
        elif x.shape[axes[0]] == 0:
            raise IndexError(f"aminmax: Expected reduction dim {axes[0]} to have non-zero size.")
    if axes is None and keepdim:
        axes = tuple(range(x.ndim))
    return AminmaxResult(*(rule.apply(x, axis=axes, keepdims=keepdim, route_nan=False) for rule in (Amin, Amax)))


# ----------------------------------------------------------------------------- cov and corrcoef
def _weights(w, name, n, integral):
    w = as_tensor(w)
    if w.ndim > 1:
        raise ShapeError(f"cov(): expected {name} to have one or fewer dimensions but got {name} with "
                         f"{w.ndim} dimensions")
    if w.numel() != n:
        raise ShapeError(f"cov(): expected {name} to have the same numel as there are observations in the "
                         f"input but got {w.numel()} != {n}")
    if integral and w._data.dtype.kind not in "iu":
        raise DtypeError(f"cov(): expected {name} to have integral dtype but got {name} with "
                         f"{dtypes.type_name(w.dtype)} dtype")
    if not integral and w._data.dtype.kind != "f":
        raise DtypeError(f"cov(): expected {name} to have floating point dtype but got {name} with "
                         f"{dtypes.type_name(w.dtype)} dtype")
    if (w._data < 0).any():
        raise ShapeError(f"cov(): {name} cannot be negative")
    return w


def cov(input, *, correction: int = 1, fweights=None, aweights=None):  # noqa: A002
    """The covariance matrix of the variables (rows) of ``input`` over its observations (columns), as
    torch.cov: an (N, N) tensor (0-d for one variable), divided by the sum of the weights minus
    ``correction`` (0 or less: a warning and a division by 0). ``fweights`` are integer repeat counts,
    ``aweights`` float importance weights, one per observation. A composite of differentiable ops.

    Example:
        >>> import chainrule as cr
        >>> cr.cov(cr.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])).tolist()
        [[1.0, -1.0], [-1.0, 1.0]]
    """
    if isinstance(input, TensorBase) and input._data.dtype == np.bool_:
        raise RuntimeError("cov(): bool dtype is not supported for input")
    x = float_input(input)
    if x.ndim > 2:
        raise ShapeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                         f"{x.ndim} dimensions")
    x = x.reshape(1, -1) if x.ndim < 2 else x
    n = x.shape[1]
    w = None
    if fweights is not None:
        w = as_tensor(_weights(fweights, "fweights", n, True), x.dtype)
    if aweights is not None:
        aw = as_tensor(_weights(aweights, "aweights", n, False), x.dtype)
        w = aw if w is None else w * aw
    w_sum = w.sum() if w is not None else float(n)
    avg = (x * w if w is not None else x).sum(1) / w_sum
    if w is not None and aweights is not None and correction != 0:
        norm_factor = w_sum - correction * (w * aw).sum() / w_sum
    else:
        norm_factor = w_sum - correction
    if float(norm_factor._data if isinstance(norm_factor, TensorBase) else norm_factor) <= 0:
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of "
                      "observations.", UserWarning, stacklevel=2)
        norm_factor = 0.0   # PyTorch zeroes it: a division by 0 (inf, NaN for 0 / 0), no gradient through it
    d = x - avg.unsqueeze(1)
    c = matmul(d, (d * w if w is not None else d).mT)      # (N, n) @ (n, N) -> (N, N)
    return (c / norm_factor).squeeze()


def corrcoef(input):  # noqa: A002
    """The Pearson correlation coefficients of the variables (rows) of ``input``, as torch.corrcoef:
    cov / (std_i std_j), clipped to [-1, 1] (NaN for a constant variable).

    Example:
        >>> import chainrule as cr
        >>> cr.corrcoef(cr.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])).tolist()
        [[1.0, -1.0], [-1.0, 1.0]]
    """
    c = cov(input)
    if c.ndim == 0:
        return c / c
    s = c.diagonal().sqrt()
    return clip(c / s.unsqueeze(1) / s.unsqueeze(0), -1, 1)
