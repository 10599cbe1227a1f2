"""Weight initialisation, in place, with PyTorch's names, formulas and errors.

Each function fills a tensor outside the graph and returns it. ``generator=`` (a
:class:`chainrule.Generator`, a NumPy Generator or a seed; ``rng=`` is chainrule's older spelling)
draws from that stream instead of chainrule's global one. The numbers differ from PyTorch's (see
docs/pytorch.md); the distributions are the same.

Example:
    >>> import chainrule as cr
    >>> w = cr.empty(256, 128)
    >>> _ = cr.nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity="relu")
    >>> bool(abs(w).max() <= cr.nn.init.calculate_gain("relu") * (3 / 128) ** 0.5)
    True
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.random import resolve
from chainrule.utils._arrays import array_of

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "sigmoid", "identity")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table): 1 for linear, convolutions and
    sigmoid; 5/3 for tanh; sqrt(2) for relu; sqrt(2 / (1 + slope^2)) for leaky_relu (slope 0.01
    unless ``param``); 3/4 for selu."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor) -> tuple:
    """(fan_in, fan_out) of a weight laid out (out, in, *kernel): in * kernel size, out * kernel size."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    return _calculate_fan_in_and_fan_out(tensor)[0 if mode == "fan_in" else 1]


def _rng(generator, rng):
    return resolve(generator if generator is not None else rng)


def _fill(t, values):
    a = array_of(t)
    a[...] = np.asarray(values).astype(a.dtype, copy=False)
    return t


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None, *, rng=None):
    """Fill with U(a, b)."""
    return _fill(tensor, _rng(generator, rng).uniform(a, b, tensor.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None, *, rng=None):
    """Fill with N(mean, std^2)."""
    return _fill(tensor, _rng(generator, rng).normal(mean, std, tensor.shape))


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None,
                  *, rng=None):
    """Fill with N(mean, std^2) truncated to [a, b] (bounds in the tensor's units, as PyTorch)."""
    g = _rng(generator, rng)
    out = g.normal(mean, std, tensor.shape)
    bad = (out < a) | (out > b)
    for _ in range(1000):                      # redraw the values outside [a, b] (the same distribution)
        if not bad.any():
            break
        out[bad] = g.normal(mean, std, int(bad.sum()))
        bad = (out < a) | (out > b)
    else:
        np.clip(out, a, b, out=out)            # [a, b] far in a tail: the rare leftovers sit on the bound
    return _fill(tensor, out)


def constant_(tensor, val: float):
    """Fill with ``val``."""
    array_of(tensor)[...] = val
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def eye_(tensor):
    """The identity matrix (a 2-d tensor)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor, gain: float = 1.0, generator=None, *, rng=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator, rng=rng)


def xavier_normal_(tensor, gain: float = 1.0, generator=None, *, rng=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator, rng=rng)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None, *, rng=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al.); ``a`` is leaky_relu's slope."""
    if 0 in tuple(tensor.shape):
        return tensor                            # PyTorch warns and leaves an empty tensor alone
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator, rng=rng)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None, *, rng=None):
    """N(0, std^2) with std = gain / sqrt(fan) (He et al.)."""
    if 0 in tuple(tensor.shape):
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode)), generator, rng=rng)


def orthogonal_(tensor, gain: float = 1.0, generator=None, *, rng=None):
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al.): the tensor flattened to (rows, rest)
    gets orthonormal rows (or columns, whichever are fewer), from the QR of a Gaussian matrix."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator, rng).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))                  # a uniform (Haar) distribution over orthogonal matrices
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


# PyTorch's deprecated names without the trailing underscore
uniform, normal, constant = uniform_, normal_, constant_
xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal, orthogonal = (
    xavier_uniform_, xavier_normal_, kaiming_uniform_, kaiming_normal_, orthogonal_)


from chainrule._missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("chainrule.nn.init", "torch.nn.init", globals())
