"""Decompositions (PyTorch's signatures): torch.linalg's svd, svdvals, eigh, eigvalsh, cholesky and qr,
the top-level svd (the legacy one: V, not Vh), cholesky, qr, cholesky_solve and cholesky_inverse. The
rules and their local gradients are in :mod:`chainrule.rules.decomp`; a rule with several factors
returns them packed in one tensor, which :func:`_split` cuts into views (so the gradient of each
factor flows back to the one node)."""
from __future__ import annotations

import collections
import math
import warnings

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, LinAlgError, ShapeError, make, shape_constant
from chainrule.ops import args
from chainrule.ops.convert import as_tensor
from chainrule.ops.inverse import solve
from chainrule.rules.decomp import Cholesky, Eigh, Qr, Svd

SvdResult = collections.namedtuple("linalg_svd", ["U", "S", "Vh"])
SvdResult.__doc__ = "(U, S, Vh), as torch.linalg.svd returns them."
LegacySvdResult = collections.namedtuple("svd", ["U", "S", "V"])
LegacySvdResult.__doc__ = "(U, S, V), as torch.svd returns them."
EighResult = collections.namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
EighResult.__doc__ = "(eigenvalues, eigenvectors), as torch.linalg.eigh returns them."
QrResult = collections.namedtuple("linalg_qr", ["Q", "R"])
QrResult.__doc__ = "(Q, R), as torch.linalg.qr returns them."
LegacyQrResult = collections.namedtuple("qr", ["Q", "R"])
LegacyQrResult.__doc__ = "(Q, R), as torch.qr returns them."


def matrices(A, op, *, square=False):  # noqa: N803 - torch's name
    """``A`` as a float tensor of (..., m, n) matrices (square ones when ``square``), with PyTorch's
    refusals in its words."""
    a = as_tensor(A)
    if a.ndim < 2:
        raise ShapeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if a._data.dtype.kind != "f":
        raise DtypeError(f"{op}: Expected a floating point or complex tensor as input. Got "
                         f"{dtypes.type_name(a.dtype)}")
    if square and a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{op}: A must be batches of square matrices, but they are {a.shape[-2]} by "
                         f"{a.shape[-1]} matrices")
    return a


def _split(packed, shapes):
    """The factors of a packed tensor (see rules.decomp.pack), each a view with its own shape."""
    batch, out, start = packed.shape[:-1], [], 0
    for s in shapes:
        size = math.prod(s)
        out.append(packed[..., start:start + size].reshape(*batch, *s))
        start += size
    return out


# ----------------------------------------------------------------------------- SVD
def linalg_svd(A, full_matrices: bool = True, *, driver=None, out=None):  # noqa: N803
    """A = U diag(S) Vh of each (..., m, n) matrix, a named tuple (U, S, Vh) as torch.linalg.svd.

    Args:
        A (Tensor): (..., m, n) float matrices.
        full_matrices (bool, True): U (..., m, m) and Vh (..., n, n); False: (..., m, k) and
            (..., k, n), k = min(m, n).

    Shape: S is (..., k), descending. The singular vectors are defined up to sign (NumPy's LAPACK
    may pick other signs than PyTorch's), so a loss should not depend on the signs: the gradient
    (svd_backward, distinct singular values assumed) is that of a sign-independent loss, as PyTorch's.

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.svd(cr.tensor([[3.0, 0.0], [0.0, -4.0]])).S.tolist()
        [4.0, 3.0]
    """
    args.no_out("linalg.svd", out)
    a = matrices(A, "linalg.svd")
    shapes = Svd.factors(*a.shape[-2:], full_matrices=bool(full_matrices))
    return SvdResult(*_split(Svd.apply(a, full_matrices=bool(full_matrices)), shapes))


def svdvals(A, *, driver=None, out=None):  # noqa: N803
    """The singular values of each (..., m, n) matrix, descending, as torch.linalg.svdvals; dL/dA =
    U diag(g) Vh (defined for repeated singular values too).

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.svdvals(cr.tensor([[0.0, 2.0], [1.0, 0.0]])).tolist()
        [2.0, 1.0]
    """
    args.no_out("linalg.svdvals", out)
    return linalg_svd(matrices(A, "linalg.svdvals"), full_matrices=False).S


def svd(input, some: bool = True, compute_uv: bool = True, *, out=None):  # noqa: A002
    """torch.svd (the legacy form of :func:`linalg_svd`): a named tuple (U, S, V) with V = Vh^T;
    ``some=False`` gives the full U and V; ``compute_uv=False`` gives zero U (..., m, m) and
    V (..., n, n), as PyTorch."""
    args.no_out("svd", out)
    a = matrices(input, "linalg.svd")
    if not compute_uv:
        s = svdvals(a)
        m, n = a.shape[-2:]
        u, v = (make(shape_constant(np.zeros(a.shape[:-2] + (k, k), a._data.dtype))) for k in (m, n))
        return LegacySvdResult(u, s, v)
    u, s, vh = linalg_svd(a, full_matrices=not some)
    return LegacySvdResult(u, s, vh.mT)


# ----------------------------------------------------------------------------- eigh
def _uplo(UPLO):  # noqa: N803
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return UPLO


def eigh(A, UPLO: str = "L", *, out=None):  # noqa: N803
    """The eigenvalues (ascending) and eigenvectors of each symmetric (..., n, n) matrix, a named tuple
    (eigenvalues, eigenvectors) as torch.linalg.eigh; only the ``UPLO`` triangle ("L" or "U") is read.
    The eigenvectors are defined up to sign; the gradient (distinct eigenvalues assumed) is symmetric,
    as PyTorch's.

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.eigh(cr.tensor([[2.0, 1.0], [1.0, 2.0]])).eigenvalues.tolist()
        [1.0, 3.0]
    """
    args.no_out("linalg.eigh", out)
    a = matrices(A, "linalg.eigh", square=True)
    return EighResult(*_split(Eigh.apply(a, uplo=_uplo(UPLO)), Eigh.factors(a.shape[-1])))


def eigvalsh(A, UPLO: str = "L", *, out=None):  # noqa: N803
    """The eigenvalues (ascending) of each symmetric (..., n, n) matrix, as torch.linalg.eigvalsh;
    dL/dA = V diag(g) V^T.

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.eigvalsh(cr.tensor([[2.0, 0.0], [0.0, -1.0]])).tolist()
        [-1.0, 2.0]
    """
    args.no_out("linalg.eigvalsh", out)
    return eigh(matrices(A, "linalg.eigvalsh", square=True), UPLO).eigenvalues


# ----------------------------------------------------------------------------- Cholesky
def _not_positive_definite(a) -> str:
    """PyTorch's words for the first matrix of ``a`` (an array) that is not positive-definite."""
    flat = a.reshape((-1,) + a.shape[-2:])
    for i, m in enumerate(flat):
        for k in range(1, m.shape[-1] + 1):
            try:
                np.linalg.cholesky(m[:k, :k])
            except np.linalg.LinAlgError:
                where = f"(Batch element {i}): " if a.ndim > 2 else ""
                return (f"{where}The factorization could not be completed because the input is not "
                        f"positive-definite (the leading minor of order {k} is not positive-definite).")
    return "The factorization could not be completed because the input is not positive-definite."  # pragma: no cover


def linalg_cholesky(A, *, upper: bool = False, out=None):  # noqa: N803
    """L with A = L L^T (lower triangular; ``upper``: U = L^T with A = U^T U) of each symmetric
    positive-definite (..., n, n) matrix, as torch.linalg.cholesky; only the lower triangle is read.
    A matrix that is not positive-definite raises LinAlgError naming the leading minor, as PyTorch.

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.cholesky(cr.tensor([[4.0, 2.0], [2.0, 2.0]])).tolist()
        [[2.0, 0.0], [1.0, 1.0]]
    """
    args.no_out("linalg.cholesky", out)
    a = matrices(A, "linalg.cholesky", square=True)
    try:
        return Cholesky.apply(a, upper=bool(upper))
    except np.linalg.LinAlgError:
        raise LinAlgError(f"linalg.cholesky: {_not_positive_definite(a._data)}") from None


def cholesky(input, upper: bool = False, *, out=None):  # noqa: A002
    """torch.cholesky (deprecated there in favour of torch.linalg.cholesky; it warns, as PyTorch)."""
    warnings.warn("chainrule.cholesky is deprecated in favor of chainrule.linalg.cholesky and will be removed in a "
                  "future release.\nL = chainrule.cholesky(A)\nshould be replaced with\n"
                  "L = chainrule.linalg.cholesky(A)\nand\nU = chainrule.cholesky(A, upper=True)\nshould be "
                  "replaced with\nU = chainrule.linalg.cholesky(A).mH", UserWarning, stacklevel=2)
    return linalg_cholesky(input, upper=upper, out=out)


def cholesky_solve(B, L, upper: bool = False, *, out=None):  # noqa: N803
    """X with A X = B for A = L L^T (``upper``: A = U^T U), given the Cholesky factor, as
    torch.cholesky_solve: two triangular solves, batch axes broadcast. The gradient is that of
    (L L^T)^-1 B: dL/dB = A^-1 G, dL/dL = -(dL/dB X^T + X dL/dB^T) L, as PyTorch's (all of L is read,
    where PyTorch reads its triangle alone: the same for a triangular L).

    Example:
        >>> import chainrule as cr
        >>> cr.cholesky_solve(cr.tensor([[2.0], [4.0]]), cr.tensor([[1.0, 0.0], [0.0, 2.0]])).tolist()
        [[2.0], [1.0]]
    """
    args.no_out("cholesky_solve", out)
    b, f = as_tensor(B), as_tensor(L)
    if b.ndim < 2:
        raise ShapeError(f"b should have at least 2 dimensions, but has {b.ndim} dimensions instead")
    if f.ndim < 2:
        raise ShapeError(f"u should have at least 2 dimensions, but has {f.ndim} dimensions instead")
    if f.shape[-1] != f.shape[-2] or b.shape[-2] != f.shape[-1]:
        raise ShapeError(f"Incompatible matrix sizes for cholesky_solve: each A matrix is {f.shape[-2]} by "
                         f"{f.shape[-1]} but each b matrix is {b.shape[-2]} by {b.shape[-1]}")
    first, second = (f.mT, f) if upper else (f, f.mT)
    return solve(second, solve(first, b))


def cholesky_inverse(L, upper: bool = False, *, out=None):  # noqa: N803
    """(L L^T)^-1 (``upper``: (U^T U)^-1) of each Cholesky factor, as torch.cholesky_inverse; the
    gradient -(A^-1 (G + G^T) A^-1) L is PyTorch's.

    Example:
        >>> import chainrule as cr
        >>> cr.cholesky_inverse(cr.tensor([[2.0, 0.0], [0.0, 1.0]])).tolist()
        [[0.25, 0.0], [0.0, 1.0]]
    """
    args.no_out("cholesky_inverse", out)
    f = matrices(L, "cholesky_inverse", square=True)
    eye = np.broadcast_to(np.eye(f.shape[-1], dtype=f._data.dtype), f.shape)
    return cholesky_solve(make(shape_constant(np.ascontiguousarray(eye))), f, upper)


# ----------------------------------------------------------------------------- QR
_QR_MODES = ("reduced", "complete", "r")


def linalg_qr(A, mode: str = "reduced", *, out=None):  # noqa: N803
    """A = Q R of each (..., m, n) matrix, a named tuple (Q, R) as torch.linalg.qr (LAPACK's
    Householder QR in both libraries: R's diagonal may be negative).

    Args:
        mode (str, "reduced"): "reduced" (Q (..., m, k), R (..., k, n), k = min(m, n)), "complete"
            (Q (..., m, m), R (..., m, n)) or "r" (R alone; Q is an empty tensor).

    The gradient is PyTorch's linalg_qr_backward; mode "r", and "complete" with m > n, are not
    differentiable (the backward raises, as PyTorch's).

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.qr(cr.tensor([[3.0], [4.0]])).R.abs().tolist()
        [[5.0]]
    """
    args.no_out("linalg.qr", out)
    if mode not in _QR_MODES:
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', "
                           f"or 'complete'")
    a = matrices(A, "linalg.qr")
    parts = _split(Qr.apply(a, mode=mode), Qr.factors(*a.shape[-2:], mode=mode))
    if mode == "r":
        return QrResult(make(shape_constant(np.zeros(0, a._data.dtype))), parts[0])
    return QrResult(*parts)


def qr(input, some: bool = True, *, out=None):  # noqa: A002
    """torch.qr (deprecated there in favour of torch.linalg.qr; it warns, as PyTorch): mode "reduced"
    when ``some``, else "complete"."""
    warnings.warn("chainrule.qr is deprecated in favor of chainrule.linalg.qr and will be removed in a future "
                  "release.\nThe boolean parameter 'some' has been replaced with a string parameter 'mode'.\n"
                  "Q, R = chainrule.qr(A, some)\nshould be replaced with\nQ, R = chainrule.linalg.qr(A, 'reduced' "
                  "if some else 'complete')", UserWarning, stacklevel=2)
    args.no_out("qr", out)
    return LegacyQrResult(*linalg_qr(input, "reduced" if some else "complete"))

