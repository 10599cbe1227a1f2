"""Making tensors: from data, from NumPy, and the usual factories (float32 unless asked)."""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.ops.shape import _shape_arg as _shape  # zeros(2, 3) and zeros((2, 3)) alike
from chainrule.tensor import Tensor


def tensor(data, dtype=None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A new tensor from numbers, lists or an ndarray (copied).

    Python floats give float32, Python ints int64; a float ndarray keeps its dtype.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0]]).shape
        (1, 2)
    """
    if isinstance(data, Tensor):
        data = data.data
    d = dtypes.infer_dtype(data) if dtype is None else dtypes.as_dtype(dtype)
    return Tensor(np.array(data, dtype=d, copy=True), requires_grad=requires_grad, name=name)


def from_numpy(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A tensor that shares memory with ``array`` (its dtype is kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected an ndarray, got {type(array).__name__}")
    return Tensor(array, dtype=array.dtype, requires_grad=requires_grad)



def _float(dtype):
    return dtypes.DEFAULT_FLOAT if dtype is None else dtypes.as_dtype(dtype)


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(shape), _float(dtype)), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(shape), _float(dtype)), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.full(_shape((shape,)), fill_value, _float(dtype)), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    a = np.asarray(t)
    return Tensor(np.zeros(a.shape, a.dtype if dtype is None else dtypes.as_dtype(dtype)),
                  requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    a = np.asarray(t)
    return Tensor(np.ones(a.shape, a.dtype if dtype is None else dtypes.as_dtype(dtype)),
                  requires_grad=requires_grad)


def _rng(seed):
    from chainrule.random import resolve
    return resolve(seed)


def randn(*shape, dtype=None, requires_grad: bool = False, rng=None) -> Tensor:
    """Standard normal samples; ``rng``: a seed or Generator (default: chainrule's, see manual_seed)."""
    data = _rng(rng).standard_normal(_shape(shape)).astype(_float(dtype))
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad: bool = False, rng=None) -> Tensor:
    """Uniform samples in [0, 1)."""
    data = _rng(rng).random(_shape(shape)).astype(_float(dtype))
    return Tensor(data, requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in [start, stop): int64 for whole numbers, float32 otherwise."""
    a = np.arange(start, stop, step) if stop is not None else np.arange(start)
    d = dtypes.infer_dtype(a) if dtype is None else dtypes.as_dtype(dtype)
    return Tensor(a.astype(d))


def eye(n: int, m: int | None = None, dtype=None) -> Tensor:
    return Tensor(np.eye(n, m, dtype=_float(dtype)))
