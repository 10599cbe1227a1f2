"""Functional forms of layers and losses (``chainrule.nn.functional``, PyTorch's names).

Losses take raw scores (logits) of shape (N, C) and integer class labels of shape (N,).
"""
from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.ops.convert import as_tensor, promote
from chainrule.ops.nn import BCEWithLogits, CrossEntropy, Linear, MulticlassSVM
from chainrule.random import resolve
from chainrule.tensor import Tensor

relu = ops.relu
leaky_relu = ops.leaky_relu
sigmoid = ops.sigmoid
tanh = ops.tanh
elu = ops.elu
gelu = ops.gelu
softplus = ops.softplus
softmax = ops.softmax
log_softmax = ops.log_softmax

_REDUCTIONS = ("mean", "sum", "none")


def linear(x, weight, bias=None) -> Tensor:
    """y = x W^T + b, one fused node. Shape: (N, in) with W (out, in) -> (N, out); extra leading
    axes of x are kept."""
    if isinstance(x, Tensor) and x.data.ndim == 2 and x.data.shape[1] == weight.data.shape[1] and \
            x.data.dtype is weight.data.dtype:  # the common case, checked in one go
        return Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)
    x = as_tensor(x)
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape "
                         f"{weight.shape} (expected the last axis to be {weight.shape[1]})")
    if x.data.dtype != weight.data.dtype:
        x = as_tensor(x, weight.data.dtype)
    lead = x.shape[:-1]
    if x.ndim != 2:
        x = x.reshape(-1, x.shape[-1])
    y = Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)
    return y if len(lead) == 1 else y.reshape(*lead, weight.shape[0])


def dropout(x, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p)."""
    if not 0 <= p < 1:
        if p == 1 and training:
            return x * 0.0
        if not 0 <= p <= 1:
            raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    keep = (resolve(rng).random(x.shape) >= p).astype(x.dtype) / (1 - p)
    return x * Tensor._make(keep, False, None)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_classification(scores, target, op: str, reduction: str):
    """Validate (N, C) scores and (N,) integer labels in [0, C); return them as tensor and array."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    scores = as_tensor(scores)
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if scores.ndim != 2:
        raise ValueError(f"{op}: expected scores of shape (N, C), got shape {scores.shape}")
    if scores.data.dtype.kind != "f":
        raise TypeError(f"{op}: scores must be float, got dtype {scores.dtype}")
    n, c = scores.shape
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class labels (dtype int64), got dtype {t.dtype}; "
                        f"convert with .astype(int) if the values are whole numbers")
    if t.shape != (n,):
        raise ValueError(f"{op}: target must have shape ({n},) to match scores of shape {scores.shape}, "
                         f"got shape {t.shape}")
    if n and (t.min() < 0 or t.max() >= c):
        bad = t[(t < 0) | (t >= c)][0]
        raise ValueError(f"{op}: target holds class {bad}, outside the range [0, {c}) of {c} classes "
                         f"(received labels in [{t.min()}, {t.max()}])")
    return scores, t.astype(np.int64, copy=False)


def cross_entropy(logits, target, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy (softmax + negative log-likelihood, fused and numerically stable).

    Args:
        logits (Tensor): raw class scores, shape (N, C).
        target (Tensor or array): integer labels, shape (N,), values in [0, C).
        reduction (str, "mean"): "mean" over the batch, "sum", or "none" (per-sample losses).
        label_smoothing (float, 0.0): mix the one-hot target with the uniform distribution.

    Example:
        >>> import chainrule as cr
        >>> s = cr.tensor([[3.2, 5.1, -1.7]])
        >>> round(cr.nn.functional.cross_entropy(s, [0]).item(), 4)
        2.0404
    """
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    logits, t = _check_classification(logits, target, "cross_entropy", reduction)
    return _reduce(CrossEntropy.apply(logits, target=t, label_smoothing=label_smoothing), reduction)


def svm_loss(scores, target, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """The lecture's multiclass SVM (hinge) loss: L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin),
    averaged over the batch. (PyTorch's multi_margin_loss also divides by C; this does not.)

    Example:
        >>> import chainrule as cr
        >>> s = cr.tensor([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
        >>> round(cr.nn.functional.svm_loss(s, [0, 1, 2]).item(), 2)   # the lecture's cat/car/frog
        5.27
    """
    scores, t = _check_classification(scores, target, "svm_loss", reduction)
    return _reduce(MulticlassSVM.apply(scores, target=t, margin=margin), reduction)


def nll_loss(log_probs, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target class, from log-probabilities (N, C)."""
    log_probs, t = _check_classification(log_probs, target, "nll_loss", reduction)
    return _reduce(-log_probs[np.arange(len(t)), t], reduction)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error ``(input - target)^2``."""
    a, b = promote(input, target)
    if a.shape != b.shape:
        raise ValueError(f"mse_loss: input shape {a.shape} and target shape {b.shape} differ")
    d = a - b
    return _reduce(d * d, reduction)


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on raw scores, stable for large |logits|; targets in [0, 1]."""
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
