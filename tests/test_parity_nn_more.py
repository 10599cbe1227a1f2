"""More of torch.nn: margin, divergence, distance and likelihood losses; PReLU, SELU, CELU, GLU and the
other activations; the padding layers; GroupNorm, InstanceNorm, RMSNorm and LocalResponseNorm. Each is
compared with torch on the same float64 inputs (values and gradients, through ``check_op``, which also
gradchecks), and each module's printed form and state_dict with torch's."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
from chainrule.nn import functional as F
from oracle import check_op

R = np.random.default_rng


def randn(seed, *shape):
    return R(seed).standard_normal(shape)


def labels(seed, n, c):
    return R(seed).integers(0, c, n)


def signs(seed, *shape):
    return R(seed).choice([-1.0, 1.0], shape)


# ----------------------------------------------------------------------------- losses

@pytest.mark.parametrize("shape", [(5, 4), (1, 3), (4,)])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_loss(shape, p, reduction, weighted):
    c = shape[-1]
    y = labels(1, shape[0], c) if len(shape) == 2 else np.array(2)
    w = R(2).uniform(0.5, 2, c) if weighted else None
    kw = dict(p=p, margin=0.7, reduction=reduction)
    check_op(lambda x: F.multi_margin_loss(x, cr.tensor(y), weight=None if w is None else cr.tensor(w), **kw),
             lambda x: TF.multi_margin_loss(x, torch.tensor(y), weight=None if w is None else torch.tensor(w), **kw),
             [randn(0, *shape)])


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss_at_the_hinge(p):
    """A margin of exactly 0 gives no gradient (the kernel's z > 0), as in PyTorch."""
    x, y = np.array([[1.0, 0.0, 1.0, -2.0], [0.5, 0.5, 0.0, 3.0]]), np.array([0, 1])
    check_op(lambda a: F.multi_margin_loss(a, y, p=p), lambda a: TF.multi_margin_loss(a, torch.tensor(y), p=p), [x],
             gradcheck=False)


def test_multi_margin_loss_is_the_svm_loss_over_c():
    """The lecture's SVM loss and PyTorch's name for it differ by the factor C only (p=1, no weight)."""
    x = cr.tensor(randn(3, 6, 5), dtype="float64")
    y = labels(4, 6, 5)
    for margin in (1.0, 0.3):
        for red in ("mean", "sum", "none"):
            a = F.multi_margin_loss(x, y, margin=margin, reduction=red).numpy() * 5
            b = F.svm_loss(x, y, margin, red).numpy()
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_multi_margin_loss_module_and_errors():
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    m, t = cr.nn.MultiMarginLoss(p=2, margin=0.5, weight=cr.tensor(w.numpy())), torch.nn.MultiMarginLoss(2, 0.5, w)
    assert list(m.state_dict()) == list(t.state_dict()) == ["weight"] and repr(m) == repr(t)
    x, y = randn(5, 4, 3), labels(6, 4, 3)
    np.testing.assert_allclose(m(cr.tensor(x), y).item(), t(torch.tensor(x), torch.tensor(y)).item(), rtol=1e-12)
    with pytest.raises(ValueError, match="p == 1 and p == 2"):
        cr.nn.MultiMarginLoss(p=3)
    with pytest.raises(IndexError, match="outside"):
        F.multi_margin_loss(cr.tensor(x), [0, 1, 2, 3])


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2), (5,)])
def test_kl_div(reduction, log_target, shape):
    x = np.log(R(0).dirichlet(np.ones(shape[-1]), shape[:-1] or None))
    q = R(1).dirichlet(np.ones(shape[-1]), shape[:-1] or None)
    t = np.log(q) if log_target else q
    kw = dict(reduction=reduction, log_target=log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_op(lambda a, b: F.kl_div(a, b, **kw), lambda a, b: TF.kl_div(a, b, **kw), [x, t])


def test_kl_div_zero_target_and_mean_warning():
    x, t = np.log([[0.2, 0.3, 0.5]]), np.array([[0.0, 0.5, 0.5]])
    check_op(lambda a: F.kl_div(a, cr.tensor(t), reduction="sum"),
             lambda a: TF.kl_div(a, torch.tensor(t), reduction="sum"), [x])
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(cr.tensor(x), cr.tensor(t))
    m = cr.nn.KLDivLoss(reduction="batchmean", log_target=True)
    assert m.reduction == "batchmean" and m.log_target and repr(m) == "KLDivLoss()"
    with pytest.raises(ValueError, match="reduction"):
        F.kl_div(cr.tensor(x), cr.tensor(t), reduction="avg")


@pytest.mark.parametrize("shapes", [((4, 5), (4, 5)), ((4, 5), (1, 5)), ((5,), (5,)), ((2, 3, 4), (3, 4))])
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance(shapes, p, keepdim):
    check_op(lambda a, b: F.pairwise_distance(a, b, p, keepdim=keepdim),
             lambda a, b: TF.pairwise_distance(a, b, p, keepdim=keepdim),
             [randn(0, *shapes[0]), randn(1, *shapes[1])])
    m, t = cr.nn.PairwiseDistance(p, keepdim=keepdim), torch.nn.PairwiseDistance(p, keepdim=keepdim)
    a, b = randn(0, *shapes[0]), randn(1, *shapes[1])
    np.testing.assert_allclose(m(cr.tensor(a), cr.tensor(b)).numpy(), t(torch.tensor(a), torch.tensor(b)).numpy(),
                               rtol=1e-12)


@pytest.mark.parametrize("dim,shapes", [(1, ((4, 5), (4, 5))), (-1, ((2, 3, 4), (3, 4))), (0, ((3,), (3,)))])
def test_cosine_similarity_module(dim, shapes):
    a, b = randn(0, *shapes[0]), randn(1, *shapes[1])
    check_op(lambda u, v: cr.nn.CosineSimilarity(dim)(u, v), lambda u, v: torch.nn.CosineSimilarity(dim)(u, v),
             [a, b])


@pytest.mark.parametrize("shape", [(5, 4), (4,)])
@pytest.mark.parametrize("p", [2.0, 1.0])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_triplet_margin_loss(shape, p, swap, reduction):
    kw = dict(margin=2.0, p=p, swap=swap, reduction=reduction)
    check_op(lambda a, b, c: F.triplet_margin_loss(a, b, c, **kw),
             lambda a, b, c: TF.triplet_margin_loss(a, b, c, **kw),
             [randn(0, *shape), randn(1, *shape), randn(2, *shape)])
    assert repr(cr.nn.TripletMarginLoss(**kw)) == repr(torch.nn.TripletMarginLoss(**kw))
    with pytest.raises(ValueError, match="margin"):
        F.triplet_margin_loss(cr.ones(3), cr.ones(3), cr.ones(3), margin=0)


@pytest.mark.parametrize("shape", [(6,), (3, 4), ()])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_margin_ranking_loss(shape, reduction):
    y = signs(3, *shape)
    check_op(lambda a, b, t: F.margin_ranking_loss(a, b, t, margin=0.3, reduction=reduction),
             lambda a, b, t: TF.margin_ranking_loss(a, b, t, margin=0.3, reduction=reduction),
             [randn(0, *shape), randn(1, *shape), y])
    m = cr.nn.MarginRankingLoss(0.3, reduction=reduction)
    np.testing.assert_allclose(m(cr.tensor(randn(0, *shape)), cr.tensor(randn(1, *shape)), cr.tensor(y)).numpy(),
                               torch.nn.MarginRankingLoss(0.3, reduction=reduction)(
                                   torch.tensor(randn(0, *shape)), torch.tensor(randn(1, *shape)),
                                   torch.tensor(y)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(7,), (3, 4)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_hinge_embedding_and_soft_margin_losses(shape, reduction):
    y = signs(4, *shape)
    check_op(lambda x: F.hinge_embedding_loss(x, cr.tensor(y), margin=0.8, reduction=reduction),
             lambda x: TF.hinge_embedding_loss(x, torch.tensor(y), margin=0.8, reduction=reduction),
             [randn(0, *shape)])
    check_op(lambda x: F.soft_margin_loss(x, cr.tensor(y), reduction=reduction),
             lambda x: TF.soft_margin_loss(x, torch.tensor(y), reduction=reduction), [randn(0, *shape) * 3])
    x = randn(0, *shape)
    for cm, tm, args in ((cr.nn.HingeEmbeddingLoss(0.8, reduction=reduction),
                          torch.nn.HingeEmbeddingLoss(0.8, reduction=reduction), (x, y)),
                         (cr.nn.SoftMarginLoss(reduction=reduction), torch.nn.SoftMarginLoss(reduction=reduction),
                          (x, y))):
        np.testing.assert_allclose(cm(*map(cr.tensor, args)).numpy(), tm(*map(torch.tensor, args)).numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'target'"):
        F.soft_margin_loss(cr.ones(3), cr.ones(3, requires_grad=True))


@pytest.mark.parametrize("shape", [(5, 3), (4,)])
@pytest.mark.parametrize("margin", [0.0, 0.4])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cosine_embedding_loss(shape, margin, reduction):
    y = signs(5, *shape[:-1])
    kw = dict(margin=margin, reduction=reduction)
    check_op(lambda a, b: F.cosine_embedding_loss(a, b, cr.tensor(y), **kw),
             lambda a, b: TF.cosine_embedding_loss(a, b, torch.tensor(y), **kw),
             [randn(0, *shape), randn(1, *shape)])
    m = cr.nn.CosineEmbeddingLoss(**kw)
    a, b = randn(0, *shape), randn(1, *shape)
    np.testing.assert_allclose(m(cr.tensor(a), cr.tensor(b), cr.tensor(y)).numpy(),
                               torch.nn.CosineEmbeddingLoss(**kw)(torch.tensor(a), torch.tensor(b),
                                                                  torch.tensor(y)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (5,)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_soft_margin_loss(shape, weighted, reduction):
    y = R(6).integers(0, 2, shape).astype(float)
    w = R(7).uniform(0.5, 2, shape[-1]) if weighted else None
    check_op(lambda x: F.multilabel_soft_margin_loss(x, cr.tensor(y), None if w is None else cr.tensor(w),
                                                     reduction=reduction),
             lambda x: TF.multilabel_soft_margin_loss(x, torch.tensor(y), None if w is None else torch.tensor(w),
                                                      reduction=reduction),
             [randn(0, *shape) * 2])
    m = cr.nn.MultiLabelSoftMarginLoss(None if w is None else cr.tensor(w))
    t = torch.nn.MultiLabelSoftMarginLoss(None if w is None else torch.tensor(w))
    assert list(m.state_dict()) == list(t.state_dict()) and repr(m) == repr(t)


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_poisson_nll_loss(log_input, full, reduction):
    x = randn(0, 4, 3) if log_input else R(0).uniform(0.2, 3, (4, 3))
    t = R(1).uniform(0.1, 5, (4, 3))  # positive rates, some at most 1 (no Stirling term there)
    kw = dict(log_input=log_input, full=full, reduction=reduction)
    check_op(lambda a, b: F.poisson_nll_loss(a, b, **kw), lambda a, b: TF.poisson_nll_loss(a, b, **kw), [x, t])
    m, tm = cr.nn.PoissonNLLLoss(log_input, full), torch.nn.PoissonNLLLoss(log_input, full)
    assert repr(m) == repr(tm) and m.eps == tm.eps


@pytest.mark.parametrize("var_shape", [(4, 3), (4, 1), (4,), "float"])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gaussian_nll_loss(var_shape, full, reduction):
    kw = dict(full=full, eps=1e-2, reduction=reduction)
    x, t = randn(0, 4, 3), randn(1, 4, 3)
    if var_shape == "float":
        check_op(lambda a, b: F.gaussian_nll_loss(a, b, 0.7, **kw), lambda a, b: TF.gaussian_nll_loss(a, b, 0.7, **kw),
                 [x, t])
        return
    v = R(2).uniform(0.001, 2, var_shape)  # some below eps: clamped, the gradient still 1 through the clamp
    check_op(lambda a, b, s: F.gaussian_nll_loss(a, b, s, **kw), lambda a, b, s: TF.gaussian_nll_loss(a, b, s, **kw),
             [x, t, v], gradcheck=False)
    check_op(lambda a, b, s: F.gaussian_nll_loss(a, b, s, **kw), lambda a, b, s: TF.gaussian_nll_loss(a, b, s, **kw),
             [x, t, v + 0.1])
    m = cr.nn.GaussianNLLLoss(full=full, reduction=reduction)
    np.testing.assert_allclose(m(*map(cr.tensor, (x, t, v))).numpy(),
                               torch.nn.GaussianNLLLoss(full=full, reduction=reduction)(
                                   *map(torch.tensor, (x, t, v))).numpy(), rtol=1e-12)


def test_gaussian_nll_loss_errors():
    x = cr.zeros(4, 3)
    with pytest.raises(ValueError, match="incorrect size"):
        F.gaussian_nll_loss(x, x, cr.ones(2, 3))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -cr.ones(4, 3))


LOSSES = [("MultiMarginLoss", (), {}), ("MultiMarginLoss", (2, 0.5), {"reduction": "sum"}),
          ("KLDivLoss", (), {"reduction": "batchmean", "log_target": True}), ("KLDivLoss", (False, None), {}),
          ("TripletMarginLoss", (0.5, 1.0), {"swap": True}), ("MarginRankingLoss", (0.2,), {}),
          ("HingeEmbeddingLoss", (), {"reduction": "none"}), ("SoftMarginLoss", (), {}),
          ("CosineEmbeddingLoss", (0.1,), {}), ("MultiLabelSoftMarginLoss", (), {}),
          ("PoissonNLLLoss", (False, True), {"eps": 1e-4}), ("GaussianNLLLoss", (), {"full": True, "eps": 0.1}),
          ("CosineSimilarity", (0, 1e-6), {}), ("PairwiseDistance", (1.0, 1e-4, True), {})]


@pytest.mark.parametrize("name,args,kw", LOSSES)
@pytest.mark.filterwarnings("ignore:size_average and reduce")
def test_loss_modules_keep_torchs_settings_and_print_as_torch(name, args, kw):
    m, t = getattr(cr.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(m) == repr(t) and list(m.state_dict()) == list(t.state_dict())
    for attr in ("reduction", "margin", "p", "eps", "swap", "log_target", "log_input", "full", "dim", "norm",
                 "keepdim"):
        assert getattr(m, attr, None) == getattr(t, attr, None), attr


# ----------------------------------------------------------------------------- activations

ACTIVATIONS = [
    ("selu", {}), ("celu", {}), ("celu", {"alpha": 0.5}), ("mish", {}), ("hardswish", {}), ("hardsigmoid", {}),
    ("softsign", {}), ("tanhshrink", {}), ("softshrink", {}), ("softshrink", {"lambd": 1.2}), ("hardshrink", {}),
    ("hardshrink", {"lambd": 0.1}), ("threshold", {"threshold": 0.3, "value": -2.0}),
    ("rrelu", {}), ("rrelu", {"lower": 0.1, "upper": 0.3}),   # rrelu's default: training=False, a leaky ReLU
]


@pytest.mark.parametrize("name,kw", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(), (7,), (3, 4)])
def test_activation_functions(name, kw, shape):
    x = randn(0, *shape) * 3
    check_op(lambda a: getattr(F, name)(a, **kw), lambda a: getattr(TF, name)(a, **kw), [x])


@pytest.mark.parametrize("name,kw", ACTIVATIONS)
def test_activation_functions_at_their_kinks(name, kw):
    """The points where the rule changes (0, +-3, +-lambd, the threshold): PyTorch's one-sided choice."""
    x = np.array([0.0, 3.0, -3.0, 0.5, -0.5, 1.2, -1.2, 0.1, -0.1, 0.3, 2.0, -2.0])
    check_op(lambda a: getattr(F, name)(a, **kw), lambda a: getattr(TF, name)(a, **kw), [x], gradcheck=False)


MODULES = [
    ("SELU", (), {}), ("SELU", (True,), {}), ("CELU", (2.0,), {}), ("CELU", (), {"inplace": True}), ("Mish", (), {}),
    ("Mish", (True,), {}), ("Hardswish", (True,), {}), ("Hardsigmoid", (), {}), ("Softsign", (), {}),
    ("Tanhshrink", (), {}), ("Softshrink", (0.8,), {}), ("Hardshrink", (), {}), ("Threshold", (0.1, 20), {}),
    ("Threshold", (0.1, 2.5, True), {}), ("GLU", (), {}), ("GLU", (2,), {}), ("Softmin", (), {}),
    ("Softmin", (1,), {}), ("Softmax2d", (), {}), ("PReLU", (), {}), ("PReLU", (3, 0.1), {}),
]


@pytest.mark.parametrize("name,args,kw", MODULES)
@pytest.mark.filterwarnings("ignore:Implicit dimension")
def test_activation_modules_print_and_compute_as_torch(name, args, kw):
    m, t = getattr(cr.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())
    assert [(k, p.shape) for k, p in m.named_parameters()] == [(k, tuple(p.shape)) for k, p in t.named_parameters()]
    x = randn(1, 2, 3, 4, 4)
    want = t.double()(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(m.double()(cr.tensor(x)).detach().numpy(), want, rtol=1e-12, atol=1e-14)


def test_rrelu_draws_a_slope_per_element_in_training():
    # training: x where x > 0, a x where x <= 0 with a ~ U(lower, upper) for each element, the gradient a;
    # the draws come from chainrule's stream (PyTorch's bits differ), so the properties are checked
    x = randn(3, 200, 5)
    x[0, :3] = 0.0
    for lib, F_ in ((cr, F), (torch, TF)):
        lib.manual_seed(0)
        t = lib.tensor(x, requires_grad=True)
        y = F_.rrelu(t, 0.1, 0.3, training=True)
        y.sum().backward()
        yv, g = y.detach().numpy(), t.grad.numpy()
        neg = x <= 0
        np.testing.assert_array_equal(yv[~neg], x[~neg])
        np.testing.assert_array_equal(g[~neg], 1.0)
        assert (g[neg] >= 0.1).all() and (g[neg] <= 0.3).all()
        np.testing.assert_allclose(yv[neg], g[neg] * x[neg], rtol=1e-15)   # the gradient is the drawn slope
        assert 0.18 < g[neg].mean() < 0.22 and g[neg].std() > 0.04   # spread over [0.1, 0.3], not one value
    cr.manual_seed(1)
    a = F.rrelu(cr.tensor(x), training=True).numpy()
    cr.manual_seed(1)
    np.testing.assert_array_equal(F.rrelu(cr.tensor(x), training=True).numpy(), a)   # seeded: reproducible
    assert not np.array_equal(F.rrelu(cr.tensor(x), training=True).numpy(), a)
    m, t = cr.nn.RReLU(0.1, 0.3, inplace=True), torch.nn.RReLU(0.1, 0.3, inplace=True)
    assert repr(m) == repr(t) and repr(cr.nn.RReLU()) == repr(torch.nn.RReLU())
    m.eval()
    t.eval()
    np.testing.assert_array_equal(m(cr.tensor(x)).numpy(), t(torch.tensor(x)).numpy())   # eval: the mean slope
    m.train()
    assert not np.array_equal(m(cr.tensor(x)).numpy(), m(cr.tensor(x)).numpy())
    for lib, F_ in ((torch, TF), (cr, F)):   # PyTorch's refusal, in either mode
        for training in (False, True):
            with pytest.raises(RuntimeError, match="Lower bound should be less than or equal to the upper bound"):
                F_.rrelu(lib.ones(3), 0.5, 0.1, training)


@pytest.mark.parametrize("dim,shape", [(-1, (3, 4)), (1, (2, 6, 3)), (0, (4,))])
def test_glu(dim, shape):
    check_op(lambda a: F.glu(a, dim), lambda a: TF.glu(a, dim), [randn(0, *shape)])
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        F.glu(cr.ones(3, 5))


@pytest.mark.filterwarnings("ignore:Implicit dimension")
@pytest.mark.parametrize("dim,shape", [(None, (3, 4)), (0, (3, 4)), (-1, (2, 3, 4)), (None, (5,))])
def test_softmin(dim, shape):
    check_op(lambda a: F.softmin(a, dim), lambda a: TF.softmin(a, dim), [randn(0, *shape)])


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 4, 5)])
def test_softmax2d(shape):
    check_op(lambda a: cr.nn.Softmax2d()(a), lambda a: torch.nn.Softmax2d()(a), [randn(0, *shape)])
    with pytest.raises(ValueError, match="3 or 4"):
        cr.nn.Softmax2d()(cr.ones(3, 4))


@pytest.mark.parametrize("xshape,wshape", [((4, 3), (3,)), ((4, 3), (1,)), ((2, 3, 5), (3,)), ((2, 3, 2, 2), (3,)),
                                           ((5,), (1,)), ((), (1,)), ((2, 3), ())])
def test_prelu(xshape, wshape):
    x, w = randn(0, *xshape), R(1).uniform(-0.5, 0.5, wshape)
    check_op(F.prelu, TF.prelu, [x, w])
    x.flat[0] = 0.0  # x = 0 takes the negative side's slope, as PyTorch's x > 0
    check_op(F.prelu, TF.prelu, [x, w], gradcheck=False)
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers"):
        F.prelu(cr.ones(5), cr.ones(5))


def test_prelu_module_learns_its_slopes():
    m, t = cr.nn.PReLU(3), torch.nn.PReLU(3)
    m.load_state_dict({"weight": np.array([0.1, -0.2, 0.3], np.float32)})
    t.load_state_dict({"weight": torch.tensor([0.1, -0.2, 0.3])})
    x = randn(0, 4, 3, 2).astype(np.float32)
    m(cr.tensor(x)).sum().backward()
    t(torch.tensor(x)).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-5)
    assert m.weight.dtype == np.float32


# ----------------------------------------------------------------------------- padding layers

PADS = [("ZeroPad1d", (2,)), ("ZeroPad1d", ((1, 3),)), ("ZeroPad2d", ((1, 2, 0, 3),)), ("ZeroPad3d", (1,)),
        ("ConstantPad1d", (2, 3.5)), ("ConstantPad2d", ((1, 0, 2, 1), -1.0)), ("ConstantPad3d", (1, 2)),
        ("ReflectionPad1d", (2,)), ("ReflectionPad2d", ((1, 2, 2, 0),)), ("ReflectionPad3d", (1,)),
        ("ReplicationPad1d", ((1, 3),)), ("ReplicationPad2d", (2,)), ("ReplicationPad3d", ((1, 0, 0, 1, 2, 1),)),
        ("CircularPad1d", (2,)), ("CircularPad2d", ((1, 2, 3, 0),)), ("CircularPad3d", (1,))]


@pytest.mark.parametrize("name,args", PADS)
@pytest.mark.parametrize("batched", [True, False])
def test_padding_layers(name, args, batched):
    m, t = getattr(cr.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(m) == repr(t) and m.state_dict() == {} == dict(t.state_dict())
    dims = int(name[-2])
    shape = (2, 3) + (4,) * dims if batched else (3,) + (4,) * dims
    check_op(m, t, [randn(0, *shape)], gradcheck=dims < 3)


def test_padding_layer_errors():
    with pytest.raises(ValueError, match="4 ints"):
        cr.nn.ZeroPad2d((1, 2))
    with pytest.raises(ValueError, match="2-d .* or 3-d"):
        cr.nn.ReflectionPad1d(1)(cr.ones(2, 3, 4, 5))


# ----------------------------------------------------------------------------- normalisation

def same_module(m, t):
    """Check that ``m`` prints and names its state as torch's ``t``; give both t's random parameters."""
    assert repr(m) == repr(t) and list(m.state_dict()) == list(t.state_dict())
    with torch.no_grad():
        for p in t.parameters():
            p.uniform_(-1, 1)
    m.load_state_dict(t.state_dict())


@pytest.mark.parametrize("shape,groups", [((4, 6, 5), 3), ((2, 6, 3, 3), 2), ((3, 4), 4), ((2, 4, 3), 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(shape, groups, affine):
    c = shape[1]
    arrays = [randn(0, *shape) * 2 + 1] + ([randn(1, c), randn(2, c)] if affine else [])
    check_op(lambda x, *wb: F.group_norm(x, groups, *wb, eps=1e-3),
             lambda x, *wb: TF.group_norm(x, groups, *wb, eps=1e-3), arrays)
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(cr.ones(2, 5, 3), 2)


@pytest.mark.parametrize("args,kw", [((2, 4), {}), ((2, 4), {"affine": False}), ((3, 6), {"eps": 1e-3, "bias": False})])
def test_group_norm_module(args, kw):
    m, t = cr.nn.GroupNorm(*args, **kw), torch.nn.GroupNorm(*args, **kw)
    same_module(m, t)
    x = randn(0, 3, args[1], 5).astype(np.float32)
    np.testing.assert_allclose(m(cr.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm_function(shape, affine):
    c = shape[1]
    arrays = [randn(0, *shape) * 3 - 1] + ([randn(1, c), randn(2, c)] if affine else [])
    check_op(lambda x, *wb: F.instance_norm(x, None, None, *wb),
             lambda x, *wb: TF.instance_norm(x, None, None, *wb), arrays)
    rm, rv = R(3).standard_normal(c), R(4).uniform(0.5, 2, c)
    check_op(lambda x, *wb: F.instance_norm(x, cr.tensor(rm), cr.tensor(rv), *wb, use_input_stats=False),
             lambda x, *wb: TF.instance_norm(x, torch.tensor(rm), torch.tensor(rv), *wb, use_input_stats=False),
             arrays)


@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (4, 3, 6)), ("InstanceNorm2d", (2, 3, 4, 5)),
                                       ("InstanceNorm1d", (3, 6)), ("InstanceNorm2d", (3, 4, 5)),
                                       ("InstanceNorm3d", (2, 3, 2, 3, 2))])
@pytest.mark.parametrize("kw", [{}, {"affine": True}, {"track_running_stats": True},
                                {"affine": True, "track_running_stats": True, "momentum": 0.3}])
def test_instance_norm_modules(cls, shape, kw):
    m, t = getattr(cr.nn, cls)(3, **kw).double(), getattr(torch.nn, cls)(3, **kw).double()
    same_module(m, t)
    for step in range(2):  # training: the running statistics move as torch's
        x = randn(step, *shape) * 2 + 0.5
        np.testing.assert_allclose(m(cr.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    for (k, v), (tk, tv) in zip(m.state_dict().items(), t.state_dict().items()):
        assert k == tk
        np.testing.assert_allclose(np.asarray(v), tv.numpy(), rtol=1e-12)
    m.eval(), t.eval()
    x = randn(7, *shape)
    np.testing.assert_allclose(m(cr.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-10)


def test_instance_norm_errors():
    with pytest.warns(UserWarning, match="num_features"):
        cr.nn.InstanceNorm1d(3)(cr.randn(2, 4, 5))
    with pytest.raises(ValueError, match="running_mean must have shape"):
        F.instance_norm(cr.randn(2, 4, 5), cr.zeros(3), cr.ones(3))
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        cr.nn.InstanceNorm2d(3)(cr.ones(2, 3))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(cr.ones(2, 3, 1))
    with pytest.raises(ValueError, match="num_features"):
        cr.nn.InstanceNorm1d(3, affine=True)(cr.ones(2, 4, 5))


@pytest.mark.parametrize("shape,norm", [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((6,), 6)])
@pytest.mark.parametrize("eps", [None, 1e-3])
@pytest.mark.parametrize("weighted", [True, False])
def test_rms_norm(shape, norm, eps, weighted):
    ns = (norm,) if isinstance(norm, int) else norm
    arrays = [randn(0, *shape)] + ([randn(1, *ns)] if weighted else [])
    check_op(lambda x, *w: F.rms_norm(x, norm, *w, eps=eps), lambda x, *w: TF.rms_norm(x, ns, *w, eps=eps), arrays)


@pytest.mark.parametrize("args,kw", [((4,), {}), (([2, 3],), {"eps": 1e-3, "elementwise_affine": False}),
                                     ((3,), {"eps": 1e-6})])
def test_rms_norm_module(args, kw):
    m, t = cr.nn.RMSNorm(*args, **kw), torch.nn.RMSNorm(*args, **kw)
    same_module(m, t)
    x = randn(0, 2, *t.normalized_shape).astype(np.float32)
    np.testing.assert_allclose(m(cr.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5)


@pytest.mark.parametrize("shape", [(2, 5, 4), (2, 6, 3, 3), (1, 3, 2, 2, 2)])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_local_response_norm(shape, size):
    kw = dict(alpha=0.5, beta=0.75, k=1.5)
    check_op(lambda x: F.local_response_norm(x, size, **kw), lambda x: TF.local_response_norm(x, size, **kw),
             [randn(0, *shape) * 2])
    m, t = cr.nn.LocalResponseNorm(size, **kw), torch.nn.LocalResponseNorm(size, **kw)
    assert repr(m) == repr(t) and repr(cr.nn.LocalResponseNorm(2)) == repr(torch.nn.LocalResponseNorm(2))


def test_batchnorm_without_affine_prints_as_torch():
    assert repr(cr.nn.BatchNorm1d(3, affine=False)) == repr(torch.nn.BatchNorm1d(3, affine=False))


def test_float32_stays_float32():
    """Every new function keeps a float32 input float32 (Python constants count only by category)."""
    x, s = cr.randn(4, 6, 3), cr.tensor(signs(0, 4).astype(np.float32))
    outs = [F.multi_margin_loss(x[:, :, 0], [0, 1, 2, 1]), F.kl_div(x, x.exp(), reduction="batchmean"),
            F.pairwise_distance(x, x + 1), F.triplet_margin_loss(x[:, :, 0], x[:, :, 1], x[:, :, 2]),
            F.margin_ranking_loss(x[:, 0, 0], x[:, 1, 0], s), F.hinge_embedding_loss(x[:, 0, 0], s),
            F.soft_margin_loss(x[:, 0, 0], s), F.cosine_embedding_loss(x[:, :, 0], x[:, :, 1], s),
            F.multilabel_soft_margin_loss(x, (x > 0).float()), F.poisson_nll_loss(x, x.abs(), full=True),
            F.gaussian_nll_loss(x, x, x.abs(), full=True), F.prelu(x, cr.ones(6) * 0.1), F.selu(x), F.celu(x, 2.0),
            F.glu(x, 1), F.hardswish(x), F.hardsigmoid(x), F.softsign(x), F.tanhshrink(x), F.softshrink(x),
            F.hardshrink(x), F.threshold(x, 0.1, 2), F.softmin(x, 1), F.group_norm(x, 2, cr.ones(6), cr.zeros(6)),
            F.instance_norm(x), F.rms_norm(x, (3,), cr.ones(3)), F.local_response_norm(x, 3)]
    assert [o.dtype for o in outs] == [np.float32] * len(outs)


def build(nn):
    return nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.GroupNorm(4, 8), nn.PReLU(8), nn.ReflectionPad1d(1),
                         nn.InstanceNorm1d(8, affine=True, track_running_stats=True), nn.SELU(), nn.Flatten(),
                         nn.Linear(8 * 8, 16), nn.RMSNorm(16), nn.Hardswish(), nn.Linear(16, 4), nn.Softshrink(0.1))


def test_a_small_net_of_the_new_layers_trains_as_in_torch():
    """The same weights and batches in both libraries: the same losses for 5 SGD steps, then the same
    state (parameters and running statistics)."""
    torch.manual_seed(0)
    t = build(torch.nn).double()
    m = build(cr.nn).double()
    m.load_state_dict(t.state_dict())
    assert list(m.state_dict()) == list(t.state_dict())
    topt, opt = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9), cr.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    for step in range(5):
        x, y = randn(10 + step, 6, 2, 6), labels(20 + step, 6, 4)
        topt.zero_grad()
        tl = TF.multi_margin_loss(t(torch.tensor(x)), torch.tensor(y), p=2) + \
            TF.kl_div(TF.log_softmax(t(torch.tensor(x)), 1), torch.full((6, 4), 0.25, dtype=torch.float64),
                      reduction="batchmean")
        tl.backward()
        topt.step()
        opt.zero_grad()
        loss = F.multi_margin_loss(m(cr.tensor(x)), y, p=2) + \
            F.kl_div(F.log_softmax(m(cr.tensor(x)), 1), cr.full((6, 4), 0.25, dtype=cr.float64), reduction="batchmean")
        loss.backward()
        opt.step()
        np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-10)
    for (k, v), (tk, tv) in zip(m.state_dict().items(), t.state_dict().items()):
        np.testing.assert_allclose(np.asarray(v), tv.numpy(), rtol=1e-8, atol=1e-12, err_msg=k)


def test_the_new_classes_are_related_as_in_torch():
    """isinstance(m, nn.X) answers as in PyTorch (Hardsigmoid is no Hardswish, ZeroPad2d is a ConstantPad2d)."""
    names = sorted({n for n, *_ in MODULES + LOSSES + PADS} | {"Softmax", "LogSoftmax", "Hardtanh", "ReLU6",
                                                               "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm",
                                                               "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
                                                               "RMSNorm", "LocalResponseNorm", "CrossEntropyLoss"})
    for a in names:
        for b in names:
            assert issubclass(getattr(cr.nn, a), getattr(cr.nn, b)) == \
                issubclass(getattr(torch.nn, a), getattr(torch.nn, b)), (a, b)


@pytest.mark.parametrize("name", ["hardswish", "hardsigmoid", "softshrink", "selu", "celu", "glu", "group_norm"])
def test_compiled_steps_replay_the_piecewise_activations(name):
    """Their masks are made inside rules, so a compiled step replays them: a batch that crosses the
    kinks (|x| > 3) after the trace still gives the eager result."""
    fn = {"glu": lambda x: F.glu(x, 1), "group_norm": lambda x: F.group_norm(x, 2)}.get(name, getattr(F, name))
    w = cr.ones(4, requires_grad=True)

    def step(x):
        y = (fn(x * w) ** 2).sum()
        y.backward()
        return y

    compiled = cr.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to eager
        for i in range(4):
            x = cr.tensor(randn(i, 3, 4).astype(np.float32) * (0.5 if i < 2 else 10))
            w.grad = None
            got, gw = compiled(x).item(), w.grad.numpy().copy()
            w.grad = None
            np.testing.assert_allclose(got, step(x).item(), rtol=1e-5)
            np.testing.assert_allclose(gw, w.grad.numpy(), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- bilinear
@pytest.mark.parametrize("lead", [(4,), (2, 3), (), (0,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bilinear_function(lead, with_bias):
    """y = x1^T A x2 + b on any leading axes: values, the four inputs' gradients and a gradcheck."""
    arrays = [randn(1, *lead, 3), randn(2, *lead, 4), randn(3, 5, 3, 4)] + ([randn(4, 5)] if with_bias else [])
    check_op(lambda *a: F.bilinear(*a), lambda *a: TF.bilinear(*a), arrays)


def test_bilinear_module_initialises_prints_and_trains_as_torch():
    cr.manual_seed(0)
    for bias in (True, False):
        m, t = cr.nn.Bilinear(6, 4, 3, bias=bias), torch.nn.Bilinear(6, 4, 3, bias=bias)
        assert repr(m) == repr(t)
        assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in t.state_dict().items()}
        assert m.weight.dtype == cr.float32
    big = cr.nn.Bilinear(16, 2, 400)   # U(-1/sqrt(in1), 1/sqrt(in1)) = U(-0.25, 0.25) for weight and bias
    for p in (big.weight, big.bias):
        a = p.detach().numpy()
        assert np.abs(a).max() <= 0.25 and np.abs(a).max() > 0.24 and abs(a.mean()) < 0.01
    m, t = cr.nn.Bilinear(6, 4, 3).double(), torch.nn.Bilinear(6, 4, 3).double()
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    x1, x2 = randn(5, 2, 7, 6), randn(6, 2, 7, 4)
    opt, topt = cr.optim.SGD(m.parameters(), lr=0.1), torch.optim.SGD(t.parameters(), lr=0.1)
    for _ in range(2):
        loss = (m(cr.tensor(x1), cr.tensor(x2)) ** 2).mean()
        tloss = (t(torch.tensor(x1), torch.tensor(x2)) ** 2).mean()
        opt.zero_grad()
        topt.zero_grad()
        loss.backward()
        tloss.backward()
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
        opt.step()
        topt.step()
    for k, v in m.state_dict().items():
        np.testing.assert_allclose(v.numpy(), t.state_dict()[k].numpy(), rtol=1e-12, err_msg=k)


def test_bilinear_casts_its_inputs_to_the_weights_dtype_as_linear_does():
    m = cr.nn.Bilinear(3, 2, 4)
    y = m(cr.tensor(randn(7, 5, 3)), cr.tensor(randn(8, 5, 2)))
    assert y.dtype == cr.float32 and y.shape == (5, 4)


@pytest.mark.parametrize("s1, s2, wshape, bshape, match", [
    ((2, 3), (3, 4), (5, 3, 4), (5,), "input batch dimensions do not match at dim 0: got 2 and 3"),
    ((6, 2, 3), (2, 4), (5, 3, 4), (5,), "input dimensions do not match: got 3 and 2"),
    ((2, 3), (2, 5), (5, 3, 4), (5,), "input2 size does not match weight size: got 5 but expected 4"),
    ((2, 4), (2, 4), (5, 3, 4), (5,), "input1 size does not match weight size: got 4 but expected 3"),
    ((2, 3), (2, 4), (5, 3, 4), (4,), "bias size does not match weight size: got"),
])
def test_bilinear_shape_errors_are_one_line_runtime_errors_as_torchs(s1, s2, wshape, bshape, match):
    for lib, f in ((cr, F.bilinear), (torch, TF.bilinear)):
        args = [lib.zeros(*s) for s in (s1, s2, wshape, bshape)]
        with pytest.raises(RuntimeError, match=match) as e:
            f(*args)
        assert "\n" not in str(e.value)
    with pytest.raises(RuntimeError, match="weight must be 3-d"):
        F.bilinear(cr.zeros(2, 3), cr.zeros(2, 4), cr.zeros(5, 3))


def test_rrelu_in_training_replays_in_a_compiled_step():
    # its slopes were drawn by NumPy outside the ops: the step ran eagerly, with a warning
    import warnings
    from chainrule.compiler import CompileWarning
    lin = cr.nn.Linear(4, 4)

    def f(x):
        return F.rrelu(lin(x), training=True).sum()

    g = cr.compile(f, fullgraph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        cr.manual_seed(1)
        compiled = [float(g(cr.ones(3, 4) * i - 2)) for i in range(4)]
    cr.manual_seed(1)
    assert compiled == [float(f(cr.ones(3, 4) * i - 2)) for i in range(4)]
