"""Sampling an image at arbitrary points (grid_sample): bilinear and nearest lookups with zeros, border
and reflection padding, forward and backward side by side.

A grid point (x, y) in [-1, 1] becomes a pixel position (PyTorch's rule, with d(pixel)/d(point) beside
it), then its four neighbours (or its nearest pixel) are gathered from the flattened image, one
vectorised gather per neighbour; the backward adds the gradient back with np.add.at.
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function


def _clip(pix: np.ndarray, size: int):
    """pix clipped to [0, size - 1] (NaN to 0, as PyTorch), and where its derivative is 1: inside, not on
    either border (PyTorch's rule)."""
    inside = (pix > 0) & (pix < size - 1)
    return np.fmin(np.fmax(pix, pix.dtype.type(0)), pix.dtype.type(size - 1)), inside


def _reflect(pix: np.ndarray, twice_low: int, twice_high: int):
    """pix reflected by the borders low and high until it falls between them, and where its derivative
    is -1 (an odd number of reflections of a point above low, or an even one below). The bounds come
    doubled so that half-integers stay exact. (With low = high every point is low; the clip that follows
    gives it derivative 0.)"""
    if twice_low == twice_high:
        return np.zeros_like(pix), np.zeros(pix.shape, bool)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    shifted = pix - pix.dtype.type(low)
    away = np.abs(shifted)
    flips = np.floor(away / pix.dtype.type(span))
    extra = away - flips * pix.dtype.type(span)             # fmod(away, span), at a third of its cost
    odd = np.fmod(flips, 2) == 1
    out = np.where(odd, (span - extra) + low, extra + low).astype(pix.dtype, copy=False)
    return out, (shifted < 0) != odd


def source_index(coord: np.ndarray, size: int, padding: str, align_corners: bool):
    """The pixel position of normalised coordinates along an axis of ``size`` pixels, and
    d(position)/d(coord): the scale alone (a number) with zeros padding, else an array."""
    t = coord.dtype.type
    if align_corners:   # -1 and 1 are the centres of the corner pixels
        scale = (size - 1) / 2
        pix = (coord + t(1)) * t(scale)
    else:               # -1 and 1 are the outer edges of the corner pixels
        scale = size / 2
        pix = (coord + t(1)) * t(scale) - t(0.5)
    if padding == "zeros":
        return pix, scale
    slope = np.full(pix.shape, scale, coord.dtype)
    if padding == "reflection":
        pix, flipped = _reflect(pix, 0, 2 * (size - 1)) if align_corners else _reflect(pix, -1, 2 * size - 1)
        np.negative(slope, out=slope, where=flipped)
    pix, inside = _clip(pix, size)
    slope *= inside
    return pix, slope


PAD = 2   # zero pixels around the image: a corner clipped to [-2, size] and its neighbour + 1 both land in it


def _corner(ix: np.ndarray, iy: np.ndarray, w: int, h: int) -> np.ndarray:
    """The flat index into the image padded by PAD zero pixels on every side of the pixels (ix, iy)
    (integral floats), those outside moved onto the padding (a NaN too: fmin and fmax drop it):
    (N, P) -> (N, P). A pixel clipped to -2 or to the size keeps its right and lower neighbours
    (+1) outside the image, so the other three corners are this index plus 1, a row, a row and 1."""
    cx = np.fmax(np.fmin(ix, w), -PAD).astype(np.intp)
    cy = np.fmax(np.fmin(iy, h), -PAD).astype(np.intp)
    return (cy + PAD) * (w + 2 * PAD) + (cx + PAD)


class GridSample(Function):
    """y[n, c, h, w] = the image x[n, c] read at grid[n, h, w] = (x, y) in [-1, 1] (bilinear: the four
    neighbours weighted by their opposite areas; nearest: the closest pixel). dL/dx adds each output's
    gradient back into the pixels it read, times their weights; dL/dgrid (bilinear) is the gradient of
    the weights: d/dix = sum_c g (wy0 (v_ne - v_nw) + wy1 (v_se - v_sw)), likewise d/diy, times
    d(pixel)/d(coordinate) (its scale, 0 where the border clips, -1 where reflection flips); nearest
    gives the grid 0.

    Inputs x (N, C, H, W) and grid (N, Ho, Wo, 2); options mode ("bilinear", "nearest"), padding_mode
    ("zeros", "border", "reflection") and align_corners. Output (N, C, Ho, Wo). The image is read with
    PAD zero pixels of padding around it, so that a neighbour outside (zeros padding, or the right
    neighbour of a point on the last pixel) reads 0 without a mask; the four neighbours are one index
    array read at four offsets (views of the flat image, no index arithmetic).
    """

    saved_inputs = (0, 1)

    def forward(self, x, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
        n, c, h, w = x.shape
        out_hw = grid.shape[1:3]
        pts = grid.reshape(n, -1, 2)                            # (N, P, 2), P = Ho Wo
        ix, dix = source_index(pts[..., 0], w, padding_mode, align_corners)
        iy, diy = source_index(pts[..., 1], h, padding_mode, align_corners)
        row = w + 2 * PAD
        if mode == "nearest":
            corner, self.offsets, self.weights = _corner(np.rint(ix), np.rint(iy), w, h), (0,), [None]
        else:
            x0, y0 = np.floor(ix), np.floor(iy)
            wx1, wy1 = ix - x0, iy - y0
            wx0, wy0 = 1 - wx1, 1 - wy1
            corner, self.offsets = _corner(x0, y0, w, h), (0, 1, row, row + 1)   # nw, ne, sw, se
            self.weights = [wx0 * wy0, wx1 * wy0, wx0 * wy1, wx1 * wy1]
            self.factors = (wx0, wx1, wy0, wy1)
        plane = (h + 2 * PAD) * row
        # (N, C, P) into the padded image, flat; a neighbour is the same index into a shifted view
        self.index = (np.arange(n * c, dtype=np.intp) * plane).reshape(n, c, 1) + corner[:, None, :]
        xp = np.pad(x, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD))).reshape(-1)
        self.shape, self.scales, self.size = (n, c, h, w, out_hw), (dix, diy), xp.size
        self.values = []                                        # the neighbours read, for dL/dgrid
        out = None
        for offset, weight in zip(self.offsets, self.weights):
            v = np.take(xp[offset:], self.index)                # (N, C, P)
            if weight is None:
                out = v
                continue
            self.values.append(v)
            v = v * weight[:, None, :]
            out = v if out is None else np.add(out, v, out=out)
        return out.reshape(n, c, *out_hw)

    def backward(self, grad):
        n, c, h, w, out_hw = self.shape
        g = grad.reshape(n, c, -1)                              # (N, C, P)
        gx = gg = None
        if self.needs_input_grad[0]:   # each neighbour's share added at the shared index, in a view at its offset
            index, flat = self.index.ravel(), np.zeros(self.size, grad.dtype)
            for offset, wt in zip(self.offsets, self.weights):
                np.add.at(flat[offset:], index, (g if wt is None else g * wt[:, None, :]).ravel())
            gx = flat.reshape(n, c, h + 2 * PAD, w + 2 * PAD)[:, :, PAD:-PAD, PAD:-PAD]
        if self.needs_input_grad[1]:
            gg = np.zeros((n,) + tuple(out_hw) + (2,), grad.dtype)
            if len(self.offsets) == 4:    # bilinear: the weights' gradient (nearest's grid gradient is 0)
                nw, ne, sw, se = self.values
                wx0, wx1, wy0, wy1 = (a[:, None, :] for a in self.factors)
                dix = ((wy0 * (ne - nw) + wy1 * (se - sw)) * g).sum(1) * self.scales[0]
                diy = ((wx0 * (sw - nw) + wx1 * (se - ne)) * g).sum(1) * self.scales[1]
                gg[..., 0] = dix.reshape(n, *out_hw)
                gg[..., 1] = diy.reshape(n, *out_hw)
        return gx, gg
