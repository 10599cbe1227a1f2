"""Unfold (im2col) and Fold (col2im) as layers, PyTorch's arguments and printed forms; the
arithmetic is :func:`chainrule.nn.functional.unfold` / :func:`~chainrule.nn.functional.fold`."""
from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.module import Module


class Unfold(Module):
    """Every sliding block of (N, C, H, W) as a column: (N, C prod(kernel_size), L).

    Args: kernel_size, dilation (1), padding (0), stride (1): ints or pairs.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Unfold(kernel_size=(2, 3))(cr.zeros(2, 5, 3, 4)).shape
        (2, 30, 4)
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input):  # noqa: A002
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """Columns (N, C prod(kernel_size), L) summed back into an (N, C, *output_size) image (col2im).

    Args: output_size, kernel_size, dilation (1), padding (0), stride (1): ints or pairs.
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):  # noqa: A002
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
