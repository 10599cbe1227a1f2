"""Channel dropout: Dropout1d, Dropout2d, Dropout3d (Dropout itself lives with the layers in nn.layers)."""
from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.layers import Dropout


class Dropout1d(Dropout):
    """Zero whole channels of (N, C, L) or (C, L) inputs with probability p in training (kept channels
    scaled by 1/(1-p)); the identity in eval mode."""

    def forward(self, x):
        return F.dropout1d(x, self.p, self.training)


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) inputs with probability p in training (kept channels scaled
    by 1/(1-p)); the identity in eval mode. Other ranks as F.dropout2d (PyTorch's rules, with a warning)."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)


class Dropout3d(Dropout):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p in training (kept
    channels scaled by 1/(1-p)); the identity in eval mode."""

    def forward(self, x):
        return F.dropout3d(x, self.p, self.training)
