"""Optimizer and module state as PyTorch keeps it: ``opt.state[p]``, ``step(closure)``, PyTorch's
param_group keys, ``add_param_group``, state_dicts of Tensors with PyTorch's structure, and loading
from chainrule tensors, NumPy arrays or torch tensors. Each test runs the same snippet on both."""
import copy

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.train.checkpoint import check_optimizer_state, load_checkpoint, save_checkpoint

OPTIMIZERS = [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
              ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, amsgrad=True, maximize=True)),
              ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
              ("AdamW", dict(lr=0.01)), ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
              ("Adagrad", dict(lr=0.1, lr_decay=0.01)), ("SGD", dict(lr=0.1, foreach=False, fused=False)),
              ("Adadelta", dict(lr=0.5, maximize=True)), ("Adamax", dict(lr=0.01)), ("NAdam", dict(lr=0.01)),
              ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True))]
IDS = [f"{n}-{'-'.join(kw)}" for n, kw in OPTIMIZERS]


def pair(seed=0):
    """A chainrule and a torch float64 model with the same weights."""
    cr.manual_seed(seed)
    net = cr.nn.Sequential(cr.nn.Linear(4, 5), cr.nn.Tanh(), cr.nn.Linear(5, 2)).double()
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    tnet.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    return net, tnet


def batches(n=6, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((8, 4)), rng.standard_normal((8, 2))) for _ in range(n)]


def train(lib, net, opt, data):
    losses = []
    for x, y in data:
        def closure():
            opt.zero_grad()
            loss = ((net(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
            loss.backward()
            return loss
        losses.append(opt.step(closure).item())
    return losses


def same(a, b):
    a, b = np.asarray(a), b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    return a.shape == b.shape and str(a.dtype) == str(b.dtype) and np.allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,kw", OPTIMIZERS, ids=IDS)
def test_param_groups_state_and_state_dict_match_torch(name, kw):
    net, tnet = pair()
    opt, topt = getattr(cr.optim, name)(net.parameters(), **kw), getattr(torch.optim, name)(tnet.parameters(), **kw)
    assert opt.param_groups[0].keys() == topt.param_groups[0].keys()
    assert {k: v for k, v in opt.param_groups[0].items() if k != "params"} == \
           {k: v for k, v in topt.param_groups[0].items() if k != "params"}
    assert opt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    data = batches()
    assert np.allclose(train(cr, net, opt, data), train(torch, tnet, topt, data), rtol=1e-9)
    for p, tp in zip(net.parameters(), tnet.parameters()):    # opt.state[p]: keyed by the parameter
        st, tst = opt.state[p], topt.state[tp]
        assert list(st) == list(tst)
        for k in st:
            assert isinstance(st[k], cr.Tensor) and same(st[k], tst[k]), k
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"] and list(sd["state"]) == list(tsd["state"]) == [0, 1, 2, 3]
    for i in sd["state"]:
        assert all(same(sd["state"][i][k], tsd["state"][i][k]) for k in tsd["state"][i])


@pytest.mark.parametrize("source", ["torch", "numpy", "chainrule"])
@pytest.mark.parametrize("name,kw", OPTIMIZERS[1:4], ids=IDS[1:4])
def test_optimizer_state_dict_loads_from_torch_numpy_or_chainrule_and_continues(name, kw, source):
    net, tnet = pair()
    opt, topt = getattr(cr.optim, name)(net.parameters(), **kw), getattr(torch.optim, name)(tnet.parameters(), **kw)
    data = batches(8)
    train(torch, tnet, topt, data[:4])
    train(cr, net, opt, data[:4])
    sd = {"torch": topt.state_dict(), "chainrule": copy.deepcopy(opt.state_dict())}.get(source)
    if source == "numpy":
        sd = copy.deepcopy(topt.state_dict())
        sd["state"] = {i: {k: v.numpy() for k, v in s.items()} for i, s in sd["state"].items()}
    net2, _ = pair()
    net2.load_state_dict(tnet.state_dict())       # the model from torch's tensors
    opt2 = getattr(cr.optim, name)(net2.parameters(), lr=123.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    assert opt2.state[next(net2.parameters())]["step" if name != "SGD" else "momentum_buffer"].dtype == \
        (np.float32 if name != "SGD" else np.float64)
    assert np.allclose(train(cr, net2, opt2, data[4:]), train(torch, tnet, topt, data[4:]), rtol=1e-9)


def test_step_closure_runs_with_grad_even_under_no_grad_and_returns_the_loss():
    for lib in (cr, torch):
        w = lib.ones(3, requires_grad=True)
        opt = lib.optim.SGD([w], lr=0.5)

        def closure():
            opt.zero_grad()
            loss = (w * w).sum()
            loss.backward()
            return loss
        with lib.no_grad():
            loss = opt.step(closure)
        assert loss.item() == 3.0 and np.allclose(np.asarray(w.detach()), 0.0)
        assert opt.step() is None


def test_add_param_group_defaults_errors_and_extra_keys_as_torch():
    out = []
    for lib in (cr, torch):
        a, b = lib.ones(2, requires_grad=True), lib.ones(3, requires_grad=True)
        opt = lib.optim.SGD([a], lr=0.1, momentum=0.9)
        opt.add_param_group({"params": b, "lr": 0.01, "name": "head"})
        out.append([{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups])
        with pytest.raises(ValueError, match="more than one parameter group"):
            opt.add_param_group({"params": [a]})
        with pytest.raises(TypeError, match="can only optimize Tensors"):
            opt.add_param_group({"params": [1.0]})
        with pytest.raises(ValueError, match="empty parameter list"):
            lib.optim.Adam([])
        for bad, match in ((dict(lr=-1), "Invalid learning rate: -1"),
                           (dict(momentum=-0.5), "Invalid momentum value: -0.5"),
                           (dict(nesterov=True), "Nesterov momentum requires")):
            with pytest.raises(ValueError, match=match):
                lib.optim.SGD([a], **({"lr": 0.1} | bad))
        with pytest.raises(ValueError, match="beta parameter at index 1"):
            lib.optim.Adam([a], betas=(0.9, 1.0))
        assert lib.optim.SGD([a], lr=0.1).state_dict()["state"] == {}
    assert out[0] == out[1]


def test_differentiable_optimizer_is_refused_in_one_line():
    with pytest.raises(NotImplementedError, match="differentiable=True is not supported"):
        cr.optim.SGD([cr.ones(2, requires_grad=True)], lr=0.1, differentiable=True)


def test_module_state_dict_holds_detached_tensors_sharing_memory_as_torch():
    net, tnet = pair()
    for lib, m in ((cr, net), (torch, tnet)):
        sd = m.state_dict()
        w = sd["0.weight"]
        assert isinstance(w, lib.Tensor) and not w.requires_grad and tuple(w.size()) == (5, 4)
        assert w.size(1) == 4 and w.norm().item() > 0      # a Tensor: the PyTorch methods work on it
        with lib.no_grad():
            m[0].weight.add_(1.0)                           # the state_dict sees the change (shared)
        assert np.allclose(np.asarray(sd["0.weight"]), np.asarray(m[0].weight.detach()))
    assert all(same(a, b) for a, b in zip(net.state_dict().values(), tnet.state_dict().values()))
    snap = copy.deepcopy(net.state_dict())                  # the recipe's snapshot is a copy
    with cr.no_grad():
        net[0].weight.add_(1.0)
    assert not np.allclose(np.asarray(snap["0.weight"]), np.asarray(net[0].weight.detach()))


@pytest.mark.parametrize("kind", ["chainrule", "numpy", "torch"])
def test_module_load_state_dict_takes_chainrule_numpy_or_torch_values(kind):
    net, tnet = pair(seed=3)
    src, _ = pair(seed=4)
    sd = {k: {"chainrule": v, "numpy": np.array(v), "torch": torch.tensor(np.array(v))}[kind]
          for k, v in src.state_dict().items()}
    assert repr(net.load_state_dict(sd)) == repr(tnet.load_state_dict(
        {k: torch.tensor(np.array(v)) for k, v in src.state_dict().items()})) == "<All keys matched successfully>"
    assert all(same(a, b) for a, b in zip(net.state_dict().values(), tnet.state_dict().values()))


def test_checkpoint_round_trip_of_adam_state_and_an_old_file_with_an_integer_step(tmp_path):
    net, _ = pair()
    opt = cr.optim.Adam(net.parameters(), lr=0.01)
    data = batches(4)
    train(cr, net, opt, data[:2])
    save_checkpoint(tmp_path, "last", net.state_dict(), opt.state_dict(), {"epoch": 1})
    model_state, opt_state, _ = load_checkpoint(tmp_path, "last")
    assert opt_state["state"][0]["step"] == 2.0          # 0-d buffers live in state.json, as before
    net2, _ = pair()
    net2.load_state_dict(model_state)
    opt2 = cr.optim.Adam(net2.parameters(), lr=0.01)
    for step in (np.array(2.0, np.float32), 2):          # a 0-d array, or the int an old checkpoint wrote
        opt_state["state"][0]["step"] = step
        check_optimizer_state(opt_state, cr.optim.Adam(net.parameters(), lr=0.01), tmp_path / "optimizer.safetensors")
    opt2.load_state_dict(opt_state)
    assert opt2.state[next(net2.parameters())]["step"].dtype == np.float32
    assert train(cr, net2, opt2, data[2:]) == train(cr, net, opt, data[2:])


def test_named_parameters_give_param_names_as_torch():
    net, tnet = pair()
    opt, topt = cr.optim.Adam(net.named_parameters(), lr=0.1), torch.optim.Adam(tnet.named_parameters(), lr=0.1)
    assert list(opt.param_groups[0]) == list(topt.param_groups[0])
    assert opt.param_groups[0]["param_names"] == topt.param_groups[0]["param_names"] == ["0.weight", "0.bias",
                                                                                         "2.weight", "2.bias"]
    assert opt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    for lib, m in ((cr, net), (torch, tnet)):
        with pytest.raises(ValueError, match="Some param names are missing"):
            lib.optim.SGD([("w", m[0].weight), m[0].bias], lr=0.1)
