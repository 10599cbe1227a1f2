"""Making tensors: from data, from NumPy, and PyTorch's factories (float32 unless asked).

Every factory takes PyTorch's keywords: ``dtype=``, ``device=`` (only the CPU exists),
``requires_grad=``; sizes may be given as varargs or as one tuple (``zeros(2, 3)`` and
``zeros((2, 3))``). Random factories draw from chainrule's generator, which
:func:`chainrule.manual_seed` seeds (or from ``generator=``).
"""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.devices import check as _check_device
from chainrule.random import resolve
from chainrule.ops.shape import _shape_arg as _shape  # zeros(2, 3) and zeros((2, 3)) alike
from chainrule.tensor import Tensor


def _new(data: np.ndarray, requires_grad: bool, device) -> Tensor:
    if device is not None:
        _check_device(device)
    return Tensor(data, dtype=data.dtype, requires_grad=requires_grad)


def tensor(data, dtype=None, device=None, requires_grad: bool = False, name: str | None = None,
           pin_memory: bool = False) -> Tensor:
    """A new tensor from numbers, lists or an ndarray (copied).

    Python floats give float32 (the default dtype), Python ints int64; a float ndarray keeps its dtype.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0]]).shape
        (1, 2)
    """
    if isinstance(data, Tensor):
        data = data._data
    elif isinstance(data, (list, tuple)) and data and any(isinstance(v, Tensor) for v in data):
        data = [v._data if isinstance(v, Tensor) else v for v in data]  # a list of 0-d tensors
    d = dtypes.infer_dtype(data) if dtype is None else dtypes.as_dtype(dtype)
    t = _new(np.array(data, dtype=d, copy=True), requires_grad, device)
    t.name = name
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, sharing memory with an ndarray or tensor where the dtype allows."""
    if isinstance(data, Tensor) and (dtype is None or dtypes.as_dtype(dtype) == data.dtype):
        return data
    data = data._data if isinstance(data, Tensor) else data
    d = dtypes.infer_dtype(data) if dtype is None else dtypes.as_dtype(dtype)
    return _new(np.asarray(data, dtype=d), False, device)


def from_numpy(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A tensor that shares memory with ``array`` (its dtype is kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected an ndarray, got {type(array).__name__}")
    return Tensor(array, dtype=array.dtype, requires_grad=requires_grad)


def _float(dtype):
    return dtypes.DEFAULT_FLOAT if dtype is None else dtypes.as_dtype(dtype)


def _size(shape: tuple, size, op: str) -> tuple:
    """The shape given as ``zeros(2, 3)``, ``zeros((2, 3))`` or PyTorch's keyword ``zeros(size=(2, 3))``."""
    if size is None:
        return _shape(shape)
    if shape:
        raise TypeError(f"{op}() got the size both as positional arguments and as size=")
    return _shape((size,))


def zeros(*shape, size=None, dtype=None, device=None, requires_grad: bool = False, out=None) -> Tensor:
    """A tensor of zeros of the given size."""
    return _new(np.zeros(_size(shape, size, "zeros"), _float(dtype)), requires_grad, device)


def ones(*shape, size=None, dtype=None, device=None, requires_grad: bool = False, out=None) -> Tensor:
    """A tensor of ones of the given size."""
    return _new(np.ones(_size(shape, size, "ones"), _float(dtype)), requires_grad, device)


def empty(*shape, size=None, dtype=None, device=None, requires_grad: bool = False, out=None) -> Tensor:
    """A tensor of the given size whose values are to be overwritten (chainrule fills it with zeros)."""
    return zeros(*_size(shape, size, "empty"), dtype=dtype, device=device, requires_grad=requires_grad)


def _fill_dtype(fill_value):
    v = fill_value._data if isinstance(fill_value, Tensor) else fill_value
    kind = np.asarray(v).dtype.kind
    return dtypes.bool_ if kind == "b" else dtypes.int64 if kind in "iu" else dtypes.DEFAULT_FLOAT


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (its dtype follows the value, as in PyTorch:
    int64 for an int, bool for a bool, the default float for a float)."""
    d = _fill_dtype(fill_value) if dtype is None else dtypes.as_dtype(dtype)
    v = fill_value._data if isinstance(fill_value, Tensor) else fill_value
    return _new(np.full(_shape((size,)), v, d), requires_grad, device)


def _like(t, dtype, floats_only: str | None = None):
    """t's array and the dtype of the new tensor (t's, or ``dtype``); ``floats_only``: the kernel PyTorch
    names when it refuses another dtype (rand_like and randn_like of an integer tensor)."""
    a = t._data if isinstance(t, Tensor) else np.asarray(t)
    d = a.dtype if dtype is None else dtypes.as_dtype(dtype)
    if floats_only is not None:
        dtypes.need_float(d, floats_only)
    return a, d


def zeros_like(input, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    a, d = _like(input, dtype)
    return _new(np.zeros(a.shape, d), requires_grad, device)


def ones_like(input, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    a, d = _like(input, dtype)
    return _new(np.ones(a.shape, d), requires_grad, device)


def empty_like(input, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    a, d = _like(input, dtype)
    v = fill_value._data if isinstance(fill_value, Tensor) else fill_value
    return _new(np.full(a.shape, v, d), requires_grad, device)


def _rng(seed):
    return resolve(seed)


def randn(*shape, size=None, dtype=None, device=None, requires_grad: bool = False, generator=None,
          rng=None) -> Tensor:
    """Standard normal samples; ``generator`` (or ``rng``): a seed or Generator (default: chainrule's,
    see manual_seed)."""
    shape = _size(shape, size, "randn")
    data = _rng(rng if generator is None else generator).standard_normal(shape).astype(_float(dtype))
    return _new(data, requires_grad, device)


def _below_one(u: np.ndarray, dtype) -> np.ndarray:
    """Uniform float64 draws in [0, 1) cast to ``dtype``, still below 1: a draw above 1 - 2^-25 rounds
    to 1.0 in float32 (about 3 in 10^8 draws), outside PyTorch's [0, 1); it becomes the float just below."""
    out = u.astype(dtype)
    if out.dtype.kind == "f" and out.dtype.itemsize < 8:
        np.minimum(out, np.nextafter(out.dtype.type(1), out.dtype.type(0)), out=out)
    return out


def rand(*shape, size=None, dtype=None, device=None, requires_grad: bool = False, generator=None,
         rng=None) -> Tensor:
    """Uniform samples in [0, 1)."""
    shape = _size(shape, size, "rand")
    data = _below_one(_rng(rng if generator is None else generator).random(shape), _float(dtype))
    return _new(data, requires_grad, device)


def randn_like(input, *, dtype=None, device=None, requires_grad: bool = False, generator=None) -> Tensor:  # noqa: A002
    a, d = _like(input, dtype, "normal_kernel_cpu")
    return _new(_rng(generator).standard_normal(a.shape).astype(d), requires_grad, device)


def rand_like(input, *, dtype=None, device=None, requires_grad: bool = False, generator=None) -> Tensor:  # noqa: A002
    a, d = _like(input, dtype, "check_uniform_bounds")
    return _new(_below_one(_rng(generator).random(a.shape), d), requires_grad, device)


def randint(*args, low=None, high=None, size=None, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high): ``randint(high, size)`` or ``randint(low, high, size)``,
    each also as a keyword."""
    args = ([] if low is None else [low]) + list(args) + ([] if high is None else [high])
    if low is not None and high is None and len(args) == 1:  # randint(low=2, ...) alone names no bound
        raise TypeError("randint() missing required argument 'high'")
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError("randint() expects randint(high, size) or randint(low, high, size)")
    if size is None:
        raise TypeError("randint() missing required argument 'size' (a tuple)")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    d = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    return _new(_rng(generator).integers(low, high, _shape((size,))).astype(d), requires_grad, device)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad: bool = False,  # noqa: A002
                 generator=None) -> Tensor:
    """Integers from [low, high) (``randint_like(x, high)`` or ``(x, low, high)``) in ``input``'s shape and dtype."""
    if high is None:
        low, high = 0, low
    a, d = _like(input, dtype)
    return _new(_rng(generator).integers(low, high, a.shape).astype(d), requires_grad, device)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0 .. n-1 (int64)."""
    d = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    return _new(_rng(generator).permutation(n).astype(d), requires_grad, device)


def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False,
           stop=None) -> Tensor:
    """Values from ``start`` to ``end`` (excluded) by ``step``: int64 when all three are integers,
    the default float dtype otherwise (PyTorch's rule). ``arange(n)`` counts 0 .. n-1."""
    end = stop if end is None else end
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    whole = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals)
    d = (dtypes.int64 if whole else dtypes.DEFAULT_FLOAT) if dtype is None else dtypes.as_dtype(dtype)
    a = np.arange(*vals, dtype=np.int64 if whole else np.float64)
    return _new(a.astype(d), requires_grad, device)


def linspace(start, end, steps: int, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` (both included), computed as PyTorch
    does (from both ends towards the middle, in the result's dtype)."""
    d = _float(dtype)
    steps = int(steps)
    if steps < 0:
        raise RuntimeError("linspace: number of steps must be non-negative")
    ct = d if d.kind == "f" else np.dtype(np.float64)
    s, e = ct.type(start), ct.type(end)
    if steps == 1:
        a = np.array([s], ct)
    else:
        step = np.float64((e - s) / ct.type(max(steps - 1, 1)))  # the step rounded to the dtype
        i = np.arange(steps, dtype=np.float64)
        # each value from the nearer end, multiply-add rounded once (as PyTorch's CPU kernel)
        a = np.where(i < steps // 2, np.float64(s) + step * i, np.float64(e) - step * (steps - i - 1))
    return _new(np.asarray(a[:steps]).astype(d), requires_grad, device)


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` values from ``base ** start`` to ``base ** end``, evenly spaced in the exponent."""
    d = _float(dtype)
    e = linspace(start, end, steps, dtype=np.float64)._data
    return _new(np.power(float(base), e).astype(d), requires_grad, device)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m, ones on the diagonal)."""
    return _new(np.eye(n, m, dtype=_float(dtype)), requires_grad, device)


class _LegacyType(type):
    """The metaclass of the legacy constructors: ``isinstance(t, FloatTensor)`` asks t's dtype."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj._data.dtype == cls.dtype


class _LegacyTensor(metaclass=_LegacyType):
    """PyTorch's legacy constructors: ``FloatTensor(data)`` is ``tensor(data, dtype=float32)``,
    ``FloatTensor(2, 3)`` a new (2, 3) tensor (zeros here, uninitialised in PyTorch)."""

    dtype = None

    def __new__(cls, *args, device=None):
        if device is not None:
            _check_device(device)
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            data = args[0]._data if isinstance(args[0], Tensor) else args[0]
            return Tensor(np.array(data, dtype=cls.dtype), dtype=cls.dtype)
        if not all(isinstance(a, (int, np.integer)) for a in args):
            raise TypeError(f"{cls.__name__}(): give data (a list, an array) or sizes (ints), got "
                            f"{tuple(type(a).__name__ for a in args)}")
        return Tensor(np.zeros(_shape(args) if args else (0,), cls.dtype), dtype=cls.dtype)


class FloatTensor(_LegacyTensor):
    dtype = dtypes.float32


class DoubleTensor(_LegacyTensor):
    dtype = dtypes.float64


class HalfTensor(_LegacyTensor):
    dtype = dtypes.float16


class LongTensor(_LegacyTensor):
    dtype = dtypes.int64


class IntTensor(_LegacyTensor):
    dtype = dtypes.int32


class BoolTensor(_LegacyTensor):
    dtype = dtypes.bool_


class ByteTensor(_LegacyTensor):
    dtype = dtypes.uint8
