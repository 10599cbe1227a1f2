"""Dropout: element-wise, whole channels (``dropout1d``..``dropout3d``) and alpha dropout, the masks
drawn from chainrule's random stream.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from chainrule import dtypes, ops
from chainrule.core import make
from chainrule.ops.convert import as_tensor
from chainrule.random import dropout_mask
from chainrule.rules import dropout as _dropout
from chainrule.tensor import Tensor


def _check_p(p: float, op: str) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, *, rng=None,  # noqa: A002
            generator=None) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p), so
    eval mode (``training=False``) is the identity (``inplace`` is accepted and computed out of place).
    The mask is drawn from ``generator`` (a chainrule.Generator; ``rng`` is its older name) or
    chainrule's default stream.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.dropout(cr.ones(3), 0.5, training=False).tolist()
        [1.0, 1.0, 1.0]
    """
    _check_p(p, "dropout")
    return _masked(as_tensor(input), p, training, None, rng if generator is None else generator)


def _masked(x: Tensor, p: float, training: bool, shape, rng) -> Tensor:
    """x times a dropout mask of ``shape`` (None: x's own), broadcast over x; x itself when nothing drops."""
    if not training or p == 0:
        return x
    if p == 1:   # every element dropped: one 0 broadcast over x
        return _dropout.Dropout.apply(x, Tensor._make(np.zeros((), x._data.dtype), False, None))
    mask = dropout_mask(rng, x.shape if shape is None else shape, p, x._data.dtype)
    return _dropout.Dropout.apply(x, Tensor._make(mask, False, None))


def _feature_dropout(x: Tensor, p: float, training: bool, batched: bool, op: str, rng) -> Tensor:
    """Channel dropout as PyTorch's feature dropout: one draw per (sample, channel) of a batched input
    (N, C, *), one per channel of an unbatched one (C, *), spread over the remaining dims."""
    lead = 2 if batched else 1
    return _masked(x, p, training, x.shape[:lead] + (1,) * (x.ndim - lead), rng)


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False, *,  # noqa: A002
              generator=None) -> Tensor:
    """Channel dropout for (N, C, L) or (C, L): zero whole channels with probability p, scaling the kept
    ones by 1/(1-p)."""
    _check_p(p, "dropout1d")
    x = as_tensor(input)
    if x.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {x.ndim}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, "
                           "a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(x, p, training, x.ndim == 3, "dropout1d", generator)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False, *, rng=None,  # noqa: A002
              generator=None) -> Tensor:
    """Channel dropout: zero whole channels of (N, C, H, W) with probability p, scaling the kept ones by
    1/(1-p). As in PyTorch, other ranks are taken as batched (N, C, *) with a warning: a 3-d input is
    (N, C, L) and a 2-d one (N, C) drops single elements."""
    _check_p(p, "dropout2d")
    x = as_tensor(input)
    if x.ndim < 2:
        raise RuntimeError("dropout2d: Feature dropout requires at least 2 dimensions in the input")
    if x.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {x.ndim}-D input to dropout2d, which PyTorch deprecates; "
                      "use dropout instead (dropout2d is channel-wise dropout for 3D or 4D inputs)", stacklevel=2)
    elif x.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), as PyTorch does; "
                      "use dropout1d to keep this behavior", stacklevel=2)
    return _feature_dropout(x, p, training, True, "dropout2d", rng if generator is None else generator)


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False, *,  # noqa: A002
              generator=None) -> Tensor:
    """Channel dropout for (N, C, D, H, W) or (C, D, H, W): zero whole channels with probability p, scaling
    the kept ones by 1/(1-p)."""
    _check_p(p, "dropout3d")
    x = as_tensor(input)
    if x.ndim not in (4, 5):
        warnings.warn(f"dropout3d: Received a {x.ndim}-D input to dropout3d, which PyTorch deprecates; "
                      "use dropout instead (dropout3d is channel-wise dropout for 4D or 5D inputs)", stacklevel=2)
    return _feature_dropout(x, p, training, x.ndim == 5, "dropout3d", generator)


_SELU_SATURATION = 1.7580993408473766   # -alpha' = SELU's scale * alpha: minus the value SELU tends to at -inf


def _alpha_masked(x: Tensor, p: float, training: bool, feature: bool, op: str) -> Tensor:
    """PyTorch's alpha dropout: each dropped element (each dropped channel of (N, C, *), ``feature``) set to
    SELU's saturation value alpha' = -1.7581, then everything scaled by a = ((1 - p)(1 + p alpha'^2))^-1/2 and
    shifted by b = -a alpha' p, which keeps zero mean and unit variance; the gradient is a where kept.
    p = 1 gives the input times 0, as PyTorch."""
    if not training or p == 0 or x._data.size == 0:
        return x
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: result type Float can't be cast to the desired output type "
                           f"{dtypes.type_name(x._data.dtype)}")
    if p == 1:
        return _masked(x, 1, True, None, None)
    if feature and x.ndim < 2:
        raise RuntimeError(f"{op}: Feature dropout requires at least 2 dimensions in the input")
    shape = x.shape[:2] + (1,) * (x.ndim - 2) if feature else x.shape
    dt = x._data.dtype
    keep = Tensor._make(dropout_mask(None, shape, p, dt), False, None) != 0  # dropout's draw, which a
    a = 1 / math.sqrt((_SELU_SATURATION ** 2 * p + 1) * (1 - p))          # compiled step repeats
    b = _SELU_SATURATION * a * p
    return ops.where(keep, x * a + b, make(np.asarray(b - _SELU_SATURATION * a, dt)))


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:  # noqa: A002
    """Dropout for self-normalising (SELU) networks: in training, each element is dropped with probability p
    to SELU's saturation value -1.7581, and the result scaled and shifted so that an input of zero mean
    and unit variance keeps them; the identity otherwise (PyTorch's default ``training=False``). The mask
    is drawn from chainrule's default stream; ``inplace`` is accepted and computed out of place.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.alpha_dropout(cr.ones(3), 0.2).tolist()
        [1.0, 1.0, 1.0]
    """
    _check_p(p, "alpha_dropout")
    return _alpha_masked(as_tensor(input), p, training, False, "alpha_dropout")


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:  # noqa: A002
    """:func:`alpha_dropout` of whole channels: one draw per (sample, channel) of (N, C, *), as PyTorch
    (which reads any input of 2 or more dimensions as batched)."""
    _check_p(p, "feature_alpha_dropout")
    return _alpha_masked(as_tensor(input), p, training, True, "feature_alpha_dropout")
