"""Resampling and rearranging images: ``interpolate`` (and the deprecated ``upsample*``),
``affine_grid`` and ``grid_sample``, ``pixel_shuffle`` / ``pixel_unshuffle``, ``channel_shuffle``
and ``pad``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from chainrule import dtypes, ops
from chainrule.core import DtypeError, ShapeError, shape_constant
from chainrule.ops.convert import as_tensor, float_input
from chainrule.rules import sample as _sample
from chainrule.tensor import Tensor
from chainrule.nn.functional.pooling import _adaptive_avg


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
    dtypes.need_float(x._data.dtype, "grid_sampler_2d_cpu_kernel_impl")
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
