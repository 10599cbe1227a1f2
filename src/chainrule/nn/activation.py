"""More activation modules with PyTorch's names and printed forms: Softmax, LogSoftmax, Softmin,
Softmax2d, ReLU6, Hardtanh, LogSigmoid, PReLU, SELU, CELU, GLU, Mish, Hardswish, Hardsigmoid,
Softsign, Tanhshrink, Softshrink, Hardshrink, Threshold."""
from __future__ import annotations

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.module import Module, Parameter


class _AlongDim(Module):
    """A softmax-like module along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """Softmax along ``dim`` (PyTorch's implicit choice when None: 0 for 0-, 1- and 3-d input, else 1).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Softmax(dim=1)(cr.tensor([[1.0, 1.0]])).tolist()
        [[0.5, 0.5]]
    """

    def forward(self, input):  # noqa: A002
        return F.softmax(input, self.dim)


class LogSoftmax(_AlongDim):
    """Log of the softmax along ``dim``, computed without overflow."""

    def forward(self, input):  # noqa: A002
        return F.log_softmax(input, self.dim)


class Hardtanh(Module):
    """x limited to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):  # noqa: A002
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """min(max(0, x), 6)."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LogSigmoid(Module):
    """log(sigmoid(x))."""

    def forward(self, input):  # noqa: A002
        return F.logsigmoid(input)


class Softmin(_AlongDim):
    """softmax(-x) along ``dim``."""

    def forward(self, input):  # noqa: A002
        return F.softmin(input, self.dim)


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W) at each position."""

    def forward(self, input):  # noqa: A002
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input of 3 or 4 dimensions, got shape {input.shape}")
        return F.softmax(input, -3)


class _Inplace(Module):
    """An activation whose only argument is ``inplace`` (accepted, computed out of place)."""

    _fn = None

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return self._fn(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class SELU(_Inplace):
    """scale * elu(x, alpha), the self-normalising constants (alpha ~ 1.6733, scale ~ 1.0507)."""

    _fn = staticmethod(F.selu)


class Mish(_Inplace):
    """x tanh(softplus(x))."""

    _fn = staticmethod(F.mish)


class _Hard(_Inplace):
    """PyTorch prints no ``inplace`` for these."""

    def extra_repr(self):
        return ""


class Hardswish(_Hard):
    """x relu6(x + 3) / 6."""

    _fn = staticmethod(F.hardswish)


class Hardsigmoid(_Hard):
    """relu6(x + 3) / 6."""

    _fn = staticmethod(F.hardsigmoid)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input):  # noqa: A002
        return F.softsign(input)


class Tanhshrink(Module):
    """x - tanh(x)."""

    def forward(self, input):  # noqa: A002
        return F.tanhshrink(input)


class CELU(Module):
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1))."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):  # noqa: A002
        return F.celu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GLU(Module):
    """a * sigmoid(b), a and b the halves of the input along ``dim``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input):  # noqa: A002
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class _Shrink(Module):
    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def extra_repr(self):
        return str(self.lambd)


class Softshrink(_Shrink):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""

    def forward(self, input):  # noqa: A002
        return F.softshrink(input, self.lambd)


class Hardshrink(_Shrink):
    """x where |x| > lambd, else 0."""

    def forward(self, input):  # noqa: A002
        return F.hardshrink(input, self.lambd)


class Threshold(Module):
    """x where x > threshold, else ``value``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):  # noqa: A002
        return F.threshold(input, self.threshold, self.value)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class PReLU(Module):
    """x where x > 0, else a x, with the slope a learned: one for all channels or one per channel
    (``num_parameters`` = C, axis 1 of the input).

    Args:
        num_parameters (int, 1), init (float, 0.25): the slopes' initial value, dtype (dtype, float32).
        The slopes are the Parameter ``weight`` of shape (num_parameters,).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(np.full(num_parameters, init, dtype or np.float32))

    def reset_parameters(self) -> None:
        self.weight._data[...] = self.init

    def forward(self, input):  # noqa: A002
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
