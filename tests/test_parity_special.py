"""chainrule.special, PyTorch's torch.special names: each the same op as torch.special's (values and
gradients in float64, finite differences), float32 kept, and a missing name one clear error."""
import math

import numpy as np
import pytest
import torch

import chainrule as cr
from oracle import check_op

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
P = RNG.uniform(0.05, 0.95, (3, 4))

UNARY = [("erf", X), ("erfc", X), ("exp2", X), ("expit", X), ("expm1", X), ("log1p", P), ("logit", P),
         ("sinc", X), ("ndtr", np.concatenate([X, [[-9.0, -5.0, 5.0, 9.0]]]))]   # ndtr's tails too


@pytest.mark.parametrize("name, x", UNARY, ids=[n for n, _ in UNARY])
def test_elementwise_special_functions_match_torch(name, x):
    check_op(getattr(cr.special, name), getattr(torch.special, name), [x])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_reductions_match_torch(name, dim):
    check_op(lambda t: getattr(cr.special, name)(t, dim), lambda t: getattr(torch.special, name)(t, dim), [X])


def test_xlogy_logit_eps_and_round_match_torch():
    check_op(cr.special.xlogy, torch.special.xlogy, [P, X ** 2 + 0.1])
    check_op(lambda t: cr.special.logit(t, 0.1), lambda t: torch.special.logit(t, 0.1), [P])
    x = np.array([0.5, 1.5, 2.5, -0.5, 0.49])
    assert cr.special.round(cr.tensor(x)).tolist() == torch.special.round(torch.tensor(x)).tolist()   # half to even
    assert cr.special.logsumexp(cr.tensor(X), 1, keepdim=True).shape == (3, 1)


def test_float32_stays_float32_and_ndtr_is_exact_in_the_lower_tail():
    # the true values (Python's math.erfc), down to 5e-198 at -30: torch's ndtr is 0 from about -8.3
    # (it takes 1 + erf), ours the number (erfc beyond 6 is math.erfc's, per element)
    x = np.array([-30.0, -12.0, -9.0, 0.0, 3.0])
    truth = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    assert torch.special.ndtr(torch.tensor(-9.0, dtype=torch.float64)).item() == 0 < truth[2]
    for dt, rtol in ((np.float32, 2e-5), (np.float64, 1e-12)):   # x / sqrt 2 rounded, and erfc is steep
        ours = cr.special.ndtr(cr.tensor(x.astype(dt)))
        assert ours.dtype == dt
        np.testing.assert_allclose(ours.numpy(), truth.astype(dt), rtol=rtol, atol=0)
    for f in (cr.erf, cr.erfc, cr.special.ndtr):   # a 0-d tensor past the fits (it raised before)
        assert f(cr.tensor(7.0)).shape == () and f(cr.tensor(-7.0, dtype=cr.float64)).shape == ()
    assert cr.erfc(cr.tensor(7.0, dtype=cr.float64)).item() == pytest.approx(4.183825607779414e-23, rel=1e-14)


def test_a_missing_special_function_is_one_clear_error():
    with pytest.raises(AttributeError, match=r"torch\.special\.gammaln, chainrule does not provide it: see docs/pytorch\.md"):
        cr.special.gammaln(cr.ones(2))
    assert not hasattr(cr.special, "erfinv") and hasattr(torch.special, "erfinv")


def test_entr_and_xlog1py_match_torch_with_their_edges():
    check_op(cr.special.entr, torch.special.entr, [P])
    check_op(cr.special.xlog1py, torch.special.xlog1py, [X, P])
    # the edges, values and gradients: entr at 0 (+inf slope), below 0 (-inf, NaN slope), NaN;
    # xlog1py with x = 0 against y = 2, 0, -1 and NaN
    for ours_fn, theirs_fn, args in [
            (cr.special.entr, torch.special.entr, [[0.0, 1.0, -1.0, float("nan")]]),
            (cr.special.xlog1py, torch.special.xlog1py, [[0.0, 0.0, 0.0, 0.0, 1.0], [2.0, 0.0, -1.0, float("nan"), -1.0]])]:
        ours = [cr.tensor(a, dtype=cr.float64, requires_grad=True) for a in args]
        theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
        o, t = ours_fn(*ours), theirs_fn(*theirs)
        o.sum().backward()
        t.sum().backward()
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-15, atol=0)  # inf, NaN alike
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-15, atol=0)
