"""Tensor: an ndarray, its gradient, and the node of the graph it came from.

A Tensor holds ``data`` (a NumPy ndarray; scalars are 0-d), ``requires_grad``,
``grad`` (filled by ``backward()``, same shape and dtype as ``data``) and
``_ctx``, the :class:`~chainrule.autograd.Function` that produced it (None for
a leaf). Operators and methods call the ops in :mod:`chainrule.ops`; nothing
here computes a gradient.
"""
from __future__ import annotations

import numpy as np

from chainrule import dtypes


class Tensor:
    """An n-dimensional array that records the ops applied to it.

    Args:
        data (array-like): numbers, nested lists, an ndarray or a Tensor.
        dtype (dtype, None): float32 for Python floats unless given; float ndarrays keep theirs.
        requires_grad (bool, False): track ops on this tensor so backward() fills ``.grad``.
        name (str, None): a label used by drawings and narrations.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(-2.0, requires_grad=True); y = cr.tensor(5.0, requires_grad=True)
        >>> z = cr.tensor(-4.0, requires_grad=True)
        >>> f = (x + y) * z
        >>> f.backward()
        >>> f.item(), x.grad.item(), y.grad.item(), z.grad.item()
        (-12.0, -4.0, -4.0, 3.0)
    """

    __slots__ = ("data", "_grad", "requires_grad", "_ctx", "name", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operators

    def __init__(self, data, dtype=None, requires_grad: bool = False, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        d = dtypes.infer_dtype(data) if dtype is None else dtypes.as_dtype(dtype)
        arr = np.array(data, dtype=d, copy=None)
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(f"only float tensors can require gradients, got dtype {arr.dtype}; "
                            f"pass dtype='float32' or 'float64'")
        self.data = arr
        self._grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self.name = name

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool, ctx) -> "Tensor":
        """Fast internal constructor: ``data`` is already an ndarray of the right dtype."""
        t = object.__new__(cls)
        t.data = data
        t._grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t.name = None
        return t

    # ------------------------------------------------------------------ gradient
    @property
    def grad(self):
        """dL/d(this tensor) after backward(), as a Tensor of the same shape and dtype, or None."""
        g = self._grad
        return None if g is None else Tensor._make(np.asarray(g), False, None)

    @grad.setter
    def grad(self, value):
        if value is None:
            self._grad = None
            return
        g = value.data if isinstance(value, Tensor) else np.asarray(value)
        if g.shape != self.data.shape:
            raise ValueError(f"grad of shape {g.shape} assigned to a tensor of shape {self.shape}")
        self._grad = g.astype(self.data.dtype, copy=False)

    def _accumulate(self, g) -> None:
        # out of place: the same array may be handed to several inputs (add passes it on)
        if self._grad is None:
            # a 0-d result may be a NumPy scalar, a sum's a read-only broadcast view
            self._grad = g.copy() if type(g) is not np.ndarray or not g.flags.writeable else g
        else:
            self._grad = np.asarray(self._grad + g)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets ``.grad`` to None)."""
        self._grad = None

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor; see :func:`chainrule.autograd.backward`."""
        _autograd.backward(self, grad, retain_graph)

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (shares memory, requires no grad)."""
        return Tensor._make(self.data, False, None)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = flag
        return self

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        """The Function that produced this tensor (None for a leaf)."""
        return self._ctx

    # ------------------------------------------------------------------ array facts
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        if dtype is None:
            return self.data
        return self.data.astype(dtype)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu":
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=50,
                               prefix="tensor(")
        extra = []
        if self.data.dtype != dtypes.DEFAULT_FLOAT:
            extra.append(f"dtype={self.data.dtype}")
        if self._ctx is not None:
            extra.append(f"grad_fn={self._ctx.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    # ------------------------------------------------------------------ dtype
    def astype(self, dtype) -> "Tensor":
        """A copy in another dtype; the gradient flows back cast to this tensor's dtype."""
        return _ops.cast(self, dtype)

    def float(self) -> "Tensor":
        return _ops.cast(self, dtypes.float32)

    def double(self) -> "Tensor":
        return _ops.cast(self, dtypes.float64)

    # ------------------------------------------------------------------ operators
    def __radd__(self, other):
        return _ops.add(other, self)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def __setitem__(self, index, value):
        if self.requires_grad and (self._ctx is not None or _autograd.is_grad_enabled()):
            raise RuntimeError("in-place assignment into a tensor that requires grad would break its "
                               "gradient; do it inside `with chainrule.no_grad():` or on .data")
        self.data[_ops.shape._index(index)] = value.data if isinstance(value, Tensor) else value

    # comparisons: plain boolean tensors, outside the graph
    def __lt__(self, other):
        return _ops.compare(np.less, self, other)

    def __le__(self, other):
        return _ops.compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _ops.compare(np.greater, self, other)

    def __ge__(self, other):
        return _ops.compare(np.greater_equal, self, other)

    def __eq__(self, other):
        return _ops.compare(np.equal, self, other)

    def __ne__(self, other):
        return _ops.compare(np.not_equal, self, other)

    # ------------------------------------------------------------------ methods (PyTorch names)
    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)
    def abs(self): return _ops.abs(self)
    def sin(self): return _ops.sin(self)
    def cos(self): return _ops.cos(self)
    def tanh(self): return _ops.tanh(self)
    def sigmoid(self): return _ops.sigmoid(self)
    def relu(self): return _ops.relu(self)
    def clip(self, min=None, max=None): return _ops.clip(self, min, max)
    clamp = clip
    def maximum(self, other): return _ops.maximum(self, other)
    def minimum(self, other): return _ops.minimum(self, other)

    def sum(self, axis=None, keepdims=False): return _ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return _ops.mean(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, correction=1): return _ops.var(self, axis, keepdims, correction)
    def max(self, axis=None, keepdims=False): return _ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _ops.min(self, axis, keepdims)
    amax = max
    amin = min
    def argmax(self, dim=None, keepdim=False, *, axis=None): return _ops.argmax(self, dim, keepdim, axis=axis)
    def argmin(self, dim=None, keepdim=False, *, axis=None): return _ops.argmin(self, dim, keepdim, axis=axis)
    def logsumexp(self, axis=None, keepdims=False): return _ops.logsumexp(self, axis, keepdims)
    def softmax(self, axis=-1): return _ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return _ops.log_softmax(self, axis)

    def matmul(self, other): return _ops.matmul(self, other)
    def reshape(self, *shape): return _ops.reshape(self, *shape)
    view = reshape
    def transpose(self, *axes): return _ops.transpose(self, *axes)
    def permute(self, *axes): return _ops.permute(self, *axes)
    def flatten(self, start_dim=0, end_dim=-1): return _ops.flatten(self, start_dim, end_dim)
    def squeeze(self, axis=None): return _ops.squeeze(self, axis)
    def unsqueeze(self, axis): return _ops.unsqueeze(self, axis)
    def expand(self, *shape): return _ops.expand(self, *shape)

    @property
    def T(self):
        """The transpose: axes reversed (for a matrix, rows and columns swapped)."""
        return _ops.transpose(self)

    # ---- ops added for PyTorch parity (index, misc)
    def sort(self, dim=-1, descending=False, stable=False): return _ops.sort(self, dim, descending, stable)
    def topk(self, k, dim=-1, largest=True, sorted=True): return _ops.topk(self, k, dim, largest, sorted)
    def gather(self, dim, index): return _ops.gather(self, dim, index)
    def scatter_add(self, dim, index, src): return _ops.scatter_add(self, dim, index, src)
    def index_select(self, dim, index): return _ops.index_select(self, dim, index)
    def masked_fill(self, mask, value): return _ops.masked_fill(self, mask, value)
    def repeat(self, *sizes): return _ops.repeat(self, *sizes)
    def tile(self, *dims): return _ops.tile(self, dims[0] if len(dims) == 1 else dims)
    def clone(self, *, memory_format=None): return _ops.clone(self)
    def flip(self, *dims): return _ops.flip(self, dims[0] if len(dims) == 1 else dims)
    def cumsum(self, dim, *, dtype=None): return _ops.cumsum(self, dim, dtype=dtype)
    def log1p(self): return _ops.log1p(self)
    def expm1(self): return _ops.expm1(self)
    def logaddexp(self, other): return _ops.logaddexp(self, other)
    def xlogy(self, other): return _ops.xlogy(self, other)
    def norm(self, p="fro", dim=None, keepdim=False, dtype=None): return _ops.norm(self, p, dim, keepdim, dtype)
    def all(self, dim=None, keepdim=False): return _ops.all(self, dim, keepdim)
    def any(self, dim=None, keepdim=False): return _ops.any(self, dim, keepdim)
    def outer(self, vec2): return _ops.outer(self, vec2)


# the ops import Tensor, so they are bound here, after the class exists
from chainrule import autograd as _autograd  # noqa: E402
from chainrule import ops as _ops  # noqa: E402

# the hottest operators call their op directly (one Python call less per op)
Tensor.__add__ = _ops.add
Tensor.__sub__ = _ops.sub
Tensor.__mul__ = _ops.mul
Tensor.__pow__ = _ops.pow
