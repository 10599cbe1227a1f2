"""Weight initialisation, in place, with PyTorch's names and formulas (chainrule's seeded RNG)."""
from __future__ import annotations

import math

import numpy as np

from chainrule.random import resolve


def _fans(t) -> tuple:
    shape = t.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive  # (out, in, ...) layout: fan_in, fan_out


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    if nonlinearity in ("linear", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}")


def _fill(t, values):
    t._data[...] = values.astype(t._data.dtype, copy=False)
    return t


def uniform_(t, a: float = 0.0, b: float = 1.0, rng=None):
    return _fill(t, resolve(rng).uniform(a, b, t.shape))


def normal_(t, mean: float = 0.0, std: float = 1.0, rng=None):
    return _fill(t, resolve(rng).normal(mean, std, t.shape))


def zeros_(t):
    t._data[...] = 0
    return t


def ones_(t):
    t._data[...] = 1
    return t


def constant_(t, value: float):
    t._data[...] = value
    return t


def kaiming_uniform_(t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al.)."""
    fan = _fans(t)[0 if mode == "fan_in" else 1]
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(t, -bound, bound, rng)


def kaiming_normal_(t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None):
    """N(0, std^2) with std = gain / sqrt(fan) (He et al.)."""
    fan = _fans(t)[0 if mode == "fan_in" else 1]
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), rng)


def xavier_uniform_(t, gain: float = 1.0, rng=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio)."""
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, rng)


def xavier_normal_(t, gain: float = 1.0, rng=None):
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)
