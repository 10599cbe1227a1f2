"""Matrix products (PyTorch's signatures): matmul, mm, bmm, t, dot, mv, the add-products (addmm, addmv,
addr, baddbmm, addbmm), ger, inner, vdot, tensordot, chain_matmul and cross. The rule is
:class:`chainrule.rules.linalg.Matmul`: for Y = X W, dL/dX = dL/dY W^T and dL/dW = X^T dL/dY."""
from __future__ import annotations

import warnings

import numpy as np

from chainrule.core import ShapeError, TensorBase, make, shape_constant
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, promote
from chainrule.ops.inplace import write_out
from chainrule.ops.misc import outer
from chainrule.ops.shape import transpose
from chainrule.rules.linalg import Cross, Matmul, Outer


def matmul(input, other, *, out=None):  # noqa: A002 - torch keywords
    """Matrix product ``a @ b`` with NumPy's rules (batched, 1-D operands allowed).

    Shape: (N, K) @ (K, M) -> (N, M); leading batch axes broadcast.
    """
    a, b = input, other
    if not (isinstance(a, TensorBase) and isinstance(b, TensorBase) and a._data.dtype is b._data.dtype):
        a, b = promote(a, b)
    sa, sb = a._data.shape, b._data.shape
    na, nb = len(sa), len(sb)
    if na == 0 or nb == 0:
        raise ShapeError(f"matmul: both operands need at least one dimension, got shapes {sa} and {sb}; "
                         f"use * to scale by a scalar")
    ka = sa[-1]
    kb = sb[-2] if nb > 1 else sb[0]
    if ka != kb:
        hint = ""
        if nb >= 2 and sb[-1] == ka:
            hint = "; did you mean W.T?"
        raise ShapeError(f"matmul: shapes {sa} and {sb} do not align ({ka} != {kb}){hint}")
    if na > 2 or nb > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ShapeError(f"matmul: batch dimensions of shapes {sa} and {sb} do not broadcast") from None
    if out is not None:
        return write_out(Matmul.apply(a, b), out, "matmul")
    return Matmul.apply(a, b)


def mm(input, mat2):  # noqa: A002
    """Matrix product of two matrices (PyTorch's mm: both operands 2-D, no broadcasting)."""
    a, b = input, mat2
    if getattr(a, "ndim", 2) != 2 or getattr(b, "ndim", 2) != 2:
        raise RuntimeError(f"mm: both operands must be matrices (2-D), got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def dot(input, tensor):  # noqa: A002
    """The dot product of two 1-D tensors of one length and one dtype (PyTorch's dot: no broadcasting,
    no type promotion), a 0-d tensor.

    Example:
        >>> import chainrule as cr
        >>> cr.dot(cr.tensor([1.0, 2.0, 3.0]), cr.tensor([4.0, 5.0, 6.0])).item()
        32.0
    """
    a, b = input, tensor
    if getattr(a, "ndim", 1) != 1 or getattr(b, "ndim", 1) != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape != b.shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to "
                           f"have the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements "
                           f"respectively")
    if getattr(a, "dtype", None) != getattr(b, "dtype", None):
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {a.dtype} and {b.dtype}")
    return matmul(a, b)


def bmm(input, mat2):  # noqa: A002
    """Batched matrix product: (B, N, K) @ (B, K, M) -> (B, N, M), no broadcasting."""
    a, b = input, mat2
    if getattr(a, "ndim", 3) != 3 or getattr(b, "ndim", 3) != 3 or a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: expected two 3-D tensors with the same batch size, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def t(x):
    """The transpose of a matrix (a 0-d or 1-D tensor is returned as it is), PyTorch's ``t()``."""
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x if x.ndim < 2 else transpose(x, 0, 1)


# ----------------------------------------------------------------------------- more products (torch's names)
def mv(input, vec, *, out=None):  # noqa: A002
    """The product of a matrix and a vector: (n, m) @ (m,) -> (n,), as torch.mv.

    Example:
        >>> import chainrule as cr
        >>> cr.mv(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), cr.tensor([1.0, 1.0])).tolist()
        [3.0, 7.0]
    """
    args.no_out("mv", out)
    a, v = as_tensor(input), as_tensor(vec)
    if a.ndim != 2 or v.ndim != 1:
        raise ShapeError(f"vector + matrix @ vector expected, got 1, {a.ndim}, {v.ndim}")
    if a.shape[1] != v.shape[0]:
        raise ShapeError(f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x{a.shape[1]}), "
                         f"vec ({v.shape[0]})")
    return matmul(a, v)


def _scaled_sum(input, product, beta, alpha, op):
    """beta * input + alpha * product, the shape of ``product`` (input broadcast to it), as torch's
    add-products: a term scaled by 0 is left out (its NaNs and infs too) and gets a zero gradient."""
    x = as_tensor(input)
    shape = product.shape
    try:
        if np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"{op}: the expanded size of the tensor must match the existing size: input of shape "
                         f"{x.shape} does not broadcast to the product's shape {shape}") from None
    if alpha == 0:  # PyTorch ignores the product (a NaN in it too)
        out = make(shape_constant(np.zeros(shape, product._data.dtype)))
    else:
        out = product if alpha == 1 else product * alpha
    if beta == 0:
        return out
    return out + (x if beta == 1 else x * beta)


def _matrix(x, name, op):
    if x.ndim != 2:
        raise ShapeError(f"{op}: {name} must be a matrix, got {x.ndim}-D tensor")


def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):  # noqa: A002
    """beta * input + alpha * (mat1 @ mat2), as torch.addmm: (n, m) @ (m, p) plus an input broadcast to
    (n, p). A term scaled by 0 is ignored (a NaN in it too), as PyTorch.

    Example:
        >>> import chainrule as cr
        >>> cr.addmm(cr.ones(2, 2), cr.eye(2), cr.eye(2), beta=0.5, alpha=2).tolist()
        [[2.5, 0.5], [0.5, 2.5]]
    """
    args.no_out("addmm", out)
    x, a, b = promote(input, mat1, mat2)
    _matrix(a, "mat1", "addmm")
    _matrix(b, "mat2", "addmm")
    if a.shape[1] != b.shape[0]:
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
                         f"{b.shape[0]}x{b.shape[1]})")
    return _scaled_sum(x, Matmul.apply(a, b), beta, alpha, "addmm")


def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):  # noqa: A002
    """beta * input + alpha * (mat @ vec), as torch.addmv: (n, m) @ (m,) plus an input broadcast to (n,)."""
    args.no_out("addmv", out)
    x, a, v = promote(input, mat, vec)
    return _scaled_sum(x, mv(a, v), beta, alpha, "addmv")


def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):  # noqa: A002
    """beta * input + alpha * outer(vec1, vec2), as torch.addr: (n,) and (m,) plus an input broadcast to
    (n, m)."""
    args.no_out("addr", out)
    x, a, b = promote(input, vec1, vec2)
    for name, v in (("vec1", a), ("vec2", b)):
        if v.ndim != 1:
            raise ShapeError(f"addr: Expected 1-D argument {name}, but got {v.ndim}-D")
    return _scaled_sum(x, Outer.apply(a, b), beta, alpha, "addr")


def _batches(b1, b2, op):
    for name, b in (("batch1", b1), ("batch2", b2)):
        if b.ndim != 3:
            raise ShapeError(f"{name} must be a 3D tensor")
    if b1.shape[0] != b2.shape[0]:
        raise ShapeError(f"batch1 and batch2 must have same number of batches, got {b1.shape[0]} and "
                         f"{b2.shape[0]}")
    if b1.shape[2] != b2.shape[1]:
        raise ShapeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                         f"[{b1.shape[0]}, {b1.shape[2]}] but got: [{b2.shape[0]}, {b2.shape[1]}].")
    return Matmul.apply(b1, b2)  # (B, n, m) @ (B, m, p) -> (B, n, p)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):  # noqa: A002
    """beta * input + alpha * (batch1 @ batch2) for each of the B matrices, as torch.baddbmm:
    (B, n, m) @ (B, m, p) plus an input broadcast to (B, n, p)."""
    args.no_out("baddbmm", out)
    x, b1, b2 = promote(input, batch1, batch2)
    return _scaled_sum(x, _batches(b1, b2, "baddbmm"), beta, alpha, "baddbmm")


def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):  # noqa: A002
    """beta * input + alpha * sum_b batch1[b] @ batch2[b], as torch.addbmm: (B, n, m) @ (B, m, p) summed
    over B, plus an input broadcast to (n, p)."""
    args.no_out("addbmm", out)
    x, b1, b2 = promote(input, batch1, batch2)
    return _scaled_sum(x, _batches(b1, b2, "addbmm").sum(0), beta, alpha, "addbmm")


def ger(input, vec2):  # noqa: A002
    """The outer product of two 1-D tensors, torch.ger (the old name of :func:`outer`)."""
    return outer(input, vec2)


def inner(input, other, *, out=None):  # noqa: A002
    """The inner product over the last axes, as torch.inner: (..., k) and (..., k) -> the first one's
    leading axes then the second's; a 0-d operand scales the other.

    Example:
        >>> import chainrule as cr
        >>> cr.inner(cr.tensor([1.0, 2.0]), cr.tensor([[1.0, 0.0], [0.0, 1.0]])).tolist()
        [1.0, 2.0]
    """
    args.no_out("inner", out)
    a, b = promote(input, other)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"inner() the last dimension must match on both input tensors but got shapes "
                         f"{list(a.shape)} and {list(b.shape)}")
    return tensordot(a, b, dims=([-1], [-1]))


def vdot(input, other, *, out=None):  # noqa: A002
    """The dot product of two 1-D tensors (torch.vdot; chainrule's tensors are real, so no conjugate)."""
    args.no_out("vdot", out)
    return dot(input, other)


def _dims_list(d) -> list:
    return [int(v) for v in (d.tolist() if isinstance(d, TensorBase) else ([d] if np.ndim(d) == 0 else d))]


def tensordot(a, b, dims=2, out=None):
    """Sum of products over the given axes, as torch.tensordot: ``dims`` an int n (the last n axes of
    ``a`` with the first n of ``b``) or a pair of lists of axes. Shape: the axes of ``a`` left, then
    those of ``b``.

    Example:
        >>> import chainrule as cr
        >>> cr.tensordot(cr.ones(2, 3), cr.ones(3, 4), dims=1).shape
        (2, 4)
    """
    args.no_out("tensordot", out)
    a, b = promote(a, b)
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        n = int(dims)
        if n < 0:
            raise ShapeError(f"tensordot expects dims >= 0, but got dims={n}")
        if n > a.ndim or n > b.ndim:
            raise ShapeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={n}")
        da, db = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        if len(dims) != 2:
            raise ShapeError(f"tensordot expects dims to be an int or a pair of lists of dims, got {dims!r}")
        da, db = _dims_list(dims[0]), _dims_list(dims[1])
        if len(da) != len(db):
            raise ShapeError("both dimension lists should have same length")
        da = [args.dim(d, a.ndim, "tensordot") for d in da]
        db = [args.dim(d, b.ndim, "tensordot") for d in db]
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            shown = i - a.ndim if isinstance(dims, (int, np.integer)) else i   # as PyTorch numbers them
            raise ShapeError(f"contracted dimensions need to match, but first has size {a.shape[i]} in dim "
                             f"{shown} and second has size {b.shape[j]} in dim {j}")
    ka = [d for d in range(a.ndim) if d not in da]
    kb = [d for d in range(b.ndim) if d not in db]
    n = int(np.prod([a.shape[d] for d in da]))
    left, right = [a.shape[d] for d in ka], [b.shape[d] for d in kb]
    am = a.permute(ka + da).reshape(int(np.prod(left)), n)    # (kept of a, contracted)
    bm = b.permute(db + kb).reshape(n, int(np.prod(right)))   # (contracted, kept of b)
    return Matmul.apply(am, bm).reshape(left + right)


def chain_matmul(*matrices, out=None):
    """The product of 2-D tensors, left to right (torch.chain_matmul, deprecated there in favour of
    torch.linalg.multi_dot; it warns, as PyTorch)."""
    args.no_out("chain_matmul", out)
    warnings.warn("chain_matmul is deprecated and will be removed in a future release. Use "
                  "chainrule.linalg.multi_dot instead, which accepts a list of two or more tensors rather than "
                  "multiple parameters.", UserWarning, stacklevel=2)
    if not matrices:
        raise ShapeError("chain_matmul(): Expected one or more matrices")
    ms = promote(*matrices)
    for m in ms:
        if m.ndim != 2:
            raise ShapeError(f"Tensor dimension is {m.ndim}, expected 2 instead.")
    if len(ms) == 1:
        return ms[0].clone()
    out = ms[0]
    for m in ms[1:]:
        out = mm(out, m)
    return out


def cross(input, other, dim=None, *, out=None):  # noqa: A002
    """The cross product of 3-vectors along ``dim``, as torch.cross; without ``dim`` the first axis of
    length 3 (PyTorch's deprecated default: it warns; :func:`chainrule.linalg.cross` takes dim=-1).
    The operands broadcast and must have the same number of dimensions.

    Example:
        >>> import chainrule as cr
        >>> cr.cross(cr.tensor([1.0, 0.0, 0.0]), cr.tensor([0.0, 1.0, 0.0]), dim=0).tolist()
        [0.0, 0.0, 1.0]
    """
    args.no_out("cross", out)
    a, b = promote(input, other)
    if dim is None:
        warnings.warn("Using chainrule.cross without specifying the dim arg is deprecated.\nPlease either pass the "
                      "dim explicitly or simply use chainrule.linalg.cross.\nThe default value of dim will change "
                      "to agree with that of linalg.cross in a future release.", UserWarning, stacklevel=2)
        shape = _broadcast(a, b, "linalg.cross")
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise ShapeError("no dimension of size 3 in input")
    return linalg_cross(a, b, dim=dim)


def _broadcast(a, b, op):
    if a.ndim != b.ndim:
        raise ShapeError(f"{op}: inputs must have the same number of dimensions.")
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        bad = next(i for i, (m, n) in enumerate(zip(a.shape, b.shape)) if m != n and 1 not in (m, n))
        raise ShapeError(f"The size of tensor a ({a.shape[bad]}) must match the size of tensor b "
                         f"({b.shape[bad]}) at non-singleton dimension {bad}") from None


def linalg_cross(input, other, *, dim=-1, out=None):  # noqa: A002
    """torch.linalg.cross: the cross product of 3-vectors along ``dim`` (the last axis by default),
    broadcasting the other axes; d(a x b)/da . g = b x g, d(a x b)/db . g = g x a."""
    args.no_out("linalg.cross", out)
    a, b = promote(input, other)
    _broadcast(a, b, "linalg.cross")
    d = args.dim(dim, a.ndim, "linalg.cross")
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise ShapeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {a.shape[d]} and "
                         f"{b.shape[d]}")
    return Cross.apply(a, b, dim=d)
