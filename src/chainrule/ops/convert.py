"""Turning operands into tensors of one dtype before an op runs (the rule itself is in dtypes)."""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.tensor import Tensor


def as_tensor(x, dtype=None) -> Tensor:
    """``x`` itself if it is a Tensor (of ``dtype``, when given), else a constant tensor."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.data.dtype == dtype else cast(x, dtype)
    return Tensor(x, dtype=dtype)


def promote(*operands) -> list:
    """Tensors of one common dtype from tensors, arrays and scalars (the rule: dtypes.operands_dtype)."""
    d = dtypes.operands_dtype(*operands)
    return [as_tensor(x, d) for x in operands]


def cast(x: Tensor, dtype) -> Tensor:
    """``x`` in another dtype; to a float dtype the gradient flows back, to an integer or bool dtype
    the result is a constant (it does not require grad), as in PyTorch."""
    d = dtypes.as_dtype(dtype)
    if d.kind != "f":
        return Tensor._make(x.data.astype(d), False, None)
    from chainrule.ops.elementwise import Cast
    return Cast.apply(x, dtype=d)
