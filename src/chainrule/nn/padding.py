"""Padding layers over :func:`chainrule.nn.functional.pad` (PyTorch's names and printed forms):
ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and CircularPad in 1-, 2- and 3-d."""
from __future__ import annotations

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.module import Module


class _PadNd(Module):
    """Pads the last ``_dims`` axes; ``padding`` is an int (every side) or 2 * _dims ints, (left, right,
    top, bottom, front, back) from the last axis backwards, as F.pad takes them."""

    _dims = 1
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        n = 2 * self._dims
        pads = (padding,) * n if isinstance(padding, (int, np.integer)) else tuple(padding)
        if len(pads) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {n} ints, got {padding!r}")
        self.padding = tuple(int(p) for p in pads)

    def forward(self, input):  # noqa: A002
        if self._mode != "constant" and input.ndim not in (self._dims + 1, self._dims + 2):
            raise ValueError(f"{type(self).__name__}: expected a {self._dims + 1}-d (unbatched) or "
                             f"{self._dims + 2}-d (batched) input, got shape {input.shape}")
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = value

    def forward(self, input):  # noqa: A002
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last axis with ``value``."""


class ConstantPad2d(_ConstantPadNd):
    """Pads the last 2 axes with ``value``."""

    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pads the last 3 axes with ``value``."""

    _dims = 3


class _ZeroPad:
    """Constant padding with 0.0, printed with the padding alone."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad1d(_ZeroPad, ConstantPad1d):
    """Pads the last axis with zeros.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.ZeroPad1d((1, 0))(cr.tensor([[1.0, 2.0]])).tolist()
        [[0.0, 1.0, 2.0]]
    """


class ZeroPad2d(_ZeroPad, ConstantPad2d):
    """Pads the last 2 axes with zeros."""


class ZeroPad3d(_ZeroPad, ConstantPad3d):
    """Pads the last 3 axes with zeros."""


class _ReflectionPadNd(_PadNd):
    """Pads with the reflection of the input (the edge itself not repeated)."""

    _mode = "reflect"


class _ReplicationPadNd(_PadNd):
    """Pads by repeating the edge values."""

    _mode = "replicate"


class _CircularPadNd(_PadNd):
    """Pads by wrapping around (the values at the other end)."""

    _mode = "circular"


class ReflectionPad1d(_ReflectionPadNd):
    """Reflection padding of (C, W) or (N, C, W)."""


class ReflectionPad2d(_ReflectionPadNd):
    """Reflection padding of (C, H, W) or (N, C, H, W)."""

    _dims = 2


class ReflectionPad3d(_ReflectionPadNd):
    """Reflection padding of (C, D, H, W) or (N, C, D, H, W)."""

    _dims = 3


class ReplicationPad1d(_ReplicationPadNd):
    """Replication padding of (C, W) or (N, C, W)."""


class ReplicationPad2d(_ReplicationPadNd):
    """Replication padding of (C, H, W) or (N, C, H, W)."""

    _dims = 2


class ReplicationPad3d(_ReplicationPadNd):
    """Replication padding of (C, D, H, W) or (N, C, D, H, W)."""

    _dims = 3


class CircularPad1d(_CircularPadNd):
    """Circular padding of (C, W) or (N, C, W)."""


class CircularPad2d(_CircularPadNd):
    """Circular padding of (C, H, W) or (N, C, H, W)."""

    _dims = 2


class CircularPad3d(_CircularPadNd):
    """Circular padding of (C, D, H, W) or (N, C, D, H, W)."""

    _dims = 3
