"""The one place that decides dtypes: defaults, conversion and promotion.

Rules (they follow PyTorch's, so results compare one to one):

* A float tensor is float32 unless the user asks for another dtype; data that
  already is an ndarray keeps its dtype (float, int or uint8 images alike, as ``torch.tensor`` does).
* Python ints become int64, Python bools become bool.
* Combining two operands: float with float -> the wider float; a float with an
  integer or bool operand -> the float's dtype (so ``x32 + np.arange(3)`` stays
  float32); two integers -> NumPy's rule.
* Python scalars are "weak": ``x32 * 2.5`` stays float32.
* PyTorch's category rule (:func:`operands_dtype`): operands fall in three classes, tensors with
  dimensions, 0-d tensors (and 0-d arrays), and plain numbers (Python or NumPy scalars). A 0-d
  tensor or a number changes the result only when it is of a higher category (bool < integer <
  float) than the tensors with dimensions: ``x32 * np.float64(2)``, ``x32 * tensor(2.0, float64)``
  stay float32, ``int_tensor * 2.5`` is the default float dtype. An ndarray operand counts with
  its dtype even when 0-d (``x32 * np.array(2.5)`` is float64), as PyTorch does.
"""
from __future__ import annotations

import numpy as np

from chainrule.core import TensorBase
from chainrule.core import torch_name  # noqa: F401 - PyTorch's type names live with the version error

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
int16 = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

DEFAULT_FLOAT = float32

_ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32, "short": int16,
            "char": int8, "byte": uint8, "bool": bool_}


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
    if isinstance(dtype, str) and dtype.rpartition(".")[2] in _TYPE_NAMES:  # 'torch.FloatTensor'
        return _TYPE_NAMES[dtype.rpartition(".")[2]]
    if isinstance(dtype, type) and isinstance(getattr(dtype, "dtype", None), np.dtype):  # cr.FloatTensor
        return dtype.dtype
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"unknown dtype {dtype!r}; use e.g. 'float32', 'float64' or 'int64'") from e
    if d.kind not in "fiub":
        raise TypeError(f"dtype {d} is not supported; chainrule tensors hold float, int or bool data")
    return d

_TYPE_NAMES = {torch_name(d): np.dtype(d) for d in ("float32", "float64", "float16", "int64", "int32", "int16",
                                                    "int8", "uint8", "bool")}


def infer_dtype(data) -> np.dtype:
    """The dtype a new tensor gets from ``data`` when the user names none."""
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        d = data.dtype
        if d.kind == "f":
            return d
        if d.kind in "iub":
            return d
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


def _combine(higher, lower):
    """PyTorch's combine_categories: ``lower`` (a weaker class) counts only if of a higher category."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return result_type(higher, lower)
    return higher


def _join(a, b):
    return b if a is None else a if b is None else result_type(a, b)


def operand_class(x) -> tuple:
    """(class, dtype) of one operand: class 0 a tensor or array with dimensions, 1 a 0-d one,
    2 a number (Python or NumPy scalar, which counts by category only)."""
    if isinstance(x, TensorBase):
        data = x._data
        return (0 if data.ndim else 1), data.dtype
    if isinstance(x, np.generic) or isinstance(x, (bool, int, float)):
        kind = np.asarray(x).dtype.kind
        return 2, (bool_ if kind == "b" else DEFAULT_FLOAT if kind == "f" else int64)
    if isinstance(x, np.ndarray):  # PyTorch counts an ndarray operand with its dtype, even a 0-d one
        return 0, infer_dtype(x)
    a = np.asarray(x)
    return (0 if a.ndim else 1), infer_dtype(a)


def operands_dtype(*operands) -> np.dtype:
    """The dtype an op on ``operands`` computes in, by PyTorch's category rule (see above)."""
    best = [None, None, None]
    for x in operands:
        c, d = operand_class(x)
        best[c] = _join(best[c], d)
    return _combine(best[0], _combine(best[1], best[2]))


def promote_types(type1, type2) -> np.dtype:
    """The dtype an op on tensors of dtypes ``type1`` and ``type2`` computes in (torch.promote_types)."""
    return result_type(as_dtype(type1), as_dtype(type2))


def _category(d: np.dtype) -> int:
    return 0 if d.kind == "b" else 2 if d.kind == "f" else 1


def can_cast(from_, to) -> bool:
    """Whether PyTorch's type promotion may cast ``from_`` to ``to``: never to a lower category (bool <
    integers < floats), any size within one (torch.can_cast)."""
    return _category(as_dtype(from_)) <= _category(as_dtype(to))


def set_default_dtype(dtype) -> None:
    """The float dtype of new tensors made from Python floats and of factories (float32 or float64)."""
    global DEFAULT_FLOAT
    d = as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default "
                        f"type, got {d}")
    DEFAULT_FLOAT = d


def get_default_dtype() -> np.dtype:
    return DEFAULT_FLOAT


_TORCH_TYPES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                "int32": "Int", "bool": "Bool", "int16": "Short", "int8": "Char", "uint8": "Byte"}


def type_name(dtype) -> str:
    """PyTorch's scalar type name ('Float', 'Long'), used in error messages."""
    return _TORCH_TYPES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def no_kernel(kernel: str, dtype) -> NotImplementedError:
    """PyTorch's refusal of a dtype its op has no kernel for (abs of a bool, frac or randn_like of an
    integer...), in its words: ``"abs_cpu" not implemented for 'Bool'``."""
    return NotImplementedError(f"\"{kernel}\" not implemented for '{type_name(dtype)}'")


def need_float(dtype, kernel: str) -> None:
    """Raise :func:`no_kernel` for ``kernel`` unless ``dtype`` is floating point (PyTorch's float-only
    kernels: frac, round with decimals, leaky_relu, randn_like, log_normal_, grid_sample...)."""
    if np.dtype(dtype).kind != "f":
        raise no_kernel(kernel, dtype)


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


class finfo:
    """PyTorch's ``torch.finfo(dtype)``: ``eps``, ``max``, ``min``, ``tiny`` (= ``smallest_normal``),
    ``resolution`` and ``bits`` of a float dtype (the default float when none is given), as Python numbers.

    Example:
        >>> import chainrule as cr
        >>> cr.finfo(cr.float32).eps
        1.1920928955078125e-07
    """

    def __init__(self, type=None):  # noqa: A002
        d = get_default_dtype() if type is None else as_dtype(type)
        if d.kind != "f":
            raise TypeError(f"torch.finfo() requires a floating point input type. Use torch.iinfo to handle "
                            f"'{type_name(d)}'")
        info = np.finfo(d)
        self.dtype, self.bits = str(d), int(info.bits)
        self.eps, self.max, self.min = float(info.eps), float(info.max), float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -int(info.precision)

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """PyTorch's ``torch.iinfo(dtype)``: ``max``, ``min`` and ``bits`` of an integer dtype."""

    def __init__(self, type):  # noqa: A002
        d = as_dtype(type)
        if d.kind not in "iu":
            raise TypeError(f"torch.iinfo() requires an integer input type, got {d}")
        info = np.iinfo(d)
        self.dtype, self.bits, self.max, self.min = str(d), int(info.bits), int(info.max), int(info.min)

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"
