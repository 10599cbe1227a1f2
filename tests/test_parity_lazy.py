"""nn.LazyLinear and nn.UninitializedParameter against torch 2.13: in_features taken from the first
input, the module becoming a Linear, state_dicts loaded into a lazy module, an optimizer made before the
first forward training it as torch's does, and the refusals of an uninitialized parameter."""
import copy
import pickle
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.compiler import CompileWarning
from oracle import train_beside_torch

SEED = 20260515


def lifecycle(lib):
    """A LazyLinear before and after its first forward, recorded as plain data (dtypes as names)."""
    nn, out = lib.nn, []
    m = nn.LazyLinear(5)
    out.append((repr(m), type(m.weight).__name__, repr(m.weight), repr(m.bias), list(m.state_dict()),
                [type(v).__name__ for v in m.state_dict().values()], isinstance(m.weight, nn.Parameter),
                isinstance(m, nn.Linear), len(list(m.parameters()))))
    out.append(str(m.double().weight.dtype).replace("torch.", ""))
    twin = copy.deepcopy(m)
    out.append((type(twin.weight).__name__, type(pickle.loads(pickle.dumps(m)).weight).__name__))
    y = m(lib.ones(4, 3, dtype=lib.float64))
    out.append((type(m).__name__, repr(m), tuple(y.shape), type(m.weight).__name__,
                str(m.weight.dtype).replace("torch.", ""), tuple(m.weight.shape), m.in_features))
    out.append((repr(twin(lib.ones(2, 6, dtype=lib.float64)).shape[-1]), repr(twin)))
    out.append([tuple(nn.LazyLinear(2, bias=False)(lib.ones(7)).shape), list(nn.LazyLinear(2, bias=False).state_dict())])
    seq = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(2))
    seq(lib.ones(3, 7))
    out.append((repr(seq), sum(p.numel() for p in seq.parameters())))
    return out


def test_lazy_linear_takes_in_features_from_its_first_input_and_becomes_a_linear():
    assert lifecycle(cr) == lifecycle(torch)


def test_an_optimizer_made_before_the_first_forward_trains_it_as_torchs():
    rng = np.random.default_rng(SEED)
    x, target = rng.standard_normal((8, 6)), rng.standard_normal((8, 3))
    models = [lib.nn.Sequential(lib.nn.LazyLinear(5), lib.nn.Tanh(), lib.nn.LazyLinear(3)).double() for lib in (cr, torch)]
    opts = [cr.optim.Adam(models[0].parameters(), lr=0.05), torch.optim.Adam(models[1].parameters(), lr=0.05)]
    for lib, m in zip((cr, torch), models):
        with lib.no_grad():
            m(lib.tensor(x))          # the dry run: shapes and the random initialisation
    models[1].load_state_dict({k: torch.tensor(v.numpy()) for k, v in models[0].state_dict().items()})
    train_beside_torch(models, opts, lambda lib, m: ((m(lib.tensor(x)) - lib.tensor(target)) ** 2).mean(), 3)
    assert all(type(p) is cr.nn.Parameter for p in models[0].parameters())


def test_a_lazy_module_takes_the_shapes_of_a_loaded_state_dict():
    t = torch.nn.Linear(3, 5).double()
    m = cr.nn.LazyLinear(5, dtype=cr.float64)
    assert list(m.load_state_dict(t.state_dict())) == [[], []]
    assert type(m).__name__ == "LazyLinear" and m.weight.shape == (5, 3) and m.in_features == 0   # as torch
    x = np.random.default_rng(SEED + 1).standard_normal((2, 3))
    np.testing.assert_allclose(m(cr.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    assert type(m) is cr.nn.Linear and m.in_features == 3
    other = cr.nn.LazyLinear(5)
    other.load_state_dict(t.state_dict())
    for lib, lazy in ((cr, other), (torch, torch.nn.LazyLinear(5))):
        lazy.load_state_dict(t.state_dict())
        with pytest.raises(AssertionError, match="in_features inferred from input: 4 is not equal to in_features from "
                                                 "self.weight: 3"):
            lazy(lib.ones(2, 4, dtype=lib.float64))
    unborn = cr.nn.LazyLinear(5)
    assert list(unborn.load_state_dict(cr.nn.LazyLinear(5).state_dict())) == [[], []]
    assert type(unborn.weight) is cr.nn.UninitializedParameter
    with pytest.raises(RuntimeError, match="weight: the saved parameter is uninitialized"):
        cr.nn.Linear(3, 5).load_state_dict(cr.nn.LazyLinear(5).state_dict())
    with pytest.raises(RuntimeError, match="missing keys: bias"):    # a refused load leaves it uninitialized
        unborn.load_state_dict({"weight": cr.ones(5, 3)})
    assert type(unborn.weight) is cr.nn.UninitializedParameter


def test_an_uninitialized_parameter_refuses_its_values_and_shape_as_torch(tmp_path):
    for lib in (cr, torch):
        p = lib.nn.LazyLinear(3).weight
        with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter"):
            p.shape
        with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter"):
            p.sum()
        with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter"):
            lib.ones(3) * p
    p = cr.nn.UninitializedParameter(dtype=cr.float64)
    assert p.requires_grad and p.dtype == cr.float64 and p.grad is None
    p.materialize((2, 3))
    assert type(p) is cr.nn.Parameter and p.shape == (2, 3) and p.dtype == cr.float64
    with pytest.raises(ValueError, match="uninitialized parameter"):
        cr.save(cr.nn.LazyLinear(2).state_dict(), tmp_path / "lazy.pt")


def test_a_compiled_step_runs_the_first_forward_of_a_lazy_model_eagerly_and_then_trains_it():
    """The hook that shapes the parameters makes the first call eager (with a CompileWarning); the
    numbers are the eager ones throughout."""
    x = cr.tensor(np.random.default_rng(SEED + 2).standard_normal((5, 3)).astype(np.float32))
    losses = []
    for compiled in (False, True):
        cr.manual_seed(0)
        m = cr.nn.Sequential(cr.nn.LazyLinear(4), cr.nn.Tanh(), cr.nn.LazyLinear(1))
        opt = cr.optim.SGD(m.parameters(), lr=0.1)

        def step():
            opt.zero_grad()
            loss = (m(x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        run = cr.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)
            losses.append([run().item() for _ in range(4)])
    assert losses[0] == losses[1]


# ----------------------------------------------------------------------------- lazy convolutions
LAZY_CONVS = [("LazyConv1d", dict(stride=2, padding=1), (2, 4, 9)),
              ("LazyConv2d", dict(padding=1, dilation=2, groups=2), (2, 4, 7, 6)),
              ("LazyConv3d", dict(stride=(1, 2, 1), bias=False), (2, 3, 5, 6, 4)),
              ("LazyConvTranspose1d", dict(stride=2, output_padding=1), (2, 4, 5)),
              ("LazyConvTranspose2d", dict(stride=2, padding=1, groups=2), (2, 4, 4, 5)),
              ("LazyConvTranspose3d", dict(dilation=2), (2, 3, 3, 2, 4))]


def conv_lifecycle(lib, name, kw, shape):
    """A lazy convolution before and after its first forward (and one fed an unbatched input), as plain data."""
    m = getattr(lib.nn, name)(6, 3, **kw, dtype=lib.float64)
    out = [(repr(m), [type(v).__name__ for v in m.state_dict().values()], list(m.state_dict()), m.in_channels)]
    y = m(lib.ones(*shape, dtype=lib.float64))
    out.append((type(m).__name__, repr(m), tuple(y.shape), m.in_channels, str(y.dtype).replace("torch.", ""),
                {k: tuple(v.shape) for k, v in m.state_dict().items()}, isinstance(m, getattr(lib.nn, name[4:]))))
    if "Transpose" not in name:   # a convolution also takes unbatched input (C, *spatial)
        single = getattr(lib.nn, name)(6, 3, **kw, dtype=lib.float64)
        single(lib.ones(*shape[1:], dtype=lib.float64))
        out.append(single.in_channels)
    return out


@pytest.mark.parametrize("name, kw, shape", LAZY_CONVS)
def test_lazy_convolutions_take_in_channels_from_their_first_input_as_torchs(name, kw, shape):
    assert conv_lifecycle(cr, name, kw, shape) == conv_lifecycle(torch, name, kw, shape)


@pytest.mark.parametrize("name, kw, shape", LAZY_CONVS)
def test_an_optimizer_made_before_a_lazy_convolution_runs_trains_it_as_torchs(name, kw, shape):
    rng = np.random.default_rng(SEED + 3)
    x = rng.standard_normal(shape)
    models = [lib.nn.Sequential(getattr(lib.nn, name)(6, 3, **kw), lib.nn.Tanh()).double() for lib in (cr, torch)]
    opts = [cr.optim.SGD(models[0].parameters(), lr=0.1, momentum=0.9),
            torch.optim.SGD(models[1].parameters(), lr=0.1, momentum=0.9)]
    for lib, m in zip((cr, torch), models):
        with lib.no_grad():
            m(lib.tensor(x))
    models[1].load_state_dict({k: torch.tensor(v.numpy()) for k, v in models[0].state_dict().items()})
    train_beside_torch(models, opts, lambda lib, m: (m(lib.tensor(x)) ** 2).mean(), 2)
    assert all(type(p) is cr.nn.Parameter for p in models[0].parameters())


def test_lazy_convolutions_refuse_in_torchs_words():
    for lib in (cr, torch):
        with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
            lib.nn.LazyConv2d(4, 3, groups=2)(lib.ones(1, 3, 5, 5))
        with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d, "
                                               r"but got input of size: (torch.Size\(\[5, 5\]\)|\(5, 5\))"):
            lib.nn.LazyConv2d(4, 3)(lib.ones(5, 5))
