"""Activation functions (``F.relu``, ``F.gelu``, ``F.softmax``...), their in-place forms (``F.relu_``...)
and ``gumbel_softmax``; most call an op of :mod:`chainrule.ops`, the rest are composed from ops.
"""
from __future__ import annotations

import warnings

import numpy as np

from chainrule import creation, dtypes, ops
from chainrule.core import ShapeError, make, no_grad, shape_constant
from chainrule.ops import inplace as _inplace
from chainrule.ops.convert import as_tensor, float_input
from chainrule.rules.elementwise import Hardtanh, LogSigmoid
from chainrule.tensor import Tensor


def relu(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, x); ``inplace`` is accepted and computed out of place (docs/pytorch.md)."""
    return ops.relu(input)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """x if x > 0 else negative_slope * x."""
    return ops.leaky_relu(input, negative_slope)


def _check_rrelu_bounds(lower: float, upper: float) -> None:
    if lower > upper:
        raise ShapeError("Lower bound should be less than or equal to the upper bound")


def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,  # noqa: A002
          inplace: bool = False, *, generator=None) -> Tensor:
    """Randomized leaky ReLU: x where x > 0. In training, a x where x <= 0 with a slope a drawn uniformly
    in [lower, upper] for each element (from ``generator``, torch.rrelu's keyword, or chainrule's default
    stream), the gradient a; otherwise (PyTorch's default, ``training=False``) the leaky ReLU of slope
    (lower + upper) / 2. ``inplace`` is accepted and computed out of place (docs/pytorch.md).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.rrelu(cr.tensor([-3.0, 2.0]), 0.1, 0.3).tolist()
        [-0.6000000238418579, 2.0]
    """
    _check_rrelu_bounds(lower, upper)
    x = float_input(input)
    if not training:
        return ops.leaky_relu(x, (lower + upper) / 2)
    # the slopes from rand_like (a draw a compiled step repeats), kept where x <= 0 by ops on x
    draw = creation.rand_like(x, dtype=np.float64, generator=generator)
    slope = ops.where(x <= 0, lower + (upper - lower) * draw, 1.0)
    return x * slope.to(x.dtype)


sigmoid = ops.sigmoid


tanh = ops.tanh


def elu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    return ops.elu(input, alpha)


gelu = ops.gelu


def softplus(input, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's linear region)."""
    x = float_input(input)
    bx = x * beta if beta != 1 else x
    soft = ops.softplus(bx) / beta if beta != 1 else ops.softplus(bx)
    return ops.where(bx > threshold, x, soft)


def mish(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """x tanh(softplus(x)) (``inplace`` is accepted and computed out of place)."""
    x = float_input(input)
    return x * ops.tanh(ops.softplus(x))


def _softmax_dim(x: Tensor, dim, axis, op: str) -> int:
    if dim is None:
        dim = axis
    if dim is None:  # PyTorch's implicit choice (deprecated there): 0 for 0-, 1- and 3-d input, else 1
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return dim


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None, *, axis=None) -> Tensor:  # noqa: A002
    """Softmax along ``dim`` (each slice sums to 1); ``dtype`` casts the input first.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.softmax(cr.tensor([[0.0, 0.0]]), dim=1).tolist()
        [[0.5, 0.5]]
    """
    x = as_tensor(input, None if dtype is None else dtypes.as_dtype(dtype))
    return ops.softmax(x, _softmax_dim(x, dim, axis, "softmax"))


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None, *, axis=None) -> Tensor:  # noqa: A002
    """Log of the softmax along ``dim``, computed without overflow; ``dtype`` casts the input first."""
    x = as_tensor(input, None if dtype is None else dtypes.as_dtype(dtype))
    return ops.log_softmax(x, _softmax_dim(x, dim, axis, "log_softmax"))


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """x limited to [min_val, max_val]; gradient 1 strictly inside, 0 at and beyond the bounds."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    return Hardtanh.apply(as_tensor(input), lo=min_val, hi=max_val)


def relu6(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """min(max(0, x), 6) (hardtanh from 0 to 6)."""
    return Hardtanh.apply(as_tensor(input), lo=0.0, hi=6.0)


def logsigmoid(input) -> Tensor:  # noqa: A002
    """log(sigmoid(x)), stable for large |x|; gradient sigmoid(-x)."""
    return LogSigmoid.apply(float_input(input))


def silu(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * sigmoid(x) (also called swish); from primitives, so its gradient needs no rule."""
    x = as_tensor(input)
    return x * ops.sigmoid(x)


def prelu(input, weight) -> Tensor:  # noqa: A002
    """x where x > 0, else weight x, with one learned slope (weight of one element) or one per channel
    (axis 1: a 0- or 1-d input has one channel)."""
    x = float_input(input)
    w = as_tensor(weight, x._data.dtype)
    channels = x.shape[1] if x.ndim >= 2 else 1
    if w.numel() != 1 and (w.ndim != 1 or w.shape[0] != channels):
        raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                           f"{w.numel()} and channel size = {channels}.")
    w = w.reshape((-1,) + (1,) * (x.ndim - 2)) if x.ndim >= 2 else w.reshape(())
    return ops.where(x > 0, x, w * x)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """scale * elu(x, alpha) with the self-normalising constants alpha ~ 1.6733, scale ~ 1.0507."""
    return _SELU_SCALE * ops.elu(input, _SELU_ALPHA)


def _check_celu_alpha(alpha: float) -> None:
    if alpha == 0:  # PyTorch's RuntimeError, in its words
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")


def celu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1)): alpha * elu(x / alpha)."""
    _check_celu_alpha(alpha)
    x = float_input(input)
    return alpha * ops.elu(x / alpha) if alpha != 1 else ops.elu(x)


def glu(input, dim: int = -1) -> Tensor:  # noqa: A002
    """The gated linear unit: a * sigmoid(b), with a and b the two halves of ``input`` along ``dim``."""
    x = float_input(input)
    if x.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    if x.shape[dim] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % x.ndim} is size {x.shape[dim]}")
    a, b = x.chunk(2, dim)
    return a * ops.sigmoid(b)


def hardswish(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """x relu6(x + 3) / 6; gradient (2x + 3) / 6 inside (-3, 3), and PyTorch's 0 at -3 and 1 at 3 (relu6's
    gradient is 0 at its bounds). Its masks are made inside the Hardtanh rule, so a compiled step
    replays them."""
    x = float_input(input)
    return x * Hardtanh.apply(x + 3, lo=0.0, hi=6.0) / 6


def hardsigmoid(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """relu6(x + 3) / 6: gradient 1/6 strictly inside (-3, 3), 0 elsewhere."""
    return Hardtanh.apply(float_input(input) + 3, lo=0.0, hi=6.0) / 6


def softsign(input) -> Tensor:  # noqa: A002
    """x / (1 + |x|)."""
    x = float_input(input)
    return x / (1 + ops.abs(x))


def tanhshrink(input) -> Tensor:  # noqa: A002
    """x - tanh(x)."""
    x = float_input(input)
    return x - ops.tanh(x)


def _check_lambd(lambd: float, op: str) -> None:
    if lambd < 0:
        raise RuntimeError(f"{op}: lambda must be greater or equal to 0, but found to be {lambd}.")


def softshrink(input, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """x - lambd above lambd, x + lambd below -lambd, 0 between (gradient 0 on [-lambd, lambd])."""
    _check_lambd(lambd, "softshrink")
    x = float_input(input)
    return x - ops.clip(x, -lambd, lambd)  # clip's gradient is 1 on [-lambd, lambd], bounds included


def hardshrink(input, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """x where |x| > lambd, else 0."""
    x = float_input(input)
    with no_grad():  # the mask, an op outside the graph (a compiled step replays it)
        keep = ops.abs(x) > lambd
    return ops.where(keep, x, make(np.zeros((), x._data.dtype)))


def threshold(input, threshold: float, value: float, inplace: bool = False) -> Tensor:  # noqa: A002
    """x where x > threshold, else ``value`` (gradient only where x > threshold)."""
    return _thresholded(input, threshold, value)


def _thresholded(input, threshold: float, value: float) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    return ops.where(x > threshold, x, make(np.asarray(value, x._data.dtype)))


# ----------------------------------------------------------------------------- in-place activations
# F.relu_, F.elu_, ...: the tensor's own array overwritten by the activation through ops.inplace.apply_,
# as Tensor.relu_ does: its version goes up, a leaf that requires grad refuses, and outside no_grad the
# op is recorded in the tensor's place (a node that saved the old value raises at backward)
def _activation_(input, op: str, fn) -> Tensor:  # noqa: A002
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    return _inplace.apply_(input, op, fn)


def relu_(input) -> Tensor:  # noqa: A002
    """:func:`relu` in place: ``input`` overwritten by max(0, input), and returned."""
    return _activation_(input, "relu_", ops.relu)


def elu_(input, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """:func:`elu` in place."""
    return _activation_(input, "elu_", lambda x: ops.elu(x, alpha))


def leaky_relu_(input, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """:func:`leaky_relu` in place."""
    return _activation_(input, "leaky_relu_", lambda x: ops.leaky_relu(x, negative_slope))


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    """:func:`hardtanh` in place."""
    if min_val > max_val:
        raise ValueError(f"hardtanh_: min_val ({min_val}) must not exceed max_val ({max_val})")
    return _activation_(input, "hardtanh_", lambda x: hardtanh(x, min_val, max_val))


def selu_(input) -> Tensor:  # noqa: A002
    """:func:`selu` in place."""
    return _activation_(input, "selu_", selu)


def celu_(input, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """:func:`celu` in place (alpha = 0 refused after the leaf check, as PyTorch)."""
    return _activation_(input, "celu_", lambda x: celu(x, alpha))


def threshold_(input, threshold: float, value: float) -> Tensor:  # noqa: A002
    """:func:`threshold` in place: x where x > threshold, else ``value``."""
    return _activation_(input, "threshold_", lambda x: _thresholded(x, threshold, value))


def rrelu_(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,  # noqa: A002
           generator=None) -> Tensor:
    """:func:`rrelu` in place (in training, its slopes drawn from ``generator`` or chainrule's default
    stream; ``generator`` is torch.rrelu_'s fifth argument, which torch's F.rrelu_ lacks)."""
    _check_rrelu_bounds(lower, upper)
    return _activation_(input, "rrelu_", lambda x: rrelu(x, lower, upper, training, generator=generator))


def softmin(input, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:  # noqa: A002
    """softmax(-x) along ``dim`` (PyTorch's implicit dim when None); ``dtype`` casts the input first."""
    x = as_tensor(input, None if dtype is None else dtypes.as_dtype(dtype))
    return ops.softmax(-x, _softmax_dim(x, dim, None, "softmin"))


def gumbel_softmax(logits, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """A sample of the Gumbel-softmax (Concrete) distribution: softmax((logits + g) / tau) along ``dim``,
    g = -log(-log(u)) standard Gumbel noise with u uniform in [0, 1) drawn in float64 by ``rand_like``
    from chainrule's default stream (which a compiled step draws afresh). ``hard=True`` gives the one-hot
    of each sample's largest entry with the soft sample's gradient (straight through: y_hard -
    y_soft.detach() + y_soft). ``eps`` is deprecated and unused, as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> y = cr.nn.functional.gumbel_softmax(cr.zeros(2, 3), hard=True)
        >>> y.sum(-1).tolist()
        [1.0, 1.0]
    """
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    x = float_input(logits)
    u = creation.rand_like(x, dtype=np.float64)
    g = -ops.log(-ops.log(u))  # ops on the draw, so that a compiled step repeats them on a fresh one
    y_soft = ops.softmax((x + as_tensor(g, x._data.dtype)) / tau, dim)
    if not hard:
        return y_soft
    index = ops.argmax(y_soft, dim, keepdim=True)
    y_hard = ops.scatter(make(shape_constant(np.zeros(x.shape, x._data.dtype))), dim, index, value=1.0)
    return y_hard - y_soft.detach() + y_soft
