"""Normalisation: ``batch_norm`` and ``layer_norm`` (rules of :mod:`chainrule.rules.norm`),
``group_norm``, ``instance_norm``, ``rms_norm``, ``local_response_norm`` and ``normalize``.
"""
from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.ops.convert import as_tensor, float_input
from chainrule.rules import norm as _norm
from chainrule.tensor import Tensor


def _channel_param(v, c: int, fill: float, dtype, name: str, op: str) -> Tensor:
    if v is None:
        return Tensor._make(np.full(c, fill, dtype), False, None)
    t = as_tensor(v, dtype)
    if t.shape != (c,):
        raise ValueError(f"{op}: {name} must have shape ({c},), got {t.shape}")
    return t


def _buffer_array(v):
    return None if v is None else v._data if isinstance(v, Tensor) else v


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,  # noqa: A002
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over axis 1 of (N, C, ...): in training with the batch's mean and biased
    variance, updating ``running_mean``/``running_var`` in place when given (momentum, unbiased
    variance); otherwise with the running statistics. One fused node (its own backward)."""
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of at least 2 dimensions (N, C, ...), got shape {x.shape}")
    if x._data.dtype.kind != "f":
        raise TypeError(f"batch_norm: input must be float, got dtype {x.dtype}")
    c = x.shape[1]
    rm, rv = _buffer_array(running_mean), _buffer_array(running_var)
    for name, r in (("running_mean", rm), ("running_var", rv)):
        if r is not None and np.shape(r) != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},), got {np.shape(r)}")
    if training and x._data.size // c < 2:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                         f"shape {x.shape}")
    if not training and (rm is None or rv is None):
        raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
    dt = x._data.dtype
    w = _channel_param(weight, c, 1.0, dt, "weight", "batch_norm")
    b = _channel_param(bias, c, 0.0, dt, "bias", "batch_norm")
    return _norm.BatchNorm.apply(x, w, b, training=bool(training), eps=eps, running_mean=rm,
                                 running_var=rv, momentum=momentum)


def as_normalized_shape(normalized_shape) -> tuple:
    """``normalized_shape`` (an int for one axis, or a sequence) as a tuple of ints, as LayerNorm,
    RMSNorm and their functions take it."""
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
    return tuple(int(s) for s in shape)


def _last_axes(op: str, x, normalized_shape, error) -> tuple:
    """The normalized shape, checked to be x's last axes (``error``: the type PyTorch raises for ``op``)."""
    shape = as_normalized_shape(normalized_shape)
    if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
        raise error(f"{op}: normalized_shape {shape} does not match the last axes of input shape {x.shape}")
    return shape


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:  # noqa: A002
    """Normalise each sample over its last axes ``normalized_shape`` (mean 0, variance 1, biased), then
    scale by ``weight`` and shift by ``bias`` (both of that shape). One fused node."""
    x = as_tensor(input)
    shape = _last_axes("layer_norm", x, normalized_shape, ValueError)
    if x._data.dtype.kind != "f":
        raise TypeError(f"layer_norm: input must be float, got dtype {x.dtype}")
    dt = x._data.dtype
    w = Tensor._make(np.ones(shape, dt), False, None) if weight is None else as_tensor(weight, dt)
    b = Tensor._make(np.zeros(shape, dt), False, None) if bias is None else as_tensor(bias, dt)
    for name, t in (("weight", w), ("bias", b)):
        if t.shape != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}, got {t.shape}")
    return _norm.LayerNorm.apply(x, w, b, ndim=len(shape), eps=eps)


def _affine(y: Tensor, weight, bias, shape) -> Tensor:
    """y * weight + bias, each reshaped to ``shape`` (None skips it)."""
    if weight is not None:
        y = y * as_tensor(weight, y._data.dtype).reshape(shape)
    if bias is not None:
        y = y + as_tensor(bias, y._data.dtype).reshape(shape)
    return y


def _standardize(x: Tensor, dims, eps: float) -> Tensor:
    """(x - mean) / sqrt(biased var + eps) over ``dims``."""
    d = x - x.mean(dims, keepdim=True)
    return d / ops.sqrt((d * d).mean(dims, keepdim=True) + eps)


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:  # noqa: A002
    """Normalise (N, C, *) over each group of C / num_groups channels and the spatial axes (mean 0,
    biased variance 1), then scale and shift per channel by ``weight`` and ``bias`` (C,)."""
    x = float_input(input)
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input "
                           f"of shape {list(x.shape)} and num_groups={num_groups}")
    n, c = x.shape[:2]
    y = _standardize(x.reshape(n, num_groups, -1), -1, eps).reshape(x.shape)
    return _affine(y, weight, bias, (c,) + (1,) * (x.ndim - 2))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,  # noqa: A002
                  use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of (N, C, *) over its spatial axes; with
    ``use_input_stats=False``, by ``running_mean``/``running_var`` instead. Given running statistics
    are updated in place from the batch's mean over samples (of the means and unbiased variances)."""
    x = float_input(input)
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected an input (N, C, *) with spatial axes, got shape {x.shape}")
    shape = (x.shape[1],) + (1,) * (x.ndim - 2)
    dims = tuple(range(2, x.ndim))
    if not use_input_stats:
        rm, rv = _buffer_array(running_mean), _buffer_array(running_var)
        if rm is None or rv is None:
            raise ValueError("instance_norm: running_mean and running_var are needed when use_input_stats=False")
        mean, var = (as_tensor(r, x._data.dtype).reshape(shape) for r in (running_mean, running_var))
        y = (x - mean) / ops.sqrt(var + eps)   # by ops on the buffers: a compiled step reads them afresh
        return _affine(y, weight, bias, shape)
    for name, r in (("running_mean", running_mean), ("running_var", running_var)):
        if r is not None and np.shape(_buffer_array(r)) != shape[:1]:
            raise ValueError(f"instance_norm: {name} must have shape {shape[:1]} for input of shape {x.shape}, "
                             f"got {np.shape(_buffer_array(r))}")
    count = int(np.prod(x.shape[2:]))
    if count <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {list(x.shape)}")
    for r, stat in ((_buffer_array(running_mean), x._data.mean(dims)),
                    (_buffer_array(running_var), x._data.var(dims, ddof=1))):
        if r is not None:
            r[...] = (1 - momentum) * r + momentum * stat.mean(0)
    return _affine(_standardize(x, dims, eps), weight, bias, shape)


def rms_norm(input, normalized_shape, weight=None, eps=None) -> Tensor:  # noqa: A002
    """x / sqrt(mean(x^2) + eps) over the last axes ``normalized_shape``, times ``weight`` (that shape);
    ``eps`` None is the dtype's machine epsilon, as PyTorch."""
    x = float_input(input)
    shape = _last_axes("rms_norm", x, normalized_shape, RuntimeError)
    e = np.finfo(x._data.dtype).eps if eps is None else eps
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    y = x / ops.sqrt((x * x).mean(dims, keepdim=True) + e)
    return y if weight is None else y * as_tensor(weight, x._data.dtype)


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:  # noqa: A002
    """x / (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta (the window zero-padded by
    size // 2 before and (size - 1) // 2 after, and always divided by ``size``, as PyTorch)."""
    x = float_input(input)
    if x.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {x.ndim} dimensions)")
    if x._data.size == 0:
        return x
    sq = x * x
    c = x.shape[1]
    padded = ops.pad(sq, [(0, 0), (size // 2, (size - 1) // 2)] + [(0, 0)] * (x.ndim - 2), 0.0)
    window = padded.narrow(1, 0, c)
    for j in range(1, size):
        window = window + padded.narrow(1, j, c)
    return x / (window * (alpha / size) + k) ** beta


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:  # noqa: A002
    """input / max(||input||_p, eps) along ``dim``: each slice scaled to unit p-norm."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported in chainrule; use the returned tensor")
    x = as_tensor(input)
    return x / ops.clip(ops.norm(x, p, dim, keepdim=True), min=eps)
