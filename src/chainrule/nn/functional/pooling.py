"""Pooling: max, average, power-average (``lp_pool``), adaptive and max-unpooling in 1, 2 and 3
spatial dimensions, the windows and their gradients in :mod:`chainrule.rules.pool`.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule import ops
from chainrule.core import make, no_grad
from chainrule.ops.convert import as_tensor
from chainrule.rules import pool as _pool
from chainrule.tensor import Tensor
from chainrule.nn.functional._common import _ntuple, _spatial_input


def _pool_args(input, kernel_size, stride, padding, op: str, dilation=1, dims: int = 2):  # noqa: A002
    x, unbatched = _spatial_input(input, dims, op)
    k = _ntuple(kernel_size, dims, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0) else \
        _ntuple(stride, dims, "stride", op)
    p = _ntuple(padding, dims, "padding", op)
    d = _ntuple(dilation, dims, "dilation", op)
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ValueError(f"{op}: kernel_size, stride and dilation must be positive, got {k}, {s}, {d}")
    if any(pi < 0 or pi > ki // 2 for pi, ki in zip(p, k)):
        raise ValueError(f"{op}: padding {p} must be non-negative and at most half the kernel size {k}")
    return x, unbatched, k, s, p, d


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims: int):  # noqa: A002
    """max_pool1d, 2d and 3d: the arguments checked, then the MaxPool rule (or, with return_indices, the
    indices and a gather by them)."""
    op = f"max_pool{dims}d"
    x, unbatched, k, s, p, d = _pool_args(input, kernel_size, stride, padding, op, dilation, dims)
    out = _pool_out(x, k, s, p, d, ceil_mode, op)
    if return_indices:
        return _max_with_indices(x, [_pool.pool_taps(*a) for a in zip(x.shape[2:], k, s, p, d, out)], unbatched)
    y = _pool.MaxPool.apply(x, kernel=k, stride=s, padding=p, dilation=d, ceil_mode=bool(ceil_mode))
    return y.squeeze(0) if unbatched else y


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
               return_indices: bool = False) -> Tensor:
    """The maximum of each window; the gradient goes to the first maximum of a window (PyTorch's
    tie rule) and adds up where windows overlap.

    Args:
        input (Tensor): (N, C, H, W) or (C, H, W).
        kernel_size (int or pair), stride (int or pair, kernel_size), padding (int or pair, 0;
            at most half the kernel, padded with -inf), dilation (int or pair, 1).
        ceil_mode (bool, False): round the output size up (the last window may hang over the edge).
        return_indices (bool, False): also return the flat per-plane index of each maximum (int64),
            for :func:`max_unpool2d`.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.max_pool2d(cr.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
        [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
               return_indices: bool = False) -> Tensor:
    """1-D max pooling over (N, C, L) or (C, L) (arguments as :func:`max_pool2d`, single ints)."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
               return_indices: bool = False) -> Tensor:
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W) (arguments as :func:`max_pool2d`, ints or triples)."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
                            return_indices: bool = False):
    """:func:`max_pool1d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 1)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
                            return_indices: bool = False):
    """:func:`max_pool2d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 2)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
                            return_indices: bool = False):
    """:func:`max_pool3d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 3)


def _pool_out(x: Tensor, k, s, p, d, ceil_mode: bool, op: str) -> tuple:
    """The pooling's output size, checked to be at least 1 along every axis."""
    out = tuple(_pool.pool_out_size(*a, ceil_mode) for a in zip(x.shape[2:], k, s, p, d))
    if min(out) < 1:
        raise ValueError(f"{op}: output size {out} is too small for input of shape {x.shape} with kernel_size {k}")
    return out


def _max_with_indices(x: Tensor, taps, unbatched: bool):
    """(the maximum of each window, PyTorch's flat per-plane index of it): the gradient follows the index."""
    idx = Tensor._make(_pool.window_argmax(x._data, taps), False, None)
    y = _pool.PlaneGather.apply(x, idx)
    return (y.squeeze(0), idx.squeeze(0)) if unbatched else (y, idx)


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,  # noqa: A002
              dims: int) -> Tensor:
    op = f"avg_pool{dims}d"
    x, unbatched, k, s, p, d = _pool_args(input, kernel_size, stride, padding, op, 1, dims)
    if x._data.dtype.kind != "f":
        raise TypeError(f"{op}: input must be float, got dtype {x.dtype}")
    _pool_out(x, k, s, p, d, ceil_mode, op)
    y = _pool.AvgPool.apply(x, kernel=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
                            count_include_pad=bool(count_include_pad), divisor_override=divisor_override)
    return y.squeeze(0) if unbatched else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """The mean of each window (zero padding counted unless ``count_include_pad=False``; a nonzero
    ``divisor_override`` replaces the divisor). Shapes and arguments as in :func:`max_pool2d`."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L) (arguments as :func:`avg_pool2d`, single ints)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W) (arguments as :func:`avg_pool2d`, ints or
    triples)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 3)


def _lp_pool(input, norm_type: float, kernel_size, stride, ceil_mode: bool, dims: int) -> Tensor:  # noqa: A002
    """lp_pool1d, 2d and 3d as PyTorch computes them: avg_pool of x^p times the window's size, to the power
    1/p (through sign(s) relu(|s|), so a window whose sum is 0 passes no gradient: ``where`` here); p = inf
    is max_pool of |x|, p = -inf minus max_pool of -|x|."""
    op = f"lp_pool{dims}d"
    x = as_tensor(input)
    _spatial_input(x, dims, op)  # the rank, checked in this op's name
    if x._data.dtype.kind != "f":
        raise TypeError(f"{op}: input must be float, got dtype {x.dtype}")
    if norm_type == math.inf:
        return _max_pool(ops.abs(x), kernel_size, stride, 0, 1, ceil_mode, False, dims)
    if norm_type == -math.inf:
        return -_max_pool(-ops.abs(x), kernel_size, stride, 0, 1, ceil_mode, False, dims)
    s = _avg_pool(x ** norm_type, kernel_size, stride, 0, ceil_mode, True, None, dims)
    with no_grad():
        nonzero = s != 0
    s = ops.where(nonzero, s, make(np.zeros((), s._data.dtype)))
    return (s * math.prod(_ntuple(kernel_size, dims, "kernel_size", op))) ** (1.0 / norm_type)


def lp_pool1d(input, norm_type: float, kernel_size: int, stride=None, ceil_mode: bool = False) -> Tensor:  # noqa: A002
    """Power-average pooling over (N, C, L) or (C, L): (sum of x^p over each window)^(1/p), p = ``norm_type``
    (inf: the window's largest |x|). Windows as in :func:`avg_pool1d` without padding (``stride`` defaults
    to the kernel size); computed as PyTorch does, from the window's mean times its size, so an odd p over
    negative values gives NaN and a ``ceil_mode`` window that overhangs the edge counts its mean k times.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.lp_pool1d(cr.tensor([[[3.0, 4.0]]]), 2, 2).tolist()
        [[[5.0]]]
    """
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1)


def lp_pool2d(input, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:  # noqa: A002
    """Power-average pooling over (N, C, H, W) or (C, H, W) (see :func:`lp_pool1d`; int or pair arguments)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2)


def lp_pool3d(input, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:  # noqa: A002
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W) (see :func:`lp_pool1d`; int or triple
    arguments)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3)


def _adaptive_avg(input, output_size, dims: int) -> Tensor:  # noqa: A002
    op = f"adaptive_avg_pool{dims}d"
    x = as_tensor(input)
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{op}: expected a {dims + 1}-d or {dims + 2}-d input, got shape {x.shape}")
    size = _adaptive_size(x, output_size, dims, op)
    if x._data.dtype.kind != "f":
        raise TypeError(f"{op}: input must be float, got dtype {x.dtype}")
    return _pool.AdaptiveAvgPool.apply(x, output_size=size)


def adaptive_avg_pool2d(input, output_size) -> Tensor:  # noqa: A002
    """Average pooling to a fixed output size (OH, OW) (an int for both; None keeps that input size),
    with PyTorch's windows: output i averages input[floor(i H / OH) : ceil((i + 1) H / OH)]."""
    return _adaptive_avg(input, output_size, 2)


def adaptive_avg_pool1d(input, output_size) -> Tensor:  # noqa: A002
    """Average pooling of (N, C, L) or (C, L) to a fixed length (see :func:`adaptive_avg_pool2d`)."""
    return _adaptive_avg(input, output_size, 1)


def adaptive_avg_pool3d(input, output_size) -> Tensor:  # noqa: A002
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed (OD, OH, OW) (see
    :func:`adaptive_avg_pool2d`)."""
    return _adaptive_avg(input, output_size, 3)


def _adaptive_size(x: Tensor, output_size, dims: int, op: str) -> tuple:
    """output_size as ``dims`` positive ints (an int for all; None keeps that input size)."""
    size = (output_size,) * dims if output_size is None or isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    size = tuple(x.shape[-dims + i] if v is None else v for i, v in enumerate(size))
    if len(size) != dims or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in size):
        raise ValueError(f"{op}: output_size must be one or {dims} positive ints, got {output_size!r}")
    return tuple(int(v) for v in size)


def _adaptive_max(input, output_size, return_indices: bool, dims: int, op: str):  # noqa: A002
    x, unbatched = _spatial_input(input, dims, op)
    size = _adaptive_size(x, output_size, dims, op)
    if min(x.shape[2:]) < 1:
        raise ValueError(f"{op}: input of shape {x.shape} has an empty spatial axis")
    y, idx = _max_with_indices(x, [_pool.adaptive_taps(n, o) for n, o in zip(x.shape[2:], size)], unbatched)
    return (y, idx) if return_indices else y


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):  # noqa: A002
    """Max pooling to a fixed output size (OH, OW) (an int for both; None keeps that input size), with
    PyTorch's windows (output i reads input[floor(i H / OH) : ceil((i + 1) H / OH)]); the gradient goes to
    each window's first maximum. With ``return_indices``, also the flat per-plane index of each maximum.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.adaptive_max_pool2d(cr.arange(16.0).reshape(1, 4, 4), 2).tolist()
        [[[5.0, 7.0], [13.0, 15.0]]]
    """
    return _adaptive_max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):  # noqa: A002
    """Max pooling of (N, C, L) or (C, L) to a fixed length (see :func:`adaptive_max_pool2d`)."""
    return _adaptive_max(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool3d(input, output_size, return_indices: bool = False):  # noqa: A002
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed (OD, OH, OW) (see :func:`adaptive_max_pool2d`)."""
    return _adaptive_max(input, output_size, return_indices, 3, "adaptive_max_pool3d")


def adaptive_max_pool1d_with_indices(input, output_size, return_indices: bool = False):  # noqa: A002
    """:func:`adaptive_max_pool1d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _adaptive_max(input, output_size, True, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d_with_indices(input, output_size, return_indices: bool = False):  # noqa: A002
    """:func:`adaptive_max_pool2d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _adaptive_max(input, output_size, True, 2, "adaptive_max_pool2d")


def adaptive_max_pool3d_with_indices(input, output_size, return_indices: bool = False):  # noqa: A002
    """:func:`adaptive_max_pool3d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _adaptive_max(input, output_size, True, 3, "adaptive_max_pool3d")


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, dims: int, op: str) -> Tensor:  # noqa: A002
    x, unbatched = _spatial_input(input, dims, op)
    idx = as_tensor(indices)
    if idx._data.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer (int64) tensor, got dtype {idx.dtype}")
    if idx.shape != tuple(input.shape):
        raise ValueError(f"{op}: indices of shape {idx.shape} must have the shape of the input {tuple(input.shape)}")
    if unbatched:
        idx = idx.unsqueeze(0)
    k = _ntuple(kernel_size, dims, "kernel_size", op)
    s = k if stride is None else _ntuple(stride, dims, "stride", op)
    p = _ntuple(padding, dims, "padding", op)
    size = [(n - 1) * si + ki - 2 * pi for n, ki, si, pi in zip(x.shape[2:], k, s, p)]
    if output_size is not None:
        want = [int(v) for v in output_size]
        want = want[2:] if len(want) == dims + 2 else want
        if len(want) != dims:
            raise ValueError(f"{op}: output_size should be a sequence of {dims} or {dims + 2} ints, got {output_size!r}")
        for i, (w, dflt, si) in enumerate(zip(want, size, s)):
            if not dflt - si < w < dflt + si:
                raise ValueError(f'{op}: invalid output_size "{tuple(want)}" (dim {i} must be between '
                                 f"{dflt - si} and {dflt + si})")
        size = want
    if min(size) < 1:
        raise ValueError(f"{op}: the output size {tuple(size)} must be positive")
    plane = int(np.prod(size))
    lo, hi = (int(idx._data.min()), int(idx._data.max())) if idx.numel() else (0, 0)
    if lo < 0 or hi >= plane:
        raise RuntimeError(f"{op}: found an invalid max index {hi if hi >= plane else lo} (output planes are of "
                           f"size {'x'.join(map(str, size))})")
    y = _pool.PlaneScatter.apply(x, as_tensor(idx, np.int64), size=tuple(size))
    return y.squeeze(0) if unbatched else y


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:  # noqa: A002
    """The partial inverse of :func:`max_pool2d`: each value put back at its index (from
    ``return_indices=True``) in a zero (N, C, H, W) plane, H = (OH - 1) stride - 2 padding + kernel_size unless
    ``output_size`` says otherwise; the gradient is read back at the indices.

    Example:
        >>> import chainrule as cr
        >>> F = cr.nn.functional
        >>> y, i = F.max_pool2d(cr.arange(16.0).reshape(1, 1, 4, 4), 2, return_indices=True)
        >>> F.max_unpool2d(y, i, 2).tolist()[0][0][1]
        [0.0, 5.0, 0.0, 7.0]
    """
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:  # noqa: A002
    """The partial inverse of :func:`max_pool1d` over (N, C, L) or (C, L) (see :func:`max_unpool2d`)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:  # noqa: A002
    """The partial inverse of :func:`max_pool3d` over (N, C, D, H, W) or (C, D, H, W) (see :func:`max_unpool2d`)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d")
