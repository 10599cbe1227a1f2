"""Copies of a tensor with slices or elements written along one dim (PyTorch's out-of-place forms):
index_add, index_copy, index_fill (a 1-D index of slices) and scatter_reduce (an index of elements,
as scatter's). Indices are checked here in PyTorch's words and again at each replay of a compiled step
(``compiler/kernels.guard``), since NumPy would wrap a negative one silently. The rules are in
:mod:`chainrule.rules.index`."""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, ShapeError, TensorBase, make
from chainrule.ops import args
from chainrule.ops.convert import as_tensor
from chainrule.ops.index import _from_end
from chainrule.rules.index import IndexAdd, IndexCopy, IndexFill, ScatterReduce

REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _torch_name(t) -> str:
    """A tensor's dtype as PyTorch names it in messages (Float, Long, ...); another object's type."""
    return dtypes.type_name(t._data.dtype) if isinstance(t, TensorBase) else type(t).__name__


def _vector_index(index, op: str, dtypes_ok: str, dtype_error: str, error=DtypeError):
    """``index`` as a 1-D int64 tensor (a 0-d one as one element), refusing what PyTorch refuses."""
    if not isinstance(index, TensorBase):
        raise TypeError(f"{op}: index must be a tensor, got {type(index).__name__}")
    a = index._data
    if a.dtype.name not in dtypes_ok:
        raise error(dtype_error)
    if a.ndim > 1:
        raise IndexError(f"{op}: Index is supposed to be a vector, but got dim: {a.ndim} with size: {list(a.shape)}")
    if a.dtype != np.int64:
        index = make(a.astype(np.int64))
    return index.reshape(1) if a.ndim == 0 else index


def _slices_of(x, src, dim: int, index, op: str):
    """The checks of index_add and index_copy: src of x's dtype and shape outside ``dim``, one slice of
    it per index. Returns (x, src, dim) with 0-d tensors as (1,)."""
    if src._data.dtype != x._data.dtype:
        raise DtypeError(f"{op}: self ({_torch_name(x)}) and source ({_torch_name(src)}) must have the same "
                         f"scalar type")
    d = args.dim(dim, x.ndim, op)
    xs, ss = x.shape or (1,), src.shape or (1,)
    n = index.shape[0]
    if len(ss) != len(xs) or ss[d] != n:
        size = ss[d] if d < len(ss) else 1
        if op == "index_copy_()":
            raise IndexError(f"{op}: Number of indices ({n}) should be equal to source.size(dim) ({size})")
        raise ShapeError(f"{op}: Number of indices ({n}) should be equal to source.size(dim): ({size}), for dim: {d}")
    if ss[:d] + ss[d + 1:] != xs[:d] + xs[d + 1:]:
        raise ShapeError(f"{op}: source tensor shape must match self tensor shape, excluding the specified "
                         f"dimension. Got self.shape = {list(x.shape)} source.shape = {list(src.shape)}")
    return x.reshape(xs), src.reshape(ss), d


def _in_range(index, n: int, dim: int, prefix: str, error=ShapeError, negative: bool = False) -> None:
    i = index._data
    lo = -n if negative else 0
    if i.size and (i.min() < lo or i.max() >= n):
        bad = i[(i < lo) | (i >= n)].flat[0]
        raise error(f"{prefix}index {bad} is out of bounds for dimension {dim} with size {n}")


def index_add(input, dim: int, index, source, *, alpha=1):  # noqa: A002
    """A copy of ``input`` with ``alpha * source`` added at the slices ``index`` (1-D, int32 or int64)
    names along ``dim``: out[..., index[i], ...] += alpha * source[..., i, ...]; repeats add up.

    Example:
        >>> import chainrule as cr
        >>> cr.index_add(cr.zeros(3), 0, cr.tensor([0, 2, 0]), cr.tensor([1.0, 2.0, 3.0])).tolist()
        [4.0, 0.0, 2.0]
    """
    x, src = as_tensor(input), as_tensor(source)
    idx = _vector_index(index, "index_add_()", ("int32", "int64"),
                        f"index_add_(): Expected dtype int32/int64 for index but got: {_torch_name(index)}")
    x1, s1, d = _slices_of(x, src, dim, idx, "index_add_()")
    _in_range(idx, x1.shape[d], d, "")
    return IndexAdd.apply(x1, s1, idx, dim=d, alpha=alpha).reshape(x.shape)


def index_copy(input, dim: int, index, source):  # noqa: A002
    """A copy of ``input`` with the slices of ``source`` written at the slices ``index`` (1-D int64)
    names along ``dim``: out[..., index[i], ...] = source[..., i, ...].

    Example:
        >>> import chainrule as cr
        >>> cr.index_copy(cr.zeros(3, 2), 0, cr.tensor([2, 0]), cr.ones(2, 2)).tolist()
        [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]
    """
    x, src = as_tensor(input), as_tensor(source)
    idx = _vector_index(index, "index_copy_()", ("int64",),
                        f"index_copy_(): Expected a long tensor for index, but got {_torch_name(index)}")
    if src._data.dtype != x._data.dtype:
        raise DtypeError(f"index_copy_(): self and source expected to have the same dtype, but got (self) "
                         f"{_torch_name(x)} and (source) {_torch_name(src)}")
    x1, s1, d = _slices_of(x, src, dim, idx, "index_copy_()")
    _in_range(idx, x1.shape[d], d, "index_copy_(): ", IndexError)
    return IndexCopy.apply(x1, s1, idx, dim=d).reshape(x.shape)


def index_fill(input, dim: int, index, value):  # noqa: A002
    """A copy of ``input`` with ``value`` (a number or a 0-d tensor, cast to input's dtype) in the slices
    ``index`` (0-d or 1-D int64; negative ones count from the end) names along ``dim``.

    Example:
        >>> import chainrule as cr
        >>> cr.index_fill(cr.zeros(2, 3), 1, cr.tensor([0, -1]), 5.0).tolist()
        [[5.0, 0.0, 5.0], [5.0, 0.0, 5.0]]
    """
    x = as_tensor(input)
    if isinstance(index, TensorBase) and index._data.ndim > 1:
        raise ShapeError("Index has to be a vector/scalar")
    idx = _vector_index(index, "index_fill_()", ("int64",), "index_fill_(): Expected dtype int64 for index.",
                        IndexError)
    if isinstance(value, TensorBase):
        if value.ndim:
            raise ShapeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                             f"{value.ndim} dimension(s).")
        value = value._data.item()
    d = args.dim(dim, x.ndim, "index_fill_()")
    x1 = x.reshape(x.shape or (1,))
    n = x1.shape[d]
    _in_range(idx, n, d, "", IndexError, negative=True)
    return IndexFill.apply(x1, _from_end(idx, n), dim=d, value=np.asarray(value).astype(x._data.dtype)).reshape(x.shape)


def scatter_reduce(input, dim: int, index, src, reduce: str, *, include_self: bool = True, out=None):  # noqa: A002
    """A copy of ``input`` with the elements of ``src`` reduced into the positions ``index`` gives along
    ``dim`` (out[index[i][j]][j] = reduce(out[...], src[i][j]) for dim 0), by ``reduce``: "sum", "prod",
    "mean", "amax" or "amin"; ``include_self`` counts input's own value in (else only what is scattered
    into a position; a position nothing reaches keeps input's value). Integer means round down.

    Example:
        >>> import chainrule as cr
        >>> x, i = cr.tensor([1.0, 2.0, 3.0]), cr.tensor([0, 0, 2, 2])
        >>> cr.scatter_reduce(x, 0, i, cr.tensor([5.0, 7.0, 1.0, 0.0]), "amax").tolist()
        [7.0, 2.0, 3.0]
        >>> cr.scatter_reduce(x, 0, i, cr.tensor([5.0, 7.0, 1.0, 0.0]), "mean", include_self=False).tolist()
        [6.0, 2.0, 0.5]
    """
    args.no_out("scatter_reduce", out)
    x, s = as_tensor(input), as_tensor(src)
    if reduce not in REDUCTIONS:
        raise ShapeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if not isinstance(index, TensorBase) or index._data.dtype.name not in ("int32", "int64"):
        raise DtypeError("scatter(): Expected dtype int32/int64 for index")
    if s._data.dtype != x._data.dtype:
        raise DtypeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if reduce == "mean" and x._data.dtype == np.bool_:
        raise NotImplementedError("\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'")
    d = args.dim(dim, x.ndim, "scatter_reduce")
    if index.ndim != x.ndim:
        raise ShapeError("Index tensor must have the same number of dimensions as self tensor")
    idx = index if index._data.dtype == np.int64 else make(index._data.astype(np.int64))
    xs, ss, ish = x.shape or (1,), s.shape or (1,), idx.shape or (1,)
    if len(ss) != len(xs) or any(ish[k] > ss[k] or (k != d and ish[k] > xs[k]) for k in range(len(xs))):
        raise ShapeError(f"Expected index {list(idx.shape)} to be no larger than self {list(x.shape)} apart from "
                         f"dimension {d} and to be no larger size than src {list(s.shape)}")
    x1, s1, i1 = x.reshape(xs), s.reshape(ss), idx.reshape(ish)
    _in_range(i1, xs[d], d, "")
    return ScatterReduce.apply(x1, s1, i1, dim=d, reduce=reduce, include_self=bool(include_self)).reshape(x.shape)

