"""Shape ops: they move numbers around, so their backward moves the gradient back.

reshape/flatten/squeeze/unsqueeze reshape it back; transpose/permute apply the
inverse permutation; indexing scatters it into zeros (adding at repeated
indices); concatenate/stack split it; pad crops it; expand hands the
broadcast gradient to autograd, which sums it back to the input's shape.
"""
from __future__ import annotations

from builtins import max as builtins_max

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.convert import as_tensor, promote
from chainrule.rules.embedding import add_rows
from chainrule.tensor import Tensor


class Reshape(Function):
    """y = x viewed with another shape; dL/dx = dL/dy reshaped to x's shape."""

    def forward(self, x, shape):
        self.in_shape = x.shape
        return x.reshape(shape)

    def backward(self, grad):
        return grad.reshape(self.in_shape)


class Permute(Function):
    """y = x with axes reordered; dL/dx = dL/dy with the inverse order."""

    def forward(self, x, axes):
        self.axes = axes
        return np.transpose(x, axes)

    def backward(self, grad):
        return np.transpose(grad, np.argsort(self.axes))


class Expand(Function):
    """y = x broadcast to a larger shape; autograd sums dL/dy back to x's shape."""

    def forward(self, x, shape):
        return np.broadcast_to(x, shape)

    def backward(self, grad):
        return grad


def _index(index):
    """An index with tensors replaced by their arrays (and lists by arrays)."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_advanced(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, np.ndarray) and i.dtype != bool for i in items)


class Getitem(Function):
    """y = x[index]; dL/dx is zero except at the picked elements, where the gradients add up."""

    def forward(self, x, index):
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, grad):
        if type(self.index) is np.ndarray and self.index.dtype.kind in "iu" and grad.dtype.kind == "f":
            return add_rows(grad, self.index, self.shape[0])  # C[X]: an embedding lookup's backward
        g = np.zeros(self.shape, dtype=grad.dtype)
        if _is_advanced(self.index):
            np.add.at(g, self.index, grad)  # repeated indices accumulate
        else:
            g[self.index] = grad
        return g


class Concatenate(Function):
    """y = [x1, x2, ...] joined along an axis; each xi gets its slice of dL/dy."""

    def forward(self, *xs, axis=0):
        self.axis = axis
        self.splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    def backward(self, grad):
        return tuple(np.split(grad, self.splits, axis=self.axis))


class Stack(Function):
    """y = x1, x2, ... stacked along a new axis; each xi gets its slice of dL/dy."""

    def forward(self, *xs, axis=0):
        self.axis = axis
        return np.stack(xs, axis=axis)

    def backward(self, grad):
        return tuple(np.moveaxis(grad, self.axis, 0))


class Pad(Function):
    """y = x padded with a constant; dL/dx = dL/dy with the padding cropped off."""

    def forward(self, x, pad_width, value=0.0):
        self.crop = tuple(slice(b, b + n) for (b, _), n in zip(pad_width, x.shape))
        return np.pad(x, pad_width, mode="constant", constant_values=value)

    def backward(self, grad):
        return grad[self.crop]


# ----------------------------------------------------------------------------- functions
def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def reshape(x, *shape) -> Tensor:
    """x with a new shape of the same size (one entry may be -1)."""
    x = as_tensor(x)
    shape = _shape_arg(shape)
    known = int(np.prod([s for s in shape if s != -1]))
    size = x.data.size
    if shape.count(-1) > 1 or (-1 not in shape and known != size) or \
            (-1 in shape and (known == 0 or size % known)):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({size} elements) "
                         f"into shape {shape}")
    return Reshape.apply(x, shape=shape)


def _axis(a: int, ndim: int, op: str) -> int:
    if not -ndim <= a < ndim:
        raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
    return a % ndim


def permute(x, *axes, dims=None) -> Tensor:
    """x with its axes reordered (PyTorch's permute, NumPy's transpose with axes)."""
    x = as_tensor(x)
    axes = _shape_arg(axes if dims is None else (dims,))
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Permute.apply(x, axes=tuple(a % x.ndim for a in axes))


def transpose(x, dim0=None, dim1=None) -> Tensor:
    """Swap axes ``dim0`` and ``dim1`` (PyTorch); with no axes, reverse them all (``x.T``)."""
    x = as_tensor(x)
    if dim0 is None and dim1 is None:
        return Permute.apply(x, axes=tuple(range(x.ndim))[::-1])
    if dim0 is None or dim1 is None:
        raise ValueError("transpose: give both axes to swap, or none to reverse all")
    axes = list(range(x.ndim))
    i, j = _axis(dim0, x.ndim, "transpose"), _axis(dim1, x.ndim, "transpose")
    axes[i], axes[j] = axes[j], axes[i]
    return Permute.apply(x, axes=tuple(axes))


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one (Flatten layers use start_dim=1)."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = _axis(start_dim, x.ndim, "flatten"), _axis(end_dim, x.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:]
    return Reshape.apply(x, shape=shape)


def squeeze(x, dim=None, *, axis=None) -> Tensor:
    """Drop axes of length 1 (all of them, or the one(s) named; as in PyTorch, a named axis whose
    length is not 1 is left alone)."""
    x = as_tensor(x)
    dim = axis if dim is None else dim
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        nd = builtins_max(x.ndim, 1)
        axes = {_axis(a, nd, "squeeze") for a in ((dim,) if isinstance(dim, (int, np.integer)) else dim)}
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return Reshape.apply(x, shape=shape)


def unsqueeze(x, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Insert an axis of length 1 at ``dim`` (``axis`` is an alias)."""
    x = as_tensor(x)
    dim = axis if dim is None else dim
    if dim is None:
        raise TypeError("unsqueeze() missing required argument 'dim'")
    a = _axis(dim, x.ndim + 1, "unsqueeze")
    return Reshape.apply(x, shape=x.shape[:a] + (1,) + x.shape[a:])


def expand(x, *shape) -> Tensor:
    """Broadcast x to ``shape`` (-1 keeps a length) without copying."""
    x = as_tensor(x)
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: shape {shape} has fewer dimensions than the tensor's {x.shape}")
    full = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    try:
        if np.broadcast_shapes(x.shape, full) != full:
            raise ValueError
    except ValueError:
        raise ValueError(f"expand: a tensor of shape {x.shape} cannot be expanded to {shape}") from None
    return Expand.apply(x, shape=full)


def getitem(x, index) -> Tensor:
    """x[index]: basic slicing, integer arrays and boolean masks."""
    x = as_tensor(x)
    index = _index(index)
    try:
        return Getitem.apply(x, index=index)
    except IndexError as e:
        raise IndexError(f"index into a tensor of shape {x.shape}: {e}") from None


def _check_join(tensors, op):
    if isinstance(tensors, Tensor) or not len(tensors):
        raise ValueError(f"{op}: expects a non-empty list of tensors")


def concatenate(tensors, dim: int = 0, *, axis: int | None = None, out=None) -> Tensor:
    """Join tensors along an existing axis ``dim`` (``axis`` is an alias); the other axes must agree."""
    axis = dim if axis is None else axis
    _check_join(tensors, "concatenate")
    if out is not None:
        raise TypeError("cat: out= is not supported; assign the result instead")
    ts = promote(*tensors)
    ref = ts[0].shape
    if not ref:
        raise ValueError("concatenate: 0-d tensors cannot be concatenated; use stack")
    a = _axis(axis, len(ref), "concatenate")
    for i, t in enumerate(ts):
        if t.ndim != len(ref) or t.shape[:a] + t.shape[a + 1:] != ref[:a] + ref[a + 1:]:
            raise ValueError(f"concatenate: tensor {i} has shape {t.shape}, which does not match "
                             f"{ref} outside axis {a}")
    return Concatenate.apply(*ts, axis=a)


cat = concatenate


def stack(tensors, dim: int = 0, *, axis: int | None = None, out=None) -> Tensor:
    """Stack tensors of one shape along a new axis ``dim`` (``axis`` is an alias)."""
    axis = dim if axis is None else axis
    _check_join(tensors, "stack")
    if out is not None:
        raise TypeError("stack: out= is not supported; assign the result instead")
    ts = promote(*tensors)
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, tensor 0 has {ts[0].shape}")
    return Stack.apply(*ts, axis=_axis(axis, ts[0].ndim + 1, "stack"))


def pad(x, pad_width, value: float = 0.0) -> Tensor:
    """Pad with a constant; ``pad_width`` as in NumPy: an int, (before, after) or one pair per axis."""
    x = as_tensor(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64).reshape(-1, 2) if np.ndim(pad_width)
                         else np.full((1, 2), int(pad_width)), (x.ndim, 2))
    if (pw < 0).any():
        raise ValueError(f"pad: pad widths must be >= 0, got {pad_width}")
    return Pad.apply(x, pad_width=tuple(map(tuple, pw.tolist())), value=value)
