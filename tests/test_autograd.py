"""The engine's behaviour: the lecture's graph, gate patterns, accumulation, grad mode,
freeing the graph, deep chains, dtypes and error messages."""
import gc
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import chainrule as cr
from oracle import check_op


def leaf(v, dtype="float64"):
    return cr.tensor(v, dtype=dtype, requires_grad=True)


def test_lecture_example():
    x, y, z = leaf(-2.0), leaf(5.0), leaf(-4.0)
    q = x + y
    f = q * z
    f.backward()
    assert f.item() == -12.0
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)
    assert q.grad.item() == -4.0  # intermediate gradients are kept, as the lecture draws them
    assert f.shape == () and x.grad.shape == ()


def test_gate_patterns():
    # add distributes: both inputs get the upstream gradient unchanged
    a, b = leaf(3.0), leaf(-1.0)
    (a + b).backward(cr.tensor(2.0, dtype="float64"))
    assert a.grad.item() == 2.0 and b.grad.item() == 2.0
    # mul swaps and scales: each input gets upstream x the other input
    a, b = leaf(3.0), leaf(-1.0)
    (a * b).backward(cr.tensor(2.0, dtype="float64"))
    assert a.grad.item() == -2.0 and b.grad.item() == 6.0
    # max routes: all to the larger input, nothing to the other
    a, b = leaf(3.0), leaf(-1.0)
    cr.maximum(a, b).backward(cr.tensor(2.0, dtype="float64"))
    assert a.grad.item() == 2.0 and b.grad.item() == 0.0


def test_a_node_used_twice_accumulates():
    x = leaf(3.0)
    (x * x).backward()
    assert x.grad.item() == 6.0
    x = leaf(3.0)
    (x + x).backward()
    assert x.grad.item() == 2.0
    # shared weights: the same W in two places
    rng = np.random.default_rng(0)
    W = cr.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    v = cr.tensor(rng.standard_normal(3))
    ((v @ W) @ W).sum().backward()
    tW = torch.tensor(W.detach().numpy(), requires_grad=True)
    ((torch.tensor(v.numpy()) @ tW) @ tW).sum().backward()
    np.testing.assert_allclose(W.grad.data, tW.grad.numpy(), rtol=1e-12)


def test_backward_twice_accumulates_like_pytorch():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, [4.0, 8.0])
    x.zero_grad()
    assert x.grad is None


def test_second_backward_through_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x.exp() * 3).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_backward_releases_saved_arrays():
    x = leaf(np.ones(1000))
    h = x.exp()
    y = (h * h).sum()
    fn = h.grad_fn
    assert "out" in fn.__dict__
    y.backward()
    assert fn.__dict__ == {} and fn.freed


def test_memory_does_not_grow_over_a_training_loop():
    import tracemalloc
    rng = np.random.default_rng(0)
    W = cr.tensor(rng.standard_normal((50, 10)) * 0.1, requires_grad=True)
    X = cr.tensor(rng.standard_normal((64, 50)))
    losses = []

    def step():
        loss = cr.relu(X @ W).logsumexp(axis=1).mean()
        loss.backward()
        with cr.no_grad():
            W.data -= 0.01 * W.grad.data
        W.grad = None
        losses.append(loss.item())

    for _ in range(20):
        step()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(200):
        step()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 200_000, f"memory grew by {grown} bytes over 200 steps"


def test_no_grad_records_nothing_and_works_as_decorator():
    x = leaf([1.0, 2.0])
    with cr.no_grad():
        y = x * 2
        with cr.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and cr.is_grad_enabled()

    @cr.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad and cr.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.data, y.data)
    (y * d).sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 * d.data)  # d is a constant


def test_million_op_chain_backprops_without_recursion():
    assert sys.getrecursionlimit() <= 10_000
    x = leaf(1.0)
    y = x
    for _ in range(1_000_000):
        y = y + 1.0
    y.backward()
    assert x.grad.item() == 1.0
    assert y.item() == 1_000_001.0
    del y  # and freeing the chain must not blow the C stack either
    gc.collect()


def test_non_scalar_backward_needs_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"only for a tensor of one element.*shape \(2,\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the output has shape \(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


def test_matmul_error_names_op_and_shapes():
    X, W = cr.zeros(64, 3072), cr.zeros(100, 3072)
    with pytest.raises(ValueError, match=r"matmul: shapes \(64, 3072\) and \(100, 3072\) do not align "
                                         r"\(3072 != 100\); did you mean W.T\?"):
        X @ W


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(3, 4\) and \(5,\) do not broadcast"):
        cr.zeros(3, 4) + cr.zeros(5)
    with pytest.raises(ValueError, match=r"mul: shapes \(2,\) and \(3,\)"):
        cr.zeros(2) * np.zeros(3)


def test_reshape_and_axis_errors():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(3, 4\)"):
        cr.zeros(3, 4).reshape(5, 2)
    with pytest.raises(IndexError, match="sum: dim 2 is out of range"):
        cr.zeros(3, 4).sum(axis=2)


# ----------------------------------------------------------------------------- dtypes
def test_default_and_requested_dtypes():
    assert cr.tensor(1.0).dtype == np.float32
    assert cr.tensor([1.0, 2.0]).dtype == np.float32
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.zeros(2).dtype == np.float32 and cr.randn(2, dtype="float64").dtype == np.float64
    assert cr.tensor(np.zeros(2)).dtype == np.float64  # a float64 array keeps its dtype
    x = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y = (x * 2 + 1).exp().sum()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


def test_scalars_and_int_arrays_keep_the_float_dtype():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for y in (x * 2.5, 2 * x, x + np.arange(3), np.arange(3) + x, x / 3, x ** 2, x - np.int64(1),
              x * cr.tensor([1, 2, 3])):
        assert y.dtype == np.float32, y
    assert (cr.tensor([1, 2]) * 2.5).dtype == np.float32
    assert (cr.tensor([1, 2]) / 2).dtype == np.float32


def test_mixed_float_dtypes_promote_and_grads_keep_input_dtype():
    a = cr.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    b = cr.tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.data, [3, 4])


def test_requires_grad_on_int_tensor_is_refused():
    with pytest.raises(RuntimeError, match="Only Tensors of floating point dtype can require gradients"):
        cr.tensor([1, 2], requires_grad=True)


def test_tensor_api_basics():
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]], name="t")
    assert t.shape == (2, 2) and t.ndim == 2 and t.numel() == 4 and t.size() == (2, 2)
    assert np.asarray(t) is t.numpy() and t.data.numpy() is t.numpy()
    assert "tensor([[1., 2.]," in repr(t) and "name='t'" in repr(t)
    assert repr(cr.tensor(1.0, dtype="float64", requires_grad=True)) == \
        "tensor(1., dtype=float64, requires_grad=True)"
    assert (t > 2).dtype == np.bool_ and not (t > 2).requires_grad
    assert cr.arange(3).tolist() == [0, 1, 2] and cr.eye(2).detach().numpy().trace() == 2
    assert cr.ones_like(t).shape == t.shape and cr.full((2, 3), 7.0).numpy().sum() == 42
    assert cr.from_numpy(t.numpy()).numpy() is t.numpy()


def test_user_function_with_gradcheck():
    class Cube(cr.Function):
        """d(x^3)/dx = 3 x^2"""

        def forward(self, x):
            self.x = x
            return x ** 3

        def backward(self, grad):
            return grad * 3 * self.x ** 2

    x = cr.randn(3, 4, dtype="float64", requires_grad=True, rng=0)
    assert cr.gradcheck(Cube, x)
    check_op(Cube.apply, lambda t: t ** 3, [x.data])


def test_gradcheck_catches_a_wrong_backward_and_names_it():
    class BadSquare(cr.Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, grad):
            return grad * self.x  # missing the factor 2

    x = cr.randn(2, 3, dtype="float64", requires_grad=True, rng=1)
    with pytest.raises(cr.GradcheckError, match=r"input 0 of shape \(2, 3\): at element .* analytic "
                                                r"gradient is .* finite differences give .*relative error"):
        cr.gradcheck(BadSquare, x)
    with pytest.raises(TypeError, match="float64"):
        cr.gradcheck(BadSquare, cr.randn(2, requires_grad=True))


def test_user_function_wrong_gradient_shape_is_named():
    class Bad(cr.Function):
        def forward(self, x):
            return x.sum()

        def backward(self, grad):
            return np.ones(7)

    x = cr.randn(3, dtype="float64", requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Bad.backward returned a gradient of shape \(7,\) for input 0 "
                                           r"of shape \(3,\)"):
        Bad.apply(x).backward()


def test_setitem_is_refused_on_a_graph_tensor():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 5.0
    with cr.no_grad():
        x[0] = 5.0
    assert x.data[0] == 5.0


# ----------------------------------------------------------------------------- property-based
UNARY = [("exp", lambda t: (t * 0.3).exp(), lambda t: (t * 0.3).exp()),
         ("tanh", cr.tanh, torch.tanh), ("sigmoid", cr.sigmoid, torch.sigmoid),
         ("square", lambda t: t * t, lambda t: t * t), ("sin", cr.sin, torch.sin),
         ("softplus", cr.softplus, torch.nn.functional.softplus)]
BINARY = [("add", lambda a, b: a + b, lambda a, b: a + b), ("sub", lambda a, b: a - b, lambda a, b: a - b),
          ("mul", lambda a, b: a * b, lambda a, b: a * b),
          ("div", lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1))]


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, len(UNARY) - 1), st.integers(0, len(BINARY) - 1),
                              st.integers(0, 5)), min_size=1, max_size=6),
       seed=st.integers(0, 2**31 - 1), shape=st.sampled_from([(), (3,), (2, 3), (1, 3)]))
def test_random_compositions_match_pytorch(ops, seed, shape):
    """A random program of unary and binary ops over a pool of values, compared with PyTorch."""

    def program(lib_unary, lib_binary):
        def run(a, b, c):
            pool = [a, b, c]
            for u, bi, k in ops:
                x = UNARY[u][lib_unary](pool[k % len(pool)])
                pool.append(BINARY[bi][lib_binary](x, pool[(k + 1) % len(pool)]))
            return pool[-1] * pool[0]
        return run

    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1, 1, shape), rng.uniform(-1, 1, (3,) if shape == (1, 3) else shape),
              rng.uniform(-1, 1, shape)]
    check_op(program(1, 1), program(2, 2), arrays, gradcheck=len(ops) <= 3, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 2, 7, 1500])
def test_a_bias_gradient_and_a_softmax_sum_are_sums_over_rows_and_the_last_axis(dtype, rows):
    # sum_rows / sum_last compute g.sum(0) and x.sum(-1, keepdims=True) as products with ones (gemv):
    # the values are NumPy's within rounding, for every shape and layout, into out= or not
    from chainrule.core import sum_last, sum_rows
    rng = np.random.default_rng(rows)
    g = rng.standard_normal((rows, 13)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for a in (g, np.asfortranarray(g), g[:, ::2]):
        np.testing.assert_allclose(sum_rows(a), a.sum(0), **tol)
        assert sum_rows(a).dtype == dtype and sum_rows(a).shape == (a.shape[1],)
        np.testing.assert_allclose(sum_last(a), a.sum(-1, keepdims=True), **tol)
        assert sum_last(a).shape == (rows, 1)
    out = np.empty((rows, 1), dtype)
    assert sum_last(g, out=out) is out
    np.testing.assert_allclose(out, g.sum(-1, keepdims=True), **tol)
    x3 = rng.standard_normal((2, rows, 5)).astype(dtype)
    np.testing.assert_allclose(sum_last(x3), x3.sum(-1, keepdims=True), **tol)
    ints = rng.integers(0, 9, (rows, 4))
    np.testing.assert_array_equal(sum_rows(ints), ints.sum(0))   # other dtypes: NumPy's own reduction
    x = cr.tensor(g, requires_grad=True)
    b = cr.tensor(np.zeros(13, dtype), requires_grad=True)
    (x + b).sum().backward()   # a broadcast bias: unbroadcast's sum over the rows
    np.testing.assert_array_equal(b.grad.numpy(), np.full(13, rows, dtype))
