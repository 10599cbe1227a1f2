"""nn.ParameterList and nn.ParameterDict against torch 2.13: the same small model built in both libraries
(names, state_dict keys, parameter counts, values, gradients and optimizer steps), the container
operations as the same snippet in both, and state_dicts through chainrule.save and checkpoints."""
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.compiler import CompileWarning
from chainrule.train.checkpoint import check_model_state, load_checkpoint, save_checkpoint

SEED = 20260514


def make_model(lib, arrays):
    """A module holding its layer weights in a ParameterList and per-layer shifts and a scale in a
    ParameterDict (plain tensors given to both, which become Parameters), beside a Linear head."""
    nn = lib.nn

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.ParameterList([lib.tensor(a) for a in arrays["w"]])
            self.shifts = nn.ParameterDict({"second": lib.tensor(arrays["b"][1]), "first": lib.tensor(arrays["b"][0])})
            self.shifts["scale"] = lib.tensor(arrays["s"])
            self.head = nn.Linear(3, 2).double()

        def forward(self, x):
            for w, key in zip(self.weights, ("first", "second")):
                x = lib.tanh(x @ w + self.shifts[key])
            return self.head(x * self.shifts["scale"])

    return Stack()


def model_arrays():
    rng = np.random.default_rng(SEED)
    return {"w": [rng.standard_normal((4, 5)), rng.standard_normal((5, 3))],
            "b": [rng.standard_normal(5), rng.standard_normal(3)], "s": rng.standard_normal(3)}


def pair_of_models():
    arrays = model_arrays()
    ours, theirs = make_model(cr, arrays), make_model(torch, arrays)
    theirs.head.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in ours.head.state_dict().items()})
    return ours, theirs


def test_a_model_with_parameter_containers_names_trains_and_steps_as_torchs():
    ours, theirs = pair_of_models()
    names = ["weights.0", "weights.1", "shifts.first", "shifts.second", "shifts.scale", "head.weight", "head.bias"]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()] == names
    assert list(ours.state_dict()) == list(theirs.state_dict()) == names
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 7
    assert all(type(p) is cr.nn.Parameter and p.requires_grad for p in ours.parameters())
    assert repr(ours).replace("chainrule.", "torch.").replace("[float64", "[torch.float64") == repr(theirs)
    x = np.random.default_rng(SEED + 1).standard_normal((6, 4))
    y = np.random.default_rng(SEED + 2).standard_normal((6, 2))
    opt = cr.optim.Adam(ours.parameters(), lr=0.05)
    topt = torch.optim.Adam(theirs.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        topt.zero_grad()
        loss = ((ours(cr.tensor(x)) - cr.tensor(y)) ** 2).mean()
        tloss = ((theirs(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()
        loss.backward()
        tloss.backward()
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
        tparams = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=name)
        opt.step()
        topt.step()
    tsd = theirs.state_dict()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v.numpy(), tsd[k].numpy(), rtol=1e-10, err_msg=k)


def test_state_dicts_load_both_ways_and_report_missing_entries():
    ours, theirs = pair_of_models()
    with torch.no_grad():
        for p in theirs.parameters():
            p.mul_(-2)
    assert list(ours.load_state_dict(theirs.state_dict())) == [[], []]
    for (k, v), tv in zip(ours.state_dict().items(), theirs.state_dict().values()):
        np.testing.assert_array_equal(v.numpy(), tv.numpy(), err_msg=k)
    ours.weights.append(cr.zeros(2, dtype="float64"))
    with pytest.raises(RuntimeError, match="missing keys: weights.2"):
        ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items() if k != "weights.2"})


def test_parameter_container_keys_round_trip_through_save_and_a_checkpoint(tmp_path):
    ours, _ = pair_of_models()
    ours.shifts["last"] = cr.ones(3, dtype="float64")
    sd = ours.state_dict()
    cr.save(sd, tmp_path / "model.pt")
    back = cr.load(tmp_path / "model.pt")
    assert list(back) == list(sd)
    fresh, _ = pair_of_models()
    fresh.shifts["last"] = cr.zeros(3, dtype="float64")
    fresh.load_state_dict(back)
    np.testing.assert_array_equal(fresh.shifts["last"].detach().numpy(), np.ones(3))
    opt = cr.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    ((ours(cr.ones(2, 4, dtype="float64"))) ** 2).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "run", "last", sd, opt.state_dict(), {"epoch": 1})
    model_state, opt_state, _ = load_checkpoint(tmp_path / "run", "last")
    assert sorted(model_state) == sorted(sd)
    check_model_state(model_state, fresh, tmp_path / "run")
    fresh.load_state_dict(model_state)
    for k, v in sd.items():
        np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v.numpy(), err_msg=k)
    cr.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9).load_state_dict(opt_state)


def list_snippet(lib):
    """The list operations, each result recorded as plain data."""
    nn, out = lib.nn, []
    pl = nn.ParameterList([lib.zeros(2), nn.Parameter(lib.ones(3))])
    t = lib.full((2,), 5.0)
    pl.append(t).extend([lib.zeros(1, 2), None])
    pl += [7]
    out.append((len(pl), [type(p).__name__ for p in pl], [n for n, _ in pl.named_parameters()]))
    out.append((pl[2] is t, np.shares_memory(pl[2].detach().numpy(), t.numpy()), pl[2].requires_grad))
    out.append((tuple(pl[-4].shape), type(pl[1:3]).__name__, [tuple(p.shape) for p in pl[:4:2]]))
    pl[0] = lib.ones(4)
    pl[-1] = nn.Linear(2, 1)
    out.append(([n for n, _ in pl.named_parameters()], list(pl.state_dict())))
    out.append(repr(pl).replace("torch.", ""))
    out.append([k for k in dir(pl) if k.isdigit()])
    return out


def dict_snippet(lib):
    nn, out = lib.nn, []
    pd = nn.ParameterDict({"zeta": lib.zeros(2), "alpha": lib.ones(1)})          # a plain dict: sorted
    pd.update(OrderedDict([("mid", lib.zeros(3)), ("beta", None)]))                # an OrderedDict: in order
    pd.update([("gamma", nn.Parameter(lib.ones(2, 2))), ["zz", 4]])                 # pairs: in order
    out.append((list(pd), list(pd.keys()), [n for n, _ in pd.named_parameters()], list(pd.state_dict())))
    out.append(([type(v).__name__ for v in pd.values()], [k for k, _ in pd.items()], len(pd)))
    out.append(("mid" in pd, "nope" in pd, pd.get("nope", 3), tuple(pd.setdefault("new", lib.ones(5)).shape)))
    out.append((type(pd["alpha"]).__name__, tuple(pd.pop("zeta").shape), pd.popitem()[0], list(reversed(pd))))
    del pd["beta"]
    pd["alpha"] = lib.full((3,), 2.0)
    merged = pd | nn.ParameterDict({"aaa": lib.ones(1)})
    out.append((list(pd), list(merged), list(pd.copy()), list(pd.fromkeys(["p", "q"]))))
    out.append(repr(pd).replace("chainrule.", "torch."))
    pd.clear()
    out.append((len(pd), list(pd.state_dict())))
    return out


@pytest.mark.parametrize("snippet", [list_snippet, dict_snippet])
def test_container_operations_give_torchs_results(snippet):
    assert snippet(cr) == snippet(torch)


@pytest.mark.parametrize("call, exc, match", [
    (lambda lib: lib.nn.ParameterList([lib.zeros(1)])[1], IndexError, "index 1 is out of range"),
    (lambda lib: lib.nn.ParameterList([lib.zeros(1)])[-2], IndexError, "index -2 is out of range"),
    (lambda lib: lib.nn.ParameterList()["0"], TypeError, "'str' object cannot be interpreted as an integer"),
    (lambda lib: lib.nn.ParameterList().extend(lib.zeros(2)), TypeError,
     "ParameterList.extend should be called with an iterable, but got Tensor"),
    (lambda lib: lib.nn.ParameterList()(1), RuntimeError, "ParameterList should not be called."),
    (lambda lib: lib.nn.ParameterDict()(1), RuntimeError, "ParameterDict should not be called."),
    (lambda lib: lib.nn.ParameterDict()["a"], AttributeError, "'ParameterDict' object has no attribute 'a'"),
    (lambda lib: lib.nn.ParameterDict()[1], TypeError, r"cannot be used as a key as it is not a string \(type is 'int'\)"),
    (lambda lib: lib.nn.ParameterDict().update(5), TypeError, "update should be called with an iterable"),
    (lambda lib: lib.nn.ParameterDict([("a", 1, 2)]), ValueError, "element #0 has length 3; 2 is required"),
    (lambda lib: lib.nn.ParameterList([lib.zeros(1)]).__setitem__(0, 3.0), TypeError, "cannot assign"),
    (lambda lib: lib.nn.ParameterDict({"a.b": lib.zeros(1)}), KeyError, "parameter name can.+t contain"),
    (lambda lib: lib.nn.ParameterDict({"": lib.zeros(1)}), KeyError, "parameter name can.+t be empty"),
])
def test_container_errors_are_torchs(call, exc, match):
    for lib in (cr, torch):
        with pytest.raises(exc, match=match):
            call(lib)


def test_a_compiled_step_trains_a_model_with_parameter_containers():
    ours, _ = pair_of_models()
    eager, _ = pair_of_models()
    eager.load_state_dict(ours.state_dict())
    x = cr.tensor(np.random.default_rng(SEED + 3).standard_normal((6, 4)))
    opts = [cr.optim.SGD(m.parameters(), lr=0.1) for m in (ours, eager)]

    def step(model, opt):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    compiled = cr.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)   # traced and replayed, not run eagerly
        for _ in range(3):
            a, b = compiled(ours, opts[0]), step(eager, opts[1])
            assert a.item() == pytest.approx(b.item(), rel=1e-12)
    for (k, v), w in zip(ours.state_dict().items(), eager.state_dict().values()):
        np.testing.assert_allclose(v.numpy(), w.numpy(), rtol=1e-12, err_msg=k)
