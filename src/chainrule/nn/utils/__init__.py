"""Gradient and parameter utilities (PyTorch's ``torch.nn.utils``): clipping, and parameters as one vector."""
from __future__ import annotations

import math

import numpy as np

from chainrule.core import no_grad
from chainrule.ops import cat, softmax
from chainrule.tensor import Tensor
from chainrule.utils._arrays import array_of


def _with_grads(parameters) -> list:
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in ps if p._grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    Returns the total norm before clipping, a 0-d Tensor of the gradients' dtype. As PyTorch: the
    gradients are multiplied by min(1, max_norm / (total + 1e-6)); ``norm_type`` inf takes the largest
    absolute value; a non-finite total raises RuntimeError with ``error_if_nonfinite``.

    Example:
        >>> import chainrule as cr
        >>> w = cr.ones(4, requires_grad=True)
        >>> (3 * w).sum().backward()
        >>> cr.nn.utils.clip_grad_norm_([w], max_norm=1.0)
        tensor(6.)
        >>> round(w.grad.norm().item(), 4)
        1.0
    """
    params = _with_grads(parameters)
    if not params:
        return Tensor(0.0)
    norm_type = float(norm_type)
    grads = [np.asarray(p._grad) for p in params]
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:   # the norm of the per-parameter norms, as PyTorch computes it
        norms = [np.linalg.norm(g.reshape(-1), ord=norm_type) for g in grads]
        total = float(np.linalg.norm(np.asarray(norms, np.float64), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           f"so it cannot be clipped. To disable this error and scale the gradients by the "
                           f"non-finite norm anyway, set `error_if_nonfinite=False`")
    dtype = grads[0].dtype
    coef = min(1.0, float(np.asarray(max_norm, dtype) / (np.asarray(total, dtype) + np.asarray(1e-6, dtype))))
    for p, g in zip(params, grads):
        p._grad = g * np.asarray(coef, dtype=g.dtype)
    return Tensor(np.asarray(total, dtype))


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    v = float(clip_value)
    for p in _with_grads(parameters):
        p._grad = np.clip(p._grad, -v, v)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The norm of the norms of ``tensors`` (what clip_grad_norm_ measures, here of any tensors)."""
    ts = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if not ts:
        return Tensor(0.0)
    arrays = [np.asarray(array_of(t)) for t in ts]
    if float(norm_type) == math.inf:
        total = max(float(np.max(np.abs(a))) if a.size else 0.0 for a in arrays)
    else:
        total = float(np.linalg.norm([np.linalg.norm(a.reshape(-1), ord=norm_type) for a in arrays], ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {float(norm_type)} for gradients from `parameters` is "
                           f"non-finite")
    return Tensor(np.asarray(total, arrays[0].dtype))


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and joined into one vector (differentiable, as in PyTorch)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of ``vec`` into the parameters (their shapes in order), outside the graph."""
    if not isinstance(vec, Tensor):
        t = type(vec)
        kind = t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"
        raise TypeError(f"expected chainrule.Tensor, but got: {kind}")
    src = array_of(vec)
    if src.ndim != 1:
        raise RuntimeError(f"vector_to_parameters: vec must be 1-d, got shape {vec.shape}")
    ps = list(parameters)
    need = sum(p.numel() for p in ps)
    if src.shape[0] != need:
        raise RuntimeError(f"vector_to_parameters: vec has {src.shape[0]} elements, the parameters {need}")
    i = 0
    for p in ps:
        n = p.numel()
        dst = array_of(p)
        dst[...] = src[i:i + n].reshape(dst.shape)
        i += n


def predict(model, X, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (softmax of the scores) of ``model`` for the inputs ``X`` (an array or a
    Tensor), in eval mode and without a graph, ``batch_size`` rows at a time; the model's mode is
    restored afterwards."""
    was = model.training
    model.eval()
    out = []
    try:
        with no_grad():
            for i in range(0, len(X), batch_size):
                xb = X[i:i + batch_size]
                out.append(softmax(model(xb if isinstance(xb, Tensor) else Tensor(xb)), dim=-1)._data)
    finally:
        model.train(was)
    return np.concatenate(out)


from chainrule.nn.utils import rnn  # noqa: E402,F401  (packed sequences, torch.nn.utils.rnn)
from chainrule._missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("chainrule.nn.utils", "torch.nn.utils", globals())
