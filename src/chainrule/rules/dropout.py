"""Dropout as a rule: the mask is an input, so the backward reads nothing the version checks miss."""
from __future__ import annotations

from chainrule.core import Function


class Dropout(Function):
    """y = x * mask, the mask holding 0 (dropped) or 1 / (1 - p) (kept, inverted scaling) and
    broadcasting over x (one value per channel for Dropout2d); dL/dx = g * mask, the mask gets none."""

    saved_inputs = (1,)

    def forward(self, x, mask):
        self.mask = mask
        return x * mask

    def backward(self, grad):
        return grad * self.mask, None
