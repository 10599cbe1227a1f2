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


def _operand_dtype(x) -> np.dtype | None:
    """The dtype a non-tensor operand asks for; None for a weak Python scalar."""
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        return None
    return dtypes.infer_dtype(x if isinstance(x, (np.ndarray, np.generic)) else np.asarray(x))


def promote(*operands) -> list:
    """Tensors of one common dtype from tensors, arrays and Python scalars."""
    ds = []
    weak_float = False
    for x in operands:
        if isinstance(x, Tensor):
            ds.append(x.data.dtype)
        else:
            d = _operand_dtype(x)
            if d is None:
                weak_float |= isinstance(x, float)
            else:
                ds.append(d)
    if ds:
        d = ds[0]
        for other in ds[1:]:
            d = dtypes.result_type(d, other)
        if weak_float and d.kind != "f":
            d = dtypes.DEFAULT_FLOAT
    else:
        d = dtypes.DEFAULT_FLOAT if weak_float else dtypes.int64
    return [as_tensor(x, d) for x in operands]


def cast(x: Tensor, dtype) -> Tensor:
    from chainrule.ops.elementwise import Cast
    return Cast.apply(x, dtype=dtypes.as_dtype(dtype))
