"""Channel dropout (Dropout1d, Dropout2d, Dropout3d) and SELU's alpha dropout (AlphaDropout,
FeatureAlphaDropout); Dropout itself lives with the layers in nn.layers. Each is a _DropoutNd, as in PyTorch
(none of them is a Dropout)."""
from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.layers import _DropoutNd


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) inputs with probability p in training (kept channels
    scaled by 1/(1-p)); the identity in eval mode."""

    def forward(self, x):
        return F.dropout1d(x, self.p, self.training)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) inputs with probability p in training (kept channels scaled
    by 1/(1-p)); the identity in eval mode. Other ranks as F.dropout2d (PyTorch's rules, with a warning)."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p in training (kept
    channels scaled by 1/(1-p)); the identity in eval mode."""

    def forward(self, x):
        return F.dropout3d(x, self.p, self.training)


class AlphaDropout(_DropoutNd):
    """Dropout for self-normalising (SELU) networks, F.alpha_dropout in training (dropped elements set to
    SELU's saturation value, then scaled and shifted to keep zero mean and unit variance); the identity
    in eval mode.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.AlphaDropout(0.2).eval()(cr.ones(2)).tolist()
        [1.0, 1.0]
    """

    def forward(self, x):
        return F.alpha_dropout(x, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """AlphaDropout of whole channels of (N, C, *) in training (F.feature_alpha_dropout); the identity in
    eval mode."""

    def forward(self, x):
        return F.feature_alpha_dropout(x, self.p, self.training)
