"""The layers with weights: ``linear`` (x W^T + b, one fused rule), ``bilinear`` (x1^T A x2 + b), the
convolutions (``conv1d``..``conv3d``, ``conv_transpose1d``..``conv_transpose3d``) and ``unfold`` /
``fold`` (im2col and its adjoint): argument checks here, the arithmetic and its gradient in
:mod:`chainrule.rules.linalg` and :mod:`chainrule.rules.conv`.
"""
from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.core import ShapeError
from chainrule.ops.convert import as_tensor, float_input
from chainrule.rules.linalg import Linear
from chainrule.rules import conv as _conv
from chainrule.tensor import Tensor
from chainrule.nn.functional._common import _ntuple, _spatial_input
from chainrule.nn.functional.vision import pad


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


def _weight(weight, dims: int, op: str, channels: str) -> Tensor:
    """A convolution's weight as a tensor of dims + 2 axes, (``channels``, kernel...), or one line naming
    the layout ``op`` expects."""
    w = as_tensor(weight)
    if w.ndim != dims + 2:
        raise ValueError(f"{op}: weight must be {dims + 2}-d ({channels}, {_KERNEL_NAMES[dims]}), got shape {w.shape}")
    return w


def _convnd(input, weight, bias, stride, padding, dilation, groups: int, dims: int) -> Tensor:  # noqa: A002
    """conv1d, conv2d and conv3d: the arguments checked, then the one Conv rule."""
    op = f"conv{dims}d"
    x, unbatched = _spatial_input(input, dims, op)
    w = _weight(weight, dims, op, "out_channels, in_channels / groups")
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
    w = _weight(weight, dims, op, "in_channels, out_channels / groups")
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
