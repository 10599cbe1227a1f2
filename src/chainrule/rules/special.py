"""Special functions on arrays, vectorized: NumPy has no ``erf``.

``erf`` is two Chebyshev interpolants fitted when this module loads, from Python's ``math.erf`` and
``math.erfc`` at Chebyshev points: erf(x) = x P(x^2) for |x| < 2, and erfc(x) = e^(-x^2) Q(|x|) for
2 <= |x| < 6 (beyond 6, erf is +-1 to within 2e-17, and erfc is ``math.erfc`` per element). erfc has a
third, erfc(x) = e^(-x^2) M(x) for 0.5 <= x < 2, where 1 - erf(x) would lose digits (float32's erfc(1.9)
was 1e-5 off relatively). Degree 18 (erf's) and 20 (erfc's) keep float64 within 3e-15 and 1e-14 relative;
float32 uses degree 10 (1e-9), so a float32 GELU costs a few dozen fast array passes instead of one
Python call per element.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev as _cheb

_LOW, _MID, _FAR = 0.5, 2.0, 6.0


def _erf_over_x(t: np.ndarray) -> np.ndarray:
    """erf(x) / x at x = sqrt(t) (2 / sqrt(pi) at 0): smooth in t, so a low degree fits it."""
    return np.array([math.erf(math.sqrt(v)) / math.sqrt(v) if v > 0 else 2 / math.sqrt(math.pi) for v in t])


def _scaled_erfc(x: np.ndarray) -> np.ndarray:
    """e^(x^2) erfc(x): slowly varying (about 1 / (x sqrt(pi))) on [0.5, 6]; e^(x^2) as e^(h^2) e^(l (x + h))
    for x = h + l, h of 26 bits (see :func:`_exp_neg_square`)."""
    h = np.floor(np.asarray(x) * 2.0 ** 23) / 2.0 ** 23
    return np.array([math.exp(a * a) * math.exp((v - a) * (v + a)) * math.erfc(v) for v, a in zip(x, h)])


def _fit(degree: int, tail: int, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    near = _cheb.chebinterpolate(lambda y: _erf_over_x((y + 1) * _MID ** 2 / 2), degree)  # y in [-1, 1] -> t
    far = _cheb.chebinterpolate(lambda y: _scaled_erfc(y * 2 + 4), tail)               # y in [-1, 1] -> x
    mid = _cheb.chebinterpolate(lambda y: _scaled_erfc(_mid_x(y)), tail)               # erfc's own, [0.5, 2]
    return near.astype(dtype), far.astype(dtype), mid.astype(dtype)


def _mid_x(y):
    """y in [-1, 1] -> x in [0.5, 2]."""
    return _LOW + (y + 1) * ((_MID - _LOW) / 2)


_FITS = {np.dtype(np.float64): _fit(18, 20, np.float64), np.dtype(np.float32): _fit(10, 10, np.float32)}


def _chebval(c: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sum_k c_k T_k(y) by Clenshaw's recurrence, in y's dtype, in three reused buffers."""
    y2 = 2 * y
    b1, b2, tmp = np.full_like(y, c[-1]), np.zeros_like(y), np.empty_like(y)
    for ck in c[-2:0:-1]:
        np.multiply(y2, b1, out=tmp)   # b_k = 2 y b_(k+1) - b_(k+2) + c_k
        tmp -= b2
        tmp += ck
        b1, b2, tmp = tmp, b1, b2
    np.multiply(y, b1, out=tmp)
    tmp -= b2
    tmp += c[0]
    return tmp


def _in_float(x) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x as float32 or float64 (others computed in float64), with that dtype's three fits."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype in _FITS else np.dtype(np.float64)
    return (x.astype(dtype, copy=False), *_FITS[dtype])


def _exp_neg_square(a: np.ndarray) -> np.ndarray:
    """e^(-a^2) for 0 <= a <= 8 to within a few ulps: a * a rounded is off by a^2 ulps once exponentiated
    (2e-6 relative at a = 6 in float32), so a = h + l with h of half the digits, whose square is exact:
    e^(-h^2) e^(-l (a + h))."""
    scale = a.dtype.type(2.0 ** (9 if a.dtype == np.float32 else 23))  # h: 12 (float32) or 26 bits below 8
    h = np.floor(a * scale) / scale
    return np.exp(-h * h) * np.exp(-(a - h) * (a + h))


def _scaled_tail(a: np.ndarray, far: np.ndarray) -> np.ndarray:
    """erfc(a) for 2 <= a (taken as 6 beyond 6): e^(-a^2) times the fitted e^(a^2) erfc(a)."""
    a = np.minimum(a, _FAR)
    return _exp_neg_square(a) * _chebval(far, (a - 4) / 2)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function 2/sqrt(pi) int_0^x e^(-s^2) ds, elementwise, in x's float dtype (NaN stays NaN)."""
    x, near, far, _ = _in_float(x)
    a = np.abs(x)
    t = np.minimum(a, _MID)
    t *= t
    out = np.asarray(x * _chebval(near, t * (2 / _MID ** 2) - 1))  # an array also for a 0-d x (written below)
    big = a >= _MID
    if big.any():
        out[big] = np.copysign(1 - _scaled_tail(a[big], far), x[big])
    return out


def erfc(x: np.ndarray) -> np.ndarray:
    """1 - erf(x), without the cancellation for x >= 0.5: erfc's own fits to x = 6, Python's ``math.erfc``
    per element beyond (below 2e-16 there, down to the dtype's smallest number: the normal CDF's tail)."""
    x, _, far, mid = _in_float(x)
    out = np.asarray(1 - erf(x))
    within = (x >= _LOW) & (x < _MID)
    if within.any():
        a = x[within]
        out[within] = _exp_neg_square(a) * _chebval(mid, (a - _LOW) * (2 / (_MID - _LOW)) - 1)
    big = x >= _MID
    if big.any():
        out[big] = _scaled_tail(x[big], far)
        tail = x >= _FAR
        if tail.any():
            out[tail] = [math.erfc(v) for v in x[tail].tolist()]
    return out
