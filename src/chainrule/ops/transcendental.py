"""Trigonometric and hyperbolic functions (PyTorch's names and NumPy's ``arc`` aliases), atan2, hypot,
sinc, deg2rad/rad2deg and logit. Integer and bool inputs become the default float dtype, as in PyTorch.
The rules (with their local gradients) are in :mod:`chainrule.rules.trig` and
:mod:`chainrule.rules.floating`.

    >>> import chainrule as cr
    >>> cr.atan2(cr.tensor([1.0, -1.0]), cr.tensor([0.0, 0.0]))
    tensor([ 1.5708, -1.5708])
"""
from __future__ import annotations

import math

from chainrule import dtypes
from chainrule.ops import args
from chainrule.ops.convert import float_input, floats, promote
from chainrule.ops.elementwise import unary
from chainrule.rules.floating import Logit
from chainrule.rules.trig import Acos, Acosh, Asin, Asinh, Atan, Atan2, Atanh, Cosh, Hypot, Sinc, Sinh, Tan

tan = unary(Tan, "tan", "tan x elementwise.")
asin = arcsin = unary(Asin, "asin", "The inverse sine elementwise, in [-pi/2, pi/2] (NaN outside [-1, 1]).")
acos = arccos = unary(Acos, "acos", "The inverse cosine elementwise, in [0, pi] (NaN outside [-1, 1]).")
atan = arctan = unary(Atan, "atan", "The inverse tangent elementwise, in (-pi/2, pi/2).")
sinh = unary(Sinh, "sinh", "sinh x elementwise.")
cosh = unary(Cosh, "cosh", "cosh x elementwise.")
asinh = arcsinh = unary(Asinh, "asinh", "The inverse hyperbolic sine elementwise.")
acosh = arccosh = unary(Acosh, "acosh", "The inverse hyperbolic cosine elementwise (NaN below 1).")
atanh = arctanh = unary(Atanh, "atanh", "The inverse hyperbolic tangent elementwise (+-inf at +-1, NaN outside).")
sinc = unary(Sinc, "sinc", "The normalized sinc, sin(pi x) / (pi x), and 1 at x = 0.")


def real_binary(rule, name: str, doc: str, ints: bool = True):
    """The front of a two-input rule defined on reals: both operands brought to one dtype, integer and
    bool ones to the default float dtype (or refused in PyTorch's words when not ``ints``)."""

    def op(input, other, *, out=None):  # noqa: A002 - torch's keywords
        args.no_out(name, out)
        a, b = promote(input, other)
        if a._data.dtype.kind != "f":
            if not ints:
                raise NotImplementedError(f'"{name}_cpu" not implemented for '
                                          f"'{dtypes.type_name(a._data.dtype)}'")
            a, b = floats(a, b)
        return rule.apply(a, b)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


atan2 = arctan2 = real_binary(Atan2, "atan2", "The angle of the point (other, input) elementwise, in [-pi, pi], "
                                             "with broadcasting.")
hypot = real_binary(Hypot, "hypot", "sqrt(input^2 + other^2) elementwise without overflow, with broadcasting "
                                    "(float tensors only, as PyTorch).", ints=False)


def deg2rad(input):  # noqa: A002
    """Degrees to radians: x * pi / 180."""
    return float_input(input) * (math.pi / 180)


def rad2deg(input):  # noqa: A002
    """Radians to degrees: x * 180 / pi."""
    return float_input(input) * (180 / math.pi)


def logit(input, eps=None):  # noqa: A002
    """log(x / (1 - x)), the inverse of sigmoid; with ``eps``, x is first clamped to [eps, 1 - eps]
    (the gradient is then 0 outside that range, as PyTorch's).

    Args:
        input (Tensor): probabilities.
        eps (float, None): the clamp's margin; None clamps nothing (NaN below 0 and above 1).
    """
    return Logit.apply(float_input(input), eps=None if eps is None else float(eps))
