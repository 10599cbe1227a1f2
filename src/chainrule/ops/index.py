"""Indexing ops (PyTorch's names): they pick, order and copy elements, so their backward sends each
gradient back to the element it came from (adding where one element was picked several times).

argmax/argmin give positions (integers, no gradient); sort/topk return ``(values, indices)``;
gather/index_select/scatter_add move elements along one ``dim``; masked_fill, repeat, tile, flip and
clone complete the family.
"""
from __future__ import annotations

import itertools
from collections import namedtuple

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, IndexRangeError, ShapeError, TensorBase, make, no_grad, shape_constant
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, promote
from chainrule.ops.elementwise import compare, where
from chainrule.ops.shape import getitem, index_inputs, movedim
from chainrule.rules.index import IndexPut, IndexSelect, MaskedFill, Median, Positions, Quantile, Scatter, ScatterAdd, TakeAlong
from chainrule.rules.shape import Clone, Flip, Roll, Slot, Tile

SortResult = namedtuple("sort", ["values", "indices"])
SortResult.__doc__ = "(values, indices), as torch.sort returns them."
TopkResult = namedtuple("topk", ["values", "indices"])
TopkResult.__doc__ = "(values, indices), as torch.topk returns them."
MedianResult = namedtuple("median", ["values", "indices"])
MedianResult.__doc__ = "(values, indices), as torch.median(x, dim) returns them."


def _int_index(index, op: str):
    """``index`` as an int64 tensor: the same tensor when it is one (so that the op's version check
    sees in-place changes of it), else a new one."""
    if isinstance(index, TensorBase):
        if index._data.dtype == np.int64:
            return index
        a = index._data
    else:
        a = np.asarray(index)
    if a.dtype.kind not in "iu":
        raise DtypeError(f"{op}: index must be an integer tensor (int64), got dtype {a.dtype}")
    return make(a.astype(np.int64))




def _nothing(x: np.ndarray):
    return make(np.asarray(x))


# ----------------------------------------------------------------------------- arg-reductions
def _positions(x, rule):
    """The Positions op on tensor x: ``rule(x's array)``, int64, outside any graph."""
    with no_grad():
        return Positions.apply(x, rule=rule)


def _arg(np_fn, x, dim, keepdim, op):
    x = as_tensor(x)
    d = x._data
    if d.dtype == np.bool_:
        raise RuntimeError(f"{op}(): does not support bool input")
    if d.size == 0:
        raise ShapeError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")
    if dim is None:
        shape = (1,) * d.ndim if keepdim else ()
        return _positions(x, lambda v: np_fn(v.reshape(-1)).reshape(shape))
    a = args.dim(dim, d.ndim, op)
    if d.ndim == 0:
        return _positions(x, lambda v: np.zeros((), np.int64))
    return _positions(x, lambda v: np_fn(v, axis=a, keepdims=keepdim))


def argmax(input, dim=None, keepdim: bool = False, *, axis=None):  # noqa: A002
    """Position of the largest value (flattened when ``dim`` is None); the first one on ties, a NaN
    counting as largest. Integer result, outside the graph.

    Example:
        >>> import chainrule as cr
        >>> cr.argmax(cr.tensor([[1.0, 5.0], [7.0, 7.0]]), dim=1).tolist()
        [1, 0]
    """
    return _arg(np.argmax, input, axis if dim is None else dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim: bool = False, *, axis=None):  # noqa: A002
    """Position of the smallest value (flattened when ``dim`` is None); the first one on ties."""
    return _arg(np.argmin, input, axis if dim is None else dim, keepdim, "argmin")


# ----------------------------------------------------------------------------- median
def _median_order(v: np.ndarray, dim: int, ignore_nan: bool) -> np.ndarray:
    """The position along ``dim`` of each lower median (keepdims), as PyTorch picks them: the middle of a
    stable order (NaN sorts last), or the first NaN of a row holding one (its median is NaN); with
    ``ignore_nan`` the middle of the row's values that are not NaN (of all of them when all are)."""
    n = v.shape[dim]
    order = np.argsort(v, axis=dim, kind="stable")
    idx = np.take(order, [(n - 1) // 2], axis=dim)
    if v.dtype.kind != "f":
        return idx
    nan = np.isnan(v)
    if ignore_nan:
        k = n - nan.sum(axis=dim, keepdims=True)
        return np.take_along_axis(order, np.where(k > 0, (k - 1) // 2, (n - 1) // 2), axis=dim)
    return np.where(nan.any(axis=dim, keepdims=True), np.argmax(nan, axis=dim, keepdims=True), idx)


def median(input, dim=None, keepdim: bool = False):  # noqa: A002
    """The lower median (the middle value, the smaller of the two middle ones for an even count); NaN
    where a NaN is among the values. Without ``dim``: of all the elements, a 0-d tensor whose gradient
    is shared by the elements equal to it. With ``dim``: ``(values, indices)`` along it, the gradient
    going to each picked element.

    Example:
        >>> import chainrule as cr
        >>> cr.median(cr.tensor([3.0, 1.0, 4.0, 2.0])).item()
        2.0
        >>> cr.tensor([[3.0, 1.0, 2.0], [5.0, 6.0, 4.0]]).median(dim=1).indices.tolist()
        [2, 0]
    """
    return _median(input, dim, keepdim, False, "median")


def nanmedian(input, dim=None, keepdim: bool = False):  # noqa: A002
    """:func:`median` of the values that are not NaN (NaN where all are), as torch.nanmedian."""
    return _median(input, dim, keepdim, True, "nanmedian")


def _median(input, dim, keepdim: bool, ignore_nan: bool, op: str):  # noqa: A002
    x = as_tensor(input)
    if x._data.dtype == np.bool_:
        raise dtypes.no_kernel("median_cpu" if dim is None else "median_out", np.bool_)
    if dim is None:
        if x.numel() == 0:
            return make(np.asarray(np.nan, x._data.dtype if x._data.dtype.kind == "f" else np.float32))
        return Median.apply(x, ignore_nan=ignore_nan)
    a = args.dim(dim, x.ndim, op)
    if x.ndim == 0:
        return MedianResult(x.clone(), make(np.zeros((), np.int64)))
    if x.shape[a] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {a} to have non-zero size.")
    idx = _positions(x, lambda v: _median_order(v, a, ignore_nan))
    values = TakeAlong.apply(x, idx, dim=a)
    if not keepdim:
        values, idx = values.squeeze(a), idx.squeeze(a)
    return MedianResult(values, idx)


# ----------------------------------------------------------------------------- quantile
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):  # noqa: A002
    """The ``q``-quantiles along ``dim`` (of all the elements when it is None), as torch.quantile: the
    value at rank q (n - 1) of the sorted values, between two neighbours by ``interpolation`` (linear,
    lower, higher, midpoint or nearest); NaN where a NaN is among the values. ``q`` is a float or a 0-d
    or 1-D tensor of the input's dtype, in [0, 1]; a 1-D q adds its axis first. The gradient goes to
    the picked elements.

    Example:
        >>> import chainrule as cr
        >>> cr.quantile(cr.tensor([1.0, 2.0, 3.0, 4.0]), 0.5).item()
        2.5
        >>> cr.quantile(cr.tensor([1.0, 2.0, 3.0, 4.0]), cr.tensor([0.25, 0.75])).tolist()
        [1.75, 3.25]
    """
    return _quantile(input, q, dim, keepdim, interpolation, False)


def nanquantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):  # noqa: A002
    """:func:`quantile` of the values that are not NaN (NaN where all are), as torch.nanquantile."""
    return _quantile(input, q, dim, keepdim, interpolation, True)


def _quantile(input, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool):  # noqa: A002
    x = as_tensor(input)
    op = "nanquantile()" if ignore_nan else "quantile()"
    dt = x._data.dtype
    if dt not in (np.float32, np.float64):
        raise DtypeError(f"{op} input tensor must be either float or double dtype")
    if isinstance(q, TensorBase):
        if q.ndim > 1:
            raise ShapeError(f"{op} q must be a scalar or 1D tensor")
        if q._data.dtype != dt:
            raise DtypeError(f"{op} q tensor must be same dtype as the input tensor")
        qa = q._data
        if not ((qa >= 0) & (qa <= 1)).all():
            raise ShapeError(f"{op} q values must be in the range [0, 1]")
        scalar = q.ndim == 0
    elif isinstance(q, (int, float, np.integer, np.floating)) and not isinstance(q, bool):
        if not 0 <= q <= 1:
            raise ShapeError(f"{op} q must be in the range [0, 1] but got {q}")
        qa, scalar = np.asarray(q, dt), True
    else:
        raise TypeError(f"{op} q must be a float or a tensor, got {type(q).__name__}")
    if x.numel() == 0:
        raise ShapeError(f"{op} input tensor must be non-empty")
    if interpolation not in _INTERPOLATIONS:
        raise ShapeError(f"{op} interpolation must be one of linear, lower, higher, midpoint or nearest, "
                         f"but got {interpolation}")
    if dim is None:
        rows, kept = x.reshape(-1), (1,) * x.ndim
    else:
        a = args.dim(dim, x.ndim, op.rstrip("()"))
        rows = x.movedim(a, -1) if x.ndim else x.reshape(1)
        kept = x.shape[:a] + (1,) + x.shape[a + 1:] if x.ndim else ()
    qt = q if isinstance(q, TensorBase) and q.ndim == 1 else make(qa.reshape(1))
    out = Quantile.apply(rows, qt, interpolation=interpolation, ignore_nan=ignore_nan)   # (..., m)
    out = out.movedim(-1, 0)
    if keepdim:
        out = out.reshape((out.shape[0],) + kept)
    return out[0] if scalar else out


# ----------------------------------------------------------------------------- sort and topk


def _sort_indices(d: np.ndarray, dim: int, descending: bool) -> np.ndarray:
    """Stable order along ``dim``; NaN is the largest value, as in PyTorch."""
    if not descending:
        return np.argsort(d, axis=dim, kind="stable")
    # descending and still stable: sort the reversed axis ascending, read it backwards
    n = d.shape[dim]
    rev = np.argsort(np.flip(d, dim), axis=dim, kind="stable")
    return (n - 1 - np.flip(rev, dim)).astype(np.int64)


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False, *,  # noqa: A002
         axis=None) -> SortResult:
    """Values sorted along ``dim`` and their original positions, ``(values, indices)``.

    The order is always stable (equal values keep their order); NaN sorts as the largest value.
    The gradient goes back to each value's original position.

    Example:
        >>> import chainrule as cr
        >>> v, i = cr.sort(cr.tensor([3.0, 1.0, 2.0]), descending=True)
        >>> v.tolist(), i.tolist()
        ([3.0, 2.0, 1.0], [0, 2, 1])
    """
    x = as_tensor(input)
    if x.ndim == 0:
        return SortResult(TakeAlong.apply(x.reshape(1), _nothing(np.zeros(1, np.int64)), dim=0).reshape(()),
                          _nothing(np.zeros((), np.int64)))
    a = args.dim(axis if axis is not None else dim, x.ndim, "sort")
    idx = _positions(x, lambda v: _sort_indices(v, a, descending))
    return SortResult(TakeAlong.apply(x, idx, dim=a), idx)


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True, *,  # noqa: A002
         axis=None) -> TopkResult:
    """The ``k`` largest (or smallest) values along ``dim`` and their positions, ``(values, indices)``.

    Ties are broken by position (the earlier element first); the result is always sorted.

    Example:
        >>> import chainrule as cr
        >>> cr.topk(cr.tensor([1.0, 9.0, 4.0, 7.0]), 2).values.tolist()
        [9.0, 7.0]
    """
    x = as_tensor(input)
    d = x._data if x.ndim else x._data.reshape(1)
    a = args.dim(axis if axis is not None else dim, d.ndim, "topk")
    n = d.shape[a]
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ShapeError(f"topk: k ({k}) must be an int in [0, {n}] for dim {a} of shape {x.shape}")
    xx = x if x.ndim else x.reshape(1)
    first = np.arange(k)
    indices = _positions(xx, lambda v: np.take(_sort_indices(v, a, largest), first, axis=a))
    values = TakeAlong.apply(xx, indices, dim=a)
    if x.ndim == 0:
        return TopkResult(values.reshape(()), indices.reshape(()))
    return TopkResult(values, indices)


# ----------------------------------------------------------------------------- gather / scatter
def gather(input, dim: int, index, *, sparse_grad: bool = False):  # noqa: A002
    """out[i][j][k] = input[index[i][j][k]][j][k] (for dim 0; likewise for other dims).

    Shape: ``index`` has as many dims as ``input``, no longer than it except along ``dim``; the
    output has ``index``'s shape.

    Example:
        >>> import chainrule as cr
        >>> cr.gather(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1, cr.tensor([[0, 0], [1, 0]])).tolist()
        [[1.0, 1.0], [4.0, 3.0]]
    """
    x = as_tensor(input)
    idx = _int_index(index, "gather")
    a = args.dim(dim, x.ndim, "gather")
    _check_along(x, idx._data, a, "gather")
    return TakeAlong.apply(x, idx, dim=a)


def _check_along(x, idx: np.ndarray, dim: int, op: str, src_shape=None) -> None:
    if idx.ndim != max(x.ndim, 1) and not (x.ndim == 0 and idx.ndim == 0):
        raise ShapeError(f"{op}: index has {idx.ndim} dimensions but input has {x.ndim}; they must match")
    shape = x.shape or (1,)
    ishape = idx.shape or (1,)
    for d, (ni, nx) in enumerate(zip(ishape, shape)):
        if d != dim and ni > nx:
            raise ShapeError(f"{op}: index of shape {idx.shape} is larger than input of shape {x.shape} "
                             f"at dim {d}")
        if src_shape is not None and ni > src_shape[d]:
            raise ShapeError(f"{op}: index of shape {idx.shape} is larger than src of shape "
                             f"{src_shape} at dim {d}")
    if idx.size and (idx.min() < 0 or idx.max() >= shape[dim]):  # negative ones too, as PyTorch (NumPy
        bad = idx[(idx < 0) | (idx >= shape[dim])].flat[0]            # would wrap them)
        raise IndexRangeError(f"{op}: index {bad} is out of bounds for dim {dim} of size {shape[dim]}")




def scatter_add(input, dim: int, index, src):  # noqa: A002
    """A copy of ``input`` with ``src`` added at the positions ``index`` gives along ``dim``
    (repeated positions add up).

    Example:
        >>> import chainrule as cr
        >>> cr.scatter_add(cr.zeros(3), 0, cr.tensor([0, 2, 0]), cr.tensor([1.0, 2.0, 3.0])).tolist()
        [4.0, 0.0, 2.0]
    """
    x, s = promote(input, src)
    idx = _int_index(index, "scatter_add")
    a = args.dim(dim, x.ndim, "scatter_add")
    if s.ndim != x.ndim:
        raise ShapeError(f"scatter_add: src has {s.ndim} dimensions but input has {x.ndim}; they must match")
    _check_along(x, idx._data, a, "scatter_add", src_shape=s.shape)
    return ScatterAdd.apply(x, s, idx, dim=a)




def scatter(input, dim: int, index, src=None, value=None, *, reduce=None):  # noqa: A002
    """A copy of ``input`` with ``src`` (a tensor) or ``value`` (a number) written at the positions
    ``index`` gives along ``dim`` (PyTorch's scatter; one-hot codes: ``zeros(n, C).scatter_(1, y[:, None], 1)``).

    Example:
        >>> import chainrule as cr
        >>> cr.zeros(2, 3).scatter(1, cr.tensor([[2], [0]]), 1.0).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if reduce is not None:
        raise NotImplementedError("scatter: reduce= is not supported in chainrule; use scatter_add for 'add'")
    if (src is None) == (value is None):
        raise TypeError("scatter() expects either src (a tensor) or value (a number)")
    x = as_tensor(input)
    idx = _int_index(index, "scatter")
    a = args.dim(dim, x.ndim, "scatter")
    if isinstance(src, TensorBase):
        x, s = promote(x, src)
        if s.ndim != x.ndim:
            raise ShapeError(f"scatter: src has {s.ndim} dimensions but input has {x.ndim}; they must match")
    else:
        s = make(np.full(idx.shape, src if value is None else value, x._data.dtype))
    _check_along(x, idx._data, a, "scatter", src_shape=s.shape)
    return Scatter.apply(x, s, idx, dim=a)


def repeat_interleave(input, repeats, dim=None, *, output_size=None):  # noqa: A002
    """Each element (or slice along ``dim``) repeated ``repeats`` times in place, as PyTorch's
    repeat_interleave (``dim`` None: the flattened input). ``repeats`` is a number or one count per slice.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[1, 2], [3, 4]]).repeat_interleave(2, dim=0).tolist()
        [[1, 2], [1, 2], [3, 4], [3, 4]]
    """
    x = as_tensor(input)
    if dim is None:
        x, dim = x.reshape(-1), 0
    a = args.dim(dim, x.ndim, "repeat_interleave")
    r = repeats._data if isinstance(repeats, TensorBase) else np.asarray(repeats)
    if r.ndim > 1 or r.ndim == 1 and len(r) not in (1, x.shape[a]) or (r < 0).any():
        raise ShapeError(f"repeat_interleave: repeats must be a non-negative number or have one entry per slice "
                         f"({x.shape[a]}), got shape {r.shape}")
    return index_select(x, a, make(np.repeat(np.arange(x.shape[a]), r)))


def masked_select(input, mask):  # noqa: A002
    """The 1-D tensor of ``input``'s elements where the boolean ``mask`` (broadcast with it) is True.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, -2.0], [3.0, -4.0]])
        >>> cr.masked_select(x, x > 0).tolist()
        [1.0, 3.0]
    """
    x = as_tensor(input)
    m = mask if isinstance(mask, TensorBase) else make(np.asarray(mask))
    if m._data.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected a boolean mask, got {m._data.dtype}")
    shape = np.broadcast_shapes(x.shape, m.shape)
    if x.shape != shape:
        x = x.expand(shape)
    if m.shape != shape:
        m = make(np.broadcast_to(m._data, shape))
    return x[m]


def index_select(input, dim: int, index):  # noqa: A002
    """The slices of ``input`` at positions ``index`` (1-D) along ``dim``.

    Example:
        >>> import chainrule as cr
        >>> cr.index_select(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 0, cr.tensor([1, 1])).tolist()
        [[3.0, 4.0], [3.0, 4.0]]
    """
    x = as_tensor(input)
    index = _int_index(index, "index_select")
    idx = index._data
    if idx.ndim > 1:
        raise ShapeError(f"index_select: index must be 1-D, got shape {idx.shape}")
    if idx.ndim == 0:
        index = index.reshape(1)
        idx = index._data
    a = args.dim(dim, x.ndim, "index_select")
    n = x.shape[a] if x.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):  # negative ones too, as PyTorch
        raise IndexRangeError(f"index_select: index {idx[(idx < 0) | (idx >= n)][0]} is out of bounds for "
                         f"dim {a} of size {n}")
    if x.ndim == 0:
        return TakeAlong.apply(x.reshape(1), index, dim=0).reshape(())
    return IndexSelect.apply(x, index, dim=a)


# ----------------------------------------------------------------------------- masks and copies


def masked_scatter(input, mask, source):  # noqa: A002
    """A copy of ``input`` with ``source``'s first elements, in order, where the boolean ``mask``
    (broadcast to input) is True; the gradient goes to input where the mask is False and to the
    elements of source taken (IndexPut at the mask)."""
    x, src = as_tensor(input), as_tensor(source)
    m = mask._data if isinstance(mask, TensorBase) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype {dtypes.type_name(m.dtype)}")
    if src._data.dtype != x._data.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got "
                           f"{dtypes.type_name(x._data.dtype)} and {dtypes.type_name(src._data.dtype)}")
    try:
        m = np.broadcast_to(m, x.shape)
    except ValueError:
        raise ShapeError(f"masked_scatter: the mask of shape {m.shape} does not broadcast to {x.shape}") from None
    k = int(m.sum())
    if src._data.size < k:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    return IndexPut.apply(x, getitem(src.reshape(-1), slice(0, k)), make(np.ascontiguousarray(m)), index=Slot(0))


def _embed(x, src, index, part):
    """x with ``src`` written at ``index`` (IndexPut: the gradient to x outside, to src inside); ``part``
    is what x[index] is, whose shape src must have (PyTorch's check and words)."""
    x, src = as_tensor(x), as_tensor(src)
    if src.shape != part.shape:
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(part.shape)}")
    template, arrays = index_inputs(index)
    return IndexPut.apply(x, as_tensor(src, x._data.dtype), *arrays, index=template)


def select_scatter(input, src, dim: int, index: int):  # noqa: A002
    """A copy of ``input`` with ``input.select(dim, index)`` replaced by ``src``."""
    x = as_tensor(input)
    where_ = (slice(None),) * args.dim(dim, x.ndim, "select_scatter") + (int(index),)
    return _embed(x, src, where_, getitem(x, where_))


def slice_scatter(input, src, dim: int = 0, start=None, end=None, step: int = 1):  # noqa: A002
    """A copy of ``input`` with the slice ``start:end:step`` along ``dim`` replaced by ``src``."""
    x = as_tensor(input)
    where_ = (slice(None),) * args.dim(dim, x.ndim, "slice_scatter") + (slice(start, end, step),)
    return _embed(x, src, where_, getitem(x, where_))


def diagonal_scatter(input, src, offset: int = 0, dim1: int = 0, dim2: int = 1):  # noqa: A002
    """A copy of ``input`` with its diagonal ``offset`` of dims (dim1, dim2) replaced by ``src`` (shaped
    as ``input.diagonal(offset, dim1, dim2)``: the other dims, then the diagonal)."""
    x = as_tensor(input)
    d1, d2 = args.dim(dim1, x.ndim, "diagonal_scatter"), args.dim(dim2, x.ndim, "diagonal_scatter")
    xm = movedim(x, (d1, d2), (-2, -1))
    n = max(0, min(xm.shape[-2] - max(-offset, 0), xm.shape[-1] - max(offset, 0)))
    rows = np.arange(n) + max(-offset, 0)
    where_ = (Ellipsis, rows, rows + offset)
    return movedim(_embed(xm, src, where_, getitem(xm, where_)), (-2, -1), (d1, d2))


def masked_fill(input, mask, value):  # noqa: A002
    """A copy of ``input`` with ``value`` where the boolean ``mask`` (broadcast to input) is True.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0, 3.0])
        >>> cr.masked_fill(x, x > 1.5, 0.0).tolist()
        [1.0, 0.0, 0.0]
    """
    x = as_tensor(input)
    mask = mask if isinstance(mask, TensorBase) else make(np.array(mask))
    m = mask._data
    if m.dtype != np.bool_:
        raise DtypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        if np.broadcast_shapes(m.shape, x.shape) != x.shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"masked_fill: mask of shape {m.shape} does not broadcast to the input's "
                         f"shape {x.shape}") from None
    if isinstance(value, TensorBase):
        if value._data.ndim != 0:
            raise ShapeError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        value = value._data.item()
    return MaskedFill.apply(x, mask, value=value)




def _sizes(sizes) -> tuple:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, np.ndarray)):
        sizes = sizes[0]
    out = tuple(int(s) for s in sizes)
    if any(s < 0 for s in out):
        raise ShapeError(f"repeat: repeats must be non-negative, got {out}")
    return out


def repeat(input, *sizes):  # noqa: A002
    """Tensor.repeat: the tensor repeated ``sizes[i]`` times along axis i; ``sizes`` may add leading axes.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).repeat(2, 2).tolist()
        [[1.0, 2.0, 1.0, 2.0], [1.0, 2.0, 1.0, 2.0]]
    """
    x = as_tensor(input)
    reps = _sizes(sizes)
    if len(reps) < x.ndim:
        raise ShapeError(f"repeat: the number of repeats ({len(reps)}) cannot be smaller than the number "
                         f"of dimensions of the tensor ({x.ndim})")
    if len(reps) > x.ndim:
        x = x.reshape((1,) * (len(reps) - x.ndim) + x.shape)
    return Tile.apply(x, reps=reps)


def tile(input, dims):  # noqa: A002
    """torch.tile: like repeat, but fewer ``dims`` than axes are padded with leading 1s."""
    x = as_tensor(input)
    reps = _sizes((dims,) if not isinstance(dims, (int, np.integer)) else ((dims,),))
    reps = (1,) * (x.ndim - len(reps)) + reps
    return repeat(x, reps)




def flip(input, dims):  # noqa: A002
    """``input`` reversed along each axis in ``dims`` (an int, list or tuple)."""
    x = as_tensor(input)
    ds = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    axes = tuple(args.dim(d, x.ndim, "flip") for d in ds)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"flip: dim appears more than once in {dims}")
    if x.ndim == 0:
        return Clone.apply(x)
    return Flip.apply(x, dims=axes)


def roll(input, shifts, dims=None):  # noqa: A002
    """``input`` shifted cyclically by ``shifts`` along ``dims`` (PyTorch's ``torch.roll``): elements
    pushed past the end come back at the start. Without ``dims`` the tensor is rolled as if flattened.

    Example:
        >>> import chainrule as cr
        >>> cr.roll(cr.tensor([1, 2, 3, 4]), 1).tolist()
        [4, 1, 2, 3]
    """
    x = as_tensor(input)
    if dims is None:
        if not isinstance(shifts, (int, np.integer)):
            if len(shifts) != 1:
                raise ShapeError(f"roll: shifts {tuple(shifts)} needs dims of the same length")
            shifts = shifts[0]
        return Roll.apply(x, shifts=int(shifts), axes=None)
    ss = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    ds = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(ss) != len(ds) or not ds:
        raise ShapeError(f"roll: shifts and dimensions must align. shifts: {len(ss)}, dims: {len(ds)}")
    axes = tuple(args.dim(d, x.ndim, "roll") for d in ds)
    return Roll.apply(x, shifts=tuple(int(s) for s in ss), axes=axes)




def clone(input, *, memory_format=None):  # noqa: A002
    """A copy of ``input`` that stays in the graph (the gradient passes through unchanged)."""
    return Clone.apply(as_tensor(input))


# ----------------------------------------------------------------------------- rotations, picks (PyTorch parity)
def rot90(input, k: int = 1, dims=(0, 1)):  # noqa: A002
    """``input`` rotated by k quarter turns in the plane of ``dims``, from the first axis towards the
    second (torch.rot90: a flip and a transpose, so the gradient is rotated back).

    Example:
        >>> import chainrule as cr
        >>> cr.rot90(cr.tensor([[1, 2], [3, 4]])).tolist()
        [[2, 4], [1, 3]]
    """
    x = as_tensor(input)
    dims = tuple(dims)
    if len(dims) != 2:
        raise ShapeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise ShapeError(f"expected total dims >= 2, but got total dims = {x.ndim}")
    d0, d1 = (args.dim(d, x.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise ShapeError(f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}")
    k = int(k) % 4
    if k == 0:
        return Clone.apply(x)
    if k == 2:
        return Flip.apply(x, dims=(d0, d1))
    return Flip.apply(x, dims=(d1 if k == 1 else d0,)).transpose(d0, d1)


def fliplr(input):  # noqa: A002
    """``input`` reversed left to right (along dim 1); at least 2-D."""
    x = as_tensor(input)
    if x.ndim < 2:
        raise ShapeError("Input must be >= 2-d.")
    return Flip.apply(x, dims=(1,))


def flipud(input):  # noqa: A002
    """``input`` reversed upside down (along dim 0); at least 1-D."""
    x = as_tensor(input)
    if x.ndim < 1:
        raise ShapeError("Input must be >= 1-d.")
    return Flip.apply(x, dims=(0,))


def _long_index(index, op: str):
    """An int64 index tensor as torch's take-like ops want it (torch's refusal of another dtype)."""
    if not isinstance(index, TensorBase) or index._data.dtype != np.int64:
        dt = dtypes.type_name(index._data.dtype) if isinstance(index, TensorBase) else type(index).__name__
        raise DtypeError(f"{op}: Expected a long tensor for index, but got {dt}")
    return index


def _from_end(index, n: int):
    """``index`` with a negative entry counted from the end (i + n), by ops outside the graph, so that a
    compiled step repeats it on each call's indices."""
    with no_grad():
        return where(compare(np.less, index, 0), index + n, index)


def take(input, index):  # noqa: A002
    """The elements of ``input``, read as if flattened, at ``index`` (any shape; negative ones count
    from the end): the result has ``index``'s shape, the gradient adds back at the picked elements.

    Example:
        >>> import chainrule as cr
        >>> cr.take(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), cr.tensor([[0, -1]])).tolist()
        [[1.0, 4.0]]
    """
    x = as_tensor(input)
    index = _long_index(index, "take()")
    n, idx = x.numel(), index._data
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)].flat[0]
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    flat = index_select(x.reshape(-1), 0, _from_end(index.reshape(-1), n))
    return flat.reshape(index.shape)


def take_along_dim(input, indices, dim=None):  # noqa: A002
    """``input`` picked at ``indices`` along ``dim`` (gather, with ``input`` and ``indices`` broadcast
    against each other outside ``dim``); with ``dim=None`` the flattened input at the flattened indices.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[10.0, 30.0, 20.0], [60.0, 40.0, 50.0]])
        >>> cr.take_along_dim(x, cr.argmax(x, dim=1, keepdim=True), dim=1).tolist()
        [[30.0], [60.0]]
    """
    x = as_tensor(input)
    if not isinstance(indices, TensorBase) or indices._data.dtype != np.int64:
        dt = dtypes.type_name(indices._data.dtype) if isinstance(indices, TensorBase) else type(indices).__name__
        raise DtypeError(f"torch.take_along_dim(): dtype of indices should be Long but got {dt}")
    if dim is None:
        return gather(x.reshape(-1), 0, indices.reshape(-1))
    if x.ndim != indices.ndim:
        raise ShapeError(f"torch.take_along_dim(): input and indices should have the same number of dimensions, "
                         f"but got {x.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
    a = args.dim(dim, x.ndim, "take_along_dim")
    if x.ndim == 0:
        return gather(x, 0, indices)
    xs, ix = list(x.shape), list(indices.shape)
    xs[a] = ix[a] = 1
    for i, (p, q) in enumerate(zip(xs, ix)):
        if p != q and 1 not in (p, q):
            raise ShapeError(f"The size of tensor a ({p}) must match the size of tensor b ({q}) at non-singleton "
                             f"dimension {i}")
    common = list(np.broadcast_shapes(tuple(xs), tuple(ix)))
    want_x, want_i = common.copy(), common.copy()
    want_x[a], want_i[a] = x.shape[a], indices.shape[a]
    x = x if list(x.shape) == want_x else x.expand(*want_x)
    indices = indices if list(indices.shape) == want_i else indices.expand(*want_i)
    return gather(x, a, indices)


def select(input, dim: int, index: int):  # noqa: A002
    """The slice of ``input`` at ``index`` along ``dim`` (that dim removed; a negative index counts from
    the end), as ``input[..., index, ...]``.

    Example:
        >>> import chainrule as cr
        >>> cr.select(cr.tensor([[1, 2], [3, 4]]), 1, -1).tolist()
        [2, 4]
    """
    x = as_tensor(input)
    if x.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = args.dim(dim, x.ndim, "select")
    n, i = x.shape[d], int(index)
    if not -n <= i < n:
        raise IndexError(f"select(): index {i} out of range for tensor of size {list(x.shape)} at dimension {d}")
    return getitem(x, (slice(None),) * d + (i % n,))


def combinations(input, r: int = 2, with_replacement: bool = False):  # noqa: A002
    """The length-``r`` combinations of the elements of a 1-D tensor, as rows of a (k, r) tensor in
    itertools' order (with_replacement: combinations_with_replacement); r = 0 gives an empty (0,)
    tensor. The elements are picked by index_select with an index pattern made from the length alone,
    so gradients add back to the elements.

    Example:
        >>> import chainrule as cr
        >>> cr.combinations(cr.tensor([1, 2, 3])).tolist()
        [[1, 2], [1, 3], [2, 3]]
    """
    x = as_tensor(input)
    if x.ndim != 1:
        raise ShapeError(f"Expect a 1D vector, but got shape {list(x.shape)}")
    r = int(r)
    if r < 0:
        raise ShapeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return getitem(x, slice(0, 0))
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    pattern = np.fromiter(itertools.chain.from_iterable(pick(range(x.shape[0]), r)), np.int64)
    return index_select(x, 0, make(shape_constant(pattern))).reshape(-1, r)


# ----------------------------------------------------------------------------- cummax, cummin, kthvalue, mode
def _values_indices(op: str):
    """The named tuple (values, indices) that torch.<op> returns."""
    result = namedtuple(op, ["values", "indices"])
    result.__doc__ = f"(values, indices), as torch.{op} returns them."
    return result


CummaxResult, CumminResult, KthvalueResult, ModeResult = map(_values_indices, ("cummax", "cummin", "kthvalue", "mode"))


def _running_positions(v: np.ndarray, dim: int, largest: bool) -> np.ndarray:
    """The position of the running max (min) along ``dim``, as PyTorch's cummax (cummin): a later
    element equal to the running value takes over, and so does every NaN (which then stays)."""
    acc = np.maximum if largest else np.minimum
    running = acc.accumulate(v, axis=dim)
    pos = np.arange(v.shape[dim]).reshape([-1 if a == dim else 1 for a in range(v.ndim)])
    hit = v == running
    if v.dtype.kind == "f":
        hit |= np.isnan(v)
    return np.maximum.accumulate(np.where(hit, pos, 0), axis=dim)


def _cumulative_extreme(input, dim, largest):  # noqa: A002
    op = "cummax" if largest else "cummin"
    result = CummaxResult if largest else CumminResult
    x = as_tensor(input)
    a = args.dim(dim, x.ndim, op)
    if x.ndim == 0:
        return result(x.clone(), make(np.zeros((), np.int64)))
    idx = _positions(x, lambda v: _running_positions(v, a, largest))
    return result(TakeAlong.apply(x, idx, dim=a), idx)


def cummax(input, dim):  # noqa: A002
    """The running maximum along ``dim`` and its position, ``(values, indices)`` as torch.cummax (a
    later equal element takes the position; from a NaN on, NaN). The gradient goes to the picked element.

    Example:
        >>> import chainrule as cr
        >>> cr.cummax(cr.tensor([1.0, 3.0, 2.0, 3.0]), 0).indices.tolist()
        [0, 1, 1, 3]
    """
    return _cumulative_extreme(input, dim, True)


def cummin(input, dim):  # noqa: A002
    """The running minimum along ``dim`` and its position, ``(values, indices)`` (see :func:`cummax`)."""
    return _cumulative_extreme(input, dim, False)


def _pick(x, dim, keepdim, op, result, order):
    """``result(values, indices)``: the element ``order(array, dim)`` (positions, keepdims) picks along
    ``dim``, its gradient going back to it."""
    a = args.dim(dim, x.ndim, op)
    if x.ndim == 0:
        return result(x.clone(), make(np.zeros((), np.int64)))
    if x.shape[a] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {a} to have non-zero size.")
    idx = _positions(x, lambda v: order(v, a))
    values = TakeAlong.apply(x, idx, dim=a)
    if not keepdim:
        values, idx = values.squeeze(a), idx.squeeze(a)
    return result(values, idx)


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):  # noqa: A002
    """The k-th smallest value along ``dim`` (k from 1) and its position, ``(values, indices)`` as
    torch.kthvalue (NaN counts as the largest value). The gradient goes to the picked element.

    Example:
        >>> import chainrule as cr
        >>> cr.kthvalue(cr.tensor([3.0, 1.0, 2.0]), 2).values.item()
        2.0
    """
    x = as_tensor(input)
    a = args.dim(dim, x.ndim, "kthvalue")
    n = x.shape[a] if x.ndim else 1
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n:
        raise ShapeError(f"kthvalue(): selected number k out of range for dimension {a}")
    return _pick(x, dim, keepdim, "kthvalue", KthvalueResult,
                 lambda v, a: np.take(np.argsort(v, axis=a, kind="stable"), [k - 1], axis=a))


def _mode_positions(v: np.ndarray, dim: int) -> np.ndarray:
    """The position along ``dim`` (keepdims) of each row's most frequent value, the smallest one on a
    tie of counts, at its last occurrence (as PyTorch's sort-and-count)."""
    order = np.argsort(v, axis=dim, kind="stable")
    s = np.moveaxis(np.take_along_axis(v, order, dim), dim, -1)
    n = s.shape[-1]
    pos = np.arange(n)
    starts = np.concatenate([np.ones(s.shape[:-1] + (1,), bool), s[..., 1:] != s[..., :-1]], axis=-1)
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=-1)      # where each one's run starts
    ends = np.concatenate([starts[..., 1:], np.ones(s.shape[:-1] + (1,), bool)], axis=-1)
    counts = np.where(ends, pos - first + 1, 0)                           # a run's length at its end
    best = np.moveaxis(np.argmax(counts, axis=-1)[..., None], -1, dim)    # the first longest run
    return np.take_along_axis(order, best, dim)


def mode(input, dim: int = -1, keepdim: bool = False):  # noqa: A002
    """The most frequent value along ``dim`` (the smallest one on a tie) and its last position,
    ``(values, indices)`` as torch.mode. The gradient goes to the picked element.

    Example:
        >>> import chainrule as cr
        >>> v, i = cr.mode(cr.tensor([2.0, 1.0, 2.0, 1.0, 3.0]))
        >>> v.item(), i.item()
        (1.0, 3)
    """
    return _pick(as_tensor(input), dim, keepdim, "mode", ModeResult, _mode_positions)
