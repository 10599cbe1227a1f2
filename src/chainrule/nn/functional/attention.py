"""Attention: ``scaled_dot_product_attention`` (one rule, :mod:`chainrule.rules.attention`) and
``multi_head_attention_forward``, the functional form of ``nn.MultiheadAttention``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from chainrule import ops
from chainrule.core import make, shape_constant
from chainrule.ops.convert import as_tensor, floats, promote
from chainrule.rules.attention import ScaledDotProductAttention
from chainrule.random import dropout_mask
from chainrule.tensor import Tensor
from chainrule.nn.functional.dropouts import dropout
from chainrule.nn.functional.linear_conv import linear
from chainrule.nn.functional.vision import pad


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
