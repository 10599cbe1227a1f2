"""Reduction rules: sum, mean, max/min, logsumexp, cumsum, norm.

A reduction's backward spreads the upstream gradient back over the reduced
axes: sum copies it, mean divides it by the count, max routes it to the
largest element (split evenly among ties, as PyTorch's amax does).
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function


def _keepdims_grad(grad, shape, axes, keepdims):
    """Reinsert the reduced axes into ``grad`` so that it broadcasts against the input."""
    if keepdims:
        return grad
    if axes is None:
        return grad.reshape((1,) * len(shape))
    return np.expand_dims(grad, axes)


class Sum(Function):
    """sum of x over axes; d/dx_i = 1: the upstream gradient is copied to every element."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return np.add.reduce(x, axis=axis, keepdims=keepdims)  # x.sum() without its Python wrapper

    def backward(self, grad):
        g = _keepdims_grad(grad, self.shape, self.axis, self.keepdims)
        return np.broadcast_to(g, self.shape)

    def local(self, i):
        return ("{g} copied to every element of {0}",)


class Mean(Function):
    """mean of x over axes; d/dx_i = 1/n for the n elements averaged."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        self.n = x.size if axis is None else int(np.prod([x.shape[a] for a in axis]))
        # np.add.reduce, not x.mean(): the same sum in C without NumPy's Python-level wrapper
        return np.add.reduce(x, axis=axis, keepdims=keepdims) / x.dtype.type(self.n)

    def backward(self, grad):
        g = np.empty(self.shape, dtype=grad.dtype)
        g[...] = _keepdims_grad(grad, self.shape, self.axis, self.keepdims) / grad.dtype.type(self.n)
        return g

    def local(self, i):
        return ("{g} / %d copied to every element of {0}" % self.n,)


class Amax(Function):
    """max of x over axes; the gradient goes to the maximal elements, split evenly among ties.

    Where the result is NaN: with ``route_nan`` (PyTorch's ``max()``) the gradient goes to the NaN
    entries; without it (PyTorch's ``amax``) no element equals the result, so the slice's gradient
    is g / 0 * 0 = NaN, as PyTorch's.
    """

    saved_inputs, saves_output = (0,), True
    reduce = staticmethod(np.amax)

    def forward(self, x, axis=None, keepdims=False, route_nan=True):
        self.x, self.axis, self.keepdims, self.route_nan = x, axis, keepdims, route_nan
        self.out = self.reduce(x, axis=axis, keepdims=True)
        return self.out if keepdims else (self.out.reshape(()) if axis is None else
                                          np.squeeze(self.out, axis=axis))

    def backward(self, grad):
        g = _keepdims_grad(grad, self.x.shape, self.axis, self.keepdims)
        mask = self.x == self.out
        if self.route_nan and np.isnan(self.out).any():
            mask |= np.isnan(self.x) & np.isnan(self.out)
        count = mask.sum(axis=self.axis, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return mask * (g / count)


class Amin(Amax):
    """min of x over axes; the gradient goes to the minimal elements, split evenly among ties."""

    reduce = staticmethod(np.amin)


class Var(Function):
    """The variance sum (x - mean)^2 / (N - correction) over axes; d/dx_i = 2 (x_i - mean) / (N - c).

    As PyTorch: the forward divides by max(0, N - c) (inf when c >= N); the backward by N - c over
    given dims, and over all elements with N - c <= 0 it is inf * |x_i - mean| (PyTorch's value:
    inf, NaN where x_i is the mean).
    """

    saved_inputs = (0,)

    def forward(self, x, axis=None, correction=1, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        n = x.size if axis is None else int(np.prod([x.shape[a] for a in axis]))
        self.dof = n - correction
        with np.errstate(divide="ignore", invalid="ignore"):
            self.d = x - np.add.reduce(x, axis=axis, keepdims=True) / x.dtype.type(n)
            v = np.add.reduce(self.d * self.d, axis=axis, keepdims=keepdims) / x.dtype.type(max(0, self.dof))
        return np.asarray(v)

    def backward(self, grad):
        return self._spread(_keepdims_grad(grad, self.shape, self.axis, self.keepdims))

    def _spread(self, g):
        """dL/dx from dL/dvar ``g`` (with the reduced axes kept)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.axis is None and self.dof <= 0:
                return g * np.inf * np.abs(self.d)
            return g * (self.d * (self.d.dtype.type(2) / self.d.dtype.type(self.dof)))


class Std(Var):
    """The standard deviation sqrt(var); d/dx = d var/dx / (2 std), taken as 0 where std is 0 (a
    constant slice), as PyTorch."""

    saves_output = True

    def forward(self, x, axis=None, correction=1, keepdims=False):
        self.out = np.sqrt(super().forward(x, axis, correction, True))
        self.keepdims = keepdims
        return self.out if keepdims else (self.out.reshape(()) if axis is None else
                                          np.squeeze(self.out, axis=axis))

    def backward(self, grad):
        g = _keepdims_grad(grad, self.shape, self.axis, self.keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            gv = np.where(self.out == 0, 0, g / (2 * self.out))
        return self._spread(gv.astype(self.out.dtype, copy=False))


class LogSumExp(Function):
    """log sum exp(x) over axes, computed stably; d/dx_i = softmax(x)_i."""

    saved_inputs, saves_output = (0,), True

    def forward(self, x, axis=None, keepdims=False):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        m = np.amax(x, axis=axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):  # an empty axis: log(0) = -inf, PyTorch's value
            self.out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
        return self.out if keepdims else (self.out.reshape(()) if axis is None else
                                          np.squeeze(self.out, axis=axis))

    def backward(self, grad):
        g = _keepdims_grad(grad, self.x.shape, self.axis, self.keepdims)
        return g * np.exp(self.x - self.out)


class MaxDim(Function):
    """max (or min) of x along one axis, with the position; the gradient goes to that position only
    (PyTorch's max(dim): one index per slice, the first one on ties, a NaN when there is one)."""

    def forward(self, x, axis, keepdim, largest=True):
        idx = np.argmax(x, axis=axis) if largest else np.argmin(x, axis=axis)
        self.idx, self.shape, self.axis, self.keepdim = np.expand_dims(idx, axis), x.shape, axis, keepdim
        values = np.take_along_axis(x, self.idx, axis)
        return values if keepdim else np.squeeze(values, axis)

    def backward(self, grad):
        g = np.zeros(self.shape, grad.dtype)
        np.put_along_axis(g, self.idx, grad if self.keepdim else np.expand_dims(grad, self.axis), self.axis)
        return g


class Cumsum(Function):
    """Running sum along ``dim``: y_i = sum_{j <= i} x_j; dL/dx_j = sum_{i >= j} g_i (a reversed cumsum)."""

    def forward(self, x, dim, dtype=None):
        self.dim = dim
        return np.cumsum(x, axis=dim, dtype=dtype)

    def backward(self, grad):
        d = self.dim
        return np.flip(np.cumsum(np.flip(grad, d), axis=d), d)


def pnorm(x, p, axis):
    """The p-norm (sum |x|^p)^(1/p) over ``axis`` (an int, a tuple, or None for all), keeping the reduced
    axes (p = inf: max |x|, -inf: min |x|, 0: the count of non-zeros)."""
    a = np.abs(x)
    if p == 2:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    if p == 1:
        return np.sum(a, axis=axis, keepdims=True)
    if p == np.inf:
        return np.amax(a, axis=axis, keepdims=True)
    if p == -np.inf:
        return np.amin(a, axis=axis, keepdims=True)
    if p == 0:
        return np.sum(a != 0, axis=axis, keepdims=True).astype(x.dtype)
    with np.errstate(divide="ignore"):
        return np.sum(a ** p, axis=axis, keepdims=True) ** (1.0 / p)


def pnorm_grad(x, out, g, p, axis, share_ties=True):
    """dL/dx of ``out = pnorm(x, p, axis)`` (kept axes) for the upstream ``g`` (shaped as ``out``):
    sign(x) |x|^(p-1) / norm^(p-1) times g (x / norm for p = 2, sign(x) for p = 1), 0 where the norm
    is 0, as PyTorch does; for p = +-inf g goes to the extreme |x|, split evenly among ties (given
    whole to each of them without ``share_ties``, as PyTorch's cdist and pdist)."""
    zero = np.zeros((), x.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        if p == 0:
            return np.zeros(x.shape, x.dtype)
        if p == 2:
            return np.where(out == 0, zero, g / out) * x
        if p == 1:
            return np.sign(x) * g
        if p in (np.inf, -np.inf):
            hit = np.abs(x) == out
            if not share_ties:
                return np.sign(x) * hit * g
            count = hit.sum(axis=axis, keepdims=True)
            return np.sign(x) * hit * (g / count)
        a = np.abs(x)
        scaled = np.where(x == 0, zero, np.sign(x) * a ** (p - 1))
        return scaled * np.where(out == 0, zero, g / out ** (p - 1))


class Norm(Function):
    """The p-norm (sum |x|^p)^(1/p) over axes (p = inf: max |x|, -inf: min |x|): :func:`pnorm`, and
    its gradient :func:`pnorm_grad` (0 where the norm is 0; for p = +-inf to the extreme |x|, split
    among ties unless ``share_ties`` is False)."""

    saved_inputs, saves_output = (0,), True

    def forward(self, x, p, axis=None, keepdims=False, share_ties=True):
        self.x, self.p, self.axis, self.keepdims, self.share_ties = x, p, axis, keepdims, share_ties
        out = self.out = pnorm(x, p, axis)
        if keepdims:
            return out
        return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)

    def backward(self, grad):
        x, g = self.x, grad
        if not self.keepdims:
            g = g.reshape((1,) * x.ndim) if self.axis is None else np.expand_dims(g, self.axis)
        return pnorm_grad(x, self.out, g, self.p, self.axis, self.share_ties)


class Cdist(Function):
    """D[n, i, j] = ||a[n, i] - b[n, j]||_p (a: (N, P, M), b: (N, R, M)), as torch.cdist; the rows of a
    in blocks, so that only a block's differences are ever held (the backward computes them again).
    dL/da_i = sum_j d||d_ij||/dd_ij G_ij and dL/db_j = -sum_i of the same (:func:`pnorm_grad`, the
    whole gradient to each tie for p = inf, as PyTorch's)."""

    saved_inputs, saves_output = (0, 1), True
    BLOCK = 1 << 20  # elements of differences per block

    def forward(self, a, b, *, p):
        self.a, self.b, self.p = a, b, p
        out = self.out = np.empty(a.shape[:-1] + (b.shape[-2],), np.result_type(a, b))
        for rows in self._blocks():
            out[:, rows] = pnorm(self._diff(rows), p, -1)[..., 0]
        return out

    def backward(self, grad):
        need_a, need_b = self.needs_input_grad
        ga = np.zeros(self.a.shape, grad.dtype) if need_a else None
        gb = np.zeros(self.b.shape, grad.dtype) if need_b else None
        for rows in self._blocks():
            gd = pnorm_grad(self._diff(rows), self.out[:, rows, :, None], grad[:, rows, :, None], self.p, -1,
                            share_ties=False)
            if need_a:
                ga[:, rows] = gd.sum(2)
            if need_b:
                gb -= gd.sum(1)
        return ga, gb

    def _diff(self, rows):
        return self.a[:, rows, None, :] - self.b[:, None, :, :]

    def _blocks(self):
        n, p, m = self.a.shape
        step = max(1, self.BLOCK // max(1, n * self.b.shape[1] * m))
        return [slice(i, min(i + step, p)) for i in range(0, p, step)] or [slice(0, 0)]


class Pdist(Function):
    """d_k = ||x_i - x_j||_p for each pair i < j of the rows of an (N, M) x, in torch.pdist's order
    (0, 1), (0, 2), ..., (1, 2), ...: only those pairs are computed, a block of rows at a time (row i
    against the rows after the block's first), so that a block's differences are all that is held.
    Gradients as :class:`Cdist`'s: dL/dx_i = sum_j of the pair's, dL/dx_j minus it."""

    saved_inputs, saves_output = (0,), True
    BLOCK = 1 << 20  # elements of differences per block

    def forward(self, x, *, p):
        self.x, self.p = x, p
        n = x.shape[0]
        out = self.out = np.empty(n * (n - 1) // 2, x.dtype)
        for _, _, seg, pairs, d in self._blocks():
            out[seg] = pnorm(d, p, -1)[..., 0][pairs]
        return out

    def backward(self, grad):
        gx = np.zeros(self.x.shape, grad.dtype)
        for r0, r1, seg, pairs, d in self._blocks():
            g, o = np.zeros(pairs.shape, grad.dtype), np.zeros(pairs.shape, self.out.dtype)
            g[pairs], o[pairs] = grad[seg], self.out[seg]
            gd = pnorm_grad(d, o[..., None], g[..., None], self.p, -1, share_ties=False)  # 0 off the pairs
            gx[r0:r1] += gd.sum(1)
            gx[r0 + 1:] -= gd.sum(0)
        return (gx,)

    def _blocks(self):
        """(r0, r1, seg, pairs, differences) per block of rows r0..r1-1: their pairs' slice ``seg`` of
        the condensed output, the differences (B, N - r0 - 1, M) of those rows with rows r0 + 1..N-1,
        and the mask of the pairs i < j among them."""
        x = self.x
        n, m = x.shape
        step = max(1, self.BLOCK // max(1, n * m))
        at = lambda i: i * n - i * (i + 1) // 2  # noqa: E731 - where row i's pairs (i, j > i) start
        for r0 in range(0, max(n - 1, 0), step):
            r1 = min(r0 + step, n - 1)
            pairs = np.arange(r0 + 1, n)[None, :] > np.arange(r0, r1)[:, None]
            yield r0, r1, slice(at(r0), at(r1)), pairs, x[r0:r1, None, :] - x[None, r0 + 1:, :]


def _others_product(x, axis):
    """The product of every other element along ``axis``, without dividing (exact where x has zeros):
    the exclusive running product from the left times the one from the right."""
    ones = np.ones_like(np.take(x, [0], axis=axis))
    left = np.cumprod(np.concatenate([ones, np.delete(x, -1, axis=axis)], axis=axis), axis=axis)
    rev = np.flip(x, axis)
    right = np.flip(np.cumprod(np.concatenate([ones, np.delete(rev, -1, axis=axis)], axis=axis), axis=axis), axis)
    return left * right


class Prod(Function):
    """The product of x over one axis (or all); d/dx_i = the product of the others (exact with zeros)."""

    saved_inputs = (0,)

    def forward(self, x, axis=None, keepdims=False):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        return np.asarray(np.prod(x, axis=axis, keepdims=keepdims))

    def backward(self, grad):
        x = self.x
        if self.axis is None:
            return grad * _others_product(x.reshape(-1), 0).reshape(x.shape)
        g = grad if self.keepdims else np.expand_dims(grad, self.axis)
        return g * _others_product(x, self.axis)


class Cumprod(Function):
    """Running product along ``dim``: y_i = prod_{j <= i} x_j; dL/dx_j = sum_{i >= j} g_i y_i / x_j,
    computed without dividing where x has zeros (the product with x_j left out)."""

    saved_inputs, saves_output = (0,), True

    def forward(self, x, dim):
        self.x, self.dim = x, dim
        self.out = np.cumprod(x, axis=dim)
        return self.out

    def backward(self, grad):
        x, d, y = self.x, self.dim, self.out
        if (x != 0).all():
            return np.flip(np.cumsum(np.flip(grad * y, d), axis=d), d) / x
        xm, gm = np.moveaxis(x, d, -1), np.moveaxis(grad, d, -1)
        out = np.empty_like(xm)
        for j in range(xm.shape[-1]):
            left = np.prod(xm[..., :j], axis=-1, keepdims=True)
            tail = np.cumprod(xm[..., j + 1:], axis=-1)   # products of x_{j+1..i}
            out[..., j] = left[..., 0] * (gm[..., j] + np.sum(gm[..., j + 1:] * tail, axis=-1))
        return np.moveaxis(out, -1, d)


def _log_cumsum_exp(x, axis):
    """log sum_{j <= i} e^{x_j} along ``axis``, stably (np.logaddexp's running reduction)."""
    return np.logaddexp.accumulate(x, axis=axis)


class LogCumSumExp(Function):
    """Running logsumexp along ``dim``: y_i = log sum_{j <= i} e^{x_j};
    dL/dx_j = sum_{i >= j} g_i e^{x_j - y_i}, summed in log space (the positive and negative parts of g
    apart) so that nothing overflows."""

    saved_inputs, saves_output = (0,), True

    def forward(self, x, dim):
        self.x, self.dim = x, dim
        self.out = _log_cumsum_exp(x, dim)
        return self.out

    def backward(self, grad):
        d, x, y = self.dim, self.x, self.out
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.exp(x + _log_suffix_sum(np.maximum(grad, 0), y, d)) -
                    np.exp(x + _log_suffix_sum(np.maximum(-grad, 0), y, d)))


def _log_suffix_sum(g, y, d):
    """log sum_{i >= j} g_i e^{-y_i} along ``d``, for g >= 0 (-inf where the sum is 0)."""
    return np.flip(_log_cumsum_exp(np.flip(np.log(g) - y, d), d), d)
