"""Shape rules: they move numbers around, so their backward moves the gradient back.

reshape rules reshape it back; permute applies the inverse permutation; indexing
scatters it into zeros (adding at repeated indices); concatenate/stack split it;
pad crops it; expand hands the broadcast gradient to the engine, which sums it back
to the input's shape; tile sums the copies; flip flips it back.
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function
from chainrule.rules.embedding import add_rows


def _is_advanced(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, np.ndarray) and i.dtype != bool for i in items)


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


class Windows(Function):
    """x's windows of ``size`` elements along ``axis``, one every ``step`` (Tensor.unfold): the axis
    becomes the window's number, a new last axis the place in the window; dL/dx adds each window's
    gradient back where the window read (overlapping windows, step < size, add up)."""

    def forward(self, x, axis, size, step):
        self.shape, self.axis, self.size, self.step = x.shape, axis, size, step
        windows = np.lib.stride_tricks.sliding_window_view(x, size, axis=axis)
        return np.ascontiguousarray(windows[(slice(None),) * axis + (slice(None, None, step),)])

    def backward(self, grad):
        gx = np.zeros(self.shape, grad.dtype)
        n, head = grad.shape[self.axis], (slice(None),) * self.axis
        for k in range(self.size):   # place k of window j read x[j * step + k]
            gx[head + (slice(k, k + self.step * (n - 1) + 1, self.step),)] += grad[..., k]
        return gx


class Slot:
    """A place in an index tuple held by an index array that is an input of the op (input ``k``)."""

    __slots__ = ("k",)

    def __init__(self, k: int):
        self.k = k

    def __repr__(self):
        return f"Slot({self.k})"


def fill_index(index, arrays: tuple):
    """``index`` with each :class:`Slot` replaced by its array (``arrays[slot.k]``)."""
    if type(index) is Slot:
        return arrays[index.k]
    if type(index) is tuple:
        return tuple(arrays[i.k] if type(i) is Slot else i for i in index)
    return index


class Getitem(Function):
    """y = x[index]; dL/dx is zero except at the picked elements, where the gradients add up.

    Index arrays are inputs after x, their places in ``index`` marked by :class:`Slot`.
    """

    saved_inputs = slice(1, None)

    def forward(self, x, *arrays, index):
        index = fill_index(index, arrays)
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, grad):
        rest = (None,) * (len(self.needs_input_grad) - 1)
        if type(self.index) is np.ndarray and self.index.dtype.kind in "iu" and grad.dtype.kind == "f":
            return (add_rows(grad, self.index, self.shape[0]),) + rest  # C[X]: an embedding lookup's backward
        g = np.zeros(self.shape, dtype=grad.dtype)
        if _is_advanced(self.index):
            np.add.at(g, self.index, grad)  # repeated indices accumulate
        else:
            g[self.index] = grad
        return (g,) + rest


class Concatenate(Function):
    """y = [x1, x2, ...] joined along an axis; each xi gets its slice of dL/dy."""

    def forward(self, *xs, axis=0):
        self.axis, self.bounds, n = axis, [0], 0  # where each xi starts and ends along the axis
        for x in xs:
            n += x.shape[axis]
            self.bounds.append(n)
        return np.concatenate(xs, axis=axis)

    def backward(self, grad):
        # plain slices (np.split costs ~20 us of Python per call, a cost every RNN step pays)
        lead, b = (slice(None),) * self.axis, self.bounds
        return tuple(grad[lead + (slice(b[i], b[i + 1]),)] for i in range(len(b) - 1))


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


class Tile(Function):
    """y = x repeated ``reps`` times along each axis; dL/dx sums the gradients of the copies."""

    def forward(self, x, reps):
        self.shape = x.shape
        return np.tile(x, reps)

    def backward(self, grad):
        # (r0 * n0, r1 * n1, ...) -> (r0, n0, r1, n1, ...), summed over the r axes
        split = []
        for r, n in zip(grad.shape, self.shape):
            split += [r // n, n]
        return grad.reshape(split).sum(axis=tuple(range(0, len(split), 2)))


class Flip(Function):
    """y = x reversed along ``dims``; dL/dx = dL/dy reversed the same way."""

    def forward(self, x, dims):
        self.dims = dims
        return np.flip(x, dims).copy()

    def backward(self, grad):
        return np.flip(grad, self.dims)


class Roll(Function):
    """y = x shifted cyclically by ``shifts`` along ``axes`` (None: the flattened array); a permutation,
    so dL/dx = dL/dy shifted back by -shifts."""

    def forward(self, x, shifts, axes):
        self.shifts, self.axes = shifts, axes
        return np.roll(x, shifts, axes)

    def backward(self, grad):
        back = -self.shifts if self.axes is None else tuple(-s for s in self.shifts)
        return np.roll(grad, back, self.axes)


class Clone(Function):
    """y = a copy of x; dL/dx = dL/dy."""

    def forward(self, x):
        return x.copy()

    def backward(self, grad):
        return grad

