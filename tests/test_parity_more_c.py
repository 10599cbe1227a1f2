"""PyTorch parity: the products (mv, the add-products, ger, inner, vdot, tensordot, chain_matmul, cross),
the distances (cdist, pdist, dist), the reductions (std_mean, var_mean, aminmax, cummax, cummin,
logcumsumexp, kthvalue, mode, bucketize, searchsorted, isin, cov, corrcoef) and chainrule.linalg
(norms, inv, det, slogdet, solve, matrix_power, cross, multi_dot) with the top-level inverse, det,
logdet, slogdet and matrix_power: each as the same snippet in chainrule and in torch (values,
float64 gradients, dtypes, errors), with a float64 gradcheck for every differentiable op."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from oracle import check_op

INF, NAN = float("inf"), float("nan")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def pair(values, dtype="float64", grad=False):
    """The same values as a chainrule and a torch tensor."""
    a = np.asarray(values, dtype=dtype)
    return cr.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def same(c, t):
    """chainrule tensor == torch tensor: shape, dtype, values (NaN in the same places)."""
    t = t.detach()
    assert c.shape == tuple(t.shape)
    assert str(c.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(c.detach().numpy(), t.numpy(), rtol=1e-6, atol=1e-12, equal_nan=True)


def both_raise(cr_fn, torch_fn, exc, match):
    """The same refusal in both libraries: the exception type and words."""
    with pytest.raises(exc, match=match):
        torch_fn()
    with pytest.raises(exc, match=match):
        cr_fn()


def on_both(name, *values, **kw):
    """``name(*values, **kw)`` in both libraries, each array of ``values`` as a tensor of its own dtype."""
    cs, ts = zip(*(pair(v, np.asarray(v).dtype) for v in values))
    return getattr(cr, name)(*cs, **kw), getattr(torch, name)(*ts, **kw)


# ----------------------------------------------------------------------------- products
@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2.0), (0, 1), (1, 0), (-1.5, 0.25)])
def test_add_products_match_torch(beta, alpha):
    kw = dict(beta=beta, alpha=alpha)
    cases = [("addmm", [rand(3, 4), rand(3, 2, seed=1), rand(2, 4, seed=2)]),
             ("addmm", [rand(4), rand(3, 2, seed=1), rand(2, 4, seed=2)]),   # input broadcast to (3, 4)
             ("addmv", [rand(3), rand(3, 2, seed=1), rand(2, seed=2)]),
             ("addr", [rand(3, 4), rand(3, seed=1), rand(4, seed=2)]),
             ("baddbmm", [rand(2, 3, 4), rand(2, 3, 5, seed=1), rand(2, 5, 4, seed=2)]),
             ("addbmm", [rand(3, 4), rand(2, 3, 5, seed=1), rand(2, 5, 4, seed=2)])]
    for name, arrays in cases:
        check_op(lambda *a: getattr(cr, name)(*a, **kw), lambda *a: getattr(torch, name)(*a, **kw), arrays)
        check_op(lambda x, *a: getattr(x, name)(*a, **kw), lambda x, *a: getattr(x, name)(*a, **kw), arrays,
                 gradcheck=False)


def test_a_term_scaled_by_zero_is_ignored_nan_and_all_as_torch():
    nan = np.full((2, 2), NAN)
    for beta, alpha, arrays in [(0, 1, [nan, np.eye(2), np.ones((2, 2))]), (1, 0, [np.ones((2, 2)), nan, np.eye(2)])]:
        c, t = on_both("addmm", *arrays, beta=beta, alpha=alpha)
        same(c, t)
        assert not np.isnan(c.numpy()).any()


def test_mv_ger_inner_vdot_match_torch():
    check_op(cr.mv, torch.mv, [rand(3, 4), rand(4, seed=1)])
    check_op(lambda a, v: a.mv(v), lambda a, v: a.mv(v), [rand(3, 4), rand(4, seed=1)], gradcheck=False)
    check_op(cr.ger, torch.ger, [rand(3), rand(4, seed=1)])
    check_op(cr.vdot, torch.vdot, [rand(5), rand(5, seed=1)])
    for sa, sb in [((4,), (4,)), ((2, 4), (3, 4)), ((2, 3, 4), (5, 4)), ((), (3, 2)), ((3,), (2, 5, 3))]:
        check_op(cr.inner, torch.inner, [rand(*sa), rand(*sb, seed=1)])
    check_op(lambda a, b: a.inner(b), lambda a, b: a.inner(b), [rand(2, 4), rand(3, 4, seed=1)], gradcheck=False)


@pytest.mark.parametrize("sa, sb, dims", [((2, 3, 4), (3, 4, 5), 2), ((2, 3), (3, 4), 1), ((2, 3), (4, 5), 0),
                                         ((2, 3, 4), (4, 2, 6), ([0, 2], [1, 0])), ((3, 4), (4, 3), ([1], [0])),
                                         ((2, 3), (3, 2), ((0, 1), (1, 0))), ((3, 4), (4, 3), ([-1], [-2]))])
def test_tensordot_matches_torch(sa, sb, dims):
    check_op(lambda a, b: cr.tensordot(a, b, dims=dims), lambda a, b: torch.tensordot(a, b, dims=dims),
             [rand(*sa), rand(*sb, seed=1)])


def test_chain_matmul_matches_torch_and_warns_as_it():
    arrays = [rand(2, 3), rand(3, 4, seed=1), rand(4, 1, seed=2)]
    with pytest.warns(UserWarning, match="chain_matmul is deprecated"):
        check_op(cr.chain_matmul, torch.chain_matmul, arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c, t = on_both("chain_matmul", rand(2, 3))
        same(c, t)
        both_raise(lambda: cr.chain_matmul(cr.ones(2, 3), cr.ones(3)),
                   lambda: torch.chain_matmul(torch.ones(2, 3), torch.ones(3)), RuntimeError,
                   "Tensor dimension is 1, expected 2 instead")


@pytest.mark.parametrize("sa, sb, dim", [((3,), (3,), 0), ((4, 3), (4, 3), 1), ((3, 5), (3, 5), 0),
                                         ((2, 4, 3), (1, 4, 3), -1), ((4, 3), (1, 3), 1)])
def test_cross_matches_torch(sa, sb, dim):
    check_op(lambda a, b: cr.cross(a, b, dim=dim), lambda a, b: torch.cross(a, b, dim=dim),
             [rand(*sa), rand(*sb, seed=1)])
    check_op(lambda a, b: cr.linalg.cross(a, b, dim=dim), lambda a, b: torch.linalg.cross(a, b, dim=dim),
             [rand(*sa), rand(*sb, seed=1)], gradcheck=False)


def test_cross_without_dim_takes_the_first_axis_of_length_3_and_warns_as_torch():
    a, b = rand(3, 3), rand(3, 3, seed=1)
    with pytest.warns(UserWarning, match="without specifying the dim arg is deprecated"):
        check_op(lambda x, y: x.cross(y), lambda x, y: x.cross(y), [a, b], gradcheck=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c, t = on_both("cross", rand(4, 3), rand(4, 3, seed=1))        # dim 1: the only 3
        same(c, t)
        c, t = on_both("cross", rand(3, 4), rand(3, 4, seed=1))        # dim 0
        same(c, t)
        both_raise(lambda: cr.cross(cr.ones(2, 4), cr.ones(2, 4)),
                   lambda: torch.cross(torch.ones(2, 4), torch.ones(2, 4)),
                   RuntimeError, "no dimension of size 3 in input")
    # linalg.cross takes the last axis
    c, t = (cr.linalg.cross(cr.tensor(rand(3, 3)), cr.tensor(rand(3, 3, seed=1))),
            torch.linalg.cross(torch.tensor(rand(3, 3)), torch.tensor(rand(3, 3, seed=1))))
    same(c, t)


def test_product_refusals_are_torchs():
    r = RuntimeError
    both_raise(lambda: cr.mv(cr.ones(3, 2), cr.ones(3)), lambda: torch.mv(torch.ones(3, 2), torch.ones(3)), r,
               r"size mismatch, got input \(3\), mat \(3x2\), vec \(3\)")
    both_raise(lambda: cr.mv(cr.ones(3), cr.ones(3)), lambda: torch.mv(torch.ones(3), torch.ones(3)), r,
               "vector \\+ matrix @ vector expected, got 1, 1, 1")
    both_raise(lambda: cr.addmm(cr.ones(2, 2), cr.ones(2, 3), cr.ones(2, 2)),
               lambda: torch.addmm(torch.ones(2, 2), torch.ones(2, 3), torch.ones(2, 2)), r,
               r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x2\)")
    both_raise(lambda: cr.addmm(cr.ones(3), cr.ones(2, 2), cr.ones(2, 2)),
               lambda: torch.addmm(torch.ones(3), torch.ones(2, 2), torch.ones(2, 2)), r, "xpanded size of the tensor")
    both_raise(lambda: cr.addmm(cr.ones(2, 2), cr.ones(2, 3, 1), cr.ones(3, 2)),
               lambda: torch.addmm(torch.ones(2, 2), torch.ones(2, 3, 1), torch.ones(3, 2)), r,
               "mat1 must be a matrix, got 3-D tensor")
    both_raise(lambda: cr.addr(cr.ones(2, 3), cr.ones(2, 1), cr.ones(3)),
               lambda: torch.addr(torch.ones(2, 3), torch.ones(2, 1), torch.ones(3)), r,
               "addr: Expected 1-D argument vec1, but got 2-D")
    both_raise(lambda: cr.baddbmm(cr.ones(2, 2, 2), cr.ones(2, 2), cr.ones(2, 2, 2)),
               lambda: torch.baddbmm(torch.ones(2, 2, 2), torch.ones(2, 2), torch.ones(2, 2, 2)), r,
               "batch1 must be a 3D tensor")
    both_raise(lambda: cr.addbmm(cr.ones(2, 2), cr.ones(2, 2, 3), cr.ones(3, 3, 2)),
               lambda: torch.addbmm(torch.ones(2, 2), torch.ones(2, 2, 3), torch.ones(3, 3, 2)), r,
               "batch1 and batch2 must have same number of batches, got 2 and 3")
    both_raise(lambda: cr.baddbmm(cr.ones(2, 2, 2), cr.ones(2, 2, 3), cr.ones(2, 2, 2)),
               lambda: torch.baddbmm(torch.ones(2, 2, 2), torch.ones(2, 2, 3), torch.ones(2, 2, 2)), r,
               r"Expected size for first two dimensions of batch2 tensor to be: \[2, 3\] but got: \[2, 2\]")
    both_raise(lambda: cr.inner(cr.ones(2, 3), cr.ones(2)), lambda: torch.inner(torch.ones(2, 3), torch.ones(2)), r,
               r"inner\(\) the last dimension must match on both input tensors but got shapes \[2, 3\] and \[2\]")
    both_raise(lambda: cr.vdot(cr.ones(2, 3), cr.ones(2)), lambda: torch.vdot(torch.ones(2, 3), torch.ones(2)), r,
               "1D tensors expected, but got 2D and 1D tensors")
    for dims, match in [(1, "contracted dimensions need to match, but first has size 3 in dim -1 and second has "
                            "size 2 in dim 0"),
                        (-1, "tensordot expects dims >= 0, but got dims=-1"),
                        (3, "tensordot expects dims < ndim_a or ndim_b, but got dims=3"),
                        (([0, 1], [1]), "both dimension lists should have same length")]:
        both_raise(lambda: cr.tensordot(cr.ones(2, 3), cr.ones(2, 3), dims=dims),
                   lambda: torch.tensordot(torch.ones(2, 3), torch.ones(2, 3), dims=dims), r, match)
    both_raise(lambda: cr.cross(cr.ones(3, 4), cr.ones(3, 4), dim=1),
               lambda: torch.cross(torch.ones(3, 4), torch.ones(3, 4), dim=1), r,
               "linalg.cross: inputs dimension 1 must have length 3. Got 4 and 4")
    both_raise(lambda: cr.linalg.cross(cr.ones(3, 3), cr.ones(3)),
               lambda: torch.linalg.cross(torch.ones(3, 3), torch.ones(3)), r,
               "linalg.cross: inputs must have the same number of dimensions.")
    both_raise(lambda: cr.cross(cr.ones(3, 3), cr.ones(2, 3), dim=1),
               lambda: torch.cross(torch.ones(3, 3), torch.ones(2, 3), dim=1), r,
               r"The size of tensor a \(3\) must match the size of tensor b \(2\) at non-singleton dimension 0")
    with pytest.raises(TypeError, match="out= is not supported"):
        cr.mv(cr.ones(2, 2), cr.ones(2), out=cr.ones(2))


# ----------------------------------------------------------------------------- distances
@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.0, 0.5, INF])
@pytest.mark.parametrize("s1, s2", [((4, 3), (5, 3)), ((2, 4, 3), (2, 5, 3)), ((2, 1, 4, 3), (3, 5, 3))])
def test_cdist_matches_torch(p, s1, s2):
    check_op(lambda a, b: cr.cdist(a, b, p=p), lambda a, b: torch.cdist(a, b, p=p), [rand(*s1), rand(*s2, seed=1)])


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.0, INF])
def test_cdist_gradient_at_zero_distance_is_torchs(p):
    """Equal points (a zero distance) and, for inf, ties of the largest coordinate."""
    a = np.array([[0.0, 0.0], [1.0, 2.0], [1.0, -1.0]])
    b = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0]])
    check_op(lambda x, y: cr.cdist(x, y, p=p), lambda x, y: torch.cdist(x, y, p=p), [a, b], gradcheck=False)


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.0, INF])
def test_pdist_and_dist_match_torch(p):
    check_op(lambda a: cr.pdist(a, p=p), lambda a: torch.pdist(a, p=p), [rand(5, 3)])
    if p == 0:  # torch.dist's backward at p = 0 fails ("Expected a proper Tensor but got None"): the value
        same(*on_both("dist", rand(4, 3), rand(3, seed=1), p=p))
    else:
        check_op(lambda a, b: cr.dist(a, b, p=p), lambda a, b: torch.dist(a, b, p=p), [rand(4, 3), rand(3, seed=1)])
    if p != 0:
        check_op(lambda a, b: a.dist(b, p), lambda a, b: a.dist(b, p), [rand(4, 3), rand(4, 3, seed=1)],
                 gradcheck=False)
        ties = np.array([[2.0, -2.0], [1.0, 2.0]])   # torch.dist shares a tied inf-norm gradient, as torch.norm
        check_op(lambda a, b: cr.dist(a, b, p=p), lambda a, b: torch.dist(a, b, p=p), [ties, np.zeros(2)],
                 gradcheck=False)
    a = np.array([[0.0, 1.0], [0.0, 1.0], [2.0, 3.0]])   # a repeated row: a zero distance
    check_op(lambda x: cr.pdist(x, p=p), lambda x: torch.pdist(x, p=p), [a], gradcheck=False)
    c, t = on_both("pdist", np.ones((1, 3)))
    same(c, t)


def test_distance_refusals_are_torchs():
    r = RuntimeError
    both_raise(lambda: cr.cdist(cr.ones(3, 2), cr.ones(4, 3)), lambda: torch.cdist(torch.ones(3, 2), torch.ones(4, 3)),
               r, "X1 and X2 must have the same number of columns. X1: 2 X2: 3")
    both_raise(lambda: cr.cdist(cr.ones(3), cr.ones(4, 3)), lambda: torch.cdist(torch.ones(3), torch.ones(4, 3)),
               r, "cdist only supports at least 2D tensors, X1 got: 1D")
    both_raise(lambda: cr.cdist(cr.ones(3, 2), cr.ones(4, 2), p=-1),
               lambda: torch.cdist(torch.ones(3, 2), torch.ones(4, 2), p=-1), r,
               "cdist only supports non-negative p values")
    both_raise(lambda: cr.cdist(cr.ones(3, 2, dtype=cr.int64), cr.ones(4, 2, dtype=cr.int64)),
               lambda: torch.cdist(torch.ones(3, 2, dtype=torch.long), torch.ones(4, 2, dtype=torch.long)), r,
               "cdist only supports floating-point dtypes, X1 got: Long")
    both_raise(lambda: cr.pdist(cr.ones(3)),
               lambda: torch.pdist(torch.ones(3)), r, "pdist only supports 2D tensors, got: 1D")
    both_raise(lambda: cr.pdist(cr.ones(3, 2), p=-1), lambda: torch.pdist(torch.ones(3, 2), p=-1), r,
               "pdist only supports non-negative p values")
    with pytest.raises(r, match="must match the size of tensor b"):
        torch.dist(torch.ones(3, 2), torch.ones(3))
    with pytest.raises(r, match=r"shapes \(3, 2\) and \(3,\) do not broadcast"):   # chainrule's sub's words
        cr.dist(cr.ones(3, 2), cr.ones(3))
    both_raise(lambda: cr.dist(cr.ones(2, dtype=cr.int64), cr.ones(2, dtype=cr.int64)),
               lambda: torch.dist(torch.ones(2, dtype=torch.long), torch.ones(2, dtype=torch.long)), r,
               "norm\\(\\): input dtype should be either floating point or complex. Got Long instead.")


@pytest.mark.parametrize("p", [1.0, 2.0, INF])
def test_cdist_in_row_blocks_gives_the_same_numbers(p, monkeypatch):
    # the rule holds one block of differences at a time (here a few rows, batched): torch's values and
    # gradients at every block boundary, and the same numbers as one block
    a, b = rand(2, 7, 3), rand(1, 5, 3, seed=1)
    whole = cr.cdist(cr.tensor(a), cr.tensor(b), p=p).numpy()
    monkeypatch.setattr(cr.rules.reduce.Cdist, "BLOCK", 40)   # 40 // (2 * 5 * 3) = 1 row a block
    check_op(lambda x, y: cr.cdist(x, y, p=p), lambda x, y: torch.cdist(x, y, p=p), [a, b])
    np.testing.assert_array_equal(cr.cdist(cr.tensor(a), cr.tensor(b), p=p).numpy(), whole)


@pytest.mark.parametrize("p", [1.0, 2.0, INF])
@pytest.mark.parametrize("rows", [1, 2, 5])
def test_pdist_computes_the_pairs_a_block_of_rows_at_a_time(p, rows, monkeypatch):
    # 6 points of 3 coordinates, blocks of 1, 2 or all 5 rows with pairs: torch's values and gradients
    # at every block boundary; each block takes its rows against the rows after its first one
    a = rand(6, 3)
    monkeypatch.setattr(cr.rules.reduce.Pdist, "BLOCK", rows * 6 * 3)
    check_op(lambda x: cr.pdist(x, p=p), lambda x: torch.pdist(x, p=p), [a])
    seen, real = [], cr.rules.reduce.pnorm
    monkeypatch.setattr(cr.rules.reduce, "pnorm", lambda d, *k: seen.append(d.shape[:2]) or real(d, *k))
    cr.pdist(cr.tensor(a), p=p)
    assert seen == [(min(rows, 5 - r0), 5 - r0) for r0 in range(0, 5, rows)]   # 15 pairs; 36 for cdist


def test_cdist_of_large_sets_holds_a_block_not_all_differences():
    # 1500 x 1500 points of 64 coordinates: all differences at once would be 1.1 GB in float64
    code = ("import numpy as np, chainrule as cr\n"
            "r = np.random.default_rng(0)\n"
            "a = cr.tensor(r.standard_normal((1500, 64)), requires_grad=True)\n"
            "d = cr.cdist(a, cr.tensor(r.standard_normal((1500, 64))))\n"
            "d.sum().backward()\n"
            "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert int(out.stdout) < 400_000   # kB: the process's own peak


def test_cdist_keeps_float32():
    c, t = on_both("cdist", rand(3, 2).astype(np.float32), rand(4, 2, seed=1).astype(np.float32))
    same(c, t)


# ----------------------------------------------------------------------------- reductions
@pytest.mark.parametrize("name", ["var_mean", "std_mean"])
@pytest.mark.parametrize("dim, kw", [(None, {}), (1, {}), (1, dict(keepdim=True)), ((0, 2), dict(correction=0)),
                                     (0, dict(unbiased=False)), (None, dict(correction=2))])
def test_var_mean_and_std_mean_match_torch(name, dim, kw):
    def both(fn):
        return lambda a: sum(t.sum() * w for t, w in zip(fn(a, dim, **kw), (1.0, 2.5)))
    check_op(both(getattr(cr, name)), both(getattr(torch, name)), [rand(3, 4, 2)])
    c, t = on_both(name, rand(3, 4, 2), dim=dim, **kw)
    assert type(c) is tuple and type(t) is tuple and len(c) == 2
    for a, b in zip(c, t):
        same(a, b)


def test_var_mean_takes_the_old_positional_unbiased_and_refuses_integers():
    x = rand(2, 3)
    for c, t in zip(cr.std_mean(cr.tensor(x), 1, True, True), torch.std_mean(torch.tensor(x), 1, True, True)):
        same(c, t)
    for c, t in zip(cr.var_mean(cr.tensor(x), unbiased=False), torch.var_mean(torch.tensor(x), unbiased=False)):
        same(c, t)
    both_raise(lambda: cr.var_mean(cr.tensor([1, 2])), lambda: torch.var_mean(torch.tensor([1, 2])), RuntimeError,
               "var_mean only support floating point and complex dtypes")


@pytest.mark.parametrize("kw", [{}, dict(dim=1), dict(dim=0, keepdim=True), dict(keepdim=True), dict(dim=-1)])
def test_aminmax_matches_torch_ties_split_as_amin_amax(kw):
    x = np.array([[1.0, 2.0, 2.0], [3.0, 3.0, 0.0]])   # ties for the max of each row and of all
    check_op(lambda a: (lambda r: r.min * 1.5 + r.max)(cr.aminmax(a, **kw)),
             lambda a: (lambda r: r.min * 1.5 + r.max)(torch.aminmax(a, **kw)), [x], gradcheck=False)
    check_op(lambda a: (lambda r: r.min * 1.5 + r.max)(a.aminmax(**kw)),
             lambda a: (lambda r: r.min * 1.5 + r.max)(a.aminmax(**kw)), [rand(3, 4)])
    c, t = cr.aminmax(cr.tensor(x), **kw), torch.aminmax(torch.tensor(x), **kw)
    assert c._fields == ("min", "max")
    same(c.min, t.min)
    same(c.max, t.max)


def test_aminmax_refusals_and_edges_are_torchs():
    both_raise(lambda: cr.aminmax(cr.zeros(0)), lambda: torch.aminmax(torch.zeros(0)), RuntimeError,
               r"aminmax\(\): cannot compute aminmax over an empty dimension as the operation has no identity.")
    both_raise(lambda: cr.aminmax(cr.zeros(2, 0), dim=1), lambda: torch.aminmax(torch.zeros(2, 0), dim=1), IndexError,
               "Expected reduction dim 1 to have non-zero size.")
    for x in (np.float64(3.0), np.array([True, False]), np.array([[4, 1], [2, 7]])):
        c, t = on_both("aminmax", x, dim=None if x.ndim != 2 else 0)
        same(c.min, t.min)
        same(c.max, t.max)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("values, dim", [([1.0, 3.0, 2.0, 3.0, 0.0, 5.0], 0), ([1.0, 3.0, 0.0, 3.0, 0.0, 5.0], 0),
                                         ([1.0, NAN, 3.0, NAN, 2.0], 0), ([[2.0, 1.0], [2.0, 4.0], [0.0, 4.0]], 0),
                                         ([[2.0, 1.0, 1.0], [2.0, 4.0, 4.0]], -1), (7.0, 0)])
def test_cummax_cummin_match_torch_ties_and_nans(name, values, dim):
    c, t = on_both(name, np.asarray(values), dim=dim)
    assert c._fields == ("values", "indices")
    same(c.values, t.values)
    same(c.indices, t.indices)
    if not np.isnan(values).any():
        check_op(lambda a: getattr(cr, name)(a, dim).values, lambda a: getattr(torch, name)(a, dim).values,
                 [values], gradcheck=False)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin_gradients_and_integers(name):
    check_op(lambda a: getattr(a, name)(1).values, lambda a: getattr(a, name)(1).values, [rand(3, 5)])
    c, t = on_both(name, np.array([[1, 3, 2], [4, 0, 5]]), dim=1)
    same(c.values, t.values)
    same(c.indices, t.indices)
    both_raise(lambda: getattr(cr, name)(cr.ones(2), 1), lambda: getattr(torch, name)(torch.ones(2), 1), IndexError,
               r"Dimension out of range \(expected to be in range of \[-1, 0\], but got 1\)|expected to be in range")


@pytest.mark.parametrize("shape, dim", [((6,), 0), ((3, 5), 1), ((3, 5), 0), ((), 0)])
def test_logcumsumexp_matches_torch(shape, dim):
    check_op(lambda a: cr.logcumsumexp(a, dim), lambda a: torch.logcumsumexp(a, dim), [rand(*shape) * 3])
    check_op(lambda a: a.logcumsumexp(dim), lambda a: a.logcumsumexp(dim), [rand(*shape)], gradcheck=False)


def test_logcumsumexp_does_not_overflow_and_refuses_integers():
    x = np.array([1000.0, -1000.0, 999.0, -INF, 1001.0])
    check_op(lambda a: cr.logcumsumexp(a, 0), lambda a: torch.logcumsumexp(a, 0), [x], gradcheck=False)
    both_raise(lambda: cr.logcumsumexp(cr.tensor([1, 2]), 0), lambda: torch.logcumsumexp(torch.tensor([1, 2]), 0),
               NotImplementedError, "\"logcumsumexp_out_cpu\" not implemented for 'Long'")


@pytest.mark.parametrize("k, dim, keepdim", [(1, -1, False), (3, 1, True), (5, 1, False), (2, 0, False)])
def test_kthvalue_matches_torch(k, dim, keepdim):
    x = rand(3, 5)   # no ties: torch's index among equal values is its selection algorithm's
    c, t = cr.kthvalue(cr.tensor(x), k, dim, keepdim), torch.kthvalue(torch.tensor(x), k, dim, keepdim)
    same(c.values, t.values)
    same(c.indices, t.indices)
    check_op(lambda a: cr.kthvalue(a, k, dim, keepdim).values, lambda a: torch.kthvalue(a, k, dim, keepdim).values,
             [x])
    check_op(lambda a: a.kthvalue(k, dim, keepdim=keepdim).values,
             lambda a: a.kthvalue(k, dim, keepdim=keepdim).values, [x], gradcheck=False)


def test_kthvalue_values_with_ties_and_nan_and_refusals():
    x = np.array([3.0, 1.0, 1.0, 3.0, 2.0])
    for k in range(1, 6):
        same(cr.kthvalue(cr.tensor(x), k).values, torch.kthvalue(torch.tensor(x), k).values)
    c, t = on_both("kthvalue", np.array([1.0, NAN, 0.0]), k=3)     # NaN counts as the largest
    same(c.values, t.values)
    same(c.indices, t.indices)
    c, t = on_both("kthvalue", np.array([1, 3, 2]), k=2)
    same(c.values, t.values)
    for k in (0, 3):
        both_raise(lambda: cr.kthvalue(cr.tensor([1.0, 2.0]), k), lambda: torch.kthvalue(torch.tensor([1.0, 2.0]), k),
                   RuntimeError, r"kthvalue\(\): selected number k out of range for dimension 0")


@pytest.mark.parametrize("values, dim, keepdim", [([1.0, 2.0, 2.0, 1.0, 3.0], -1, False),
                                                 ([3.0, 1.0, 1.0, 3.0, 2.0], 0, True),
                                                 ([[3.0, 1.0, 1.0, 3.0, 2.0], [5.0, 5.0, 4.0, 4.0, 4.0]], 1, False),
                                                 ([[3.0, 1.0], [3.0, 1.0], [2.0, 1.0]], 0, True),
                                                 ([4, 4, 1, 1, 9], 0, False), (5.0, 0, False)])
def test_mode_matches_torch_smallest_value_last_position_on_ties(values, dim, keepdim):
    c, t = on_both("mode", np.asarray(values), dim=dim, keepdim=keepdim)
    same(c.values, t.values)
    same(c.indices, t.indices)


def test_mode_random_short_rows_gradient_and_refusal():
    x = np.random.default_rng(5).integers(0, 4, (40, 12)).astype(np.float64)
    c, t = cr.mode(cr.tensor(x)), torch.mode(torch.tensor(x))
    same(c.values, t.values)
    same(c.indices, t.indices)
    y = np.random.default_rng(6).integers(0, 3, (5, 10, 4))
    for dim, keepdim in [(1, False), (0, True), (-1, False)]:
        c, t = cr.mode(cr.tensor(y), dim, keepdim), torch.mode(torch.tensor(y), dim, keepdim)
        same(c.values, t.values)
        same(c.indices, t.indices)
    check_op(lambda a: a.mode(0).values, lambda a: a.mode(0).values, [x[:10, :3]], gradcheck=False)
    check_op(lambda a: cr.mode(a, 1).values, lambda a: torch.mode(a, 1).values, [rand(3, 4)])
    both_raise(lambda: cr.mode(cr.zeros(0)), lambda: torch.mode(torch.zeros(0)), IndexError,
               r"mode\(\): Expected reduction dim 0 to have non-zero size.")


@pytest.mark.parametrize("kw", [{}, dict(right=True), dict(side="right"), dict(side="left"), dict(out_int32=True)])
def test_searchsorted_matches_torch(kw):
    seq, v = np.array([1.0, 3.0, 5.0, 7.0]), np.array([[3.0, 6.0], [9.0, 0.0]])
    c, t = on_both("searchsorted", seq, v, **kw)
    same(c, t)
    c, t = on_both("searchsorted", np.array([[1.0, 3, 5], [2, 4, 6]]), v, **kw)   # one sequence per row
    same(c, t)
    c, t = cr.searchsorted(cr.tensor(seq), 3.0, **kw), torch.searchsorted(torch.tensor(seq), 3.0, **kw)
    same(c, t)
    seq, v, order = np.array([5.0, 1.0, 3.0]), np.array([3.0, 6.0, 1.0]), np.array([1, 2, 0])
    same(cr.searchsorted(cr.tensor(seq), cr.tensor(v), sorter=cr.tensor(order), **kw),
         torch.searchsorted(torch.tensor(seq), torch.tensor(v), sorter=torch.tensor(order), **kw))


def test_searchsorted_refusals_are_torchs():
    s, v = torch.tensor([1.0, 3.0]), torch.tensor([2.0])
    cs, cv = cr.tensor([1.0, 3.0]), cr.tensor([2.0])
    both_raise(lambda: cr.searchsorted(cs, cv, side="left", right=True),
               lambda: torch.searchsorted(s, v, side="left", right=True), RuntimeError,
               "side and right can't be set to opposites, got side of left while right was True")
    both_raise(lambda: cr.searchsorted(cs, cv, side="middle"), lambda: torch.searchsorted(s, v, side="middle"),
               RuntimeError, "side can only be 'left' or 'right' but got middle")
    both_raise(lambda: cr.searchsorted(cr.ones(2, 3), cr.ones(3)),
               lambda: torch.searchsorted(torch.ones(2, 3), torch.ones(3)),
               RuntimeError, "boundaries tensor should be 1 dimension or the first N-1 dimensions")
    both_raise(lambda: cr.searchsorted(cr.tensor(1.0), cv), lambda: torch.searchsorted(torch.tensor(1.0), v),
               RuntimeError, "boundaries tensor should have positive dimension, but got 0 dimension")
    both_raise(lambda: cr.searchsorted(cs, cv, sorter=cr.tensor([0])),
               lambda: torch.searchsorted(s, v, sorter=torch.tensor([0])),
               RuntimeError, "boundary and sorter must have the same size")


@pytest.mark.parametrize("kw", [{}, dict(right=True), dict(out_int32=True)])
def test_bucketize_matches_torch_without_a_graph(kw):
    x, b = pair([[0.5, 3.0], [9.0, 1.0]], grad=True), np.array([1.0, 3.0, 5.0, 7.0])
    c, t = cr.bucketize(x[0], cr.tensor(b), **kw), torch.bucketize(x[1], torch.tensor(b), **kw)
    same(c, t)
    assert not c.requires_grad
    same(cr.bucketize(3.0, cr.tensor(b), **kw), torch.bucketize(3.0, torch.tensor(b), **kw))
    same(cr.bucketize(cr.tensor([1, 5]), cr.tensor(b), **kw),
         torch.bucketize(torch.tensor([1, 5]), torch.tensor(b), **kw))
    both_raise(lambda: cr.bucketize(x[0], cr.ones(1, 2)), lambda: torch.bucketize(x[1], torch.ones(1, 2)), RuntimeError,
               r"boundaries tensor must be 1 dimension, but got dim\(2\)")


@pytest.mark.parametrize("invert", [False, True])
def test_isin_matches_torch(invert):
    for e, te in [([[1, 2], [3, 4]], [2, 3]), ([1.0, 2.0, NAN], [NAN, 2.0]), ([1.5, 2.0], [2, 3])]:
        c, t = on_both("isin", np.asarray(e), np.asarray(te), invert=invert)
        same(c, t)
    x = pair([[1.0, 2.0], [3.0, 4.0]], grad=True)
    c, t = cr.isin(x[0], 2.0, invert=invert), torch.isin(x[1], 2.0, invert=invert)
    same(c, t)
    assert not c.requires_grad
    same(cr.isin(2, cr.tensor([2, 3]), invert=invert), torch.isin(2, torch.tensor([2, 3]), invert=invert))
    both_raise(lambda: cr.isin(2, 3), lambda: torch.isin(2, 3), TypeError,
               r"isin\(\) received an invalid combination of arguments - got \(int, int\)")


COV_CASES = [dict(), dict(correction=0), dict(correction=2), dict(fweights=np.array([1, 2, 1, 3])),
             dict(aweights=np.array([0.5, 2.0, 1.0, 0.25])),
             dict(aweights=np.array([0.5, 2.0, 1.0, 0.25]), fweights=np.array([1, 2, 3, 1]), correction=2)]


@pytest.mark.parametrize("kw", COV_CASES)
@pytest.mark.parametrize("shape", [(3, 4), (4,), (1, 4)])
def test_cov_matches_torch(kw, shape):
    ckw = {k: (cr.tensor(v) if k.endswith("weights") else v) for k, v in kw.items()}
    tkw = {k: (torch.tensor(v) if k.endswith("weights") else v) for k, v in kw.items()}
    check_op(lambda a: cr.cov(a, **ckw), lambda a: torch.cov(a, **tkw), [rand(*shape)])
    check_op(lambda a: a.cov(**ckw), lambda a: a.cov(**tkw), [rand(*shape)], gradcheck=False)


def test_cov_edges_and_refusals_are_torchs():
    c, t = on_both("cov", np.array([[1, 2, 4], [0, 1, 1]]))       # integers: the default float
    same(c, t)
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        c = cr.cov(cr.tensor([[1.0, 2.0]]), correction=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(c, torch.cov(torch.tensor([[1.0, 2.0]]), correction=3))
        same(cr.cov(cr.tensor(3.0)), torch.cov(torch.tensor(3.0)))
    x, tx = cr.tensor([[1.0, 2, 4], [0, 1, 1]]), torch.tensor([[1.0, 2, 4], [0, 1, 1]])
    for kw, match in [(dict(fweights=[1.0, 2, 1]), "expected fweights to have integral dtype but got fweights with "
                                                   "Float dtype"),
                      (dict(fweights=[1, -2, 1]), "fweights cannot be negative"),
                      (dict(aweights=[1.0, -2, 1]), "aweights cannot be negative"),
                      (dict(aweights=[1, 2, 3]), "expected aweights to have floating point dtype but got aweights with "
                                                 "Long dtype"),
                      (dict(aweights=[1.0, 2]), "expected aweights to have the same numel as there are observations in "
                                                "the input but got 2 != 3"),
                      (dict(aweights=[[1.0, 2, 3]]), "expected aweights to have one or fewer dimensions")]:
        both_raise(lambda: cr.cov(x, **{k: cr.tensor(v) for k, v in kw.items()}),
                   lambda: torch.cov(tx, **{k: torch.tensor(v) for k, v in kw.items()}), RuntimeError, match)
    both_raise(lambda: cr.cov(cr.zeros(2, 2, 2)), lambda: torch.cov(torch.zeros(2, 2, 2)), RuntimeError,
               "expected input to have two or fewer dimensions but got an input with 3 dimensions")


@pytest.mark.parametrize("shape", [(3, 5), (5,), (2, 3)])
def test_corrcoef_matches_torch(shape):
    check_op(cr.corrcoef, torch.corrcoef, [rand(*shape)])
    check_op(lambda a: a.corrcoef(), lambda a: a.corrcoef(), [rand(*shape)], gradcheck=False)


def test_corrcoef_of_a_constant_row_is_nan_as_torch():
    c, t = on_both("corrcoef", np.array([[1.0, 2, 4], [1, 1, 1]]))
    same(c, t)
    c, t = on_both("corrcoef", np.array([[1, 2, 4], [1, 1, 3]]))
    same(c, t)


# ----------------------------------------------------------------------------- chainrule.linalg
def well_conditioned(*shape, seed=0):
    """Random (..., n, n) matrices comfortably away from singular (some with a negative determinant)."""
    a = rand(*shape, seed=seed)
    return a + 2 * np.eye(shape[-1]) * np.sign(rand(*shape[:-2], 1, 1, seed=seed + 1))


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (2, 1, 2, 2), (1, 1)])
def test_inv_det_slogdet_logdet_match_torch(shape):
    a = well_conditioned(*shape)
    check_op(cr.linalg.inv, torch.linalg.inv, [a])
    check_op(cr.inverse, torch.inverse, [a], gradcheck=False)
    check_op(lambda x: x.inverse(), lambda x: x.inverse(), [a], gradcheck=False)
    check_op(cr.linalg.det, torch.linalg.det, [a])
    check_op(lambda x: x.det(), lambda x: x.det(), [a], gradcheck=False)
    check_op(lambda x: cr.linalg.slogdet(x).logabsdet, lambda x: torch.linalg.slogdet(x).logabsdet, [a])
    check_op(lambda x: x.slogdet()[1], lambda x: x.slogdet()[1], [a], gradcheck=False)
    c, t = cr.slogdet(cr.tensor(a)), torch.slogdet(torch.tensor(a))
    assert c._fields == ("sign", "logabsdet")
    same(c.sign, t.sign)
    same(c.logabsdet, t.logabsdet)
    positive = a @ np.swapaxes(a, -1, -2) + np.eye(shape[-1])   # det > 0: logdet finite
    check_op(cr.logdet, torch.logdet, [positive])
    check_op(cr.logdet, torch.logdet, [a], gradcheck=False)   # NaN where det < 0, with a zero gradient
    check_op(lambda x: x.logdet(), lambda x: x.logdet(), [positive], gradcheck=False)


def test_det_and_slogdet_of_singular_matrices_are_torchs():
    for m in ([[1.0, 2.0], [2.0, 4.0]], [[1.0, 0, 0], [0, 1, 0], [0, 0, 0]], [[0.0, 0.0], [0.0, 0.0]]):
        check_op(cr.det, torch.det, [m], gradcheck=False)          # det 0 and a zero gradient
        c, t = on_both("slogdet", np.array(m))
        same(c.sign, t.sign)
        same(c.logabsdet, t.logabsdet)                              # sign 0, -inf
        same(cr.logdet(cr.tensor(m)), torch.logdet(torch.tensor(m)))
    batch = np.stack([np.eye(2), np.zeros((2, 2))])
    same(cr.linalg.det(cr.tensor(batch)), torch.linalg.det(torch.tensor(batch)))
    same(cr.linalg.det(cr.zeros(3, 0, 0)), torch.linalg.det(torch.zeros(3, 0, 0)))


def test_inv_and_solve_refuse_a_singular_matrix_as_torch():
    singular = [[1.0, 2.0], [2.0, 4.0]]
    both_raise(lambda: cr.linalg.inv(cr.tensor(singular)), lambda: torch.linalg.inv(torch.tensor(singular)),
               RuntimeError, "the input matrix is singular")
    with pytest.raises(cr.linalg.LinAlgError, match=r"linalg.inv: \(Batch element 1\): .*singular"):
        cr.linalg.inv(cr.tensor(np.stack([np.eye(2), np.zeros((2, 2))])))
    with pytest.raises(torch.linalg.LinAlgError, match=r"\(Batch element 1\): .*singular"):
        torch.linalg.inv(torch.tensor(np.stack([np.eye(2), np.zeros((2, 2))])))
    both_raise(lambda: cr.linalg.solve(cr.tensor(singular), cr.ones(2)),
               lambda: torch.linalg.solve(torch.tensor(singular), torch.ones(2)), RuntimeError,
               "linalg.solve: The solver failed because the input matrix is singular.")
    assert issubclass(cr.linalg.LinAlgError, RuntimeError)


@pytest.mark.parametrize("sa, sb", [((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3)), ((2, 3, 3), (3, 2)),
                                    ((3, 3), (4, 3, 2)), ((2, 1, 3, 3), (5, 3, 1))])
def test_solve_matches_torch(sa, sb):
    check_op(cr.linalg.solve, torch.linalg.solve, [well_conditioned(*sa), rand(*sb, seed=3)])


def test_solve_left_false_and_refusals_are_torchs():
    a, b = well_conditioned(3, 3), rand(2, 3, seed=3)
    check_op(lambda x, y: cr.linalg.solve(x, y, left=False), lambda x, y: torch.linalg.solve(x, y, left=False), [a, b])
    both_raise(lambda: cr.linalg.solve(cr.ones(2, 3, 3), cr.ones(4, 3)),
               lambda: torch.linalg.solve(torch.ones(2, 3, 3), torch.ones(4, 3)), RuntimeError,
               r"linalg.solve: Incompatible shapes of A and B for the equation AX = B \(3x3 and 4x3\)")
    both_raise(lambda: cr.linalg.solve(cr.ones(3, 3), cr.ones(3, 3, dtype=cr.float64)),
               lambda: torch.linalg.solve(torch.ones(3, 3), torch.ones(3, 3, dtype=torch.float64)), RuntimeError,
               "linalg.solve: Expected A and B to have the same dtype, but found A of type Float and B of type Double")


def test_square_matrix_refusals_are_torchs():
    r = RuntimeError
    for name in ("inv", "det", "slogdet"):
        both_raise(lambda: getattr(cr.linalg, name)(cr.ones(3, 2)),
                   lambda: getattr(torch.linalg, name)(torch.ones(3, 2)),
                   r, f"linalg.{name}: A must be batches of square matrices, but they are 3 by 2 matrices")
        both_raise(lambda: getattr(cr.linalg, name)(cr.ones(3)), lambda: getattr(torch.linalg, name)(torch.ones(3)),
                   r, f"linalg.{name}: The input tensor A must have at least 2 dimensions.")
        both_raise(lambda: getattr(cr.linalg, name)(cr.ones(2, 2, dtype=cr.int64)),
                   lambda: getattr(torch.linalg, name)(torch.ones(2, 2, dtype=torch.long)), r,
                   f"linalg.{name}: Expected a floating point or complex tensor as input. Got Long")
    both_raise(lambda: cr.logdet(cr.ones(3, 2)), lambda: torch.logdet(torch.ones(3, 2)), r,
               "logdet: A must be batches of square matrices, but they are 3 by 2 matrices")


@pytest.mark.parametrize("n", [1, 2, 3, 5, -1, -2])
def test_matrix_power_matches_torch(n):
    a = well_conditioned(2, 3, 3) / 2
    check_op(lambda x: cr.linalg.matrix_power(x, n), lambda x: torch.linalg.matrix_power(x, n), [a])
    check_op(lambda x: x.matrix_power(n), lambda x: x.matrix_power(n), [a], gradcheck=False)


def test_matrix_power_zero_integers_and_refusals_are_torchs():
    same(cr.matrix_power(cr.tensor(rand(3, 2, 2)), 0), torch.matrix_power(torch.tensor(rand(3, 2, 2)), 0))
    m = np.array([[1, 1], [0, 1]])
    same(cr.matrix_power(cr.tensor(m), 3), torch.matrix_power(torch.tensor(m), 3))
    both_raise(lambda: cr.linalg.matrix_power(cr.ones(2, 3), 2), lambda: torch.linalg.matrix_power(torch.ones(2, 3), 2),
               RuntimeError, "linalg.matrix_power: A must be batches of square matrices, but they are 2 by 3 matrices")
    both_raise(lambda: cr.linalg.matrix_power(cr.ones(2, 2), 1.5),
               lambda: torch.linalg.matrix_power(torch.ones(2, 2), 1.5),
               TypeError, r"argument 'n' \(position 2\) must be int, not float")
    both_raise(lambda: cr.linalg.matrix_power(cr.zeros(2, 2), -1),
               lambda: torch.linalg.matrix_power(torch.zeros(2, 2), -1),
               RuntimeError, "input matrix is singular")


@pytest.mark.parametrize("ord, dim, keepdim", [(2, None, False), (1, 1, True), (INF, None, False), (-INF, 0, False),
                                              (0, None, False), (3.5, (0, 1), True), (-1, None, False),
                                              (2, (0, 2), False), (2, None, True)])
def test_vector_norm_matches_torch(ord, dim, keepdim):
    x = rand(2, 3, 4)
    check_op(lambda a: cr.linalg.vector_norm(a, ord, dim, keepdim),
             lambda a: torch.linalg.vector_norm(a, ord, dim, keepdim),
             [x], gradcheck=ord != 0)


@pytest.mark.parametrize("ord", ["fro", 1, -1, INF, -INF])
@pytest.mark.parametrize("shape, dim, keepdim", [((3, 4), (-2, -1), False), ((2, 3, 4), (0, 2), True),
                                                ((2, 3, 4), (2, 1), False)])
def test_matrix_norm_matches_torch(ord, shape, dim, keepdim):
    check_op(lambda a: cr.linalg.matrix_norm(a, ord, dim, keepdim),
             lambda a: torch.linalg.matrix_norm(a, ord, dim, keepdim),
             [rand(*shape)])


@pytest.mark.parametrize("ord, dim, shape", [(None, None, (2, 3, 4)), (None, None, (3, 4)), (1, None, (3, 4)),
                                            (INF, None, (4,)), ("fro", (0, 1), (3, 4)), (3, 1, (3, 4)),
                                            (None, (1, 2), (2, 3, 4)), (-INF, None, (3, 4)), (None, 0, (3, 4))])
def test_linalg_norm_matches_torch(ord, dim, shape):
    check_op(lambda a: cr.linalg.norm(a, ord, dim), lambda a: torch.linalg.norm(a, ord, dim), [rand(*shape)])


def test_norm_refusals_are_torchs():
    r = RuntimeError
    both_raise(lambda: cr.linalg.matrix_norm(cr.ones(2, 2), ord=3),
               lambda: torch.linalg.matrix_norm(torch.ones(2, 2), ord=3),
               r, "linalg.matrix_norm: Order 3 not supported.")
    both_raise(lambda: cr.linalg.matrix_norm(cr.ones(3)), lambda: torch.linalg.matrix_norm(torch.ones(3)), r,
               "linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    both_raise(lambda: cr.linalg.matrix_norm(cr.ones(2, 2), dim=(0, 0)),
               lambda: torch.linalg.matrix_norm(torch.ones(2, 2), dim=(0, 0)), r,
               r"linalg.matrix_norm: dims must be different. Got \(0, 0\)")
    both_raise(lambda: cr.linalg.norm(cr.ones(2, 2, 2), 1), lambda: torch.linalg.norm(torch.ones(2, 2, 2), 1), r,
               "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got 3D.")
    both_raise(lambda: cr.linalg.norm(cr.ones(2, 2, 2), dim=(0, 1, 2)),
               lambda: torch.linalg.norm(torch.ones(2, 2, 2), dim=(0, 1, 2)), r,
               r"linalg.norm: If dim is specified, it must be of length 1 or 2. Got \[0, 1, 2\]")
    both_raise(lambda: cr.linalg.vector_norm(cr.zeros(0), INF), lambda: torch.linalg.vector_norm(torch.zeros(0), INF),
               r, "linalg.vector_norm cannot compute the inf norm on an empty tensor")
    both_raise(lambda: cr.linalg.vector_norm(cr.tensor([1, 2])), lambda: torch.linalg.vector_norm(torch.tensor([1, 2])),
               r, "linalg.vector_norm: Expected a floating point or complex tensor as input. Got Long")
    both_raise(lambda: cr.linalg.vector_norm(cr.ones(2), "fro"), lambda: torch.linalg.vector_norm(torch.ones(2), "fro"),
               TypeError, "argument 'ord' .*must be Number, not str")


def test_multi_dot_matches_torch():
    arrays = [rand(3), rand(3, 4, seed=1), rand(4, 2, seed=2), rand(2, seed=3)]
    check_op(lambda *a: cr.linalg.multi_dot(list(a)), lambda *a: torch.linalg.multi_dot(list(a)), arrays)
    check_op(lambda *a: cr.linalg.multi_dot(a), lambda *a: torch.linalg.multi_dot(a), arrays[1:3])
    check_op(lambda *a: cr.linalg.matmul(*a), lambda *a: torch.linalg.matmul(*a), arrays[1:3], gradcheck=False)
    r = RuntimeError
    both_raise(lambda: cr.linalg.multi_dot([cr.ones(2, 2)]), lambda: torch.linalg.multi_dot([torch.ones(2, 2)]), r,
               r"multi_dot\(\): expected at least 2 tensors but got 1")
    both_raise(lambda: cr.linalg.multi_dot([cr.ones(2, 2, 2), cr.ones(2, 2)]),
               lambda: torch.linalg.multi_dot([torch.ones(2, 2, 2), torch.ones(2, 2)]), r,
               r"multi_dot\(\): the first tensor must be 1D or 2D but got 3D")
    both_raise(lambda: cr.linalg.multi_dot([cr.ones(2, 2), cr.ones(3, 2)]),
               lambda: torch.linalg.multi_dot([torch.ones(2, 2), torch.ones(3, 2)]), r,
               r"multi_dot\(\): tensors 0 and 1 with shapes \[2, 2\] and \[3, 2\] cannot be multiplied")


def test_linalg_is_a_module_with_torchs_names_and_one_clear_error_for_the_rest():
    import chainrule.linalg as linalg
    assert cr.linalg is linalg
    for name in ("norm", "vector_norm", "matrix_norm", "inv", "det", "slogdet", "solve", "matrix_power", "cross",
                 "multi_dot", "matmul", "LinAlgError", "svd", "svdvals", "eigh", "eigvalsh", "cholesky", "qr",
                 "pinv", "lstsq", "matrix_rank", "cond"):
        assert hasattr(torch.linalg, name) and hasattr(cr.linalg, name), name
    assert not hasattr(cr.linalg, "eig")
    with pytest.raises(AttributeError, match=r"module 'chainrule.linalg' has no attribute 'lu'\..*torch.linalg.lu.*"
                                             r"docs/pytorch.md"):
        cr.linalg.lu
    with pytest.raises(AttributeError, match="Did you mean chainrule.linalg.solve"):
        cr.linalg.solv


def test_det_gradient_in_a_batch_with_a_singular_matrix_is_torchs():
    batch = np.stack([well_conditioned(3, 3), np.diag([1.0, 1.0, 0.0]), np.zeros((3, 3))])
    check_op(cr.linalg.det, torch.linalg.det, [batch], gradcheck=False)


@pytest.mark.parametrize("name, shapes", [("mv", [(3, 2), (2,)]), ("addmm", [(3, 4), (3, 2), (2, 4)]),
                                          ("addr", [(3, 4), (3,), (4,)]), ("inner", [(2, 3), (3,)]),
                                          ("tensordot", [(2, 3), (3, 2)]), ("dist", [(3,), (3,)]),
                                          ("logcumsumexp", [(4,)]), ("inverse", [(3, 3)]), ("det", [(3, 3)]),
                                          ("corrcoef", [(2, 4)]), ("cov", [(2, 4)])])
def test_float32_stays_float32_as_torch(name, shapes):
    arrays = [(rand(*s, seed=i) + (3 * np.eye(s[0]) if name in ("inverse", "det") else 0)).astype(np.float32)
              for i, s in enumerate(shapes)]
    extra = {"tensordot": dict(dims=1), "logcumsumexp": dict(dim=0)}.get(name, {})
    c, t = on_both(name, *arrays, **extra)
    assert c.dtype == cr.float32 and t.dtype == torch.float32
    np.testing.assert_allclose(c.numpy(), t.numpy(), rtol=2e-5, atol=1e-6)


def test_integer_products_stay_integers_as_torch():
    a, b = np.array([[1, 2], [3, 4]]), np.array([5, 6])
    for name, arrays in [("mv", [a, b]), ("addmm", [a, a, a]), ("inner", [a, b]), ("ger", [b, b]),
                         ("matrix_power", [a])]:
        c, t = on_both(name, *arrays, **({"n": 3} if name == "matrix_power" else {}))
        same(c, t)


# ----------------------------------------------------------------------------- a compiled step
def test_a_compiled_step_replays_the_new_ops_with_eagers_numbers():
    """Each op is captured whole (fullgraph: no NumPy on the data in the front) and replays on new data."""
    w = cr.tensor(rand(4, 3), requires_grad=True)
    shift, edges = 3 * cr.eye(3, dtype=cr.float64), cr.tensor([0.0, 1.0])
    cases = [lambda x: cr.cdist(x, w).sum() + cr.pdist(w, p=1).sum(),
             lambda x: cr.addmm(x @ w.T, x, w.T, beta=0.5).sum() + cr.tensordot(x, w, dims=([1], [1])).sum(),
             lambda x: cr.linalg.cross(x[:3], w[:3]).sum() + cr.linalg.solve(w[:3] + shift, x[:3].T).sum(),
             lambda x: cr.linalg.det(w[:3] + shift) + cr.linalg.inv(w[:3] + shift).sum() + x.sum(),
             lambda x: cr.logcumsumexp(x @ w.T, 1).sum() + cr.cummax(x @ w.T, 1).values.sum(),
             lambda x: cr.kthvalue(x @ w.T, 2).values.sum() + cr.mode(x @ w.T, 0).values.sum(),
             lambda x: sum(cr.aminmax(x @ w.T, dim=1)).sum() + sum(cr.var_mean(x @ w.T, 1)).sum(),
             lambda x: cr.corrcoef(x @ w.T).sum() + cr.linalg.matrix_norm(x @ w.T, 1),
             lambda x: ((x @ w.T) * cr.bucketize(x @ w.T, edges) * cr.isin(x @ w.T, x[0])).sum()]
    rng = np.random.default_rng(7)
    for fn in cases:
        @cr.compile(fullgraph=True)
        def step(x):
            w.grad = None
            loss = fn(x)
            loss.backward()
            return loss
        for _ in range(3):
            x = cr.tensor(rng.standard_normal((5, 3)))
            got, grad = step(x).item(), w.grad.numpy().copy()
            w.grad = None
            want = fn(x)
            want.backward()
            np.testing.assert_allclose(got, want.item(), rtol=1e-12)
            np.testing.assert_allclose(grad, w.grad.numpy(), rtol=1e-12, atol=1e-14)
