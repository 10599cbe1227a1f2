"""More of PyTorch's math (its names and keywords): cumsum, log1p, expm1, erf, erfc, logaddexp, xlogy,
norm, all, any, outer, einsum and logcumsumexp. Each op's local gradient is in its docstring.
"""
from __future__ import annotations

import string

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, ShapeError, TensorBase, make, no_grad
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, float_input, float_pair, promote
from chainrule.ops.elementwise import compare, unary, where
from chainrule.ops.shape import concatenate
from chainrule.rules.elementwise import Entr, Erf, Erfc, Expm1, Log1p, LogAddExp, XLogY
from chainrule.rules.floating import Logical
from chainrule.rules.linalg import Einsum, Outer
from chainrule.rules.reduce import Cumsum, LogCumSumExp, Norm


# ----------------------------------------------------------------------------- elementwise

log1p = unary(Log1p, "log1p", "log(1 + x), exact near x = 0.")
expm1 = unary(Expm1, "expm1", "e^x - 1, exact near x = 0.")
erf = unary(Erf, "erf", "The error function 2/sqrt(pi) int_0^x e^(-t^2) dt.")
erfc = unary(Erfc, "erfc", "1 - erf(x), exact where erf(x) is close to 1.")


def ndtr(input):  # noqa: A002
    """The standard normal's cumulative distribution, 0.5 erfc(-x / sqrt(2)) (exact in the lower tail,
    where 1 + erf would round to 0); d/dx = e^(-x^2 / 2) / sqrt(2 pi), through erfc's rule."""
    return erfc(float_input(input) * (-0.5 ** 0.5)) * 0.5


def logaddexp(input, other):  # noqa: A002
    """log(e^input + e^other), elementwise with broadcasting, without overflow."""
    return LogAddExp.apply(*float_pair(input, other))


def logaddexp2(input, other):  # noqa: A002
    """log2(2^input + 2^other), elementwise with broadcasting, without overflow."""
    a, b = float_pair(input, other)
    ln2 = float(np.log(2.0))
    return LogAddExp.apply(a * ln2, b * ln2) / ln2


def renorm(input, p, dim: int, maxnorm):  # noqa: A002
    """Each slice along ``dim`` whose p-norm (over the other dims) exceeds ``maxnorm`` scaled down to
    it (by maxnorm / (norm + 1e-7), as PyTorch); the gradient flows through the norms too."""
    x = float_input(input)
    if x.ndim < 2:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {x.ndim} dimensions")
    d = args.dim(dim, x.ndim, "renorm")
    if not p > 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    n = norm(x, p, dim=tuple(i for i in range(x.ndim) if i != d), keepdim=True)
    over = compare(np.greater, n, maxnorm)
    return x * where(over, maxnorm / (n + 1e-7), make(np.ones((), x._data.dtype)))


def xlogy(input, other):  # noqa: A002
    """input * log(other), 0 where input is 0 (so 0 log 0 = 0, as entropy needs)."""
    return XLogY.apply(*float_pair(input, other))


def xlog1py(input, other):  # noqa: A002
    """input * log(1 + other), 0 where input is 0 (torch.special.xlog1py)."""
    return XLogY.apply(*float_pair(input, other), log1p=True)


entr = unary(Entr, "entr", "-x ln x elementwise: 0 at 0, -inf below (torch.special.entr).")


# ----------------------------------------------------------------------------- cumsum


def cumsum(input, dim: int, *, dtype=None, axis=None):  # noqa: A002
    """Cumulative sum along ``dim``; integer and bool inputs sum as int64, as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> cr.cumsum(cr.tensor([1.0, 2.0, 3.0]), dim=0).tolist()
        [1.0, 3.0, 6.0]
    """
    x = as_tensor(input)
    if dtype is not None:
        x = as_tensor(x, dtypes.as_dtype(dtype))
    elif x._data.dtype.kind in "biu":
        x = as_tensor(x, dtypes.int64)
    a = args.dim(axis if axis is not None else dim, x.ndim, "cumsum")
    if x.ndim == 0:
        return x.reshape(()) * 1
    return Cumsum.apply(x, dim=a)


def logcumsumexp(input, dim: int):  # noqa: A002
    """The running logsumexp along ``dim``, log sum_{j <= i} e^{x_j}, without overflow, as
    torch.logcumsumexp (float inputs only); the gradient of y_i to x_j (j <= i) is e^{x_j - y_i}.

    Example:
        >>> import chainrule as cr
        >>> round(cr.logcumsumexp(cr.tensor([0.0, 0.0]), 0)[1].item(), 4)
        0.6931
    """
    x = as_tensor(input)
    if x._data.dtype.kind != "f":
        raise NotImplementedError(f'"logcumsumexp_out_cpu" not implemented for \'{dtypes.type_name(x.dtype)}\'')
    a = args.dim(dim, x.ndim, "logcumsumexp")
    if x.ndim == 0:
        return x * 1
    return LogCumSumExp.apply(x, dim=a)


# ----------------------------------------------------------------------------- norm


def float_for(x, op: str) -> None:
    """PyTorch's refusal of a norm of a tensor that is not floating point (it refuses ``dtype=`` too)."""
    if x._data.dtype.kind != "f":
        raise DtypeError(f"{op}: Expected a floating point or complex tensor as input. Got {dtypes.type_name(x.dtype)}")


def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None, *, axis=None):  # noqa: A002
    """The vector p-norm of ``input`` over ``dim`` (all elements when None), as torch.norm.

    Args:
        p (float or "fro", "fro"): 2 (and "fro", the Frobenius norm: the 2-norm of all elements of
            a matrix), 1, inf, -inf, 0 (the count of non-zeros) or any other number.
        dim (int or tuple, None): the axes to reduce; keepdim keeps them with length 1.
        dtype (dtype, None): compute in this float dtype.

    The gradient at a zero vector is 0 (not NaN), as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> cr.norm(cr.tensor([3.0, 4.0])).item()
        5.0
    """
    if isinstance(input, TensorBase):
        float_for(input, "linalg.vector_norm")
    x = float_input(input)
    if dtype is not None:
        x = as_tensor(x, dtypes.as_dtype(dtype))
    if p == "fro" or p is None:
        p = 2
    elif p == "nuc":
        raise NotImplementedError("norm: the nuclear norm (p='nuc') is not implemented in chainrule")
    elif isinstance(p, str) or not isinstance(p, (int, float, np.number)):
        raise ShapeError(f"norm: p must be a number, inf, -inf or 'fro', got {p!r}")
    if axis is not None and dim is None:
        dim = axis
    if isinstance(dim, list):
        dim = tuple(dim)
    axes = args.dims(dim, x.ndim, "norm") if dim != () else None
    if axes is not None and x.ndim == 0:
        axes = None
    p = float(p)
    if p in (np.inf, -np.inf) and x._data.size == 0:
        raise ShapeError(f"norm: cannot take the {p}-norm of an empty tensor of shape {x.shape}")
    return Norm.apply(x, p=p, axis=axes, keepdims=keepdim)


# ----------------------------------------------------------------------------- logical reductions
def _logical(np_fn, input, dim, keepdim, axis, op):
    x = as_tensor(input)
    if axis is not None and dim is None:
        dim = axis
    axes = args.dims(dim, x.ndim, op)
    if axes is not None and x.ndim == 0:
        axes = None
    with no_grad():   # an op, outside any graph: a compiled step replays it on each call's data
        return Logical.apply(x, fn=np_fn, axis=axes, keepdims=bool(keepdim))


def all(input, dim=None, keepdim: bool = False, *, axis=None):  # noqa: A001, A002
    """True where every element (over ``dim``; all when None) is non-zero. A bool tensor, no gradient."""
    return _logical(np.all, input, dim, keepdim, axis, "all")


def any(input, dim=None, keepdim: bool = False, *, axis=None):  # noqa: A001, A002
    """True where some element (over ``dim``; all when None) is non-zero. A bool tensor, no gradient."""
    return _logical(np.any, input, dim, keepdim, axis, "any")


# ----------------------------------------------------------------------------- outer and einsum


def outer(input, vec2):  # noqa: A002
    """The outer product of two 1-D tensors: (n,) and (m,) -> (n, m)."""
    a, b = promote(input, vec2)
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer: expects two 1-D tensors, got shapes {a.shape} and {b.shape}")
    return Outer.apply(a, b)


def _parse_einsum(equation: str, shapes) -> tuple[list[str], str]:
    """Explicit subscripts (ellipses spelled as letters) for each operand, and for the output."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ShapeError(f"einsum: the equation {equation!r} names {len(ins)} operands, got {len(shapes)}")
    used = set(eq) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    n_ell = 0
    for s, shape in zip(ins, shapes):
        bare = s.replace("...", "")
        if not set(bare) <= set(string.ascii_letters):
            raise ShapeError(f"einsum: subscripts must be letters, got {s!r} in {equation!r}")
        if "..." in s:
            n_ell = max(n_ell, len(shape) - len(bare))
        elif len(bare) != len(shape):
            raise ShapeError(f"einsum: operand with subscripts {s!r} needs {len(bare)} dimensions, "
                             f"got shape {shape}")
    ell = "".join(spare[:n_ell])
    out = []
    for s, shape in zip(ins, shapes):
        k = len(shape) - len(s.replace("...", ""))
        out.append(s.replace("...", ell[n_ell - k:] if k else ""))
    if arrow:
        res = rhs.replace("...", ell)
    else:  # implicit output: the ellipsis, then the letters used once, in alphabetical order
        letters = "".join(out)
        res = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    for c in res:
        if c not in "".join(out):
            raise ShapeError(f"einsum: output subscript {c!r} does not appear in the inputs of {equation!r}")
    return out, res


def einsum(equation: str, *operands):
    """Einstein summation over tensors, as torch.einsum: ``einsum("bij,bjk->bik", a, b)``.

    Any number of operands, ellipses and implicit outputs; the operands may also come as one list.

    Example:
        >>> import chainrule as cr
        >>> cr.einsum("i,j->ij", cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])).tolist()
        [[3.0, 4.0], [6.0, 8.0]]
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ShapeError("einsum: needs at least one operand")
    ts = promote(*operands)
    subs, out = _parse_einsum(equation, [t.shape for t in ts])
    for c in set("".join(subs)):
        ns = {t.shape[i] for s, t in zip(subs, ts) for i, d in enumerate(s) if d == c}
        if len(ns - {1}) > 1:
            raise ShapeError(f"einsum: subscript {c!r} of {equation!r} has different sizes {sorted(ns)} "
                             f"in the operands of shapes {[t.shape for t in ts]}")
    return Einsum.apply(*ts, subs=subs, out=out)


# ----------------------------------------------------------------------------- diff


def diff(input, n: int = 1, dim: int = -1, prepend=None, append=None):  # noqa: A002
    """The ``n``-th forward difference along ``dim``: out[i] = x[i + 1] - x[i], repeated n times, of
    ``input`` with ``prepend`` and ``append`` (tensors of its number of dims) joined at either end
    (bool inputs: x[i + 1] != x[i], as torch's logical_xor). Built from slices and sub, so the gradient
    flows to the input and to prepend/append.

    Example:
        >>> import chainrule as cr
        >>> cr.diff(cr.tensor([1, 3, 6, 10]), n=2).tolist()
        [1, 1]
    """
    x = as_tensor(input)
    if x.ndim == 0:
        raise ShapeError("diff expects input to be at least one-dimensional")
    if int(n) < 0:
        raise ShapeError(f"order must be non-negative but got {n}")
    d = args.dim(dim, x.ndim, "diff")
    ends = [as_tensor(t) for t in (prepend, append) if t is not None]
    for t in ends:   # (this module's any is torch.any)
        if t.ndim != x.ndim:
            raise ShapeError("diff expects prepend or append to be the same dimension as input")
        for i, (a, b) in enumerate(zip(x.shape, t.shape)):
            if i != d and a != b:
                raise ShapeError(f"diff expects the shape of tensor to prepend or append to match that of input "
                                 f"except along the differencing dimension; input.size({i}) = {a}, but got "
                                 f"tensor.size({i}) = {b}")
    if int(n) == 0:
        return x.clone()   # prepend and append ignored, as torch
    if ends:
        x = concatenate(([as_tensor(prepend)] if prepend is not None else []) + [x] +
                        ([as_tensor(append)] if append is not None else []), d)
    lead = (slice(None),) * d
    for _ in range(int(n)):
        if x.shape[d] == 0:
            break
        hi, lo = x[lead + (slice(1, None),)], x[lead + (slice(None, -1),)]
        x = compare(np.not_equal, hi, lo) if x.dtype == np.bool_ else hi - lo
    return x
