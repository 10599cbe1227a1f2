"""Channel dropout: Dropout2d (Dropout itself lives with the layers in nn.layers)."""
from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.layers import Dropout


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) inputs with probability p in training (kept channels scaled
    by 1/(1-p)); the identity in eval mode."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)
