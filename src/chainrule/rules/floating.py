"""Rules about floating-point values: their classes (isnan, signbit... as an Indicator), NaN handling
(nan_to_num, nansum's NaN as zero, fmax/fmin), sign transfer (copysign), heaviside and logit.

The rules without a gradient (Indicator, Heaviside) are applied under no_grad by the front, like
``Compare``: a compiled step records them and repeats them on each call's data.
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function


class Indicator(Function):
    """``fn`` of the values (np.isnan, np.signbit...) as a bool array; no gradient (never in a graph)."""

    def forward(self, x, *, fn):
        return fn(x)

    def backward(self, grad):  # pragma: no cover - never in a graph (applied under no_grad)
        raise RuntimeError("an indicator (isnan, isinf, signbit...) has no gradient")


class Logical(Function):
    """``fn`` (np.any or np.all) of the values over ``axis`` (all when None), as bools, or uint8 for a
    uint8 x as PyTorch; no gradient (the front applies it under no_grad, so a compiled step replays it)."""

    def forward(self, x, *, fn, axis=None, keepdims=False):
        r = fn(x, axis=axis, keepdims=keepdims and axis is not None)
        return np.asarray(r, dtype=np.uint8 if x.dtype == np.uint8 else bool)

    def backward(self, grad):  # pragma: no cover - never in a graph (applied under no_grad)
        raise RuntimeError("any/all have no gradient")


class Heaviside(Function):
    """The step: 0 where x < 0, ``values`` where x == 0, 1 where x > 0 (0 at NaN, as PyTorch); no
    gradient (PyTorch has none)."""

    def forward(self, x, values):
        return np.where(x > 0, np.ones((), x.dtype), np.where(x == 0, values, np.zeros((), x.dtype)))

    def backward(self, grad):  # pragma: no cover - never in a graph (applied under no_grad)
        raise RuntimeError("the derivative of heaviside is not implemented")


class NanToNum(Function):
    """x with NaN, +inf and -inf replaced by numbers; d/dx = 1 where x is finite, 0 where it was
    replaced (also an inf kept as inf, as PyTorch)."""

    saved_inputs = (0,)

    def forward(self, x, nan=0.0, posinf=None, neginf=None):
        self.x = x
        return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, grad):
        return grad * np.isfinite(self.x)


class NanZero(Function):
    """x with each NaN as 0 (nansum's, nanmean's first step); d/dx = 1 where x is not NaN, else 0, as a
    product with the mask (an infinite upstream gradient gives NaN there, as PyTorch's)."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return np.where(np.isnan(x), np.zeros((), x.dtype), x)

    def backward(self, grad):
        return grad * ~np.isnan(self.x)


class Logit(Function):
    """log(z / (1 - z)), z = x clamped to [eps, 1 - eps] when eps is given; d/dx = 1 / (x (1 - x))
    inside [eps, 1 - eps] and 0 outside it, or, without eps, NaN outside [0, 1] (PyTorch's rule)."""

    saved_inputs = (0,)

    def forward(self, x, eps=None):
        self.x, self.eps = x, eps
        z = x if eps is None else np.clip(x, eps, 1 - eps).astype(x.dtype, copy=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(z / (1 - z))

    def backward(self, grad):
        x, eps = self.x, self.eps
        with np.errstate(divide="ignore", invalid="ignore"):
            g = grad / (x * (1 - x))
        if eps is None:
            return np.where((x < 0) | (x > 1), np.full((), np.nan, g.dtype), g)
        return np.where((x < eps) | (x > 1 - eps), np.zeros((), g.dtype), g)


class Copysign(Function):
    """|a| with the sign of b; d/da = out / a (+-1; 0 where a = 0, as PyTorch), d/db = 0."""

    saved_inputs, saves_output = (0,), True

    def forward(self, a, b):
        self.a = a
        self.out = np.copysign(a, b)
        return self.out

    def backward(self, grad):
        na, nb = self.needs_input_grad
        ga = None
        if na:
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = grad * np.where(self.a == 0, np.zeros((), grad.dtype), self.out / self.a)
        return ga, (np.zeros_like(grad) if nb else None)


class FMax(Function):
    """max(a, b) ignoring a NaN (NaN only where both are); the gradient goes to a where a >= b or b is
    NaN, else to b (all of it to a on a tie, as PyTorch)."""

    saved_inputs = (0, 1)
    fn, wins = staticmethod(np.fmax), staticmethod(np.greater_equal)

    def forward(self, a, b):
        self.a, self.b = a, b
        return self.fn(a, b)

    def backward(self, grad):
        to_a = self.wins(self.a, self.b) | np.isnan(self.b)
        zero = np.zeros((), grad.dtype)
        return np.where(to_a, grad, zero), np.where(to_a, zero, grad)


class FMin(FMax):
    """min(a, b) ignoring a NaN; the gradient goes to a where a <= b or b is NaN, else to b."""

    fn, wins = staticmethod(np.fmin), staticmethod(np.less_equal)
