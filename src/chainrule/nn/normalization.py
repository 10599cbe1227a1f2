"""Normalisation layers: BatchNorm1d, BatchNorm2d and LayerNorm (PyTorch's arguments, parameters,
buffers and state_dict keys)."""
from __future__ import annotations

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.module import Module, Parameter


class _BatchNorm(Module):
    """Batch normalisation over axis 1 (the channels): the batch's statistics in training, the running
    ones in eval mode.

    Args:
        num_features (int): C.
        eps (float, 1e-5): added to the variance.
        momentum (float or None, 0.1): running = (1 - momentum) running + momentum batch; None keeps
            the cumulative average over all batches seen.
        affine (bool, True): learn ``weight`` (ones) and ``bias`` (zeros).
        bias (bool, True; keyword only): learn ``bias`` when affine.
        track_running_stats (bool, True): keep ``running_mean``, ``running_var`` (the unbiased variance)
            and ``num_batches_tracked`` buffers; without them eval mode uses the batch's statistics too.
        dtype (dtype, float32).
    """

    _ndims = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum, self._bias = num_features, eps, momentum, bias
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = dtype or np.float32
        if affine:
            self.weight = Parameter(np.ones(num_features, dt))
            self.bias = Parameter(np.zeros(num_features, dt)) if bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dt))
            self.register_buffer("running_var", np.ones(num_features, dt))
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked = np.array(0, np.int64)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            self.weight._data[...] = 1
            if self.bias is not None:
                self.bias._data[...] = 0

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            want = " or ".join(f"{d}-d" for d in self._ndims)
            raise ValueError(f"{name}({self.num_features}): expected a {want} input with {self.num_features} "
                             f"channels on axis 1, got shape {x.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked = np.array(self.num_batches_tracked + 1, np.int64)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        batch_stats = self.training or not self.track_running_stats
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self._bias}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs (statistics over N, or N and L).

    Example:
        >>> import chainrule as cr
        >>> bn = cr.nn.BatchNorm1d(4)
        >>> y = bn(cr.randn(16, 4))
        >>> sorted(bn.state_dict())
        ['bias', 'num_batches_tracked', 'running_mean', 'running_var', 'weight']
    """

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, one mean and variance per channel over N, H and W."""

    _ndims = (4,)


class LayerNorm(Module):
    """Normalise each sample over its last axes ``normalized_shape`` (mean 0, biased variance 1), then
    scale and shift elementwise.

    Args:
        normalized_shape (int or tuple), eps (float, 1e-5), elementwise_affine (bool, True),
        bias (bool, True), dtype (dtype, float32).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.LayerNorm(8)(cr.randn(2, 5, 8)).shape
        (2, 5, 8)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dt = dtype or np.float32
        self.weight = Parameter(np.ones(self.normalized_shape, dt)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dt)) if elementwise_affine and bias else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
