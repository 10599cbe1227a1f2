"""Normalisation layers: BatchNorm1d, BatchNorm2d, BatchNorm3d, LayerNorm, GroupNorm, InstanceNorm1d,
InstanceNorm2d, InstanceNorm3d, RMSNorm and LocalResponseNorm (PyTorch's arguments, parameters, buffers and
state_dict keys)."""
from __future__ import annotations

import warnings

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
                f"bias={self._bias and self.affine}, track_running_stats={self.track_running_stats}")


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


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs, one mean and variance per channel over N, D, H and W."""

    _ndims = (5,)


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
        self.normalized_shape = F.as_normalized_shape(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dt = dtype or np.float32
        self.weight = Parameter(np.ones(self.normalized_shape, dt)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dt)) if elementwise_affine and bias else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(_BatchNorm):
    """Instance normalisation: each channel of each sample over its spatial axes. With
    ``track_running_stats`` the running statistics are updated in training (the mean over the batch
    of each sample's statistics) and used in eval mode; ``num_batches_tracked`` is kept but, as in
    PyTorch, not counted. Unbatched input (C, *) is normalised as a batch of one.

    Args:
        num_features (int): C.
        eps (float, 1e-5), momentum (float, 0.1), affine (bool, False), track_running_stats (bool, False),
        dtype (dtype, float32), bias (bool, True; keyword only).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self._ndims:
            raise ValueError(f"{name}: expected {self._ndims[0]}D or {self._ndims[1]}D input (got {x.ndim}D input)")
        if x.ndim == self._ndims[0]:  # unbatched (C, *)
            return self.forward(x.unsqueeze(0)).squeeze(0)
        if x.shape[1] != self.num_features:
            if self.affine or self.track_running_stats:
                raise ValueError(f"{name}: expected input's size at dim=1 to match num_features "
                                 f"({self.num_features}), but got: {x.shape[1]}.")
            warnings.warn(f"{name}: input's size at dim=1 does not match num_features ({self.num_features}); "
                          f"num_features is not used because affine=False", stacklevel=2)
        return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats,
                               0.0 if self.momentum is None else self.momentum, self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L): each (sample, channel) row over L."""

    _ndims = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W): each (sample, channel) plane over H and W.

    Example:
        >>> import chainrule as cr
        >>> y = cr.nn.InstanceNorm2d(3)(cr.randn(2, 3, 4, 4, dtype="float64"))
        >>> round(abs(y[0, 1].mean().item()), 6)
        0.0
    """

    _ndims = (3, 4)


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W): each (sample, channel) volume."""

    _ndims = (4, 5)


class GroupNorm(Module):
    """Normalise (N, C, *) over groups of C / num_groups channels (and the spatial axes), then scale and
    shift per channel.

    Args:
        num_groups (int), num_channels (int): C, divisible by num_groups.
        eps (float, 1e-5), affine (bool, True): learn ``weight`` (ones) and ``bias`` (zeros) of shape (C,),
        dtype (dtype, float32), bias (bool, True; keyword only).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        dt = dtype or np.float32
        self.weight = Parameter(np.ones(num_channels, dt)) if affine else None
        self.bias = Parameter(np.zeros(num_channels, dt)) if affine and bias else None

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) over the last axes ``normalized_shape``, times a learned ``weight``.

    Args:
        normalized_shape (int or tuple), eps (float or None, None: the dtype's machine epsilon),
        elementwise_affine (bool, True): learn ``weight`` (ones), dtype (dtype, float32).
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = F.as_normalized_shape(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape, dtype or np.float32)) if elementwise_affine else None

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class LocalResponseNorm(Module):
    """x / (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta (AlexNet's normalisation)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
