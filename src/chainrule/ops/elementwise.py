"""Elementwise functions (PyTorch's signatures): the lecture's gates, their dtype handling and
``out=``. The gradient rules are in :mod:`chainrule.rules.elementwise`."""
from __future__ import annotations

import warnings

import numpy as np

from chainrule import dtypes
from chainrule.core import ShapeError, TensorBase, make, no_grad
from chainrule.ops.convert import as_tensor, float_input, floats, promote
from chainrule.ops.inplace import write_out
from chainrule.rules.floating import Indicator
from chainrule.rules.elementwise import (ELU, GELU, Abs, Add, ClampBy, Clip, Compare, Cos, Div, Exp, LeakyReLU, Log,
                                         Maximum, Minimum, Mul, Neg, Pow, ReLU, Sigmoid, Sin, Softplus, Sqrt,
                                         RoundedDiv, Sub, Tanh, Where)

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


def binary(rule, name: str, doc: str, no_bool: tuple | None = None):
    """The front function of a two-input rule: both operands brought to one dtype, then
    ``rule.apply(a, b)``.

    The common cases (two tensors of one dtype; a float tensor and a Python number) take a short path
    inside this one function (one Python call between an operator and its rule); everything else
    goes through ``promote``. ``no_bool``: PyTorch's RuntimeErrors (two bool tensors, one) refusing a
    bool tensor operand (subtraction).
    """
    apply = rule.apply

    def op(a, b):
        if isinstance(a, TensorBase):
            if isinstance(b, TensorBase):
                if a._data.dtype is b._data.dtype and (no_bool is None or a._data.dtype.kind != "b"):
                    return apply(a, b)
            elif (type(b) is float or type(b) is int) and a._data.dtype.kind == "f":
                return apply(a, _const(b, a._data.dtype))
        elif isinstance(b, TensorBase) and (type(a) is float or type(a) is int) and b._data.dtype.kind == "f":
            return apply(_const(a, b._data.dtype), b)
        if no_bool is not None:
            bools = [isinstance(t, TensorBase) and t._data.dtype.kind == "b" for t in (a, b)]
            if any(bools):
                raise RuntimeError(no_bool[0] if all(bools) else no_bool[1])
        return apply(*promote(a, b))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def refuse_bool(x, no_bool) -> None:
    """Raise PyTorch's refusal when ``x`` is a bool tensor: ``no_bool`` is its RuntimeError's words, or
    ``("kernel", name)`` for an op without a bool kernel (:func:`chainrule.dtypes.no_kernel`)."""
    if no_bool is not None and x._data.dtype == np.bool_:
        raise dtypes.no_kernel(no_bool[1], np.bool_) if isinstance(no_bool, tuple) else RuntimeError(no_bool)


def unary(rule, name: str, doc: str, floats_only: bool = True, no_bool=None):
    """The front function of a one-input rule: ``rule.apply(x)``, integer and bool inputs made float
    first when ``floats_only`` (exp, log, ...), as in PyTorch; a bool input refused as PyTorch does
    when ``no_bool`` is given (:func:`refuse_bool`)."""
    apply = rule.apply

    def op(input):  # noqa: A002 - torch's keyword
        if not (isinstance(input, TensorBase) and (input._data.dtype.kind == "f" or not floats_only)):
            input = float_input(input) if floats_only else as_tensor(input)  # noqa: A001
        refuse_bool(input, no_bool)
        return apply(input)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


# the operators a + b, a - b, a * b, a ** b: the same ops without the keyword checks (the hottest path)
add2 = binary(Add, "add2", "a + b with broadcasting (the operator).")
sub2 = binary(Sub, "sub2", "a - b with broadcasting (the operator).", no_bool=(
    "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` "
    "operator instead.", "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
    "trying to invert a mask, use the `~` or `logical_not()` operator instead."))
mul2 = binary(Mul, "mul2", "a * b with broadcasting (the operator).")
_pow = binary(Pow, "pow", "a ** b with broadcasting.")


def pow(input, exponent):  # noqa: A001,A002 - the op's name
    """a ** b with broadcasting. Integers to a negative integer tensor give 1 / a^|b| truncated (0 unless
    a = +-1), as PyTorch; to a negative Python int, PyTorch's RuntimeError."""
    if type(exponent) is int and exponent < 0 and isinstance(input, TensorBase) and input._data.dtype.kind in "iub":
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _pow(input, exponent)
maximum = binary(Maximum, "maximum", "Elementwise max of two tensors (the lecture's max gate).")
minimum = binary(Minimum, "minimum", "Elementwise min of two tensors.")

neg = unary(Neg, "neg", "-x elementwise.", floats_only=False,
            no_bool="Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
                    "invert a mask, use the `~` or `logical_not()` operator instead.")
abs = unary(Abs, "abs", "|x| elementwise.", floats_only=False, no_bool=("kernel", "abs_cpu"))  # noqa: A001
relu = unary(ReLU, "relu", "max(0, x) elementwise.", floats_only=False,
             no_bool="Boolean inputs not supported for relu")


def positive(input):  # noqa: A002
    """``input`` itself, as ``+x`` (PyTorch refuses a bool tensor)."""
    x = as_tensor(input)
    refuse_bool(x, "The `+` operator, on a bool tensor is not supported.")
    return x
exp = unary(Exp, "exp", "e^x elementwise.")
log = unary(Log, "log", "Natural logarithm elementwise (nan below 0, -inf at 0, as NumPy).")
sqrt = unary(Sqrt, "sqrt", "Square root elementwise.")
sin = unary(Sin, "sin", "sin x elementwise.")
cos = unary(Cos, "cos", "cos x elementwise.")
tanh = unary(Tanh, "tanh", "tanh x elementwise.")
sigmoid = unary(Sigmoid, "sigmoid", "1 / (1 + e^-x) elementwise, without overflow.")
softplus = unary(Softplus, "softplus", "log(1 + e^x) elementwise, without overflow.")


def alpha_first(op: str, other, rest: tuple, alpha):
    """(other, alpha) of PyTorch's deprecated ``add(alpha, other)`` overload (old tutorials'
    ``p.data.add_(-lr, p.grad.data)``), with PyTorch's warning; ``(other, alpha)`` when ``rest`` is
    empty."""
    if not rest:
        return other, alpha
    if len(rest) > 1 or isinstance(other, TensorBase) or not isinstance(rest[0], TensorBase) or alpha != 1:
        raise TypeError(f"{op}() takes one tensor and a keyword alpha: {op}(other, *, alpha=1)")
    warnings.warn(f"This overload of {op} is deprecated:\n\t{op}(Number alpha, Tensor other)\nConsider using "
                  f"one of the following signatures instead:\n\t{op}(Tensor other, *, Number alpha = 1)",
                  UserWarning, stacklevel=3)
    return rest[0], other


def add(input, other, *rest, alpha=1, out=None):  # noqa: A002 - torch keywords
    """a + alpha * b with broadcasting (``add(a, alpha, b)``, deprecated in PyTorch, works with its warning)."""
    other, alpha = alpha_first("add", other, rest, alpha)
    r = add2(input, other if alpha == 1 else other * alpha)
    return r if out is None else write_out(r, out, "add")


def sub(input, other, *rest, alpha=1, out=None):  # noqa: A002 - torch keywords
    """a - alpha * b with broadcasting (``sub(a, alpha, b)``, deprecated in PyTorch, works with its warning)."""
    other, alpha = alpha_first("sub", other, rest, alpha)
    r = sub2(input, other if alpha == 1 else other * alpha)
    return r if out is None else write_out(r, out, "sub")


def mul(input, other, *, out=None):  # noqa: A002
    """a * b with broadcasting."""
    r = mul2(input, other)
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
        with no_grad():  # an op outside the graph, so that a compiled step repeats it (remainder, //)
            return write_out(RoundedDiv.apply(a, b, mode=rounding_mode), out, "div")
    r = Div.apply(*floats(a, b))
    return r if out is None else write_out(r, out, "div")


def leaky_relu(x, negative_slope: float = 0.01):
    x = as_tensor(x)
    dtypes.need_float(x._data.dtype, "leaky_relu_cpu")  # an integer would truncate the slope away
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def elu(x, alpha: float = 1.0):
    return ELU.apply(float_input(x), alpha=alpha)


def gelu(x, approximate: str = "none"):
    if approximate not in ("none", "tanh"):
        raise ShapeError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(float_input(x), approximate=approximate)


def clip(x, min=None, max=None):  # noqa: A002
    """x limited to [min, max] (either may be None): numbers, or tensors (broadcast, with their
    gradients, as PyTorch's clamp.Tensor; a number beside a tensor is taken as one). The result has
    PyTorch's dtype for x and the bounds: an integer tensor clamped by 0.5 is float, a bool by 0 int64,
    a bool by a bool number refused."""
    if min is None and max is None:
        raise ShapeError("clip: give at least one of min and max")
    x = as_tensor(x)
    given = [b for b in (min, max) if b is not None]
    d = dtypes.operands_dtype(x, *given)
    tensors = any(isinstance(b, TensorBase) for b in given)
    if d == np.bool_ and not tensors:
        raise dtypes.no_kernel("clamp_scalar_cpu" if len(given) == 2 else
                               "clamp_min_scalar_cpu" if max is None else "clamp_max_scalar_cpu", d)
    if x._data.dtype != d:
        x = as_tensor(x, d)
    if not tensors:
        return Clip.apply(x, lo=min, hi=max)
    return ClampBy.apply(x, *(as_tensor(b, d) for b in given),
                         bounds=" ".join(n for n, b in (("lo", min), ("hi", max)) if b is not None))


def nonzero_tuple(condition) -> tuple:
    """The positions where ``condition`` is non-zero, one int64 tensor per axis."""
    d = condition._data if isinstance(condition, TensorBase) else np.asarray(condition)
    return tuple(make(np.asarray(i, np.int64)) for i in np.nonzero(np.atleast_1d(d)))


def where(condition, input=None, other=None):  # noqa: A002 - torch keywords
    """``input`` where ``condition`` holds, else ``other`` (the condition gets no gradient; it is an
    input of the op, so that changing it in place before backward raises, as in PyTorch).
    ``where(condition)`` alone is ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return nonzero_tuple(condition)
    if not (isinstance(condition, TensorBase) and condition._data.dtype == np.bool_):
        condition = make(np.asarray(condition._data if isinstance(condition, TensorBase) else condition,
                                    dtype=bool))
    a, b = promote(input, other)
    return Where.apply(a, b, condition)


def indicate(np_fn, x):
    """``np_fn`` of one operand's values (np.isnan, np.logical_not, np.invert...) as the Indicator op,
    outside any graph (no gradient), as :func:`compare` is for two: a compiled step repeats it."""
    with no_grad():
        return Indicator.apply(as_tensor(x), fn=np_fn)


def compare(np_fn, a, b):
    """A boolean tensor from a NumPy comparison (the Compare op, outside any graph: comparisons carry
    no gradient; as an op, a compiled step repeats it on each call's data)."""
    with no_grad():
        if isinstance(a, TensorBase):
            return Compare.apply(a, b, fn=np_fn) if isinstance(b, TensorBase) else \
                Compare.apply(a, fn=np_fn, other=b)
        if isinstance(b, TensorBase):
            return Compare.apply(b, fn=np_fn, other=a, swap=True)
    return make(np.asarray(np_fn(a, b)))
