"""optim.lr_scheduler against torch: the same optimizer and schedule give the same lr (and momentum,
for OneCycleLR) at each of 60 steps, get_last_lr and state_dict as torch's, resume mid-way exactly."""
import numpy as np
import pytest
import torch

import chainrule as cr


def L(lib):
    return lib.optim.lr_scheduler


MAKES = {
    "LambdaLR": lambda lib, o: L(lib).LambdaLR(o, lambda e: 0.95 ** e),
    "MultiplicativeLR": lambda lib, o: L(lib).MultiplicativeLR(o, lambda e: 0.97),
    "StepLR": lambda lib, o: L(lib).StepLR(o, 7, 0.5),
    "MultiStepLR": lambda lib, o: L(lib).MultiStepLR(o, [5, 20, 20, 40], 0.3),
    "ExponentialLR": lambda lib, o: L(lib).ExponentialLR(o, 0.93),
    "CosineAnnealingLR": lambda lib, o: L(lib).CosineAnnealingLR(o, 13, 0.01),   # past T_max it rises again
    "LinearLR": lambda lib, o: L(lib).LinearLR(o, 0.1, 0.9, 17),
    "ConstantLR": lambda lib, o: L(lib).ConstantLR(o, 0.25, 9),
    "OneCycleLR": lambda lib, o: L(lib).OneCycleLR(o, 1.0, total_steps=61),
    "OneCycleLR3": lambda lib, o: L(lib).OneCycleLR(o, [1.0, 0.1], epochs=61, steps_per_epoch=1, three_phase=True,
                                                   anneal_strategy="linear"),
    "SequentialLR": lambda lib, o: L(lib).SequentialLR(
        o, [L(lib).LinearLR(o, 0.1, total_iters=5), L(lib).CosineAnnealingLR(o, 30), L(lib).ExponentialLR(o, 0.9)],
        [5, 30]),
    "PolynomialLR": lambda lib, o: L(lib).PolynomialLR(o, total_iters=40, power=2.0),
    "CosineAnnealingWarmRestarts": lambda lib, o: L(lib).CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.01),
    "CyclicLR": lambda lib, o: L(lib).CyclicLR(o, 0.01, 0.5, step_size_up=7, step_size_down=4, mode="triangular2"),
    "CyclicLRexp": lambda lib, o: L(lib).CyclicLR(o, [0.01, 0.02], 0.5, step_size_up=5, mode="exp_range", gamma=0.97),
    "ChainedScheduler": lambda lib, o: L(lib).ChainedScheduler([L(lib).ExponentialLR(o, 0.9), L(lib).StepLR(o, 4)]),
}


def setup(lib, make, adam=False):
    a, b = lib.ones(2, requires_grad=True), lib.ones(3, requires_grad=True)
    opt = lib.optim.Adam([a], lr=0.5) if adam else lib.optim.SGD([a], lr=0.5, momentum=0.9)
    opt.add_param_group({"params": [b], "lr": 0.2})
    return opt, make(lib, opt)


def run(opt, sched, n, metrics=None):
    out = []
    for i in range(n):
        opt.step()
        sched.step(*([metrics[i]] if metrics else []))
        out.append(sched.get_last_lr() + [g.get("momentum", g.get("betas", [0])[0]) for g in opt.param_groups])
    return out


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", MAKES)
def test_lr_sequence_get_last_lr_and_state_dict_match_torch(name):
    adam = name in ("OneCycleLR3", "CyclicLRexp")       # cycles Adam's beta1 instead of momentum
    (opt, s), (topt, ts) = setup(cr, MAKES[name], adam), setup(torch, MAKES[name], adam)
    assert s.get_last_lr() == ts.get_last_lr()
    assert np.array_equal(run(opt, s, 60), run(topt, ts, 60))
    sd, tsd = s.state_dict(), ts.state_dict()
    common = set(tsd) - {"_get_lr_called_within_step"}
    assert common <= set(sd), common - set(sd)
    for k in common - {"_schedulers", "lr_lambdas"}:
        assert sd[k] == tsd[k], k


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "SequentialLR", "LambdaLR"])
def test_a_schedule_restored_from_state_dicts_continues_exactly(name):
    opt, s = setup(cr, MAKES[name])
    full = run(opt, s, 50)
    opt1, s1 = setup(cr, MAKES[name])
    run(opt1, s1, 20)
    saved = opt1.state_dict(), s1.state_dict()
    opt2, s2 = setup(cr, MAKES[name])
    opt2.load_state_dict(saved[0])
    s2.load_state_dict(saved[1])
    assert run(opt2, s2, 30) == full[20:]


def test_reduce_lr_on_plateau_matches_torch():
    metrics = list(np.r_[np.linspace(1, 0.5, 10), np.full(40, 0.5), np.linspace(0.5, 0.1, 10)])
    for kw in (dict(patience=3, cooldown=2, factor=0.5), dict(mode="max", threshold_mode="abs", min_lr=[0.1, 0.01])):
        a, b = (run(*setup(lib, lambda lib, o: L(lib).ReduceLROnPlateau(o, **kw)), 60, metrics) for lib in (cr, torch))
        assert np.array_equal(a, b)


@pytest.mark.parametrize("make,err,match", [
    (lambda lib, o: L(lib).LinearLR(o, start_factor=0), ValueError, "Starting multiplicative factor"),
    (lambda lib, o: L(lib).OneCycleLR(o, 1.0), ValueError, "either total_steps OR"),
    (lambda lib, o: L(lib).ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0"),
    (lambda lib, o: L(lib).LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
    (lambda lib, o: L(lib).SequentialLR(o, [L(lib).StepLR(o, 2)], [3]), ValueError, "milestone"),
    (lambda lib, o: L(lib).StepLR("sgd", 2), TypeError, "str is not an Optimizer"),
    (lambda lib, o: L(lib).StepLR(o, 2, last_epoch=3), KeyError, "initial_lr"),
])
def test_scheduler_errors_match_torch(make, err, match):
    for lib in (cr, torch):
        with pytest.raises(err, match=match):
            setup(lib, make)


def test_warm_restarts_with_fractional_epochs_match_torch():
    out = []
    for lib in (cr, torch):
        opt, s = setup(lib, lambda lib, o: L(lib).CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2))
        lrs = []
        for epoch in range(12):
            for i in range(4):
                opt.step()
                s.step(epoch + i / 4)
                lrs.append(s.get_last_lr())
        out.append(lrs)
    assert np.array_equal(out[0], out[1])


def test_a_schedule_saved_before_the_private_entries_existed_still_resumes(tmp_path):
    from chainrule.train.checkpoint import CheckpointError, check_scheduler_state
    opt, s = setup(cr, MAKES["StepLR"])
    old = {"step_size": 7, "gamma": 0.5, "base_lrs": [0.5, 0.2], "last_epoch": 9}   # what chainrule saved before
    check_scheduler_state(old, s, tmp_path / "state.json")
    for g, lr in zip(opt.param_groups, (0.25, 0.1)):
        g["lr"] = lr                                  # the optimizer's state_dict restores the rates
    s.load_state_dict(old)
    assert s.get_last_lr() == [0.25, 0.1]
    for _ in range(5):
        s.step()
    assert s.last_epoch == 14 and s.get_last_lr() == [0.125, 0.05]
    with pytest.raises(CheckpointError, match="has entries"):
        check_scheduler_state({"gamma": 0.5}, s, tmp_path / "state.json")
