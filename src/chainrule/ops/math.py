"""More of PyTorch's elementwise math and comparisons: log10, log2, exp2, rsqrt, reciprocal, sign,
trunc, frac, lerp, clamp_min/clamp_max, prod, cumprod, eq/ne/lt/le/gt/ge, isclose, allclose, equal.
The rules (with their local gradients) are in :mod:`chainrule.rules.elementwise` and
:mod:`chainrule.rules.reduce`."""
from __future__ import annotations

import collections

import numpy as np

from chainrule import dtypes
from chainrule.core import TensorBase, make
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, float_pair, promote
from chainrule.ops.elementwise import clip, compare, div, indicate, refuse_bool, unary
from chainrule.rules.elementwise import Exp2, Flat, Frac, Lerp, Log2, Log10, Reciprocal, Rsqrt
from chainrule.rules.reduce import Cumprod, Prod

log10 = unary(Log10, "log10", "Base-10 logarithm elementwise.")
log2 = unary(Log2, "log2", "Base-2 logarithm elementwise.")
exp2 = unary(Exp2, "exp2", "2^x elementwise.")
rsqrt = unary(Rsqrt, "rsqrt", "1 / sqrt(x) elementwise.")
reciprocal = unary(Reciprocal, "reciprocal", "1 / x elementwise (integer inputs give floats).")


def frac(input):  # noqa: A002
    """The fractional part x - trunc(x), with x's sign (PyTorch has no kernel for integers or bools)."""
    x = as_tensor(input)
    dtypes.need_float(x._data.dtype, "frac_cpu")
    return Frac.apply(x)


def sign(input):  # noqa: A002
    """-1, 0 or 1 by the sign of each element (its gradient is 0, as PyTorch's)."""
    x = as_tensor(input)
    if x._data.dtype == np.bool_:
        return make(x._data.copy())
    return Flat.apply(x, fn="sign")




def _flat(fn, doc):
    def op(input):  # noqa: A002
        x = as_tensor(input)
        refuse_bool(x, ("kernel", fn + "_vml_cpu"))
        return Flat.apply(x, fn=fn) if x._data.dtype.kind == "f" else make(x._data.copy())

    op.__name__ = op.__qualname__ = fn
    op.__doc__ = doc + " (its gradient is 0, as PyTorch's)."
    return op


floor = _flat("floor", "Each element rounded down")
ceil = _flat("ceil", "Each element rounded up")
_round = _flat("round", "Each element rounded to the nearest integer, halves to even")


def round(input, *, decimals: int = 0):  # noqa: A001,A002
    """Each element rounded to ``decimals`` decimal places, halves to even: x * 10^d rounded, / 10^d
    (x / 10^-d rounded, * 10^-d when d < 0), in x's dtype, as PyTorch. With decimals, PyTorch has no
    kernel for integers or bools. The gradient is 0, as PyTorch's."""
    if not decimals:
        return _round(input)
    x = as_tensor(input)
    dtypes.need_float(x._data.dtype, "round_cpu")
    return Flat.apply(x, fn="round", decimals=int(decimals))
trunc = fix = _flat("trunc", "Each element rounded toward zero")


def lerp(input, end, weight):  # noqa: A002
    """input + weight * (end - input), elementwise with broadcasting (``weight`` a number or a tensor)."""
    start, end = float_pair(input, end)
    w = weight if isinstance(weight, TensorBase) else make(np.asarray(weight, start._data.dtype))
    return Lerp.apply(start, end, as_tensor(w, start._data.dtype))


def clamp_min(input, min):  # noqa: A002
    """max(input, min) elementwise."""
    return clip(input, min, None)


def clamp_max(input, max):  # noqa: A002
    """min(input, max) elementwise."""
    return clip(input, None, max)


def _reduce_dtype(x, dtype):
    if dtype is not None:
        return as_tensor(x, dtypes.as_dtype(dtype))
    return as_tensor(x, dtypes.int64) if x._data.dtype.kind in "biu" else x


def prod(input, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A002
    """The product of all elements, or along ``dim``; integer and bool inputs multiply as int64.
    The gradient is exact where elements are zero (the product of the others)."""
    x = _reduce_dtype(as_tensor(input), dtype)
    if dim is None:
        return Prod.apply(x, axis=None, keepdims=False)
    return Prod.apply(x, axis=args.dim(dim, x.ndim, "prod") if x.ndim else None, keepdims=bool(keepdim))


def cumprod(input, dim: int, *, dtype=None):  # noqa: A002
    """Running product along ``dim``; integer and bool inputs multiply as int64."""
    x = _reduce_dtype(as_tensor(input), dtype)
    a = args.dim(dim, x.ndim, "cumprod")
    if x.ndim == 0:
        return x * 1
    return Cumprod.apply(x, dim=a)


def _comparison(np_fn, name):
    def op(input, other, *, out=None):  # noqa: A002
        args.no_out(name, out)
        return compare(np_fn, input, other)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{name}`` as a bool tensor (no gradient), with broadcasting."
    return op


eq = _comparison(np.equal, "eq")
ne = _comparison(np.not_equal, "ne")
lt = _comparison(np.less, "lt")
le = _comparison(np.less_equal, "le")
gt = _comparison(np.greater, "gt")
ge = _comparison(np.greater_equal, "ge")
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):  # noqa: A002
    """|input - other| <= atol + rtol * |other| elementwise, as a bool tensor."""
    a, b = promote(input, other)
    return make(np.asarray(np.isclose(a._data, b._data, rtol=rtol, atol=atol, equal_nan=equal_nan)))


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:  # noqa: A002
    """True when every element is close (see :func:`isclose`)."""
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def equal(input, other) -> bool:  # noqa: A002
    """True when both tensors have the same shape and the same values."""
    a, b = as_tensor(input), as_tensor(other)
    return a._data.shape == b._data.shape and bool(np.array_equal(a._data, b._data))


# ----------------------------------------------------------------------------- bitwise and logical ops
def _bitwise(np_fn, op: str, *operands):
    """PyTorch's bitwise op on bool or integer tensors (``&``, ``|``, ``^``, ``~``): no gradient; a
    float operand is refused, as PyTorch refuses it."""
    for x in operands:
        a = x._data if isinstance(x, TensorBase) else np.asarray(x)
        if a.dtype.kind not in "biu":
            raise RuntimeError(f'"{op}_cpu" not implemented for \'{dtypes.type_name(a.dtype)}\'')
    return compare(np_fn, *operands) if len(operands) == 2 else indicate(np_fn, *operands)


def bitwise_and(input, other):  # noqa: A002
    """a & b: logical and of bool tensors, bitwise and of integers (``mask = (x > 0) & (x < 1)``)."""
    return _bitwise(np.bitwise_and, "bitwise_and", input, other)


def bitwise_or(input, other):  # noqa: A002
    """a | b: logical or of bool tensors, bitwise or of integers."""
    return _bitwise(np.bitwise_or, "bitwise_or", input, other)


def bitwise_xor(input, other):  # noqa: A002
    """a ^ b: logical xor of bool tensors, bitwise xor of integers."""
    return _bitwise(np.bitwise_xor, "bitwise_xor", input, other)


def bitwise_not(input):  # noqa: A002
    """~a: logical not of a bool tensor, bitwise not of integers."""
    return _bitwise(np.invert, "bitwise_not", input)


def logical_and(input, other):  # noqa: A002
    """Elementwise ``input != 0 and other != 0``, as a bool tensor (any dtypes)."""
    return compare(np.logical_and, input, other)


def logical_or(input, other):  # noqa: A002
    """Elementwise ``input != 0 or other != 0``, as a bool tensor."""
    return compare(np.logical_or, input, other)


def logical_xor(input, other):  # noqa: A002
    """Elementwise ``(input != 0) != (other != 0)``, as a bool tensor."""
    return compare(np.logical_xor, input, other)


def logical_not(input):  # noqa: A002
    """Elementwise ``input == 0``, as a bool tensor."""
    return indicate(np.logical_not, input)


def square(input):  # noqa: A002
    """x * x elementwise (an integer stays an integer, a bool becomes int64 as PyTorch's ``x ** 2``:
    True * True would stay a bool); d/dx = 2x."""
    x = as_tensor(input)
    if x._data.dtype == np.bool_:
        x = as_tensor(x._data.astype(np.int64))   # no gradient flows from a bool
    return x * x


def floor_divide(input, other):  # noqa: A002
    """a // b rounded toward minus infinity (PyTorch's ``//``); no gradient flows through it."""
    return div(input, other, rounding_mode="floor")


def true_divide(input, other, *, out=None):  # noqa: A002
    """a / b with broadcasting, always true division (``div`` without ``rounding_mode``)."""
    return div(input, other, out=out)


def remainder(input, other):  # noqa: A002
    """a % b with the sign of b (Python's and PyTorch's ``%``): a - b * floor(a / b);
    d/da = 1, d/db = -floor(a / b)."""
    a, b = _operands(input, other, "remainder_cpu")
    return a - b * div(a, b, rounding_mode="floor")


def fmod(input, other):  # noqa: A002
    """The C remainder, with the sign of a: a - b * trunc(a / b); d/da = 1, d/db = -trunc(a / b)."""
    a, b = _operands(input, other, "fmod_cpu")
    return a - b * div(a, b, rounding_mode="trunc")


def _operands(input, other, kernel: str) -> tuple:  # noqa: A002
    """remainder's and fmod's operands as tensors; a bool one is cast to the pair's dtype (two bools:
    PyTorch's refusal, naming ``kernel``)."""
    a, b = _operand(input, other), _operand(other, input)
    if np.bool_ in (a._data.dtype, b._data.dtype):
        d = dtypes.operands_dtype(a, b)
        if d == np.bool_:
            raise dtypes.no_kernel(kernel, d)
        a, b = as_tensor(a, d), as_tensor(b, d)
    return a, b


def _operand(x, other):
    """``x`` as a tensor; a Python number stays a 0-d tensor of the other operand's kind."""
    if isinstance(x, TensorBase):
        return x
    if isinstance(other, TensorBase) and isinstance(x, int) and other._data.dtype.kind in "iu":
        return make(np.asarray(x, other._data.dtype))
    return as_tensor(x) if not isinstance(other, TensorBase) else make(np.asarray(x, dtypes.operands_dtype(other, x)))


def addcmul(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """input + value * tensor1 * tensor2 (the second-moment update of a hand-written Adam)."""
    return input + value * tensor1 * tensor2 if value != 1 else input + tensor1 * tensor2


def addcdiv(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """input + value * tensor1 / tensor2 (a hand-written Adam's step)."""
    return input + value * tensor1 / tensor2 if value != 1 else input + tensor1 / tensor2


def _whole(name: str, np_fn):
    def op(input, other):  # noqa: A002
        a, b = promote(input, other)
        if a._data.dtype.kind not in "iu":
            raise dtypes.no_kernel(f"{name}_cpu", a._data.dtype)
        return make(np_fn(a._data, b._data))

    op.__name__ = op.__qualname__ = name
    return op


gcd = _whole("gcd", np.gcd)
gcd.__doc__ = "The greatest common divisor of integers, elementwise (non-negative; gcd(0, 0) = 0)."
lcm = _whole("lcm", np.lcm)
lcm.__doc__ = "The least common multiple of integers, elementwise (non-negative; 0 when either is 0)."


def ldexp(input, other):  # noqa: A002
    """input * 2^other, a float tensor (integers become the default float dtype, as PyTorch)."""
    a = as_tensor(input)
    return (a if a._data.dtype.kind == "f" else as_tensor(a, dtypes.DEFAULT_FLOAT)) * exp2(other)


Frexp = collections.namedtuple("frexp", ["mantissa", "exponent"])


def frexp(input):  # noqa: A002
    """(mantissa, exponent) with input = mantissa * 2^exponent, |mantissa| in [0.5, 1) (0, inf and NaN
    kept, exponent 0); the exponent is int32, and the mantissa's gradient is input's divided by
    2^exponent, as PyTorch's."""
    x = as_tensor(input)
    if x._data.dtype.kind != "f":
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    _, e = np.frexp(x._data)
    exponent = make(np.asarray(e, np.int32))
    return Frexp(x / make(np.ldexp(np.ones((), x._data.dtype), e)), exponent)
