"""chainrule.compile(mode="max-autotune"): the large GEMMs of a replay on the fastest BLAS engine at
hand, each timed where it runs in the first replays; the steps stay eager's within float rounding,
whichever engine wins."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import chainrule as cr
from chainrule.compiler import autotune, blas, fused
from chainrule.nn import functional as F
from test_compile import batches, make_step, training_step   # the default mode's steps

BLIS = pytest.mark.skipif(autotune._blis() is None,
                          reason="AMD's BLIS comes with the optional aoclda wheel (Linux x86-64), not installed here")


def run_both(sizes, opt_name, dtype, steps=12, batch=48):
    (net_e, _, eager), (net_c, _, step) = make_step(sizes, opt_name, dtype), make_step(sizes, opt_name, dtype)
    compiled = cr.compile(step, mode="max-autotune", fullgraph=True)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for x, y in batches(steps, batch, sizes[0], sizes[-1], dtype):
        np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), **tol)
    for (name, pc), pe in zip(net_c.named_parameters(), net_e.parameters()):
        np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), err_msg=name, **tol)
    assert compiled.stats == {"traces": 1, "replays": steps - 1, "eager": 0}
    return net_c


def force(monkeypatch, engine):
    """Each site keeps ``engine`` where it is a candidate (numpy-cblas is one for the update only),
    from its first call, untimed: each engine's code runs whatever this machine prefers."""
    monkeypatch.setattr(autotune, "ROUNDS", 0)
    monkeypatch.setattr(autotune, "_best", lambda names, rounds: engine if engine in names else "numpy")


CBLAS = pytest.mark.skipif(not blas.cblas_available(np.float32),
                           reason="NumPy's wheel brings no OpenBLAS of its own here (or SciPy is missing)")


@pytest.mark.parametrize("engine", [pytest.param("numpy"), pytest.param("numpy-cblas", marks=CBLAS),
                                    pytest.param("aocl-blis", marks=BLIS)])
@pytest.mark.parametrize("opt_name", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_engine_gives_eagers_steps(monkeypatch, engine, opt_name, dtype):
    monkeypatch.setattr(autotune, "_choices", {})
    force(monkeypatch, engine)
    calls = {"forward": 0, "update": 0, "cblas": 0}
    for kind in ("forward", "update"):  # count the calls that BLIS itself ran (not a fallback to NumPy)
        real = getattr(autotune.Blis, kind)

        def counted(self, *args, _real=real, _kind=kind):
            done = _real(self, *args)
            calls[_kind] += bool(done)
            return done
        monkeypatch.setattr(autotune.Blis, kind, counted)
    real_cblas = autotune.cblas_into

    def counted_cblas(*args):
        done = real_cblas(*args)
        calls["cblas"] += bool(done)
        return done
    monkeypatch.setattr(autotune, "cblas_into", counted_cblas)
    with threadpool_limits(1, "blas"):
        run_both([300, 40, 5], opt_name, dtype)
    # two Linear layers, 11 replays: the first is the check against eager, on the default mode's calls
    # (verify.py); in the 10 after it each forward and each folded update (Adam's too, into its buffer)
    want = {"forward": 20 if engine == "aocl-blis" else 0, "update": 20 if engine == "aocl-blis" else 0,
            "cblas": 20 if engine == "numpy-cblas" else 0}
    assert calls == want
    picked = autotune.choices()
    fwd, upd = ("forward", (48, 300), (40, 300), np.dtype(dtype).char), ("update", (40, 300), (48, 300), np.dtype(dtype).char)
    assert picked[upd] == engine and picked[fwd] == ("numpy" if engine == "numpy-cblas" else engine)
    assert set(picked.values()) <= {engine, "numpy"}


@BLIS
def test_each_site_times_its_candidates_in_the_replays_then_keeps_one(monkeypatch):
    sites, ran = [], []

    class Counted(autotune.Site):   # each candidate's calls recorded, by site and engine
        __slots__ = ()

        def __init__(self, key, candidates):
            n = len(sites)
            counted = {name: (lambda *a, _f=fn, _k=(n, name): ran.append(_k) or _f(*a)) for name, fn in candidates.items()}
            super().__init__(key, counted)
            sites.append(self)
    monkeypatch.setattr(autotune, "Site", Counted)
    monkeypatch.setattr(autotune, "_choices", {})
    steps = 2 + (autotune.ROUNDS + 1) * 3 + 5   # trace, the check, the rounds of 3 candidates, 5 more
    with threadpool_limits(1, "blas"):
        assert autotune.engines()[0] == "numpy" and "aocl-blis" in autotune.engines()
        run_both([512, 64, 10], "sgd", np.float32, batch=64, steps=steps)
    # two Linear layers, each a forward site (numpy, aocl-blis) and an update site (and numpy-cblas)
    assert sorted(site.key[0] for site in sites) == ["forward", "forward", "update", "update"]
    for n, site in enumerate(sites):
        names = site.names
        assert site.chosen in names and autotune.choices()[site.key] == site.chosen
        assert len(site.rounds) == autotune.ROUNDS and all(set(r) == set(names) for r in site.rounds)
        mine = [name for k, name in ran if k == n]
        tuning = (autotune.ROUNDS + 1) * len(names)    # a warm-up round, then the timed ones
        assert sorted(mine[:tuning]) == sorted(names * (autotune.ROUNDS + 1))
        assert mine[tuning:] == [site.chosen] * (steps - 2 - tuning)   # one call a replay
        assert mine[0:len(names)] != mine[len(names):2 * len(names)]   # the order turns from round to round


def test_a_faster_engine_must_win_by_two_percent():
    rounds = [{"numpy": 1.0, "other": t} for t in (0.97, 0.99, 1.01, 0.99, 0.985)]
    assert autotune._best(["numpy", "other"], rounds) == "numpy"       # 1.5% faster: NumPy's stays
    rounds = [{"numpy": 1.0, "other": t, "third": 0.9} for t in (0.97, 0.97, 1.01)]
    assert autotune._best(["numpy", "other", "third"], rounds) == "third"
    assert autotune._best(["numpy", "other"], rounds) == "other"      # 3% faster
    assert autotune._best(["numpy", "other"], []) == "numpy"          # nothing timed


def test_one_lucky_fast_call_does_not_decide():
    # NumPy's slower in every round but one, where it ran 20x faster: the best time of each would keep it
    rounds = [{"numpy": 4e-3, "other": 2e-3} for _ in range(6)]
    rounds[3]["numpy"] = 2e-4
    assert autotune._best(["numpy", "other"], rounds) == "other"
    # and each round compares the engines of that round: a slow moment slows both
    rounds = [{"numpy": 1e-3 * k, "other": 1.05e-3 * k} for k in (1, 5, 1, 9, 1)]
    assert autotune._best(["numpy", "other"], rounds) == "numpy"


def test_with_several_blas_threads_only_numpys_library_is_timed(monkeypatch):
    # another library's thread pool would compete with OpenBLAS's for the cores: BLIS is left out
    monkeypatch.setattr(autotune, "blas_threads", lambda: 4)
    monkeypatch.setattr(autotune, "_choices", {})
    assert autotune.engines() == ["numpy"] + (["numpy-cblas"] if blas.cblas_available(np.float32) else [])
    w = np.asfortranarray(np.ones((3, 5), np.float32))
    assert autotune.forward(np.ones((2, 5), np.float32), w, np.empty((2, 3), np.float32)) is None
    site = autotune.update(w, np.ones((2, 5), np.float32), np.ones((2, 3), np.float32))
    assert (site is None) if not blas.cblas_available(np.float32) else site.names == ["numpy", "numpy-cblas"]
    run_both([20, 8, 3], "sgd", np.float32)   # NumPy's OpenBLAS only, through mode="max-autotune"
    assert "aocl-blis" not in autotune.choices().values()


@BLIS
def test_a_weight_replaced_by_another_layout_falls_back_to_numpy(monkeypatch):
    # BLIS is called for nn.Linear's Fortran-ordered W; a C-ordered array of the same shape put in its
    # place (no retrace: same shape and dtype) takes np.dot, and the numbers stay right
    monkeypatch.setattr(autotune, "_choices", {})
    force(monkeypatch, "aocl-blis")
    with threadpool_limits(1, "blas"):
        (net_e, _, eager), (net_c, _, step) = make_step([64, 16, 4], "sgd", np.float32), make_step([64, 16, 4], "sgd", np.float32)
        compiled = cr.compile(step, mode="max-autotune")
        data = batches(6, 8, 64, 4, np.float32)
        for i, (x, y) in enumerate(data):
            if i == 3:
                for net in (net_c, net_e):
                    net[0].weight.data = np.ascontiguousarray(net[0].weight.data)
            np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), rtol=2e-4)
        for pc, pe in zip(net_c.parameters(), net_e.parameters()):
            np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=2e-4, atol=2e-5)
        assert compiled.stats["replays"] >= 4


def test_the_default_mode_does_not_time_anything(monkeypatch):
    monkeypatch.setattr(autotune, "Site", lambda *a: pytest.fail("a tuned site in the default mode"))
    _, _, step = make_step([20, 8, 3], "sgd", np.float32)
    compiled = cr.compile(step)
    for x, y in batches(3, 4, 20, 3, np.float32):
        compiled(x, y)
    assert compiled.stats["replays"] == 2


def test_an_unknown_mode_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown mode 'fastest'"):
        cr.compile(lambda x: x, mode="fastest")


# ----------------------------------------------------------------------------- the fused loops (Numba)
NUMBA = pytest.mark.skipif(not fused.available(), reason="Numba (the fused loops' compiler) is not installed here")


@NUMBA
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_relu_and_relu_mask_give_the_default_replays_bits(dtype):
    rng = np.random.default_rng(5)
    y = rng.standard_normal((7, 9)).astype(dtype)
    y[0, :3] = [np.nan, np.inf, -np.inf]
    b = rng.standard_normal(9).astype(dtype)
    want = np.maximum(y + b, np.zeros_like(y))        # the default replay's two calls (a NaN stays NaN)
    got = y.copy()
    fused.loop("bias_relu")(got, b)
    np.testing.assert_array_equal(got, want)
    g = rng.standard_normal((7, 9)).astype(dtype)
    g[1, 1] = np.inf
    r = want
    expect = g * ~(r <= 0)                              # ReLU's own backward: a NaN output passes g
    out = np.empty_like(g)
    fused.loop("relu_mask")(g, out, r)
    np.testing.assert_array_equal(out, expect)
    assert np.array_equal(np.signbit(out), np.signbit(expect))   # -0.0 where g < 0 is masked, as g * 0


@NUMBA
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_softmax_cross_entropy_is_the_ops_within_rounding(dtype):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((13, 10)) * 30).astype(dtype)   # large logits: the max shift matters
    t = rng.integers(0, 10, 13)
    d, m = np.empty_like(x), np.empty(13, dtype)
    loss = fused.loop("softmax_xent")(x, t, d, m)
    xt = cr.tensor(x, requires_grad=True)
    ref = F.cross_entropy(xt, cr.tensor(t))
    ref.backward()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss, ref.item(), **tol)
    np.testing.assert_allclose(d / 13, xt.grad.numpy(), **tol)
    t[4] = 10
    assert fused.loop("softmax_xent")(x, t, d, m) == -1.0          # a label outside [0, C): the sentinel
    t[4] = -1
    assert fused.loop("softmax_xent")(x, t, d, m) == -1.0


@NUMBA
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NumPy's, on the inf batch
def test_max_autotune_fuses_and_still_falls_back_on_bad_labels_and_infinite_losses():
    _, _, eager = make_step([12, 8, 4], "sgd", np.float32)
    net, _, step = make_step([12, 8, 4], "sgd", np.float32)
    compiled = cr.compile(step, mode="max-autotune")
    data = batches(4, 6, 12, 4, np.float32)
    for x, y in data:
        compiled(x, y)
    kinds = [getattr(s, "__qualname__", "") for s in next(iter(compiled._cache.values())).steps]
    assert any("_fused_forward" in k for k in kinds)    # the loss came from the fused loop
    x, y = data[0]
    bad = cr.tensor(np.array([0, 1, 4, 0, 1, 2]))
    with pytest.warns(cr.compiler.CompileWarning, match="labels outside"), pytest.raises(Exception) as err:
        compiled(x, bad)
    with pytest.raises(type(err.value)):
        eager(x, bad)                                   # the eager step's own error, as without fusing
    huge = cr.tensor(np.full((6, 12), np.inf, np.float32))
    with pytest.warns(cr.compiler.CompileWarning, match="non-finite loss"):
        assert not np.isfinite(compiled(huge, y).item())
    assert compiled.stats["eager"] == 2


def test_without_numba_max_autotune_replays_numpys_calls(monkeypatch):
    monkeypatch.setattr(fused, "available", lambda: False)
    net_c = run_both([20, 8, 3], "momentum", np.float32)
    assert net_c is not None


@pytest.mark.parametrize("training", [True, False])
def test_a_model_compiled_with_max_autotune_gives_eagers_outputs(training):
    # the forward alone (a compiled module, no_grad in eval): the tuned product and the fused bias + ReLU
    cr.manual_seed(2)
    net = cr.nn.Sequential(cr.nn.Linear(40, 30), cr.nn.ReLU(), cr.nn.Linear(30, 30), cr.nn.ReLU(), cr.nn.Linear(30, 4))
    net.train(training)
    model = cr.compile(net, mode="max-autotune")
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = cr.tensor(rng.standard_normal((16, 40)).astype(np.float32))
        with cr.no_grad():
            np.testing.assert_allclose(model(x).numpy(), net(x).numpy(), rtol=1e-5, atol=1e-6)
    assert model._compiled.stats["replays"] == 3


def test_a_model_compiled_with_max_autotune_replays_its_backward_into_the_grads():
    cr.manual_seed(2)
    nets = [cr.nn.Sequential(cr.nn.Linear(40, 30), cr.nn.ReLU(), cr.nn.Linear(30, 4)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    model = cr.compile(nets[1], mode="max-autotune")
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = cr.tensor(rng.standard_normal((8, 40)).astype(np.float32))
        y = cr.tensor(rng.integers(0, 4, 8))
        for net, f in ((nets[0], nets[0]), (nets[1], model)):
            net.zero_grad()
            F.cross_entropy(f(x), y).backward()
        for pe, pc in zip(nets[0].parameters(), nets[1].parameters()):
            np.testing.assert_allclose(pc.grad.numpy(), pe.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert model._compiled.stats["replays"] == 2


@pytest.mark.skipif(not fused.available() and autotune._blis() is None,
                    reason="neither Numba nor AMD's BLIS is installed: max-autotune would run the default mode's calls")
def test_max_autotune_with_adam_replays_where_a_gradient_is_rounding_noise():
    # a convolution's bias before BatchNorm has a gradient of zero in exact arithmetic, rounding noise
    # in floats; Adam turns that noise into a full step of its sign. The tuned engines round otherwise
    # than eager, so the first replay is checked against eager on the default mode's calls: the step
    # must replay (fullgraph=True would raise at a failed check), and the losses agree (BatchNorm
    # cancels that bias)
    def make():
        cr.manual_seed(4)
        net = cr.nn.Sequential(cr.nn.Conv2d(1, 4, 3, padding=1), cr.nn.BatchNorm2d(4), cr.nn.ReLU(),
                               cr.nn.Flatten(), cr.nn.Linear(4 * 6 * 6, 5))
        return training_step(net, cr.optim.AdamW(net.parameters(), lr=1e-2))
    eager, compiled = make(), cr.compile(make(), mode="max-autotune", fullgraph=True)
    rng = np.random.default_rng(3)
    with threadpool_limits(1, "blas"):
        for _ in range(6):
            x = cr.tensor(rng.standard_normal((16, 1, 6, 6)).astype(np.float32))
            y = cr.tensor(rng.integers(0, 5, 16))
            np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), rtol=1e-4)
    assert compiled.stats == {"traces": 1, "replays": 5, "eager": 0}

