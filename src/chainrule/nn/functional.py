"""Functional forms of layers and losses (``chainrule.nn.functional``, PyTorch's names).

Losses take raw scores (logits) of shape (N, C) and integer class labels of shape (N,).
"""
from __future__ import annotations

import numpy as np

from chainrule import dtypes, ops
from chainrule.core import make
from chainrule.ops.convert import as_tensor, float_input, floats, promote
from chainrule.rules.attention import ScaledDotProductAttention
from chainrule.rules.elementwise import Hardtanh, LogSigmoid
from chainrule.rules.linalg import Linear
from chainrule.rules.loss import BCEWithLogits, BinaryCrossEntropy, CrossEntropy, MulticlassSVM
from chainrule.random import resolve
from chainrule.tensor import Tensor



def relu(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, x); ``inplace`` is accepted and computed out of place (docs/pytorch.md)."""
    return ops.relu(input)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """x if x > 0 else negative_slope * x."""
    return ops.leaky_relu(input, negative_slope)


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


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """The cosine of the angle between x1 and x2 along ``dim`` (broadcast first): each divided by
    its 2-norm clamped at ``eps``, then their dot product, as PyTorch computes it."""
    a, b = promote(x1, x2)
    a, b = floats(a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = a.expand(*shape), b.expand(*shape)
    na = ops.clip(ops.norm(a, 2, dim, keepdim=True), min=eps)
    nb = ops.clip(ops.norm(b, 2, dim, keepdim=True), min=eps)
    return ((a / na) * (b / nb)).sum(dim)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale=None, enable_gqa: bool = False,
                                 *, generator=None) -> Tensor:
    """softmax(Q K^T * scale + mask) V, one fused node with its own backward
    (:class:`~chainrule.rules.attention.ScaledDotProductAttention`).

    ``attn_mask``: a bool mask (True takes part) or a float mask added to the scores, broadcast to
    (..., L, S); ``is_causal`` masks the upper triangle (not with ``attn_mask``, as PyTorch);
    ``scale`` defaults to 1/sqrt(E); ``dropout_p`` drops attention weights (from ``generator``).
    """
    q, k, v = floats(*promote(query, key, value))
    if q.ndim < 2 or k.shape[-1] != q.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: query {q.shape}, key {k.shape} and value "
                           f"{v.shape} do not fit: need (..., L, E), (..., S, E), (..., S, Ev)")
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not supported in chainrule")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when "
                           "is_causal=True")
    if not 0 <= dropout_p < 1:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    L, S = q.shape[-2], k.shape[-2]
    extra, kind = [], None
    if is_causal:
        extra, kind = [make(np.tril(np.ones((L, S), bool)))], "bool"
    elif attn_mask is not None:
        m = attn_mask if isinstance(attn_mask, Tensor) else as_tensor(attn_mask)
        kind = "bool" if m._data.dtype == np.bool_ else "float"
        extra = [m if kind == "bool" else as_tensor(m, q._data.dtype)]
    if dropout_p:
        keep = resolve(generator).random(np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (L, S)) >= dropout_p
        extra.append(make((keep / (1 - dropout_p)).astype(q._data.dtype)))
    s = 1 / np.sqrt(q.shape[-1]) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(q, k, v, *extra, scale=s, mask=kind, dropout=bool(dropout_p))

_REDUCTIONS = ("mean", "sum", "none")


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


def _legacy(size_average, reduce, reduction: str, op: str) -> str:
    """PyTorch's deprecated size_average/reduce flags, turned into a reduction."""
    if size_average is not None or reduce is not None:
        if reduce is False:
            return "none"
        return "sum" if size_average is False else "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def linear(x, weight, bias=None) -> Tensor:
    """y = x W^T + b, one fused node. Shape: (N, in) with W (out, in) -> (N, out); extra leading
    axes of x are kept."""
    if isinstance(x, Tensor) and x._data.ndim == 2 and x._data.shape[1] == weight._data.shape[1] and \
            x._data.dtype is weight._data.dtype:  # the common case, checked in one go
        return Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)
    x = as_tensor(x)
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape "
                         f"{weight.shape} (expected the last axis to be {weight.shape[1]})")
    if x._data.dtype != weight._data.dtype:
        x = as_tensor(x, weight._data.dtype)
    lead = x.shape[:-1]
    if x.ndim != 2:
        x = x.reshape(-1, x.shape[-1])
    y = Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)
    return y if len(lead) == 1 else y.reshape(*lead, weight.shape[0])


def dropout(x, p: float = 0.5, training: bool = True, inplace: bool = False, *, rng=None,
            generator=None) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p)
    (``inplace`` is accepted and computed out of place); the mask is drawn from ``generator`` (a
    chainrule.Generator, or ``rng``) or chainrule's default stream."""
    rng = rng if generator is None else generator
    if not 0 <= p < 1:
        if p == 1 and training:
            return x * 0.0
        if not 0 <= p <= 1:
            raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    keep = (resolve(rng).random(x.shape) >= p).astype(x.dtype) / (1 - p)
    return x * make(keep)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _labels(target, t: np.ndarray):
    """The labels as an int64 tensor input of a loss rule: ``target`` itself when it already is one
    (so that changing it in place before backward raises), else a new tensor."""
    if isinstance(target, Tensor) and target._data.dtype == np.int64:
        return target
    return make(t.astype(np.int64))


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
            if not n or (t.min() >= 0 and t.max() < c and
                         (not 0 <= ignore_index < c or not (t == ignore_index).any())):
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
        return _weighted_reduce(loss, np.ones(len(t), x._data.dtype), reduction, out_shape)
    keep, rows, wi = _kept(t, w, ignore_index, c, "cross_entropy", x._data.dtype)
    loss = -logp[np.arange(len(t)), rows] * make(wi)
    if label_smoothing:
        wc = logp if w is None else logp * make(w)
        smooth = -wc.sum(1) * make(keep.astype(x._data.dtype))
        loss = (1 - label_smoothing) * loss + smooth * (label_smoothing / c)
    return _weighted_reduce(loss, wi, reduction, out_shape)


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


def _kept(t: np.ndarray, w, ignore_index: int, c: int, op: str, dtype):
    """(kept rows mask, labels with ignored ones replaced by 0, the weight of each row's class)."""
    t = t.astype(np.int64, copy=False)
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bad.any():
        raise ValueError(f"{op}: target holds class {t[bad][0]}, outside the range [0, {c}) of {c} classes "
                         f"(and not ignore_index={ignore_index})")
    rows = np.where(keep, t, 0)
    wi = (keep.astype(dtype) if w is None else w[rows] * keep).astype(dtype, copy=False)
    return keep, rows, wi


def _weighted_reduce(loss: Tensor, wi: np.ndarray, reduction: str, out_shape) -> Tensor:
    if reduction == "none":
        return loss.reshape(out_shape)
    if reduction == "sum":
        return loss.sum()
    total = wi.sum()  # PyTorch's weighted mean: over the kept rows, by their class weights
    if total == 0:  # nothing kept: NaN, and a zero gradient (the kept rows' weights), as PyTorch
        return loss.sum() * 0.0 + make(np.array(np.nan, loss._data.dtype))
    return loss.sum() / total.astype(loss._data.dtype)


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


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,  # noqa: A002
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target class, from log-probabilities (N, C) (or (C,), or
    (N, C, d1, ...)), with ``weight``, ``ignore_index`` and ``reduction`` as in :func:`cross_entropy`."""
    reduction = _legacy(size_average, reduce, reduction, "nll_loss")
    x, t, out_shape = _as_rows(input, target, "nll_loss")
    if t.dtype.kind == "f":
        raise TypeError(f"nll_loss: target must hold integer class labels (dtype int64), got dtype {t.dtype}")
    w = _class_weight(weight, x.shape[1], x._data.dtype, "nll_loss")
    _, rows, wi = _kept(t, w, ignore_index, x.shape[1], "nll_loss", x._data.dtype)
    picked = x[np.arange(len(t)), rows]
    loss = -picked if w is None and wi.all() else -picked * make(wi)
    return _weighted_reduce(loss, wi, reduction, out_shape)


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
    return _reduce(ops.where(ad._data < beta, d * d * (0.5 / beta), ad - 0.5 * beta), reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:  # noqa: A002
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), with d = input - target."""
    reduction = _legacy(None, None, reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    a, b = _pair(input, target, "huber_loss")
    d = a - b
    ad = ops.abs(d)
    loss = ops.where(ad._data < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
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


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """(..., ) integer labels -> (..., num_classes) int64 rows of zeros with a 1 at each label
    (num_classes = -1: one more than the largest label).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.one_hot(cr.tensor([0, 2]), 3).tolist()
        [[1, 0, 0], [0, 0, 1]]
    """
    t = tensor._data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot is only applicable to index tensors (int64), got dtype {t.dtype}")
    if num_classes == -1:
        if t.size == 0:
            raise RuntimeError("one_hot: cannot infer the number of classes from an empty tensor; pass num_classes")
        num_classes = int(t.max()) + 1
    if t.size and t.min() < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if t.size and t.max() >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes ({num_classes}), "
                           f"got {t.max()}")
    out = np.zeros(t.shape + (num_classes,), np.int64)
    np.put_along_axis(out, t[..., None].astype(np.int64), 1, axis=-1)
    return make(out)


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


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:  # noqa: A002
    """input / max(||input||_p, eps) along ``dim``: each slice scaled to unit p-norm."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported in chainrule; use the returned tensor")
    x = as_tensor(input)
    return x / ops.clip(ops.norm(x, p, dim, keepdim=True), min=eps)


from chainrule._missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("chainrule.nn.functional", "torch.nn.functional", globals())
