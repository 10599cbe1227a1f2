"""chainrule.compile and values computed from the data: comparisons are recorded ops (a replay
repeats them on each call's data); an array the front computes from the data with NumPy, outside
the ops, is never kept as a constant of the trace: the step runs eagerly, naming the reason."""
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import CompileError, CompileWarning
from chainrule.nn import functional as F
from chainrule.rules.elementwise import Compare


def calls(f, xs):
    """f on each array of xs (as tensors), CompileWarnings as errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        return [f(cr.tensor(x)).item() for x in xs]


@pytest.mark.parametrize("body", [
    lambda x: cr.where(x.sum() > 0, x.sum(), -x.sum()),     # a 0-d mask: True at trace time
    lambda x: (x * (x > 0).float()).sum(),                    # all True at trace time, mixed later
    lambda x: (x * (0 < x)).sum() + (x >= 1).long().sum() + (x != x).sum(),
    lambda x: (x * x.gt(0.5).to(x.dtype)).mean(),
    # masks combined by &, |, ^, ~ and the logical ops are ops too
    lambda x: (x * ((x > 0) & ~(x > 1))).sum() + (x * ((x < -1) | (x > 1.5) ^ (x > 2))).sum(),
    lambda x: (x * cr.logical_and(x > 0, cr.logical_not(x > 1.2))).sum() + cr.logical_or(x, x < 0).sum(),
    # and so is a rounded quotient (//, %, fmod, div's rounding_mode)
    lambda x: ((x % 1.5) * x + x // 0.5 + cr.fmod(x, 0.7) + cr.div(x, 0.3, rounding_mode="trunc")).sum(),
])
def test_comparisons_are_replayed_on_each_calls_data(body):
    rng = np.random.default_rng(0)
    xs = [np.abs(rng.standard_normal((4, 3))) + 0.6 for _ in range(2)] + \
        [rng.standard_normal((4, 3)) for _ in range(3)]
    compiled = cr.compile(body, fullgraph=True)
    assert calls(compiled, xs) == calls(body, xs)
    assert compiled.stats == {"traces": 1, "replays": 4, "eager": 0}


@pytest.mark.parametrize("body", [
    lambda x: (x * cr.arange(x.shape[1]).float()).sum(),
    lambda x: (x @ cr.eye(3) * cr.linspace(0, 1, 3)).sum(),
    lambda x: (x * cr.tensor([1.0, -2.0, 0.5], dtype=cr.float64)).sum() + cr.as_tensor([[1, 2, 3]]).sum(),
    lambda x: (x * cr.arange(0, 6, 2, dtype=cr.float64, device="cpu")).sum() + cr.logspace(0, 2, 3).sum(),
], ids=["arange", "eye, linspace", "tensor, as_tensor", "keywords, logspace"])
def test_factories_from_python_values_are_constants_of_the_replay(body):
    # arange(T), eye(n), a literal list: made from Python values alone, so the replay keeps them (a
    # position index in a transformer's forward, a fixed weighting)
    rng = np.random.default_rng(12)
    xs = [rng.standard_normal((4, 3)) for _ in range(4)]
    compiled = cr.compile(body, fullgraph=True)
    assert calls(compiled, xs) == calls(body, xs)
    assert compiled.stats == {"traces": 1, "replays": 3, "eager": 0}


def test_a_factory_constant_handed_out_and_changed_leaves_the_replay_alone():
    def body(x):
        w = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64)
        return (x * w).sum(), w

    compiled = cr.compile(body, fullgraph=True)
    for _ in range(3):
        total, w = compiled(cr.ones(2, 3, dtype=cr.float64))
        assert total.item() == 12.0
        w += 1   # the caller's tensor (the trace's own, then copies): the replay keeps its constant
        assert w.tolist() == [2.0, 3.0, 4.0]
    assert compiled.stats["replays"] == 2


def test_a_factory_fed_with_the_datas_values_is_not_a_constant():
    with pytest.raises(CompileError, match="reads a tensor's value"):
        cr.compile(lambda x: (x * cr.tensor(x.tolist())).sum(), fullgraph=True)(cr.ones(2))


def test_a_comparison_outside_any_graph_has_no_gradient():
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    m = x > 0
    assert m.dtype == cr.bool and not m.requires_grad and m.grad_fn is None
    assert (x.long() == cr.tensor([1, -2, 3])).all() and not x.long().requires_grad
    np.testing.assert_array_equal((2 <= x).numpy(), [False, False, True])


@pytest.mark.parametrize("body, what", [
    # NumPy on a tensor (Tensor.__array_ufunc__): uniform at trace time (all ones), not later
    (lambda x: (x * np.sign(x.detach())).sum(), "np.sign of the data"),
    # front code that builds its mask with NumPy from the data: 0-d, True at trace time
    (lambda x: cr.where(x.sum()._data > 0.5, x.sum(), cr.tensor(0.0)), "a 0-d mask made by NumPy"),
    # front code passing an op a 0-d option computed from the data (as a library function would)
    (lambda x: Compare.apply(x, fn=np.greater, other=x._data.mean()).sum(), "a 0-d option"),
])
def test_an_array_computed_from_the_data_outside_the_ops_is_not_frozen(body, what):
    xs = [np.ones((2, 3)), np.ones((2, 3)), -np.arange(6.0).reshape(2, 3)]
    with pytest.raises(CompileError, match="computed from the step's data"):
        cr.compile(body, fullgraph=True)(cr.tensor(xs[0]))
    compiled = cr.compile(body)
    with pytest.warns(CompileWarning, match="computed from the step's data") as rec:
        out = [compiled(cr.tensor(x)).item() for x in xs]
    assert out == [body(cr.tensor(x)).item() for x in xs], what
    assert len([w for w in rec if issubclass(w.category, CompileWarning)]) == 1
    assert compiled.stats == {"traces": 1, "replays": 0, "eager": 2}


@pytest.mark.parametrize("name, body", [
    ("smooth_l1_loss", lambda x: F.smooth_l1_loss(x, x.detach() * 0 + 0.25, beta=1.5)),
    ("huber_loss", lambda x: F.huber_loss(x, x.detach() * 0 - 0.5, delta=0.5)),
    ("threshold", lambda x: F.threshold(x, 0.5, -1.0).sum()),
    ("hardshrink", lambda x: F.hardshrink(x, 1.0).sum()),
    ("prelu", lambda x: F.prelu(x, cr.tensor([0.25])).sum()),
    ("poisson_nll_loss", lambda x: F.poisson_nll_loss(x, (x.detach() * 0 + 1.5).abs(), full=True)),
    ("hinge_embedding_loss", lambda x: F.hinge_embedding_loss(x, (x.detach() - 0.5).sign())),
    ("cosine_embedding_loss", lambda x: F.cosine_embedding_loss(x, x.detach().flip(0), (x.detach()[:, 0] - 0.5).sign())),
    # shape constants (a causal mask, interpolation's taps): made by NumPy from shapes alone
    ("causal attention", lambda x: F.scaled_dot_product_attention(*[x.reshape(1, 1, 2, 3)] * 3, is_causal=True).pow(2).sum()),
    ("interpolate nearest", lambda x: F.interpolate(x.reshape(1, 1, 2, 3), scale_factor=1.5).pow(2).sum()),
    ("interpolate bilinear", lambda x: F.interpolate(x.reshape(1, 1, 2, 3), size=(3, 5), mode="bilinear").pow(2).sum()),
])
def test_the_library_masks_are_ops_and_replay_on_each_calls_data(name, body):
    # the masks of these functions (|d| < beta, x > threshold, ...) are comparisons, ops outside the
    # graph, so the replay makes them again from each call's values, and the gradients follow; the
    # arrays they make from shapes alone are noted as such (core.shape_constant) and kept
    xs = [np.full((2, 3), 2.0), np.full((2, 3), 0.1), np.arange(6.0).reshape(2, 3) - 2.5]

    def step(x):
        out = body(x)
        out.backward()
        return out.detach(), x.grad

    compiled = cr.compile(step, fullgraph=True)
    for v in xs:
        x1, x2 = cr.tensor(v, requires_grad=True), cr.tensor(v, requires_grad=True)
        (o1, g1), (o2, g2) = compiled(x1), step(x2)
        np.testing.assert_allclose(o1.numpy(), o2.numpy(), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-12, err_msg=name)
    assert compiled.stats == {"traces": 1, "replays": 2, "eager": 0}


def test_nll_loss_replays_and_an_ignored_label_sends_the_call_to_eager():
    # nll_loss's plain case (every label kept) is one op, NLL, with the labels as an input; a batch
    # with a label equal to ignore_index (-100, outside [0, C)) trips the label check at the replay,
    # and eager computes it with that row left out
    w = cr.tensor(np.random.default_rng(2).standard_normal((4, 3)), requires_grad=True)

    def step(x, y):
        loss = F.nll_loss(F.log_softmax(x @ w, dim=1), y)
        loss.backward()
        return loss.detach(), w.grad

    compiled = cr.compile(step)
    rng = np.random.default_rng(3)
    labels = [rng.integers(0, 3, 5) for _ in range(3)] + [np.array([0, -100, 2, 1, -100])]
    for i, y in enumerate(labels):
        x = cr.tensor(rng.standard_normal((5, 4)))
        w.grad = None
        if i < 3:
            l1, g1 = compiled(x, cr.tensor(y))
        else:
            with pytest.warns(CompileWarning, match="labels outside"):
                l1, g1 = compiled(x, cr.tensor(y))
        g1 = g1.numpy().copy()
        w.grad = None
        l2, g2 = step(x, cr.tensor(y))
        np.testing.assert_allclose(l1.item(), l2.item(), rtol=1e-12)
        np.testing.assert_allclose(g1, g2.numpy(), rtol=1e-12)
    assert compiled.stats == {"traces": 1, "replays": 2, "eager": 1}
    pick = cr.compile(lambda x, i: cr.gather(x, 1, i))
    for _ in range(3):
        assert pick(cr.ones(2, 3), cr.tensor([[0], [2]])).tolist() == [[1.0], [1.0]]
    for bad in (3, -1):   # NumPy would wrap -1 silently: the replay's check sends it to gather's error
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)
            with pytest.raises(Exception, match="gather"):
                pick(cr.ones(2, 3), cr.tensor([[0], [bad]]))
    assert pick.stats == {"traces": 1, "replays": 2, "eager": 2}


@pytest.mark.parametrize("loss_name", ["CrossEntropyLoss", "NLLLoss"])
def test_class_weighted_losses_replay_and_an_ignored_label_runs_eagerly(loss_name):
    # with class weights (here a module's buffer, as nn.CrossEntropyLoss(weight=...) keeps them) the
    # NLL op takes the weights as an input and picks each row's from its label: replayed
    crit = getattr(cr.nn, loss_name)(weight=cr.tensor([1.0, 3.0, 0.5]))
    w = cr.tensor(np.random.default_rng(4).standard_normal((4, 3)).astype(np.float32), requires_grad=True)

    def step(x, y):
        out = x @ w
        loss = crit(out if loss_name == "CrossEntropyLoss" else F.log_softmax(out, dim=1), y)
        loss.backward()
        return loss.detach(), w.grad

    compiled = cr.compile(step)
    rng = np.random.default_rng(5)
    labels = [rng.integers(0, 3, 6) for _ in range(3)] + [np.array([0, -100, 2, 1, 1, 2])]
    for i, y in enumerate(labels):
        x = cr.tensor(rng.standard_normal((6, 4)).astype(np.float32))
        w.grad = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)
            l1, g1 = compiled(x, cr.tensor(y))
        g1 = g1.numpy().copy()
        w.grad = None
        l2, g2 = step(x, cr.tensor(y))
        np.testing.assert_allclose(l1.item(), l2.item(), rtol=1e-6)
        np.testing.assert_allclose(g1, g2.numpy(), rtol=1e-5, atol=1e-7)
    assert compiled.stats == {"traces": 1, "replays": 2, "eager": 1}


@pytest.mark.parametrize("kw", [{}, {"p": 2, "margin": 0.5}, {"weight": [1.0, 3.0, 0.5]}], ids=str)
def test_multi_margin_loss_replays_on_each_calls_labels(kw):
    # the SVM loss's target column is picked by gather and left out by a comparison with the labels,
    # ops a replay repeats on each call's labels; a label outside [0, C) meets the eager error
    if "weight" in kw:
        kw = dict(kw, weight=cr.tensor(kw["weight"], dtype=cr.float64))
    w = cr.tensor(np.random.default_rng(6).standard_normal((4, 3)), requires_grad=True)

    def step(x, y):
        loss = F.multi_margin_loss(x @ w, y, **kw)
        loss.backward()
        return loss.detach(), w.grad

    compiled = cr.compile(step, fullgraph=True)
    rng = np.random.default_rng(7)
    for _ in range(4):
        x, y = cr.tensor(rng.standard_normal((6, 4))), cr.tensor(rng.integers(0, 3, 6))
        w.grad = None
        l1, g1 = compiled(x, y)
        g1 = g1.numpy().copy()
        w.grad = None
        l2, g2 = step(x, y)
        assert l1.item() == l2.item()
        np.testing.assert_array_equal(g1, g2.numpy())
    assert compiled.stats == {"traces": 1, "replays": 3, "eager": 0}
    lenient = cr.compile(step)
    for _ in range(2):
        lenient(x, y)
    with pytest.warns(CompileWarning), pytest.raises(IndexError, match="target holds class 3"):
        lenient(x, cr.tensor([0, 1, 2, 3, 0, 1]))


def test_a_detached_view_of_the_data_is_replayed_as_the_data():
    # h.detach() and h.data share h's array: the replay reads the op's output, not the traced values
    def body(x):
        h = x * 2
        return (h.detach() * 3 + h.data).sum() + x.detach().sum()
    xs = [np.ones((2, 3)) for _ in range(2)] + [np.arange(6.0).reshape(2, 3)]
    compiled = cr.compile(body, fullgraph=True)
    assert calls(compiled, xs) == calls(body, xs)
    assert compiled.stats == {"traces": 1, "replays": 2, "eager": 0}


def test_numpy_arguments_are_data_too():
    def body(x, m):
        return (x * cr.as_tensor(np.where(m > 0, 1.0, 0.0))).sum()   # all ones at trace time
    x = cr.ones(2, 3)
    with pytest.raises(CompileError, match="computed from the step's data"):
        cr.compile(body, fullgraph=True)(x, np.ones((2, 3)))
    compiled = cr.compile(body)
    with pytest.warns(CompileWarning, match="computed from the step's data"):
        compiled(x, np.ones((2, 3)))
    assert compiled(x, -np.ones((2, 3))).item() == 0.0


def test_the_step_keeps_plain_arrays_after_the_trace():
    # the trace hands the front derived views of the data: nothing of the step's state keeps one
    net = cr.nn.Linear(3, 2)
    opt = cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    target = cr.tensor([[0.5, -0.5]] * 4)

    def step(x):
        opt.zero_grad()
        loss = F.mse_loss(net(x), target) + (x.detach() > 0).float().mean()
        loss.backward()
        opt.step()
        return loss, x.detach()
    loss, d = cr.compile(step)(cr.ones(4, 3))
    for a in [loss._data, d._data] + [p._data for p in net.parameters()] + [p.grad._data for p in net.parameters()] + \
            [opt.state[p]["momentum_buffer"]._data if hasattr(opt.state[p]["momentum_buffer"], "_data") else
             opt.state[p]["momentum_buffer"] for p in net.parameters()]:
        assert type(a) is np.ndarray and (a.base is None or type(a.base) is np.ndarray)


@pytest.mark.parametrize("loss, kw", [
    ("cross_entropy", {"ignore_index": 0}),                      # a padding label, one of the classes
    ("cross_entropy", {"ignore_index": 0, "reduction": "sum"}),
    ("cross_entropy", {"ignore_index": 2, "weight": [1.0, 3.0, 0.5], "reduction": "none"}),
    ("cross_entropy", {"label_smoothing": 0.1, "weight": [1.0, 3.0, 0.5]}),
    ("cross_entropy", {"label_smoothing": 0.2, "ignore_index": 0}),
    ("cross_entropy", {"label_smoothing": 0.2, "ignore_index": 1, "weight": [1.0, 3.0, 0.5], "reduction": "sum"}),
    ("cross_entropy", {"ignore_index": 0, "spatial": True}),     # (N, C, d) scores, (N, d) labels
    ("nll_loss", {"ignore_index": 1}),
    ("nll_loss", {"ignore_index": 1, "weight": [1.0, 3.0, 0.5], "reduction": "none"}),
], ids=str)
def test_losses_with_an_ignored_class_or_smoothing_replay_on_each_calls_labels(loss, kw):
    # the ignored label is an option of the NLL op and smoothing's mask a comparison of the labels, so
    # these replay; batches with the ignored label here and there, and one where every label is ignored
    # (NaN, zero gradient) give eager's numbers
    kw = dict(kw)
    spatial = kw.pop("spatial", False)
    if "weight" in kw:
        kw["weight"] = cr.tensor(kw["weight"], dtype=cr.float64)
    w = cr.tensor(np.random.default_rng(8).standard_normal((4, 3)), requires_grad=True)

    def step(x, y):
        out = x @ w
        if spatial:
            out = out.reshape(2, 3, 3).permute(0, 2, 1)   # (N=2, C=3, d=3)
        if loss == "nll_loss":
            out = F.log_softmax(out, dim=1)
        result = getattr(F, loss)(out, y, **kw)
        result.sum().backward()
        return result.detach(), w.grad

    compiled = cr.compile(step, fullgraph=True)
    rng = np.random.default_rng(9)
    ignored = kw.get("ignore_index", 0)
    labels = [rng.integers(0, 3, 6) for _ in range(4)] + [np.full(6, ignored)]
    for y in labels:
        x, y = cr.tensor(rng.standard_normal((6, 4))), cr.tensor(y.reshape((2, 3) if spatial else 6))
        w.grad = None
        l1, g1 = compiled(x, y)
        g1 = g1.numpy().copy()
        w.grad = None
        l2, g2 = step(x, y)
        np.testing.assert_array_equal(l1.numpy(), l2.numpy())
        np.testing.assert_array_equal(g1, g2.numpy())
    assert compiled.stats == {"traces": 1, "replays": 4, "eager": 0}


@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
def test_labels_outside_the_classes_fall_back_to_the_eager_error(reduction):
    # the front checks the labels before applying the op; a replay must check them itself (a label
    # of -1 would index the last class)
    def loss(x, y):
        return F.cross_entropy(x, y, reduction=reduction).sum()
    x = cr.tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    compiled = cr.compile(loss)
    for _ in range(2):
        compiled(x, cr.tensor([1, 2, 1, 2]))
    with pytest.warns(CompileWarning, match="labels outside"), pytest.raises(ValueError, match="class -1"):
        compiled(x, cr.tensor([-1, 2, 1, 2]))
    with pytest.raises(ValueError, match="class 3"):   # (the warning is given once)
        compiled(x, cr.tensor([1, 2, 1, 3]))
    assert compiled(x, cr.tensor([0, 2, 1, 2])).item() == loss(x, cr.tensor([0, 2, 1, 2])).item()


def test_embedding_indices_outside_the_table_fall_back_to_the_eager_error():
    emb = cr.nn.Embedding(5, 3)

    def f(i):
        return emb(i).sum()
    compiled = cr.compile(f)
    for _ in range(2):
        compiled(cr.tensor([1, 2]))
    with pytest.warns(CompileWarning, match="indices outside the table"), pytest.raises(IndexError, match="-1"):
        compiled(cr.tensor([-1, 2]))   # NumPy would pick the last row
    assert compiled(cr.tensor([0, 4])).item() == f(cr.tensor([0, 4])).item()
    assert compiled.stats == {"traces": 1, "replays": 2, "eager": 1}
