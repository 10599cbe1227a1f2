"""Functional forms of layers and losses (``chainrule.nn.functional``, PyTorch's names).

Losses take raw scores (logits) of shape (N, C) and integer class labels of shape (N,).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from chainrule import creation, dtypes, ops
from chainrule.core import DtypeError, ShapeError, make, no_grad, shape_constant
from chainrule.ops import inplace as _inplace
from chainrule.ops.convert import as_tensor, float_input, floats, promote
from chainrule.rules.attention import ScaledDotProductAttention
from chainrule.rules.elementwise import Hardtanh, LogSigmoid
from chainrule.rules.linalg import Linear
from chainrule.rules.loss import NLL, BCEWithLogits, BinaryCrossEntropy, CrossEntropy, MulticlassSVM
from chainrule.random import dropout_mask
from chainrule.rules import conv as _conv, dropout as _dropout, embedding as _embedding, index as _index
from chainrule.rules import norm as _norm, pool as _pool, sample as _sample
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
        extra, kind = [make(shape_constant(np.tril(np.ones((L, S), bool))))], "bool"
    elif attn_mask is not None:
        m = attn_mask if isinstance(attn_mask, Tensor) else as_tensor(attn_mask)
        kind = "bool" if m._data.dtype == np.bool_ else "float"
        extra = [m if kind == "bool" else as_tensor(m, q._data.dtype)]
    if dropout_p:
        shape = np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (L, S)   # dropout's own draw (which
        extra.append(make(dropout_mask(generator, shape, dropout_p, q._data.dtype)))  # a compiled step repeats)
    s = 1 / np.sqrt(q.shape[-1]) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(q, k, v, *extra, scale=s, mask=kind, dropout=bool(dropout_p))


# ----------------------------------------------------------------------------- multi-head attention
def _mask_dtype(mask):
    return (mask._data if isinstance(mask, Tensor) else np.asarray(mask)).dtype


def _float_mask(mask, dtype, name: str, other=None, other_name: str = ""):
    """PyTorch's canonical mask: a bool mask (True = may not attend) becomes 0 / -inf of ``dtype``;
    a float mask is added to the scores as it is. Warns, as PyTorch, when ``other`` (the other mask
    given with it) has another dtype."""
    if mask is None:
        return None
    m = mask if isinstance(mask, Tensor) else as_tensor(mask)
    if m._data.dtype != np.bool_ and m._data.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if other is not None and _mask_dtype(other) != m._data.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same type for both "
                      f"instead.", stacklevel=4)
    if m._data.dtype == np.bool_:
        # by an op, so that chainrule.compile follows a mask that changes from batch to batch
        return ops.where(m, make(np.array(-np.inf, dtype)), make(np.array(0.0, dtype)))
    return m if m._data.dtype == dtype else as_tensor(m, dtype)


def multi_head_attention_forward(query, key, value, embed_dim_to_check: int, num_heads: int, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn: bool, dropout_p: float,
                                 out_proj_weight, out_proj_bias, training: bool = True, key_padding_mask=None,
                                 need_weights: bool = True, attn_mask=None, use_separate_proj_weight: bool = False,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights: bool = True, is_causal: bool = False):
    """PyTorch's multi-head attention, composed of differentiable ops: project q, k, v (one packed
    ``in_proj_weight`` (3E, E) or three), split E into ``num_heads`` heads, attend, join the heads,
    project by ``out_proj_weight``. Returns (output, weights or None).

    Shape: query (L, N, E) or unbatched (L, E); key (S, N, kdim), value (S, N, vdim);
    ``key_padding_mask`` (N, S), ``attn_mask`` (L, S) or (N * num_heads, L, S): bool (True = may not
    attend) or float (added to the scores). Weights (N, L, S), averaged over the heads, or
    (N, num_heads, L, S) with ``average_attn_weights=False``. With ``need_weights=False`` the heads go
    through the fused ``scaled_dot_product_attention`` node.
    """
    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k and static_v are not supported in chainrule")
    same_kv, self_attention = key is value, query is key and key is value
    query, key, value = floats(*promote(query, key, value))
    batched = query.ndim == 3
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertionError(f"multi_head_attention_forward: query, key and value must all be 3-d (batched) or "
                             f"2-d (unbatched), got shapes {query.shape}, {key.shape}, {value.shape}")
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = as_tensor(key_padding_mask).unsqueeze(0)
    if self_attention:
        key = value = query
    elif same_kv:
        value = key
    L, N, E = query.shape
    H = num_heads
    if E != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {E}")
    if E % H:
        raise AssertionError(f"embed_dim {E} not divisible by num_heads {H}")
    hd, dt = E // H, query._data.dtype
    kpm = _float_mask(key_padding_mask, dt, "key_padding_mask", attn_mask, "attn_mask")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and kpm is None and not need_weights:
        attn_mask = None  # the hint stands for the mask: the fused node masks the upper triangle
    else:
        attn_mask = _float_mask(attn_mask, dt, "attn_mask")
        is_causal = is_causal and kpm is None
    # the weights and biases are sliced only where a branch uses them (each slice is a node of the graph)
    if self_attention and not use_separate_proj_weight:  # one product with the packed (3E, E) weight
        qkv = linear(query, in_proj_weight, in_proj_bias)  # (L, N, 3E)
        q, k, v = qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
    elif same_kv and not use_separate_proj_weight:
        kv = linear(key, in_proj_weight[E:], None if in_proj_bias is None else in_proj_bias[E:])
        q = linear(query, in_proj_weight[:E], None if in_proj_bias is None else in_proj_bias[:E])
        k, v = kv[..., :E], kv[..., E:]
    else:
        if use_separate_proj_weight:
            w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
        else:
            w_q, w_k, w_v = in_proj_weight[:E], in_proj_weight[E:2 * E], in_proj_weight[2 * E:]
        b_q = b_k = b_v = None
        if in_proj_bias is not None:
            b_q, b_k, b_v = in_proj_bias[:E], in_proj_bias[E:2 * E], in_proj_bias[2 * E:]
        q, k, v = linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)  # (L|S, N, E)
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if attn_mask.shape != (L, key.shape[0]):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(L, key.shape[0])}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim != 3 or attn_mask.shape != (N * H, L, key.shape[0]):
            raise RuntimeError(f"The shape of the {attn_mask.ndim}D attn_mask is {attn_mask.shape}, but should be "
                               f"{(N * H, L, key.shape[0])}.")
    if bias_k is not None and bias_v is not None:  # one more key and value, learned
        k = ops.cat([k, bias_k.expand(1, N, E)])
        v = ops.cat([v, bias_v.expand(1, N, E)])
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        kpm = None if kpm is None else pad(kpm, (0, 1))
    q = q.reshape(L, N * H, hd).transpose(0, 1)  # (L, N, E) -> (N H, L, hd)
    k = k.reshape(k.shape[0], N * H, hd).transpose(0, 1)
    v = v.reshape(v.shape[0], N * H, hd).transpose(0, 1)
    if add_zero_attn:  # one more key and value, zero
        zero = Tensor._make(np.zeros((N * H, 1, hd), dt), False, None)
        k, v = ops.cat([k, zero], 1), ops.cat([v, zero], 1)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        kpm = None if kpm is None else pad(kpm, (0, 1))
    S = k.shape[1]
    if kpm is not None:
        if kpm.shape != (N, S):
            raise AssertionError(f"expecting key_padding_mask shape of {(N, S)}, but got {kpm.shape}")
        kpm = kpm.reshape(N, 1, 1, S).expand(N, H, 1, S).reshape(N * H, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        s = ops.matmul(q * math.sqrt(1.0 / hd), k.transpose(-2, -1))  # (N H, L, hd) @ (N H, hd, S)
        w = ops.softmax(s if attn_mask is None else s + attn_mask, -1)
        if dropout_p > 0:
            w = dropout(w, p=dropout_p)
        out = ops.matmul(w, v).transpose(0, 1).reshape(L * N, E)  # (N H, L, hd) -> (L N, E)
        w = w.reshape(N, H, L, S)
        if average_attn_weights:
            w = w.mean(1)
    else:
        if attn_mask is not None:
            attn_mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else attn_mask.reshape(N, H, -1, S)
        o = scaled_dot_product_attention(q.reshape(N, H, L, hd), k.reshape(N, H, S, hd), v.reshape(N, H, S, hd),
                                         attn_mask, dropout_p, is_causal)
        out, w = o.permute(2, 0, 1, 3).reshape(L * N, E), None  # (N, H, L, hd) -> (L N, E)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
    if not batched:
        out = out.squeeze(1)
        w = None if w is None else w.squeeze(0)
    return out, w


# ----------------------------------------------------------------------------- resampling
_INTERP_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area")
_INTERP_RANK = {"linear": 3, "bilinear": 4, "trilinear": 5}


def _interp_sizes(x: Tensor, size, scale_factor, recompute_scale_factor):
    """(output sizes, scale factors or Nones) of the spatial axes, as PyTorch's interpolate reads them."""
    dim = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined" if size is not None
                         else "either size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        sizes = [int(size)] * dim if isinstance(size, (int, np.integer)) else [int(s) for s in size]
        if len(sizes) != dim:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input with "
                             f"spatial dimensions of {list(x.shape[2:])} and output size of {size}. Please provide "
                             f"input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) "
                             f"format.")
        return sizes, [None] * dim
    scales = [float(scale_factor)] * dim if np.isscalar(scale_factor) else [float(s) for s in scale_factor]
    if len(scales) != dim:
        raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got input "
                         f"with spatial dimensions of {list(x.shape[2:])} and scale_factor of shape {scale_factor}. "
                         f"Please provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, "
                         f"s2, ...,sK) format.")
    sizes = [int(math.floor(n * s)) for n, s in zip(x.shape[2:], scales)]
    return sizes, [None] * dim if recompute_scale_factor else scales


def _nearest_index(n: int, m: int, scale, exact: bool) -> np.ndarray:
    """PyTorch's source pixel of each of m outputs from n inputs, in float32 as its kernel computes it:
    floor(i * s) ("nearest", with its shortcuts for m = n and m = 2 n) or floor((i + 1/2) s) ("nearest-exact");
    s = 1 / scale_factor when given, else n / m."""
    if not exact and m == n:
        return np.arange(m)
    if not exact and m == 2 * n:
        return np.arange(m) >> 1
    s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n) / np.float32(m)
    i = np.arange(m, dtype=np.float64)
    src = (i + 0.5) * np.float64(s) if exact else i.astype(np.float32) * s
    return np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n - 1)


def _linear_taps(n: int, m: int, scale, align_corners: bool, dt):
    """PyTorch's two source pixels and weights of each of m outputs (linear interpolation along one axis):
    src = i (n - 1)/(m - 1) with ``align_corners``, else max((i + 1/2) s - 1/2, 0), s = 1/scale or n/m."""
    one = dt.type(1)
    if align_corners:
        s = dt.type(n - 1) / dt.type(m - 1) if m > 1 else dt.type(0)
        src = s * np.arange(m, dtype=dt)
    else:
        s = dt.type(1.0 / scale) if scale is not None and scale > 0 else dt.type(n) / dt.type(m)
        src = np.maximum(s * (np.arange(m, dtype=dt) + dt.type(0.5)) - dt.type(0.5), 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    w1 = np.clip(src - i0, 0, 1).astype(dt)
    return i0, i0 + (i0 < n - 1), one - w1, w1


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,  # noqa: A002
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resample the spatial axes of (N, C, *spatial) to ``size`` or ``scale_factor`` times their size, as
    PyTorch computes it. ``mode``: "nearest" (PyTorch's floor(i * in / out) rule), "nearest-exact",
    "linear" (3-d), "bilinear" (4-d), "trilinear" (5-d), each with ``align_corners`` (corner pixels kept
    in place) or not (pixel centres), or "area" (adaptive average pooling). One index gather per axis
    (two, weighted, for the linear modes), so the gradient adds back into the source pixels.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.interpolate(cr.tensor([[[1.0, 2.0]]]), scale_factor=2).tolist()
        [[[1.0, 1.0, 2.0, 2.0]]]
    """
    x = as_tensor(input) if mode.startswith("nearest") else float_input(input)  # nearest keeps uint8 images
    if mode not in _INTERP_MODES + ("bicubic",):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {x.ndim}D) for "
                                  f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
                                  f"nearest-exact (got {mode})")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if mode == "bicubic" or antialias:
        raise NotImplementedError(f"interpolate: mode={mode!r} with antialias={antialias} is not supported in "
                                  f"chainrule (nearest, nearest-exact, linear, bilinear, trilinear, area are)")
    if x.ndim not in (3, 4, 5):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {x.ndim}D) for "
                                  f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
                                  f"nearest-exact (got {mode})")
    if mode in _INTERP_RANK and x.ndim != _INTERP_RANK[mode]:
        raise NotImplementedError(f"Got {x.ndim}D input, but {mode} mode needs {_INTERP_RANK[mode]}D input")
    sizes, scales = _interp_sizes(x, size, scale_factor, recompute_scale_factor)  # "area" uses the sizes only
    if min(sizes) < 1:
        raise RuntimeError(f"interpolate: output size {tuple(sizes)} from input {x.shape} must be positive")
    if mode == "area":
        return _adaptive_avg(x, tuple(sizes), x.ndim - 2)
    dt = x._data.dtype
    for axis, (n, m, s) in enumerate(zip(x.shape[2:], sizes, scales), start=2):
        if mode.startswith("nearest"):
            x = ops.index_select(x, axis, Tensor._make(shape_constant(_nearest_index(n, m, s, mode == "nearest-exact")),
                                                       False, None))
            continue
        i0, i1, w0, w1 = _linear_taps(n, m, s, align_corners, dt)
        shape = (m,) + (1,) * (x.ndim - 1 - axis)  # the weights broadcast along the other axes
        i0, i1, w0, w1 = (Tensor._make(shape_constant(a), False, None) for a in (i0, i1, w0.reshape(shape), w1.reshape(shape)))
        x = ops.index_select(x, axis, i0) * w0 + ops.index_select(x, axis, i1) * w1
    return x


def _deprecated_upsample(name: str) -> None:
    warnings.warn(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=3)


def upsample(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:  # noqa: A002
    """The older name of :func:`interpolate` (deprecated in PyTorch, with a warning)."""
    _deprecated_upsample("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None) -> Tensor:  # noqa: A002
    """``interpolate(mode="nearest")`` under its older name (deprecated in PyTorch, with a warning)."""
    _deprecated_upsample("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None) -> Tensor:  # noqa: A002
    """``interpolate(mode="bilinear", align_corners=True)`` under its older name (deprecated in PyTorch)."""
    _deprecated_upsample("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


_ALIGN_CORNERS_DEFAULT = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since "
                          "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
                          "documentation of grid_sample for details.")


def _base_grid(size: int, align_corners: bool, dt) -> np.ndarray:
    """The normalised coordinates of ``size`` pixel centres (PyTorch's): from -1 to 1 with
    ``align_corners``, else from -(size - 1)/size to (size - 1)/size; a single pixel sits at 0."""
    if size <= 1:
        return np.zeros(size, dt)
    a = 1 if align_corners else (size - 1) / size
    return np.linspace(-a, a, size, dtype=dt)


def affine_grid(theta, size, align_corners=None) -> Tensor:
    """The sampling grid of a batch of 2-D affine maps, for :func:`grid_sample` (a Spatial Transformer):
    grid[n, h, w] = theta[n] @ (x_w, y_h, 1), (x, y) the normalised centre of output pixel (h, w).
    Made of differentiable ops (one matmul with the constant base grid), so ``theta`` gets its gradient.

    Args:
        theta (Tensor (N, 2, 3), float), size (N, C, H, W): the output's size.
        align_corners (bool or None, None): as in :func:`grid_sample`; None means False, with
            PyTorch's warning. Only 4-D sizes (2-D maps) are supported.

    Shape: (N, 2, 3) -> (N, H, W, 2).

    Example:
        >>> import chainrule as cr
        >>> F = cr.nn.functional
        >>> F.affine_grid(cr.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]), (1, 1, 1, 3), align_corners=False).tolist()
        [[[[-0.6666666865348816, 0.0], [0.0, 0.0], [0.6666666865348816, 0.0]]]]
    """
    if align_corners is None:
        warnings.warn(_ALIGN_CORNERS_DEFAULT, stacklevel=2)
        align_corners = False
    theta = as_tensor(theta)
    if theta._data.dtype.kind != "f":
        raise ValueError(f"Expected theta to have floating point type, but got {dtypes.type_name(theta.dtype)}")
    size = tuple(int(v) for v in size)
    if len(size) == 5:
        raise NotImplementedError("affine_grid: 5-D sizes (3-D affine maps, volumetric grids) are not supported "
                                  "in chainrule; 4-D sizes (N, C, H, W) are")
    if len(size) != 4:
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    if theta.ndim != 3 or theta.shape[1:] != (2, 3):
        raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. Got {theta.shape}.")
    if align_corners and min(size[2:]) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the "
                      "documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    n, _, h, w = size
    if theta.shape[0] != n:
        raise ShapeError(f"affine_grid: theta holds {theta.shape[0]} affine maps but size {size} asks for {n}")
    dt = theta._data.dtype
    base = np.empty((h, w, 3), dt)   # (x, y, 1) of each output pixel
    base[..., 0], base[..., 1], base[..., 2] = _base_grid(w, align_corners, dt), _base_grid(h, align_corners, dt)[:, None], 1
    base = Tensor._make(shape_constant(base.reshape(h * w, 3)), False, None)
    return ops.matmul(base, theta.transpose(1, 2)).reshape(n, h, w, 2)   # (HW, 3) @ (N, 3, 2) -> (N, HW, 2)


def grid_sample(input, grid, mode: str = "bilinear", padding_mode: str = "zeros",  # noqa: A002
                align_corners=None) -> Tensor:
    """Sample ``input`` at the points of ``grid``: output[n, :, h, w] is the image input[n] read at
    grid[n, h, w] = (x, y), normalised so that (-1, -1) is the top-left of the image and (1, 1) its
    bottom-right (PyTorch's grid_sample: with :func:`affine_grid`, a Spatial Transformer).

    Args:
        input (Tensor (N, C, H, W)), grid (Tensor (N, Ho, Wo, 2), input's dtype).
        mode (str, "bilinear"): or "nearest" (the closest pixel; the grid gets gradient 0).
        padding_mode (str, "zeros"): points outside read 0; "border": the nearest border pixel;
            "reflection": the point reflected by the borders until inside.
        align_corners (bool or None, None): -1 and 1 are the centres of the corner pixels (True) or
            their outer edges (False); None means False, with PyTorch's warning.

    Shape: (N, C, H, W) and (N, Ho, Wo, 2) -> (N, C, Ho, Wo). 5-D (volumetric) input and "bicubic"
    are refused.

    Example:
        >>> import chainrule as cr
        >>> img = cr.arange(4.0).reshape(1, 1, 2, 2)
        >>> cr.nn.functional.grid_sample(img, cr.zeros(1, 1, 1, 2), align_corners=False).item()
        1.5
    """
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_CORNERS_DEFAULT, stacklevel=2)
        align_corners = False
    x, g = as_tensor(input), as_tensor(grid)
    if x.ndim == 5 and g.ndim == 5 or mode == "bicubic":
        raise NotImplementedError(f"grid_sample: {'mode=bicubic' if mode == 'bicubic' else '5-D (volumetric) input'} "
                                  f"is not supported in chainrule; 4-D input with bilinear or nearest is")
    if x.ndim != 4 or g.ndim != 4:
        raise ShapeError(f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but got "
                         f"input with sizes {list(x.shape)} and grid with sizes {list(g.shape)}")
    if x.shape[0] != g.shape[0]:
        raise ShapeError(f"grid_sampler(): expected grid and input to have same batch size, but got input with sizes "
                         f"{list(x.shape)} and grid with sizes {list(g.shape)}")
    if g.shape[-1] != 2:
        raise ShapeError(f"grid_sampler(): expected grid to have size 2 in last dimension, but got grid with sizes "
                         f"{list(g.shape)}")
    for axis in (2, 3):
        if x.shape[axis] == 0:
            raise ShapeError(f"grid_sampler(): expected input to have non-empty spatial dimensions, but input has "
                             f"sizes {list(x.shape)} with dimension {axis} being empty")
    if x._data.dtype.kind != "f":
        raise dtypes.no_kernel("grid_sampler_2d_cpu_kernel_impl", x._data.dtype)
    if g._data.dtype != x._data.dtype:
        raise DtypeError(f"expected scalar type {dtypes.type_name(x._data.dtype)} but found "
                         f"{dtypes.type_name(g._data.dtype)}")
    return _sample.GridSample.apply(x, g, mode=mode, padding_mode=padding_mode, align_corners=bool(align_corners))


def _shuffle_input(input, r, name: str, op: str):  # noqa: A002
    x = as_tensor(input)
    if x.ndim < 3:
        raise RuntimeError(f"{op} expects input to have at least 3 dimensions, but got input with {x.ndim} "
                           f"dimension(s)")
    if not isinstance(r, (int, np.integer)) or r < 1:
        raise RuntimeError(f"{op} expects a positive {name}, but got {r}")
    return x, int(r)


def pixel_shuffle(input, upscale_factor: int) -> Tensor:  # noqa: A002
    """Rearrange (*, C r^2, H, W) into (*, C, H r, W r): each group of r^2 channels becomes an r x r block
    of pixels (a reshape and a permute, so the gradient is the inverse rearrangement)."""
    x, r = _shuffle_input(input, upscale_factor, "upscale_factor", "pixel_shuffle")
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
                           f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    k = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)  # (*, C, H, r, W, r)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor: int) -> Tensor:  # noqa: A002
    """Rearrange (*, C, H r, W r) into (*, C r^2, H, W), the inverse of :func:`pixel_shuffle`."""
    x, r = _shuffle_input(input, downscale_factor, "downscale_factor", "pixel_unshuffle")
    *lead, c, h, w = x.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by downscale_factor, but "
                           f"input.size(-2)={h} and input.size(-1)={w} are not divisible by {r}")
    k = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)  # (*, C, r, r, H, W)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input, groups: int) -> Tensor:  # noqa: A002
    """Interleave the channels of (N, C, *) from ``groups`` groups: (N, g, C/g, *) transposed to (N, C/g, g, *)
    (ShuffleNet's shuffle; a reshape and a transpose, so the gradient is the inverse shuffle).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.channel_shuffle(cr.arange(4.0).reshape(1, 4, 1), 2).flatten().tolist()
        [0.0, 2.0, 1.0, 3.0]
    """
    x = as_tensor(input)
    if x.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes {list(x.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    n, c = x.shape[:2]
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups.")
    return x.reshape(n, groups, c // groups, *x.shape[2:]).transpose(1, 2).reshape(x.shape)


# ----------------------------------------------------------------------------- unfold and fold (im2col)
def _block_index(size, kernel, dilation, padding, stride, op: str):
    """The flat index into the padded (Hp, Wp) image of every (kernel offset, block) pair: an
    (KH KW, L) array, offsets in row-major order, blocks row by row (PyTorch's im2col layout)."""
    (h, w), (kh, kw), (dh, dw), (ph, pw), (sh, sw) = size, kernel, dilation, padding, stride
    if min(kh, kw, dh, dw, sh, sw) < 1 or min(ph, pw) < 0:
        raise RuntimeError(f"{op}: kernel_size {kernel}, dilation {dilation} and stride {stride} must be positive "
                           f"and padding {padding} non-negative")
    bh, bw = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if bh < 1 or bw < 1:
        raise RuntimeError(f"{op}: the kernel {kernel} with dilation {dilation} does not fit the padded input of "
                           f"size {(h + 2 * ph, w + 2 * pw)} (padding {padding})")
    rows = (np.arange(kh)[:, None] * dh)[:, None, :, None] + (np.arange(bh) * sh)[None, None, :, None]
    cols = (np.arange(kw)[:, None] * dw)[None, :, None, :] + (np.arange(bw) * sw)[None, None, None, :]
    return (rows * (w + 2 * pw) + cols).reshape(kh * kw, bh * bw), (bh, bw)


def _fold_args(kernel_size, dilation, padding, stride, op: str):
    return tuple(_ntuple(v, 2, name, op) for v, name in ((kernel_size, "kernel_size"), (dilation, "dilation"),
                                                           (padding, "padding"), (stride, "stride")))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:  # noqa: A002
    """im2col: every sliding (KH, KW) block of (N, C, H, W) (or unbatched (C, H, W)) as a column,
    giving (N, C KH KW, L) with L the number of blocks. One index gather into the padded image, so
    the gradient is :func:`fold` of the upstream gradient (col2im: overlapping entries add up).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.unfold(cr.arange(4.0).reshape(1, 1, 2, 2), 1).tolist()
        [[[0.0, 1.0, 2.0, 3.0]]]
    """
    x = float_input(input)
    if x.ndim not in (3, 4):
        raise RuntimeError(f"Input Error: Only 3D or 4D input Tensors are supported (got {x.ndim}D)")
    k, d, p, s = _fold_args(kernel_size, dilation, padding, stride, "unfold")
    unbatched = x.ndim == 3
    if unbatched:
        x = x.unsqueeze(0)
    n, c, h, w = x.shape
    idx, _ = _block_index((h, w), k, d, p, s, "unfold")
    xp = pad(x, (p[1], p[1], p[0], p[0])).reshape(n, c, -1)  # (N, C, Hp Wp)
    cols = ops.index_select(xp, 2, Tensor._make(idx.reshape(-1), False, None))  # (N, C, KH KW L)
    cols = cols.reshape(n, c * k[0] * k[1], idx.shape[1])
    return cols.squeeze(0) if unbatched else cols


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:  # noqa: A002
    """col2im, the adjoint of :func:`unfold`: (N, C KH KW, L) columns (or unbatched (C KH KW, L)) added
    back into an (N, C, *output_size) image, overlapping entries summed. One scatter-add, so the
    gradient is :func:`unfold` of the upstream gradient."""
    y = float_input(input)
    if y.ndim not in (2, 3):
        raise RuntimeError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                           f"(got {y.ndim}D)")
    size = _ntuple(output_size, 2, "output_size", "fold")
    k, d, p, s = _fold_args(kernel_size, dilation, padding, stride, "fold")
    unbatched = y.ndim == 2
    if unbatched:
        y = y.unsqueeze(0)
    n, ck, length = y.shape
    if ck % (k[0] * k[1]):
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
                           f"but got input.size(1)={ck} and kernel_size={k}")
    idx, (bh, bw) = _block_index(size, k, d, p, s, "fold")
    if length != bh * bw:
        raise RuntimeError(f"Given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, stride={s}, "
                           f"expected size of input's dimension 2 to match the calculated number of sliding "
                           f"blocks {bh} * {bw} = {bh * bw}, but got input.size(2)={length}.")
    c, hp, wp = ck // (k[0] * k[1]), size[0] + 2 * p[0], size[1] + 2 * p[1]
    src = y.reshape(n, c, -1)  # (N, C, KH KW L)
    index = Tensor._make(np.broadcast_to(idx.reshape(-1), src.shape).copy(), False, None)
    out = ops.scatter_add(Tensor._make(np.zeros((n, c, hp * wp), y._data.dtype), False, None), 2, index, src)
    out = out.reshape(n, c, hp, wp)[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]
    return out.squeeze(0) if unbatched else out

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
        raise ShapeError(f"linear: input of shape {x.shape} does not match weight of shape "
                         f"{weight.shape} (expected the last axis to be {weight.shape[1]})")
    if x._data.dtype != weight._data.dtype:
        x = as_tensor(x, weight._data.dtype)
    lead = x.shape[:-1]
    if x.ndim != 2:
        x = x.reshape(-1, x.shape[-1])
    y = Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)
    return y if len(lead) == 1 else y.reshape(*lead, weight.shape[0])


def bilinear(input1, input2, weight, bias=None) -> Tensor:
    """y_o = x1^T A_o x2 + b_o for each output o, with A = ``weight`` of shape (out, in1, in2): one
    einsum (its gradient is exact: each operand's is an einsum of the others). Inputs are cast to the
    weight's dtype, as in ``linear``.

    Shape: input1 (*, in1) and input2 (*, in2) with the same leading axes -> (*, out); bias (out,).
    """
    x1, x2, w = as_tensor(input1), as_tensor(input2), as_tensor(weight)
    if w.ndim != 3:
        raise ShapeError(f"bilinear(): weight must be 3-d (out_features, in1_features, in2_features), "
                         f"got shape {w.shape}")
    if x1.ndim != x2.ndim:
        raise ShapeError(f"bilinear(): input dimensions do not match: got {x1.ndim} and {x2.ndim} "
                         f"(input1 {x1.shape}, input2 {x2.shape})")
    for d, (a, b) in enumerate(zip(x1.shape[:-1], x2.shape[:-1])):
        if a != b:
            raise ShapeError(f"bilinear(): input batch dimensions do not match at dim {d}: got {a} and {b} "
                             f"(input1 {x1.shape}, input2 {x2.shape})")
    for name, x, want in (("input1", x1, w.shape[1]), ("input2", x2, w.shape[2])):
        if x.ndim == 0 or x.shape[-1] != want:
            raise ShapeError(f"bilinear(): {name} size does not match weight size: got "
                             f"{x.shape[-1] if x.ndim else 'a 0-d input'} but expected {want} (weight {w.shape})")
    if bias is not None and tuple(np.shape(bias)) != w.shape[:1]:
        raise ShapeError(f"bilinear(): bias size does not match weight size: got shape {tuple(np.shape(bias))} "
                         f"but expected ({w.shape[0]},)")
    dt = w._data.dtype
    y = ops.einsum("...i,oij,...j->...o", as_tensor(x1, dt), w, as_tensor(x2, dt))
    return y if bias is None else y + as_tensor(bias, dt)


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


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """(..., ) integer labels -> (..., num_classes) int64 rows of zeros with a 1 at each label
    (num_classes = -1: one more than the largest label).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.one_hot(cr.tensor([0, 2]), 3).tolist()
        [[1, 0, 0], [0, 0, 1]]
    """
    tensor = as_tensor(tensor)
    t = tensor._data
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot is only applicable to index tensors (int64), got dtype {t.dtype}")
    if num_classes == -1:
        if t.size == 0:
            raise RuntimeError("one_hot: cannot infer the number of classes from an empty tensor; pass num_classes")
        num_classes = int(tensor.max().item()) + 1  # read through the tensor: the output's shape depends on
        # the values, which a compiled step then sees (and runs eagerly)
    if t.size and t.min() < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if t.size and t.max() >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes ({num_classes}), "
                           f"got {t.max()}")
    with no_grad():
        return _index.OneHot.apply(tensor, num_classes=int(num_classes))


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


# ----------------------------------------------------------------------------- layers beyond the MLP
# convolution, pooling, normalisation, dropout, embedding, padding: argument checks here, the
# arithmetic and its gradient in chainrule.rules
def _ntuple(v, n: int, name: str, op: str) -> tuple:
    """An int or a sequence of n ints as a tuple of n ints (PyTorch's _pair)."""
    t = (v,) * n if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != n or not all(isinstance(i, (int, np.integer)) for i in t):
        raise ValueError(f"{op}: {name} must be an int or {n} ints, got {v!r}")
    return tuple(int(i) for i in t)


def _spatial_input(input, spatial: int, op: str):  # noqa: A002
    """A float tensor with a batch axis ((N, C, *spatial), or unbatched (C, *spatial) made N = 1)."""
    x = as_tensor(input)
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: expected a {spatial + 1}-d (unbatched) or {spatial + 2}-d (batched) input, "
                         f"got shape {x.shape}")
    return (x.unsqueeze(0), True) if x.ndim == spatial + 1 else (x, False)


def _conv_padding(padding, kernel, dilation, stride, op: str) -> tuple:
    """(before, after) per spatial axis from an int, a tuple, "valid" or "same" (the extra pad of an
    even kernel goes after, as in PyTorch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * len(kernel)
        if padding != "same":
            raise ValueError(f"{op}: padding must be 'valid', 'same' or ints, got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in total)
    p = _ntuple(padding, len(kernel), "padding", op)
    if min(p) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return tuple((i, i) for i in p)


_KERNEL_NAMES = {1: "k", 2: "kH, kW", 3: "kD, kH, kW"}


def _convnd(input, weight, bias, stride, padding, dilation, groups: int, dims: int) -> Tensor:  # noqa: A002
    """conv1d, conv2d and conv3d: the arguments checked, then the one Conv rule."""
    op = f"conv{dims}d"
    x, unbatched = _spatial_input(input, dims, op)
    w = as_tensor(weight)
    if w.ndim != dims + 2:
        raise ValueError(f"{op}: weight must be {dims + 2}-d (out_channels, in_channels / groups, "
                         f"{_KERNEL_NAMES[dims]}), got shape {w.shape}")
    stride = _ntuple(stride, dims, "stride", op)
    dilation = _ntuple(dilation, dims, "dilation", op)
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: stride {stride} and dilation {dilation} must be positive")
    pads = _conv_padding(padding, w.shape[2:], dilation, stride, op)
    if x._data.dtype != w._data.dtype:
        x = as_tensor(x, w._data.dtype)
    c, (o, cg) = x.shape[1], w.shape[:2]
    if groups < 1 or c % groups or o % groups:
        raise ValueError(f"{op}: groups={groups} must divide both in_channels ({c}) and out_channels ({o})")
    if cg * groups != c:
        raise ValueError(f"{op}: input of shape {x.shape} has {c} channels, but weight of shape {w.shape} "
                         f"expects {cg * groups} (weight.shape[1] * groups)")
    out = [_conv.out_size(n, k, s, *p, d) for n, k, s, p, d in zip(x.shape[2:], w.shape[2:], stride, pads, dilation)]
    if min(out) < 1:
        raise ValueError(f"{op}: the kernel {tuple(w.shape[2:])} with dilation {dilation} is larger than the padded "
                         f"input of shape {x.shape} (padding {pads})")
    args = (x, w) if bias is None else (x, w, as_tensor(bias, w._data.dtype))
    y = _conv.Conv.apply(*args, stride=stride, padding=pads, dilation=dilation, groups=groups)
    return y.squeeze(0) if unbatched else y


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:  # noqa: A002
    """2-D convolution (cross-correlation, as in PyTorch) as one unfold and one matrix product.

    Args:
        input (Tensor): (N, C, H, W) or unbatched (C, H, W).
        weight (Tensor): (O, C / groups, KH, KW).
        bias (Tensor, None): (O,).
        stride, padding, dilation (int or pair, 1 / 0 / 1): padding may be "valid" or "same".
        groups (int, 1): split the channels into groups convolved separately.

    Shape: OH = floor((H + 2 padding - dilation (KH - 1) - 1) / stride) + 1, likewise OW.

    Example:
        >>> import chainrule as cr
        >>> F = cr.nn.functional
        >>> F.conv2d(cr.ones(1, 1, 4, 4), cr.ones(2, 1, 3, 3), padding=1).shape
        (1, 2, 4, 4)
    """
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:  # noqa: A002
    """1-D convolution over (N, C, L) (or unbatched (C, L)) with weight (O, C / groups, K): the same rule
    as :func:`conv2d` on one spatial axis. Arguments as in :func:`conv2d`, each a single int."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 1)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:  # noqa: A002
    """3-D convolution over (N, C, D, H, W) (or unbatched (C, D, H, W)) with weight (O, C / groups, KD, KH, KW):
    the same rule as :func:`conv2d` on three spatial axes. Arguments as in :func:`conv2d`, ints or triples.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.conv3d(cr.ones(1, 2, 4, 5, 6), cr.ones(3, 2, 3, 3, 3), padding=1).shape
        (1, 3, 4, 5, 6)
    """
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 3)


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups: int, dilation,  # noqa: A002
                    dims: int) -> Tensor:
    """conv_transpose1d, 2d and 3d: the arguments checked, then the one ConvTranspose rule."""
    op = f"conv_transpose{dims}d"
    x, unbatched = _spatial_input(input, dims, op)
    w = as_tensor(weight)
    if w.ndim != dims + 2:
        raise ValueError(f"{op}: weight must be {dims + 2}-d (in_channels, out_channels / groups, "
                         f"{_KERNEL_NAMES[dims]}), got shape {w.shape}")
    st, dil = _ntuple(stride, dims, "stride", op), _ntuple(dilation, dims, "dilation", op)
    pd = _ntuple(padding, dims, "padding", op)
    opad = _ntuple(output_padding, dims, "output_padding", op)
    c, ci = x.shape[1], w.shape[0]
    if groups < 1 or ci % groups:
        raise ValueError(f"{op}: groups={groups} must divide in_channels ({ci})")
    if c != ci:
        raise ValueError(f"{op}: input of shape {x.shape} has {c} channels, but weight of shape "
                         f"{w.shape} expects {ci} (weight.shape[0])")
    if min(st) < 1 or min(dil) < 1:
        raise ValueError(f"{op}: stride {st} and dilation {dil} must be positive")
    if any(o >= max(s, d) for o, s, d in zip(opad, st, dil)) or min(pd) < 0 or min(opad) < 0:
        raise ValueError(f"{op}: output_padding {opad} must be non-negative and smaller than stride {st} "
                         f"or dilation {dil}, and padding {pd} non-negative")
    size = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1
                 for i, s, p, d, k, o in zip(x.shape[2:], st, pd, dil, w.shape[2:], opad))
    if min(size) < 1:
        raise ValueError(f"{op}: the output size {size} for input of shape {x.shape} is not positive "
                         f"(padding {pd} too large)")
    if x._data.dtype != w._data.dtype:
        x = as_tensor(x, w._data.dtype)
    args = (x, w) if bias is None else (x, w, as_tensor(bias, w._data.dtype))
    y = _conv.ConvTranspose.apply(*args, stride=st, padding=pd, output_padding=opad, dilation=dil, groups=groups)
    return y.squeeze(0) if unbatched else y


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1,  # noqa: A002
                     dilation=1) -> Tensor:
    """The transposed 2-D convolution (the gradient of conv2d with respect to its input, used to upsample):
    ``weight`` (C_in, C_out / groups, KH, KW); OH = (H - 1) stride - 2 padding + dilation (KH - 1) +
    output_padding + 1. One product and a fold (col2im) into the output, no work on inserted zeros;
    its gradients are a conv2d of dY and conv2d's weight gradient (see chainrule.rules.conv).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.conv_transpose2d(cr.ones(1, 2, 3, 3), cr.ones(2, 4, 4, 4), stride=2, padding=1).shape
        (1, 4, 6, 6)
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1,  # noqa: A002
                     dilation=1) -> Tensor:
    """The transposed 1-D convolution over (N, C, L) or (C, L), ``weight`` (C_in, C_out / groups, K).
    Arguments as in :func:`conv_transpose2d`, each a single int."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1,  # noqa: A002
                     dilation=1) -> Tensor:
    """The transposed 3-D convolution over (N, C, D, H, W) or (C, D, H, W), ``weight``
    (C_in, C_out / groups, KD, KH, KW). Arguments as in :func:`conv_transpose2d`, ints or triples."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 3)


def _pool_args(input, kernel_size, stride, padding, op: str, dilation=1, dims: int = 2):  # noqa: A002
    x, unbatched = _spatial_input(input, dims, op)
    k = _ntuple(kernel_size, dims, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0) else \
        _ntuple(stride, dims, "stride", op)
    p = _ntuple(padding, dims, "padding", op)
    d = _ntuple(dilation, dims, "dilation", op)
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ValueError(f"{op}: kernel_size, stride and dilation must be positive, got {k}, {s}, {d}")
    if any(pi < 0 or pi > ki // 2 for pi, ki in zip(p, k)):
        raise ValueError(f"{op}: padding {p} must be non-negative and at most half the kernel size {k}")
    return x, unbatched, k, s, p, d


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims: int):  # noqa: A002
    """max_pool1d, 2d and 3d: the arguments checked, then the MaxPool rule (or, with return_indices, the
    indices and a gather by them)."""
    op = f"max_pool{dims}d"
    x, unbatched, k, s, p, d = _pool_args(input, kernel_size, stride, padding, op, dilation, dims)
    out = _pool_out(x, k, s, p, d, ceil_mode, op)
    if return_indices:
        return _max_with_indices(x, [_pool.pool_taps(*a) for a in zip(x.shape[2:], k, s, p, d, out)], unbatched)
    y = _pool.MaxPool.apply(x, kernel=k, stride=s, padding=p, dilation=d, ceil_mode=bool(ceil_mode))
    return y.squeeze(0) if unbatched else y


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
               return_indices: bool = False) -> Tensor:
    """The maximum of each window; the gradient goes to the first maximum of a window (PyTorch's
    tie rule) and adds up where windows overlap.

    Args:
        input (Tensor): (N, C, H, W) or (C, H, W).
        kernel_size (int or pair), stride (int or pair, kernel_size), padding (int or pair, 0;
            at most half the kernel, padded with -inf), dilation (int or pair, 1).
        ceil_mode (bool, False): round the output size up (the last window may hang over the edge).
        return_indices (bool, False): also return the flat per-plane index of each maximum (int64),
            for :func:`max_unpool2d`.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.max_pool2d(cr.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
        [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
               return_indices: bool = False) -> Tensor:
    """1-D max pooling over (N, C, L) or (C, L) (arguments as :func:`max_pool2d`, single ints)."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
               return_indices: bool = False) -> Tensor:
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W) (arguments as :func:`max_pool2d`, ints or triples)."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
                            return_indices: bool = False):
    """:func:`max_pool1d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 1)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
                            return_indices: bool = False):
    """:func:`max_pool2d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 2)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
                            return_indices: bool = False):
    """:func:`max_pool3d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 3)


def _pool_out(x: Tensor, k, s, p, d, ceil_mode: bool, op: str) -> tuple:
    """The pooling's output size, checked to be at least 1 along every axis."""
    out = tuple(_pool.pool_out_size(*a, ceil_mode) for a in zip(x.shape[2:], k, s, p, d))
    if min(out) < 1:
        raise ValueError(f"{op}: output size {out} is too small for input of shape {x.shape} with kernel_size {k}")
    return out


def _max_with_indices(x: Tensor, taps, unbatched: bool):
    """(the maximum of each window, PyTorch's flat per-plane index of it): the gradient follows the index."""
    idx = Tensor._make(_pool.window_argmax(x._data, taps), False, None)
    y = _pool.PlaneGather.apply(x, idx)
    return (y.squeeze(0), idx.squeeze(0)) if unbatched else (y, idx)


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,  # noqa: A002
              dims: int) -> Tensor:
    op = f"avg_pool{dims}d"
    x, unbatched, k, s, p, d = _pool_args(input, kernel_size, stride, padding, op, 1, dims)
    if x._data.dtype.kind != "f":
        raise TypeError(f"{op}: input must be float, got dtype {x.dtype}")
    _pool_out(x, k, s, p, d, ceil_mode, op)
    y = _pool.AvgPool.apply(x, kernel=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
                            count_include_pad=bool(count_include_pad), divisor_override=divisor_override)
    return y.squeeze(0) if unbatched else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """The mean of each window (zero padding counted unless ``count_include_pad=False``; a nonzero
    ``divisor_override`` replaces the divisor). Shapes and arguments as in :func:`max_pool2d`."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L) (arguments as :func:`avg_pool2d`, single ints)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W) (arguments as :func:`avg_pool2d`, ints or
    triples)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 3)


def _lp_pool(input, norm_type: float, kernel_size, stride, ceil_mode: bool, dims: int) -> Tensor:  # noqa: A002
    """lp_pool1d, 2d and 3d as PyTorch computes them: avg_pool of x^p times the window's size, to the power
    1/p (through sign(s) relu(|s|), so a window whose sum is 0 passes no gradient: ``where`` here); p = inf
    is max_pool of |x|, p = -inf minus max_pool of -|x|."""
    op = f"lp_pool{dims}d"
    x = as_tensor(input)
    _spatial_input(x, dims, op)  # the rank, checked in this op's name
    if x._data.dtype.kind != "f":
        raise TypeError(f"{op}: input must be float, got dtype {x.dtype}")
    if norm_type == math.inf:
        return _max_pool(ops.abs(x), kernel_size, stride, 0, 1, ceil_mode, False, dims)
    if norm_type == -math.inf:
        return -_max_pool(-ops.abs(x), kernel_size, stride, 0, 1, ceil_mode, False, dims)
    s = _avg_pool(x ** norm_type, kernel_size, stride, 0, ceil_mode, True, None, dims)
    with no_grad():
        nonzero = s != 0
    s = ops.where(nonzero, s, make(np.zeros((), s._data.dtype)))
    return (s * math.prod(_ntuple(kernel_size, dims, "kernel_size", op))) ** (1.0 / norm_type)


def lp_pool1d(input, norm_type: float, kernel_size: int, stride=None, ceil_mode: bool = False) -> Tensor:  # noqa: A002
    """Power-average pooling over (N, C, L) or (C, L): (sum of x^p over each window)^(1/p), p = ``norm_type``
    (inf: the window's largest |x|). Windows as in :func:`avg_pool1d` without padding (``stride`` defaults
    to the kernel size); computed as PyTorch does, from the window's mean times its size, so an odd p over
    negative values gives NaN and a ``ceil_mode`` window that overhangs the edge counts its mean k times.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.lp_pool1d(cr.tensor([[[3.0, 4.0]]]), 2, 2).tolist()
        [[[5.0]]]
    """
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1)


def lp_pool2d(input, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:  # noqa: A002
    """Power-average pooling over (N, C, H, W) or (C, H, W) (see :func:`lp_pool1d`; int or pair arguments)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2)


def lp_pool3d(input, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:  # noqa: A002
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W) (see :func:`lp_pool1d`; int or triple
    arguments)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3)


def _adaptive_avg(input, output_size, dims: int) -> Tensor:  # noqa: A002
    op = f"adaptive_avg_pool{dims}d"
    x = as_tensor(input)
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{op}: expected a {dims + 1}-d or {dims + 2}-d input, got shape {x.shape}")
    size = _adaptive_size(x, output_size, dims, op)
    if x._data.dtype.kind != "f":
        raise TypeError(f"{op}: input must be float, got dtype {x.dtype}")
    return _pool.AdaptiveAvgPool.apply(x, output_size=size)


def adaptive_avg_pool2d(input, output_size) -> Tensor:  # noqa: A002
    """Average pooling to a fixed output size (OH, OW) (an int for both; None keeps that input size),
    with PyTorch's windows: output i averages input[floor(i H / OH) : ceil((i + 1) H / OH)]."""
    return _adaptive_avg(input, output_size, 2)


def adaptive_avg_pool1d(input, output_size) -> Tensor:  # noqa: A002
    """Average pooling of (N, C, L) or (C, L) to a fixed length (see :func:`adaptive_avg_pool2d`)."""
    return _adaptive_avg(input, output_size, 1)


def adaptive_avg_pool3d(input, output_size) -> Tensor:  # noqa: A002
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed (OD, OH, OW) (see
    :func:`adaptive_avg_pool2d`)."""
    return _adaptive_avg(input, output_size, 3)


def _adaptive_size(x: Tensor, output_size, dims: int, op: str) -> tuple:
    """output_size as ``dims`` positive ints (an int for all; None keeps that input size)."""
    size = (output_size,) * dims if output_size is None or isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    size = tuple(x.shape[-dims + i] if v is None else v for i, v in enumerate(size))
    if len(size) != dims or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in size):
        raise ValueError(f"{op}: output_size must be one or {dims} positive ints, got {output_size!r}")
    return tuple(int(v) for v in size)


def _adaptive_max(input, output_size, return_indices: bool, dims: int, op: str):  # noqa: A002
    x, unbatched = _spatial_input(input, dims, op)
    size = _adaptive_size(x, output_size, dims, op)
    if min(x.shape[2:]) < 1:
        raise ValueError(f"{op}: input of shape {x.shape} has an empty spatial axis")
    y, idx = _max_with_indices(x, [_pool.adaptive_taps(n, o) for n, o in zip(x.shape[2:], size)], unbatched)
    return (y, idx) if return_indices else y


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):  # noqa: A002
    """Max pooling to a fixed output size (OH, OW) (an int for both; None keeps that input size), with
    PyTorch's windows (output i reads input[floor(i H / OH) : ceil((i + 1) H / OH)]); the gradient goes to
    each window's first maximum. With ``return_indices``, also the flat per-plane index of each maximum.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.adaptive_max_pool2d(cr.arange(16.0).reshape(1, 4, 4), 2).tolist()
        [[[5.0, 7.0], [13.0, 15.0]]]
    """
    return _adaptive_max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):  # noqa: A002
    """Max pooling of (N, C, L) or (C, L) to a fixed length (see :func:`adaptive_max_pool2d`)."""
    return _adaptive_max(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool3d(input, output_size, return_indices: bool = False):  # noqa: A002
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed (OD, OH, OW) (see :func:`adaptive_max_pool2d`)."""
    return _adaptive_max(input, output_size, return_indices, 3, "adaptive_max_pool3d")


def adaptive_max_pool1d_with_indices(input, output_size, return_indices: bool = False):  # noqa: A002
    """:func:`adaptive_max_pool1d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _adaptive_max(input, output_size, True, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d_with_indices(input, output_size, return_indices: bool = False):  # noqa: A002
    """:func:`adaptive_max_pool2d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _adaptive_max(input, output_size, True, 2, "adaptive_max_pool2d")


def adaptive_max_pool3d_with_indices(input, output_size, return_indices: bool = False):  # noqa: A002
    """:func:`adaptive_max_pool3d` returning (maxima, indices) whatever ``return_indices`` says, as PyTorch."""
    return _adaptive_max(input, output_size, True, 3, "adaptive_max_pool3d")


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, dims: int, op: str) -> Tensor:  # noqa: A002
    x, unbatched = _spatial_input(input, dims, op)
    idx = as_tensor(indices)
    if idx._data.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer (int64) tensor, got dtype {idx.dtype}")
    if idx.shape != tuple(input.shape):
        raise ValueError(f"{op}: indices of shape {idx.shape} must have the shape of the input {tuple(input.shape)}")
    if unbatched:
        idx = idx.unsqueeze(0)
    k = _ntuple(kernel_size, dims, "kernel_size", op)
    s = k if stride is None else _ntuple(stride, dims, "stride", op)
    p = _ntuple(padding, dims, "padding", op)
    size = [(n - 1) * si + ki - 2 * pi for n, ki, si, pi in zip(x.shape[2:], k, s, p)]
    if output_size is not None:
        want = [int(v) for v in output_size]
        want = want[2:] if len(want) == dims + 2 else want
        if len(want) != dims:
            raise ValueError(f"{op}: output_size should be a sequence of {dims} or {dims + 2} ints, got {output_size!r}")
        for i, (w, dflt, si) in enumerate(zip(want, size, s)):
            if not dflt - si < w < dflt + si:
                raise ValueError(f'{op}: invalid output_size "{tuple(want)}" (dim {i} must be between '
                                 f"{dflt - si} and {dflt + si})")
        size = want
    if min(size) < 1:
        raise ValueError(f"{op}: the output size {tuple(size)} must be positive")
    plane = int(np.prod(size))
    lo, hi = (int(idx._data.min()), int(idx._data.max())) if idx.numel() else (0, 0)
    if lo < 0 or hi >= plane:
        raise RuntimeError(f"{op}: found an invalid max index {hi if hi >= plane else lo} (output planes are of "
                           f"size {'x'.join(map(str, size))})")
    y = _pool.PlaneScatter.apply(x, as_tensor(idx, np.int64), size=tuple(size))
    return y.squeeze(0) if unbatched else y


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:  # noqa: A002
    """The partial inverse of :func:`max_pool2d`: each value put back at its index (from
    ``return_indices=True``) in a zero (N, C, H, W) plane, H = (OH - 1) stride - 2 padding + kernel_size unless
    ``output_size`` says otherwise; the gradient is read back at the indices.

    Example:
        >>> import chainrule as cr
        >>> F = cr.nn.functional
        >>> y, i = F.max_pool2d(cr.arange(16.0).reshape(1, 1, 4, 4), 2, return_indices=True)
        >>> F.max_unpool2d(y, i, 2).tolist()[0][0][1]
        [0.0, 5.0, 0.0, 7.0]
    """
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:  # noqa: A002
    """The partial inverse of :func:`max_pool1d` over (N, C, L) or (C, L) (see :func:`max_unpool2d`)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:  # noqa: A002
    """The partial inverse of :func:`max_pool3d` over (N, C, D, H, W) or (C, D, H, W) (see :func:`max_unpool2d`)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d")


def _channel_param(v, c: int, fill: float, dtype, name: str, op: str) -> Tensor:
    if v is None:
        return Tensor._make(np.full(c, fill, dtype), False, None)
    t = as_tensor(v, dtype)
    if t.shape != (c,):
        raise ValueError(f"{op}: {name} must have shape ({c},), got {t.shape}")
    return t


def _buffer_array(v):
    return None if v is None else v._data if isinstance(v, Tensor) else v


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,  # noqa: A002
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over axis 1 of (N, C, ...): in training with the batch's mean and biased
    variance, updating ``running_mean``/``running_var`` in place when given (momentum, unbiased
    variance); otherwise with the running statistics. One fused node (its own backward)."""
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of at least 2 dimensions (N, C, ...), got shape {x.shape}")
    if x._data.dtype.kind != "f":
        raise TypeError(f"batch_norm: input must be float, got dtype {x.dtype}")
    c = x.shape[1]
    rm, rv = _buffer_array(running_mean), _buffer_array(running_var)
    for name, r in (("running_mean", rm), ("running_var", rv)):
        if r is not None and np.shape(r) != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},), got {np.shape(r)}")
    if training and x._data.size // c < 2:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                         f"shape {x.shape}")
    if not training and (rm is None or rv is None):
        raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
    dt = x._data.dtype
    w = _channel_param(weight, c, 1.0, dt, "weight", "batch_norm")
    b = _channel_param(bias, c, 0.0, dt, "bias", "batch_norm")
    return _norm.BatchNorm.apply(x, w, b, training=bool(training), eps=eps, running_mean=rm,
                                 running_var=rv, momentum=momentum)


def as_normalized_shape(normalized_shape) -> tuple:
    """``normalized_shape`` (an int for one axis, or a sequence) as a tuple of ints, as LayerNorm,
    RMSNorm and their functions take it."""
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
    return tuple(int(s) for s in shape)


def _last_axes(op: str, x, normalized_shape, error) -> tuple:
    """The normalized shape, checked to be x's last axes (``error``: the type PyTorch raises for ``op``)."""
    shape = as_normalized_shape(normalized_shape)
    if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
        raise error(f"{op}: normalized_shape {shape} does not match the last axes of input shape {x.shape}")
    return shape


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:  # noqa: A002
    """Normalise each sample over its last axes ``normalized_shape`` (mean 0, variance 1, biased), then
    scale by ``weight`` and shift by ``bias`` (both of that shape). One fused node."""
    x = as_tensor(input)
    shape = _last_axes("layer_norm", x, normalized_shape, ValueError)
    if x._data.dtype.kind != "f":
        raise TypeError(f"layer_norm: input must be float, got dtype {x.dtype}")
    dt = x._data.dtype
    w = Tensor._make(np.ones(shape, dt), False, None) if weight is None else as_tensor(weight, dt)
    b = Tensor._make(np.zeros(shape, dt), False, None) if bias is None else as_tensor(bias, dt)
    for name, t in (("weight", w), ("bias", b)):
        if t.shape != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}, got {t.shape}")
    return _norm.LayerNorm.apply(x, w, b, ndim=len(shape), eps=eps)


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


def _indices(input, op: str, rows: int) -> np.ndarray:
    """The integer index array of ``input``, every index checked against a table of ``rows`` rows."""
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers (int64), got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= rows):
        bad = idx[(idx < 0) | (idx >= rows)].flat[0]
        raise IndexError(f"{op}: index {bad} is out of range for a table of {rows} rows")
    return idx.astype(np.int64, copy=False)


def _table(weight, op: str, padding_idx):
    """``weight`` as a 2-d tensor and ``padding_idx`` made non-negative (checked against its rows)."""
    w = as_tensor(weight)
    if w.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-d (num_embeddings, embedding_dim), got shape {w.shape}")
    v = w.shape[0]
    if padding_idx is not None:
        if not -v <= padding_idx < v:
            raise ValueError(f"{op}: padding_idx {padding_idx} must be within num_embeddings ({v})")
        padding_idx %= v
    return w, padding_idx


def _renorm_rows_(weight, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """PyTorch's embedding_renorm_: under no_grad, each row of ``weight`` named in ``idx`` whose
    ``norm_type``-norm exceeds ``max_norm`` is scaled in place by max_norm / (norm + 1e-7). The
    weight's version goes up even when no row changes, as in PyTorch (a node that saved the weight
    before raises at backward)."""
    with no_grad():
        rows = ops.unique(make(idx.reshape(-1)))
        picked = weight[rows]
        norms = picked.norm(p=norm_type, dim=1, keepdim=True)
        weight[rows] = ops.where(norms > max_norm, picked * (max_norm / (norms + 1e-7)), picked)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,  # noqa: A002
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (V, D) picked by the integer tensor ``input`` (any shape) -> input.shape + (D,).

    Args:
        padding_idx (int, None): that row gets no gradient.
        max_norm (float, None): first, under no_grad, each looked-up row whose ``norm_type``-norm
            (2.0) exceeds it is scaled down in place to that norm (PyTorch's renormalisation).
        scale_grad_by_freq (bool, False): each row's gradient divided by its count in ``input``.
        sparse (bool, False): accepted; the gradient is a dense array (docs/pytorch.md).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.embedding(cr.tensor([[0, 2]]), cr.eye(3)).tolist()
        [[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]
    """
    w, padding_idx = _table(weight, "embedding", padding_idx)
    idx = _indices(input, "embedding", w.shape[0])
    if max_norm is not None:
        _renorm_rows_(w, idx, max_norm, norm_type)
    return _embedding.Embedding.apply(w, make(idx), padding_idx=padding_idx,
                                      scale_grad_by_freq=bool(scale_grad_by_freq))


def _bag_starts(idx: np.ndarray, offsets, include_last_offset: bool) -> np.ndarray:
    """Each bag's first position in the flat indices: from ``offsets`` (checked as PyTorch does, and
    non-decreasing), or every row of a 2-d ``idx``."""
    if idx.ndim == 2:
        if offsets is not None:
            raise ShapeError("embedding_bag: if input is 2D, then offsets has to be None, as input is treated "
                             f"as a mini-batch of fixed length sequences; got offsets of type {type(offsets).__name__}")
        return np.arange(idx.shape[0], dtype=np.int64) * idx.shape[1]
    if idx.ndim != 1:
        raise ShapeError(f"embedding_bag: input has to be 1D or 2D Tensor, but got Tensor of dimension {idx.ndim}")
    if offsets is None:
        raise ShapeError("embedding_bag: offsets has to be a 1D Tensor but got None")
    off = offsets._data if isinstance(offsets, Tensor) else np.asarray(offsets)
    if off.ndim != 1 or off.dtype.kind not in "iu":
        raise ShapeError(f"embedding_bag: offsets has to be a 1D integer Tensor, got shape {off.shape} and "
                         f"dtype {off.dtype}")
    n = idx.size
    if len(off) and off[0] != 0:
        raise ShapeError(f"embedding_bag: offsets[0] has to be 0, i.e., the first sequence in the mini-batch "
                         f"has to start from position 0; got {off[0]}")
    if len(off) and off[-1] > n:
        raise ShapeError(f"embedding_bag: offsets[-1] can not be greater than input's length {n} but got "
                         f"offsets[-1] of {off[-1]}")
    if (np.diff(off) < 0).any():
        raise ShapeError(f"embedding_bag: offsets must be non-decreasing, got {off.tolist()[:8]}")
    if include_last_offset:
        if not len(off) or off[-1] != n:
            raise ShapeError(f"embedding_bag: with include_last_offset=True the last offset must be the "
                             f"input's length {n}, got {off.tolist()[-1:]}")
        off = off[:-1]
    return off.astype(np.int64, copy=False)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type: float = 2,  # noqa: A002
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights=None, include_last_offset: bool = False, padding_idx=None) -> Tensor:
    """Sums, means or maxima of bags of ``weight``'s rows, without the (n, D) lookup in between.

    Args:
        input (int tensor): (B, N), B bags of N indices; or (n,) indices with ``offsets`` (B,), each
            bag's start (the last bag runs to the end; ``include_last_offset``: offsets has B + 1
            entries, the last being n).
        mode (str, "mean"): "sum", "mean" or "max" over each bag; an empty bag gives zeros.
        per_sample_weights (tensor, None): the shape of ``input``, each index's weight (mode "sum").
        padding_idx (int, None): entries equal to it are left out of their bag (and out of its size).
        max_norm, norm_type, scale_grad_by_freq, sparse: as in :func:`embedding`.

    Shape: -> (B, D), in weight's dtype.

    Example:
        >>> import chainrule as cr
        >>> F = cr.nn.functional
        >>> F.embedding_bag(cr.tensor([0, 1, 2]), cr.eye(3), cr.tensor([0, 2]), mode="sum").tolist()
        [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    w, padding_idx = _table(weight, "embedding_bag", padding_idx)
    idx = _indices(input, "embedding_bag", w.shape[0])
    if per_sample_weights is not None and tuple(np.shape(per_sample_weights)) != idx.shape:
        raise ValueError(f"embedding_bag: If per_sample_weights ({tuple(np.shape(per_sample_weights))}) is not "
                         f"None, then it must have the same shape as the input ({idx.shape})")
    starts = _bag_starts(idx, offsets, include_last_offset)
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode has to be one of sum, mean or max, got {mode!r}")
    if max_norm is not None:
        _renorm_rows_(w, idx, max_norm, norm_type)
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights is only supported for mode='sum' "
                                  f"(got mode={mode!r})")
    if scale_grad_by_freq and mode == "max":
        raise ValueError("embedding_bag: max mode does not support scaling the gradient by the frequency")
    inputs = [w, make(idx.reshape(-1)), make(starts)]
    rule = _embedding.EmbeddingBag
    if per_sample_weights is not None:
        psw = as_tensor(per_sample_weights)
        if psw.dtype != w.dtype:
            raise DtypeError(f"embedding_bag: per_sample_weights ({dtypes.type_name(psw.dtype)}) must have the "
                             f"weight's dtype ({dtypes.type_name(w.dtype)})")
        inputs.append(psw.reshape(-1))
        rule = _embedding.WeightedEmbeddingBag
    return rule.apply(*inputs, mode=mode, padding_idx=padding_idx, scale_grad_by_freq=bool(scale_grad_by_freq))


_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input, pad, mode: str = "constant", value=None) -> Tensor:  # noqa: A002
    """PyTorch's pad: ``pad`` lists (before, after) pairs from the LAST axis backwards, e.g. (1, 1, 2, 0)
    pads W by 1 and 1, H by 2 before. ``mode`` "constant" (with ``value``, default 0; negative pads
    crop), "reflect", "replicate" or "circular" (those by an index gather, so gradients add up).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.pad(cr.tensor([[1.0, 2.0]]), (1, 0)).tolist()
        [[0.0, 1.0, 2.0]]
    """
    x = as_tensor(input)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding length must be even and at most 2 * {x.ndim}, got {len(pad)}")
    pairs = [(0, 0)] * (x.ndim - len(pad) // 2) + [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)][::-1]
    if mode == "constant":
        crop = tuple(slice(max(-a, 0), n - max(-b, 0)) for (a, b), n in zip(pairs, x.shape))
        if any(a < 0 or b < 0 for a, b in pairs):
            x = x[crop]
        return ops.pad(x, [(max(a, 0), max(b, 0)) for a, b in pairs], 0.0 if value is None else value)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if value:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    for axis, (a, b) in enumerate(pairs):
        if a or b:
            n = x.shape[axis]
            if min(a, b) < 0 or (mode == "reflect" and max(a, b) >= n) or (mode == "circular" and max(a, b) > n):
                raise ValueError(f"pad: {mode} padding ({a}, {b}) is too large (or negative) for an axis of "
                                 f"length {n}")
            idx = np.pad(np.arange(n), (a, b), mode=_PAD_MODES[mode])
            x = ops.index_select(x, axis, Tensor._make(idx, False, None))
    return x


def silu(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * sigmoid(x) (also called swish); from primitives, so its gradient needs no rule."""
    x = as_tensor(input)
    return x * ops.sigmoid(x)


# ----------------------------------------------------------------------------- more losses, activations, norms
# Each is composed from differentiable ops (so its gradient needs no rule of its own), written as
# PyTorch computes it: the same clamps, epsilons and masks, so values and gradients agree.
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


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps along the last axis (broadcast first), as PyTorch computes it."""
    a, b = floats(*promote(x1, x2))
    d = a - b + eps
    return ops.norm(d, p, -1 if d.ndim else None, keepdim=keepdim and d.ndim > 0)


pdist = ops.pdist


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


def _affine(y: Tensor, weight, bias, shape) -> Tensor:
    """y * weight + bias, each reshaped to ``shape`` (None skips it)."""
    if weight is not None:
        y = y * as_tensor(weight, y._data.dtype).reshape(shape)
    if bias is not None:
        y = y + as_tensor(bias, y._data.dtype).reshape(shape)
    return y


def _standardize(x: Tensor, dims, eps: float) -> Tensor:
    """(x - mean) / sqrt(biased var + eps) over ``dims``."""
    d = x - x.mean(dims, keepdim=True)
    return d / ops.sqrt((d * d).mean(dims, keepdim=True) + eps)


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:  # noqa: A002
    """Normalise (N, C, *) over each group of C / num_groups channels and the spatial axes (mean 0,
    biased variance 1), then scale and shift per channel by ``weight`` and ``bias`` (C,)."""
    x = float_input(input)
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input "
                           f"of shape {list(x.shape)} and num_groups={num_groups}")
    n, c = x.shape[:2]
    y = _standardize(x.reshape(n, num_groups, -1), -1, eps).reshape(x.shape)
    return _affine(y, weight, bias, (c,) + (1,) * (x.ndim - 2))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,  # noqa: A002
                  use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of (N, C, *) over its spatial axes; with
    ``use_input_stats=False``, by ``running_mean``/``running_var`` instead. Given running statistics
    are updated in place from the batch's mean over samples (of the means and unbiased variances)."""
    x = float_input(input)
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected an input (N, C, *) with spatial axes, got shape {x.shape}")
    shape = (x.shape[1],) + (1,) * (x.ndim - 2)
    dims = tuple(range(2, x.ndim))
    if not use_input_stats:
        rm, rv = _buffer_array(running_mean), _buffer_array(running_var)
        if rm is None or rv is None:
            raise ValueError("instance_norm: running_mean and running_var are needed when use_input_stats=False")
        mean, var = (as_tensor(r, x._data.dtype).reshape(shape) for r in (running_mean, running_var))
        y = (x - mean) / ops.sqrt(var + eps)   # by ops on the buffers: a compiled step reads them afresh
        return _affine(y, weight, bias, shape)
    for name, r in (("running_mean", running_mean), ("running_var", running_var)):
        if r is not None and np.shape(_buffer_array(r)) != shape[:1]:
            raise ValueError(f"instance_norm: {name} must have shape {shape[:1]} for input of shape {x.shape}, "
                             f"got {np.shape(_buffer_array(r))}")
    count = int(np.prod(x.shape[2:]))
    if count <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {list(x.shape)}")
    for r, stat in ((_buffer_array(running_mean), x._data.mean(dims)),
                    (_buffer_array(running_var), x._data.var(dims, ddof=1))):
        if r is not None:
            r[...] = (1 - momentum) * r + momentum * stat.mean(0)
    return _affine(_standardize(x, dims, eps), weight, bias, shape)


def rms_norm(input, normalized_shape, weight=None, eps=None) -> Tensor:  # noqa: A002
    """x / sqrt(mean(x^2) + eps) over the last axes ``normalized_shape``, times ``weight`` (that shape);
    ``eps`` None is the dtype's machine epsilon, as PyTorch."""
    x = float_input(input)
    shape = _last_axes("rms_norm", x, normalized_shape, RuntimeError)
    e = np.finfo(x._data.dtype).eps if eps is None else eps
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    y = x / ops.sqrt((x * x).mean(dims, keepdim=True) + e)
    return y if weight is None else y * as_tensor(weight, x._data.dtype)


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:  # noqa: A002
    """x / (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta (the window zero-padded by
    size // 2 before and (size - 1) // 2 after, and always divided by ``size``, as PyTorch)."""
    x = float_input(input)
    if x.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {x.ndim} dimensions)")
    if x._data.size == 0:
        return x
    sq = x * x
    c = x.shape[1]
    padded = ops.pad(sq, [(0, 0), (size // 2, (size - 1) // 2)] + [(0, 0)] * (x.ndim - 2), 0.0)
    window = padded.narrow(1, 0, c)
    for j in range(1, size):
        window = window + padded.narrow(1, j, c)
    return x / (window * (alpha / size) + k) ** beta


from chainrule._missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("chainrule.nn.functional", "torch.nn.functional", globals())
