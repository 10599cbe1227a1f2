"""Inverses, determinants, solves and matrix powers of (..., n, n) matrices (torch.linalg's names and
the top-level inverse, det, logdet, slogdet, matrix_power). The rules, with their local gradients,
are in :mod:`chainrule.rules.linalg`."""
from __future__ import annotations

import collections

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, LinAlgError, ShapeError, make, no_grad, shape_constant
from chainrule.ops import args
from chainrule.ops.convert import as_tensor
from chainrule.ops.elementwise import where
from chainrule.ops.linalg import matmul
from chainrule.rules.linalg import Det, Inv, Slogdet, Solve

SlogdetResult = collections.namedtuple("slogdet", ["sign", "logabsdet"])
SlogdetResult.__doc__ = "(sign, logabsdet), as torch.linalg.slogdet returns them."


def _square(input, op):  # noqa: A002
    """``input`` as a float tensor of (..., n, n) matrices, with PyTorch's refusals in its words."""
    a = as_tensor(input)
    if a._data.dtype.kind != "f":
        raise DtypeError(f"{op}: Expected a floating point or complex tensor as input. Got "
                         f"{dtypes.type_name(a.dtype)}")
    if a.ndim < 2:
        raise ShapeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{op}: A must be batches of square matrices, but they are {a.shape[-2]} by "
                         f"{a.shape[-1]} matrices")
    return a


def _first_singular(a) -> str:
    """PyTorch's "(Batch element i): " for the first singular matrix of a batch ``a`` (an array)."""
    if a.ndim == 2:
        return ""
    for i, m in enumerate(a.reshape((-1,) + a.shape[-2:])):
        try:
            np.linalg.inv(m)
        except np.linalg.LinAlgError:
            return f"(Batch element {i}): "
    return ""  # pragma: no cover - NumPy refused the batch, so one of its matrices is singular


def _apply(rule, op, what, a, *rest):
    """``rule`` applied, a singular matrix refused with PyTorch's LinAlgError (an exact zero pivot, as
    LAPACK's LU finds it in both libraries)."""
    try:
        return rule.apply(a, *rest)
    except np.linalg.LinAlgError:
        raise LinAlgError(f"{op}: {_first_singular(a._data)}{what}") from None


def inv(A, *, out=None):  # noqa: N803 - torch's name
    """The inverse of each (..., n, n) matrix, as torch.linalg.inv; a singular one raises LinAlgError.
    d(A^-1) = -A^-1 dA A^-1, so dL/dA = -A^-T G A^-T.

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.inv(cr.tensor([[2.0, 0.0], [0.0, 4.0]])).tolist()
        [[0.5, 0.0], [0.0, 0.25]]
    """
    args.no_out("linalg.inv", out)
    a = _square(A, "linalg.inv")
    return _apply(Inv, "linalg.inv", "The inversion could not be completed because the input matrix is singular.", a)


def inverse(input, *, out=None):  # noqa: A002
    """torch.inverse: :func:`inv`."""
    return inv(input, out=out)


def det(A, *, out=None):  # noqa: N803
    """The determinant of each (..., n, n) matrix, as torch.linalg.det; dL/dA = g det(A) A^-T, 0 at a
    singular matrix, as PyTorch.

    Example:
        >>> import chainrule as cr
        >>> cr.det(cr.tensor([[1.0, 2.0], [3.0, 4.0]])).item()
        -2.0
    """
    args.no_out("linalg.det", out)
    return Det.apply(_square(A, "linalg.det"))


def slogdet(A, *, out=None):  # noqa: N803
    """(sign, log |det|) of each (..., n, n) matrix, a named tuple as torch.linalg.slogdet (sign 0 and
    logabsdet -inf for a singular matrix); the gradient flows through logabsdet: A^-T.

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.slogdet(cr.tensor([[-2.0, 0.0], [0.0, 1.0]])).sign.item()
        -1.0
    """
    args.no_out("linalg.slogdet", out)
    a = _square(A, "linalg.slogdet")
    with no_grad():
        sign = Slogdet.apply(a, sign=True)
    return SlogdetResult(sign, Slogdet.apply(a))


def logdet(input):  # noqa: A002
    """log det A of each (..., n, n) matrix, as torch.logdet: NaN for a negative determinant (with a
    zero gradient), -inf for a singular matrix; elsewhere the gradient is A^-T (that of log |det A|)."""
    a = _square(input, "logdet")
    sign, logabs = slogdet(a)
    return where(sign < 0, np.nan, logabs)


def solve(A, B, *, left=True, out=None):  # noqa: N803
    """X with A X = B, as torch.linalg.solve: A (..., n, n), B (..., n, k) or a vector (..., n) (when B
    is 1-D or B's shape is A's without its last axis), batch axes broadcast. dL/dB = A^-T G,
    dL/dA = -dL/dB X^T. A singular A raises LinAlgError.

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.solve(cr.tensor([[2.0, 0.0], [0.0, 4.0]]), cr.tensor([1.0, 1.0])).tolist()
        [0.5, 0.25]
    """
    args.no_out("linalg.solve", out)
    if not left:
        return solve(_swap_last(A), _swap_last(B)).mT
    a = _square(A, "linalg.solve")
    b = as_tensor(B)
    if b._data.dtype != a._data.dtype:
        raise DtypeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type "
                         f"{dtypes.type_name(a.dtype)} and B of type "
                         f"{dtypes.type_name(b.dtype)} instead")
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    bm = b.unsqueeze(-1) if vector else b
    n = a.shape[-1]
    if bm.ndim < 2 or bm.shape[-2] != n:
        raise ShapeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                         f"({a.shape[-2]}x{a.shape[-1]} and {bm.shape[-2] if bm.ndim > 1 else bm.shape[-1]}x"
                         f"{bm.shape[-1]})")
    try:
        np.broadcast_shapes(a.shape[:-2], bm.shape[:-2])
    except ValueError:
        raise ShapeError(f"linalg.solve: the batch dimensions of A {a.shape} and B {b.shape} do not "
                         f"broadcast") from None
    x = _apply(Solve, "linalg.solve", "The solver failed because the input matrix is singular.", a, bm)
    return x.squeeze(-1) if vector else x


def _swap_last(x):
    """The last two axes of ``x`` swapped."""
    return as_tensor(x).transpose(-2, -1)


def matrix_power(A, n):  # noqa: N803
    """A^n for each (..., n, n) matrix and an integer n, as torch.linalg.matrix_power: the identity for
    n = 0, repeated squaring of A for n > 0 and of inv(A) for n < 0 (the gradient through the products).

    Example:
        >>> import chainrule as cr
        >>> cr.matrix_power(cr.tensor([[1.0, 1.0], [0.0, 1.0]]), 3).tolist()
        [[1.0, 3.0], [0.0, 1.0]]
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"linalg_matrix_power(): argument 'n' (position 2) must be int, not {type(n).__name__}")
    a = as_tensor(A)
    if a.ndim < 2:
        raise ShapeError("linalg.matrix_power: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                         f"{a.shape[-2]} by {a.shape[-1]} matrices")
    if n == 0:
        eye = np.broadcast_to(np.eye(a.shape[-1], dtype=a._data.dtype), a.shape)
        return make(shape_constant(np.ascontiguousarray(eye)))
    if n < 0:
        a, n = inv(a), -int(n)
    result, square = None, a
    while n:
        if n & 1:
            result = square if result is None else matmul(result, square)
        n >>= 1
        if n:
            square = matmul(square, square)
    return result


def multi_dot(tensors, *, out=None):
    """The product of two or more matrices, left to right, as torch.linalg.multi_dot: the first may
    be a 1-D row vector and the last a 1-D column vector (their axis is dropped from the result).

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.multi_dot([cr.tensor([1.0, 1.0]), cr.eye(2), cr.tensor([2.0, 3.0])]).item()
        5.0
    """
    args.no_out("linalg.multi_dot", out)
    ts = [as_tensor(t) for t in tensors]
    if len(ts) < 2:
        raise ShapeError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    for i, t in enumerate(ts):
        ok = (1, 2) if i in (0, len(ts) - 1) else (2,)
        if t.ndim not in ok:
            which = "first" if i == 0 else ("last" if i == len(ts) - 1 else "")
            raise ShapeError(f"multi_dot(): the {which} tensor must be 1D or 2D but got {t.ndim}D" if which else
                             f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D")
        if t._data.dtype != ts[0]._data.dtype:
            raise DtypeError(f"multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                             f"{ts[0]._data.dtype} and tensor {i} {t._data.dtype}")
    for i in range(len(ts) - 1):
        a, b = ts[i], ts[i + 1]
        if a.shape[-1] != b.shape[0]:
            raise ShapeError(f"multi_dot(): tensors {i} and {i + 1} with shapes {list(a.shape)} and "
                             f"{list(b.shape)} cannot be multiplied")
    out = ts[0]
    for t in ts[1:]:
        out = matmul(out, t)
    return out
