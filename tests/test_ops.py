"""Every op: float64 gradcheck and equality with PyTorch, at shapes (), (n,), (m, n), (1, n)
and broadcast pairs, plus the awkward points (0 for relu/abs, ties for max)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import chainrule as cr
from oracle import check_op

UNARY_SHAPES = [(), (5,), (3, 4), (1, 4)]
BINARY_SHAPES = [((), ()), ((5,), (5,)), ((3, 4), (3, 4)), ((1, 4), (3, 4)), ((3, 1), (1, 4)),
                 ((5,), (2, 5)), ((), (3, 4)), ((2, 1, 3), (4, 1))]


def rand(rng, shape, domain="real"):
    x = rng.standard_normal(shape)
    if domain == "positive":
        return np.abs(x) + 0.5
    if domain == "away0":  # keep finite differences away from kinks
        return np.where(np.abs(x) < 0.1, 0.5, x)
    return x


UNARY = {
    "exp": (cr.exp, torch.exp, "real"),
    "log": (cr.log, torch.log, "positive"),
    "sqrt": (cr.sqrt, torch.sqrt, "positive"),
    "abs": (cr.abs, torch.abs, "away0"),
    "sin": (cr.sin, torch.sin, "real"),
    "cos": (cr.cos, torch.cos, "real"),
    "tanh": (cr.tanh, torch.tanh, "real"),
    "sigmoid": (cr.sigmoid, torch.sigmoid, "real"),
    "relu": (cr.relu, torch.relu, "away0"),
    "leaky_relu": (lambda x: cr.leaky_relu(x, 0.1), lambda x: F.leaky_relu(x, 0.1), "away0"),
    "elu": (cr.elu, F.elu, "away0"),
    "gelu": (cr.gelu, F.gelu, "real"),
    "gelu_tanh": (lambda x: cr.gelu(x, "tanh"), lambda x: F.gelu(x, approximate="tanh"), "real"),
    "softplus": (cr.softplus, F.softplus, "real"),
    "neg": (lambda x: -x, lambda x: -x, "real"),
    "clip": (lambda x: cr.clip(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7), "away0"),
    "pow_scalar": (lambda x: x ** 3, lambda x: x ** 3, "real"),
    "rpow_scalar": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, "real"),
    "scalar_ops": (lambda x: (3.0 - x) / 2 + 1 / (x * x + 1), lambda x: (3.0 - x) / 2 + 1 / (x * x + 1),
                   "real"),
}


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, shape):
    fn, tfn, domain = UNARY[name]
    rng = np.random.default_rng(abs(hash((name, shape))) % 2**32)
    if name == "clip":  # keep away from the clip bounds too
        x = rng.uniform(-1, 1, shape)
        x = np.where(np.abs(np.abs(x - 0.1) - 0.6) < 0.05, 0.0, x)
    else:
        x = rand(rng, shape, domain)
    check_op(fn, tfn, [x])


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, "real", "real"),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, "real", "real"),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, "real", "real"),
    "div": (lambda a, b: a / b, lambda a, b: a / b, "real", "positive"),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b, "positive", "real"),
    "maximum": (cr.maximum, torch.maximum, "real", "real"),
    "minimum": (cr.minimum, torch.minimum, "real", "real"),
    "where": (lambda a, b: cr.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b), "away0", "real"),
}


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary(name, shapes):
    fn, tfn, da, db = BINARY[name]
    rng = np.random.default_rng(abs(hash((name, shapes))) % 2**32)
    check_op(fn, tfn, [rand(rng, shapes[0], da), rand(rng, shapes[1], db)])


REDUCE = {
    "sum": (cr.sum, lambda x, axis, k: torch.sum(x, dim=axis, keepdim=k) if axis is not None
            else (torch.sum(x).reshape([1] * x.ndim) if k else torch.sum(x))),
    "mean": (cr.mean, lambda x, axis, k: torch.mean(x, dim=axis, keepdim=k) if axis is not None
             else (torch.mean(x).reshape([1] * x.ndim) if k else torch.mean(x))),
    "max": (cr.amax, lambda x, axis, k: torch.amax(x, dim=() if axis is None else axis, keepdim=k)),
    "min": (cr.amin, lambda x, axis, k: torch.amin(x, dim=() if axis is None else axis, keepdim=k)),
    "var": (cr.var, lambda x, axis, k: torch.var(x, dim=axis, keepdim=k)),
    "logsumexp": (cr.logsumexp, lambda x, axis, k: torch.logsumexp(
        x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=k)),
}
REDUCE_CASES = [((3, 4), None, False), ((3, 4), 0, False), ((3, 4), -1, True), ((2, 3, 4), (0, 2), False),
                ((5,), 0, False), ((1, 4), None, True), ((2, 3, 4), 1, True)]


@pytest.mark.parametrize("case", REDUCE_CASES, ids=str)
@pytest.mark.parametrize("name", list(REDUCE))
def test_reduce(name, case):
    shape, axis, keepdims = case
    fn, tfn = REDUCE[name]
    x = np.random.default_rng(7).standard_normal(shape)
    check_op(lambda t: fn(t, axis=axis, keepdims=keepdims), lambda t: tfn(t, axis, keepdims), [x])


def test_reduce_of_scalar():
    check_op(lambda t: t.sum(), lambda t: t.sum(), [np.array(1.5)])
    check_op(lambda t: t.max(), lambda t: t.amax(), [np.array(1.5)])


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family(name, axis):
    x = np.random.default_rng(3).standard_normal((4, 5)) * 3
    check_op(lambda t: getattr(cr, name)(t, axis), lambda t: getattr(torch, name)(t, axis), [x])


def test_softmax_is_stable_for_huge_logits():
    x = cr.tensor([[1e4, 0.0, -1e4]], dtype="float64", requires_grad=True)
    p = cr.softmax(x)
    lp = cr.log_softmax(x)
    (p.sum() + lp.sum()).backward()
    assert np.isfinite(p.data).all() and np.isfinite(lp.data).all() and np.isfinite(x.grad.data).all()
    np.testing.assert_allclose(p.data, [[1, 0, 0]])


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                 ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 5)), ((4,), (2, 4, 5)), ((1, 4), (4, 1))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    rng = np.random.default_rng(11)
    check_op(lambda a, b: a @ b, lambda a, b: a @ b, [rng.standard_normal(s) for s in shapes])


def test_matmul_lecture_rules():
    """Y = X W: dL/dX = dL/dY W^T and dL/dW = X^T dL/dY, each the shape of its variable."""
    rng = np.random.default_rng(0)
    X = cr.tensor(rng.standard_normal((64, 30)), requires_grad=True)
    W = cr.tensor(rng.standard_normal((30, 10)), requires_grad=True)
    G = rng.standard_normal((64, 10))
    (X @ W).backward(G)
    np.testing.assert_allclose(X.grad.data, G @ W.data.T, rtol=1e-12)
    np.testing.assert_allclose(W.grad.data, X.data.T @ G, rtol=1e-12)
    assert X.grad.shape == X.shape and W.grad.shape == W.shape


SHAPE_OPS = {
    "reshape": (lambda x: x.reshape(4, 3), lambda x: x.reshape(4, 3), (3, 4)),
    "reshape_-1": (lambda x: x.reshape(-1), lambda x: x.reshape(-1), (3, 4)),
    "T": (lambda x: x.T, lambda x: x.T, (3, 4)),
    "transpose": (lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2), (2, 3, 4)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1), (2, 3, 4)),
    "flatten": (lambda x: x.flatten(1), lambda x: x.flatten(1), (2, 3, 4)),
    "squeeze": (lambda x: x.squeeze(), lambda x: x.squeeze(), (1, 4, 1)),
    "squeeze_axis": (lambda x: x.squeeze(0), lambda x: x.squeeze(0), (1, 4, 1)),
    "unsqueeze": (lambda x: x.unsqueeze(1), lambda x: x.unsqueeze(1), (3, 4)),
    "expand": (lambda x: x.expand(2, 3, 4), lambda x: x.expand(2, 3, 4), (3, 1)),
    "expand_-1": (lambda x: x.expand(5, -1), lambda x: x.expand(5, -1), (1, 4)),
    "slice": (lambda x: x[1:, ::2], lambda x: x[1:, ::2], (3, 4)),
    "int_index": (lambda x: x[1], lambda x: x[1], (3, 4)),
    "int_array_repeats": (lambda x: x[[0, 2, 0, 0]], lambda x: x[[0, 2, 0, 0]], (3, 4)),
    "pairs_repeats": (lambda x: x[np.array([0, 1, 0]), np.array([2, 3, 2])],
                      lambda x: x[torch.tensor([0, 1, 0]), torch.tensor([2, 3, 2])], (3, 4)),
    "bool_mask": (lambda x: x[x > 0], lambda x: x[x > 0], (3, 4)),
    "ellipsis": (lambda x: x[..., 1], lambda x: x[..., 1], (2, 3, 4)),
    "pad": (lambda x: cr.pad(x, ((1, 0), (2, 1)), value=0.5),
            lambda x: F.pad(x, (2, 1, 1, 0), value=0.5), (3, 4)),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_ops(name):
    fn, tfn, shape = SHAPE_OPS[name]
    check_op(fn, tfn, [np.random.default_rng(5).standard_normal(shape)])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis):
    rng = np.random.default_rng(2)
    shapes = [(2, 3), (2, 3), (2, 3)]
    arrays = [rng.standard_normal(s) for s in shapes]
    check_op(lambda *xs: cr.stack(xs, axis), lambda *xs: torch.stack(xs, axis), arrays)
    if axis != 1:
        arrays = [rng.standard_normal((2, 3)), rng.standard_normal((4, 3))] if axis == 0 else \
            [rng.standard_normal((2, 3)), rng.standard_normal((2, 1))]
        check_op(lambda *xs: cr.concatenate(xs, axis), lambda *xs: torch.cat(xs, axis), arrays)


# ----------------------------------------------------------------------------- awkward points
def test_relu_and_abs_at_zero_follow_pytorch():
    x = np.array([-1.0, 0.0, 2.0])
    check_op(cr.relu, torch.relu, [x], gradcheck=False)
    check_op(cr.abs, torch.abs, [x], gradcheck=False)
    check_op(lambda t: cr.leaky_relu(t, 0.2), lambda t: F.leaky_relu(t, 0.2), [x], gradcheck=False)


def test_max_ties_split_evenly_like_pytorch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    check_op(lambda t: t.max(), lambda t: t.amax(), [x], gradcheck=False)
    check_op(lambda t: t.amax(axis=1), lambda t: t.amax(dim=1), [x], gradcheck=False)
    check_op(lambda t: t.amin(axis=0), lambda t: t.amin(dim=0), [x], gradcheck=False)
    t = cr.tensor(x, requires_grad=True)
    t.max().backward()
    np.testing.assert_allclose(t.grad.data, [[0, 0.5, 0.5], [0, 0, 0]])


def test_maximum_ties_give_half_each_like_pytorch():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 5.0, 0.0])
    check_op(cr.maximum, torch.maximum, [a, b], gradcheck=False)
    check_op(cr.minimum, torch.minimum, [a, b], gradcheck=False)


def test_pow_at_zero_base_like_pytorch():
    check_op(lambda a, b: a ** b, lambda a, b: a ** b, [np.array([0.0, 2.0]), np.array([2.0, 0.5])],
             gradcheck=False)


@pytest.mark.parametrize("e", [1, 2, 3, 4, 5, -1, -2, -3, 2.5, 0.0])
def test_pow_of_negative_bases_by_whole_exponents_like_pytorch(e):
    """Whole exponents of one value go by repeated squaring (libm's pow is slow for a negative base):
    values and both gradients as torch, in float64 and float32, by a scalar or a 0-d tensor exponent."""
    x = np.random.default_rng(5).uniform(-2, 2, (3, 4))
    x = x if e == int(e) else np.abs(x) + 0.1
    check_op(lambda a: a ** e, lambda a: a ** e, [x])
    # d/db of a negative base is NaN in both libraries: compared with torch, not by finite differences
    check_op(lambda a, b: cr.pow(a, b), lambda a, b: torch.pow(a, b), [x, np.array(e)], gradcheck=False)
    x32 = x.astype(np.float32)
    got = cr.pow(cr.tensor(x32), e).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, torch.pow(torch.tensor(x32), e).numpy(), rtol=2e-6, atol=1e-30)


def test_clip_at_bounds_passes_gradient_like_pytorch():
    check_op(lambda t: cr.clip(t, -1, 1), lambda t: torch.clamp(t, -1, 1), [np.array([-1.0, 0.0, 1.0, 2.0])],
             gradcheck=False)


def test_nan_and_inf_propagate_without_crashing():
    x = cr.tensor([np.nan, np.inf, -np.inf, 1.0], dtype="float64", requires_grad=True)
    with np.errstate(all="ignore"):
        y = (cr.exp(x) * 2 + cr.relu(x)).sum()
        y.backward()
    assert np.isnan(y.item())
    assert np.isnan(x.grad.data[0])


@pytest.mark.parametrize("e", [6, -6, 12, 3.0, 6.0])
def test_whole_powers_of_a_0d_tensor(e):
    # the repeated squaring of a 0-d array gave NumPy scalars, which np.multiply(out=) refused for x ** 6
    check_op(lambda t: t ** e, lambda t: t ** e, [np.array(0.7)])
    np.testing.assert_allclose(cr.pow(cr.tensor(0.7), e).item(), 0.7 ** e, rtol=1e-6)
