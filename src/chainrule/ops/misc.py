"""More of PyTorch's math (its names and keywords): cumsum, log1p, expm1, logaddexp, xlogy, norm,
all, any, outer and einsum. Each op's local gradient is in its docstring.
"""
from __future__ import annotations

import string

import numpy as np

from chainrule import dtypes
from chainrule.autograd import Function
from chainrule.ops.convert import as_tensor, promote
from chainrule.ops.index import _dim
from chainrule.ops.reduce import normalize_axis
from chainrule.tensor import Tensor


def _float_input(x) -> Tensor:
    x = as_tensor(x)
    return x if x.data.dtype.kind == "f" else as_tensor(x, dtypes.DEFAULT_FLOAT)


# ----------------------------------------------------------------------------- elementwise
class Log1p(Function):
    """log(1 + x), accurate for tiny x; d/dx = 1 / (1 + x)."""

    def forward(self, x):
        self.x = x
        return np.log1p(x)

    def backward(self, grad):
        return grad / (1 + self.x)


class Expm1(Function):
    """e^x - 1, accurate for tiny x; d/dx = e^x = output + 1."""

    def forward(self, x):
        self.out = np.expm1(x)
        return self.out

    def backward(self, grad):
        return grad * (self.out + 1)


class LogAddExp(Function):
    """log(e^a + e^b) without overflow; d/da = e^(a - out), d/db = e^(b - out) (a softmax of two)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = np.logaddexp(a, b)
        return self.out

    def backward(self, grad):
        na, nb = self.needs_input_grad
        with np.errstate(invalid="ignore"):
            ga = grad * np.exp(self.a - self.out) if na else None
            gb = grad * np.exp(self.b - self.out) if nb else None
        return ga, gb


class XLogY(Function):
    """x log y, taken as 0 where x = 0 (unless y is NaN); d/dx = log y (0 where x = 0 and y <= 0, as
    PyTorch), d/dy = x / y."""

    def forward(self, x, y):
        self.x, self.y = x, y
        with np.errstate(divide="ignore", invalid="ignore"):
            out = x * np.log(y)
        return np.where((x == 0) & ~np.isnan(y), np.zeros((), out.dtype), out)

    def backward(self, grad):
        nx, ny = self.needs_input_grad
        gx = gy = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if nx:
                gx = grad * np.where((self.x == 0) & (self.y <= 0), 0, np.log(self.y))
            if ny:
                gy = grad * self.x / self.y
        return gx, gy


def log1p(input) -> Tensor:  # noqa: A002
    """log(1 + x), exact near x = 0."""
    return Log1p.apply(_float_input(input))


def expm1(input) -> Tensor:  # noqa: A002
    """e^x - 1, exact near x = 0."""
    return Expm1.apply(_float_input(input))


def _float_pair(a, b):
    a, b = promote(a, b)
    if a.data.dtype.kind != "f":
        a, b = as_tensor(a, dtypes.DEFAULT_FLOAT), as_tensor(b, dtypes.DEFAULT_FLOAT)
    return a, b


def logaddexp(input, other) -> Tensor:  # noqa: A002
    """log(e^input + e^other), elementwise with broadcasting, without overflow."""
    return LogAddExp.apply(*_float_pair(input, other))


def xlogy(input, other) -> Tensor:  # noqa: A002
    """input * log(other), 0 where input is 0 (so 0 log 0 = 0, as entropy needs)."""
    return XLogY.apply(*_float_pair(input, other))


# ----------------------------------------------------------------------------- cumsum
class Cumsum(Function):
    """Running sum along ``dim``: y_i = sum_{j <= i} x_j; dL/dx_j = sum_{i >= j} g_i (a reversed cumsum)."""

    def forward(self, x, dim, dtype=None):
        self.dim = dim
        return np.cumsum(x, axis=dim, dtype=dtype)

    def backward(self, grad):
        d = self.dim
        return np.flip(np.cumsum(np.flip(grad, d), axis=d), d)


def cumsum(input, dim: int, *, dtype=None, axis=None) -> Tensor:  # noqa: A002
    """Cumulative sum along ``dim``; integer and bool inputs sum as int64, as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> cr.cumsum(cr.tensor([1.0, 2.0, 3.0]), dim=0).tolist()
        [1.0, 3.0, 6.0]
    """
    x = as_tensor(input)
    if dtype is not None:
        x = as_tensor(x, dtypes.as_dtype(dtype))
    elif x.data.dtype.kind in "biu":
        x = as_tensor(x, dtypes.int64)
    a = _dim(axis if axis is not None else dim, None, x.ndim, "cumsum")
    if x.ndim == 0:
        return x.reshape(()) * 1
    return Cumsum.apply(x, dim=a)


# ----------------------------------------------------------------------------- norm
class Norm(Function):
    """The p-norm (sum |x|^p)^(1/p) over axes (p = inf: max |x|, -inf: min |x|).

    d/dx = sign(x) |x|^(p-1) / norm^(p-1) (x / norm for p = 2, sign(x) for p = 1), taken as 0 where
    the norm is 0, as PyTorch does; for p = +-inf the gradient goes to the extreme |x|, split evenly
    among ties.
    """

    def forward(self, x, p, axis=None, keepdims=False):
        self.x, self.p, self.axis, self.keepdims = x, p, axis, keepdims
        a = np.abs(x)
        if p == 2:
            out = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
        elif p == 1:
            out = np.sum(a, axis=axis, keepdims=True)
        elif p == np.inf:
            out = np.amax(a, axis=axis, keepdims=True)
        elif p == -np.inf:
            out = np.amin(a, axis=axis, keepdims=True)
        elif p == 0:
            out = np.sum(a != 0, axis=axis, keepdims=True).astype(x.dtype)
        else:
            with np.errstate(divide="ignore"):
                out = np.sum(a ** p, axis=axis, keepdims=True) ** (1.0 / p)
        self.out = out
        if keepdims:
            return out
        return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)

    def backward(self, grad):
        x, p, out = self.x, self.p, self.out
        g = grad
        if not self.keepdims:
            g = g.reshape((1,) * x.ndim) if self.axis is None else np.expand_dims(g, self.axis)
        zero = np.zeros((), x.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 0:
                return np.zeros(x.shape, x.dtype)
            if p == 2:
                return np.where(out == 0, zero, g / out) * x
            if p == 1:
                return np.sign(x) * g
            if p in (np.inf, -np.inf):
                hit = np.abs(x) == out
                count = hit.sum(axis=self.axis, keepdims=True)
                return np.sign(x) * hit * (g / count)
            a = np.abs(x)
            scaled = np.where(x == 0, zero, np.sign(x) * a ** (p - 1))
            return scaled * np.where(out == 0, zero, g / out ** (p - 1))


def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None, *, axis=None) -> Tensor:  # noqa: A002
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
    x = _float_input(input)
    if dtype is not None:
        x = as_tensor(x, dtypes.as_dtype(dtype))
    if p == "fro" or p is None:
        p = 2
    elif p == "nuc":
        raise NotImplementedError("norm: the nuclear norm (p='nuc') is not implemented in chainrule")
    elif isinstance(p, str) or not isinstance(p, (int, float, np.number)):
        raise ValueError(f"norm: p must be a number, inf, -inf or 'fro', got {p!r}")
    if axis is not None and dim is None:
        dim = axis
    if isinstance(dim, list):
        dim = tuple(dim)
    axes = normalize_axis(dim, x.ndim, "norm") if dim != () else None
    if axes is not None and x.ndim == 0:
        axes = None
    p = float(p)
    if p in (np.inf, -np.inf) and x.data.size == 0:
        raise ValueError(f"norm: cannot take the {p}-norm of an empty tensor of shape {x.shape}")
    return Norm.apply(x, p=p, axis=axes, keepdims=keepdim)


# ----------------------------------------------------------------------------- logical reductions
def _logical(np_fn, input, dim, keepdim, axis, op):
    x = as_tensor(input)
    if axis is not None and dim is None:
        dim = axis
    axes = normalize_axis(dim, x.ndim, op)
    d = x.data
    if axes is not None and d.ndim == 0:
        axes = None
        r = np_fn(d)
    else:
        r = np_fn(d, axis=axes, keepdims=keepdim and axes is not None)
    return Tensor._make(np.asarray(r, dtype=bool), False, None)


def all(input, dim=None, keepdim: bool = False, *, axis=None) -> Tensor:  # noqa: A001, A002
    """True where every element (over ``dim``; all when None) is non-zero. A bool tensor, no gradient."""
    return _logical(np.all, input, dim, keepdim, axis, "all")


def any(input, dim=None, keepdim: bool = False, *, axis=None) -> Tensor:  # noqa: A001, A002
    """True where some element (over ``dim``; all when None) is non-zero. A bool tensor, no gradient."""
    return _logical(np.any, input, dim, keepdim, axis, "any")


# ----------------------------------------------------------------------------- outer and einsum
class Outer(Function):
    """y_ij = a_i b_j; dL/da_i = sum_j g_ij b_j, dL/db_j = sum_i g_ij a_i."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.outer(a, b)

    def backward(self, grad):
        na, nb = self.needs_input_grad
        return (grad @ self.b if na else None), (self.a @ grad if nb else None)


def outer(input, vec2) -> Tensor:  # noqa: A002
    """The outer product of two 1-D tensors: (n,) and (m,) -> (n, m)."""
    a, b = promote(input, vec2)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer: expects two 1-D tensors, got shapes {a.shape} and {b.shape}")
    return Outer.apply(a, b)


def _parse_einsum(equation: str, shapes) -> tuple[list[str], str]:
    """Explicit subscripts (ellipses spelled as letters) for each operand, and for the output."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} names {len(ins)} operands, got {len(shapes)}")
    used = set(eq) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    n_ell = 0
    for s, shape in zip(ins, shapes):
        bare = s.replace("...", "")
        if not set(bare) <= set(string.ascii_letters):
            raise ValueError(f"einsum: subscripts must be letters, got {s!r} in {equation!r}")
        if "..." in s:
            n_ell = max(n_ell, len(shape) - len(bare))
        elif len(bare) != len(shape):
            raise ValueError(f"einsum: operand with subscripts {s!r} needs {len(bare)} dimensions, "
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
            raise ValueError(f"einsum: output subscript {c!r} does not appear in the inputs of {equation!r}")
    return out, res


def _optimize(arrays) -> bool:
    """Let NumPy plan the contraction (BLAS, pairwise order) unless it is small: the plan costs ~50 us."""
    return len(arrays) > 2 or sum(a.size for a in arrays) > 4096


class Einsum(Function):
    """Einstein summation. The gradient of operand k is itself an einsum: the upstream gradient
    (output subscripts) times the other operands, summed to operand k's subscripts; letters that
    appear only in operand k are broadcast, and a repeated letter (a diagonal) is written back on
    the diagonal."""

    def forward(self, *arrays, subs, out):
        self.arrays, self.subs, self.res = arrays, subs, out
        spec = ",".join(subs) + "->" + out
        return np.einsum(spec, *arrays, optimize=_optimize(arrays))

    def backward(self, grad):
        sizes = {}
        for s, a in zip(self.subs, self.arrays):
            for c, n in zip(s, a.shape):
                sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]
        grads = []
        for k, (s, a) in enumerate(zip(self.subs, self.arrays)):
            if not self.needs_input_grad[k]:
                grads.append(None)
                continue
            others = [(self.res, grad)] + [(t, b) for j, (t, b) in enumerate(zip(self.subs, self.arrays))
                                           if j != k]
            have = set("".join(t for t, _ in others))
            target = "".join(dict.fromkeys(s))  # s with repeats dropped, order kept
            present = "".join(c for c in target if c in have)
            spec = ",".join(t for t, _ in others) + "->" + present
            g = np.einsum(spec, *[b for _, b in others], optimize=_optimize([b for _, b in others]))
            if present != target:  # letters only operand k has: the gradient is constant along them
                g = g.reshape([sizes[c] if c in present else 1 for c in target])
                g = np.broadcast_to(g, [sizes[c] if c in present else a.shape[s.index(c)] for c in target])
            if target != s:  # a repeated letter: the gradient lives on the diagonal
                full = np.zeros(a.shape, grad.dtype)
                np.einsum(s + "->" + target, full)[...] = g
                g = full
            grads.append(g)
        return tuple(grads)


def einsum(equation: str, *operands) -> Tensor:
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
        raise ValueError("einsum: needs at least one operand")
    ts = promote(*operands)
    subs, out = _parse_einsum(equation, [t.shape for t in ts])
    for c in set("".join(subs)):
        ns = {t.shape[i] for s, t in zip(subs, ts) for i, d in enumerate(s) if d == c}
        if len(ns - {1}) > 1:
            raise ValueError(f"einsum: subscript {c!r} of {equation!r} has different sizes {sorted(ns)} "
                             f"in the operands of shapes {[t.shape for t in ts]}")
    return Einsum.apply(*ts, subs=subs, out=out)
