"""Optimizers and schedules: the same MLP, weights and batches in chainrule and PyTorch give the
same loss after each of 20 steps (float64, rtol 1e-6); state_dict round trips continue exactly."""
import copy

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

STEPS = 20

CONFIGS = {
    "SGD": (lambda p, wd: cr.optim.SGD(p, lr=0.1, weight_decay=wd),
            lambda p, wd: torch.optim.SGD(p, lr=0.1, weight_decay=wd)),
    "SGD_momentum": (lambda p, wd: cr.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=wd),
                     lambda p, wd: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=wd)),
    "SGD_dampening": (lambda p, wd: cr.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.5, weight_decay=wd),
                      lambda p, wd: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.5, weight_decay=wd)),
    "SGD_nesterov": (lambda p, wd: cr.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=wd),
                     lambda p, wd: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=wd)),
    "Adam": (lambda p, wd: cr.optim.Adam(p, lr=0.01, weight_decay=wd),
             lambda p, wd: torch.optim.Adam(p, lr=0.01, weight_decay=wd)),
    "Adam_amsgrad": (lambda p, wd: cr.optim.Adam(p, lr=0.01, weight_decay=wd, amsgrad=True),
                     lambda p, wd: torch.optim.Adam(p, lr=0.01, weight_decay=wd, amsgrad=True)),
    "AdamW": (lambda p, wd: cr.optim.AdamW(p, lr=0.01, weight_decay=wd),
              lambda p, wd: torch.optim.AdamW(p, lr=0.01, weight_decay=wd)),
    "RMSprop": (lambda p, wd: cr.optim.RMSprop(p, lr=0.005, weight_decay=wd),
                lambda p, wd: torch.optim.RMSprop(p, lr=0.005, weight_decay=wd)),
    "RMSprop_centered_momentum": (
        lambda p, wd: cr.optim.RMSprop(p, lr=0.005, momentum=0.5, centered=True, weight_decay=wd),
        lambda p, wd: torch.optim.RMSprop(p, lr=0.005, momentum=0.5, centered=True, weight_decay=wd)),
    "Adagrad": (lambda p, wd: cr.optim.Adagrad(p, lr=0.05, lr_decay=0.01, weight_decay=wd),
                lambda p, wd: torch.optim.Adagrad(p, lr=0.05, lr_decay=0.01, weight_decay=wd)),
    "Adadelta": (lambda p, wd: cr.optim.Adadelta(p, lr=0.5, weight_decay=wd),
                 lambda p, wd: torch.optim.Adadelta(p, lr=0.5, weight_decay=wd)),
    "Adamax": (lambda p, wd: cr.optim.Adamax(p, lr=0.01, weight_decay=wd),
               lambda p, wd: torch.optim.Adamax(p, lr=0.01, weight_decay=wd)),
    "NAdam": (lambda p, wd: cr.optim.NAdam(p, lr=0.01, weight_decay=wd),
              lambda p, wd: torch.optim.NAdam(p, lr=0.01, weight_decay=wd)),
    "NAdam_decoupled": (lambda p, wd: cr.optim.NAdam(p, lr=0.01, weight_decay=wd, decoupled_weight_decay=True),
                        lambda p, wd: torch.optim.NAdam(p, lr=0.01, weight_decay=wd, decoupled_weight_decay=True)),
    "RAdam": (lambda p, wd: cr.optim.RAdam(p, lr=0.01, weight_decay=wd),
              lambda p, wd: torch.optim.RAdam(p, lr=0.01, weight_decay=wd)),
    "RAdam_decoupled": (lambda p, wd: cr.optim.RAdam(p, lr=0.01, weight_decay=wd, decoupled_weight_decay=True),
                        lambda p, wd: torch.optim.RAdam(p, lr=0.01, weight_decay=wd, decoupled_weight_decay=True)),
}

SCHEDULES = {
    None: (None, None),
    "StepLR": (lambda o: cr.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.5),
               lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.5)),
    "MultiStepLR": (lambda o: cr.optim.lr_scheduler.MultiStepLR(o, [3, 12], gamma=0.3),
                    lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [3, 12], gamma=0.3)),
    "ExponentialLR": (lambda o: cr.optim.lr_scheduler.ExponentialLR(o, 0.9),
                      lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9)),
    "CosineAnnealingLR": (lambda o: cr.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
                          lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
    "LinearLR": (lambda o: cr.optim.lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=8),
                 lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=8)),
}


def make_pair(seed=0):
    cr.manual_seed(seed)
    net = nn.MLP([6, 16, 16, 3]).double()
    tnet = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 3)).double()
    tnet.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in net.state_dict().items()})
    return net, tnet


def batches(n=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((8, 6)), rng.integers(0, 3, 8)) for _ in range(n)]


def run_chainrule(net, opt, sched, data, reg=0.0):
    losses = []
    for X, y in data:
        opt.zero_grad()
        loss = F.cross_entropy(net(cr.tensor(X)), y)
        if reg:
            loss = loss + reg * F.l2_penalty(net)
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        losses.append(loss.item())
    return losses


def run_torch(tnet, opt, sched, data, reg=0.0):
    losses = []
    for X, y in data:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tnet(torch.tensor(X)), torch.tensor(y))
        if reg:
            loss = loss + reg * sum((p ** 2).sum() for n, p in tnet.named_parameters() if n.endswith("weight"))
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        losses.append(loss.item())
    return losses


# every optimizer with and without weight decay, with no schedule and with StepLR; every other
# schedule with two optimizers
CASES = [(n, wd, s) for n in CONFIGS for wd in (0.0, 0.01) for s in (None, "StepLR")] + \
        [(n, 0.01, s) for n in ("SGD_momentum", "Adam") for s in SCHEDULES if s not in (None, "StepLR")]


@pytest.mark.parametrize("name,wd,schedule", CASES, ids=str)
def test_trajectory_matches_pytorch(name, wd, schedule):
    make, tmake = CONFIGS[name]
    smake, tsmake = SCHEDULES[schedule]
    net, tnet = make_pair()
    opt, topt = make(net.parameters(), wd), tmake(tnet.parameters(), wd)
    sched = smake(opt) if smake else None
    tsched = tsmake(topt) if tsmake else None
    data = batches()
    ours, theirs = run_chainrule(net, opt, sched, data), run_torch(tnet, topt, tsched, data)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert ours[-1] != ours[0]  # it did train
    tparams = dict(tnet.named_parameters())
    for n, p in net.named_parameters():
        np.testing.assert_allclose(p.data, tparams[n].detach().numpy(), rtol=1e-6, atol=1e-10, err_msg=n)
    if sched:
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr())


def test_trajectory_with_l2_penalty_matches_pytorch():
    net, tnet = make_pair()
    opt, topt = cr.optim.SGD(net.parameters(), lr=0.1), torch.optim.SGD(tnet.parameters(), lr=0.1)
    data = batches()
    np.testing.assert_allclose(run_chainrule(net, opt, None, data, reg=0.01),
                               run_torch(tnet, topt, None, data, reg=0.01), rtol=1e-6)


def test_parameter_groups_with_their_own_lr_match_pytorch():
    net, tnet = make_pair()
    p = list(net.parameters())
    tp = list(tnet.parameters())
    opt = cr.optim.SGD([{"params": p[:2], "lr": 0.5}, {"params": p[2:]}], lr=0.05, momentum=0.9)
    topt = torch.optim.SGD([{"params": tp[:2], "lr": 0.5}, {"params": tp[2:]}], lr=0.05, momentum=0.9)
    data = batches()
    np.testing.assert_allclose(run_chainrule(net, opt, None, data), run_torch(tnet, topt, None, data), rtol=1e-6)


@pytest.mark.parametrize("name", ["SGD_nesterov", "Adam", "RMSprop_centered_momentum", "Adagrad", "AdamW",
                                  "Adadelta", "Adamax", "NAdam", "RAdam"])
def test_state_dict_round_trip_continues_exactly(name):
    make, _ = CONFIGS[name]
    data = batches()
    # uninterrupted
    net, _ = make_pair()
    opt = make(net.parameters(), 0.01)
    sched = cr.optim.lr_scheduler.StepLR(opt, 4, 0.5)
    full = run_chainrule(net, opt, sched, data)
    # stop after k steps, save, load into fresh objects, continue
    k = 7
    net1, _ = make_pair()
    opt1 = make(net1.parameters(), 0.01)
    sched1 = cr.optim.lr_scheduler.StepLR(opt1, 4, 0.5)
    first = run_chainrule(net1, opt1, sched1, data[:k])
    saved = (net1.state_dict(), opt1.state_dict(), sched1.state_dict())
    net2, _ = make_pair(seed=99)  # different initial weights, overwritten by the load
    opt2 = make(net2.parameters(), 0.01)
    sched2 = cr.optim.lr_scheduler.StepLR(opt2, 4, 0.5)
    net2.load_state_dict(saved[0])
    opt2.load_state_dict(saved[1])
    sched2.load_state_dict(saved[2])
    rest = run_chainrule(net2, opt2, sched2, data[k:])
    assert first + rest == full
    for (n, a), b in zip(net.named_parameters(), net2.parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=n)


def test_optimizer_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        cr.optim.SGD([], lr=0.1)
    cr.optim.SGD([cr.zeros(2)], lr=0.1).step()  # as torch: a tensor without grad is accepted, never updated
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        cr.optim.SGD([1.0], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        cr.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        cr.optim.Adam(nn.Linear(2, 2).parameters(), lr=-1)


@pytest.mark.parametrize("kw", [dict(), dict(line_search_fn="strong_wolfe"), dict(history_size=3, max_iter=7),
                                dict(lr=0.5, line_search_fn="strong_wolfe", history_size=2, max_iter=30),
                                dict(tolerance_grad=1e-3, tolerance_change=1e-4)], ids=str)
def test_lbfgs_matches_pytorch(kw):
    """L-BFGS's closure loop: the loss each step returns, the parameters, and the counters PyTorch keeps
    (n_iter, func_evals), step after step, with the fixed step and with the strong-Wolfe line search."""
    net, tnet = make_pair(3)
    opt, topt = cr.optim.LBFGS(net.parameters(), **kw), torch.optim.LBFGS(tnet.parameters(), **kw)
    X, y = batches(1, seed=4)[0]
    yt = torch.tensor(y)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(net(cr.tensor(X)), y) + 0.01 * F.l2_penalty(net)
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tnet(torch.tensor(X)), yt) + \
            0.01 * sum((p ** 2).sum() for n, p in tnet.named_parameters() if n.endswith("weight"))
        loss.backward()
        return loss

    for _ in range(4):
        assert opt.step(closure).item() == pytest.approx(topt.step(tclosure).item(), rel=1e-8)
    st, tst = opt.state[next(net.parameters())], topt.state[next(tnet.parameters())]
    assert (st["n_iter"], st["func_evals"]) == (tst["n_iter"], tst["func_evals"])
    for (n, p), tp in zip(net.named_parameters(), tnet.parameters()):   # up to 120 iterations: rounding grows
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=n)
    assert closure().item() < 0.9 * F.cross_entropy(make_pair(3)[0](cr.tensor(X)), y).item()   # it learned


def test_lbfgs_refuses_what_pytorch_refuses():
    w = cr.nn.Parameter(cr.ones(2))
    with pytest.raises(RuntimeError, match="strong_wolfe"):
        cr.optim.LBFGS([w], line_search_fn="armijo")
    with pytest.raises(ValueError, match="parameter groups"):
        cr.optim.LBFGS([{"params": [w]}, {"params": [cr.nn.Parameter(cr.ones(1))]}])


def test_lbfgs_state_dict_round_trip_continues_exactly():
    X, y = batches(1, seed=5)[0]

    def run(split):
        net = make_pair(4)[0]
        opt = cr.optim.LBFGS(net.parameters(), history_size=4, max_iter=5)

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(net(cr.tensor(X)), y)
            loss.backward()
            return loss
        losses = [opt.step(closure).item() for _ in range(2)]
        if split:
            saved = copy.deepcopy(opt.state_dict())
            opt = cr.optim.LBFGS(net.parameters(), history_size=4, max_iter=5)
            opt.load_state_dict(saved)
        return losses + [opt.step(closure).item() for _ in range(2)]
    assert run(True) == run(False)
