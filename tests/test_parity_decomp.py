"""PyTorch parity of the decompositions and what they give: linalg.svd, svdvals, eigh, eigvalsh, cholesky,
qr, pinv, lstsq, matrix_rank, cond, matrix_norm's spectral ords, and the top-level svd, cholesky, qr,
cholesky_solve, cholesky_inverse and pinverse (with their Tensor methods): each as the same snippet in
chainrule and in torch (values, float64 gradients, errors), with a float64 gradcheck.

Singular and eigen vectors are defined up to sign, and NumPy's LAPACK calls may pick other signs than
PyTorch's: values are compared up to a sign per vector, gradients through sign-independent functions
(projectors U diag(w) U^T, U Vh, the reconstruction), as PyTorch's own tests do."""
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from oracle import check_op


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def both_raise(cr_fn, torch_fn, exc, match):
    with pytest.raises(exc, match=match):
        torch_fn()
    with pytest.raises(exc, match=match):
        cr_fn()


def same_up_to_sign(c, t, axis):
    """chainrule's vectors (columns: axis=-2, rows: axis=-1 of the last two axes) equal torch's, each up
    to its sign; returns the signs."""
    c, t = c.detach().numpy(), t.detach().numpy()
    signs = np.sign((c * t).sum(axis, keepdims=True))
    np.testing.assert_allclose(c * signs, t, rtol=1e-7, atol=1e-9)
    return signs


def weights(k):
    """Distinct weights for a projector sum U diag(w) U^T (sign-independent, and it sees every vector)."""
    return np.arange(1.0, k + 1.0)


# ----------------------------------------------------------------------------- SVD
SHAPES = [(4, 3), (3, 5), (3, 3), (2, 4, 3), (2, 1, 3, 5)]


@pytest.mark.parametrize("shape", SHAPES)
def test_svd_values_match_torch_up_to_sign(shape):
    a = rand(*shape, seed=1)
    for full in (False, True):
        c, t = cr.linalg.svd(cr.tensor(a), full_matrices=full), torch.linalg.svd(torch.tensor(a), full_matrices=full)
        assert type(c).__name__ == "linalg_svd" and c._fields == ("U", "S", "Vh")
        assert [x.shape for x in c] == [tuple(x.shape) for x in t]
        np.testing.assert_allclose(c.S.numpy(), t.S.numpy(), rtol=1e-10)
        k = min(shape[-2:])
        signs = same_up_to_sign(c.U[..., :k], t.U[..., :k], axis=-2)
        np.testing.assert_allclose(c.Vh.numpy()[..., :k, :] * np.swapaxes(signs, -1, -2), t.Vh.numpy()[..., :k, :],
                                   rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose((c.U[..., :k] * c.S.unsqueeze(-2) @ c.Vh[..., :k, :]).numpy(), a, atol=1e-12)
    np.testing.assert_allclose(cr.linalg.svdvals(cr.tensor(a)).numpy(), torch.linalg.svdvals(torch.tensor(a)).numpy())


@pytest.mark.parametrize("shape", SHAPES)
def test_svd_gradients_of_sign_independent_losses_match_torch(shape):
    a = rand(*shape, seed=2)
    k = min(shape[-2:])
    w = weights(k)

    def losses(lib, full):
        def f(x):
            u, s, vh = lib.linalg.svd(x, full_matrices=full)
            u, vh = u[..., :k], vh[..., :k, :]
            left = (u * lib.tensor(w)) @ u.mT                    # U's gradient alone
            right = (vh.mT * lib.tensor(w)) @ vh                 # Vh's alone
            return left.sum() + 2 * right.sum() + (u @ vh).sum() + (s ** 3).sum()
        return f
    for full in (False, True):   # full_matrices: the columns beyond k get no gradient, as in torch
        check_op(losses(cr, full), losses(torch, full), [a], gradcheck=not full)
    check_op(cr.linalg.svdvals, torch.linalg.svdvals, [a])
    check_op(lambda x: cr.linalg.svd(x).S, lambda x: torch.linalg.svd(x).S, [a])


def test_svdvals_gradient_with_repeated_singular_values_is_torchs():
    q = np.linalg.qr(rand(4, 4, seed=3))[0]
    a = q[:, :3] @ np.diag([2.0, 2.0, 1.0]) @ np.linalg.qr(rand(3, 3, seed=4))[0]
    # U diag(g) Vh is defined there when g is equal on the repeated pair: sum of s^2 and of s (the nuclear norm)
    check_op(lambda x: (cr.linalg.svdvals(x) ** 2).sum(), lambda x: (torch.linalg.svdvals(x) ** 2).sum(), [a])
    check_op(lambda x: cr.linalg.matrix_norm(x, "nuc"), lambda x: torch.linalg.matrix_norm(x, "nuc"), [a])


@pytest.mark.parametrize("some", [True, False])
def test_legacy_svd_and_its_method_match_torch(some):
    a = rand(2, 5, 3, seed=5)
    c, t = cr.svd(cr.tensor(a), some=some), torch.svd(torch.tensor(a), some=some)
    assert type(c).__name__ == "svd" and c._fields == ("U", "S", "V")
    assert [x.shape for x in c] == [tuple(x.shape) for x in t]
    signs = same_up_to_sign(c.U[..., :3], t.U[..., :3], axis=-2)
    np.testing.assert_allclose(c.V.numpy() * signs, t.V.numpy(), rtol=1e-7, atol=1e-9)
    def loss(x):   # sign-independent: U's and V's projectors, weighted
        u, s, v = x.svd()
        return ((u[..., :3] * s.unsqueeze(-2) ** 2) @ u[..., :3].mT).sum() + ((v * 2 * s.unsqueeze(-2)) @ v.mT).sum()
    check_op(loss, loss, [a])
    c, t = cr.svd(cr.tensor(a), compute_uv=False), torch.svd(torch.tensor(a), compute_uv=False)
    assert [x.shape for x in c] == [tuple(x.shape) for x in t] and not c.U.numpy().any() and not c.V.numpy().any()
    np.testing.assert_allclose(c.S.numpy(), t.S.numpy())


# ----------------------------------------------------------------------------- eigh
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_matches_torch(shape, uplo):
    a = rand(*shape, seed=6)            # not symmetric: only the UPLO triangle is read, in both
    c, t = cr.linalg.eigh(cr.tensor(a), uplo), torch.linalg.eigh(torch.tensor(a), uplo)
    assert type(c).__name__ == "linalg_eigh" and c._fields == ("eigenvalues", "eigenvectors")
    np.testing.assert_allclose(c.eigenvalues.numpy(), t.eigenvalues.numpy(), rtol=1e-10, atol=1e-12)
    same_up_to_sign(c.eigenvectors, t.eigenvectors, axis=-2)
    np.testing.assert_allclose(cr.linalg.eigvalsh(cr.tensor(a), UPLO=uplo).numpy(),
                               torch.linalg.eigvalsh(torch.tensor(a), UPLO=uplo).numpy(), rtol=1e-10, atol=1e-12)
    w = weights(shape[-1])

    def loss(lib):
        def f(x):
            vals, vecs = lib.linalg.eigh(x + x.mT, UPLO=uplo)
            return (vecs * lib.tensor(w)) @ vecs.mT + (vals ** 2).sum(-1)[..., None, None]
        return f
    check_op(loss(cr), loss(torch), [a])
    check_op(lambda x: cr.linalg.eigvalsh(x + x.mT, uplo), lambda x: torch.linalg.eigvalsh(x + x.mT, uplo), [a])


# ----------------------------------------------------------------------------- Cholesky
def spd(*shape, seed=0):
    x = rand(*shape, seed=seed)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_matches_torch(shape, upper):
    a = spd(*shape, seed=7)
    check_op(lambda x: cr.linalg.cholesky(x, upper=upper), lambda x: torch.linalg.cholesky(x, upper=upper), [a],
             gradcheck=False)
    check_op(lambda x: cr.linalg.cholesky(x + x.mT, upper=upper),        # symmetric perturbations only
             lambda x: torch.linalg.cholesky(x + x.mT, upper=upper), [a / 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_op(lambda x: x.cholesky(upper), lambda x: x.cholesky(upper), [a], gradcheck=False)
    low = np.linalg.cholesky(a)
    f = np.swapaxes(low, -1, -2) if upper else low
    b = rand(*shape[:-1], 2, seed=8)
    check_op(lambda x, y: cr.cholesky_solve(x, y, upper), lambda x, y: torch.cholesky_solve(x, y, upper), [b, f])
    check_op(lambda x, y: x.cholesky_solve(y, upper), lambda x, y: x.cholesky_solve(y, upper), [b, f],
             gradcheck=False)
    check_op(lambda y: cr.cholesky_inverse(y, upper), lambda y: torch.cholesky_inverse(y, upper), [f])
    check_op(lambda y: y.cholesky_inverse(upper), lambda y: y.cholesky_inverse(upper), [f], gradcheck=False)


def test_cholesky_refusals_are_torchs():
    r, bad = RuntimeError, np.array([[1.0, 2.0], [2.0, 1.0]])
    both_raise(lambda: cr.linalg.cholesky(cr.tensor(bad)), lambda: torch.linalg.cholesky(torch.tensor(bad)), r,
               r"^linalg.cholesky: The factorization could not be completed because the input is not positive-definite "
               r"\(the leading minor of order 2 is not positive-definite\).$")
    batch = np.stack([np.eye(2), np.eye(2), np.diag([1.0, -1.0])])
    both_raise(lambda: cr.linalg.cholesky(cr.tensor(batch)), lambda: torch.linalg.cholesky(torch.tensor(batch)),
               r, r"^linalg.cholesky: \(Batch element 2\): .* \(the leading minor of order 2 is not positive-definite\)")
    assert issubclass(cr.linalg.LinAlgError, RuntimeError)
    with pytest.raises(cr.linalg.LinAlgError):
        cr.linalg.cholesky(cr.tensor(bad))
    both_raise(lambda: cr.linalg.cholesky(cr.ones(2, 3)), lambda: torch.linalg.cholesky(torch.ones(2, 3)), r,
               "linalg.cholesky: A must be batches of square matrices, but they are 2 by 3 matrices")
    both_raise(lambda: cr.cholesky_solve(cr.ones(2, 1), cr.ones(3, 3)),
               lambda: torch.cholesky_solve(torch.ones(2, 1), torch.ones(3, 3)), r,
               "Incompatible matrix sizes for cholesky_solve: each A matrix is 3 by 3 but each b matrix is 2 by 1")
    with pytest.warns(UserWarning, match="cholesky is deprecated in favor of chainrule.linalg.cholesky"):
        cr.cholesky(cr.eye(2))


# ----------------------------------------------------------------------------- QR
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (3, 3), (2, 4, 3), (2, 1, 2, 4)])
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr_matches_torch(shape, mode):
    a = rand(*shape, seed=9)
    c, t = cr.linalg.qr(cr.tensor(a), mode), torch.linalg.qr(torch.tensor(a), mode)
    assert type(c).__name__ == "linalg_qr" and c._fields == ("Q", "R")
    for x, y in zip(c, t):   # LAPACK's Householder QR in both: the same signs
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-9, atol=1e-12)
    if mode == "complete" and shape[-2] > shape[-1]:
        q = cr.linalg.qr(cr.tensor(a, requires_grad=True), mode).Q
        both_raise(lambda: q.sum().backward(),
                   lambda: torch.linalg.qr(torch.tensor(a, requires_grad=True), mode).Q.sum().backward(),
                   RuntimeError, "The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        return
    check_op(lambda x: (lambda q, r: q.sum(-1) * 3 + (r ** 2).sum(-2).sum(-1, keepdim=True))(*cr.linalg.qr(x, mode)),
             lambda x: (lambda q, r: q.sum(-1) * 3 + (r ** 2).sum(-2).sum(-1, keepdim=True))(*torch.linalg.qr(x, mode)),
             [a])
    check_op(lambda x: cr.linalg.qr(x, mode).R, lambda x: torch.linalg.qr(x, mode).R, [a])
    check_op(lambda x: cr.linalg.qr(x, mode).Q, lambda x: torch.linalg.qr(x, mode).Q, [a])


def test_qr_mode_r_legacy_qr_and_refusals_are_torchs():
    a = rand(4, 3, seed=10)
    c, t = cr.linalg.qr(cr.tensor(a), "r"), torch.linalg.qr(torch.tensor(a), "r")
    assert c.Q.shape == tuple(t.Q.shape) == (0,)
    np.testing.assert_allclose(c.R.numpy(), t.R.numpy(), rtol=1e-9, atol=1e-12)
    r = cr.linalg.qr(cr.tensor(a, requires_grad=True), "r").R
    both_raise(lambda: r.sum().backward(),
               lambda: torch.linalg.qr(torch.tensor(a, requires_grad=True), "r").R.sum().backward(), RuntimeError,
               r"The derivative of linalg.qr depends on Q, which is not computed when mode='r'")
    with pytest.warns(UserWarning, match="qr is deprecated in favor of chainrule.linalg.qr"):
        c = cr.qr(cr.tensor(a), some=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.qr(torch.tensor(a), some=False)
        m = cr.tensor(a).qr()
    assert type(c).__name__ == "qr" and c._fields == ("Q", "R") and m.Q.shape == (4, 3)
    for x, y in zip(c, t):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-9, atol=1e-12)
    both_raise(lambda: cr.linalg.qr(cr.ones(2, 2), "x"), lambda: torch.linalg.qr(torch.ones(2, 2), "x"), RuntimeError,
               "qr received unrecognized mode 'x' but expected one of 'reduced' \\(default\\), 'r', or 'complete'")


# ----------------------------------------------------------------------------- pinv, lstsq, rank, cond, norms
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (3, 3), (2, 4, 3)])
def test_pinv_matches_torch(shape):
    a = rand(*shape, seed=11)
    check_op(cr.linalg.pinv, torch.linalg.pinv, [a])
    check_op(lambda x: x.pinverse(), lambda x: x.pinverse(), [a], gradcheck=False)
    check_op(cr.pinverse, torch.pinverse, [a], gradcheck=False)
    if shape[-1] == shape[-2]:
        check_op(lambda x: cr.linalg.pinv(x + x.mT, hermitian=True),
                 lambda x: torch.linalg.pinv(x + x.mT, hermitian=True), [a])


def test_pinv_of_rank_deficient_matrices_and_tolerances_are_torchs():
    a = np.array([[1, 2, 3, 4], [2, 4, 6, 8], [1, 0, 1, 0], [3, 4, 7, 8], [0, 0, 0, 0.0]])   # rank 2
    c, t = cr.linalg.pinv(cr.tensor(a)), torch.linalg.pinv(torch.tensor(a))   # (the gradient is not finite here)
    np.testing.assert_allclose(c.numpy(), t.numpy(), rtol=1e-8, atol=1e-10)
    s = np.linalg.svd(a, compute_uv=False)
    for kw in ({"rtol": s[1] / s[0] * 1.01}, {"atol": s[1] * 1.01}, {"atol": 1e-10, "rtol": 0.0},
               {"atol": cr.tensor(s[1] * 1.01)}):
        tkw = {k: torch.tensor(v.numpy()) if isinstance(v, cr.Tensor) else v for k, v in kw.items()}
        np.testing.assert_allclose(cr.linalg.pinv(cr.tensor(a), **kw).numpy(),
                                   torch.linalg.pinv(torch.tensor(a), **tkw).numpy(), rtol=1e-6, atol=1e-9)
        assert cr.linalg.matrix_rank(cr.tensor(a), **kw).item() == torch.linalg.matrix_rank(torch.tensor(a),
                                                                                             **tkw).item()
    batch = np.stack([a[:4], np.eye(4), np.zeros((4, 4))])
    c, t = cr.linalg.matrix_rank(cr.tensor(batch)), torch.linalg.matrix_rank(torch.tensor(batch))
    assert c.dtype == cr.int64 and c.tolist() == t.tolist() == [2, 4, 0]
    sym_ = batch + np.swapaxes(batch, -1, -2)
    assert cr.linalg.matrix_rank(cr.tensor(sym_), hermitian=True).tolist() == \
        torch.linalg.matrix_rank(torch.tensor(sym_), hermitian=True).tolist()
    both_raise(lambda: cr.linalg.pinv(cr.ones(3)), lambda: torch.linalg.pinv(torch.ones(3)), RuntimeError,
               r"linalg.pinv\(Float\{\[3\]\}\): expected a tensor with 2 or more dimensions")


@pytest.mark.parametrize("ashape, bshape", [((5, 3), (5, 2)), ((5, 3), (5,)), ((3, 5), (3, 2)), ((2, 4, 3), (2, 4, 2))])
def test_lstsq_matches_torch(ashape, bshape):
    a, b = rand(*ashape, seed=14), rand(*bshape, seed=15)
    check_op(lambda x, y: cr.linalg.lstsq(x, y).solution, lambda x, y: torch.linalg.lstsq(x, y).solution, [a, b])
    for driver in (None, "gels", "gelsd", "gelss"):
        if driver == "gels" and ashape[-2] < ashape[-1]:
            continue   # gels assumes a full-rank tall A
        c, t = (cr.linalg.lstsq(cr.tensor(a), cr.tensor(b), driver=driver),
                torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver))
        assert type(c).__name__ == "linalg_lstsq"
        for x, y in zip(c, t):
            assert x.shape == tuple(y.shape) and str(x.dtype) == str(y.dtype).replace("torch.", "")
            np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-8, atol=1e-10)
    both_raise(lambda: cr.linalg.lstsq(cr.ones(3, 2), cr.ones(4, 2)),
               lambda: torch.linalg.lstsq(torch.ones(3, 2), torch.ones(4, 2)), RuntimeError,
               r"torch.linalg.lstsq: input.size\(-2\) should match other.size\(-2\)")


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
@pytest.mark.parametrize("shape, dim, keepdim", [((3, 4), (-2, -1), False), ((2, 3, 4), (0, 2), True),
                                                ((2, 3, 4), (2, 1), False)])
def test_spectral_matrix_norms_match_torch(ord, shape, dim, keepdim):
    check_op(lambda a: cr.linalg.matrix_norm(a, ord, dim, keepdim),
             lambda a: torch.linalg.matrix_norm(a, ord, dim, keepdim), [rand(*shape, seed=16)])
    check_op(lambda a: cr.linalg.norm(a, ord, dim, keepdim), lambda a: torch.linalg.norm(a, ord, dim, keepdim),
             [rand(*shape, seed=16)], gradcheck=False)


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", 1, -1, float("inf")])
def test_cond_matches_torch(p):
    a = rand(2, 3, 3, seed=17) + 2 * np.eye(3)
    if p in (None, 2, -2):
        check_op(lambda x: cr.linalg.cond(x, p), lambda x: torch.linalg.cond(x, p), [a])
    else:   # torch 2.13's backward of cond through inv fails ("modified by an inplace operation"): values only
        np.testing.assert_allclose(cr.linalg.cond(cr.tensor(a), p).numpy(), torch.linalg.cond(torch.tensor(a), p).numpy())
        assert cr.gradcheck(lambda x: cr.linalg.cond(x, p), cr.tensor(a, requires_grad=True))
    if p in (None, 2, -2):
        check_op(lambda x: cr.linalg.cond(x, p), lambda x: torch.linalg.cond(x, p), [rand(4, 2, seed=18)])
    else:
        both_raise(lambda: cr.linalg.cond(cr.ones(2, 3), p), lambda: torch.linalg.cond(torch.ones(2, 3), p),
                   RuntimeError, "A must be batches of square matrices, but they are 2 by 3 matrices")


def test_decomposition_refusals_are_torchs():
    r = RuntimeError
    for name in ("svd", "svdvals", "eigh", "eigvalsh", "qr"):
        both_raise(lambda: getattr(cr.linalg, name)(cr.ones(3)), lambda: getattr(torch.linalg, name)(torch.ones(3)),
                   r, "The input tensor A must have at least 2 dimensions.")
    both_raise(lambda: cr.linalg.svd(cr.ones(2, 2, dtype=cr.int64)),
               lambda: torch.linalg.svd(torch.ones(2, 2, dtype=torch.long)), r,
               "linalg.svd: Expected a floating point or complex tensor as input. Got Long")
    both_raise(lambda: cr.linalg.eigh(cr.ones(2, 3)), lambda: torch.linalg.eigh(torch.ones(2, 3)), r,
               "linalg.eigh: A must be batches of square matrices, but they are 2 by 3 matrices")
    both_raise(lambda: cr.linalg.eigh(cr.eye(2), UPLO="X"), lambda: torch.linalg.eigh(torch.eye(2), UPLO="X"), r,
               "Expected UPLO argument to be 'L' or 'U', but got X")
