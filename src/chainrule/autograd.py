"""PyTorch's ``torch.autograd`` names, from the core: Function, backward, grad, grad mode, gradcheck.

The engine itself lives in :mod:`chainrule.core` (see ARCHITECTURE.md); this module is the public,
PyTorch-named door to it.
"""
from __future__ import annotations

import warnings

import numpy as np

from chainrule.core import (  # noqa: F401
    AccumulateGrad, Function, FunctionCtx, RemovableHandle, TensorBase, backward, bump_version, enable_grad,
    grad, inference_mode, is_grad_enabled, no_grad, queue_callback, set_grad_enabled, toposort, unbroadcast,
    version_error)
from chainrule.core import backward as _backward


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        return isinstance(other, TensorBase)


class Variable(metaclass=_VariableMeta):
    """PyTorch's legacy wrapper, as PyTorch keeps it: ``Variable(t, requires_grad=False)`` is
    ``t.detach()`` (the same memory, no history) with ``requires_grad`` set; every tensor is an
    instance; ``volatile`` warns and does nothing.

    Example:
        >>> import chainrule as cr
        >>> v = cr.autograd.Variable(cr.ones(2), requires_grad=True)
        >>> v.requires_grad, isinstance(cr.ones(1), cr.autograd.Variable)
        (True, True)
    """

    def __new__(cls, data, requires_grad: bool = False, volatile: bool = False):
        if not isinstance(data, TensorBase):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                          UserWarning, stacklevel=2)
        return data.detach().requires_grad_(requires_grad)


class GradcheckError(AssertionError, RuntimeError):
    """The analytic and numerical gradients disagree; the message names where and by how much."""


def _call(fn, inputs):
    if isinstance(fn, type) and issubclass(fn, Function):
        return fn.apply(*inputs)
    return fn(*inputs)


def check_gradients(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
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
        >>> cr.autograd.check_gradients(lambda t: (t * t).sum(), x)
        True
    """
    if params is None:
        params = list(fn.parameters()) if hasattr(fn, "parameters") else []
    checked = [("input %d" % i, t) for i, t in enumerate(inputs)
               if isinstance(t, TensorBase) and t.requires_grad]
    checked += [(getattr(p, "name", None) or "parameter %d" % i, p) for i, p in enumerate(params)]
    if not checked:
        raise ValueError("gradcheck: nothing to check; give inputs with requires_grad=True")
    for label, t in checked:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck: {label} has dtype {t.dtype}; finite differences need "
                            f"float64 (create it with dtype='float64')")

    out = _call(fn, inputs)
    outs = out if isinstance(out, tuple) else (out,)
    if not outs or not all(isinstance(o, TensorBase) for o in outs):
        raise TypeError(f"gradcheck: fn must return a Tensor (or a tuple of them), got {type(out).__name__}")
    rng = np.random.default_rng(seed)
    projs = [rng.standard_normal(o.shape) for o in outs]

    for _, t in checked:
        t._grad = None
    live = [(o, p) for o, p in zip(outs, projs) if o.requires_grad]
    if live:
        _backward([o for o, _ in live], [p.astype(o._data.dtype) for o, p in live])
    analytic = [np.zeros(t.shape) if t._grad is None else t._grad.copy() for _, t in checked]

    def loss() -> float:
        with no_grad():
            r = _call(fn, inputs)
            return sum(float(np.sum(o._data * p)) for o, p in zip(r if isinstance(r, tuple) else (r,), projs))

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


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, nondet_tol: float = 0.0, check_undefined_grad: bool = True,
              check_grad_dtypes: bool = False, check_batched_grad: bool = False,
              check_batched_forward_grad: bool = False, check_forward_ad: bool = False,
              check_backward_ad: bool = True, fast_mode: bool = False, masked=None) -> bool:
    """PyTorch's ``torch.autograd.gradcheck``: the backward of ``func`` at ``inputs`` (a tensor or a
    tuple; those that require grad are checked, in float64) against central finite differences.

    Returns True; on a mismatch raises :class:`GradcheckError` (a RuntimeError, as PyTorch's), or
    returns False with ``raise_exception=False``. chainrule compares one random projection of the
    outputs (every output element counts) rather than PyTorch's full Jacobian; the forward-mode and
    batched checks are not supported (asking for them raises).
    """
    if check_forward_ad or check_batched_grad or check_batched_forward_grad:
        raise NotImplementedError("gradcheck: forward-mode AD and batched gradients are not supported in "
                                  "chainrule (check_forward_ad, check_batched_grad must be False)")
    inputs = (inputs,) if isinstance(inputs, TensorBase) else tuple(inputs)
    try:
        return check_gradients(func, *inputs, eps=eps, atol=atol, rtol=rtol, params=[])
    except GradcheckError:
        if raise_exception:
            raise
        return False


def gradgradcheck(func, inputs, grad_outputs=None, **kwargs) -> bool:
    """PyTorch's second-order check: not supported, because backward rules compute on NumPy arrays
    (no ``create_graph``). Always raises one clear NotImplementedError."""
    raise NotImplementedError("gradgradcheck: second-order gradients (create_graph=True) are not supported "
                              "in chainrule; its backward rules compute on NumPy arrays")
