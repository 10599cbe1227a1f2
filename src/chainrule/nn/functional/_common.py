"""Argument helpers shared by the convolution and pooling functions: an int or n ints as a tuple, and a
(batched or unbatched) spatial input checked for its rank. Argument checks live here and in the
sibling modules, the arithmetic and its gradient in :mod:`chainrule.rules`.
"""
from __future__ import annotations

import numpy as np

from chainrule.ops.convert import as_tensor


def _ntuple(v, n: int, name: str, op: str) -> tuple:
    """An int or a sequence of n ints as a tuple of n ints (PyTorch's _pair)."""
    t = (v,) * n if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != n or not all(isinstance(i, (int, np.integer)) for i in t):
        raise ValueError(f"{op}: {name} must be an int or {n} ints, got {v!r}")
    return tuple(int(i) for i in t)


def _spatial_input(input, spatial: int, op: str):  # noqa: A002
    """A float tensor with a batch axis ((N, C, *spatial), or unbatched (C, *spatial) made N = 1)."""
    x = as_tensor(input)
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: expected a {spatial + 1}-d (unbatched) or {spatial + 2}-d (batched) input, "
                         f"got shape {x.shape}")
    return (x.unsqueeze(0), True) if x.ndim == spatial + 1 else (x, False)
