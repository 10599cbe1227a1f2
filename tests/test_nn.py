"""Layers and losses: gradcheck in float64 and equality with PyTorch's modules (weights copied
through state_dict); Module behaviour; the lecture's full loss; XOR."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from oracle import check_op


def torch_copy(module, torch_module):
    """Load chainrule's weights into the torch module (and check the key names agree)."""
    sd = {k: torch.tensor(np.asarray(v)) for k, v in module.state_dict().items()}
    torch_module.load_state_dict(sd)
    return torch_module.double()


def compare_module(module, torch_module, x, train=True):
    module.double().train(train)
    torch_copy(module, torch_module).train(train)
    xc = cr.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    y, yt = module(xc), torch_module(xt)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-6, atol=1e-9)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=1e-6, atol=1e-9)
    tparams = dict(torch_module.named_parameters())
    for name, p in module.named_parameters():
        np.testing.assert_allclose(p.grad.data, tparams[name].grad.numpy(), rtol=1e-6, atol=1e-9,
                                   err_msg=name)


LAYERS = {
    "Linear": (lambda: nn.Linear(5, 3), lambda: torch.nn.Linear(5, 3), (4, 5)),
    "Linear_nobias": (lambda: nn.Linear(5, 3, bias=False), lambda: torch.nn.Linear(5, 3, bias=False), (4, 5)),
    "Linear_3d": (lambda: nn.Linear(5, 3), lambda: torch.nn.Linear(5, 3), (2, 4, 5)),
    "MLP": (lambda: nn.MLP([6, 8, 8, 3]), lambda: torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)),
        (5, 6)),
    "MLP_tanh": (lambda: nn.MLP([6, 8, 3], activation="tanh"), lambda: torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)), (5, 6)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4), lambda: torch.nn.BatchNorm1d(4), (6, 4)),
    "BatchNorm1d_3d": (lambda: nn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3), (4, 3, 5)),
    "Flatten": (lambda: nn.Flatten(), lambda: torch.nn.Flatten(), (2, 3, 4)),
    "Identity": (lambda: nn.Identity(), lambda: torch.nn.Identity(), (2, 3)),
    "ReLU": (lambda: nn.ReLU(), lambda: torch.nn.ReLU(), (3, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2), (3, 4)),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid(), (3, 4)),
    "Tanh": (lambda: nn.Tanh(), lambda: torch.nn.Tanh(), (3, 4)),
    "ELU": (lambda: nn.ELU(), lambda: torch.nn.ELU(), (3, 4)),
    "GELU": (lambda: nn.GELU(), lambda: torch.nn.GELU(), (3, 4)),
    "Softplus": (lambda: nn.Softplus(), lambda: torch.nn.Softplus(), (3, 4)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_pytorch_and_gradchecks(name):
    make, make_torch, shape = LAYERS[name]
    cr.manual_seed(0)
    x = np.random.default_rng(0).standard_normal(shape)
    compare_module(make(), make_torch(), x)
    m = make().double()
    xs = cr.tensor(x, requires_grad=True)
    assert cr.gradcheck(m, xs)


def test_batchnorm_running_stats_and_eval_match_pytorch():
    m, tm = nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)
    m.double()
    torch_copy(m, tm)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((8, 4)) * 2 + 1
        m(cr.tensor(x))
        tm(torch.tensor(x))
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(m.state_dict()[k], tm.state_dict()[k].numpy(), rtol=1e-10)
    compare_module(m, tm, rng.standard_normal((5, 4)), train=False)


def test_dropout_is_inverted_and_off_in_eval():
    cr.manual_seed(0)
    d = nn.Dropout(0.5)
    x = cr.ones(1000, 100)
    y = d(x).detach().numpy()
    assert set(np.unique(y)) == {0.0, 2.0}
    assert abs((y == 0).mean() - 0.5) < 0.01
    assert d.eval()(x) is x
    xs = cr.tensor(np.ones((3, 4)), requires_grad=True)
    out = nn.Dropout(0.3)(xs)
    out.sum().backward()
    np.testing.assert_allclose(xs.grad.data, out.data)  # gradient flows through the kept units only


def test_linear_init_matches_pytorch_in_distribution():
    cr.manual_seed(0)
    w = nn.Linear(400, 300).weight.detach().numpy()
    tw = torch.nn.Linear(400, 300).weight.detach().numpy()
    bound = 1 / np.sqrt(400)
    assert np.abs(w).max() <= bound and abs(np.abs(w).max() - bound) < 1e-3
    assert abs(w.std() - tw.std()) / tw.std() < 0.02 and abs(w.mean()) < 1e-3


@pytest.mark.parametrize("fn,args,expect_std", [
    (nn.init.kaiming_normal_, {"nonlinearity": "relu"}, np.sqrt(2 / 400)),
    (nn.init.kaiming_uniform_, {"nonlinearity": "relu"}, np.sqrt(2 / 400)),
    (nn.init.xavier_uniform_, {}, np.sqrt(2 / 700)),
    (nn.init.xavier_normal_, {}, np.sqrt(2 / 700)),
    (nn.init.normal_, {"std": 0.01}, 0.01),
])
def test_init_functions(fn, args, expect_std):
    t = cr.nn.Parameter(np.empty((300, 400), np.float32))
    fn(t, **args, rng=0)
    assert abs(t.detach().numpy().std() - expect_std) / expect_std < 0.02
    nn.init.zeros_(t)
    assert not t.data.any()


# ----------------------------------------------------------------------------- losses
def scores_and_labels(n=6, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)) * 2, rng.integers(0, c, n)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_matches_pytorch(reduction, smoothing):
    s, y = scores_and_labels()
    check_op(lambda t: F.cross_entropy(t, y, reduction=reduction, label_smoothing=smoothing),
             lambda t: TF.cross_entropy(t, torch.tensor(y), reduction=reduction, label_smoothing=smoothing), [s])


def test_cross_entropy_is_stable_for_huge_logits():
    x = cr.tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]], dtype="float64", requires_grad=True)
    loss = F.cross_entropy(x, [2, 1])
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.data).all()
    assert loss.item() == pytest.approx(1e4)


def svm_reference(s, y, margin=1.0):
    """The lecture's loop, written out."""
    total = 0.0
    for i in range(len(y)):
        for j in range(s.shape[1]):
            if j != y[i]:
                total += max(0.0, s[i, j] - s[i, y[i]] + margin)
    return total / len(y)


def test_svm_loss_lecture_numbers_and_reference():
    s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])  # columns: cat, car, frog images
    y = np.array([0, 1, 2])
    loss = F.svm_loss(cr.tensor(s.T.T), y)
    # the lecture's per-image losses 2.9, 0, 12.9 (scores as rows) average to 5.27
    assert loss.item() == pytest.approx((2.9 + 0 + 12.9) / 3, abs=1e-5)
    s2, y2 = scores_and_labels(8, 5, seed=3)
    assert F.svm_loss(cr.tensor(s2), y2).item() == pytest.approx(svm_reference(s2, y2), rel=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_svm_loss_matches_pytorch_multi_margin_times_c(reduction):
    s, y = scores_and_labels(seed=5)
    c = s.shape[1]
    check_op(lambda t: F.svm_loss(t, y, reduction=reduction),
             lambda t: TF.multi_margin_loss(t, torch.tensor(y), reduction=reduction) * c, [s])


def test_other_losses_match_pytorch():
    s, y = scores_and_labels()
    check_op(lambda t: F.nll_loss(F.log_softmax(t), y), lambda t: TF.nll_loss(TF.log_softmax(t, 1), torch.tensor(y)),
             [s])
    rng = np.random.default_rng(2)
    target = rng.standard_normal((3, 4))
    check_op(lambda t: F.mse_loss(t, target), lambda t: TF.mse_loss(t, torch.tensor(target)),
             [rng.standard_normal((3, 4))])
    probs = rng.uniform(0, 1, (3, 4))
    check_op(lambda t: F.binary_cross_entropy_with_logits(t, probs),
             lambda t: TF.binary_cross_entropy_with_logits(t, torch.tensor(probs)), [rng.standard_normal((3, 4)) * 3])
    check_op(lambda a, b: F.binary_cross_entropy_with_logits(a, b),
             lambda a, b: TF.binary_cross_entropy_with_logits(a, b), [rng.standard_normal((3, 4)), probs])


def test_loss_modules():
    s, y = scores_and_labels()
    t = cr.tensor(s)
    assert nn.CrossEntropyLoss()(t, y).item() == pytest.approx(F.cross_entropy(t, y).item())
    assert nn.MulticlassSVMLoss(margin=2.0)(t, y).item() == pytest.approx(F.svm_loss(t, y, 2.0).item())


@pytest.mark.parametrize("target,match", [
    (np.array([0, 1, 4]), r"target holds class 4, outside the range \[0, 4\) of 4 classes"),
    (np.array([0, -1, 2]), r"target holds class -1"),
    (np.array([0.0, 1.0, 2.0]), r"target must hold integer class labels .* got dtype float64"),
    (np.array([[0], [1], [2]]), r"target must have shape \(3,\) to match scores of shape \(3, 4\), got shape \(3, 1\)"),
    (np.array([0, 1]), r"target must have shape \(3,\)"),
])
@pytest.mark.parametrize("loss", [F.cross_entropy, F.svm_loss])
def test_bad_targets_give_clear_errors(loss, target, match):
    with pytest.raises((ValueError, TypeError), match=match):
        loss(cr.zeros(3, 4), target)


def test_l2_penalty_excludes_biases_and_lecture_full_loss():
    cr.manual_seed(0)
    net = nn.MLP([5, 4, 3]).double()
    W1, b1, W2, b2 = (p.detach().numpy() for p in net.parameters())
    assert F.l2_penalty(net).item() == pytest.approx((W1 ** 2).sum() + (W2 ** 2).sum())
    assert F.l2_penalty(net, weights_only=False).item() == pytest.approx(
        sum((p ** 2).sum() for p in (W1, b1, W2, b2)))
    # L = (1/N) sum_i L_i + lambda R(W1) + lambda R(W2), by hand
    rng = np.random.default_rng(0)
    X, y, lam = rng.standard_normal((7, 5)), rng.integers(0, 3, 7), 0.1
    h = np.maximum(0, X @ W1.T + b1)
    s = h @ W2.T + b2
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    hand = -np.log(p[np.arange(7), y]).mean() + lam * (W1 ** 2).sum() + lam * (W2 ** 2).sum()
    loss = F.cross_entropy(net(cr.tensor(X)), y) + lam * F.l2_penalty(net)
    assert loss.item() == pytest.approx(hand, rel=1e-12)
    loss.backward()
    assert net[0].weight.grad.shape == W1.shape


# ----------------------------------------------------------------------------- Module behaviour
def test_module_registration_state_dict_and_repr():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 8)
            self.layers = nn.Sequential(nn.ReLU(), nn.Linear(8, 3))
            self.scale = 2.0

        def forward(self, x):
            return self.layers(self.fc1(x)) * self.scale

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["fc1.weight", "fc1.bias", "layers.1.weight", "layers.1.bias"]
    assert len(list(net.children())) == 2 and len(list(net.modules())) == 5
    assert "(fc1): Linear(in_features=4, out_features=8, bias=True)" in repr(net)
    net.eval()
    assert not net.layers[1].training
    sd = net.state_dict()
    other = Net()
    other.load_state_dict(sd)
    x = cr.randn(2, 4)
    np.testing.assert_array_equal(net(x).data, other(x).data)
    # a torch module with the same structure loads the same keys
    tnet = torch.nn.Module()
    tnet.fc1 = torch.nn.Linear(4, 8)
    tnet.layers = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 3))
    tnet.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in sd.items()})
    # and chainrule loads torch's state_dict
    other.load_state_dict(tnet.state_dict())


def test_repr_lays_out_extra_repr_and_children_as_pytorch():
    """A module with an extra_repr and children prints the extra lines on their own, as torch does."""
    def make(M):
        class Tagged(M.Module):
            def __init__(self, lines):
                super().__init__()
                self.lines = lines
                self.fc = M.Linear(2, 3)

            def extra_repr(self):
                return "\n".join(self.lines)

        class Leaf(M.Module):
            def extra_repr(self):
                return "a=1\nb=2"

        outer = M.Sequential(Tagged(["k=3"]), Tagged(["k=3", "mode=x"]), Leaf(), Tagged([]))
        outer.add_module("none", None)
        return outer

    assert repr(make(nn)) == repr(make(torch.nn))


def test_del_forgets_a_parameter_buffer_or_submodule_as_pytorch():
    for M in (nn, torch.nn):
        m = M.BatchNorm1d(3)
        m.extra = M.Linear(2, 2)
        del m.bias, m.running_var, m.extra
        m.plain = 1
        del m.plain
        assert [n for n, _ in m.named_parameters()] == ["weight"]
        assert list(m.state_dict()) == ["weight", "running_mean", "num_batches_tracked"]
        assert list(m.children()) == [] and not hasattr(m, "plain") and not hasattr(m, "bias")
        with pytest.raises(AttributeError):
            del m.nothing


def test_a_parameter_or_module_assigned_again_keeps_its_place_as_in_pytorch():
    """Replacing ``weight`` keeps the state_dict order (weight, bias); it moved after bias before."""
    for M in (nn, torch.nn):
        lin = M.Linear(2, 3)
        lin.weight = M.Parameter(lin.weight.detach().clone())
        seq = M.Sequential(M.ReLU(), M.Linear(2, 2))
        seq[0] = M.Linear(2, 2)
        seq.add_module("0", M.Tanh())
        assert list(lin.state_dict()) == ["weight", "bias"]
        assert [type(m).__name__ for m in seq] == ["Tanh", "Linear"] and list(seq.state_dict()) == ["1.weight", "1.bias"]


def test_load_state_dict_lists_missing_unexpected_and_wrong_shapes():
    net = nn.MLP([4, 8, 3])
    sd = net.state_dict()
    del sd["0.bias"]
    sd["extra"] = np.zeros(2)
    sd["2.weight"] = np.zeros((5, 5))
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert "missing keys: 0.bias" in msg and "unexpected keys: extra" in msg
    assert "2.weight: expected shape (3, 8), got (5, 5)" in msg
    sd["2.weight"] = np.zeros((3, 8))
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["0.bias"] and unexpected == ["extra"]


def test_module_without_super_init_says_so():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match=r"must call super\(\)\.__init__\(\)"):
        Bad()


def test_linear_shape_error():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 5\) does not match weight of shape \(3, 4\)"):
        nn.Linear(4, 3)(cr.zeros(2, 5))
    for lib in (cr, torch):   # PyTorch's type too (it was a ValueError only)
        with pytest.raises(RuntimeError):
            lib.nn.Linear(4, 3)(lib.zeros(2, 5))


def test_clip_grad_norm_matches_pytorch():
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    ps = [cr.tensor(w, requires_grad=True) for w in ws]
    ts = [torch.tensor(w, requires_grad=True) for w in ws]
    sum((p * p * 3).sum() for p in ps).backward()
    sum((t * t * 3).sum() for t in ts).backward()
    n = nn.utils.clip_grad_norm_(ps, 1.0)
    tn = torch.nn.utils.clip_grad_norm_(ts, 1.0)
    assert n.item() == pytest.approx(tn.item())
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------- XOR
def test_xor_needs_a_hidden_layer():
    X = cr.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])

    def fit(model, steps=500):
        opt = cr.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(X), y).backward()
            opt.step()
        return (model(X).detach().numpy().argmax(1) == y).mean()

    cr.manual_seed(0)
    assert fit(nn.Linear(2, 2)) <= 0.75
    cr.manual_seed(0)
    assert fit(nn.MLP([2, 8, 2])) == 1.0


def test_linear_weight_layout_is_internal_and_state_dict_is_plain():
    layer = nn.Linear(30, 20)
    assert layer.weight.shape == (20, 30) and layer.weight.detach().numpy().flags.f_contiguous
    sd = layer.state_dict()
    assert sd["weight"].shape == (20, 30)       # a detached view of the weight, as torch's state_dict
    assert np.shares_memory(np.asarray(sd["weight"]), np.asarray(layer.weight.detach()))
    torch.nn.Linear(30, 20).load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in sd.items()})
    layer.load_state_dict(sd)
    assert layer.weight.detach().numpy().flags.f_contiguous  # loading keeps the fast layout
    opt = cr.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    layer(cr.randn(4, 30)).sum().backward()
    opt.step()
    assert np.asarray(opt.state[layer.weight]["momentum_buffer"]).flags.f_contiguous


def test_gradcheck_perturbs_non_contiguous_data():
    x = cr.tensor(np.asfortranarray(np.random.default_rng(0).standard_normal((3, 4))), requires_grad=True)
    assert x.detach().numpy().flags.f_contiguous and not x.detach().numpy().flags.c_contiguous
    assert cr.gradcheck(lambda t: (t * t).sum(axis=0), x)
