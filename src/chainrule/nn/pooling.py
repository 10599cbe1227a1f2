"""Pooling layers: MaxPool1d/2d/3d, MaxUnpool1d/2d/3d, AvgPool1d/2d/3d, LPPool1d/2d/3d, AdaptiveAvgPool1d/2d/3d
and AdaptiveMaxPool1d/2d/3d (PyTorch's arguments)."""
from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.module import Module


class MaxPool2d(Module):
    """The maximum over each kernel_size window, moved by ``stride`` (default: the kernel size).

    Args:
        kernel_size (int or pair), stride (int or pair, kernel_size), padding (int or pair, 0),
        dilation (int or pair, 1), return_indices (bool, False: also return the flat per-plane index of each
        maximum, for :class:`MaxUnpool2d`), ceil_mode (bool, False).

    Shape: (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2 padding - dilation (k - 1) - 1) / stride) + 1
    (ceil with ``ceil_mode``).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.MaxPool2d(2)(cr.zeros(1, 3, 32, 32)).shape
        (1, 3, 16, 16)
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """The mean over each kernel_size window (arguments as F.avg_pool2d)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (int or pair; None keeps that input size), whatever the
    input's size. ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class MaxPool1d(MaxPool2d):
    """MaxPool2d's arguments, each a single int, over (N, C, L) or (C, L) (F.max_pool1d)."""

    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class AvgPool1d(Module):
    """The mean over each kernel_size window of (N, C, L) or (C, L) (arguments as F.avg_pool1d)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        single = (lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,))   # PyTorch keeps 1-tuples here
        self.kernel_size, self.stride = single(kernel_size), single(kernel_size if stride is None else stride)
        self.padding, self.ceil_mode, self.count_include_pad = single(padding), ceil_mode, count_include_pad

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """Average pooling of (N, C, L) or (C, L) to a fixed length (F.adaptive_avg_pool1d)."""

    def forward(self, x):
        return F.adaptive_avg_pool1d(x, self.output_size)


class MaxUnpool2d(Module):
    """The partial inverse of :class:`MaxPool2d`: each value put back at its index in a zero plane.

    Args: kernel_size (int or pair), stride (int or pair, kernel_size), padding (int or pair, 0).
    ``forward(input, indices, output_size=None)``: OH = (H - 1) stride - 2 padding + kernel_size unless
    ``output_size`` picks one of the sizes the pooling could have come from.

    Example:
        >>> import chainrule as cr
        >>> y, i = cr.nn.MaxPool2d(2, return_indices=True)(cr.arange(16.0).reshape(1, 1, 4, 4))
        >>> cr.nn.MaxUnpool2d(2)(y, i).shape
        (1, 1, 4, 4)
    """

    _dims = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name, n = type(self).__name__, self._dims
        self.kernel_size = F._ntuple(kernel_size, n, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else F._ntuple(stride, n, "stride", name)
        self.padding = F._ntuple(padding, n, "padding", name)

    def forward(self, input, indices, output_size=None):  # noqa: A002
        unpool = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}[self._dims]
        return unpool(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(MaxUnpool2d):
    """The partial inverse of :class:`MaxPool1d` over (N, C, L) or (C, L) (arguments as MaxUnpool2d, single ints)."""

    _dims = 1


class MaxUnpool3d(MaxUnpool2d):
    """The partial inverse of :class:`MaxPool3d` over (N, C, D, H, W) or (C, D, H, W) (arguments as MaxUnpool2d,
    ints or triples)."""

    _dims = 3


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size (int or pair; None keeps that input size), whatever the input's
    size; ``return_indices`` also returns the flat per-plane index of each maximum."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Max pooling of (N, C, L) or (C, L) to a fixed length (F.adaptive_max_pool1d)."""

    def forward(self, x):
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)


class MaxPool3d(MaxPool2d):
    """MaxPool2d's arguments, ints or triples, over (N, C, D, H, W) or (C, D, H, W) (F.max_pool3d)."""

    def forward(self, x):
        return F.max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class AvgPool3d(AvgPool2d):
    """AvgPool2d's arguments, ints or triples, over (N, C, D, H, W) or (C, D, H, W) (F.avg_pool3d)."""

    def forward(self, x):
        return F.avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool3d(AdaptiveAvgPool2d):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed size (F.adaptive_avg_pool3d)."""

    def forward(self, x):
        return F.adaptive_avg_pool3d(x, self.output_size)


class AdaptiveMaxPool3d(AdaptiveMaxPool2d):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed size (F.adaptive_max_pool3d)."""

    def forward(self, x):
        return F.adaptive_max_pool3d(x, self.output_size, self.return_indices)


class _LPPoolNd(Module):
    """LPPool1d/2d/3d's arguments and printed form (PyTorch's _LPPoolNd): (sum of x^p over each
    kernel_size window)^(1/p), p = ``norm_type`` (inf: max pooling of |x|); see F.lp_pool2d.

    Args:
        norm_type (float), kernel_size (int or tuple), stride (int or tuple, None: the kernel size),
        ceil_mode (bool, False).
    """

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Power-average pooling over (N, C, L) or (C, L) (F.lp_pool1d; arguments as _LPPoolNd, single ints)."""

    def forward(self, x):
        return F.lp_pool1d(x, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)


class LPPool2d(_LPPoolNd):
    """Power-average pooling over (N, C, H, W) or (C, H, W) (F.lp_pool2d; arguments as _LPPoolNd, ints or pairs).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.LPPool2d(2, 2)(cr.ones(1, 3, 4, 4)).shape
        (1, 3, 2, 2)
    """

    def forward(self, x):
        return F.lp_pool2d(x, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)


class LPPool3d(_LPPoolNd):
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W) (F.lp_pool3d; ints or triples)."""

    def forward(self, x):
        return F.lp_pool3d(x, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)
