"""PyTorch parity II of the ops: the numerics left from the first comparison (issue 20) and the math,
shape, sampling and autograd names of issue 17, each as the same snippet in chainrule and in torch
(values, float64 gradients, dtypes, errors), with a float64 gradcheck for every differentiable op."""
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.nn import functional as F
from oracle import check_op

INF, NAN = float("inf"), float("nan")


def pair(values, dtype="float64", grad=True):
    """The same values as a chainrule and a torch tensor."""
    a = np.asarray(values, dtype=dtype)
    return (cr.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad))


def same(c, t, grad=False):
    """chainrule tensor == torch tensor: shape, dtype, values (NaN in the same places)."""
    c, t = (c.grad, t.grad) if grad else (c, t)
    t = t.detach()
    assert c.shape == tuple(t.shape)
    assert str(c.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(c.detach().numpy(), t.numpy(), rtol=1e-7 if t.dtype == torch.float64 else 1e-6,
                               atol=1e-12, equal_nan=True)


# ----------------------------------------------------------------------------- numerics (issue 20)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("rows", [[[INF, 0.0]], [[INF, 0.0], [1.0, 2.0]], [[-INF, -INF], [0.0, -INF]],
                                  [[NAN, 1.0]]], ids=["inf", "inf+finite", "-inf", "nan"])
def test_softmax_of_infinities_is_torchs(fn, rows):
    c, t = pair(rows, grad=False)
    same(getattr(cr, fn)(c, 1), getattr(torch, fn)(t, 1))


CASES = [([1.0, 2.0, 4.0], None, 3), ([1.0, 2.0, 3.0], None, 5), ([[1.0, 2.0], [3.0, 5.0]], 1, 3),
         ([[1.0, 2.0], [3.0, 5.0]], 1, 2), ([[1.0, 2.0], [3.0, 5.0]], (0, 1), 6), ([2.0, 2.0, 2.0], None, 1),
         ([[3.0, 3.0], [1.0, 2.0]], 1, 1), ([[3.0, 3.0], [1.0, 2.0]], 0, 0)]


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("values, dim, correction", CASES)
def test_var_std_gradients_at_the_edges_are_torchs(fn, values, dim, correction):
    """A correction of N or more (inf, and an inf gradient), a constant slice (std's gradient 0)."""
    c, t = pair(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns on degrees of freedom <= 0
        tv = getattr(t, fn)(dim, correction=correction)
        tv.sum().backward()
    cv = getattr(c, fn)(dim, correction=correction)
    cv.sum().backward()
    same(cv, tv)
    same(c, t, grad=True)


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, True), ((0, 2), False)])
def test_var_std_rules_pass_gradcheck(fn, dim, keepdim):
    x = np.random.default_rng(3).standard_normal((3, 4, 2))
    check_op(lambda a: getattr(a, fn)(dim, keepdim=keepdim, correction=0),
             lambda a: getattr(a, fn)(dim, keepdim=keepdim, correction=0), [x])
    check_op(lambda a: getattr(cr, fn)(a, dim, keepdim=keepdim), lambda a: getattr(torch, fn)(a, dim, keepdim=keepdim), [x])


def test_var_std_keep_float32_and_refuse_integers():
    c, t = pair([1.0, 2.0, 4.0], "float32", grad=False)
    same(c.var(), t.var())
    same(cr.std(c, 0, keepdim=True), torch.std(t, 0, keepdim=True))
    with pytest.raises(RuntimeError, match="floating"):
        cr.tensor([1, 2]).var()


def test_cross_entropy_with_every_target_ignored_is_nan_with_a_zero_gradient():
    x = np.random.default_rng(0).standard_normal((3, 4))
    c, t = pair(x)
    cl = F.cross_entropy(c, cr.tensor([-100, -100, -100]))
    tl = torch.nn.functional.cross_entropy(t, torch.tensor([-100, -100, -100]))
    cl.backward()
    tl.backward()
    same(cl, tl)
    same(c, t, grad=True)
    assert (c.grad.numpy() == 0).all()


@pytest.mark.parametrize("fn, dim", [("amax", 0), ("amax", 1), ("amax", ()), ("amin", 0), ("max", None),
                                     ("min", None)])
def test_a_nan_in_a_slice_gives_torchs_gradients(fn, dim):
    """amax/amin: NaN gradients over a slice holding NaN (PyTorch's); max()/min(): to the NaN entry."""
    c, t = pair([[1.0, NAN, 0.5], [2.0, 3.0, 0.5]])
    cv = getattr(c, fn)() if dim is None else getattr(c, fn)(dim)
    tv = getattr(t, fn)() if dim is None else getattr(t, fn)(dim)
    cv.sum().backward()
    tv.sum().backward()
    same(cv, tv)
    same(c, t, grad=True)
