"""Softmax and log-softmax (PyTorch's signatures; the rules are in :mod:`chainrule.rules.softmax`)."""
from __future__ import annotations

from chainrule import dtypes
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, float_input
from chainrule.rules.softmax import LogSoftmax, Softmax


def _softmax_input(x, dim, axis, dtype):
    x = as_tensor(x, dtypes.as_dtype(dtype)) if dtype is not None else float_input(x)
    return x, (-1 if dim is None and axis is None else axis if dim is None else dim)


def softmax(x, dim: int | None = None, *, axis: int | None = None, dtype=None):
    """Softmax along ``dim`` (the last by default; ``axis`` is an alias): each slice sums to 1."""
    x, dim = _softmax_input(x, dim, axis, dtype)
    return Softmax.apply(x, axis=args.dim(dim, x.ndim, "softmax"))


def log_softmax(x, dim: int | None = None, *, axis: int | None = None, dtype=None):
    """Log of the softmax along ``dim`` (``axis`` is an alias), computed without overflow."""
    x, dim = _softmax_input(x, dim, axis, dtype)
    return LogSoftmax.apply(x, axis=args.dim(dim, x.ndim, "log_softmax"))
