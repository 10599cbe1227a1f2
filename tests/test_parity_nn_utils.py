"""nn.init, nn.utils, nn.Sequential's list methods, set_float32_matmul_precision and the error for a
missing PyTorch name, each as the same snippet in torch and chainrule."""
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import chainrule as cr

INIT = cr.nn.init


@pytest.mark.parametrize("nl,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
                                      ("leaky_relu", 3)])
def test_calculate_gain_matches_torch(nl, param):
    assert INIT.calculate_gain(nl, param) == torch.nn.init.calculate_gain(nl, param)


@pytest.mark.parametrize("shape", [(3, 5), (8, 4, 3, 3), (2, 6, 7)])
def test_fans_match_torch(shape):
    assert INIT._calculate_fan_in_and_fan_out(cr.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def spread(lib, fn, shape, **kw):
    """(max |w|, std) of a large tensor filled by ``fn``: the bound and the width of its distribution."""
    w = lib.empty(*shape, dtype=lib.float64)
    out = getattr(lib.nn.init, fn)(w, **kw)
    assert out is w
    a = np.asarray(w.detach())
    return np.abs(a).max(), a.std(), a.mean()


@pytest.mark.parametrize("fn,kw", [
    ("kaiming_uniform_", dict(mode="fan_in", nonlinearity="relu")),
    ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="leaky_relu", a=0.1)),
    ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict(nonlinearity="tanh")),
    ("xavier_uniform_", dict(gain=2.0)), ("xavier_normal_", dict()),
    ("uniform_", dict(a=-0.3, b=0.7)), ("normal_", dict(mean=0.5, std=0.2)),
    ("trunc_normal_", dict(std=0.5, a=-0.4, b=0.6)), ("trunc_normal_", dict(mean=1.0, std=0.02)),
    ("orthogonal_", dict(gain=1.5))])
def test_init_distributions_match_torch(fn, kw):
    shape = (200, 30, 3, 3)   # fan_in 270, fan_out 1800: the modes differ
    got, want = spread(cr, fn, shape, **kw), spread(torch, fn, shape, **kw)
    bounded = "uniform" in fn or "trunc" in fn      # the bound is a formula only where there is one
    np.testing.assert_allclose(got[bounded is False:], want[bounded is False:], rtol=0.03, atol=2e-3)


def test_init_generator_reproduces_and_constant_fills_are_exact():
    a, b = cr.empty(4, 5), cr.empty(4, 5)
    INIT.kaiming_normal_(a, generator=cr.Generator().manual_seed(3))
    INIT.kaiming_normal_(b, generator=cr.Generator().manual_seed(3))
    assert np.array_equal(a, b)
    q = INIT.orthogonal_(cr.empty(3, 7, dtype=cr.float64), gain=2.0)
    np.testing.assert_allclose(np.asarray(q) @ np.asarray(q).T, 4 * np.eye(3), atol=1e-12)
    for lib in (cr, torch):
        w = lib.empty(2, 3)
        assert np.array_equal(lib.nn.init.constant_(w, 0.25), np.full((2, 3), 0.25, np.float32))
        assert np.array_equal(lib.nn.init.ones_(w), np.ones((2, 3)))
        assert np.array_equal(lib.nn.init.eye_(w), np.eye(2, 3))
        assert np.array_equal(lib.nn.init.zeros_(w), np.zeros((2, 3)))
        p = lib.nn.Linear(3, 2).weight            # a parameter: filled outside the graph
        lib.nn.init.xavier_uniform_(p)
        assert p.requires_grad and p.grad_fn is None


@pytest.mark.parametrize("call,err,match", [
    (lambda lib: lib.nn.init.kaiming_uniform_(lib.empty(5)), ValueError, "fewer than 2 dimensions"),
    (lambda lib: lib.nn.init.kaiming_normal_(lib.empty(3, 3), mode="fan_avg"), ValueError,
     "Mode fan_avg not supported"),
    (lambda lib: lib.nn.init.calculate_gain("swish"), ValueError, "Unsupported nonlinearity swish"),
    (lambda lib: lib.nn.init.calculate_gain("leaky_relu", True), ValueError, "negative_slope True not a valid number"),
    (lambda lib: lib.nn.init.orthogonal_(lib.empty(3)), ValueError, "Only tensors with 2 or more dimensions")])
def test_init_errors_match_torch(call, err, match):
    for lib in (cr, torch):
        with pytest.raises(err, match=match):
            call(lib)


def grads_pair(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2)]
    arrays = [rng.standard_normal(s) for s in shapes]
    gs = [rng.standard_normal(s) * 3 for s in shapes]
    ps = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    for p, t, g in zip(ps, ts, gs):
        p.grad, t.grad = cr.tensor(g), torch.tensor(g)
    ps.append(cr.tensor(np.ones(2), requires_grad=True))     # a parameter without a gradient is skipped
    ts.append(torch.tensor(np.ones(2), requires_grad=True))
    return ps, ts


@pytest.mark.parametrize("max_norm,norm_type", [(1.0, 2.0), (100.0, 2.0), (0.5, 1.0), (2.0, math.inf), (1.0, 3)])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    ps, ts = grads_pair()
    n = cr.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    tn = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type)
    assert n.dtype == np.float64 and n.shape == () and np.isclose(n.item(), tn.item(), rtol=1e-12)
    for p, t in zip(ps[:3], ts[:3]):
        np.testing.assert_allclose(p.grad, t.grad, rtol=1e-12)
    assert ps[3].grad is None


def test_clip_grad_norm_nonfinite_and_clip_grad_value_match_torch():
    for lib in (cr, torch):
        w = lib.ones(3, requires_grad=True)
        w.grad = lib.tensor([1.0, float("inf"), 2.0])
        with pytest.raises(RuntimeError, match="non-finite"):
            lib.nn.utils.clip_grad_norm_([w], 1.0, error_if_nonfinite=True)
    ps, ts = grads_pair(1)
    assert cr.nn.utils.clip_grad_value_(ps, 0.7) is None and torch.nn.utils.clip_grad_value_(ts, 0.7) is None
    for p, t in zip(ps[:3], ts[:3]):
        np.testing.assert_array_equal(p.grad, t.grad)


def test_parameters_to_vector_and_back_match_torch():
    cr.manual_seed(0)
    net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Linear(4, 2)).double()
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).double()
    tnet.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    v, tv = cr.nn.utils.parameters_to_vector(net.parameters()), torch.nn.utils.parameters_to_vector(tnet.parameters())
    np.testing.assert_array_equal(v.detach(), tv.detach())
    assert v.requires_grad and v.shape == (26,)
    (v * v).sum().backward()                                # differentiable, as torch's
    np.testing.assert_allclose(net[0].weight.grad, 2 * np.asarray(net[0].weight.detach()))
    new = np.arange(26.0)
    cr.nn.utils.vector_to_parameters(cr.tensor(new), net.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(new), tnet.parameters())
    for p, t in zip(net.parameters(), tnet.parameters()):
        np.testing.assert_array_equal(p.detach(), t.detach())
    for lib in (cr, torch):
        with pytest.raises(TypeError, match="but got: numpy.ndarray"):
            lib.nn.utils.vector_to_parameters(new, [])


def seq(lib):
    return lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.ReLU(), lib.nn.Linear(3, 1))


def test_sequential_list_methods_match_torch():
    reprs, names = [], []
    for lib in (cr, torch):
        n = seq(lib)
        assert len(n) == 3 and type(n[-1]).__name__ == "Linear" and isinstance(n[1:], lib.nn.Sequential)
        assert list(n[1:]._modules) == ["1", "2"]
        n.insert(1, lib.nn.Tanh()).insert(-1, lib.nn.Sigmoid())
        n.append(lib.nn.ReLU()).extend(lib.nn.Sequential(lib.nn.Tanh()))
        n.add_module("head", lib.nn.Identity())
        del n[0]
        n[0] = lib.nn.ELU()
        popped = n.pop(1)
        n2 = n + lib.nn.Sequential(lib.nn.Tanh())
        n2 += lib.nn.Sequential(lib.nn.ReLU())
        reprs.append((repr(n), repr(n2), repr(popped), repr(n[2:4])))
        names.append([k for k, _ in n2.named_parameters()])
        with pytest.raises(IndexError, match="index 10 is out of range"):
            n[10]
        with pytest.raises(IndexError, match="Index out of range: 99"):
            n.insert(99, lib.nn.ReLU())
    assert reprs[0] == reprs[1] and names[0] == names[1]


def test_set_float32_matmul_precision_is_an_accepted_noop():
    for lib in (cr, torch):
        before = lib.get_float32_matmul_precision()
        lib.set_float32_matmul_precision("high")
        assert lib.get_float32_matmul_precision() == "high"
        with pytest.warns(UserWarning, match="is not one of 'highest', 'high', or 'medium'"):
            lib.set_float32_matmul_precision("fastest")
        assert lib.get_float32_matmul_precision() == "high"
        lib.set_float32_matmul_precision(before)
    x = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    cr.set_float32_matmul_precision("medium")
    try:
        assert np.array_equal(cr.tensor(x) @ cr.tensor(x), x @ x)     # full float32, whatever the setting
    finally:
        cr.set_float32_matmul_precision("highest")


@pytest.mark.parametrize("module,name", [(cr, "tanhh"), (cr, "vmap"), (cr.nn, "Transformerr"),
                                         (cr.nn.functional, "conv_tbc"), (cr.optim, "SparseAdam"),
                                         (cr.optim.lr_scheduler, "PolynomialLRR"), (cr.nn.init, "sparse_"),
                                         (cr.utils.data, "StackDataset")])
def test_a_missing_pytorch_name_raises_one_attribute_error_naming_it_and_the_document(module, name):
    with pytest.raises(AttributeError, match=rf"has no attribute '{name}'.*docs/pytorch\.md") as e:
        getattr(module, name)
    assert "\n" not in str(e.value)
    assert not hasattr(module, name) and getattr(module, name, 7) == 7
    if name == "tanhh":
        assert "Did you mean chainrule.tanh?" in str(e.value)


def test_the_missing_name_hook_leaves_imports_pickling_and_introspection_alone():
    import inspect
    net = pickle.loads(pickle.dumps(cr.nn.Sequential(cr.nn.Linear(2, 2))))
    assert isinstance(net[0], cr.nn.Linear)
    assert inspect.getmembers(cr.nn.functional) and not hasattr(cr, "__wrapped__")
    with pytest.raises(AttributeError) as e:
        cr.__wrapped__
    assert "docs" not in str(e.value)       # dunder probes by tools get the plain message
    out = subprocess.run([sys.executable, "-c", "from chainrule.nn import Conv9d"], capture_output=True, text=True)
    assert out.returncode == 1 and "ImportError: cannot import name 'Conv9d'" in out.stderr
