"""Turning operands into tensors of one dtype before an op runs (the rule itself is in dtypes)."""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.core import TensorBase, make
from chainrule.rules.elementwise import Cast


def array_of(data, dtype=None) -> np.ndarray:
    """``data`` (numbers, nested lists, an ndarray or a tensor) as an ndarray of ``dtype`` (inferred
    by :func:`chainrule.dtypes.infer_dtype` when None), without a copy when it already is one."""
    if isinstance(data, TensorBase):
        data = data._data
    d = dtypes.infer_dtype(data) if dtype is None else dtypes.as_dtype(dtype)
    return np.array(data, dtype=d, copy=None)


def as_tensor(x, dtype=None):
    """``x`` itself if it is a Tensor (of ``dtype``, when given), else a constant tensor."""
    if isinstance(x, TensorBase):
        return x if dtype is None or x._data.dtype == dtype else cast(x, dtype)
    return make(array_of(x, dtype))


def promote(*operands) -> list:
    """Tensors of one common dtype from tensors, arrays and scalars (the rule: dtypes.operands_dtype)."""
    d = dtypes.operands_dtype(*operands)
    return [as_tensor(x, d) for x in operands]


def float_input(x):
    """``x`` as a tensor of a float dtype: integer and bool inputs become the default float dtype."""
    x = as_tensor(x)
    return x if x._data.dtype.kind == "f" else as_tensor(x, dtypes.DEFAULT_FLOAT)


def float_pair(a, b) -> tuple:
    """Two operands promoted to one dtype, a float one (for ops defined on reals only)."""
    a, b = promote(a, b)
    if a._data.dtype.kind != "f":
        a, b = as_tensor(a, dtypes.DEFAULT_FLOAT), as_tensor(b, dtypes.DEFAULT_FLOAT)
    return a, b


def cast(x, dtype):
    """``x`` in another dtype; to a float dtype the gradient flows back, to an integer or bool dtype
    the result is a constant (it does not require grad), as in PyTorch."""
    d = dtypes.as_dtype(dtype)
    if d.kind != "f":
        return make(x._data.astype(d))
    return Cast.apply(x, dtype=d)
