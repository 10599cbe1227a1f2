"""Elementwise functions (PyTorch's signatures): the lecture's gates, their dtype handling and
``out=``. The gradient rules are in :mod:`chainrule.rules.elementwise`."""
from __future__ import annotations

import numpy as np

from chainrule.core import ShapeError, TensorBase, make
from chainrule.ops.convert import as_tensor, float_input, floats, promote
from chainrule.ops.inplace import write_out
from chainrule.rules.elementwise import (ELU, GELU, Abs, Add, Clip, Cos, Div, Exp, LeakyReLU, Log, Maximum,
                                         Minimum, Mul, Neg, Pow, ReLU, Sigmoid, Sin, Softplus, Sqrt, Sub,
                                         Tanh, Where)

_CONSTS: dict = {}


def _const(value, dtype):
    """A Python scalar as a 0-d constant of ``dtype`` (scalars are weak: they take the tensor's dtype).

    Constants are read-only and cached (a few hundred at most), so ``y * 2`` in a loop does not
    make a new leaf each time.
    """
    key = (value, dtype)
    t = _CONSTS.get(key)
    if t is None:
        data = np.array(value, dtype)
        data.flags.writeable = False
        t = make(data)
        if len(_CONSTS) >= 512:
            _CONSTS.clear()
        _CONSTS[key] = t
    return t


def binary(op, a, b):
    """Apply a two-input op after bringing both operands to one dtype.

    The common cases (two tensors of one dtype; a float tensor and a Python
    number) take a short path; everything else goes through ``promote``.
    """
    if isinstance(a, TensorBase):
        if isinstance(b, TensorBase):
            if a._data.dtype is b._data.dtype:
                return op.apply(a, b)
        elif (type(b) is float or type(b) is int) and a._data.dtype.kind == "f":
            return op.apply(a, _const(b, a._data.dtype))
    elif isinstance(b, TensorBase) and (type(a) is float or type(a) is int) and b._data.dtype.kind == "f":
        return op.apply(_const(a, b._data.dtype), b)
    return op.apply(*promote(a, b))


# the operators a + b, a - b, a * b: the same ops without the keyword checks (the hottest path)
def add2(a, b):
    return binary(Add, a, b)


def sub2(a, b):
    return binary(Sub, a, b)


def mul2(a, b):
    return binary(Mul, a, b)


def add(input, other, *, alpha=1, out=None):  # noqa: A002 - torch keywords
    """a + alpha * b with broadcasting."""
    r = binary(Add, input, other if alpha == 1 else other * alpha)
    return r if out is None else write_out(r, out, "add")


def sub(input, other, *, alpha=1, out=None):  # noqa: A002 - torch keywords
    """a - alpha * b with broadcasting."""
    r = binary(Sub, input, other if alpha == 1 else other * alpha)
    return r if out is None else write_out(r, out, "sub")


def mul(input, other, *, out=None):  # noqa: A002
    """a * b with broadcasting."""
    r = binary(Mul, input, other)
    return r if out is None else write_out(r, out, "mul")


def div(input, other, *, rounding_mode=None, out=None):  # noqa: A002
    """a / b with broadcasting (true division: integer tensors give floats).

    ``rounding_mode`` "trunc" or "floor" rounds the quotient (no gradient flows through rounding).
    """
    a, b = promote(input, other)
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise ShapeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                             f"found {rounding_mode!r}")
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.floor_divide(a._data, b._data) if rounding_mode == "floor" else \
                np.trunc(np.true_divide(a._data, b._data)).astype(a._data.dtype)
        return write_out(make(np.asarray(q)), out, "div")
    r = Div.apply(*floats(a, b))
    return r if out is None else write_out(r, out, "div")


def pow(a, b):  # noqa: A001 - the op's name
    """a ** b with broadcasting."""
    return binary(Pow, a, b)


def neg(x):
    return Neg.apply(as_tensor(x))


def exp(x):
    """e^x elementwise."""
    return Exp.apply(float_input(x))


def log(x):
    """Natural logarithm elementwise (nan below 0, -inf at 0, as NumPy)."""
    return Log.apply(float_input(x))


def sqrt(x):
    return Sqrt.apply(float_input(x))


def abs(x):  # noqa: A001
    return Abs.apply(as_tensor(x))


def sin(x):
    return Sin.apply(float_input(x))


def cos(x):
    return Cos.apply(float_input(x))


def tanh(x):
    return Tanh.apply(float_input(x))


def sigmoid(x):
    return Sigmoid.apply(float_input(x))


def relu(x):
    return ReLU.apply(as_tensor(x))


def leaky_relu(x, negative_slope: float = 0.01):
    return LeakyReLU.apply(as_tensor(x), negative_slope=negative_slope)


def elu(x, alpha: float = 1.0):
    return ELU.apply(float_input(x), alpha=alpha)


def gelu(x, approximate: str = "none"):
    if approximate not in ("none", "tanh"):
        raise ShapeError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(float_input(x), approximate=approximate)


def softplus(x):
    return Softplus.apply(float_input(x))


def maximum(a, b):
    """Elementwise max of two tensors (the lecture's max gate)."""
    return binary(Maximum, a, b)


def minimum(a, b):
    return binary(Minimum, a, b)


def clip(x, min=None, max=None):  # noqa: A002
    """x limited to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ShapeError("clip: give at least one of min and max")
    return Clip.apply(as_tensor(x), lo=min, hi=max)


def where(condition, input, other):  # noqa: A002 - torch keywords
    """``input`` where ``condition`` holds, else ``other`` (the condition gets no gradient; it is an
    input of the op, so that changing it in place before backward raises, as in PyTorch)."""
    if not (isinstance(condition, TensorBase) and condition._data.dtype == np.bool_):
        condition = make(np.asarray(condition._data if isinstance(condition, TensorBase) else condition,
                                    dtype=bool))
    a, b = promote(input, other)
    return Where.apply(a, b, condition)


def compare(np_fn, a, b):
    """A boolean tensor from a NumPy comparison; comparisons carry no gradient."""
    a = a._data if isinstance(a, TensorBase) else a
    b = b._data if isinstance(b, TensorBase) else b
    return make(np.asarray(np_fn(a, b)))
