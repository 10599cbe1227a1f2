"""Losses of likelihoods and regressions: ``cross_entropy``, ``nll_loss``, ``binary_cross_entropy``
(with logits), ``mse_loss``, ``l1_loss``, ``smooth_l1_loss``, ``huber_loss``, ``kl_div``,
``poisson_nll_loss``, ``gaussian_nll_loss``, the lecture's ``l2_penalty``, and the ``reduction``
helpers every loss shares.

Losses take raw scores (logits) of shape (N, C) and integer class labels of shape (N,). Those
without a rule of their own are composed from differentiable ops, written as PyTorch computes
them: the same clamps, epsilons and masks, so values and gradients agree.
"""
from __future__ import annotations

import warnings

import numpy as np

from chainrule import ops
from chainrule.core import make, no_grad
from chainrule.ops.convert import as_tensor, floats, promote
from chainrule.rules.loss import NLL, BCEWithLogits, BinaryCrossEntropy, CrossEntropy
from chainrule.tensor import Tensor
from chainrule.nn.functional.activation import logsigmoid


_REDUCTIONS = ("mean", "sum", "none")


def _legacy(size_average, reduce, reduction: str, op: str) -> str:
    """PyTorch's deprecated size_average/reduce flags, turned into a reduction."""
    if size_average is not None or reduce is not None:
        if reduce is False:
            return "none"
        return "sum" if size_average is False else "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _labels(target, t: np.ndarray):
    """The labels as an int64 tensor input of a loss rule: ``target`` itself when it already is one
    (so that changing it in place before backward raises), a cast of it (an op) when it is another
    integer tensor, else a new tensor of ``t``."""
    if isinstance(target, Tensor) and target._data.dtype.kind in "iu":
        return target if target._data.dtype == np.int64 else target.long()
    return make(t.astype(np.int64))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,  # noqa: A002
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy (softmax + negative log-likelihood, fused and numerically stable).

    Args:
        input (Tensor): raw class scores (logits), shape (N, C), (C,) or (N, C, d1, ...).
        target (Tensor or array): integer labels in [0, C) of shape (N,) (or (), or (N, d1, ...)),
            or class probabilities of the input's shape.
        weight (Tensor, None): a weight per class, shape (C,).
        ignore_index (int, -100): labels equal to it add nothing, to the loss or to the mean's count.
        reduction (str, "mean"): "mean" (PyTorch's weighted mean: divided by the summed weights of
            the kept labels), "sum", or "none" (per-sample losses).
        label_smoothing (float, 0.0): mix the one-hot target with the uniform distribution.

    Example:
        >>> import chainrule as cr
        >>> s = cr.tensor([[3.2, 5.1, -1.7]])
        >>> round(cr.nn.functional.cross_entropy(s, [0]).item(), 4)
        2.0404
    """
    reduction = _legacy(size_average, reduce, reduction, "cross_entropy")
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if weight is None and isinstance(input, Tensor) and input._data.ndim == 2:  # the plain case, fused
        t = target._data if isinstance(target, Tensor) else np.asarray(target)
        if t.dtype.kind in "iu" and t.shape == input._data.shape[:1] and input._data.dtype.kind == "f":
            n, c = input._data.shape
            # an ignore_index that could be a label takes the general path even when no label is it: the
            # choice reads no label values (a compiled step keeps the path its trace took)
            if not n or (t.min() >= 0 and t.max() < c and not 0 <= ignore_index < c):
                return _reduce(CrossEntropy.apply(input, _labels(target, t),
                                                  label_smoothing=label_smoothing), reduction)
    x, t, out_shape = _as_rows(input, target, "cross_entropy")
    w = _class_weight(weight, x.shape[1], x._data.dtype, "cross_entropy")
    logp = ops.log_softmax(x, 1)
    c = x.shape[1]
    if t.dtype.kind == "f":  # class probabilities: -sum_c w_c q_c log p_c, the mean over rows
        q = t if not label_smoothing else t * (1 - label_smoothing) + label_smoothing / c
        wq = q if w is None else q * w
        loss = -(logp * make(wq.astype(x._data.dtype, copy=False))).sum(1)
        return _reduce(loss.reshape(out_shape), reduction)
    keep = _kept(t, ignore_index, c, "cross_entropy")
    labels, wt = _label_rows(target, t), _weight_tensor(weight, w)
    loss = _picked(logp, labels, wt, reduction, ignore_index, keep, out_shape)
    if not label_smoothing:
        return loss
    # PyTorch's: (1 - eps) nll + eps / C times -sum_c w_c logp_c of each kept row, its mean over the
    # kept rows' weights; ops on the labels (a comparison, where, index_select), so a step replays it
    kept = labels != ignore_index
    smooth = -(logp if wt is None else logp * wt).sum(1)
    smooth = ops.where(kept, smooth, 0.0)   # (where, not a product: an ignored row's gradient is 0)
    if reduction == "none":
        smooth = smooth.reshape(out_shape)
    elif reduction == "sum":
        smooth = smooth.sum()
    else:
        with no_grad():
            total = kept.sum() if wt is None else \
                ops.where(kept, ops.index_select(wt, 0, ops.where(kept, labels, 0)), 0.0).sum()
        smooth = smooth.sum() / total.to(smooth.dtype)
    return (1 - label_smoothing) * loss + smooth * (label_smoothing / c)


def _as_rows(input, target, op: str):
    """Scores as (rows, C) and targets as (rows,) labels (or (rows, C) probabilities), and the shape
    of the per-sample losses: (N,) for (N, C), () for (C,), (N, d1, ...) for (N, C, d1, ...)."""
    x = as_tensor(input)
    if x._data.dtype.kind != "f":
        raise TypeError(f"{op}: input must be float, got dtype {x.dtype}")
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have a class axis, got a 0-d tensor")
    if t.dtype.kind == "f":  # probabilities, one per class
        if t.shape != x.shape:
            raise ValueError(f"{op}: target must hold integer class labels (dtype int64), got dtype {t.dtype} "
                             f"of shape {t.shape}; a float target holds class probabilities and needs the "
                             f"input's shape {x.shape}")
        t = t.astype(x._data.dtype, copy=False)
    elif t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class labels (dtype int64) or float class "
                        f"probabilities, got dtype {t.dtype}")
    elif t.shape != (x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()):
        want = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
        raise ValueError(f"{op}: target must have shape {want} to match scores of shape {x.shape}, "
                         f"got shape {t.shape}")
    if x.ndim == 1:
        return x.reshape(1, -1), t.reshape((1, -1) if t.ndim else (1,)), ()
    out_shape = x.shape[:1] + x.shape[2:]
    if x.ndim > 2:  # (N, C, d1, ...) -> (N * d1 * ..., C)
        c = x.shape[1]
        x = x.permute(0, *range(2, x.ndim), 1).reshape(-1, c)
        t = np.moveaxis(t, 1, -1).reshape(-1, c) if t.dtype.kind == "f" else t.reshape(-1)
    return x, t, out_shape


def _class_weight(weight, c: int, dtype, op: str):
    if weight is None:
        return None
    w = weight._data if isinstance(weight, Tensor) else np.asarray(weight)
    if w.shape != (c,):
        raise ValueError(f"{op}: weight must have one entry per class, shape ({c},), got shape {w.shape}")
    return w.astype(dtype, copy=False)


def _kept(t: np.ndarray, ignore_index: int, c: int, op: str) -> np.ndarray:
    """Which labels are kept (not ignore_index), after checking that those are in [0, C)."""
    t = t.astype(np.int64, copy=False)
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bad.any():
        raise ValueError(f"{op}: target holds class {t[bad][0]}, outside the range [0, {c}) of {c} classes "
                         f"(and not ignore_index={ignore_index})")
    return keep


def _label_rows(target, t: np.ndarray):
    """:func:`_labels`, one per row of the scores as :func:`_as_rows` reshapes them (``t`` is already)."""
    labels = _labels(target, t)
    return labels if labels.ndim == 1 else labels.reshape(-1)


def _weight_tensor(weight, w):
    """The class weights as a tensor of the scores' dtype: the caller's own where it is one, else ``w``."""
    if w is None:
        return None
    return weight if isinstance(weight, Tensor) and weight._data.dtype == w.dtype else make(w)


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,  # noqa: A002
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target class, from log-probabilities (N, C) (or (C,), or
    (N, C, d1, ...)), with ``weight``, ``ignore_index`` and ``reduction`` as in :func:`cross_entropy`."""
    reduction = _legacy(size_average, reduce, reduction, "nll_loss")
    x, t, out_shape = _as_rows(input, target, "nll_loss")
    if t.dtype.kind == "f":
        raise TypeError(f"nll_loss: target must hold integer class labels (dtype int64), got dtype {t.dtype}")
    w = _class_weight(weight, x.shape[1], x._data.dtype, "nll_loss")
    keep = _kept(t, ignore_index, x.shape[1], "nll_loss")
    return _picked(x, _label_rows(target, t), _weight_tensor(weight, w), reduction, ignore_index, keep, out_shape)


def _picked(logp: Tensor, labels: Tensor, weight, reduction: str, ignore_index: int, keep: np.ndarray,
            out_shape) -> Tensor:
    """nll_loss of log-probabilities (rows, C): the NLL rule, with the class weights ``weight`` (a tensor
    or None), and ``ignore_index`` when a label can be it (one of the classes, or one of these labels:
    the choice reads no label value that a replay would skip, since a later batch's ignored label
    outside [0, C) fails the replay's check of the labels and runs eagerly)."""
    ignore = ignore_index if 0 <= ignore_index < logp.shape[1] or not keep.all() else None
    inputs = (logp, labels) if weight is None else (logp, labels, weight)
    out = NLL.apply(*inputs, mean=reduction == "mean", ignore_index=ignore)
    if reduction == "sum":
        return out.sum()
    return out.reshape(out_shape) if reduction == "none" and out.shape != out_shape else out


def _pair(input, target, op: str):  # noqa: A002
    a, b = promote(input, target)
    if a.shape != b.shape:
        raise ValueError(f"{op}: input shape {a.shape} and target shape {b.shape} differ (PyTorch would "
                         f"broadcast them with a warning; chainrule refuses)")
    return floats(a, b)


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error ``(input - target)^2``."""
    reduction = _legacy(size_average, reduce, reduction, "mse_loss")
    a, b = _pair(input, target, "mse_loss")
    d = a - b
    return _reduce(d * d, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error ``|input - target|`` (gradient 0 where they are equal)."""
    reduction = _legacy(size_average, reduce, reduction, "l1_loss")
    a, b = _pair(input, target, "l1_loss")
    return _reduce(ops.abs(a - b), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",  # noqa: A002
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, with d = input - target (beta = 0: L1)."""
    reduction = _legacy(size_average, reduce, reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    a, b = _pair(input, target, "smooth_l1_loss")
    d = a - b
    ad = ops.abs(d)
    if beta == 0:
        return _reduce(ad, reduction)
    return _reduce(ops.where(ad < beta, d * d * (0.5 / beta), ad - 0.5 * beta), reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:  # noqa: A002
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), with d = input - target."""
    reduction = _legacy(None, None, reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    a, b = _pair(input, target, "huber_loss")
    d = a - b
    ad = ops.abs(d)
    loss = ops.where(ad < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * as_tensor(weight, loss._data.dtype)
    return _reduce(loss, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) for probabilities p in [0, 1] (each log clamped at -100, as
    PyTorch does); ``weight`` scales each element. Prefer :func:`binary_cross_entropy_with_logits`."""
    reduction = _legacy(size_average, reduce, reduction, "binary_cross_entropy")
    p, y = _pair(input, target, "binary_cross_entropy")
    if p._data.size and (p._data.min() < 0 or p._data.max() > 1 or np.isnan(p._data).any()):
        raise ValueError("binary_cross_entropy: all elements of input should be between 0 and 1 "
                         "(apply sigmoid first, or use binary_cross_entropy_with_logits)")
    loss = BinaryCrossEntropy.apply(p, y)
    if weight is not None:
        loss = loss * as_tensor(weight, loss._data.dtype)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(logits, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """Binary cross-entropy on raw scores, stable for large |logits|; targets in [0, 1]."""
    reduction = _legacy(size_average, reduce, reduction, "binary_cross_entropy_with_logits")
    if weight is not None or pos_weight is not None:
        # -(pos_weight y log sigmoid(x) + (1 - y) log sigmoid(-x)), times weight; from primitives
        x, y = _pair(logits, target, "binary_cross_entropy_with_logits")
        pos = y if pos_weight is None else y * as_tensor(pos_weight, x._data.dtype)
        loss = -(pos * logsigmoid(x) + (1 - y) * logsigmoid(-x))
        return _reduce(loss if weight is None else loss * as_tensor(weight, x._data.dtype), reduction)
    x, y = promote(logits, target)
    if x.shape != y.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: logits shape {x.shape} and target shape "
                         f"{y.shape} differ")
    return _reduce(BCEWithLogits.apply(x, y), reduction)


def l2_penalty(model_or_params, weights_only: bool = True) -> Tensor:
    """The lecture's R(W) = sum of squared weights over every weight matrix.

    Biases and normalisation parameters (1-D) are left out unless ``weights_only=False``, so
    ``loss = data_loss + reg * l2_penalty(model)`` is L = (1/N) sum L_i + lambda R(W1) + lambda R(W2).
    (Some course code uses 0.5 * lambda * R(W); this is R(W) itself.)
    """
    params = model_or_params.parameters() if hasattr(model_or_params, "parameters") else model_or_params
    terms = [(p * p).sum() for p in params if not weights_only or p.ndim >= 2]
    if not terms:
        raise ValueError("l2_penalty: no weight matrices to penalise")
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean",  # noqa: A002
           log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence with ``input`` log-probabilities: target (log target - input), with
    0 log 0 = 0 (``log_target``: the target given as log-probabilities, e^t (t - input)).

    ``reduction`` "batchmean" (the KL divergence per sample: the sum divided by input.size(0)), "sum",
    "none", or "mean" (the mean over every element, with PyTorch's warning that it is not the KL
    divergence).
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy(size_average, reduce, reduction, "kl_div")
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    elif reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"kl_div: reduction must be one of {_REDUCTIONS + ('batchmean',)}, got {reduction!r}")
    x, t = floats(*promote(input, target))
    loss = ops.exp(t) * (t - x) if log_target else ops.xlogy(t, t) - t * x
    if reduction == "batchmean":
        return loss.sum() / x.shape[0] if x.ndim else loss.sum()
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False, size_average=None,  # noqa: A002
                     eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of a Poisson target: e^input - target input (``log_input``), else
    input - target log(input + eps); ``full`` adds Stirling's target log target - target +
    0.5 log(2 pi target) where target > 1."""
    reduction = _legacy(size_average, reduce, reduction, "poisson_nll_loss")
    x, t = floats(*promote(input, target))
    loss = ops.exp(x) - t * x if log_input else x - t * ops.log(x + eps)
    if full:
        stirling = t * ops.log(t) - t + 0.5 * ops.log(2 * np.pi * t)
        loss = loss + ops.where(t > 1, stirling, make(np.zeros((), x._data.dtype)))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,  # noqa: A002
                      reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of a Gaussian target: 0.5 (log var + (input - target)^2 / var) (+ 0.5 log 2 pi
    when ``full``). ``var`` has the input's shape, or one axis of size 1 (shared), or lacks the last
    axis, or is a float; it is clamped at ``eps`` without changing its gradient, as PyTorch does."""
    x, t = floats(*promote(input, target))
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        v = make(np.full(x.shape, var, x._data.dtype))
    else:
        v = as_tensor(var, x._data.dtype)
        if (v._data < 0).any():
            raise ValueError("var has negative entry/entries")
    if v.shape != x.shape:
        if x.shape[:-1] == v.shape:
            v = v.unsqueeze(-1)
        elif not (x.ndim == v.ndim and sum(b for a, b in zip(x.shape, v.shape) if a != b) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    fixed = v.detach()   # clamped by ops (so chainrule.compile can replay it); the gradient reaches var as 1
    v = v + (ops.clamp(fixed, min=eps) - fixed)
    loss = 0.5 * (ops.log(v) + (x - t) ** 2 / v)
    if full:
        loss = loss + 0.5 * np.log(2 * np.pi)
    return _reduce(loss, reduction)
