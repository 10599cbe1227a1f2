"""Convolution layers: Conv1d/2d/3d and ConvTranspose1d/2d/3d (PyTorch's arguments, parameter names and
initialisation), and their lazy forms LazyConv1d/2d/3d and LazyConvTranspose1d/2d/3d."""
from __future__ import annotations

import math

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.lazy import LazyModuleMixin
from chainrule.nn.module import Module, Parameter, UninitializedParameter


class _ConvNd(Module):
    """The shared part of Conv1d, Conv2d and Conv3d: arguments, parameters and their printed form."""

    _dims = 2
    _transposed = False   # a transposed convolution's weight is (C_in, C_out / groups, *kernel)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        name, n = type(self).__name__, self._dims
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels ({in_channels}) and "
                             f"out_channels ({out_channels})")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                             f"got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = F._ntuple(kernel_size, n, "kernel_size", name)
        self.stride = F._ntuple(stride, n, "stride", name)
        self.dilation = F._ntuple(dilation, n, "dilation", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid' or ints, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = F._ntuple(padding, n, "padding", name)
        self.padding_mode = padding_mode
        dt = dtype or np.float32
        self.output_padding = (0,) * n
        channels = (in_channels, out_channels // groups) if self._transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(np.empty(channels + self.kernel_size, dt))
        self.bias = Parameter(np.empty(out_channels, dt)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the
        bias from the same range; fan_in = in_channels / groups * prod(kernel_size)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight._data[0].size
            bound = 1 / math.sqrt(fan_in) if fan_in else 0
            init.uniform_(self.bias, -bound, bound)

    def _padded(self, x):
        """The input and the padding to pass on: a non-zeros padding_mode pads here, with F.pad."""
        if self.padding_mode == "zeros" or self.padding == "valid":
            return x, self.padding
        if self.padding == "same":
            total = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            pairs = [(t // 2, t - t // 2) for t in total]
        else:
            pairs = [(p, p) for p in self.padding]
        flat = [v for a, b in reversed(pairs) for v in (a, b)]
        return F.pad(x, flat, mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """A 2-D convolution layer: ``out_channels`` filters of shape (in_channels / groups, KH, KW).

    Args:
        in_channels (int), out_channels (int), kernel_size (int or pair).
        stride (int or pair, 1), padding (int, pair, "valid" or "same"; 0), dilation (int or pair, 1).
        groups (int, 1), bias (bool, True), padding_mode (str, "zeros"; also reflect, replicate, circular).

    Shape: (N, C_in, H, W) -> (N, C_out, OH, OW) with
    OH = floor((H + 2 padding - dilation (KH - 1) - 1) / stride) + 1. Parameters ``weight``
    (C_out, C_in / groups, KH, KW) and ``bias`` (C_out,), as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Conv2d(3, 32, 7, padding=3)(cr.zeros(2, 3, 32, 32)).shape
        (2, 32, 32, 32)
    """

    def forward(self, x):
        x, padding = self._padded(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """A 1-D convolution layer over (N, C_in, L) -> (N, C_out, L_out); arguments as :class:`Conv2d`,
    each a single int. ``weight`` is (C_out, C_in / groups, K)."""

    _dims = 1

    def forward(self, x):
        x, padding = self._padded(x)
        p = padding if isinstance(padding, (str, int)) else padding[0]
        return F.conv1d(x, self.weight, self.bias, self.stride, p, self.dilation, self.groups)


class Conv3d(_ConvNd):
    """A 3-D convolution layer over (N, C_in, D, H, W) -> (N, C_out, OD, OH, OW) (volumes, video); arguments
    as :class:`Conv2d`, ints or triples. ``weight`` is (C_out, C_in / groups, KD, KH, KW).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Conv3d(2, 4, 3, padding=1)(cr.zeros(1, 2, 5, 6, 7)).shape
        (1, 4, 5, 6, 7)
    """

    _dims = 3

    def forward(self, x):
        x, padding = self._padded(x)
        return F.conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class _ConvTransposeNd(_ConvNd):
    """The shared part of ConvTranspose1d and ConvTranspose2d: PyTorch's argument order, output_padding,
    and ``forward(x, output_size=None)`` (a wanted output size picks the output_padding)."""

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be ints, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)
        self.output_padding = F._ntuple(output_padding, self._dims, "output_padding", type(self).__name__)

    def _output_padding(self, x, output_size):
        """output_padding, or the one that gives ``output_size`` (its last dims are the spatial sizes)."""
        if output_size is None:
            return self.output_padding
        want = tuple(output_size)[-self._dims:]
        least = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                 zip(x.shape[-self._dims:], self.stride, self.padding, self.dilation, self.kernel_size)]
        extra = tuple(w - m for w, m in zip(want, least))
        if any(e < 0 or e >= max(s, d) for e, s, d in zip(extra, self.stride, self.dilation)):
            raise ValueError(f"{type(self).__name__}: requested an output size of {want}, but valid sizes range "
                             f"from {tuple(least)} to {tuple(m + max(s, d) - 1 for m, s, d in zip(least, self.stride, self.dilation))} "
                             f"(for an input of {tuple(x.shape[-self._dims:])})")
        return extra


class ConvTranspose2d(_ConvTransposeNd):
    """A 2-D transposed convolution (upsampling; the gradient of Conv2d with respect to its input).

    Args:
        in_channels (int), out_channels (int), kernel_size (int or pair), stride (1), padding (0),
        output_padding (0: extra rows and columns at the end), groups (1), bias (True), dilation (1).

    Shape: (N, C_in, H, W) -> (N, C_out, OH, OW), OH = (H - 1) stride - 2 padding + dilation (KH - 1) +
    output_padding + 1. Parameters ``weight`` (C_in, C_out / groups, KH, KW) and ``bias`` (C_out,).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)(cr.zeros(2, 16, 7, 7)).shape
        (2, 8, 14, 14)
    """

    def forward(self, x, output_size=None):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """A 1-D transposed convolution over (N, C_in, L) -> (N, C_out, L_out); arguments as
    :class:`ConvTranspose2d`, each a single int. ``weight`` is (C_in, C_out / groups, K)."""

    _dims = 1

    def forward(self, x, output_size=None):
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride[0], self.padding[0],
                                  self._output_padding(x, output_size)[0], self.groups, self.dilation[0])


class ConvTranspose3d(_ConvTransposeNd):
    """A 3-D transposed convolution over (N, C_in, D, H, W) -> (N, C_out, OD, OH, OW); arguments as
    :class:`ConvTranspose2d`, ints or triples. ``weight`` is (C_in, C_out / groups, KD, KH, KW)."""

    _dims = 3

    def forward(self, x, output_size=None):
        return F.conv_transpose3d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups, self.dilation)


class _LazyConvMixin(LazyModuleMixin):
    """The lazy form of a convolution: ``in_channels`` is axis 1 of the first input (axis 0 unbatched);
    until then ``weight`` and ``bias`` are UninitializedParameters. The first forward materializes them
    with the plain layer's shapes and initialisation, and the module becomes that layer (PyTorch's
    _LazyConvXdMixin)."""

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self._uninitialized(out_channels, bias, device, dtype)

    def _uninitialized(self, out_channels: int, bias: bool, device, dtype) -> None:
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs) -> None:  # noqa: A002
        """Take ``in_channels`` from the input and initialise as the plain layer does."""
        if not self.has_uninitialized_params():
            return
        if input.ndim not in (self._dims + 1, self._dims + 2):
            raise RuntimeError(f"Expected {self._dims + 1}D (unbatched) or {self._dims + 2}D (batched) input to "
                               f"{type(self).__name__}, but got input of size: {tuple(input.shape)}")
        self.in_channels = input.shape[1] if input.ndim == self._dims + 2 else input.shape[0]
        if self.in_channels % self.groups:
            raise ValueError("in_channels must be divisible by groups")
        channels = (self.in_channels, self.out_channels // self.groups) if self._transposed else \
            (self.out_channels, self.in_channels // self.groups)
        self.weight.materialize(channels + self.kernel_size)
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()


class _LazyConvTransposeMixin(_LazyConvMixin):
    """PyTorch's argument order of a lazy transposed convolution: output_padding before groups, bias and
    dilation."""

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0, groups: int = 1,
                 bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None, dtype=None):
        super(_LazyConvMixin, self).__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False,
                                             dilation, padding_mode, device, dtype)
        self._uninitialized(out_channels, bias, device, dtype)


def _lazy(plain, transposed: bool):
    """The Lazy<plain> class: plain's layer with in_channels inferred (the module becomes a ``plain``)."""
    doc = (f"A :class:`{plain.__name__}` whose ``in_channels`` is taken from its first input (axis 1, or 0 "
           f"unbatched); its other arguments are {plain.__name__}'s without in_channels. Until the first "
           f"forward ``weight`` and ``bias`` are UninitializedParameters; then the module becomes a "
           f"{plain.__name__}.")
    mixin = _LazyConvTransposeMixin if transposed else _LazyConvMixin
    return type(f"Lazy{plain.__name__}", (mixin, plain), {"cls_to_become": plain, "__doc__": doc,
                                                          "__module__": __name__})


LazyConv1d, LazyConv2d, LazyConv3d = (_lazy(c, False) for c in (Conv1d, Conv2d, Conv3d))
LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d = (
    _lazy(c, True) for c in (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d))
