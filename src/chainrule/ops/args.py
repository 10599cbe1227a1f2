"""The one argument normaliser of the front: dims (with NumPy's aliases) and ``out=`` (written by
:func:`chainrule.ops.inplace.write_out`); a dtype argument is read by :func:`chainrule.dtypes.as_dtype`
and a device by :func:`chainrule.devices.check`, their one homes.

Every front function reads its PyTorch arguments through these helpers, so that one rule has one
home: a dim out of range is an ``IndexError`` with PyTorch's wording everywhere, ``axis`` and
``keepdims`` are aliases of ``dim`` and ``keepdim`` everywhere, ``out=`` behaves the same everywhere.
"""
from __future__ import annotations

import numpy as np


def dim_error(op: str, dim, ndim: int) -> IndexError:
    """PyTorch's error for a dim out of range, prefixed with the op's name."""
    n = ndim or 1
    return IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions "
                      f"(Dimension out of range: expected to be in range of [{-n}, {n - 1}], but got {dim})")


def dim(d, ndim: int, op: str) -> int:
    """One dim (negatives count from the end) as a non-negative int; a 0-d tensor has dim 0 and -1,
    as in PyTorch. Raises IndexError (PyTorch's type) when out of range."""
    n = ndim or 1
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
        raise TypeError(f"{op}: dim must be an int, got {type(d).__name__}")
    if not -n <= d < n:
        raise dim_error(op, d, ndim)
    return int(d) % n


def new_dim(d, ndim: int, op: str) -> int:
    """A position for a new axis (unsqueeze, stack): in [-ndim - 1, ndim]."""
    if not isinstance(d, (int, np.integer)) or not -(ndim + 1) <= d <= ndim:
        raise dim_error(op, d, ndim + 1)
    return int(d) % (ndim + 1)


def dims(d, ndim: int, op: str) -> tuple | None:
    """``d`` (None, an int, or a tuple/list of ints) as a sorted tuple of non-negative dims, None for
    all of them. A repeated dim raises RuntimeError, as PyTorch."""
    if d is None:
        return None
    items = (d,) if isinstance(d, (int, np.integer)) else tuple(d)
    out = [dim(a, ndim, op) for a in items]
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: dim {out[len(set(out))]} appears multiple times in the list of dims "
                           f"{tuple(items)}")
    return tuple(sorted(out))


def alias(op: str, d, keepdim, axis, keepdims):
    """PyTorch's ``dim``/``keepdim`` with NumPy's ``axis``/``keepdims`` as aliases; ``dim=[]`` means
    all dims. Returns ``(dim, keepdim)``."""
    if axis is not None:
        if d is not None and d != ():
            raise TypeError(f"{op}: give dim or its alias axis, not both")
        d = axis
    if keepdims is not None:
        keepdim = keepdims
    if isinstance(d, (list, tuple)) and len(d) == 0:
        d = None
    return d, bool(keepdim)


def no_out(op: str, out) -> None:
    """For the ops that do not take ``out=`` (yet): one clear error instead of ignoring it."""
    if out is not None:
        raise TypeError(f"{op}: out= is not supported here; assign the result instead "
                        f"(out= works with add, sub, mul, div, matmul and sum)")
