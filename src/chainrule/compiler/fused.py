"""``mode="max-autotune"``'s fused loops: one pass where the default replay makes several NumPy calls.

Compiled by Numba (optional: ``pip install numba``; without it ``max-autotune`` fuses nothing) on
first use, and cached on disk by Numba. Each loop is the arithmetic of the ops it fuses, written once:

- ``bias_relu``: a Linear layer's ``y + b`` and the ReLU after it, in place (two NumPy calls and
  two passes over y in the default replay);
- ``relu_mask``: ReLU's backward, ``g * ~(out <= 0)`` (three NumPy calls);
- ``softmax_xent``: softmax cross-entropy's forward, its mean and the gradient's
  ``softmax - onehot`` in one pass over the logits (about fifteen NumPy calls); the labels are
  checked in the same pass.

``bias_relu`` and ``relu_mask`` give the default replay's bits; ``softmax_xent`` uses the C library's
``exp`` and ``log`` where NumPy has its own vector versions, so its values agree within rounding.
Numba's dispatch costs about 0.2 us a call, against 0.4-1 us for a NumPy call with ``out=``.
"""
from __future__ import annotations

import importlib.util
import math

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


def _softmax_xent(x, t, d):
    """mean_i -log softmax(x_i)[t_i]; d = softmax(x) - onehot(t). Returns -1.0 when a label is
    outside [0, C) (d is then incomplete), else the mean loss (inf or NaN when it is not finite)."""
    n, c = x.shape
    total = 0.0
    for i in range(n):
        k = t[i]
        if k < 0 or k >= c:
            return -1.0
        m = x[i, 0]
        for j in range(1, c):
            if x[i, j] > m or x[i, j] != x[i, j]:
                m = x[i, j]
        s = 0.0
        for j in range(c):
            e = math.exp(x[i, j] - m)
            d[i, j] = e
            s += e
        total += math.log(s) - (x[i, k] - m)
        inv = 1.0 / s
        for j in range(c):
            d[i, j] *= inv
        d[i, k] -= 1.0
    return total / n


def available() -> bool:
    """Is Numba installed (the fused loops' compiler)?"""
    return importlib.util.find_spec("numba") is not None


def loop(name: str):
    """The compiled loop ``name`` ("bias_relu", "relu_mask" or "softmax_xent"); Numba is imported on
    the first call (by a max-autotune trace, not by ``import chainrule``)."""
    fn = _LOOPS.get(name)
    if fn is None:
        import numba  # optional: available() was checked by the caller
        fn = _LOOPS[name] = numba.njit(cache=True, nogil=True)(globals()["_" + name])
    return fn
