"""Decompositions of (..., m, n) matrices: SVD, symmetric eigendecomposition, Cholesky and QR, with the
local gradients of PyTorch's FunctionsManual.cpp (svd_backward, linalg_eig_backward for the Hermitian
case, cholesky_backward, linalg_qr_backward), real matrices only.

A rule has one output, so a decomposition with several factors returns them packed in one array
(:func:`pack`: each factor flattened after the batch axes, joined on the last axis) and the front
splits it into views (``Rule.factors`` gives their shapes); the backward receives the packed gradient,
zero for a factor the loss does not read.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.core import Function


def _mT(a):
    return np.swapaxes(a, -1, -2)


def pack(*factors, batch):
    """The factors (each of shape batch + its own) as one array of shape batch + (total size,)."""
    return np.concatenate([f.reshape(batch + (math.prod(f.shape[len(batch):]),)) for f in factors], axis=-1)


def unpack(packed, shapes):
    """The factors of a :func:`pack`\\ ed array, each of trailing shape ``shapes[i]`` (views)."""
    batch, out, start = packed.shape[:-1], [], 0
    for s in shapes:
        size = math.prod(s)
        out.append(packed[..., start:start + size].reshape(batch + tuple(s)))
        start += size
    return out


def _solve_right(b, r):
    """X with X R = B for each square R (a right solve: X^T = R^-T B^T)."""
    return _mT(np.linalg.solve(_mT(r), _mT(b)))


def _set_diagonal(a, d):
    np.einsum("...ii->...i", a)[...] = d
    return a


# ----------------------------------------------------------------------------- SVD
class Svd(Function):
    """A = U diag(S) Vh (k = min(m, n) singular values, descending). With F_ij = 1 / (s_j^2 - s_i^2)
    (off the diagonal; distinct singular values), J = skew(U^T gU) and K = skew(Vh gVh^T):
    dL/dA = U [(J S + S K) o F + diag(gS)] Vh, plus (I - U U^T) gU S^-1 Vh (m > n) or
    U S^-1 gVh (I - V Vh) (m < n); with gU = gVh = 0 it is U diag(gS) Vh. full_matrices: the
    columns of U (rows of Vh) beyond k get no gradient, as PyTorch."""

    saves_output = True

    @staticmethod
    def factors(m, n, *, full_matrices):
        """The trailing shapes of U, S and Vh."""
        k = min(m, n)
        return (m, m if full_matrices else k), (k,), (n if full_matrices else k, n)

    def forward(self, a, *, full_matrices):
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
        self.shapes = self.factors(*a.shape[-2:], full_matrices=full_matrices)
        self.out = pack(u, s, vh, batch=a.shape[:-2])
        return self.out

    def backward(self, grad):
        (u, s, vh), (gu, gs, gvh) = unpack(self.out, self.shapes), unpack(grad, self.shapes)
        k = s.shape[-1]
        u, gu, vh, gvh = u[..., :k], gu[..., :k], vh[..., :k, :], gvh[..., :k, :]
        m, n = u.shape[-2], vh.shape[-1]
        has_u, has_v = gu.any(), gvh.any()
        if not has_u and not has_v:   # the singular values alone: no 1 / (s_j^2 - s_i^2)
            return u @ (gs[..., :, None] * vh)
        s2 = s * s
        e = _set_diagonal(s2[..., None, :] - s2[..., :, None], 1)     # any non-zero: 0 / e on the diagonal
        inner = np.zeros(s.shape + (k,), s.dtype)
        if has_u:
            j = _mT(u) @ gu
            inner += (j - _mT(j)) * s[..., None, :]
        if has_v:
            kk = vh @ _mT(gvh)
            inner += s[..., :, None] * (kk - _mT(kk))
        inner = _set_diagonal(inner / e, gs)
        if m > n and has_u:     # gA = [U inner + (I_m - U U^T) gU S^-1] Vh
            gus = gu / s[..., None, :]
            return (u @ inner + gus - u @ (_mT(u) @ gus)) @ vh
        if m < n and has_v:     # gA = U [inner Vh + S^-1 gVh (I_n - V Vh)]
            sgv = gvh / s[..., :, None]
            return u @ (inner @ vh + sgv - (sgv @ _mT(vh)) @ vh)
        return u @ inner @ vh


# ----------------------------------------------------------------------------- eigh
class Eigh(Function):
    """A = V diag(L) V^T of each symmetric (..., n, n) matrix (the ``UPLO`` triangle read), L
    ascending. With E_ij = L_j - L_i (distinct eigenvalues): dL/dA = V [skew(V^T gV) / 2 / E +
    diag(gL)] V^T, a symmetric matrix (both triangles get gradient, as PyTorch); with gV = 0 it is
    V diag(gL) V^T."""

    saves_output = True

    @staticmethod
    def factors(n):
        """The trailing shapes of the eigenvalues and the eigenvectors."""
        return (n,), (n, n)

    def forward(self, a, *, uplo):
        w, v = np.linalg.eigh(a, UPLO=uplo)
        self.shapes = self.factors(a.shape[-1])
        self.out = pack(w, v, batch=a.shape[:-2])
        return self.out

    def backward(self, grad):
        (w, v), (gw, gv) = unpack(self.out, self.shapes), unpack(grad, self.shapes)
        if not gv.any():
            return (v * gw[..., None, :]) @ _mT(v)
        vgv = _mT(v) @ gv
        e = _set_diagonal(w[..., None, :] - w[..., :, None], 1)
        inner = _set_diagonal(0.5 * (vgv - _mT(vgv)) / e, gw)
        return v @ inner @ _mT(v)


# ----------------------------------------------------------------------------- Cholesky
class Cholesky(Function):
    """A = L L^T (L lower; ``upper``: U = L^T) of each symmetric positive-definite matrix, the lower
    triangle read. With P = tril(L^T gL) and Phi(P) = (P + tril(P, -1)^T) / 2 (symmetric, half P's
    diagonal): dL/dA = L^-T Phi(P) L^-1 (Murray 2016), a symmetric matrix."""

    saves_output = True

    def forward(self, a, *, upper):
        lower = np.linalg.cholesky(a)
        self.out, self.upper = (_mT(lower) if upper else lower), upper
        return self.out

    def backward(self, grad):
        low, g = (_mT(self.out), _mT(grad)) if self.upper else (self.out, grad)
        p = np.tril(_mT(low) @ g)
        phi = 0.5 * (p + _mT(np.tril(p, -1)))
        return _solve_right(np.linalg.solve(_mT(low), phi), low)    # L^-T Phi L^-1


# ----------------------------------------------------------------------------- QR
class Qr(Function):
    """A = Q R (Q with orthonormal columns, R upper triangular), the factors packed. With
    M = gR R^T - Q^T gQ: for m >= n, dL/dA = [gQ + Q syminvadj(triu(M))] R^-T (syminvadj(X) =
    X + X^T, its diagonal halved); for m < n, dL/dA = [Q tril(M^T - M) R1^-T, 0] + Q gR (R1 the first
    m columns of R). Not differentiable for mode='r' (no Q) nor for 'complete' with m > n, as
    PyTorch."""

    saves_output = True

    @staticmethod
    def factors(m, n, *, mode):
        """The trailing shapes of Q (none for mode 'r') and R."""
        k = m if mode == "complete" else min(m, n)
        return ((k, n),) if mode == "r" else ((m, k), (k, n))

    def forward(self, a, *, mode):
        self.mode, self.shapes = mode, self.factors(*a.shape[-2:], mode=mode)
        factors = np.linalg.qr(a, mode=mode)
        self.out = pack(*((factors,) if mode == "r" else factors), batch=a.shape[:-2])
        return self.out

    def backward(self, grad):
        if self.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                               "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                               "through linalg.qr.")
        (q, r), (gq, gr) = unpack(self.out, self.shapes), unpack(grad, self.shapes)
        m, n = q.shape[-2], r.shape[-1]
        if self.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        mm = gr @ _mT(r) - _mT(q) @ gq
        if m >= n:
            t = np.triu(mm)
            b = gq + q @ _set_diagonal(t + _mT(t), np.einsum("...ii->...i", t))
            return _solve_right(b, _mT(r))
        b = q @ np.tril(_mT(mm) - mm)
        lead = _solve_right(b, _mT(r[..., :m]))
        return np.concatenate([lead, np.zeros(lead.shape[:-1] + (n - m,), lead.dtype)], axis=-1) + q @ gr


# ----------------------------------------------------------------------------- pseudo-inverse
class Pinv(Function):
    """P = A^+ of each (..., m, n) matrix: V diag(1 / s) U^T over the singular values s above
    max(atol, rtol * s_max), the others dropped (``hermitian``: from the eigendecomposition, |L| in
    place of s). dL/dA = -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A) (PyTorch's
    pinv_backward, defined where the rank does not change); atol and rtol get no gradient."""

    saved_inputs, saves_output = (0,), True

    def forward(self, a, atol, rtol, *, hermitian):
        self.a = a
        if hermitian:
            w, v = np.linalg.eigh(a)
            big = np.abs(w)
            u, vt = v, v
        else:
            u, w, vh = np.linalg.svd(a, full_matrices=False)
            big, vt = w, _mT(vh)
        smax = big.max(-1, initial=0.0)
        tol = np.maximum(atol, rtol * smax)[..., None]                      # (...,) -> (..., 1)
        keep = big > tol
        inv = np.where(keep, 1 / np.where(keep, w, 1), 0)
        self.p = (vt * inv[..., None, :]) @ _mT(u)                          # (.., n, k) @ (.., k, m)
        return self.p

    def backward(self, grad):
        a, p = self.a, self.p
        pt, gt = _mT(p), _mT(grad)
        x = gt @ p @ pt                     # G^T P P^T   (.., m, n)
        y = pt @ p @ gt                     # P^T P G^T   (.., m, n)
        return -(pt @ grad @ pt) + x - a @ (p @ x) + y - (y @ p) @ a, None, None
