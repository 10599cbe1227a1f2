"""Elementwise rules: the lecture's gates, one Function each, forward beside backward.

Gradients may come back in the broadcast shape; the engine sums them to each
input's shape. Rules at awkward points follow PyTorch: relu'(0) = 0,
|x|'(0) = 0, and maximum/minimum split the gradient evenly on ties.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.core import ALL, Function
from chainrule.rules.special import erf, erfc


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


def _whole_power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a ** b`` of integers (or bools) as PyTorch: a negative exponent gives 1 / a^|b| truncated (1 for
    a = 1, +-1 for a = -1, else 0, also for a = 0), where NumPy refuses; bool ** bool stays bool."""
    dtype = np.result_type(a, b)
    neg = b < 0 if b.dtype.kind == "i" else None
    if neg is None or not neg.any():
        out = np.power(a, b)
    else:
        whole = np.power(a, np.where(neg, 0, b))
        out = np.where(neg, np.where(a == 1, 1, np.where(a == -1, 1 - 2 * (b & 1), 0)), whole)
    return np.asarray(out).astype(dtype, copy=False)


def power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a ** b``; a whole exponent of one value (x ** 2, x ** 4, x ** -3) by repeated squaring, since libm's
    pow of a negative float base is about 250x slower than a multiplication (7 ms for 100,000 float32s)."""
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":
        return _whole_power(a, b)
    e = float(b.flat[0]) if b.size == 1 and b.ndim <= a.ndim else 0.0
    if not (e.is_integer() and 0 < abs(e) <= 64 and a.dtype.kind == "f"):
        return a ** b
    base, n, out = a.astype(np.result_type(a, b), copy=False), int(abs(e)), None
    while n:
        if n & 1:
            out = np.array(base) if out is None else np.multiply(out, base, out=out)  # an array, also 0-d
        n >>= 1
        if n:
            base = base * base
    return np.reciprocal(out, out=out) if e < 0 else out


class Pow(Function):
    """a ** b; d/da = b a^(b-1) (0 where b = 0), d/db = a^b log a (0 where a = 0 and b >= 0), as PyTorch."""

    saved_inputs, saves_output = (0, 1), True

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = power(a, b)
        return self.out

    def backward(self, grad):
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        ga = gb = None
        if na:  # PyTorch's rule: 0 where the exponent is 0 (x ** 0 has slope 0 everywhere, also at 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = grad * np.where(b == 0, 0, b * power(a, b - 1)).astype(grad.dtype, copy=False)
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


_ZEROS: dict = {}


def zeros_of(x: np.ndarray) -> np.ndarray:
    """A read-only array of zeros shaped and typed like ``x``: a view of one zero-filled block per dtype,
    grown when needed (its pages are the kernel's shared zero page until written, and it never is).
    NumPy's ``maximum`` against an array runs its vector loop, against the scalar 0 a loop several times
    slower (160 against 52 us for a (16, 32, 32, 32) float32 ReLU)."""
    block = _ZEROS.get(x.dtype)
    if block is None or block.size < x.size:
        block = np.zeros(max(x.size, 1 << 16), x.dtype)
        block.flags.writeable = False
        _ZEROS[x.dtype] = block
    return block[:x.size].reshape(x.shape)


class ReLU(Function):
    """max(0, x); d/dx = 1 where x > 0, else 0 (0 at x = 0): the gate routes or blocks."""

    saves_output = True

    def forward(self, x):
        self.out = np.maximum(x, zeros_of(x))
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
        self.cdf = 0.5 * (1 + erf(x * (1 / math.sqrt(2))))
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


class ClampBy(Function):
    """x limited to [lo, hi] given as tensors, broadcast (``bounds``: which follow x, "lo", "hi" or
    "lo hi"), PyTorch's clamp.Tensor: a NaN in x or a bound gives NaN; d/dx = 1 where lo <= x <= hi,
    d/dlo = 1 where x < lo (and lo < hi), d/dhi = 1 where x > hi (or hi < lo: the result is hi)."""

    saved_inputs = ALL

    def forward(self, x, *limits, bounds="lo hi"):
        self.x = x
        self.lo = limits[0] if "lo" in bounds else None
        self.hi = limits[-1] if "hi" in bounds else None
        out = x if self.lo is None else np.maximum(x, self.lo)
        return out if self.hi is None else np.minimum(out, self.hi)

    def backward(self, grad):
        x, lo, hi = self.x, self.lo, self.hi
        inside, grads = True, []
        if lo is not None:
            inside = inside & (x >= lo)
        if hi is not None:
            inside = inside & (x <= hi)
        grads.append(np.where(inside, grad, 0))
        if lo is not None:
            grads.append(np.where((x < lo) & (True if hi is None else lo < hi), grad, 0))
        if hi is not None:
            grads.append(np.where((x > hi) | (False if lo is None else hi < lo), grad, 0))
        return tuple(g.astype(grad.dtype, copy=False) for g in grads)


class Compare(Function):
    """A comparison (``fn``: np.less, np.equal, ...; also np.bitwise_and, np.logical_or... of masks) of
    two arrays, or of one array and a constant ``other`` (on the left when ``swap``). It has no gradient: the front applies it under
    no_grad, so it is recorded for a compiled step's replay but never enters a graph."""

    def forward(self, a, b=None, *, fn, other=None, swap=False):
        if b is not None:
            return fn(a, b)
        return fn(other, a) if swap else fn(a, other)

    def backward(self, grad):  # pragma: no cover - never in a graph (applied under no_grad)
        raise RuntimeError("compare: a comparison has no gradient")


class RoundedDiv(Function):
    """a / b rounded down (``mode`` "floor", Python's ``//``) or toward zero ("trunc"), in a's dtype. No
    gradient: the front applies it under no_grad (a compiled step repeats it on each call's data)."""

    def forward(self, a, b, *, mode):
        with np.errstate(divide="ignore", invalid="ignore"):
            if mode == "floor":
                return np.floor_divide(a, b)
            return np.trunc(np.true_divide(a, b)).astype(a.dtype)

    def backward(self, grad):  # pragma: no cover - never in a graph (applied under no_grad)
        raise RuntimeError("a rounded quotient has no gradient")


class Where(Function):
    """cond ? a : b; the gradient goes to a where cond holds and to b elsewhere (cond, a bool input,
    gets none)."""

    saved_inputs = (2,)

    def forward(self, a, b, cond):
        self.cond = cond
        return np.where(cond, a, b)

    def backward(self, grad):
        zero = np.zeros((), dtype=grad.dtype)
        return np.where(self.cond, grad, zero), np.where(self.cond, zero, grad), None


class Log1p(Function):
    """log(1 + x), accurate for tiny x; d/dx = 1 / (1 + x)."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return np.log1p(x)

    def backward(self, grad):
        return grad / (1 + self.x)


class Expm1(Function):
    """e^x - 1, accurate for tiny x; d/dx = e^x = output + 1."""

    saves_output = True

    def forward(self, x):
        self.out = np.expm1(x)
        return self.out

    def backward(self, grad):
        return grad * (self.out + 1)


class Erf(Function):
    """The error function erf(x); d/dx = 2/sqrt(pi) e^(-x^2)."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return erf(x)

    def backward(self, grad):
        return grad * ((2 / math.sqrt(math.pi)) * np.exp(-self.x * self.x))


class Erfc(Function):
    """1 - erf(x), exact in the tail; d/dx = -2/sqrt(pi) e^(-x^2)."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return erfc(x)

    def backward(self, grad):
        return grad * ((-2 / math.sqrt(math.pi)) * np.exp(-self.x * self.x))


class LogAddExp(Function):
    """log(e^a + e^b) without overflow; d/da = e^(a - out), d/db = e^(b - out) (a softmax of two)."""

    saved_inputs, saves_output = (0, 1), True

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = np.logaddexp(a, b)
        return self.out

    def backward(self, grad):
        na, nb = self.needs_input_grad
        with np.errstate(invalid="ignore"):
            ga = grad * np.exp(self.a - self.out) if na else None
            gb = grad * np.exp(self.b - self.out) if nb else None
        return ga, gb


class XLogY(Function):
    """x log y, taken as 0 where x = 0 (unless y is NaN); d/dx = log y (0 where x = 0 and y <= 0, as
    PyTorch), d/dy = x / y. With ``log1p``, x log(1 + y) (torch.special.xlog1py): the same with 1 + y
    for y, d/dy = x / (1 + y)."""

    saved_inputs = (0, 1)

    def forward(self, x, y, log1p=False):
        self.x, self.y, self.log1p = x, y, log1p
        with np.errstate(divide="ignore", invalid="ignore"):
            out = x * (np.log1p(y) if log1p else np.log(y))
        return np.where((x == 0) & ~np.isnan(y), np.zeros((), out.dtype), out)

    def backward(self, grad):
        nx, ny = self.needs_input_grad
        gx = gy = None
        y = self.y
        with np.errstate(divide="ignore", invalid="ignore"):
            if nx:
                gx = grad * np.where((self.x == 0) & (y <= (-1 if self.log1p else 0)), 0,
                                     np.log1p(y) if self.log1p else np.log(y))
            if ny:
                gy = grad * self.x / (1 + y if self.log1p else y)
        return gx, gy


class Entr(Function):
    """The entropy term -x ln x (torch.special.entr): 0 at x = 0, -inf below (NaN stays NaN);
    d/dx = -(1 + ln x): +inf at 0, NaN below, as PyTorch's."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        with np.errstate(divide="ignore", invalid="ignore"):
            out = -x * np.log(x)
        return np.where(x > 0, out, np.where(x == 0, np.zeros((), x.dtype), np.where(x < 0, -np.inf, x)))

    def backward(self, grad):
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad * -(1 + np.log(self.x))


class Hardtanh(Function):
    """x limited to [lo, hi]; d/dx = 1 strictly inside, 0 outside and at the bounds (PyTorch's rule,
    so relu6'(0) = 0 like relu'(0))."""

    def forward(self, x, lo, hi):
        self.mask = (x > lo) & (x < hi)
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, grad):
        return np.where(self.mask, grad, np.zeros((), grad.dtype))


class LogSigmoid(Function):
    """log(1 / (1 + e^-x)) = min(x, 0) - log(1 + e^-|x|), stable; d/dx = 1 - sigmoid(x) = sigmoid(-x)."""

    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))

    def backward(self, grad):
        return grad * sigmoid_array(-self.x)



class Log10(Function):
    """log10 x; d/dx = 1 / (x ln 10)."""

    saved_inputs = (0,)
    base = math.log(10)

    def forward(self, x):
        self.x = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x) / x.dtype.type(self.base)

    def backward(self, grad):
        return grad / (self.x * self.x.dtype.type(self.base))


class Log2(Log10):
    """log2 x; d/dx = 1 / (x ln 2)."""

    base = math.log(2)


class Exp2(Function):
    """2^x; d/dx = 2^x ln 2, from the output."""

    saves_output = True

    def forward(self, x):
        self.out = np.exp2(x)
        return self.out

    def backward(self, grad):
        return grad * self.out * self.out.dtype.type(math.log(2))


class Rsqrt(Function):
    """1 / sqrt x; d/dx = -1/2 x^(-3/2) = -out^3 / 2, from the output."""

    saves_output = True

    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            self.out = 1 / np.sqrt(x)
        return self.out

    def backward(self, grad):
        return grad * (-0.5 * self.out ** 3).astype(self.out.dtype, copy=False)


class Reciprocal(Function):
    """1 / x; d/dx = -1/x^2 = -out^2, from the output."""

    saves_output = True

    def forward(self, x):
        with np.errstate(divide="ignore"):
            self.out = np.reciprocal(x)
        return self.out

    def backward(self, grad):
        return -grad * self.out * self.out


def _sign(x):
    """-1, 0 or 1, and 0 for NaN, as PyTorch's sign (NumPy's gives NaN)."""
    s = np.sign(x)
    return np.where(s != s, s.dtype.type(0), s) if s.dtype.kind == "f" else s


class Flat(Function):
    """A piecewise-constant function (sign, trunc, floor, round...): d/dx = 0 (PyTorch's zero gradient)."""

    def forward(self, x, fn="sign", decimals=0):
        self.shape = x.shape
        if decimals:  # round's decimals, as PyTorch: x * 10^d, rounded, / 10^d (/ then * when d < 0)
            scale = x.dtype.type(10.0 ** abs(decimals))
            return np.rint(x * scale) / scale if decimals > 0 else np.rint(x / scale) * scale
        return _sign(x) if fn == "sign" else getattr(np, fn)(x)

    def backward(self, grad):
        return np.zeros(self.shape, grad.dtype)


class Frac(Function):
    """x - trunc(x); d/dx = 1."""

    def forward(self, x):
        return x - np.trunc(x)

    def backward(self, grad):
        return grad


class Lerp(Function):
    """start + w (end - start); d/dstart = 1 - w, d/dend = w, d/dw = end - start."""

    saved_inputs = (0, 1, 2)

    def forward(self, start, end, weight):
        self.s, self.e, self.w = start, end, weight
        return start + weight * (end - start)

    def backward(self, grad):
        ns, ne, nw = self.needs_input_grad
        return (grad * (1 - self.w) if ns else None, grad * self.w if ne else None,
                grad * (self.e - self.s) if nw else None)
