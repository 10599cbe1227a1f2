"""Turning operands into tensors of one dtype before an op runs (the rule itself is in dtypes)."""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.core import TensorBase, make, no_grad
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


def floats(*tensors) -> tuple:
    """Tensors of one dtype, moved to the default float dtype when that dtype is an integer or bool one
    (the int-to-float promotion of true division and of ops defined on reals only)."""
    if tensors[0]._data.dtype.kind == "f":
        return tensors
    return tuple(as_tensor(t, dtypes.DEFAULT_FLOAT) for t in tensors)


def float_pair(a, b) -> tuple:
    """Two operands promoted to one dtype, a float one (for ops defined on reals only)."""
    return floats(*promote(a, b))


def cast(x, dtype):
    """``x`` in another dtype; to a float dtype the gradient flows back, to an integer or bool dtype
    the result is a constant (it does not require grad), as in PyTorch."""
    d = dtypes.as_dtype(dtype)
    if d.kind != "f":
        with no_grad():  # recorded (a compiled step repeats it), outside any graph
            return Cast.apply(x, dtype=d)
    return Cast.apply(x, dtype=d)
