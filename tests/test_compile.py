"""chainrule.compile: a traced and replayed step gives the eager step's numbers; guards retrace;
what cannot be replayed runs eagerly with a warning (or raises with fullgraph=True)."""
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import CompileError, CompileWarning
from chainrule.nn import functional as F

OPTIMIZERS = {
    "sgd": lambda p: cr.optim.SGD(p, lr=0.1),
    "sgd_wd": lambda p: cr.optim.SGD(p, lr=0.1, weight_decay=1e-2),
    "momentum": lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.9),
    "nesterov": lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda p: cr.optim.Adam(p, lr=1e-2),
    "adamw": lambda p: cr.optim.AdamW(p, lr=1e-2),
}


def training_step(net, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def make_step(sizes, opt_name, dtype, seed=0):
    cr.manual_seed(seed)
    net = cr.nn.MLP(sizes)
    if dtype == np.float64:
        net = net.double()
    opt = OPTIMIZERS[opt_name](net.parameters())
    return net, opt, training_step(net, opt)


def batches(n_steps, n, d, classes, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return [(cr.tensor(rng.standard_normal((n, d)).astype(dtype)), cr.tensor(rng.integers(0, classes, n)))
            for _ in range(n_steps)]


def tolerance(dtype, loose=False):
    # BLAS's fused update rounds differently from the eager product-then-update; over 50 float32 steps
    # of the 3072-wide network with momentum at batch 1 the drift reaches about 1e-4 of a value (the
    # float64 runs agree to 1e-12: the arithmetic is the same, only its rounding differs)
    if dtype == np.float32:
        return dict(rtol=1e-3, atol=1e-4) if loose else dict(rtol=1e-5, atol=1e-6)
    return dict(rtol=1e-12, atol=1e-13)


def run_parity(sizes, opt_name, dtype, steps, n=8):
    net_e, _, eager = make_step(sizes, opt_name, dtype)
    net_c, _, step = make_step(sizes, opt_name, dtype)
    compiled = cr.compile(step)
    data = batches(steps, n, sizes[0], sizes[-1], dtype)
    for x, y in data:
        le, lc = eager(x, y), compiled(x, y)
        assert lc.dtype == le.dtype and lc.shape == le.shape
        np.testing.assert_allclose(lc.item(), le.item(), **tolerance(dtype, sizes[0] > 100))
    for (name, pe), pc in zip(net_e.named_parameters(), net_c.parameters()):
        np.testing.assert_allclose(pc.data, pe.data, **tolerance(dtype, sizes[0] > 100), err_msg=name)
        np.testing.assert_allclose(pc.grad.detach().numpy(), pe.grad.detach().numpy(), **tolerance(dtype, sizes[0] > 100),
                                   err_msg=name)
    assert compiled.stats == {"traces": 1, "replays": steps - 1, "eager": 0}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_compiled_training_matches_eager_for_50_steps(opt_name, dtype):
    run_parity([12, 16, 16, 5], opt_name, dtype, steps=50)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 64])
@pytest.mark.parametrize("opt_name", ["sgd", "momentum", "adam", "adamw"])
def test_compiled_lecture_mlp_matches_eager(opt_name, n, dtype):
    run_parity([3072, 100, 100, 10], opt_name, dtype, steps=50, n=n)


def test_batch_of_one_and_grad_readable_after_the_step():
    # at batch 1 the weight gradient is an outer product folded into the update; .grad still reads it
    net_e, _, eager = make_step([6, 5, 3], "sgd", np.float32)
    net_c, _, step = make_step([6, 5, 3], "sgd", np.float32)
    compiled = cr.compile(step)
    for x, y in batches(4, 1, 6, 3, np.float32):
        eager(x, y), compiled(x, y)
        for pe, pc in zip(net_e.parameters(), net_c.parameters()):
            np.testing.assert_allclose(pc.grad.detach().numpy(), pe.grad.detach().numpy(), rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(pc.data, pe.data, rtol=1e-6, atol=1e-7)


def test_returns_fresh_tensors_that_later_steps_do_not_overwrite():
    _, _, step = make_step([4, 3], "sgd", np.float64)
    compiled = cr.compile(step)
    losses = [compiled(x, y) for x, y in batches(5, 4, 4, 3, np.float64)]
    values = [float(v.item()) for v in losses]
    assert len(set(values)) == 5
    # the first call is the traced eager run, the second the checked replay (eager's result): the
    # replays after them return detached copies
    assert all(not v.requires_grad for v in losses[2:])


def test_a_new_shape_dtype_or_grad_mode_retraces_and_the_cache_keeps_the_old_ones():
    net = cr.nn.Linear(4, 2)
    f = cr.compile(lambda x: net(x).sum())
    x8, x5 = cr.randn(8, 4), cr.randn(5, 4)
    f(x8), f(x8)
    assert f.stats["traces"] == 1
    np.testing.assert_allclose(f(x5).item(), net(x5).sum().item(), rtol=1e-6)
    assert f.stats["traces"] == 2
    f(x8)
    assert f.stats["traces"] == 2  # cached
    with cr.no_grad():
        f(x8)
    assert f.stats["traces"] == 3
    net.double()
    np.testing.assert_allclose(f(x8.double()).item(), net(x8.double()).sum().item(), rtol=1e-12)
    assert f.stats["traces"] == 4


def test_a_changed_module_flag_retraces():
    net = cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.ReLU())
    model = cr.compile(net)
    x = cr.randn(2, 4)
    with cr.no_grad():
        model(x), model(x)
        net.eval()
        out = model(x)
    assert model._compiled.stats["traces"] == 2
    np.testing.assert_allclose(out.detach().numpy(), net(x).detach().detach().numpy())
    assert model.training is False and len(list(model.parameters())) == 2  # the module's own attributes


def test_compiled_model_for_inference_matches_eager():
    cr.manual_seed(3)
    net = cr.nn.MLP([10, 8, 4]).eval()
    model = cr.compile(net)
    for x, _ in batches(3, 6, 10, 4, np.float32):
        with cr.no_grad():
            np.testing.assert_array_equal(model(x).detach().numpy(), net(x).detach().numpy())
    assert model._compiled.stats["replays"] == 2


def test_data_dependent_control_flow_falls_back_to_eager_with_one_warning():
    net_e, opt_e, _ = make_step([4, 3], "sgd", np.float64)
    net_c, opt_c, _ = make_step([4, 3], "sgd", np.float64)

    def make(net, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            if loss.item() > 0.5:  # Python reads the value: the replay could take the wrong branch
                loss = loss * 2
            loss.backward()
            opt.step()
            return loss
        return step

    eager, compiled = make(net_e, opt_e), cr.compile(make(net_c, opt_c))
    data = batches(3, 4, 4, 3, np.float64)
    with pytest.warns(CompileWarning, match=r"runs eagerly.*\.item\(\)") as rec:
        for x, y in data:
            assert compiled(x, y).item() == eager(x, y).item()
    assert len([w for w in rec if issubclass(w.category, CompileWarning)]) == 1
    assert compiled.stats == {"traces": 1, "replays": 0, "eager": 2}
    np.testing.assert_array_equal(net_c[0].weight.data, net_e[0].weight.data)


@pytest.mark.parametrize("body, reason", [
    (lambda x: x.sum() * 2 if bool(x.sum() > 0) else x.sum(), "bool"),
    (lambda x: (x * cr.ones(3, 2).bernoulli_(0.5)).sum(), "random"),   # (randn(3, 2), normal(x, 1) replay: test_compile_random)
    (lambda x: x.clone().add_(1).sum(), "in place"),
])
def test_fullgraph_raises_naming_the_reason(body, reason):
    f = cr.compile(body, fullgraph=True)
    with pytest.raises(CompileError, match=reason):
        f(cr.randn(3, 2))
    g = cr.compile(body)
    with pytest.warns(CompileWarning, match=reason):
        g(cr.randn(3, 2))


def test_a_custom_autograd_function_runs_eagerly():
    class Double(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    w = cr.tensor([1.0, 2.0], requires_grad=True)

    def step():
        w.grad = None
        Double.apply(w).sum().backward()
        return w.grad

    f = cr.compile(step)
    with pytest.warns(CompileWarning, match="custom autograd.Function"):
        assert f().tolist() == [2.0, 2.0]
    assert f().tolist() == [2.0, 2.0]


def test_a_changed_learning_rate_takes_effect_without_a_retrace():
    net_e, opt_e, eager = make_step([5, 4, 3], "momentum", np.float64)
    net_c, opt_c, step = make_step([5, 4, 3], "momentum", np.float64)
    sched_e = cr.optim.lr_scheduler.StepLR(opt_e, step_size=2, gamma=0.1)
    sched_c = cr.optim.lr_scheduler.StepLR(opt_c, step_size=2, gamma=0.1)
    compiled = cr.compile(step)
    for i, (x, y) in enumerate(batches(8, 4, 5, 3, np.float64)):
        np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), rtol=1e-12)
        sched_e.step(), sched_c.step()
    opt_e.param_groups[0]["lr"] = opt_c.param_groups[0]["lr"] = 0.5  # by hand, too
    x, y = batches(1, 4, 5, 3, np.float64, seed=9)[0]
    compiled(x, y), eager(x, y)
    for pe, pc in zip(net_e.parameters(), net_c.parameters()):
        np.testing.assert_allclose(pc.data, pe.data, rtol=1e-12, atol=1e-13)
    assert compiled.stats["traces"] == 1


@pytest.mark.parametrize("opt_name", ["sgd", "momentum"])
@pytest.mark.parametrize("change", ["pop", "swap"])
def test_a_parameter_taken_out_of_its_group_between_replays_stays_put(opt_name, change):
    # the replay's step runs each group's parameters smallest first, an order it keeps between
    # replays: it must see the group's list change, as eager's step does
    net_e, opt_e, eager = make_step([6, 5, 4, 3], opt_name, np.float64)
    net_c, opt_c, step = make_step([6, 5, 4, 3], opt_name, np.float64)
    compiled = cr.compile(step)
    for i, (x, y) in enumerate(batches(8, 4, 6, 3, np.float64)):
        if i == 4:  # freeze the first layer's weight: out of the optimizer's group
            for opt in (opt_e, opt_c):
                params = opt.param_groups[0]["params"]
                if change == "pop":
                    params.pop(0)
                else:     # the same length, another tensor in its place (never stepped: no grad)
                    params[0] = cr.zeros(5, 6, requires_grad=True, dtype=cr.float64)
            frozen = np.array(net_c[0].weight.data)
        np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), rtol=1e-12)
    for pe, pc in zip(net_e.parameters(), net_c.parameters()):
        np.testing.assert_allclose(pc.data, pe.data, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(net_c[0].weight.data, frozen)
    assert compiled.stats["eager"] == 0


@pytest.mark.parametrize("clip", ["norm", "value"])
@pytest.mark.parametrize("opt_name", ["sgd", "momentum", "adam"])
def test_gradient_clipping_between_backward_and_step_replays(clip, opt_name):
    # nn.utils.clip_grad_norm_ / clip_grad_value_ are replayed as the same call on the replay's
    # gradients (before this, the check of the first replay found the clipping missing and sent the
    # step to eager for good); the returned norm is an output like any other
    def make():
        net, opt, _ = make_step([6, 5, 3], opt_name, np.float64)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            if clip == "norm":
                total = cr.nn.utils.clip_grad_norm_(net.parameters(), max_norm=0.1)  # a generator
            else:
                cr.nn.utils.clip_grad_value_(net.parameters(), clip_value=0.05)
                total = loss.detach() * 0
            opt.step()
            return loss, total
        return net, step
    (net_e, eager), (net_c, step) = make(), make()
    compiled = cr.compile(step, fullgraph=True)
    for x, y in batches(8, 4, 6, 3, np.float64):
        (le, te), (lc, tc) = eager(x, y), compiled(x, y)
        np.testing.assert_allclose(lc.item(), le.item(), rtol=1e-12)
        np.testing.assert_allclose(tc.item(), te.item(), rtol=1e-12)
    if clip == "norm":
        assert te.item() > 0.1   # the clipping did scale the gradients
    for pe, pc in zip(net_e.parameters(), net_c.parameters()):
        np.testing.assert_allclose(pc.data, pe.data, rtol=1e-12, atol=1e-13)
    assert compiled.stats == {"traces": 1, "replays": 7, "eager": 0}


def test_clip_grad_norm_refusing_a_non_finite_norm_raises_from_the_eager_step():
    w = cr.ones(3, requires_grad=True, dtype=cr.float64)
    opt = cr.optim.SGD([w], lr=0.1)

    @cr.compile
    def step(x):
        opt.zero_grad()
        (w * x).sum().backward()
        cr.nn.utils.clip_grad_norm_([w], 1.0, error_if_nonfinite=True)
        opt.step()

    for _ in range(3):
        step(cr.tensor(np.array([1.0, 2.0, 3.0])))
    before = w.data.numpy().copy()
    with pytest.warns(CompileWarning, match="error_if_nonfinite"), pytest.raises(RuntimeError, match="non-finite"):
        step(cr.tensor(np.array([1.0, np.inf, 3.0])))
    np.testing.assert_array_equal(w.data.numpy(), before)   # the step stopped before the update
    step(cr.tensor(np.array([1.0, 2.0, 3.0])))
    assert step.stats["replays"] == 3 and step.stats["eager"] == 1


def test_positions_argmax_sort_topk_and_median_replay_on_each_calls_data():
    # integer positions read off the values (a prediction, an accuracy, a ranking) are ops outside
    # the graph, as comparisons are: the replay repeats them on new data instead of falling back
    net = cr.nn.Linear(5, 4)

    @cr.compile(fullgraph=True)
    def evaluate(x, y):
        with cr.no_grad():
            out = net(x)
            pred = out.argmax(1)
            acc = (pred == y).float().mean()
            top = cr.topk(out, 2, dim=1)
            order = cr.sort(out, dim=0, descending=True)
            med = out.median(dim=1)
            return pred, acc, top.indices, top.values, order.indices, out.argmin(), out.argmax(1, keepdim=True), \
                med.values, med.indices, out.median()

    rng = np.random.default_rng(7)
    for _ in range(4):
        x = cr.tensor(rng.standard_normal((6, 5)).astype(np.float32))
        y = cr.tensor(rng.integers(0, 4, 6))
        got, want = evaluate(x, y), evaluate._fn(x, y)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g.numpy(), w.numpy())
    assert evaluate.stats == {"traces": 1, "replays": 3, "eager": 0}


def test_quantile_in_a_training_step_replays_with_eagers_gradients():
    # a loss that clips at a batch quantile (float q, and a 1-D q of nanquantile), compiled and eager
    def make():
        w = cr.tensor(np.linspace(-1.0, 1.0, 12).reshape(3, 4), requires_grad=True)
        opt = cr.optim.SGD([w], lr=0.1)
        q = cr.tensor([0.2, 0.9], dtype=cr.float64)

        def step(x):
            opt.zero_grad()
            loss = (cr.quantile(x * w, 0.3, dim=1) ** 2).sum() + \
                cr.nanquantile(w, q, interpolation="midpoint").sum()
            loss.backward()
            opt.step()
            return loss
        return w, step

    (w1, eager), (w2, step) = make(), make()
    step = cr.compile(step, fullgraph=True)
    rng = np.random.default_rng(11)
    for _ in range(5):
        x = rng.standard_normal((3, 4))
        assert step(cr.tensor(x)).item() == eager(cr.tensor(x)).item()
        np.testing.assert_array_equal(w2.data.numpy(), w1.data.numpy())
    assert step.stats == {"traces": 1, "replays": 4, "eager": 0}


def test_one_hot_replays_and_meets_its_errors_eagerly():
    @cr.compile
    def encode(y):
        return F.one_hot(y, 4).float().sum(0)

    @cr.compile
    def inferred(y):  # num_classes from the values: the output's shape depends on them, so eager
        return F.one_hot(y)

    rng = np.random.default_rng(8)
    for _ in range(3):
        y = cr.tensor(rng.integers(0, 4, 9))
        np.testing.assert_array_equal(encode(y).numpy(), np.bincount(y.numpy(), minlength=4))
    assert encode.stats == {"traces": 1, "replays": 2, "eager": 0}
    for bad in (4, -1):   # the labels are checked at every replay (same shape): eager's error (the
        y = np.zeros(9, np.int64)     # warning comes once)
        y[5] = bad
        with warnings.catch_warnings(record=True) as seen, pytest.raises(RuntimeError, match="class values"):
            warnings.simplefilter("always")
            encode(cr.tensor(y))
        assert [str(w.message) for w in seen if "labels outside" in str(w.message)] or bad == -1
    assert encode.stats == {"traces": 1, "replays": 2, "eager": 2}
    with pytest.warns(CompileWarning, match="reads a tensor's value"):
        assert inferred(cr.tensor(np.array([0, 2]))).shape == (2, 3)
    assert inferred(cr.tensor(np.array([0, 5]))).shape == (2, 6)


def test_decorator_forms_and_arguments():
    @cr.compile
    def f(x):
        return (x * x).sum()

    @cr.compile(fullgraph=True, mode="reduce-overhead")
    def g(x):
        return x.relu().mean()

    x = cr.randn(3, 3)
    assert f(x).item() == pytest.approx((x * x).sum().item())
    assert g(x).item() == pytest.approx(x.relu().mean().item())
    assert cr.compile(f._fn, disable=True) is f._fn
    with pytest.raises(ValueError, match="dynamic=True"):
        cr.compile(f._fn, dynamic=True)
    with pytest.raises(ValueError, match="unknown mode"):
        cr.compile(f._fn, mode="fast")
    with pytest.raises(TypeError, match="function or a Module"):
        cr.compile(3)


def test_generic_ops_replay_through_their_own_rules():
    # ops without a kernel (tanh, matmul, broadcasting add, sum over an axis) replay through their
    # own forward and backward; a gradient reaching an argument tensor accumulates as in eager
    w = cr.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)

    def step(x):
        w.grad = None
        loss = ((x @ w).tanh() + w.sum(0)).pow(2).mean()
        loss.backward()
        return loss, w.grad

    f = cr.compile(step)
    for seed in range(3):
        x = cr.tensor(np.random.default_rng(seed).standard_normal((5, 3)))
        lc, gc = f(x)
        le, ge = step(x)
        np.testing.assert_allclose(lc.detach().numpy(), le.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(gc.detach().numpy(), ge.detach().numpy(), rtol=1e-12)
    assert f.stats["replays"] == 2


def test_out_of_range_labels_fall_back_to_the_eager_error():
    _, _, step = make_step([4, 3], "sgd", np.float32)
    compiled = cr.compile(step)
    x, y = batches(1, 4, 4, 3, np.float32)[0]
    compiled(x, y), compiled(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        with pytest.raises(ValueError, match="outside the range"):
            compiled(x, cr.tensor([0, 1, 7, 2]))


def test_work_on_arrays_the_trace_cannot_see_is_caught_by_the_first_replay():
    # a hand-written SGD on .data: an in-place op (seen by the trace) or NumPy on the array (seen by
    # the first replay, which is checked against the eager step); either way the function then runs
    # eagerly
    w_e = cr.tensor([1.0, -2.0, 0.5], requires_grad=True)
    w_c = cr.tensor([1.0, -2.0, 0.5], requires_grad=True)

    def make(w):
        def step(x):
            w.grad = None
            loss = (w * x).pow(2).sum()
            loss.backward()
            w.data -= 0.1 * w.grad.data
            return loss
        return step

    eager, compiled = make(w_e), cr.compile(make(w_c))
    xs = [cr.tensor(np.random.default_rng(i).standard_normal(3)) for i in range(4)]
    with pytest.warns(CompileWarning, match="replay changed|in place"):
        for x in xs:
            np.testing.assert_allclose(compiled(x).item(), eager(x).item(), rtol=1e-12)
    np.testing.assert_allclose(w_c.detach().numpy(), w_e.detach().numpy(), rtol=1e-12)
    assert compiled.stats["eager"] >= 2


def convnet(*extra, dtype=np.float32, seed=0):
    """A small convnet (2x8x8 images, 5 classes): Conv2d, [extra], ReLU, MaxPool2d, Flatten, Linear."""
    cr.manual_seed(seed)
    nn = cr.nn
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), *extra, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 4 * 4, 5))
    return net.double() if dtype == np.float64 else net


def image_batches(n_steps, dtype, n=4, seed=1):
    rng = np.random.default_rng(seed)
    return [(cr.tensor(rng.standard_normal((n, 2, 8, 8)).astype(dtype)), cr.tensor(rng.integers(0, 5, n)))
            for _ in range(n_steps)]


def assert_same_modules(net_c, net_e, **tol):
    for (name, pe), pc in zip(net_e.named_parameters(), net_c.parameters()):
        np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), err_msg=name, **tol)
        np.testing.assert_allclose(pc.grad.detach().numpy(), pe.grad.detach().numpy(), err_msg=name, **tol)
    for (name, be), bc in zip(net_e.named_buffers(), net_c.buffers()):
        np.testing.assert_allclose(np.asarray(bc), np.asarray(be), err_msg=name, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt_name", ["sgd", "momentum", "adam", "adamw"])
def test_compiled_convnet_matches_eager_for_50_steps(opt_name, dtype):
    nets = convnet(dtype=dtype), convnet(dtype=dtype)
    eager, step = (training_step(net, OPTIMIZERS[opt_name](net.parameters())) for net in nets)
    compiled = cr.compile(step)
    for x, y in image_batches(50, dtype):
        np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), **tolerance(dtype))
    assert_same_modules(nets[1], nets[0], **tolerance(dtype))
    assert compiled.stats == {"traces": 1, "replays": 49, "eager": 0}


def test_batchnorm_in_training_replays_and_updates_its_running_statistics():
    # the rule updates running_mean/var in place (the replay runs it on the module's own arrays) and
    # the module counts num_batches_tracked in Python (the replay repeats the count)
    nets = convnet(cr.nn.BatchNorm2d(4)), convnet(cr.nn.BatchNorm2d(4))
    eager, step = (training_step(net, cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)) for net in nets)
    compiled = cr.compile(step)
    for x, y in image_batches(12, np.float32):
        np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), rtol=1e-5, atol=1e-6)
    assert_same_modules(nets[1], nets[0], rtol=1e-5, atol=1e-6)
    assert int(nets[1][1].num_batches_tracked) == 12
    assert compiled.stats == {"traces": 1, "replays": 11, "eager": 0}
    model = cr.compile(nets[1])   # eval mode: the running statistics, read afresh at every call
    nets[1].eval(), nets[0].eval()
    x = image_batches(1, np.float32, seed=5)[0][0]
    with cr.no_grad():
        model(x), model(x)
        stats = {"1.running_mean": cr.tensor(np.array([0.5, -1, 2, 0], np.float32)),
                 "1.running_var": cr.tensor(np.array([2, 3, 4, 0.5], np.float32))}
        for net in nets:
            net.load_state_dict({**net.state_dict(), **stats})   # new arrays in the module's buffers
        np.testing.assert_allclose(model(x).detach().numpy(), nets[0](x).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert model._compiled.stats == {"traces": 1, "replays": 2, "eager": 0}


def test_batchnorm_with_a_cumulative_average_runs_eagerly_with_the_eager_numbers():
    # momentum=None: the factor 1/num_batches_tracked changes every call, which a replay would not
    # repeat; the checked first replay sees the running statistics differ and the step runs eagerly
    nets = convnet(cr.nn.BatchNorm2d(4, momentum=None)), convnet(cr.nn.BatchNorm2d(4, momentum=None))
    eager, step = (training_step(net, cr.optim.SGD(net.parameters(), lr=0.1)) for net in nets)
    compiled = cr.compile(step)
    with pytest.warns(CompileWarning, match="runs eagerly: its replay changed a module buffer"):
        for x, y in image_batches(4, np.float32):
            np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), rtol=1e-6)
    assert_same_modules(nets[1], nets[0], rtol=1e-6, atol=1e-7)
    strict = cr.compile(step, fullgraph=True)
    with pytest.raises(CompileError, match="module buffer"):
        for x, y in image_batches(2, np.float32):   # the trace, then the checked first replay
            strict(x, y)


def test_a_buffer_replaced_in_python_runs_eagerly_naming_it():
    class Total(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", np.array([1.0, 2.0]))

        def forward(self, x):
            self.scale = self.scale * 2   # a new array each call, not a counter
            return x * cr.tensor(self.scale)

    m = Total()
    f = cr.compile(lambda x: m(x).sum())
    with pytest.warns(CompileWarning, match="replaces the buffer 'scale' of Total"):
        values = [f(cr.ones(2)).item() for _ in range(3)]
    assert values == [6.0, 12.0, 24.0]
    with pytest.raises(CompileError, match="replaces the buffer 'scale'"):
        cr.compile(lambda x: m(x).sum(), fullgraph=True)(cr.ones(2))


def test_a_changed_module_attribute_retraces_and_one_changed_by_the_step_runs_eagerly():
    # a layer's settings (negative_slope, eps, p...) become the options of its ops: they are guards
    net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.LeakyReLU(0.1))
    f = cr.compile(lambda x: net(x).sum(), fullgraph=True)
    x = cr.tensor(np.linspace(-2, 2, 6).reshape(2, 3))
    f(x), f(x)
    net[1].negative_slope = 0.5
    np.testing.assert_allclose(f(x).item(), net(x).sum().item(), rtol=1e-6)
    assert f.stats == {"traces": 2, "replays": 1, "eager": 0}

    class Counting(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return x * 2

    m = Counting()
    g = cr.compile(lambda x: m(x).sum())
    with pytest.warns(CompileWarning, match="changes the attribute 'calls' of Counting"):
        for _ in range(3):
            g(x)
    assert m.calls == 3


def test_a_module_with_hooks_runs_eagerly_also_when_the_hooks_come_after_the_trace():
    # hooks are Python at every call (the training diagnostics record through them): a replay would
    # skip them, so a step that calls a hooked module runs eagerly
    from chainrule.nn.probes import Probes
    net, opt, step = make_step([6, 5, 3], "sgd", np.float32)
    compiled = cr.compile(step)
    data = batches(5, 4, 6, 3, np.float32)
    for x, y in data[:2]:
        compiled(x, y)
    probes = Probes(net, steps=())
    with pytest.warns(CompileWarning, match="calls ReLU, which has hooks"):
        for x, y in data[2:]:
            compiled(x, y)
            probes.end_step(lr=0.1)
    assert compiled.stats == {"traces": 2, "replays": 1, "eager": 2}
    assert all(np.isfinite(probes.data["layers"]["1"]["act_mean"]))
    with pytest.raises(CompileError, match="hooks"):
        cr.compile(step, fullgraph=True)(*data[0])


def test_dropout_in_training_replays_a_fresh_mask_and_in_eval_replays():
    # the replay draws each call's mask from the default stream, as eager does (test_compile_random.py
    # checks the streams bit for bit); in eval mode dropout is the identity
    nets = convnet(cr.nn.Dropout(0.3)), convnet(cr.nn.Dropout(0.3))
    eager, step = (training_step(net, cr.optim.SGD(net.parameters(), lr=0.1)) for net in nets)
    compiled = cr.compile(step, fullgraph=True)
    for i, (x, y) in enumerate(image_batches(4, np.float32)):
        cr.manual_seed(i)
        lc = compiled(x, y).item()
        cr.manual_seed(i)
        np.testing.assert_allclose(lc, eager(x, y).item(), rtol=1e-5)
    assert compiled.stats == {"traces": 1, "replays": 3, "eager": 0}
    model = cr.compile(nets[1].eval(), fullgraph=True)
    x = image_batches(1, np.float32)[0][0]
    with cr.no_grad():
        outs = [model(x).detach().numpy() for _ in range(3)]
    np.testing.assert_array_equal(outs[2], nets[1](x).detach().numpy())
    assert model._compiled.stats == {"traces": 1, "replays": 2, "eager": 0}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layernorm_var_and_std_replay_through_their_rules(dtype):
    def make():
        cr.manual_seed(0)
        net = cr.nn.Sequential(cr.nn.Linear(6, 8), cr.nn.LayerNorm(8), cr.nn.Tanh(), cr.nn.Linear(8, 3))
        return net.double() if dtype == np.float64 else net

    def make_step(net, opt):
        def step(x, y):
            opt.zero_grad()
            h = net(x)
            loss = F.cross_entropy(h, y) + 0.1 * h.var(dim=1).mean() + 0.1 * h.std() + \
                0.01 * x.var(dim=0, correction=0, keepdim=True).sum()
            loss.backward()
            opt.step()
            return loss
        return step

    nets = make(), make()
    eager, step = (make_step(net, cr.optim.Adam(net.parameters(), lr=1e-2)) for net in nets)
    compiled = cr.compile(step, fullgraph=True)
    for x, y in batches(10, 5, 6, 3, dtype):
        np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), **tolerance(dtype))
    assert_same_modules(nets[1], nets[0], **tolerance(dtype))
    assert compiled.stats == {"traces": 1, "replays": 9, "eager": 0}


def trainer(compile, lr=0.1, epochs=3, model=None, batch=16):
    cr.manual_seed(0)
    ds = cr.data.spiral(40, 3)
    model = model or cr.nn.MLP([2, 32, 32, 3])
    opt = cr.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = cr.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    return cr.train.Trainer(model, F.cross_entropy, opt, cr.data.DataLoader(ds, batch, shuffle=True, seed=1),
                            cr.data.DataLoader(ds, 64), scheduler=sched, epochs=epochs, reg=1e-3, progress=False,
                            compile=compile)


def test_the_trainer_compiles_the_whole_step_with_the_weight_gradients_folded_into_the_update():
    pytest.importorskip("scipy", reason="the fold uses SciPy's BLAS; without it the update is NumPy's")
    from chainrule.compiler.update import PendingGrad
    eager, compiled = trainer(False), trainer(True)
    he, hc = eager.fit(), compiled.fit()
    for key in ("iter_loss", "train_loss", "val_loss", "train_acc", "val_acc", "lr"):
        np.testing.assert_allclose(getattr(hc, key), getattr(he, key), rtol=1e-5, atol=1e-6, err_msg=key)
    assert compiled.compiled.stats["eager"] == 0 and compiled.compiled.stats["replays"] > 10
    linears = [m for m in compiled.model.modules() if isinstance(m, cr.nn.Linear)]
    assert all(type(m.weight._grad) is PendingGrad for m in linears)   # dW was never stored
    assert_same_modules(compiled.model, eager.model, rtol=1e-5, atol=1e-6)


def test_the_compiled_trainer_stops_on_a_nan_loss_before_the_update():
    runs = []
    for compile in (False, True):
        t = trainer(compile, lr=1e4, epochs=2)   # diverges at the fourth step
        with np.errstate(all="ignore"), pytest.raises(cr.train.NonFiniteLoss, match=r"at step \d+ .*lower"), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)   # (the replay hands a NaN loss to eager)
            t.fit()
        runs.append((t, len(t.history.iter_loss)))
    (te, ne), (tc, nc) = runs
    assert nc == ne and tc.compiled.stats["replays"] > 0
    for pe, pc in zip(te.model.parameters(), tc.model.parameters()):   # the failing step changed nothing
        assert np.isfinite(pc.detach().numpy()).all()
        np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=1e-5)


def test_the_compiled_trainer_runs_a_convnet_with_batchnorm():
    def model():
        cr.manual_seed(0)
        return cr.nn.Sequential(cr.nn.Unflatten(1, (1, 2, 1)), cr.nn.Conv2d(1, 4, (2, 1)), cr.nn.BatchNorm2d(4),
                                cr.nn.ReLU(), cr.nn.Flatten(), cr.nn.Linear(4, 3))
    eager, compiled = trainer(False, model=model()), trainer(True, model=model())
    he, hc = eager.fit(), compiled.fit()
    np.testing.assert_allclose(hc.iter_loss, he.iter_loss, rtol=1e-5, atol=1e-6)
    assert compiled.compiled.stats["eager"] == 0
    assert_same_modules(compiled.model, eager.model, rtol=1e-5, atol=1e-6)


def cli_train(out, *flags, check=True):
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "chainrule", "train", "--out", str(out), "--quiet", *flags],
                       capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
        assert "Traceback" not in p.stderr and "CompileWarning" not in p.stderr, p.stderr
    return p


def metrics(out):
    import json
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_train_command_with_compile_matches_eager(tmp_path):
    import json
    flags = ("--dataset", "spiral", "--epochs", "4", "--hidden", "64,64")
    cli_train(tmp_path / "e", *flags), cli_train(tmp_path / "c", *flags, "--compile")
    eager, compiled = metrics(tmp_path / "e"), metrics(tmp_path / "c")
    assert len(eager) == len(compiled) == 4
    for a, b in zip(eager, compiled):
        for key in ("train_loss", "val_loss", "train_acc", "val_acc", "lr"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key
    assert json.loads((tmp_path / "c" / "config.json").read_text())["run"]["compile"] is True


def test_train_command_takes_compiles_mode_and_refuses_an_unknown_one_in_one_line(tmp_path):
    import json
    flags = ("--dataset", "spiral", "--epochs", "2", "--hidden", "32")
    cli_train(tmp_path / "e", *flags), cli_train(tmp_path / "c", *flags, "--compile", "max-autotune")
    for a, b in zip(metrics(tmp_path / "e"), metrics(tmp_path / "c")):   # within float rounding
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4, abs=1e-6)
    assert json.loads((tmp_path / "c" / "config.json").read_text())["run"]["compile"] == "max-autotune"
    p = cli_train(tmp_path / "x", *flags, "--compile", "fastest", check=False)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].endswith(
        "--compile: unknown mode 'fastest'; choose from default, reduce-overhead, max-autotune, "
        "max-autotune-no-cudagraphs"), p.stderr


def test_train_command_compiles_each_rank_of_an_mpi_run(tmp_path):
    # each rank replays forward and backward; the Allreduce and the update follow, as in eager
    try:
        from chainrule.distributed.launch import find_mpiexec
        find_mpiexec()
        import mpi4py  # noqa: F401
    except (ImportError, FileNotFoundError):
        pytest.skip("mpiexec or mpi4py is not installed (pip install 'chainrule[distributed]')")
    flags = ("--dataset", "spiral", "--epochs", "3")
    cli_train(tmp_path / "e", *flags), cli_train(tmp_path / "c", *flags, "--compile", "--nproc", "2")
    eager, compiled = metrics(tmp_path / "e"), metrics(tmp_path / "c")
    assert len(eager) == len(compiled) == 3
    for a, b in zip(eager, compiled):
        for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key


def test_train_command_compiles_a_convnet(tmp_path):
    from files import write_mnist
    write_mnist(tmp_path / "m", n_train=40, n_test=10)
    flags = ("--dataset", "mnist", "--data-dir", str(tmp_path / "m"), "--model", "convnet", "--channels", "4",
             "--kernels", "3", "--hidden", "8", "--epochs", "2", "--lr", "0.01", "--batch-size", "16")
    cli_train(tmp_path / "e", *flags), cli_train(tmp_path / "c", *flags, "--compile")
    for a, b in zip(metrics(tmp_path / "e"), metrics(tmp_path / "c")):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5, abs=1e-6)
        assert b["val_acc"] == a["val_acc"]


def test_a_compiled_function_called_inside_another_is_inlined_into_its_trace():
    w = cr.tensor([0.5, -1.0], requires_grad=True)

    def inner_fn(x):
        return (w * x).tanh()

    def make_outer(inner):
        def outer(x):
            w.grad = None
            loss = inner(x).pow(2).sum()
            loss.backward()
            return loss, w.grad
        return outer

    inner = cr.compile(inner_fn)
    f, eager = cr.compile(make_outer(inner)), make_outer(inner_fn)
    for seed in range(3):
        x = cr.tensor(np.random.default_rng(seed).standard_normal(2))
        (lc, gc), (le, ge) = f(x), eager(x)
        np.testing.assert_allclose(gc.detach().numpy(), ge.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(lc.detach().numpy(), le.detach().numpy(), rtol=1e-6)
    assert f.stats["replays"] == 2 and inner.stats["traces"] == 0


@pytest.mark.parametrize("opt_name", ["sgd", "momentum", "adam"])
def test_gradients_accumulate_across_calls_without_zero_grad_inside(opt_name):
    # the step leaves zero_grad to its caller, who sometimes skips it: a folded weight gradient
    # still in .grad is computed before the next replay overwrites the arrays it is made of
    net_e, opt_e, _ = make_step([5, 4, 3], opt_name, np.float64)
    net_c, opt_c, _ = make_step([5, 4, 3], opt_name, np.float64)

    def make(net, opt):
        def step(x, y):
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    eager, compiled = make(net_e, opt_e), cr.compile(make(net_c, opt_c))
    for i, (x, y) in enumerate(batches(9, 3, 5, 3, np.float64)):
        if i % 3 == 0:
            opt_e.zero_grad(), opt_c.zero_grad()
        np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), rtol=1e-10)
        for pe, pc in zip(net_e.parameters(), net_c.parameters()):
            np.testing.assert_allclose(pc.grad.detach().numpy(), pe.grad.detach().numpy(), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(pc.data, pe.data, rtol=1e-10, atol=1e-12)
    assert compiled.stats["eager"] == 0


def test_the_weight_gradient_is_folded_into_the_update_where_scipy_is_installed():
    pytest.importorskip("scipy", reason="the fold uses SciPy's BLAS; without it the update is NumPy's")
    from chainrule.compiler.update import PendingGrad
    net, _, step = make_step([6, 5, 3], "momentum", np.float32)
    compiled = cr.compile(step)
    for x, y in batches(3, 4, 6, 3, np.float32):
        compiled(x, y)
    assert type(net[0].weight._grad) is PendingGrad and type(net[2].weight._grad) is PendingGrad
    assert type(net[0].bias._grad) is PendingGrad and net[0].bias._grad.x is None  # D^T 1: a gemv
    assert net[0].weight.grad.shape == (5, 6)     # and .grad reads it as a tensor
    assert net[0].bias.grad.shape == (5,)
    # the pending bias gradient reads as the layer's gradient summed over the batch, as eager computes it
    g = net[0].bias._grad.d
    np.testing.assert_allclose(net[0].bias.grad.numpy(), g.sum(0), rtol=1e-6)


@pytest.mark.parametrize("opt_name", ["sgd", "sgd_wd", "momentum", "adam", "adamw"])
def test_the_fold_takes_the_gradient_an_l2_penalty_gave_the_weight_first(opt_name):
    # the penalty also reads W: its 2 lambda W reaches W.grad before the layer's D^T X, and the
    # update adds it to the folded product
    pytest.importorskip("scipy", reason="the fold uses SciPy's BLAS; without it the update is NumPy's")
    from chainrule.compiler.update import PendingGrad

    def make():
        net, opt, _ = make_step([6, 5, 3], opt_name, np.float64)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y) + 1e-2 * F.l2_penalty(net)
            loss.backward()
            opt.step()
            return loss
        return net, step

    (net_e, eager), (net_c, step) = make(), make()
    compiled = cr.compile(step, fullgraph=True)
    for x, y in batches(10, 4, 6, 3, np.float64):
        np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), rtol=1e-12)
    assert type(net_c[0].weight._grad) is PendingGrad and net_c[0].weight._grad.extra is not None
    assert_same_modules(net_c, net_e, rtol=1e-11, atol=1e-13)


def test_without_scipy_the_update_is_numpys_and_the_numbers_the_same(monkeypatch):
    import chainrule.compiler.update as update
    monkeypatch.setattr(update, "_blas", None)   # as if SciPy were not installed
    run_parity([7, 6, 3], "momentum", np.float64, steps=5)


def test_gradients_of_leaf_inputs_are_fresh_arrays_each_call():
    # the logits and a layer input are leaves here: their .grad must not be a buffer that the next
    # replay overwrites
    w = cr.tensor(np.linspace(-1, 1, 12).reshape(3, 4).astype(np.float32), requires_grad=True)

    def step(x, y):
        x.grad = None
        loss = F.cross_entropy(F.linear(x, w).relu() * 1.0, y) + F.cross_entropy(x[:, :3] * 1.0, y)
        loss.backward()
        return x.grad

    f = cr.compile(step)
    rng = np.random.default_rng(0)
    xs = [cr.tensor(rng.standard_normal((2, 4)).astype(np.float32), requires_grad=True) for _ in range(4)]
    y = cr.tensor([0, 2])
    kept = [f(x, y) for x in xs]
    for x, g in zip(xs, kept):
        np.testing.assert_allclose(g.detach().numpy(), x.grad.detach().numpy())
        np.testing.assert_allclose(g.detach().numpy(), step(x.detach().requires_grad_(), y).detach().numpy(),
                                   rtol=1e-6)
    assert f.stats["replays"] == 3


def test_a_compiled_model_in_training_returns_scores_whose_backward_is_replayed():
    def make():
        cr.manual_seed(0)
        net = cr.nn.MLP([6, 5, 3])
        return net, cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    (net_e, opt_e), (net_c, opt_c) = make(), make()
    model = cr.compile(net_c)
    for x, y in batches(6, 4, 6, 3, np.float32):
        for net, opt, m in ((net_e, opt_e, net_e), (net_c, opt_c, model)):
            opt.zero_grad()
            out = m(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
        assert out.requires_grad
    assert "CompiledFunction" in repr(out.grad_fn)
    for pe, pc in zip(net_e.parameters(), net_c.parameters()):
        np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=1e-6, atol=1e-7)
    assert model._compiled.stats == {"traces": 1, "replays": 5, "eager": 0}


def test_a_backward_after_the_next_call_is_refused():
    net = cr.nn.Linear(3, 2)
    model = cr.compile(net)
    x = cr.randn(4, 3)
    model(x), model(x)             # the trace, the checked first replay
    first = model(x).sum()
    model(x)                       # overwrites the buffers the first output's backward would read
    with pytest.raises(RuntimeError, match="called again"):
        first.backward()


def test_backward_from_a_leaf_and_with_a_given_gradient():
    w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)

    def step(g):
        w.grad = None
        w.backward(g)              # a leaf as the root: its gradient is the seed
        (w * w).backward(g * 2)    # a seed that is an argument
        return w.grad

    f = cr.compile(step)
    for k in range(3):
        g = cr.tensor([1.0, -1.0, 0.5]) * (k + 1)
        np.testing.assert_allclose(f(g).detach().numpy(), step(g).detach().numpy())
    assert f.stats["replays"] == 2


@pytest.mark.parametrize("name,fn", [
    ("smooth_l1_loss", lambda z: F.smooth_l1_loss(z, cr.zeros(*z.shape), beta=1.0)),
    ("softplus", lambda z: F.softplus(z, threshold=2.0).sum()),
    ("threshold", lambda z: F.threshold(z, 2.0, -1.0).sum())])
def test_a_mask_uniform_at_trace_time_is_not_frozen(name, fn):
    """A mask some front code computes with NumPy from the data may be all-True when traced; a later batch
    that crosses the kink must still give eager's result (the step runs eagerly, with the one warning)."""
    w = cr.ones(4, requires_grad=True)

    def step(x):
        y = fn(x * w)
        y.backward()
        return y
    compiled = cr.compile(step)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        for i in range(4):
            x = cr.tensor(np.random.default_rng(i).standard_normal((3, 4)).astype(np.float32) * (0.2 if i < 2 else 10))
            assert compiled(x).item() == pytest.approx(step(x).item(), rel=1e-6), (name, i)


def test_gaussian_nll_losss_clamp_replays_when_a_later_batch_needs_it():
    """The var clamp is made of ops, so it is captured and replayed: a batch whose var falls below eps
    after the trace (where nothing was clamped) gets eager's loss."""
    w = cr.ones(4, requires_grad=True)

    def step(x, var):
        y = F.gaussian_nll_loss(x * w, cr.zeros(3, 4), var)
        y.backward()
        return y
    compiled = cr.compile(step)
    for i in range(4):
        x = cr.tensor(np.random.default_rng(i).standard_normal((3, 4)).astype(np.float32))
        var = cr.tensor(np.full((3, 4), 1.0 if i < 2 else 1e-9, np.float32))
        assert compiled(x, var).item() == pytest.approx(step(x, var).item(), rel=1e-6), i


def test_a_key_padding_mask_that_changes_between_batches_is_followed():
    """MultiheadAttention turns a bool key_padding_mask into its -inf/0 form by ops, so the capture follows
    it: a mask with no padding at trace time (uniform) and padding in later batches gives eager's values."""
    cr.manual_seed(0)
    mha = cr.nn.MultiheadAttention(8, 2, batch_first=True).double()
    x = cr.tensor(np.random.default_rng(3).standard_normal((2, 5, 8)))

    def step(pad):
        y = (mha(x, x, x, key_padding_mask=pad)[0] ** 2).sum()
        y.backward()
        return y
    compiled = cr.compile(step)
    for i in range(4):
        m = np.zeros((2, 5), bool)
        if i >= 2:
            m[:, 3:] = True
        pad = cr.tensor(m)
        assert compiled(pad).item() == pytest.approx(step(pad).item(), rel=1e-9), i


def test_instance_norms_running_statistics_are_read_afresh_in_eval():
    """InstanceNorm in eval mode normalises by its running statistics through ops on the buffers, so a
    compiled step sees a load_state_dict made after the trace (the fresh 0/1 statistics are uniform)."""
    m = cr.nn.InstanceNorm1d(3, track_running_stats=True).eval()
    x = cr.tensor(np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32))
    compiled = cr.compile(lambda x: m(x).sum() * 1.0)
    for _ in range(2):
        compiled(x)
    m.load_state_dict({"running_mean": cr.tensor([1.0, 2.0, 3.0]), "running_var": cr.tensor([4.0, 4.0, 4.0]),
                       "num_batches_tracked": cr.tensor(5)})
    assert compiled(x).item() == pytest.approx(m(x).sum().item(), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["F", "C"])
@pytest.mark.parametrize("n", [0, 1, 40])
def test_the_folded_gemm_is_the_product_in_every_layout(dtype, order, n):
    # W (out, in) <- beta W + alpha D^T X, through NumPy's own BLAS for large GEMMs (batch 32-256, W of
    # 65536 elements or more; blas.py), SciPy's otherwise: both must write into W itself
    from chainrule.compiler import blas
    rng = np.random.default_rng(n)
    for out, inp in [(3, 7), (64, 1100)]:
        x, d = rng.standard_normal((n, inp)).astype(dtype), rng.standard_normal((n, out)).astype(dtype)
        w = np.asarray(rng.standard_normal((out, inp)), dtype, order=order)
        expected, before = 0.5 * w - 0.25 * (d.T @ x), w
        assert blas.gemm_into(w, -0.25, x, d, 0.5) and w is before
        np.testing.assert_allclose(w, expected, **tolerance(dtype))


def test_a_gpt_style_step_with_positions_from_arange_replays():
    # minGPT's forward: token and position embeddings, the positions made by arange inside the step,
    # a causal attention, cross-entropy with ignore_index=-1 (padding), AdamW and clipping
    class Tiny(cr.nn.Module):
        def __init__(self, vocab=11, block=6, d=8):
            super().__init__()
            self.tok, self.pos = cr.nn.Embedding(vocab, d), cr.nn.Embedding(block, d)
            self.attn, self.head = cr.nn.Linear(d, 3 * d), cr.nn.Linear(d, vocab)

        def forward(self, idx, targets):
            b, t = idx.shape
            pos = cr.arange(0, t, dtype=cr.long)
            x = self.tok(idx) + self.pos(pos)
            q, k, v = self.attn(x).split(x.shape[-1], dim=2)
            x = x + F.scaled_dot_product_attention(q, k, v, is_causal=True)
            logits = self.head(x)
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    def make():
        cr.manual_seed(3)
        model = Tiny().double()
        opt = cr.optim.AdamW(model.parameters(), lr=1e-2)

        def step(idx, targets):
            opt.zero_grad(set_to_none=True)
            loss = model(idx, targets)
            loss.backward()
            cr.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return loss
        return model, step

    (m_e, eager), (m_c, step) = make(), make()
    compiled = cr.compile(step, fullgraph=True)
    rng = np.random.default_rng(13)
    for _ in range(5):
        idx = rng.integers(0, 11, (2, 6))
        targets = np.roll(idx, -1, 1)
        targets[:, -1] = -1
        a = compiled(cr.tensor(idx), cr.tensor(targets)).item()
        b = eager(cr.tensor(idx), cr.tensor(targets)).item()
        np.testing.assert_allclose(a, b, rtol=1e-12)
    for pc, pe in zip(m_c.parameters(), m_e.parameters()):
        np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert compiled.stats == {"traces": 1, "replays": 4, "eager": 0}
