"""Margin and embedding losses: the lecture's multiclass ``svm_loss``, ``multi_margin_loss``,
``multilabel_margin_loss``, ``soft_margin_loss``, ``multilabel_soft_margin_loss``, the triplet
losses, ``margin_ranking_loss``, ``hinge_embedding_loss`` and ``cosine_embedding_loss``.

Each but ``svm_loss`` is composed from differentiable ops (so its gradient needs no rule of its own),
written as PyTorch computes it: the same clamps, epsilons and masks, so values and gradients agree.
"""
from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.core import make, no_grad, shape_constant
from chainrule.ops.convert import as_tensor, float_input, floats, promote
from chainrule.rules.loss import MulticlassSVM
from chainrule.tensor import Tensor
from chainrule.nn.functional.activation import logsigmoid
from chainrule.nn.functional.distance import pairwise_distance
from chainrule.nn.functional.loss import _class_weight, _labels, _legacy, _reduce, _REDUCTIONS, _weight_tensor


def _check_classification(scores, target, op: str, reduction: str):
    """Validate (N, C) scores and (N,) integer labels in [0, C); return them as tensor and array."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    scores = as_tensor(scores)
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if scores.ndim != 2:
        raise ValueError(f"{op}: expected scores of shape (N, C), got shape {scores.shape}")
    if scores._data.dtype.kind != "f":
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
    return _reduce(MulticlassSVM.apply(scores, _labels(target, t), margin=margin), reduction)


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None,  # noqa: A002
                      size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """PyTorch's multiclass hinge loss: L_i = sum_{j != y_i} w_{y_i} max(0, margin - x_{y_i} + x_j)^p / C.

    This is the lecture's multiclass SVM loss (:func:`svm_loss`) divided by the number of classes C
    (p=1, no weight). ``input`` (N, C) or (C,), ``target`` (N,) or () class labels; ``weight`` (C,)
    scales each sample's terms by its class's weight (and gets no gradient, as in PyTorch).
    """
    reduction = _legacy(size_average, reduce, reduction, "multi_margin_loss")
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 supported, got p={p}")
    x = float_input(input)
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if x.ndim not in (1, 2) or x._data.size == 0:
        raise ValueError(f"multi_margin_loss: expected a non-empty (C,) or (N, C) input, got shape {x.shape}")
    rows = x if x.ndim == 2 else x.reshape(1, -1)
    n, c = rows.shape
    if t.dtype.kind not in "iu" or t.size != n or t.ndim != x.ndim - 1:
        raise ValueError(f"multi_margin_loss: target must hold {n} integer class labels of shape {x.shape[:-1]}, "
                         f"got dtype {t.dtype} and shape {t.shape}")
    if n and (t.min() < 0 or t.max() >= c):
        raise IndexError(f"multi_margin_loss: target holds class {t[(t < 0) | (t >= c)][0]}, outside [0, {c})")
    # ops on the labels (gather, a comparison, index_select), not arrays made from them: a compiled
    # step replays the loss on each call's labels (and checks them again)
    labels = _labels(target, t).reshape(n, 1)
    dtype = x._data.dtype
    others = labels != make(shape_constant(np.arange(c)))  # (N, C): the target's own column adds nothing
    wt = _weight_tensor(weight, _class_weight(weight, c, dtype, "multi_margin_loss"))
    if wt is not None:
        with no_grad():   # the weights get no gradient, as in PyTorch
            picked = ops.index_select(wt, 0, labels.reshape(n)).unsqueeze(1)
        others = others * picked
    z = margin - ops.gather(rows, 1, labels) + rows  # (N, C)
    h = ops.relu(z) if p == 1 else ops.relu(z) ** 2  # the kernel's z > 0: no gradient at z == 0
    loss = (h * others).sum(1) / c
    return _reduce(loss if x.ndim == 2 else loss.reshape(()), reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:  # noqa: A002
    """PyTorch's multi-label hinge loss: for each sample, the sum over its target classes j and its other
    classes i of max(0, 1 - (x_j - x_i)), divided by the number of classes C.

    ``target`` (integers, the input's shape) lists each sample's target classes first, ended by -1
    (entries after the first -1 are ignored but must still be in [-1, C)); a class listed twice counts
    twice, as in PyTorch. Input (C,) or (N, C) (a 0-d input is one class); no gradient at the hinge.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[0.1, 0.2, 0.4, 0.8]])
        >>> round(cr.nn.functional.multilabel_margin_loss(x, cr.tensor([[3, 0, -1, 1]])).item(), 4)
        0.85
    """
    reduction = _legacy(size_average, reduce, reduction, "multilabel_margin_loss")
    x = float_input(input)
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if x.ndim > 2 or (x.ndim and x.shape[-1] == 0):
        raise RuntimeError(f"multilabel_margin_loss: Expected non-empty vector or matrix with optional 0-dim batch "
                           f"size, but got: {list(x.shape)}")
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"multilabel_margin_loss: expected target of integer class indices (int64), got "
                           f"dtype {t.dtype}")
    rows = x.reshape(-1, x.shape[-1] if x.ndim else 1)
    n, c = rows.shape
    if t.shape != x.shape and not (x.ndim == 0 and t.size == 1 and t.ndim <= 1):
        raise RuntimeError(f"multilabel_margin_loss: inconsistent target size: {list(t.shape)} for input of "
                           f"size: {list(x.shape)}")
    if t.size and (t.min() < -1 or t.max() >= c):
        raise RuntimeError(f"multilabel_margin_loss: target holds {t[(t < -1) | (t >= c)][0]}, outside [-1, {c}) "
                           f"(class indices, or -1 to end the list)")
    labels = _labels(target, t).reshape(n, c)
    dt = x._data.dtype
    # by ops on the labels, so that a compiled step replays them: the gather from x with a column in front
    # for -1 checks the labels' range again at every replay (kernels.guard)
    padded = ops.cat([make(shape_constant(np.zeros((n, 1), dt))), rows], 1)  # (N, 1 + C)
    x_target = ops.gather(padded, 1, labels + 1)  # (N, C): x of the j-th listed class
    with no_grad():
        listed = ops.cumprod(labels >= 0, 1) != 0  # (N, C): j comes before the first -1
        hits = (labels.unsqueeze(2) == make(shape_constant(np.arange(c)))) & listed.unsqueeze(2)  # (N, Cj, Ci)
        pairs = listed.unsqueeze(2) & (hits.sum(1) == 0).unsqueeze(1)  # j listed, i not a target: (N, Cj, Ci)
    z = (1 - x_target.unsqueeze(2)) + rows.unsqueeze(1)  # (N, Cj, Ci): PyTorch's 1 - x_j + x_i
    loss = ops.where(pairs, ops.relu(z), make(np.zeros((), dt))).sum((1, 2)) / c
    return _reduce(loss if x.ndim == 2 else loss.reshape(()), reduction)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with d the :func:`pairwise_distance`; ``swap`` takes
    d(a, n) = min(d(a, n), d(p, n)). Inputs (N, D) or (D,)."""
    reduction = _legacy(size_average, reduce, reduction, "triplet_margin_loss")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, pos, neg = (as_tensor(v) for v in (anchor, positive, negative))
    if not a.ndim == pos.ndim == neg.ndim or a.ndim not in (1, 2):
        raise RuntimeError(f"triplet_margin_loss: anchor, positive and negative must all be 1-d or 2-d, got "
                           f"shapes {a.shape}, {pos.shape} and {neg.shape}")
    d_pos = pairwise_distance(a, pos, p, eps)
    d_neg = pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = ops.minimum(d_neg, pairwise_distance(pos, neg, p, eps))
    return _reduce(ops.clamp_min(margin + d_pos - d_neg, 0), reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with ``distance_function`` d (None: :func:`pairwise_distance`),
    any callable of two tensors giving a tensor; ``swap`` takes d(a, n) = min(d(a, n), d(p, n)). The
    inputs need the same number of dimensions; the loss has the distances' shape before ``reduction``."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, pos, neg = (as_tensor(v) for v in (anchor, positive, negative))
    if not a.ndim == pos.ndim == neg.ndim:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {a.ndim}D, positive {pos.ndim}D, and negative {neg.ndim}D "
                           f"inputs")
    d = pairwise_distance if distance_function is None else distance_function
    d_pos, d_neg = d(a, pos), d(a, neg)
    if swap:
        d_neg = ops.minimum(d_neg, d(pos, neg))
    return _reduce(ops.clamp_min(margin + d_pos - d_neg, 0), reduction)


def margin_ranking_loss(input1, input2, target, margin: float = 0, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """max(0, -target (input1 - input2) + margin), target 1 (input1 should rank higher) or -1."""
    reduction = _legacy(size_average, reduce, reduction, "margin_ranking_loss")
    a, b, y = floats(*promote(input1, input2, target))
    if not a.ndim == b.ndim == y.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {a.shape}, input2: {b.shape}, target: {y.shape} ")
    return _reduce(ops.clamp_min(-y * (a - b) + margin, 0), reduction)


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """x where target is 1, max(0, margin - x) where target is -1 (target gets no gradient)."""
    reduction = _legacy(size_average, reduce, reduction, "hinge_embedding_loss")
    x = float_input(input)
    y = as_tensor(target)   # its masks as comparisons: ops, which a compiled step replays
    zero = make(np.zeros((), x._data.dtype))
    loss = ops.where(y != 1, ops.clamp_min(margin - x, 0), zero) + ops.where(y != -1, x, zero)
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:  # noqa: A002
    """log(1 + e^(-target input)), the logistic loss for targets 1 and -1."""
    reduction = _legacy(size_average, reduce, reduction, "soft_margin_loss")
    if isinstance(target, Tensor) and target.requires_grad:
        raise RuntimeError("The function 'soft_margin_loss' is not differentiable with respect to argument "
                           "'target'. This input cannot have requires_grad True.")
    x, y = floats(*promote(input, target))
    return _reduce(ops.softplus(-x * y), reduction)


def cosine_embedding_loss(input1, input2, target, margin: float = 0, size_average=None, reduce=None,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1; inputs (N, D)
    with target (N,), or (D,) with target (); cos with 1e-12 added to each squared norm, as PyTorch."""
    reduction = _legacy(size_average, reduce, reduction, "cosine_embedding_loss")
    a, b = floats(*promote(input1, input2))
    y = as_tensor(target)   # its masks as comparisons: ops, which a compiled step replays
    if a.ndim != b.ndim or a.ndim != y.ndim + 1 or a.ndim not in (1, 2):
        raise RuntimeError(f"cosine_embedding_loss: expected inputs (N, D) with target (N,), or (D,) with "
                           f"target (), got {a.shape}, {b.shape} and {y.shape}")
    dim = y.ndim
    cos = (a * b).sum(dim) / ops.sqrt(((a * a).sum(dim) + 1e-12) * ((b * b).sum(dim) + 1e-12))
    zero = make(np.zeros((), a._data.dtype))
    loss = ops.where(y == 1, 1 - cos, zero) + ops.where(y == -1, ops.clamp_min(cos - margin, 0), zero)
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on logits for each of C labels, averaged over the labels (the last axis):
    -(y log sigmoid(x) + (1 - y) log sigmoid(-x)), each label scaled by ``weight`` (C,)."""
    reduction = _legacy(size_average, reduce, reduction, "multilabel_soft_margin_loss")
    x, y = floats(*promote(input, target))
    loss = -(y * logsigmoid(x) + (1 - y) * logsigmoid(-x))
    if weight is not None:
        loss = loss * as_tensor(weight, x._data.dtype)
    return _reduce(loss.sum(x.ndim - 1) / x.shape[-1], reduction)
