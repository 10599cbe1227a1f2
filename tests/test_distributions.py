"""chainrule.distributions against torch.distributions: parameters, log_prob, entropy, cdf, KL
(values, gradients, float64 gradchecks), sample shapes and frequencies, errors."""
import numpy as np
import pytest
import torch
import torch.distributions as TD

import chainrule as cr
from chainrule import distributions as D
from oracle import check_op


@pytest.mark.parametrize("shape", [(4,), (2, 3)])
@pytest.mark.parametrize("by", ["probs", "logits"])
def test_categorical_log_prob_and_entropy_match_pytorch(shape, by):
    rng = np.random.default_rng(0)
    param = rng.random(shape) + 0.1 if by == "probs" else rng.standard_normal(shape)
    value = rng.integers(0, shape[-1], (5,) + shape[:-1])
    check_op(lambda p: D.Categorical(**{by: p}).log_prob(cr.tensor(value)),
             lambda p: TD.Categorical(**{by: p}).log_prob(torch.tensor(value)), [param])
    check_op(lambda p: D.Categorical(**{by: p}).entropy(), lambda p: TD.Categorical(**{by: p}).entropy(), [param])
    ours, theirs = D.Categorical(**{by: cr.tensor(param)}), TD.Categorical(**{by: torch.tensor(param)})
    np.testing.assert_allclose(ours.probs.detach().numpy(), theirs.probs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.logits.detach().numpy(), theirs.logits.numpy(), rtol=1e-12)
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape) and ours.mode.tolist() == theirs.mode.tolist()


def test_categorical_samples_have_pytorchs_shape_and_the_given_frequencies():
    cr.manual_seed(0)
    probs = cr.tensor([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    m = D.Categorical(probs=probs)
    s = m.sample((20000,))
    assert s.shape == tuple(TD.Categorical(probs=torch.tensor(probs.numpy())).sample((20000,)).shape) == (20000, 2)
    assert s.dtype == np.int64 and m.sample().shape == (2,)
    freq = np.stack([np.bincount(s.numpy()[:, b], minlength=3) / 20000 for b in range(2)])
    np.testing.assert_allclose(freq, probs.numpy(), atol=0.015)


def test_normal_log_prob_entropy_cdf_and_kl_match_pytorch():
    rng = np.random.default_rng(1)
    loc, scale, x = rng.standard_normal((2, 3)), rng.random((2, 3)) + 0.5, rng.standard_normal((4, 2, 3))
    check_op(lambda m, s: D.Normal(m, s).log_prob(cr.tensor(x)), lambda m, s: TD.Normal(m, s).log_prob(torch.tensor(x)),
             [loc, scale])
    check_op(lambda m, s: D.Normal(m, s).entropy(), lambda m, s: TD.Normal(m, s).entropy(), [loc, scale])
    check_op(lambda m, s: D.Normal(m, s).cdf(cr.tensor(x)), lambda m, s: TD.Normal(m, s).cdf(torch.tensor(x)),
             [loc, scale])
    check_op(lambda m, s: D.kl_divergence(D.Normal(m, s), D.Normal(cr.zeros(3, dtype=cr.float64), 1.5)),
             lambda m, s: TD.kl_divergence(TD.Normal(m, s), TD.Normal(torch.zeros(3, dtype=torch.float64), 1.5)),
             [loc, scale])


def test_normal_rsample_is_reparameterised_and_sample_is_not():
    cr.manual_seed(1)
    loc = cr.tensor([0.5, -1.0], dtype=cr.float64, requires_grad=True)
    scale = cr.tensor([2.0, 0.5], dtype=cr.float64, requires_grad=True)
    m = D.Normal(loc, scale)
    y = m.rsample((1000,))
    assert y.shape == (1000, 2) and y.requires_grad and not m.sample((3,)).requires_grad
    y.sum().backward()
    eps = (y.detach().numpy() - loc.detach().numpy()) / scale.detach().numpy()
    np.testing.assert_allclose(loc.grad.numpy(), [1000.0, 1000.0])
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0))
    np.testing.assert_allclose(eps.mean(0), 0, atol=0.1) and np.testing.assert_allclose(eps.std(0), 1, atol=0.1)
    assert D.Normal(0.0, 1.0).sample((2, 3)).shape == (2, 3)


@pytest.mark.parametrize("by", ["probs", "logits"])
def test_bernoulli_log_prob_entropy_and_kl_match_pytorch(by):
    rng = np.random.default_rng(2)
    param = rng.uniform(0.05, 0.95, (2, 3)) if by == "probs" else rng.standard_normal((2, 3))
    x = rng.integers(0, 2, (2, 3)).astype(np.float64)
    check_op(lambda p: D.Bernoulli(**{by: p}).log_prob(cr.tensor(x)),
             lambda p: TD.Bernoulli(**{by: p}).log_prob(torch.tensor(x)), [param])
    check_op(lambda p: D.Bernoulli(**{by: p}).entropy(), lambda p: TD.Bernoulli(**{by: p}).entropy(), [param])
    other = rng.uniform(0.1, 0.9, (2, 3))
    check_op(lambda p: D.kl_divergence(D.Bernoulli(**{by: p}), D.Bernoulli(probs=cr.tensor(other))),
             lambda p: TD.kl_divergence(TD.Bernoulli(**{by: p}), TD.Bernoulli(probs=torch.tensor(other))), [param])
    cr.manual_seed(2)
    s = D.Bernoulli(probs=cr.tensor([0.2, 0.9])).sample((5000,))
    assert s.shape == (5000, 2) and s.dtype == np.float32
    np.testing.assert_allclose(s.numpy().mean(0), [0.2, 0.9], atol=0.02)


def test_categorical_kl_matches_pytorch():
    rng = np.random.default_rng(3)
    p, q = rng.random((2, 4)) + 0.1, rng.random((2, 4)) + 0.1
    check_op(lambda a, b: D.kl_divergence(D.Categorical(probs=a), D.Categorical(logits=b)),
             lambda a, b: TD.kl_divergence(TD.Categorical(probs=a), TD.Categorical(logits=b)), [p, q])


@pytest.mark.parametrize("call,message", [
    (lambda: D.Categorical(), "Either `probs` or `logits` must be specified"),
    (lambda: D.Categorical(probs=cr.tensor([0.5, -0.1])), "to satisfy the constraint Simplex()"),
    (lambda: D.Categorical(probs=cr.tensor([0.5, 0.5])).log_prob(cr.tensor(2)), "to be within the support"),
    (lambda: D.Normal(0.0, cr.tensor([1.0, 0.0])), "GreaterThan(lower_bound=0.0)"),
    (lambda: D.Bernoulli(probs=cr.tensor([1.5])), "Interval(lower_bound=0.0, upper_bound=1.0)"),
    (lambda: D.kl_divergence(D.Normal(0.0, 1.0), D.Bernoulli(probs=0.5)), "no rule for Normal and Bernoulli"),
])
def test_errors_are_one_clear_line(call, message):
    with pytest.raises((ValueError, NotImplementedError)) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_family_chainrule_lacks_is_named_in_one_line():
    with pytest.raises(AttributeError, match="torch.distributions.Beta, chainrule does not provide it"):
        D.Beta
