"""Distances between rows: ``cosine_similarity``, ``pairwise_distance`` and ``pdist``."""
from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.ops.convert import floats, promote
from chainrule.tensor import Tensor


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """The cosine of the angle between x1 and x2 along ``dim`` (broadcast first): each divided by
    its 2-norm clamped at ``eps``, then their dot product, as PyTorch computes it."""
    a, b = promote(x1, x2)
    a, b = floats(a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = a.expand(*shape), b.expand(*shape)
    na = ops.clip(ops.norm(a, 2, dim, keepdim=True), min=eps)
    nb = ops.clip(ops.norm(b, 2, dim, keepdim=True), min=eps)
    return ((a / na) * (b / nb)).sum(dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps along the last axis (broadcast first), as PyTorch computes it."""
    a, b = floats(*promote(x1, x2))
    d = a - b + eps
    return ops.norm(d, p, -1 if d.ndim else None, keepdim=keepdim and d.ndim > 0)


pdist = ops.pdist
