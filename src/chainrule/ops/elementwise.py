"""Elementwise ops: the lecture's gates, one Function each, forward beside backward.

Gradients may come back in the broadcast shape; autograd sums them to each
input's shape. Rules at awkward points follow PyTorch: relu'(0) = 0,
|x|'(0) = 0, and maximum/minimum split the gradient evenly on ties.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.convert import as_tensor, promote
from chainrule.tensor import Tensor


class Cast(Function):
    """y = x as another dtype; dy/dx = 1 (the gradient is cast back by autograd)."""

    def forward(self, x, dtype):
        return x.astype(dtype)

    def backward(self, grad):
        return grad


class Add(Function):
    """a + b; d/da = 1, d/db = 1: the add gate distributes the gradient unchanged."""

    def forward(self, a, b):
        return a + b

    def backward(self, grad):
        return grad, grad

    def local(self, i):
        return ("1", 1.0)


class Sub(Function):
    """a - b; d/da = 1, d/db = -1."""

    def forward(self, a, b):
        return a - b

    def backward(self, grad):
        return grad, (-grad if self.needs_input_grad[1] else None)

    def local(self, i):
        return ("1", 1.0) if i == 0 else ("-1", -1.0)


class Mul(Function):
    """a * b; d/da = b, d/db = a: the mul gate swaps the inputs and scales the gradient."""

    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, grad):
        na, nb = self.needs_input_grad
        return (grad * self.b if na else None), (grad * self.a if nb else None)

    def local(self, i):
        return ("{1}", self.b) if i == 0 else ("{0}", self.a)


class Div(Function):
    """a / b; d/da = 1/b, d/db = -a/b^2."""

    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, grad):
        na, nb = self.needs_input_grad
        ga = grad / self.b
        return (ga if na else None), (-ga * self.a / self.b if nb else None)

    def local(self, i):
        return ("1/{1}", 1 / self.b) if i == 0 else ("-{0}/{1}^2", -self.a / self.b ** 2)


class Neg(Function):
    """-x; d/dx = -1."""

    def forward(self, x):
        return -x

    def backward(self, grad):
        return -grad

    def local(self, i):
        return ("-1", -1.0)


class Pow(Function):
    """a ** b; d/da = b a^(b-1) (0 where b = 0), d/db = a^b log a (0 where a = 0 and b >= 0), as PyTorch."""

    saved_inputs, saves_output = (0, 1), True

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a ** b
        return self.out

    def backward(self, grad):
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        ga = gb = None
        if na:  # PyTorch's rule: 0 where the exponent is 0 (x ** 0 has slope 0 everywhere, also at 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = grad * np.where(b == 0, 0, b * a ** (b - 1)).astype(grad.dtype, copy=False)
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = grad * np.where((a == 0) & (b >= 0), 0, self.out * np.log(a))
        return ga, gb

    def local(self, i):
        if i == 0:
            return "{1} {0}^({1} - 1)", self.b, self.a ** (self.b - 1)
        return "{0}^{1} ln {0}", self.out, np.log(self.a)


class Exp(Function):
    """e^x; d/dx = e^x, the output itself (saved instead of the input)."""

    saves_output = True

    def forward(self, x):
        self.out = np.exp(x)
        return self.out

    def backward(self, grad):
        return grad * self.out

    def local(self, i):
        return ("e^{0}", self.out)


class Log(Function):
    """ln x; d/dx = 1/x."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, grad):
        return grad / self.x

    def local(self, i):
        return ("1/{0}", 1 / self.x)


class Sqrt(Function):
    """sqrt x; d/dx = 1 / (2 sqrt x), from the output."""

    saves_output = True

    def forward(self, x):
        self.out = np.sqrt(x)
        return self.out

    def backward(self, grad):
        return grad / (2 * self.out)

    def local(self, i):
        return ("1/(2 sqrt {0})", 1 / (2 * self.out))


class Abs(Function):
    """|x|; d/dx = sign(x), 0 at x = 0."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, grad):
        return grad * np.sign(self.x)

    def local(self, i):
        return ("sign({0})", np.sign(self.x))


class Sin(Function):
    """sin x; d/dx = cos x."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return np.sin(x)

    def backward(self, grad):
        return grad * np.cos(self.x)

    def local(self, i):
        return ("cos {0}", np.cos(self.x))


class Cos(Function):
    """cos x; d/dx = -sin x."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return np.cos(x)

    def backward(self, grad):
        return -grad * np.sin(self.x)

    def local(self, i):
        return ("-sin {0}", -np.sin(self.x))


class Tanh(Function):
    """tanh x; d/dx = 1 - tanh(x)^2, from the output."""

    saves_output = True

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad):
        return grad * (1 - self.out * self.out)

    def local(self, i):
        return ("1 - t^2", 1 - self.out * self.out)


def sigmoid_array(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) on an ndarray, split by sign so that neither branch overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(Function):
    """sigma(x) = 1 / (1 + e^-x); d/dx = sigma(x) (1 - sigma(x)), from the output."""

    saves_output = True

    def forward(self, x):
        self.out = sigmoid_array(x)
        return self.out

    def backward(self, grad):
        return grad * self.out * (1 - self.out)

    def local(self, i):
        return ("s(1 - s)", self.out, 1 - self.out)


class ReLU(Function):
    """max(0, x); d/dx = 1 where x > 0, else 0 (0 at x = 0): the gate routes or blocks."""

    saves_output = True

    def forward(self, x):
        self.out = np.maximum(x, 0)
        return self.out

    def backward(self, grad):
        return grad * ~(self.out <= 0)  # the mask, from the output (a NaN passes its gradient, as PyTorch)

    def local(self, i):
        return ("1 if {0} > 0 else 0", (self.out > 0).astype(self.out.dtype))


class LeakyReLU(Function):
    """x if x > 0 else slope * x; d/dx = 1 where x > 0, else slope."""

    def forward(self, x, negative_slope=0.01):
        self.mask = x > 0
        self.slope = negative_slope
        return np.where(self.mask, x, x * negative_slope).astype(x.dtype, copy=False)

    def backward(self, grad):
        return grad * np.where(self.mask, 1, self.slope).astype(grad.dtype, copy=False)

    def local(self, i):
        return ("1 if {0} > 0 else %g" % self.slope, np.where(self.mask, 1.0, self.slope))


class ELU(Function):
    """x if x > 0 else alpha (e^x - 1); d/dx = 1 where x > 0, else out + alpha."""

    saves_output = True

    def forward(self, x, alpha=1.0):
        self.mask = x > 0
        self.alpha = alpha
        self.out = np.where(self.mask, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)
        return self.out

    def backward(self, grad):
        return grad * np.where(self.mask, 1, self.out + self.alpha).astype(grad.dtype, copy=False)


_erf = np.frompyfunc(math.erf, 1, 1)


class GELU(Function):
    """x Phi(x), Phi the standard normal CDF (exact, as PyTorch's default); d/dx = Phi(x) + x phi(x).

    ``approximate="tanh"`` uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    """

    saved_inputs = (0,)

    _K = math.sqrt(2 / math.pi)

    def forward(self, x, approximate="none"):
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            self.t = np.tanh(self._K * (x + 0.044715 * x ** 3))
            return 0.5 * x * (1 + self.t)
        self.cdf = (0.5 * (1 + np.asarray(_erf(x / math.sqrt(2)), dtype=x.dtype)))
        return x * self.cdf

    def backward(self, grad):
        x = self.x
        if self.approximate == "tanh":
            t = self.t
            return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * self._K * (1 + 3 * 0.044715 * x * x))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return grad * (self.cdf + x * pdf)


class Softplus(Function):
    """log(1 + e^x), computed stably; d/dx = sigmoid(x)."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return np.logaddexp(0, x).astype(x.dtype, copy=False)

    def backward(self, grad):
        return grad * sigmoid_array(self.x)


class Maximum(Function):
    """max(a, b) elementwise; the max gate routes the gradient to the larger input (half each on ties)."""

    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.maximum(a, b)

    def backward(self, grad):
        return _route(grad, self.a, self.b, np.less)

    def local(self, i):
        ones = np.ones(np.broadcast(self.a, self.b).shape)
        return "1 if {%d} is the larger else 0" % i, _route(ones, self.a, self.b, np.less)[i]


class Minimum(Function):
    """min(a, b) elementwise; routes the gradient to the smaller input (half each on ties)."""

    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.minimum(a, b)

    def backward(self, grad):
        return _route(grad, self.a, self.b, np.greater)

    def local(self, i):
        ones = np.ones(np.broadcast(self.a, self.b).shape)
        return "1 if {%d} is the smaller else 0" % i, _route(ones, self.a, self.b, np.greater)[i]


def _route(grad, a, b, loses):
    """PyTorch's rule for maximum/minimum: an input gets the gradient unless it ``loses`` to the other,
    half on a tie; where one is NaN neither loses, so both get it (NaN propagates)."""
    g = np.where(a == b, grad * 0.5, grad).astype(grad.dtype, copy=False)
    return np.where(loses(a, b), 0, g).astype(grad.dtype, copy=False), \
        np.where(loses(b, a), 0, g).astype(grad.dtype, copy=False)


class Clip(Function):
    """x limited to [lo, hi]; d/dx = 1 inside (bounds included), 0 outside."""

    def forward(self, x, lo=None, hi=None):
        self.mask = np.ones(x.shape, dtype=bool)
        if lo is not None:
            self.mask &= x >= lo
        if hi is not None:
            self.mask &= x <= hi
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, grad):
        return grad * self.mask


class Where(Function):
    """cond ? a : b; the gradient goes to a where cond holds and to b elsewhere."""

    def forward(self, a, b, cond):
        self.cond = cond
        return np.where(cond, a, b)

    def backward(self, grad):
        zero = np.zeros((), dtype=grad.dtype)
        return np.where(self.cond, grad, zero), np.where(self.cond, zero, grad)


# ----------------------------------------------------------------------------- functions
_CONSTS: dict = {}


def _const(value, dtype) -> Tensor:
    """A Python scalar as a 0-d constant of ``dtype`` (scalars are weak: they take the tensor's dtype).

    Constants are read-only and cached (a few hundred at most), so ``y * 2`` in a loop does not
    make a new leaf each time.
    """
    key = (value, dtype)
    t = _CONSTS.get(key)
    if t is None:
        data = np.array(value, dtype)
        data.flags.writeable = False
        t = Tensor._make(data, False, None)
        if len(_CONSTS) >= 512:
            _CONSTS.clear()
        _CONSTS[key] = t
    return t


def binary(op, a, b) -> Tensor:
    """Apply a two-input op after bringing both operands to one dtype.

    The common cases (two tensors of one dtype; a float tensor and a Python
    number) take a short path; everything else goes through ``promote``.
    """
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype is b.data.dtype:
                return op.apply(a, b)
        elif (type(b) is float or type(b) is int) and a.data.dtype.kind == "f":
            return op.apply(a, _const(b, a.data.dtype))
    elif isinstance(b, Tensor) and (type(a) is float or type(a) is int) and b.data.dtype.kind == "f":
        return op.apply(_const(a, b.data.dtype), b)
    return op.apply(*promote(a, b))


# the operators a + b, a - b, a * b: the same ops without the keyword checks (the hottest path)
def add2(a, b) -> Tensor:
    return binary(Add, a, b)


def sub2(a, b) -> Tensor:
    return binary(Sub, a, b)


def mul2(a, b) -> Tensor:
    return binary(Mul, a, b)


def write_out(result: Tensor, out, op: str) -> Tensor:
    """PyTorch's ``out=``: the result written into ``out``'s array (no graph through ``out``)."""
    if out is None:
        return result
    from chainrule.autograd import is_grad_enabled
    if result.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic "
                           f"differentiation, but one of the arguments requires grad.")
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): out must be a Tensor, got {type(out).__name__}")
    from chainrule.ops.inplace import fill_
    if out.data.shape != result.data.shape:
        out.data = np.empty(result.data.shape, out.data.dtype)  # PyTorch resizes out to the result
    fill_(out, op, result.data)
    return out


def add(input, other, *, alpha=1, out=None) -> Tensor:  # noqa: A002 - torch keywords
    """a + alpha * b with broadcasting."""
    r = binary(Add, input, other if alpha == 1 else other * alpha)
    return r if out is None else write_out(r, out, "add")


def sub(input, other, *, alpha=1, out=None) -> Tensor:  # noqa: A002 - torch keywords
    """a - alpha * b with broadcasting."""
    r = binary(Sub, input, other if alpha == 1 else other * alpha)
    return r if out is None else write_out(r, out, "sub")


def mul(input, other, *, out=None) -> Tensor:  # noqa: A002
    """a * b with broadcasting."""
    r = binary(Mul, input, other)
    return r if out is None else write_out(r, out, "mul")


def div(input, other, *, rounding_mode=None, out=None) -> Tensor:  # noqa: A002
    """a / b with broadcasting (true division: integer tensors give floats).

    ``rounding_mode`` "trunc" or "floor" rounds the quotient (no gradient flows through rounding).
    """
    a, b = promote(input, other)
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                             f"found {rounding_mode!r}")
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.floor_divide(a.data, b.data) if rounding_mode == "floor" else \
                np.trunc(np.true_divide(a.data, b.data)).astype(a.data.dtype)
        return write_out(Tensor._make(np.asarray(q), False, None), out, "div")
    if a.data.dtype.kind != "f":
        from chainrule.dtypes import DEFAULT_FLOAT
        a, b = as_tensor(a, DEFAULT_FLOAT), as_tensor(b, DEFAULT_FLOAT)
    r = Div.apply(a, b)
    return r if out is None else write_out(r, out, "div")


def pow(a, b) -> Tensor:  # noqa: A001 - the op's name
    """a ** b with broadcasting."""
    return binary(Pow, a, b)


def neg(x) -> Tensor:
    return Neg.apply(as_tensor(x))


def _float_input(x) -> Tensor:
    x = as_tensor(x)
    if x.data.dtype.kind != "f":
        from chainrule.dtypes import DEFAULT_FLOAT
        x = as_tensor(x, DEFAULT_FLOAT)
    return x


def exp(x) -> Tensor:
    """e^x elementwise."""
    return Exp.apply(_float_input(x))


def log(x) -> Tensor:
    """Natural logarithm elementwise (nan below 0, -inf at 0, as NumPy)."""
    return Log.apply(_float_input(x))


def sqrt(x) -> Tensor:
    return Sqrt.apply(_float_input(x))


def abs(x) -> Tensor:  # noqa: A001
    return Abs.apply(as_tensor(x))


def sin(x) -> Tensor:
    return Sin.apply(_float_input(x))


def cos(x) -> Tensor:
    return Cos.apply(_float_input(x))


def tanh(x) -> Tensor:
    return Tanh.apply(_float_input(x))


def sigmoid(x) -> Tensor:
    return Sigmoid.apply(_float_input(x))


def relu(x) -> Tensor:
    return ReLU.apply(as_tensor(x))


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    return LeakyReLU.apply(as_tensor(x), negative_slope=negative_slope)


def elu(x, alpha: float = 1.0) -> Tensor:
    return ELU.apply(_float_input(x), alpha=alpha)


def gelu(x, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(_float_input(x), approximate=approximate)


def softplus(x) -> Tensor:
    return Softplus.apply(_float_input(x))


def maximum(a, b) -> Tensor:
    """Elementwise max of two tensors (the lecture's max gate)."""
    return binary(Maximum, a, b)


def minimum(a, b) -> Tensor:
    return binary(Minimum, a, b)


def clip(x, min=None, max=None) -> Tensor:  # noqa: A002
    """x limited to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return Clip.apply(as_tensor(x), lo=min, hi=max)


def where(cond, a, b) -> Tensor:
    """a where cond holds, else b (cond is not differentiated)."""
    c = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    return Where.apply(*promote(a, b), cond=c.astype(bool, copy=False))


def compare(np_fn, a, b) -> Tensor:
    """A boolean tensor from a NumPy comparison; comparisons carry no gradient."""
    a = a.data if isinstance(a, Tensor) else a
    b = b.data if isinstance(b, Tensor) else b
    return Tensor._make(np.asarray(np_fn(a, b)), False, None)
