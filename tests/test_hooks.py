"""Module hooks against PyTorch: forward pre-hooks, forward hooks and full backward hooks on the
same network with the same weights see the same tensors, change the same things, and their
handles remove them."""
import numpy as np
import pytest
import torch

import chainrule as cr


def twin_nets(seed=0):
    """The same 3 -> 5 -> 4 -> 2 tanh/ReLU network in chainrule and PyTorch (float64)."""
    rng = np.random.default_rng(seed)
    sizes = [(3, 5), (5, 4), (4, 2)]
    ours = cr.nn.Sequential(cr.nn.Linear(3, 5), cr.nn.Tanh(), cr.nn.Linear(5, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4), torch.nn.ReLU(),
                                 torch.nn.Linear(4, 2)).double()
    for k, (i, o) in zip((0, 2, 4), sizes):
        w, b = rng.standard_normal((o, i)), rng.standard_normal(o)
        ours[k].weight = cr.nn.Parameter(cr.tensor(w, dtype="float64"))
        ours[k].bias = cr.nn.Parameter(cr.tensor(b, dtype="float64"))
        theirs[k].weight.data, theirs[k].bias.data = torch.tensor(w), torch.tensor(b)
    x = rng.standard_normal((6, 3))
    return ours, theirs, x


def as_np(t):
    if t is None:
        return None
    return t.detach().numpy()


@pytest.mark.parametrize("input_grad", [False, True])
def test_every_hook_sees_what_pytorchs_sees(input_grad):
    ours, theirs, x = twin_nets()
    seen = {"ours": [], "theirs": []}
    for key, net in (("ours", ours), ("theirs", theirs)):
        for name, m in net.named_children():
            m.register_forward_pre_hook(lambda m, args, n=name, k=key: seen[k].append(("pre", n, as_np(args[0]))))
            m.register_forward_hook(lambda m, args, out, n=name, k=key: seen[k].append(("fwd", n, as_np(out))))
            m.register_full_backward_hook(
                lambda m, gi, go, n=name, k=key: seen[k].append(("bwd", n, [as_np(g) for g in gi],
                                                                   [as_np(g) for g in go])))
    xo = cr.tensor(x, dtype="float64", requires_grad=input_grad)
    xt = torch.tensor(x, requires_grad=input_grad)
    ours(xo).pow(2).sum().backward()
    theirs(xt).pow(2).sum().backward()
    assert [s[:2] for s in seen["ours"]] == [s[:2] for s in seen["theirs"]]  # same hooks, same order
    for a, b in zip(seen["ours"], seen["theirs"]):
        if a[0] != "bwd":
            np.testing.assert_allclose(a[2], b[2], rtol=1e-12)
            continue
        for ga, gb in zip(a[2] + a[3], b[2] + b[3]):
            assert (ga is None) == (gb is None), a[1]
            if ga is not None:
                np.testing.assert_allclose(ga, gb, rtol=1e-10, atol=1e-12)
    # the hooks changed nothing: the gradients are torch's
    for (n, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=n)


def test_hooks_that_return_values_change_inputs_outputs_and_gradients_as_in_pytorch():
    results = []
    for lib, net_of in ((cr, lambda: twin_nets()[0]), (torch, lambda: twin_nets()[1])):
        net = net_of()
        x = twin_nets()[2]
        net[0].register_forward_pre_hook(lambda m, args: args[0] * 2)            # one value: the new input
        net[1].register_forward_hook(lambda m, args, out: out * 0.5)            # a new output
        net[3].register_full_backward_hook(lambda m, gi, go: (gi[0] * 3,))       # a new grad_input
        net[2].register_forward_pre_hook(lambda m, args, kwargs: ((args[0] + 1,), kwargs), with_kwargs=True)
        net[4].register_forward_hook(lambda m, args, kwargs, out: out - 1, with_kwargs=True)
        xt = lib.tensor(x, requires_grad=True) if lib is torch else cr.tensor(x, dtype="float64", requires_grad=True)
        y = net(xt)
        y.pow(2).sum().backward()
        results.append((as_np(y), as_np(xt.grad), as_np(net[0].weight.grad)))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_handles_remove_hooks_and_prepend_orders_them():
    calls = []
    m = cr.nn.ReLU()
    h1 = m.register_forward_hook(lambda *a: calls.append(1))
    h2 = m.register_forward_hook(lambda *a: calls.append(2), prepend=True)
    hb = m.register_full_backward_hook(lambda *a: calls.append("b"))
    x = cr.tensor([1.0, -1.0], requires_grad=True)
    m(x).sum().backward()
    assert calls == [2, 1, "b"]
    h1.remove()
    h1.remove()  # twice is harmless
    hb.remove()
    m(x).sum().backward()
    assert calls == [2, 1, "b", 2]
    with m.register_forward_pre_hook(lambda *a: calls.append("pre")):
        m(x)
    m(x)
    assert calls == [2, 1, "b", 2, "pre", 2, 2] and isinstance(h2.id, int) and h2.id != h1.id
    h2.remove()
    assert m(x).tolist() == [1.0, 0.0]


def test_a_backward_hook_on_a_module_of_two_inputs_sees_both_gradients():
    class Times(cr.nn.Module):
        def forward(self, a, b):
            return a * b

    class TorchTimes(torch.nn.Module):
        def forward(self, a, b):
            return a * b

    got = []
    for lib, mod in ((cr, Times()), (torch, TorchTimes())):
        mod.register_full_backward_hook(lambda m, gi, go: got.append([as_np(g) for g in gi + go]))
        a = lib.tensor([1.0, 2.0], requires_grad=True) if lib is torch else cr.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, -1.0], requires_grad=True) if lib is torch else cr.tensor([3.0, -1.0], requires_grad=True)
        (mod(a, b) * 2).sum().backward()
    for x, y in zip(*got):
        np.testing.assert_allclose(x, y)
    m = Times()
    m.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[1]))
    with pytest.raises(RuntimeError, match="several tensor inputs .* cannot replace grad_input"):
        m(cr.tensor([1.0], requires_grad=True), cr.tensor([2.0], requires_grad=True)).sum().backward()


def test_hooks_cost_nothing_when_there_are_none_and_refuse_what_is_not_callable():
    m = cr.nn.Linear(2, 2)
    with pytest.raises(TypeError, match="a hook must be callable"):
        m.register_forward_hook(3)
    h = m.register_full_backward_hook(lambda *a: None)
    h.remove()
    y = m(cr.ones(1, 2, requires_grad=True))
    assert y._ctx.name == "Linear"  # no tap left in the graph once the hook is gone
