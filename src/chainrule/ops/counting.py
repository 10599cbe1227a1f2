"""Counting and ordering without a gradient (as in PyTorch): argsort, msort, unique, nonzero,
where(condition), bincount, histc, histogram, count_nonzero, unravel_index, searchsorted, bucketize,
isin."""
from __future__ import annotations

import builtins
import collections
import functools

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, ShapeError, TensorBase, make, no_grad
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, promote
from chainrule.ops.elementwise import compare, nonzero_tuple
from chainrule.ops.index import _positions, _sort_indices, sort
from chainrule.rules.elementwise import Compare
from chainrule.rules.index import SearchSorted


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False):  # noqa: A002
    """The positions that sort ``input`` along ``dim`` (stable; NaN sorts as the largest value)."""
    x = as_tensor(input)
    if x.ndim == 0:
        return make(np.zeros((), np.int64))
    return make(np.asarray(_sort_indices(x._data, args.dim(dim, x.ndim, "argsort"), descending), np.int64))


def msort(input):  # noqa: A002
    """``input`` sorted along its first axis (the values of ``sort(input, 0)``, with their gradient)."""
    return sort(input, 0).values


def unique(input, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,  # noqa: A002
           dim=None):
    """The distinct values in ascending order (of all elements, or the distinct slices along ``dim``),
    with the inverse positions and the counts when asked, as a tuple."""
    x = as_tensor(input)
    axis = None if dim is None else args.dim(dim, x.ndim, "unique")
    values, inverse, counts = np.unique(x._data, return_inverse=True, return_counts=True, axis=axis)
    out = [make(values)]
    if return_inverse:
        out.append(make(np.asarray(inverse, np.int64).reshape(x.shape if axis is None else -1)))
    if return_counts:
        out.append(make(np.asarray(counts, np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input, return_inverse: bool = False, return_counts: bool = False, dim=None):  # noqa: A002
    """Each run of equal neighbours (elements of the flattened input, or slices along ``dim``) kept
    once, in order; with the inverse positions (each element's run) and the runs' lengths when asked."""
    x = as_tensor(input)
    axis = None if dim is None else args.dim(dim, x.ndim, "unique_consecutive")
    d = x._data.reshape(-1) if axis is None else np.moveaxis(x._data, axis, 0)
    flat = d.reshape(len(d), -1) if len(d) else d.reshape(0, 1)
    starts = np.ones(len(d), bool)
    starts[1:] = np.any(flat[1:] != flat[:-1], axis=1)
    run = np.cumsum(starts) - 1
    values = d[starts] if axis is None else np.moveaxis(d[starts], 0, axis)
    out = [make(np.ascontiguousarray(values))]
    if return_inverse:
        out.append(make(run.astype(np.int64).reshape(x.shape if axis is None else -1)))
    if return_counts:
        out.append(make(np.diff(np.append(np.flatnonzero(starts), len(d))).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def nonzero(input, *, as_tuple: bool = False, out=None):  # noqa: A002
    """The positions of the non-zero elements: an (n, ndim) int64 tensor, or one 1-D tensor per axis
    with ``as_tuple=True``."""
    args.no_out("nonzero", out)
    d = as_tensor(input)._data
    if as_tuple:
        return nonzero_tuple(d)
    return make(np.asarray(np.argwhere(d), np.int64).reshape(-1, d.ndim))


def argwhere(input):  # noqa: A002
    """``nonzero(input)``."""
    return nonzero(input)


def bincount(input, weights=None, minlength: int = 0):  # noqa: A002
    """How often each non-negative integer occurs in a 1-D tensor (summed ``weights`` instead, when given)."""
    d = as_tensor(input)._data
    if d.ndim != 1 or d.dtype.kind not in "iu":
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs, got dtype {d.dtype} "
                           f"and {d.ndim} dims")
    if d.size and d.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is None:
        return make(np.bincount(d, minlength=minlength).astype(np.int64))
    w = as_tensor(weights)._data
    out = np.bincount(d, weights=w, minlength=minlength)
    return make(out.astype(w.dtype if w.dtype.kind == "f" else np.float64))


def histc(input, bins: int = 100, min=0, max=0):  # noqa: A002
    """A histogram of ``bins`` equal bins over [min, max] (the data's range when min == max); elements
    outside are ignored. The result has the input's float dtype."""
    x = as_tensor(input)
    d = x._data
    if d.dtype.kind != "f":
        raise RuntimeError(f"\"histogram_cpu\" not implemented for '{d.dtype}'")
    lo, hi = builtins.float(min), builtins.float(max)
    if lo == hi and d.size:
        lo, hi = builtins.float(d.min()), builtins.float(d.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"histc: max must be larger than min, got min {min} and max {max}")
    counts, _ = np.histogram(d, bins=int(bins), range=(lo, hi))
    return make(counts.astype(d.dtype))


class HistogramResult(collections.namedtuple("histogram", ["hist", "bin_edges"])):
    """histogram's result: (hist, bin_edges), as torch.return_types.histogram."""

    __slots__ = ()


def histogram(input, bins=100, *, range=None, weight=None, density: bool = False):  # noqa: A002
    """A histogram and its bin edges: ``bins`` equal bins over ``range`` (the data's by default) or
    the edges given as a tensor; ``weight`` weighs each element, ``density`` normalises."""
    x = as_tensor(input)
    d = x._data
    if d.dtype.kind != "f":
        raise RuntimeError(f"torch.histogram: input tensor and bins tensors should have the same dtype, "
                           f"but got input {d.dtype}")
    b = as_tensor(bins)._data if not isinstance(bins, (int, np.integer)) else int(bins)
    w = None if weight is None else as_tensor(weight)._data
    if w is not None and w.shape != d.shape:
        raise ShapeError(f"histogram: weight has shape {w.shape}, input {d.shape}")
    hist, edges = np.histogram(d, bins=b, range=range, weights=w, density=density)
    return HistogramResult(make(hist.astype(d.dtype)), make(edges.astype(d.dtype)))


def count_nonzero(input, dim=None):  # noqa: A002
    """How many elements are not zero (NaN counts), over ``dim`` (an int or a tuple; all when None):
    an int64 tensor, outside the graph (a comparison and a sum, so a compiled step repeats them).

    Example:
        >>> import chainrule as cr
        >>> cr.count_nonzero(cr.tensor([[0.0, 1.0], [2.0, 3.0]]), dim=1).tolist()
        [1, 2]
    """
    x = as_tensor(input)
    axes = args.dims(dim, x.ndim, "count_nonzero")
    if not axes or x.ndim == 0:
        axes = None
    return compare(np.not_equal, x, 0).sum(axes)


def unravel_index(indices, shape) -> tuple:
    """The coordinates in a tensor of ``shape`` of flat positions ``indices`` (an integer tensor): one
    int64 tensor of ``indices``' shape per dim, as torch.unravel_index (a position outside [0, numel)
    wraps around, as torch's does). Positions ops outside the graph, so a compiled step repeats them.

    Example:
        >>> import chainrule as cr
        >>> [c.tolist() for c in cr.unravel_index(cr.tensor([4, 5]), (2, 3))]
        [[1, 1], [1, 2]]
    """
    x = as_tensor(indices)
    if x._data.dtype.kind not in "iu":
        raise TypeError(f"expected 'indices' to be integer dtype, but got {x._data.dtype}")
    sizes = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if builtins.any(s < 0 for s in sizes):
        raise ValueError(f"'shape' cannot have negative values, but got {sizes}")
    strides = np.cumprod((1,) + sizes[:0:-1])[::-1]   # the flat step of each dim, C order
    return tuple(_positions(x, functools.partial(_coordinate, stride=int(st), size=s))
                 for st, s in zip(strides, sizes))


def _coordinate(v: np.ndarray, stride: int, size: int) -> np.ndarray:
    """The coordinate along one dim of flat positions ``v``: (v // stride) mod size, floored as Python's
    (so a negative position wraps around, as torch's)."""
    return np.mod(np.floor_divide(v.astype(np.int64), stride), size) if size else np.zeros(v.shape, np.int64)

# ----------------------------------------------------------------------------- searchsorted, bucketize, isin
def searchsorted(sorted_sequence, values, *, out_int32: bool = False, right: bool = False, side=None,
                 sorter=None, out=None):
    """The index at which each of ``values`` would be inserted into the last axis of ``sorted_sequence``
    to keep it sorted, as torch.searchsorted: the first such index, or the last with ``right=True`` (or
    ``side="right"``). ``sorted_sequence`` is 1-D or has the values' leading axes; ``sorter`` holds the
    positions that sort it. int64 (int32 with ``out_int32``), no gradient.

    Example:
        >>> import chainrule as cr
        >>> cr.searchsorted(cr.tensor([1.0, 3.0, 5.0]), cr.tensor([3.0, 6.0])).tolist()
        [1, 3]
    """
    args.no_out("searchsorted", out)
    op = "torch.searchsorted()"
    if side is not None:
        if side not in ("left", "right"):
            raise ShapeError(f"{op}: side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise ShapeError(f"{op}: side and right can't be set to opposites, got side of left while right was "
                             f"True")
        right = side == "right"
    scalar = not isinstance(values, TensorBase)
    seq, v = promote(sorted_sequence, values)
    if seq.ndim == 0:
        raise ShapeError(f"{op}: boundaries tensor should have positive dimension, but got 0 dimension")
    if seq.ndim > 1 and (v.ndim != seq.ndim or v.shape[:-1] != seq.shape[:-1]):
        raise ShapeError(f"{op}: boundaries tensor should be 1 dimension or the first N-1 dimensions of "
                         f"boundaries tensor and input value tensor must match, but we got boundaries tensor "
                         f"{list(seq.shape)} and input value tensor {list(v.shape)}")
    inputs = [seq, v]
    if sorter is not None:
        s = as_tensor(sorter)
        if s.shape != seq.shape:
            raise ShapeError(f"{op}: boundary and sorter must have the same size, but got boundary tensor "
                             f"{list(seq.shape)}and got sorter tensor {list(s.shape)}")
        if s._data.dtype != np.int64:
            raise DtypeError(f"{op}: sorter must be a tensor of long dtype but got {dtypes.type_name(s.dtype)}")
        if s._data.size and (s._data.min() < 0 or s._data.max() >= seq.shape[-1]):
            raise ShapeError(f"{op}: sorter index out of range")
        inputs.append(s)
    with no_grad():
        out = SearchSorted.apply(*inputs, right=bool(right), dtype=np.int32 if out_int32 else np.int64)
    return out.reshape(()) if scalar else out


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False, out=None):  # noqa: A002
    """The bucket of each element of ``input`` among the sorted 1-D ``boundaries``, as torch.bucketize:
    i with boundaries[i-1] < x <= boundaries[i] (``right=True``: boundaries[i-1] <= x < boundaries[i]).
    int64 (int32 with ``out_int32``), no gradient.

    Example:
        >>> import chainrule as cr
        >>> cr.bucketize(cr.tensor([0.5, 3.0, 9.0]), cr.tensor([1.0, 3.0, 5.0])).tolist()
        [0, 1, 3]
    """
    args.no_out("bucketize", out)
    b = as_tensor(boundaries)
    if b.ndim != 1:
        raise ShapeError(f"boundaries tensor must be 1 dimension, but got dim({b.ndim})")
    return searchsorted(b, input, out_int32=out_int32, right=right)


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False):
    """True where an element of ``elements`` is among ``test_elements`` (False with ``invert``), as
    torch.isin: a bool tensor of ``elements``' shape (either may be a number, not both), no gradient.

    Example:
        >>> import chainrule as cr
        >>> cr.isin(cr.tensor([1, 2, 3]), cr.tensor([2, 5])).tolist()
        [False, True, False]
    """
    if not isinstance(elements, TensorBase) and not isinstance(test_elements, TensorBase):
        raise TypeError(f"isin() received an invalid combination of arguments - got "
                        f"({type(elements).__name__}, {type(test_elements).__name__}), but expected one of: "
                        f"(Tensor elements, Tensor test_elements, ...), (Scalar element, Tensor test_elements, ...), "
                        f"(Tensor elements, Scalar test_element, ...)")
    a, b = promote(elements, test_elements)
    with no_grad():
        return Compare.apply(a, b, fn=functools.partial(_isin, invert=bool(invert)))


def _isin(a, b, *, invert):
    return np.isin(a, b, invert=invert)
