"""The one place that decides dtypes: defaults, conversion and promotion.

Rules (they follow PyTorch's, so results compare one to one):

* A float tensor is float32 unless the user asks for another dtype; data that
  already is a float ndarray keeps its dtype (as ``torch.tensor`` does).
* Python ints become int64, Python bools become bool.
* Combining two operands: float with float -> the wider float; a float with an
  integer or bool operand -> the float's dtype (so ``x32 + np.arange(3)`` stays
  float32); two integers -> NumPy's rule.
* Python scalars are "weak": ``x32 * 2.5`` stays float32.
"""
from __future__ import annotations

import numpy as np

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

DEFAULT_FLOAT = float32

_ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int64,
            "bool": bool_}


def as_dtype(dtype) -> np.dtype:
    """Turn a user's dtype spec ('float64', np.float32, float, cr.float64) into an np.dtype."""
    if dtype is float:
        return DEFAULT_FLOAT
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"unknown dtype {dtype!r}; use e.g. 'float32', 'float64' or 'int64'") from e
    if d.kind not in "fiub":
        raise TypeError(f"dtype {d} is not supported; chainrule tensors hold float, int or bool data")
    return d


def infer_dtype(data) -> np.dtype:
    """The dtype a new tensor gets from ``data`` when the user names none."""
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        d = data.dtype
        if d.kind == "f":
            return d
        if d.kind in "iu":
            return int64 if d.kind == "i" or d.itemsize < 8 else d
        if d.kind == "b":
            return bool_
        raise TypeError(f"cannot make a tensor from an array of dtype {d}")
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        return DEFAULT_FLOAT
    if arr.dtype.kind in "iu":
        return int64
    if arr.dtype.kind == "b":
        return bool_
    raise TypeError(f"cannot make a tensor from {type(data).__name__} (got dtype {arr.dtype})")


def result_type(a: np.dtype, b: np.dtype) -> np.dtype:
    """The dtype of a binary op on operands of dtypes ``a`` and ``b``."""
    if a == b:
        return a
    af, bf = a.kind == "f", b.kind == "f"
    if af and not bf:
        return a
    if bf and not af:
        return b
    return np.result_type(a, b)


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"
