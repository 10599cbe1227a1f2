"""Checking a backward rule against central finite differences, in float64.

For f with inputs x, the analytic gradient of L = sum(f(x) * R) (R a fixed
random tensor, so every output element counts) comes from backward(); the
numerical one from (L(x + eps) - L(x - eps)) / (2 eps), element by element.
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function, no_grad
from chainrule.tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree; the message names where and by how much."""


def _call(fn, inputs):
    if isinstance(fn, type) and issubclass(fn, Function):
        return fn.apply(*inputs)
    return fn(*inputs)


def gradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              params=None, seed: int = 0) -> bool:
    """Compare backward() of ``fn`` with central finite differences; True, or raise GradcheckError.

    Args:
        fn (callable): a Function subclass, a function of tensors, or a model (Module).
        *inputs (Tensor): the inputs; those with requires_grad are checked. They must be float64.
        eps (float, 1e-6): the finite-difference step.
        atol (float, 1e-5), rtol (float, 1e-3): an element passes if
            |analytic - numeric| <= atol + rtol * |numeric|.
        params (list of Tensor, None): more tensors to check (default: ``fn.parameters()`` if any).
        seed (int, 0): seeds the random projection R of the output.

    Example:
        >>> import chainrule as cr
        >>> x = cr.randn(3, 4, dtype="float64", requires_grad=True, rng=0)
        >>> cr.gradcheck(lambda t: (t * t).sum(), x)
        True
    """
    if params is None:
        params = list(fn.parameters()) if hasattr(fn, "parameters") else []
    checked = [("input %d" % i, t) for i, t in enumerate(inputs)
               if isinstance(t, Tensor) and t.requires_grad]
    checked += [(getattr(p, "name", None) or "parameter %d" % i, p) for i, p in enumerate(params)]
    if not checked:
        raise ValueError("gradcheck: nothing to check; give inputs with requires_grad=True")
    for label, t in checked:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck: {label} has dtype {t.dtype}; finite differences need "
                            f"float64 (create it with dtype='float64')")

    out = _call(fn, inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    proj = np.random.default_rng(seed).standard_normal(out.shape)

    for _, t in checked:
        t.grad = None
    if out.requires_grad:
        out.backward(proj)
    analytic = [np.zeros(t.shape) if t._grad is None else t._grad.copy() for _, t in checked]

    def loss() -> float:
        with no_grad():
            return float(np.sum(_call(fn, inputs)._data * proj))

    for (label, t), a in zip(checked, analytic):
        data = t._data  # perturbed in place, element by element, whatever its memory layout
        num = np.empty(t.shape)
        for i in np.ndindex(t.shape):
            orig = data[i]
            data[i] = orig + eps
            hi = loss()
            data[i] = orig - eps
            lo = loss()
            data[i] = orig
            num[i] = (hi - lo) / (2 * eps)
        num = num.reshape(t.shape)
        err = np.abs(a - num)
        bad = err > atol + rtol * np.abs(num)
        if bad.any() or not np.isfinite(a).all() and np.isfinite(num).all():
            worst = np.unravel_index(np.argmax(np.where(np.isfinite(err), err, np.inf)), t.shape)
            rel = err[worst] / max(np.abs(num[worst]), 1e-300)
            raise GradcheckError(
                f"gradcheck failed for {label} of shape {t.shape}: at element {tuple(map(int, worst))} "
                f"the analytic gradient is {a[worst]:.10g} but finite differences give "
                f"{num[worst]:.10g} (relative error {rel:.3g}; {int(bad.sum())} of {bad.size} "
                f"elements out of tolerance)")
    return True
