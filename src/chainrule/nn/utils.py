"""Gradient utilities."""
from __future__ import annotations

import numpy as np

from chainrule.tensor import Tensor


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    Returns the total norm before clipping (as PyTorch: grads are multiplied by
    min(1, max_norm / (total + 1e-6))).
    """
    params = [p for p in (parameters if not isinstance(parameters, Tensor) else [parameters])
              if p._grad is not None]
    if not params:
        return Tensor(0.0)
    if norm_type == float("inf"):
        total = max(float(np.max(np.abs(p._grad))) for p in params)
    else:
        total = float(sum(float(np.sum(np.abs(p._grad) ** norm_type)) for p in params) ** (1.0 / norm_type))
    coef = min(1.0, max_norm / (total + 1e-6))
    if coef < 1.0:
        for p in params:
            p._grad = p._grad * np.asarray(coef, dtype=p._grad.dtype)
    return Tensor(total, dtype=params[0].dtype)
