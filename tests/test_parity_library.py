"""PyTorch parity of the library: the indexing and math ops (gradcheck in float64 and torch's values,
gradients, shapes and dtypes), nn containers and Module methods, the functional losses and
activations against torch with the same weights, and save/load round trips and refusals."""
import io
import math
import warnings
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from oracle import check_op

SHAPES = [(5,), (3, 4), (1, 4), (2, 3, 4)]


def rng_for(*key):
    """A generator seeded from the test's key (the same data in every run and process)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def same(cr_t, t, exact=True):
    """chainrule tensor == torch tensor: shape, dtype and values."""
    assert cr_t.shape == tuple(t.shape)
    assert str(cr_t.data.dtype) == str(t.dtype).replace("torch.", "")
    if exact:
        np.testing.assert_array_equal(cr_t.data, t.numpy())
    else:
        np.testing.assert_allclose(cr_t.data, t.detach().numpy(), rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- argmax, sort, topk
@pytest.mark.parametrize("shape", [()] + SHAPES, ids=str)
@pytest.mark.parametrize("fn", ["argmax", "argmin"])
def test_argmax_argmin_with_ties(fn, shape):
    rng = rng_for(fn, shape)
    x = rng.integers(0, 3, shape).astype(np.float32)  # many ties: the first position wins, as torch
    tx = torch.tensor(x)
    same(getattr(cr, fn)(cr.tensor(x)), getattr(torch, fn)(tx))
    for d in range(-len(shape), len(shape)):
        for keep in (False, True):
            same(getattr(cr.tensor(x), fn)(dim=d, keepdim=keep), getattr(tx, fn)(dim=d, keepdim=keep))
    same(getattr(cr, fn)(cr.tensor(x), keepdim=True), getattr(torch, fn)(tx, keepdim=True))


def test_argmax_nan_and_errors():
    x = np.array([1.0, np.nan, 3.0], np.float32)
    assert cr.argmax(cr.tensor(x)).item() == torch.argmax(torch.tensor(x)).item() == 1
    with pytest.raises(IndexError, match="argmax: dim 2 is out of range"):
        cr.argmax(cr.zeros(2, 3), dim=2)
    with pytest.raises(ValueError, match="argmax: cannot reduce an empty tensor"):
        cr.argmax(cr.zeros(0))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_values_grads_and_stable_ties(shape, descending):
    rng = rng_for("sort", shape, descending)
    x = rng.standard_normal(shape)
    for d in range(len(shape)):
        check_op(lambda t: cr.sort(t, dim=d, descending=descending).values,
                 lambda t: torch.sort(t, dim=d, descending=descending).values, [x])
    ties = rng.integers(0, 3, shape).astype(np.float64)  # indices of ties: torch's stable order
    v, i = cr.tensor(ties).sort(dim=-1, descending=descending)
    tv, ti = torch.sort(torch.tensor(ties), dim=-1, descending=descending, stable=True)
    same(v, tv)
    same(i, ti)
    check_op(lambda t: cr.sort(t, descending=descending)[0],
             lambda t: torch.sort(t, descending=descending, stable=True)[0], [ties], gradcheck=False)


def test_sort_nan_is_largest_and_result_is_named():
    x = np.array([2.0, np.nan, -1.0, 5.0])
    for desc in (False, True):
        r, tr = cr.sort(cr.tensor(x), descending=desc), torch.sort(torch.tensor(x), descending=desc)
        np.testing.assert_array_equal(r.values.data, tr.values.numpy())
        np.testing.assert_array_equal(r.indices.data, tr.indices.numpy())
    assert repr(r).startswith("sort(values=tensor(")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_median_values_indices_and_gradients(shape):
    rng = rng_for("median", shape)
    x = rng.standard_normal(shape)
    check_op(lambda t: cr.median(t), lambda t: torch.median(t), [x])   # all elements: a 0-d tensor
    for d in range(len(shape)):
        for keepdim in (False, True):
            check_op(lambda t: cr.median(t, dim=d, keepdim=keepdim).values,
                     lambda t: torch.median(t, dim=d, keepdim=keepdim).values, [x])
            r, tr = cr.tensor(x).median(d, keepdim), torch.tensor(x).median(d, keepdim)
            same(r.indices, tr.indices)
    assert repr(cr.tensor(x).median(0)).startswith("median(values=tensor(")


def test_dot_and_its_errors():
    rng = rng_for("dot")
    a, b = rng.standard_normal(5), rng.standard_normal(5)
    check_op(lambda x, y: cr.dot(x, y), lambda x, y: torch.dot(x, y), [a, b])
    check_op(lambda x, y: x.dot(y), lambda x, y: x.dot(y), [a, b], gradcheck=False)
    for lib in (torch, cr):   # the same refusals, in PyTorch's words
        with pytest.raises(RuntimeError, match="1D tensors expected, but got 2D and 1D tensors"):
            lib.dot(lib.ones(2, 2), lib.ones(2))
        with pytest.raises(RuntimeError, match=r"inconsistent tensor size, expected tensor \[3\] and src \[2\]"):
            lib.dot(lib.ones(3), lib.ones(2))
        with pytest.raises(RuntimeError, match="dot : expected both vectors to have same dtype"):
            lib.dot(lib.ones(3), lib.ones(3, dtype=lib.float64))


def test_median_nan_ties_and_edges():
    x = np.array([[3.0, 1.0, np.nan, 2.0, np.nan], [4.0, 1.0, 1.0, 2.0, 9.0]])
    r, tr = cr.tensor(x).median(dim=1), torch.tensor(x).median(dim=1)   # a NaN row: NaN, its first NaN
    np.testing.assert_array_equal(r.values.numpy(), tr.values.numpy())
    same(r.indices, tr.indices)
    for v in ([2.0, 1.0, 2.0, 3.0], [2.0, np.nan, 1.0]):   # the gradient shared by the ties (or the NaNs)
        t, tt = cr.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
        t.median().backward()
        tt.median().backward()
        np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())
    same(cr.tensor([3, 1, 2]).median(), torch.tensor([3, 1, 2]).median())
    assert np.isnan(cr.tensor([]).median().item()) and np.isnan(torch.tensor([]).median().item())
    r, tr = cr.tensor(5.0).median(dim=0), torch.tensor(5.0).median(dim=0)
    same(r.values, tr.values)
    same(r.indices, tr.indices)
    with pytest.raises(IndexError, match="non-zero size"):
        cr.zeros(2, 0).median(dim=1)


def test_nanmedian_skips_the_nans():
    x = np.array([[3.0, 1.0, np.nan, 2.0, np.nan], [np.nan] * 5, [4.0, 1.0, 1.0, 2.0, 9.0]])
    for keepdim in (False, True):
        r, tr = cr.tensor(x).nanmedian(1, keepdim), torch.tensor(x).nanmedian(1, keepdim)
        np.testing.assert_array_equal(r.values.numpy(), tr.values.numpy())   # an all-NaN row: NaN
        same(r.indices, tr.indices)
    for v in ([2.0, np.nan, 1.0, 2.0, 3.0], [np.nan, np.nan], [1.0, 5.0, 3.0]):
        t, tt = cr.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
        m, tm = cr.nanmedian(t), torch.nanmedian(tt)
        np.testing.assert_array_equal(m.detach().numpy(), tm.detach().numpy())
        m.backward()
        tm.backward()
        np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())
    rng = rng_for("nanmedian")
    y = rng.standard_normal((3, 6))
    y[0, 2] = y[1, 0] = np.nan
    check_op(lambda t: cr.nanmedian(t, dim=1).values, lambda t: torch.nanmedian(t, dim=1).values, [y],
             gradcheck=False)   # (finite differences through a NaN are NaN)
    z = rng.standard_normal((4, 5))
    check_op(lambda t: cr.nanmedian(t, dim=0).values, lambda t: torch.nanmedian(t, dim=0).values, [z])
    check_op(lambda t: cr.nanmedian(t), lambda t: torch.nanmedian(t), [z])


QUANTILE_MODES = ["linear", "lower", "higher", "midpoint", "nearest"]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("interpolation", QUANTILE_MODES)
def test_quantile_values_and_gradients(shape, interpolation):
    rng = rng_for("quantile", shape, interpolation)
    x = rng.standard_normal(shape)
    qs = [0.3, 0.5, 1.0, 0.0]
    for q in qs:   # a float q, every dim and keepdim, and all the elements
        for dim in [None] + list(range(len(shape))):
            for keepdim in (False, True):
                check_op(lambda t: cr.quantile(t, q, dim, keepdim, interpolation=interpolation),
                         lambda t: torch.quantile(t, q, dim, keepdim, interpolation=interpolation), [x],
                         gradcheck=dim is None and not keepdim)
    qv = np.array([0.1, 0.5, 0.75, 0.9])   # a 1-D q: its axis first
    check_op(lambda t: cr.quantile(t, cr.tensor(qv), dim=-1, interpolation=interpolation),
             lambda t: torch.quantile(t, torch.tensor(qv), dim=-1, interpolation=interpolation), [x])
    check_op(lambda t: t.quantile(cr.tensor(qv), keepdim=True, interpolation=interpolation),
             lambda t: t.quantile(torch.tensor(qv), keepdim=True, interpolation=interpolation), [x])


def test_quantile_float32_ranks_ties_and_nans():
    # the ranks are computed in the input's dtype, as PyTorch's (q * (n - 1) in float32 can land off
    # an integer), and "nearest" rounds half to even
    for n, qs in ((26, (0.28, 0.56, 0.6)), (46, (0.6, 0.7)), (4, (0.03, 0.15)), (6, (0.5,))):
        x32 = np.arange(n, dtype=np.float32)[::-1].copy()   # e.g. 0.28 * 25 = 7.0000005 in float32
        for interpolation in QUANTILE_MODES:
            for q in qs:
                same(cr.quantile(cr.tensor(x32), q, interpolation=interpolation),
                     torch.quantile(torch.tensor(x32), q, interpolation=interpolation))
    x = np.array([[3.0, 1.0, np.nan, 2.0, np.nan], [np.nan] * 5, [4.0, 1.0, 1.0, 2.0, 9.0]])
    q = np.array([0.0, 0.4, 1.0])
    for interpolation in QUANTILE_MODES:   # quantile: NaN where a row holds one; nanquantile skips them
        for fn in ("quantile", "nanquantile"):
            for dim in (None, 1):
                r = getattr(cr, fn)(cr.tensor(x), cr.tensor(q), dim, interpolation=interpolation)
                tr = getattr(torch, fn)(torch.tensor(x), torch.tensor(q), dim, interpolation=interpolation)
                np.testing.assert_array_equal(r.numpy(), tr.numpy())
    for v in ([2.0, 1.0, 2.0, 3.0], [2.0, np.nan, 1.0, 5.0]):   # ties and a NaN: torch's gradient
        for interpolation in QUANTILE_MODES:
            t, tt = cr.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
            cr.nanquantile(t, 0.4, interpolation=interpolation).backward()
            torch.nanquantile(tt, 0.4, interpolation=interpolation).backward()
            np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())
    y = rng_for("nanquantile").standard_normal((4, 6))
    y[0, 2] = y[3, 0] = y[3, 5] = np.nan
    check_op(lambda t: cr.nanquantile(t, 0.6, dim=1), lambda t: torch.nanquantile(t, 0.6, dim=1), [y],
             gradcheck=False)   # (finite differences through a NaN are NaN)
    same(cr.quantile(cr.tensor(2.5), 0.3, dim=0), torch.quantile(torch.tensor(2.5), 0.3, dim=0))


def test_quantile_refusals_in_pytorchs_words():
    for lib in (torch, cr):
        x = lib.ones(3, 4)
        for call, match in [
                (lambda: lib.quantile(x, 1.5), r"q must be in the range \[0, 1\] but got 1.5"),
                (lambda: lib.quantile(x, lib.tensor([0.5, 1.2])), r"q values must be in the range \[0, 1\]"),
                (lambda: lib.quantile(x, lib.tensor([[0.5]])), "q must be a scalar or 1D tensor"),
                (lambda: lib.quantile(x, lib.tensor([0.5], dtype=lib.float64)),
                 "q tensor must be same dtype as the input"),
                (lambda: lib.quantile(lib.ones(3, dtype=lib.int64), 0.5),
                 "input tensor must be either float or double"),
                (lambda: lib.quantile(lib.ones(0), 0.5), "input tensor must be non-empty"),
                (lambda: lib.quantile(x, 0.5, interpolation="foo"),
                 "interpolation must be one of linear, lower, higher, midpoint or nearest, but got foo")]:
            with pytest.raises(RuntimeError, match=match):
                call()
        with pytest.raises(IndexError, match="Dimension out of range"):
            lib.quantile(x, 0.5, dim=2)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("largest", [True, False])
def test_topk(shape, largest):
    rng = rng_for("topk", shape, largest)
    x = rng.standard_normal(shape)
    k = min(2, shape[-1])
    check_op(lambda t: cr.topk(t, k, largest=largest).values,
             lambda t: torch.topk(t, k, largest=largest).values, [x])
    k0 = min(2, shape[0])
    r, tr = cr.tensor(x).topk(k0, dim=0, largest=largest), torch.topk(torch.tensor(x), k0, dim=0, largest=largest)
    same(r.values, tr.values)
    same(r.indices, tr.indices)
    # with ties the values agree and the indices point at them
    ties = rng.integers(0, 2, shape).astype(np.float64)
    r, tr = cr.topk(cr.tensor(ties), k, largest=largest), torch.topk(torch.tensor(ties), k, largest=largest)
    same(r.values, tr.values)
    np.testing.assert_array_equal(np.take_along_axis(ties, r.indices.data, -1), r.values.data)
    with pytest.raises(ValueError, match=r"topk: k \(9\) must be an int in \[0, "):
        cr.topk(cr.tensor(x), 9)


# ----------------------------------------------------------------------------- gather, scatter, select
def test_an_index_out_of_range_is_a_runtime_error_as_in_pytorch():
    # gather, scatter_add and index_select raise RuntimeError in PyTorch; chainrule's error is that
    # and an IndexError (what it raised before)
    x = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    for call in (lambda L: L.gather(L.tensor(x), 1, L.tensor([[0], [5]])),
                 lambda L: L.gather(L.tensor(x), 1, L.tensor([[0], [-1]])),
                 lambda L: L.scatter_add(L.tensor(x), 1, L.tensor([[0], [5]]), L.ones(2, 1)),
                 lambda L: L.index_select(L.tensor(x), 1, L.tensor([5]))):
        for lib in (torch, cr):
            with pytest.raises(RuntimeError, match="5|-1"):
                call(lib)
        with pytest.raises(IndexError, match="out of bounds"):
            call(cr)


def test_gather_and_its_gradient_adds_at_repeats():
    rng = rng_for("gather")
    x = rng.standard_normal((3, 4))
    for dim, idx in [(0, rng.integers(0, 3, (2, 4))), (1, rng.integers(0, 4, (3, 6))),
                     (1, np.array([[0, 0, 0], [1, 1, 3]])), (-1, rng.integers(0, 4, (3, 2)))]:
        check_op(lambda t: cr.gather(t, dim, cr.tensor(idx)),
                 lambda t: torch.gather(t, dim, torch.tensor(idx)), [x])
        check_op(lambda t: t.gather(dim, cr.tensor(idx)),
                 lambda t: t.gather(dim, torch.tensor(idx)), [x], gradcheck=False)
    with pytest.raises(IndexError, match="gather: index 4 is out of bounds for dim 1 of size 4"):
        cr.gather(cr.tensor(x), 1, cr.tensor([[4]]))
    for lib, t, i in ((torch, torch.tensor(x), torch.tensor([[-1]])), (cr, cr.tensor(x), cr.tensor([[-1]]))):
        with pytest.raises((RuntimeError, IndexError), match="index -1 is out of bounds"):  # never wrapped
            lib.gather(t, 1, i)
        with pytest.raises((RuntimeError, IndexError), match="index -1 is out of bounds"):
            lib.zeros(3, 4, dtype=t.dtype).scatter_add(1, i, lib.ones(1, 1, dtype=t.dtype))
        with pytest.raises(IndexError, match="index -1 is out of bounds|index out of range"):
            lib.index_select(t, 0, i.reshape(-1))
    with pytest.raises(TypeError, match="gather: index must be an integer tensor"):
        cr.gather(cr.tensor(x), 1, cr.tensor([[1.0]]))


def test_scatter_add():
    rng = rng_for("scatter_add")
    x, src = rng.standard_normal((3, 5)), rng.standard_normal((2, 5))
    idx = np.array([[0, 1, 2, 0, 0], [2, 0, 0, 1, 0]])
    check_op(lambda a, s: cr.scatter_add(a, 0, cr.tensor(idx), s),
             lambda a, s: torch.scatter_add(a, 0, torch.tensor(idx), s), [x, src])
    idx1 = np.array([[4, 4, 0, 1, 0], [0, 1, 0, 0, 3]])
    check_op(lambda a, s: a.scatter_add(1, cr.tensor(idx1), s),
             lambda a, s: a.scatter_add(1, torch.tensor(idx1), s), [x, src])
    # an index smaller than src (torch's forward allows it): the rest of src gets no gradient
    a, s = cr.tensor(x, requires_grad=True), cr.tensor(src, requires_grad=True)
    assert cr.gradcheck(lambda a, s: cr.scatter_add(a, 1, cr.tensor([[4, 4], [0, 1]]), s), a, s)
    same(cr.scatter_add(cr.tensor(x), 1, cr.tensor([[4, 4], [0, 1]]), cr.tensor(src)),
         torch.scatter_add(torch.tensor(x), 1, torch.tensor([[4, 4], [0, 1]]), torch.tensor(src)), exact=False)


def test_index_select_and_masked_fill():
    rng = rng_for("index_select")
    x = rng.standard_normal((3, 4))
    for dim, idx in [(0, [2, 0, 2]), (1, [3]), (-1, [1, 1, 0])]:
        check_op(lambda t: cr.index_select(t, dim, cr.tensor(idx)),
                 lambda t: torch.index_select(t, dim, torch.tensor(idx)), [x])
    for mask in [x > 0.3, (x > 0)[:1], np.array(True)]:
        check_op(lambda t: t.masked_fill(cr.tensor(mask), -1.5),
                 lambda t: t.masked_fill(torch.tensor(mask), -1.5), [x])
    check_op(lambda t: cr.masked_fill(t, cr.tensor(x > 0), float("-inf")).softmax(-1),
             lambda t: t.masked_fill(torch.tensor(x > 0), float("-inf")).softmax(-1), [x], gradcheck=False)
    full = np.zeros((3, 4), bool)
    full[1] = True  # a whole row masked: softmax gives NaN there, and the masked gradient is still 0
    with np.errstate(divide="ignore", invalid="ignore"):  # softmax of an all -inf row is NaN
        check_op(lambda t: cr.masked_fill(t, cr.tensor(full), float("-inf")).softmax(-1),
                 lambda t: t.masked_fill(torch.tensor(full), float("-inf")).softmax(-1), [x], gradcheck=False)
    with pytest.raises(TypeError, match="masked_fill: mask must be a bool tensor"):
        cr.masked_fill(cr.tensor(x), cr.tensor([1, 0, 1, 0]), 0.0)
    with pytest.raises(ValueError, match=r"masked_fill: mask of shape \(2,\) does not broadcast"):
        cr.masked_fill(cr.tensor(x), cr.tensor([True, False]), 0.0)


# ----------------------------------------------------------------------------- repeat, tile, flip, clone
@pytest.mark.parametrize("shape,reps", [((3,), (2,)), ((3,), (2, 2)), ((2, 3), (1, 3)), ((2, 3), (2, 1, 2)),
                                        ((), (3,))], ids=str)
def test_repeat_and_tile(shape, reps):
    x = rng_for("repeat", shape).standard_normal(shape)
    check_op(lambda t: t.repeat(*reps), lambda t: t.repeat(*reps), [x])
    check_op(lambda t: cr.tile(t, reps[-1:]), lambda t: torch.tile(t, reps[-1:]), [x])
    check_op(lambda t: t.tile(reps), lambda t: t.tile(reps), [x], gradcheck=False)


def test_flip_clone():
    x = rng_for("flip").standard_normal((2, 3, 4))
    for dims in [0, (1,), [0, 2], (-1, 1)]:
        check_op(lambda t: cr.flip(t, dims), lambda t: torch.flip(t, dims if not isinstance(dims, int) else (dims,)),
                 [x])
    check_op(lambda t: t.flip(0, 1), lambda t: t.flip(0, 1), [x], gradcheck=False)
    check_op(lambda t: cr.clone(t) * t.clone(), lambda t: torch.clone(t) * t.clone(), [x])
    a = cr.tensor([1.0, 2.0])
    b = a.clone()
    b.data[0] = 5.0
    assert a.tolist() == [1.0, 2.0]


# ----------------------------------------------------------------------------- misc math
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cumsum_log1p_expm1(shape):
    rng = rng_for("misc", shape)
    x = rng.standard_normal(shape)
    for d in range(-1, len(shape)):
        check_op(lambda t: cr.cumsum(t, dim=d), lambda t: torch.cumsum(t, dim=d), [x])
    check_op(cr.log1p, torch.log1p, [np.abs(x) * 3 - 0.9])
    check_op(lambda t: t.expm1(), lambda t: t.expm1(), [x])
    same(cr.cumsum(cr.tensor([True, False, True]), 0), torch.cumsum(torch.tensor([True, False, True]), 0))


def test_log1p_expm1_exact_near_zero():
    tiny = np.array([1e-10, -1e-12], np.float32)
    same(cr.log1p(cr.tensor(tiny)), torch.log1p(torch.tensor(tiny)), exact=False)
    same(cr.expm1(cr.tensor(tiny)), torch.expm1(torch.tensor(tiny)), exact=False)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_erf_erfc(shape):
    x = rng_for("erf", shape).standard_normal(shape) * 2.5
    check_op(cr.erf, torch.erf, [x])
    check_op(lambda t: t.erfc(), lambda t: t.erfc(), [x])


def test_erf_erfc_over_the_whole_line_and_in_float32():
    """Every range of the fits (|x| < 2, 2 <= |x| < 6, beyond; erfc's own from 0.5), the tails of erfc, inf
    and NaN; erf to within 3e-15 of torch in float64 and float32 rounding in float32, erfc relatively to
    1.5e-14 and 1e-6 (it was 1e-5 off in float32 from 1 to 2, taken as 1 - erf, and 2e-6 near 6)."""
    x = np.concatenate([np.linspace(-9, 9, 3601), [0.0, -0.0, 1e-300, 1.999999, 2.0, 5.9999, 6.0, 27.0, np.inf,
                                                   -np.inf, np.nan]])
    for dt, rtol, erfc_rtol in ((np.float64, 3e-15, 1.5e-14), (np.float32, 2e-7, 1e-6)):
        xs = x.astype(dt)
        for name in ("erf", "erfc"):
            got = getattr(cr, name)(cr.tensor(xs)).numpy()
            want = getattr(torch, name)(torch.tensor(xs)).numpy()
            assert got.dtype == dt
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            tail = want > 0 if name == "erfc" else np.ones_like(want, bool)
            ok = ~np.isnan(want) & tail & (np.abs(xs) < 6 if name == "erfc" else True)
            np.testing.assert_allclose(got[ok], want[ok], rtol=erfc_rtol if name == "erfc" else rtol,
                                       atol=1e-300, err_msg=f"{name} {dt.__name__}")
            np.testing.assert_allclose(got, want, atol=2e-16 if dt == np.float64 else 2e-7, err_msg=name)


@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((1, 4), (3, 1)), ((), (5,))], ids=str)
def test_logaddexp_xlogy(sa, sb):
    rng = rng_for("binary", sa, sb)
    a, b = rng.standard_normal(sa) * 30, rng.standard_normal(sb) * 30  # large: no overflow
    check_op(cr.logaddexp, torch.logaddexp, [a, b])
    x, y = rng.standard_normal(sa), np.abs(rng.standard_normal(sb)) + 0.1
    check_op(cr.xlogy, torch.xlogy, [x, y])
    check_op(lambda p, q: p.xlogy(q), lambda p, q: p.xlogy(q), [np.where(x > 0, x, 0), y], gradcheck=False)


def test_xlogy_at_zero_matches_torch():
    x, y = np.array([0.0, 0.0, 0.0, 2.0]), np.array([0.0, 3.0, np.nan, 0.5])
    check_op(cr.xlogy, torch.xlogy, [x, y], gradcheck=False)


NORMS = ["fro", 2, 1, 3, 0.5, math.inf, -math.inf, 0]


@pytest.mark.parametrize("p", NORMS, ids=str)
def test_norm_values_and_grads(p):
    rng = rng_for("norm", str(p))
    x = rng.standard_normal((3, 4)) + 0.1
    for dim, keep in [(None, False), (1, False), (0, True), ((0, 1), False), (-1, True)]:
        if p == "fro" and isinstance(dim, int):
            continue
        check_op(lambda t: cr.norm(t, p=p, dim=dim, keepdim=keep),
                 lambda t: torch.norm(t, p=p, dim=dim, keepdim=keep), [x], gradcheck=p != 0)
    check_op(lambda t: t.norm(p) if p != "fro" else t.norm(), lambda t: t.norm(p), [x[0]], gradcheck=p != 0)


@pytest.mark.parametrize("p", [2, 1, 3, 0.5, math.inf], ids=str)
def test_norm_grad_is_zero_at_zero(p):
    x = np.zeros((2, 3))
    x[1] = [0.0, 2.0, -1.0]  # one zero row (norm 0) and zeros inside a non-zero row
    check_op(lambda t: cr.norm(t, p, dim=1), lambda t: torch.norm(t, p, dim=1), [x], gradcheck=False)
    t = cr.tensor(np.zeros(3), requires_grad=True)
    cr.norm(t, p).backward()
    assert np.all(np.isfinite(t.grad.data))


def test_norm_inf_ties_split_evenly():
    x = np.array([[3.0, -3.0, 1.0]])
    check_op(lambda t: cr.norm(t, math.inf), lambda t: torch.norm(t, math.inf), [x], gradcheck=False)


def test_all_any():
    x = np.array([[1, 0, 2], [3, 4, 5]])
    tx = torch.tensor(x)
    for fn in ("all", "any"):
        same(getattr(cr, fn)(cr.tensor(x)), getattr(torch, fn)(tx))
        same(getattr(cr.tensor(x), fn)(dim=1), getattr(tx, fn)(dim=1))
        same(getattr(cr.tensor(x > 2), fn)(0, keepdim=True), getattr(tx > 2, fn)(0, keepdim=True))
    assert bool(cr.all(cr.tensor(x) >= 0))


def test_outer():
    rng = rng_for("outer")
    check_op(cr.outer, torch.outer, [rng.standard_normal(3), rng.standard_normal(4)])
    with pytest.raises(ValueError, match=r"outer: expects two 1-D tensors, got shapes \(2, 2\) and \(3,\)"):
        cr.outer(cr.zeros(2, 2), cr.zeros(3))


EINSUMS = [("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
           ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]), ("i,j->ij", [(3,), (4,)]),
           ("ij->ji", [(3, 4)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("ij->i", [(3, 4)]),
           ("nd,od->no", [(5, 3), (4, 3)]), ("i,i->", [(4,), (4,)]), ("ij,kj", [(2, 3), (4, 3)]),
           ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 2)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
           ("bi,j->bij", [(2, 3), (4,)]), ("iij->j", [(2, 2, 3)])]


@pytest.mark.parametrize("eq,shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum(eq, shapes):
    rng = rng_for("einsum", eq)
    arrays = [rng.standard_normal(s) for s in shapes]
    check_op(lambda *ts: cr.einsum(eq, *ts), lambda *ts: torch.einsum(eq, *ts), arrays)


def test_einsum_list_operands_and_errors():
    a, b = cr.ones(2, 3), cr.ones(3, 4)
    assert cr.einsum("ij,jk", [a, b]).shape == (2, 4)
    with pytest.raises(ValueError, match="einsum: subscript 'j' of 'ij,jk' has different sizes"):
        cr.einsum("ij,jk", a, cr.ones(2, 4))
    with pytest.raises(ValueError, match="einsum: operand with subscripts 'ij' needs 2 dimensions"):
        cr.einsum("ij->i", cr.ones(3))


# ----------------------------------------------------------------------------- nn: containers and Module
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 3), "b": nn.Linear(4, 2)})
        self.act = nn.ReLU()
        self.register_buffer("scale", cr.tensor([2.0]))
        self.register_buffer("cache", cr.zeros(3), persistent=False)

    def forward(self, x):
        for b in self.blocks:
            x = self.act(b(x))
        return self.heads["a"](x) * self.scale, self.heads["b"](x)


class TorchNet(torch.nn.Module):
    def __init__(self, torch_nn):
        super().__init__()
        self.blocks = torch_nn.ModuleList([torch_nn.Linear(4, 4) for _ in range(2)])
        self.heads = torch_nn.ModuleDict({"a": torch_nn.Linear(4, 3), "b": torch_nn.Linear(4, 2)})
        self.act = torch_nn.ReLU()
        self.register_buffer("scale", torch.tensor([2.0]))
        self.register_buffer("cache", torch.zeros(3), persistent=False)

    forward = Net.forward


def twins():
    cr.manual_seed(0)
    m = Net()
    t = TorchNet(torch.nn)
    t.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in m.state_dict().items()})
    return m, t


def test_containers_names_state_dict_and_forward_match_torch():
    m, t = twins()
    assert list(m.state_dict()) == list(t.state_dict())  # persistent buffer in, non-persistent out
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in m.named_children()] == [n for n, _ in t.named_children()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert len(list(m.buffers())) == len(list(t.buffers())) == 2
    assert len(list(m.modules())) == len(list(t.modules()))
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    for a, b in zip(m(cr.tensor(x)), t(torch.tensor(x))):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert repr(m) == repr(t).replace("TorchNet", "Net")


def test_module_list_and_dict_operations():
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh(), nn.Linear(2, 1)])
    ml.insert(1, nn.Sigmoid())
    ml += [nn.Identity()]
    assert [type(m).__name__ for m in ml] == ["Linear", "Sigmoid", "ReLU", "Tanh", "Linear", "Identity"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2 and ml[-1] is ml[5]
    del ml[0]
    assert [n for n, _ in ml.named_parameters()] == ["3.weight", "3.bias"]
    with pytest.raises(TypeError, match="ModuleList.append: int is not a Module"):
        ml.append(3)
    with pytest.raises(IndexError, match="ModuleList index 9 is out of range"):
        ml[9]
    md = nn.ModuleDict()
    md["x"] = nn.Linear(1, 1)
    md.update([("y", nn.ReLU())])
    assert list(md) == ["x", "y"] and "x" in md and len(md) == 2
    assert [k for k, _ in md.items()] == ["x", "y"]
    md.pop("y")
    with pytest.raises(KeyError, match="ModuleDict has no module 'z'"):
        md["z"]


def test_module_list_repr_matches_torch():
    cr.manual_seed(0)
    for build in (lambda M: M.ModuleList([M.Linear(2, 2), M.Linear(2, 2), M.ReLU(), M.Linear(2, 3)]),
                  lambda M: M.Sequential(M.Linear(3, 4), M.ReLU(), M.Dropout(0.2), M.Linear(4, 2),
                                         M.Softmax(dim=1)),
                  lambda M: M.Sequential(M.Flatten(), M.Linear(8, 8), M.Tanh(), M.LogSoftmax(dim=-1))):
        assert repr(build(nn)) == repr(build(torch.nn)), repr(build(nn))


def test_apply_requires_grad_zero_grad_to():
    m, _ = twins()
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Net" and seen[0] == "Linear"

    def init(mod):
        if isinstance(mod, nn.Linear):
            mod.bias.data[...] = 0.25
    m.apply(init)
    assert all(np.all(p.data == 0.25) for n, p in m.named_parameters() if n.endswith("bias"))

    out = m(cr.ones(2, 4))[0].sum()
    out.backward()
    had = [p.grad is not None for p in m.parameters()]
    assert had == [True] * 6 + [False] * 2  # head "b" took no part
    m.zero_grad(set_to_none=False)  # as torch: existing gradients become zeros, the others stay None
    assert [p.grad is not None and not p.grad.data.any() for p in m.parameters()] == had
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())

    m.blocks.requires_grad_(False)
    assert [p.requires_grad for p in m.parameters()] == [False] * 4 + [True] * 4
    m.heads["a"](cr.ones(1, 4)).sum().backward()
    assert m.blocks[0].weight.grad is None

    assert m.to(cr.float64) is m and m.scale.dtype == np.float64
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m.float().heads["b"].weight.dtype == np.float32 and m.cpu() is m
    assert m.to("cpu", dtype=cr.float64).scale.dtype == np.float64
    assert m.to(torch_like_device()).double() is m
    with pytest.raises(RuntimeError, match="chainrule runs on the CPU only"):
        m.to("cuda")
    with pytest.raises(RuntimeError, match="chainrule runs on the CPU only"):
        m.cuda()
    with pytest.raises(TypeError, match="only accepts floating point dtypes"):
        m.to(cr.int64)


def torch_like_device():
    class Device:  # what chainrule.device("cpu") or torch.device("cpu") looks like to Module.to
        type = "cpu"
    return Device()


def test_register_buffer_state_dict_round_trip_and_errors():
    m, t = twins()
    m.scale = cr.tensor([3.0])
    sd = m.state_dict()
    assert "scale" in sd and "cache" not in sd
    m2, _ = twins()
    m2.load_state_dict(sd)
    assert m2.scale.tolist() == [3.0]
    t.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in sd.items()})
    with pytest.raises(KeyError, match="attribute 'blocks' already exists"):
        m.register_buffer("blocks", cr.zeros(1))


# ----------------------------------------------------------------------------- functional and losses
ACTS = [("relu6", lambda t: F.relu6(t), lambda t: TF.relu6(t), nn.ReLU6, torch.nn.ReLU6, {}),
        ("hardtanh", lambda t: F.hardtanh(t, -0.5, 2.0), lambda t: TF.hardtanh(t, -0.5, 2.0),
         nn.Hardtanh, torch.nn.Hardtanh, {"min_val": -0.5, "max_val": 2.0}),
        ("logsigmoid", F.logsigmoid, TF.logsigmoid, nn.LogSigmoid, torch.nn.LogSigmoid, {}),
        ("softmax", lambda t: F.softmax(t, dim=0), lambda t: TF.softmax(t, dim=0), nn.Softmax, torch.nn.Softmax,
         {"dim": 0}),
        ("log_softmax", lambda t: F.log_softmax(t, dim=-1), lambda t: TF.log_softmax(t, dim=-1), nn.LogSoftmax,
         torch.nn.LogSoftmax, {"dim": -1})]


@pytest.mark.parametrize("name,f,tf,M,TM,kw", ACTS, ids=[a[0] for a in ACTS])
def test_activations_and_modules(name, f, tf, M, TM, kw):
    rng = rng_for("act", name)
    x = rng.standard_normal((3, 4)) * 4
    x = np.where(np.abs(np.abs(x - 0.75) - 1.25) < 0.05, 3.0, x)  # away from hardtanh's kinks
    x = np.where(np.abs(x) < 0.05, 0.5, np.where(np.abs(x - 6) < 0.05, 5.0, x))
    check_op(f, tf, [x])
    check_op(lambda t: M(**kw)(t), lambda t: TM(**kw)(t), [x], gradcheck=False)
    assert repr(M(**kw)) == repr(TM(**kw))
    big = np.array([-200.0, 200.0, 0.0, 6.0, -1.0])  # kinks and extremes: torch's values and gradients
    check_op(f, tf, [big], gradcheck=False)


def test_softmax_implicit_dim_follows_torch():
    import warnings
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 2, 2, 2)]:
        x = rng_for("implicit", shape).standard_normal(shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_op(lambda t: nn.Softmax()(t), lambda t: torch.nn.Softmax()(t), [x], gradcheck=False)


def test_one_hot():
    y = np.array([[0, 3], [2, 2]])
    same(F.one_hot(cr.tensor(y)), TF.one_hot(torch.tensor(y)))
    same(F.one_hot(cr.tensor(y), num_classes=6), TF.one_hot(torch.tensor(y), num_classes=6))
    with pytest.raises(RuntimeError, match="class values must be smaller than num_classes"):
        F.one_hot(cr.tensor(y), 3)
    with pytest.raises(TypeError, match="one_hot is only applicable to index tensors"):
        F.one_hot(cr.tensor([1.0]))


REGRESSION = [("l1", F.l1_loss, TF.l1_loss, nn.L1Loss, torch.nn.L1Loss, {}),
              ("smooth_l1", F.smooth_l1_loss, TF.smooth_l1_loss, nn.SmoothL1Loss, torch.nn.SmoothL1Loss, {}),
              ("smooth_l1_beta", lambda a, b, **k: F.smooth_l1_loss(a, b, beta=0.4, **k),
               lambda a, b, **k: TF.smooth_l1_loss(a, b, beta=0.4, **k), nn.SmoothL1Loss, torch.nn.SmoothL1Loss,
               {"beta": 0.4}),
              ("huber", lambda a, b, **k: F.huber_loss(a, b, delta=0.7, **k),
               lambda a, b, **k: TF.huber_loss(a, b, delta=0.7, **k), nn.HuberLoss, torch.nn.HuberLoss,
               {"delta": 0.7}),
              ("mse", F.mse_loss, TF.mse_loss, nn.MSELoss, torch.nn.MSELoss, {})]


@pytest.mark.parametrize("name,f,tf,M,TM,kw", REGRESSION, ids=[r[0] for r in REGRESSION])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(name, f, tf, M, TM, kw, reduction):
    rng = rng_for("reg", name, reduction)
    a, b = rng.standard_normal((4, 3)) * 2, rng.standard_normal((4, 3)) * 2
    check_op(lambda x, y: f(x, y, reduction=reduction), lambda x, y: tf(x, y, reduction=reduction), [a, b])
    check_op(lambda x, y: M(reduction=reduction, **kw)(x, y), lambda x, y: TM(reduction=reduction, **kw)(x, y),
             [a, b], gradcheck=False)
    same(f(cr.tensor(a), cr.tensor(a)), tf(torch.tensor(a), torch.tensor(a)), exact=False)  # d = 0


def test_binary_cross_entropy():
    rng = rng_for("bce")
    p, y = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))
    w = rng.uniform(0.5, 2, (4, 3))
    for reduction in ("mean", "sum", "none"):
        check_op(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
                 lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction), [p, y])
        check_op(lambda a: nn.BCELoss(weight=cr.tensor(w), reduction=reduction)(a, cr.tensor(y)),
                 lambda a: torch.nn.BCELoss(weight=torch.tensor(w), reduction=reduction)(a, torch.tensor(y)), [p])
    edge = np.array([0.0, 1.0, 0.0, 1.0, 0.5])  # the logs clamped at -100, as torch
    check_op(lambda a: F.binary_cross_entropy(a, cr.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype="float64")),
             lambda a: TF.binary_cross_entropy(a, torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64)),
             [edge], gradcheck=False)
    with pytest.raises(ValueError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(cr.tensor([1.5]), cr.tensor([1.0]))


CE_CASES = [dict(), dict(weight=True), dict(ignore_index=1), dict(weight=True, ignore_index=2),
            dict(label_smoothing=0.2), dict(weight=True, ignore_index=0, label_smoothing=0.3),
            dict(weight=True, label_smoothing=0.2), dict(ignore_index=3, label_smoothing=0.1)]


@pytest.mark.parametrize("case", CE_CASES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_weight_ignore_index(case, reduction):
    rng = rng_for("ce", str(case), reduction)
    s, y = rng.standard_normal((6, 4)), np.array([0, 1, 2, 3, 1, 2])
    w = rng.uniform(0.2, 3, 4)
    kw = {k: v for k, v in case.items() if k != "weight"}
    cw, tw = (cr.tensor(w), torch.tensor(w)) if case.get("weight") else (None, None)
    check_op(lambda t: F.cross_entropy(t, cr.tensor(y), weight=cw, reduction=reduction, **kw),
             lambda t: TF.cross_entropy(t, torch.tensor(y), weight=tw, reduction=reduction, **kw), [s])
    check_op(lambda t: nn.CrossEntropyLoss(weight=cw, reduction=reduction, **kw)(t, cr.tensor(y)),
             lambda t: torch.nn.CrossEntropyLoss(weight=tw, reduction=reduction, **kw)(t, torch.tensor(y)), [s],
             gradcheck=False)
    if "label_smoothing" not in case:
        check_op(lambda t: F.nll_loss(F.log_softmax(t, dim=1), cr.tensor(y), cw, reduction=reduction, **kw),
                 lambda t: TF.nll_loss(TF.log_softmax(t, dim=1), torch.tensor(y), tw, reduction=reduction, **kw), [s])
        check_op(lambda t: nn.NLLLoss(cw, reduction=reduction, **kw)(t, cr.tensor(y)),
                 lambda t: torch.nn.NLLLoss(tw, reduction=reduction, **kw)(t, torch.tensor(y)), [s],
                 gradcheck=False)


def test_cross_entropy_shapes_and_probability_targets():
    rng = rng_for("ce-shapes")
    s = rng.standard_normal((2, 3, 4, 5))  # (N, C, d1, d2)
    y = rng.integers(0, 3, (2, 4, 5))
    w = rng.uniform(0.5, 2, 3)
    for reduction in ("mean", "none"):
        check_op(lambda t: F.cross_entropy(t, cr.tensor(y), cr.tensor(w), reduction=reduction),
                 lambda t: TF.cross_entropy(t, torch.tensor(y), torch.tensor(w), reduction=reduction), [s])
    check_op(lambda t: F.cross_entropy(t, cr.tensor(2)), lambda t: TF.cross_entropy(t, torch.tensor(2)),
             [s[0, :, 0, 0]])  # unbatched (C,)
    q = rng.dirichlet(np.ones(4), 5)
    for kw in (dict(), dict(label_smoothing=0.1), dict(reduction="sum")):
        check_op(lambda t: F.cross_entropy(t, cr.tensor(q), **kw),
                 lambda t: TF.cross_entropy(t, torch.tensor(q), **kw), [rng.standard_normal((5, 4))])
    x = cr.zeros(2, 3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # NaN by design, as PyTorch's: no NumPy warning on the way
        all_ignored = F.cross_entropy(x, cr.tensor([-100, -100]))
        all_ignored.backward()
    assert math.isnan(all_ignored.item()) and math.isnan(TF.cross_entropy(torch.zeros(2, 3),
                                                                           torch.tensor([-100, -100])).item())
    assert np.array_equal(x.grad.numpy(), np.zeros((2, 3)))   # torch's gradient there too
    with pytest.raises(ValueError, match=r"weight must have one entry per class, shape \(3,\)"):
        F.cross_entropy(cr.zeros(2, 3), cr.tensor([0, 1]), weight=cr.ones(4))
    with pytest.raises(ValueError, match=r"target holds class 5, outside the range \[0, 3\)"):
        F.cross_entropy(cr.zeros(2, 3), cr.tensor([5, -100]), ignore_index=-100)


def test_legacy_reduction_flags():
    s, y = cr.tensor([[1.0, 2.0], [0.5, 0.0]]), cr.tensor([0, 1])
    assert F.cross_entropy(s, y, reduce=False).shape == (2,)
    assert F.mse_loss(s, s * 2, size_average=False).item() == pytest.approx(
        TF.mse_loss(torch.tensor(s.numpy()), torch.tensor(s.numpy()) * 2, reduction="sum").item())


# ----------------------------------------------------------------------------- save and load
def test_save_load_tensors_state_dicts_and_optimizer(tmp_path):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    F.cross_entropy(model(cr.randn(6, 3)), [0, 1, 0, 1, 1, 0]).backward()
    opt.step()
    cr.save(model.state_dict(), tmp_path / "m.pt")
    cr.save(opt.state_dict(), str(tmp_path / "o.pt"))
    sd = cr.load(tmp_path / "m.pt", map_location="cpu", weights_only=True)
    assert list(sd) == list(model.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(np.asarray(sd[k]), v)
        assert np.asarray(sd[k]).dtype == v.dtype and np.shape(sd[k]) == v.shape
    clone = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    clone.load_state_dict(sd)
    x = cr.randn(2, 3)
    np.testing.assert_array_equal(clone.eval()(x).data, model.eval()(x).data)
    o = cr.load(tmp_path / "o.pt")
    assert o["param_groups"] == opt.state_dict()["param_groups"]
    opt2 = cr.optim.SGD(clone.parameters(), lr=0.5)
    opt2.load_state_dict(o)
    assert opt2.param_groups[0]["lr"] == 0.1
    for a, b in zip(opt.state_dict()["state"].values(), opt2.state_dict()["state"].values()):
        np.testing.assert_array_equal(a["momentum_buffer"], b["momentum_buffer"])
    # torch reads the tensors back with the same names (the file is safetensors)
    from safetensors.numpy import load_file
    assert len(load_file(str(tmp_path / "m.pt"))) == len(sd)


def test_save_load_nested_objects_and_file_objects(tmp_path):
    w = cr.tensor([[1.0, 2.0]], requires_grad=True, dtype="float64")
    p = nn.Parameter(np.ones(2, np.float32))
    obj = {"w": w, "p": p, "arr": np.arange(3), "epoch": 3, "lr": 0.5, "name": "run", "none": None,
           "list": [1, (2.5, "x")], 7: np.float32(1.5), "inf": float("inf"), "flag": True,
           "empty": np.zeros((0, 3))}
    buf = io.BytesIO()
    cr.save(obj, buf)
    buf.seek(0)
    back = cr.load(buf)
    assert list(back) == list(obj)
    assert isinstance(back["w"], cr.Tensor) and back["w"].requires_grad and back["w"].dtype == np.float64
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    np.testing.assert_array_equal(back["arr"], np.arange(3))
    assert back["list"] == [1, (2.5, "x")] and back[7] == np.float32(1.5) and back["inf"] == math.inf
    assert back["epoch"] == 3 and back["name"] == "run" and back["none"] is None and back["flag"] is True
    assert back["empty"].shape == (0, 3)
    cr.save(cr.tensor(5.0), tmp_path / "scalar.pt")
    assert cr.load(tmp_path / "scalar.pt").shape == ()


def test_save_refuses_unsafe_objects(tmp_path):
    model = nn.Linear(2, 2)
    path = tmp_path / "x.pt"
    with pytest.raises(TypeError, match=r"cannot store an object of type Linear safely; save its state "
                                        r"instead: chainrule.save\(x.state_dict\(\), path\)"):
        cr.save(model, path)
    with pytest.raises(TypeError, match="cannot store an object of type SGD"):
        cr.save(cr.optim.SGD(model.parameters(), lr=0.1), path)
    with pytest.raises(TypeError, match=r"cannot store an object of type function \(at obj\['f'\]\) safely "
                                        r"\(no pickle\)"):
        cr.save({"f": lambda x: x}, path)
    with pytest.raises(TypeError, match="dict key"):
        cr.save({(1, 2): 3}, path)
    assert not path.exists()


def test_load_rejects_foreign_and_damaged_files(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a tensor file at all" * 4)
    with pytest.raises(RuntimeError, match=r"load: .*junk.pt is not a chainrule file or is damaged"):
        cr.load(junk)
    tfile = tmp_path / "torch.pt"
    torch.save({"a": torch.ones(2)}, tfile)
    with pytest.raises(RuntimeError, match=r"torch.pt is not a chainrule file .*written by torch.save"):
        cr.load(tfile)
    good = tmp_path / "good.pt"
    cr.save({"a": cr.ones(100)}, good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:-50])
    with pytest.raises(RuntimeError, match="cut.pt is not a chainrule file or is damaged"):
        cr.load(cut)
    with pytest.raises(RuntimeError, match="chainrule runs on the CPU only"):
        cr.load(good, map_location="cuda:0")
    with pytest.raises(FileNotFoundError):
        cr.load(tmp_path / "missing.pt")


def test_load_reads_plain_safetensors_as_tensors(tmp_path):
    from safetensors.numpy import save_file
    save_file({"w": np.ones((2, 2), np.float32)}, str(tmp_path / "plain.safetensors"))
    d = cr.load(tmp_path / "plain.safetensors")
    assert isinstance(d["w"], cr.Tensor) and d["w"].shape == (2, 2)


def test_inplace_flags_are_accepted_and_printed_as_torch():
    for build in (lambda M: M.Sequential(M.Linear(2, 3), M.ReLU(inplace=True), M.Dropout(0.1, inplace=True),
                                         M.LeakyReLU(0.2, inplace=True), M.ELU(inplace=True), M.ReLU6(inplace=True),
                                         M.Hardtanh(inplace=True), M.ReLU()),):
        assert repr(build(nn)) == repr(build(torch.nn))
    x = cr.tensor([-1.0, 2.0])
    assert F.relu(x, inplace=True).tolist() == [0.0, 2.0]
    assert F.leaky_relu(x, 0.5, inplace=True).tolist() == [-0.5, 2.0]
    assert F.dropout(x, 0.5, training=False, inplace=True) is x


def test_bce_with_logits_weight_and_pos_weight():
    rng = rng_for("bcewl")
    x, y = rng.standard_normal((4, 3)) * 3, rng.uniform(0, 1, (4, 3))
    w, pw = rng.uniform(0.5, 2, (4, 3)), rng.uniform(0.5, 3, 3)
    for reduction in ("mean", "none"):
        check_op(lambda a: F.binary_cross_entropy_with_logits(a, cr.tensor(y), cr.tensor(w), reduction=reduction,
                                                              pos_weight=cr.tensor(pw)),
                 lambda a: TF.binary_cross_entropy_with_logits(a, torch.tensor(y), torch.tensor(w),
                                                               reduction=reduction, pos_weight=torch.tensor(pw)), [x])
    check_op(lambda a: nn.BCEWithLogitsLoss(pos_weight=cr.tensor(pw))(a, cr.tensor(y)),
             lambda a: torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))(a, torch.tensor(y)), [x],
             gradcheck=False)


def test_optimizer_zero_grad_set_to_none():
    w = nn.Parameter(np.ones(3, np.float32))
    opt = cr.optim.SGD([w], lr=0.1)
    (w * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert w.grad.tolist() == [0.0, 0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None


def test_state_dict_keep_vars_prefix_and_load_result_print_as_torch():
    m, t = twins()
    sd = m.state_dict(keep_vars=True)
    assert sd["blocks.0.weight"] is m.blocks[0].weight
    assert list(m.state_dict(prefix="net.")) == ["net." + k for k in t.state_dict()]
    assert repr(m.load_state_dict(m.state_dict())) == repr(t.load_state_dict(t.state_dict()))
    res = m.load_state_dict({k: v for k, v in m.state_dict().items() if k != "scale"}, strict=False)
    assert res.missing_keys == ["scale"] and res.unexpected_keys == []


def test_einsum_large_operands_use_the_planned_path():
    rng = rng_for("einsum-large")
    a, b = rng.standard_normal((2, 4, 16, 32)), rng.standard_normal((2, 4, 16, 32))
    check_op(lambda x, y: cr.einsum("bhqd,bhkd->bhqk", x, y), lambda x, y: torch.einsum("bhqd,bhkd->bhqk", x, y),
             [a, b], gradcheck=False)


def test_normalize():
    x = rng_for("normalize").standard_normal((3, 4))
    x[1] = 0.0  # a zero row stays zero, its gradient finite
    for p, dim in [(2.0, 1), (1.0, 0), (3.0, -1)]:
        check_op(lambda t: F.normalize(t, p, dim), lambda t: TF.normalize(t, p, dim), [x], gradcheck=False)
    check_op(lambda t: F.normalize(t), lambda t: TF.normalize(t), [x + 0.1])


def test_sequential_named_layers_slicing_append():
    from collections import OrderedDict
    cr.manual_seed(0)
    for M in (nn, torch.nn):
        seq = M.Sequential(OrderedDict([("fc", M.Linear(2, 3)), ("act", M.ReLU()), ("out", M.Linear(3, 1))]))
        seq.append(M.Sigmoid())
        assert [n for n, _ in seq.named_parameters()] == ["fc.weight", "fc.bias", "out.weight", "out.bias"]
        assert len(seq[1:]) == 3 and type(seq[0]).__name__ == "Linear" and type(seq[-1]).__name__ == "Sigmoid"
    assert repr(nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3))]))) == \
        repr(torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(2, 3))])))


def test_print_parameter_as_torch():
    p, tp = nn.Parameter(np.array([1.0, 2.0], np.float32)), torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    assert str(p) == str(tp) and repr(p) == repr(tp)
