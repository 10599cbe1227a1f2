"""``mode="max-autotune"``'s fused loops: one pass where the default replay makes several NumPy calls.

Compiled by Numba (optional: ``pip install numba``; without it ``max-autotune`` fuses nothing) on
first use, and cached on disk by Numba. Each loop is the arithmetic of the ops it fuses, written once:

- ``bias_relu``: a Linear layer's ``y + b`` and the ReLU after it, in place (two NumPy calls and
  two passes over y in the default replay);
- ``relu_mask``: ReLU's backward, ``g * ~(out <= 0)`` (three NumPy calls);
- ``softmax_xent``: softmax cross-entropy's forward, its mean and the gradient's
  ``softmax - onehot`` in two loops around NumPy's vectorized ``exp`` (about fifteen NumPy calls in
  the default replay); the labels are checked in the first loop.

``bias_relu`` and ``relu_mask`` give the default replay's bits; ``softmax_xent`` uses the C library's
``log`` where NumPy has its own vector version, and sums in another order, so its values agree
within rounding.
Numba's dispatch costs about 0.2 us a call, against 0.4-1 us for a NumPy call with ``out=``.
"""
from __future__ import annotations

import importlib.util
import math

import numpy as np

_LOOPS: dict = {}  # name -> the compiled loop, made on first use (importing Numba takes ~0.2 s)


def _bias_relu(y, b):
    n, m = y.shape
    for i in range(n):
        for j in range(m):
            v = y[i, j] + b[j]
            y[i, j] = v if (v > 0 or v != v) else 0.0  # max(v, 0): a NaN stays NaN, as NumPy's maximum


def _relu_mask(g, out, r):
    n, m = g.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = g[i, j] * 0.0 if r[i, j] <= 0 else g[i, j]  # g * ~(r <= 0); a NaN r passes g


def _xent_shift(x, t, d, m):
    """softmax_xent's first loop: the labels checked (False when one is outside [0, C)), each row's max
    into m (NaN when the row holds one, as NumPy's maximum) and d = x - max."""
    n, c = x.shape
    for i in range(n):
        k = t[i]
        if k < 0 or k >= c:
            return False
        mi = x[i, 0]
        for j in range(1, c):
            if x[i, j] > mi or x[i, j] != x[i, j]:
                mi = x[i, j]
        m[i] = mi
        for j in range(c):
            d[i, j] = x[i, j] - mi
    return True


def _xent_finish(x, t, d, m):
    """softmax_xent's second loop, d = exp(x - max) on entry: the mean of log sum_j e_j - (x_k - max),
    and d <- e / sum_j e_j - onehot."""
    n, c = x.shape
    total = 0.0
    for i in range(n):
        k = t[i]
        s = 0.0
        for j in range(c):
            s += d[i, j]
        total += math.log(s) - (x[i, k] - m[i])
        inv = 1.0 / s
        for j in range(c):
            d[i, j] *= inv
        d[i, k] -= 1.0
    return total / n


def _softmax_xent():
    """``(x, t, d, m) -> loss``: mean_i -log softmax(x_i)[t_i], and d = softmax(x) - onehot(t); m is an
    (N,) buffer. Returns -1.0 when a label is outside [0, C) (d is then incomplete), else the mean loss
    (inf or NaN when it is not finite). Two loops around NumPy's exp, which is vectorized (the loops'
    scalar exp was twice as slow over the whole pass: 41 against 19 us at (1024, 10))."""
    shift, finish, exp = loop("xent_shift"), loop("xent_finish"), np.exp

    def softmax_xent(x, t, d, m):
        if not shift(x, t, d, m):
            return -1.0
        exp(d, out=d)
        return finish(x, t, d, m)
    return softmax_xent


def available() -> bool:
    """Is Numba installed (the fused loops' compiler)?"""
    return importlib.util.find_spec("numba") is not None


def loop(name: str):
    """The compiled loop ``name`` ("bias_relu", "relu_mask" or "softmax_xent"); Numba is imported on
    the first call (by a max-autotune trace, not by ``import chainrule``)."""
    fn = _LOOPS.get(name)
    if fn is None:
        if name == "softmax_xent":  # loops and a NumPy call
            fn = _LOOPS[name] = _softmax_xent()
        else:
            import numba  # optional: available() was checked by the caller
            fn = _LOOPS[name] = numba.njit(cache=True, nogil=True)(globals()["_" + name])
    return fn
