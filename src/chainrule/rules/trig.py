"""Trigonometric and hyperbolic rules (tan, the inverse functions, sinh/cosh and their inverses, atan2,
hypot, sinc), one Function each, forward beside backward.

At the edges of a domain the gradients are the formula's, as PyTorch's: inf at asin(+-1), acosh(1)
and atanh(+-1), NaN outside the domain; PyTorch's special cases are kept (atan2's gradient is 0 at
(0, 0), sinc's is 0 at 0).
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function


class Tan(Function):
    """tan x; d/dx = 1 + tan(x)^2, from the output."""

    saves_output = True

    def forward(self, x):
        self.out = np.tan(x)
        return self.out

    def backward(self, grad):
        return grad * (1 + self.out * self.out)


class _OfInput(Function):
    """A function ``f`` of one input whose derivative ``df`` is read from the input (saved)."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.f(x)

    def backward(self, grad):
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad * self.df(self.x)


def _inv_sqrt(s):
    return 1 / np.sqrt(s)


class Asin(_OfInput):
    """asin x; d/dx = 1 / sqrt(1 - x^2)."""

    f = staticmethod(np.arcsin)
    df = staticmethod(lambda x: _inv_sqrt(1 - x * x))


class Acos(_OfInput):
    """acos x; d/dx = -1 / sqrt(1 - x^2)."""

    f = staticmethod(np.arccos)
    df = staticmethod(lambda x: -_inv_sqrt(1 - x * x))


class Atan(_OfInput):
    """atan x; d/dx = 1 / (1 + x^2)."""

    f = staticmethod(np.arctan)
    df = staticmethod(lambda x: 1 / (1 + x * x))


class Sinh(_OfInput):
    """sinh x; d/dx = cosh x."""

    f, df = staticmethod(np.sinh), staticmethod(np.cosh)


class Cosh(_OfInput):
    """cosh x; d/dx = sinh x."""

    f, df = staticmethod(np.cosh), staticmethod(np.sinh)


class Asinh(_OfInput):
    """asinh x; d/dx = 1 / sqrt(x^2 + 1)."""

    f = staticmethod(np.arcsinh)
    df = staticmethod(lambda x: _inv_sqrt(x * x + 1))


class Acosh(_OfInput):
    """acosh x; d/dx = 1 / sqrt(x^2 - 1)."""

    f = staticmethod(np.arccosh)
    df = staticmethod(lambda x: _inv_sqrt(x * x - 1))


class Atanh(_OfInput):
    """atanh x; d/dx = 1 / (1 - x^2)."""

    f = staticmethod(np.arctanh)
    df = staticmethod(lambda x: 1 / (1 - x * x))


class Atan2(Function):
    """atan2(a, b), the angle of the point (b, a); d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2),
    both 0 at (0, 0) (as PyTorch)."""

    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.arctan2(a, b)

    def backward(self, grad):
        na, nb = self.needs_input_grad
        r2 = self.a * self.a + self.b * self.b
        with np.errstate(divide="ignore"):
            recip = np.where(r2 == 0, np.zeros((), r2.dtype), 1 / r2)
        return (grad * self.b * recip if na else None), (grad * -self.a * recip if nb else None)


class Hypot(Function):
    """sqrt(a^2 + b^2); d/da = a / out, d/db = b / out (NaN at (0, 0), as PyTorch)."""

    saved_inputs, saves_output = (0, 1), True

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = np.hypot(a, b)
        return self.out

    def backward(self, grad):
        na, nb = self.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):
            g = grad / self.out
        return (g * self.a if na else None), (g * self.b if nb else None)


class Sinc(Function):
    """sin(pi x) / (pi x), 1 at x = 0; d/dx = (pi x cos(pi x) - sin(pi x)) / (pi x^2), 0 at x = 0."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        px = x * x.dtype.type(np.pi)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x == 0, np.ones((), x.dtype), np.sin(px) / px)

    def backward(self, grad):
        x = self.x
        px = x * x.dtype.type(np.pi)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (px * np.cos(px) - np.sin(px)) / (px * x)
        return grad * np.where(x == 0, np.zeros((), d.dtype), d)
