"""More of torch.nn.functional and torch.nn, each against torch on the same float64 inputs: the in-place
activations (F.relu_, F.elu_, ...), F.pdist, F.gumbel_softmax, alpha dropout (F.alpha_dropout,
F.feature_alpha_dropout, nn.AlphaDropout, nn.FeatureAlphaDropout), power-average pooling (F.lp_pool1d/2d/3d,
nn.LPPool1d/2d/3d), F.channel_shuffle and nn.ChannelShuffle, the *_with_indices pooling names, and the
losses F.multilabel_margin_loss / nn.MultiLabelMarginLoss and F.triplet_margin_with_distance_loss /
nn.TripletMarginWithDistanceLoss. Random draws cannot match torch's bits: those are checked by their
formula given the draw, their statistics, and the noise fed to torch's own function."""
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
from chainrule.compiler import CompileWarning
from chainrule.nn import functional as F
from oracle import check_op

R = np.random.default_rng


def randn(seed, *shape):
    return R(seed).standard_normal(shape)


def away_from(x, points, gap=0.05):
    """x with every entry within ``gap`` of one of ``points`` moved away (finite differences need no kink)."""
    for p in points:
        near = np.abs(x - p) < gap
        x = np.where(near, p + np.where(x >= p, gap, -gap) * 2, x)
    return x


# ----------------------------------------------------------------------------- in-place activations
INPLACE = [("relu_", (), [0]), ("elu_", (0.7,), [0]), ("leaky_relu_", (0.2,), [0]), ("hardtanh_", (-0.5, 1.5), [-0.5, 1.5]),
           ("selu_", (), [0]), ("celu_", (1.25,), [0]), ("threshold_", (0.3, -2.0), [0.3]),
           ("rrelu_", (0.1, 0.3), [0])]


def inplace_run(lib, fn, name, args, x):
    """``name`` applied in place to a non-leaf copy of x; (the returned tensor is it, out, dx, versions)."""
    xt = lib.tensor(x, requires_grad=True)
    y = xt * 1
    v0 = y._version
    r = fn(y, *args)
    w = lib.tensor(np.linspace(-1, 2, y.numel()).reshape(y.shape))
    (y * w).sum().backward()
    return r is y, y.detach().numpy(), xt.grad.numpy(), y._version - v0


@pytest.mark.parametrize("name, args, kinks", INPLACE)
def test_inplace_activations_overwrite_and_differentiate_as_torch(name, args, kinks):
    x = away_from(randn(1, 4, 5) * 2, kinks)
    got = inplace_run(cr, getattr(F, name), name, args, x)
    want = inplace_run(torch, getattr(TF, name), name, args, x)
    assert got[0] and want[0]   # the input itself is returned
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-12, atol=1e-15)
    assert got[3] == want[3] == 1   # one version more
    check_op(lambda t: getattr(F, name)(t * 1, *args), lambda t: getattr(TF, name)(t * 1, *args), [x])


@pytest.mark.parametrize("name, args, kinks", INPLACE)
def test_inplace_activations_refuse_and_raise_as_torch(name, args, kinks):
    for lib, f in ((cr, getattr(F, name)), (torch, getattr(TF, name))):
        leaf = lib.ones(3, dtype=lib.float64, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            f(leaf, *args)
        with lib.no_grad():   # outside the graph a leaf may be overwritten, and stays a leaf
            assert f(leaf, *args) is leaf and leaf.requires_grad and leaf.grad_fn is None
        y = lib.tensor([-1.0, 0.5, 2.0], dtype=lib.float64, requires_grad=True) * 1
        z = y * y   # saved y
        f(y, *args)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()
    with pytest.raises(TypeError, match=rf"{name}\(\): argument 'input' \(position 1\) must be Tensor, not list"):
        getattr(F, name)([1.0, 2.0], *args)


def test_inplace_activations_of_integer_tensors_as_torch():
    a = np.array([-3, 0, 2, 5])
    for name, args in [("relu_", ()), ("threshold_", (1.5, 7.5)), ("hardtanh_", (-1.0, 3.0))]:
        got, want = cr.tensor(a.copy()), torch.tensor(a.copy())
        getattr(F, name)(got, *args), getattr(TF, name)(want, *args)
        assert got.dtype == cr.int64
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=name)
    for lib, fn in ((cr, F), (torch, TF)):
        for name in ("elu_", "selu_", "leaky_relu_"):
            with pytest.raises(RuntimeError):   # a float result cannot go back into int64
                getattr(fn, name)(lib.tensor(a.copy()))
        for x in (lib.tensor(a), lib.tensor([True, False])):   # no leaky_relu kernel for them, in place or not
            with pytest.raises(NotImplementedError, match='"leaky_relu_cpu" not implemented for'):
                fn.leaky_relu(x)


def test_inplace_activation_argument_errors_come_first_as_torch():
    for lib, fn in ((cr, F), (torch, TF)):
        leaf = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable"):   # celu_ checks the leaf first
            fn.celu_(leaf, 0.0)
        for x in (leaf * 1, lib.ones(3)):
            with pytest.raises(RuntimeError, match="ZeroDivisionError: alpha cannot be 0 for CELU"):
                fn.celu_(x, 0.0)
        with pytest.raises(RuntimeError, match="ZeroDivisionError: alpha cannot be 0 for CELU"):
            fn.celu(leaf, 0.0)
        with pytest.raises(RuntimeError, match="Lower bound should be less than or equal to the upper bound"):
            fn.rrelu_(leaf, 0.3, 0.1, True)   # rrelu_ checks its bounds first


def test_rrelu_inplace_in_training_draws_a_slope_per_element():
    x = cr.tensor(np.array([-2.0, -1.0, -0.5, 1.0, 3.0] * 20), requires_grad=True)
    y = x * 1
    cr.manual_seed(4)
    F.rrelu_(y, 0.1, 0.3, training=True)
    y.sum().backward()
    slope = (y / x).detach().numpy()
    neg = x.detach().numpy() < 0
    assert ((slope[neg] >= 0.1) & (slope[neg] <= 0.3)).all() and len(np.unique(slope[neg])) > 10
    np.testing.assert_array_equal(slope[~neg], 1.0)
    np.testing.assert_allclose(x.grad.numpy(), slope, rtol=1e-6)   # the gradient is the drawn slope
    cr.manual_seed(4)
    again = F.rrelu(x.detach(), 0.1, 0.3, training=True)   # the same draw as the out-of-place form
    np.testing.assert_array_equal(again.numpy(), y.detach().numpy())


def test_pdist_is_torchs():
    check_op(lambda a: F.pdist(a, p=1.5), lambda a: TF.pdist(a, p=1.5), [randn(2, 5, 3)])
    assert F.pdist is cr.pdist


# ----------------------------------------------------------------------------- gumbel_softmax
def gumbel_noise(seed, shape):
    """The Gumbel noise gumbel_softmax draws after cr.manual_seed(seed): -log(-log(u)), u = rand_like in float64."""
    cr.manual_seed(seed)
    u = cr.rand_like(cr.zeros(*shape, dtype=cr.float64), dtype=cr.float64).numpy()
    return -np.log(-np.log(u))


@pytest.mark.parametrize("tau, dim, shape", [(1.0, -1, (4, 5)), (0.5, 0, (3, 4)), (2.0, 1, (2, 3, 4)), (0.7, -1, (6,))])
def test_gumbel_softmax_is_the_softmax_of_the_drawn_noise(tau, dim, shape):
    logits = randn(3, *shape)
    cr.manual_seed(11)
    y = F.gumbel_softmax(cr.tensor(logits), tau=tau, dim=dim).numpy()
    z = (logits + gumbel_noise(11, shape)) / tau
    want = np.exp(z - z.max(dim, keepdims=True))
    np.testing.assert_allclose(y, want / want.sum(dim, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(y.sum(dim), 1, rtol=1e-12)
    cr.manual_seed(11)
    f32 = F.gumbel_softmax(cr.tensor(logits.astype(np.float32)), tau=tau, dim=dim)
    assert f32.dtype == cr.float32
    np.testing.assert_allclose(f32.numpy(), y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("tau, dim", [(1.0, -1), (0.4, 0)])
def test_gumbel_softmax_matches_torchs_function_given_the_same_noise(hard, tau, dim, monkeypatch):
    """torch's own gumbel_softmax, its exponential draw replaced by e^-g of chainrule's noise g: the same
    values, and the same gradients (hard: the soft sample's, straight through)."""
    shape, logits = (5, 4), randn(5, 5, 4)
    e = np.exp(-gumbel_noise(2, shape))   # torch computes g = -log(E), E ~ Exponential(1)
    monkeypatch.setattr(torch.Tensor, "exponential_", lambda self, *a, **k: self.copy_(torch.tensor(e)))

    def ours(x):
        cr.manual_seed(2)
        return F.gumbel_softmax(x, tau=tau, hard=hard, dim=dim)
    check_op(ours, lambda x: TF.gumbel_softmax(x, tau=tau, hard=hard, dim=dim), [logits], gradcheck=not hard)
    if hard:
        cr.manual_seed(2)
        y = F.gumbel_softmax(cr.tensor(logits), tau=tau, hard=True, dim=dim).numpy()
        assert set(np.unique(y)) == {0.0, 1.0}
        np.testing.assert_array_equal(y.sum(dim), 1.0)
        cr.manual_seed(2)
        soft = F.gumbel_softmax(cr.tensor(logits), tau=tau, dim=dim).numpy()
        np.testing.assert_array_equal(y.argmax(dim), soft.argmax(dim))


def test_gumbel_softmax_draws_from_the_default_stream():
    x = cr.tensor(randn(6, 3, 4))
    cr.manual_seed(5)
    a, b = F.gumbel_softmax(x).numpy(), F.gumbel_softmax(x).numpy()
    cr.manual_seed(5)
    np.testing.assert_array_equal(F.gumbel_softmax(x).numpy(), a)   # reproducible from the seed
    assert not np.allclose(a, b)                                    # a fresh draw each call
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated and has no effect."):
        F.gumbel_softmax(x, eps=1e-5)


def test_gumbel_softmax_in_a_compiled_step_draws_afresh_as_eager():
    def make():
        cr.manual_seed(0)
        net = cr.nn.Linear(4, 3).double()
        opt = cr.optim.SGD(net.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            y = F.gumbel_softmax(net(x), tau=0.5, hard=True)
            loss = (y * cr.tensor([1.0, -2.0, 0.5], dtype=cr.float64)).sum() + (net(x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        return step
    data = [cr.tensor(randn(i, 5, 4)) for i in range(6)]
    eager, compiled = make(), cr.compile(make(), fullgraph=True)
    out = []
    for f in (eager, compiled):
        cr.manual_seed(3)
        out.append([f(x).item() for x in data])
    assert out[1] == out[0] and len(set(out[0])) == 6
    assert compiled.stats == {"traces": 1, "replays": 5, "eager": 0}


# ----------------------------------------------------------------------------- alpha dropout
ALPHA = 1.7580993408473766


def alpha_coefficients(p):
    a = 1 / math.sqrt((ALPHA ** 2 * p + 1) * (1 - p))
    return a, ALPHA * a * p, ALPHA * a * p - ALPHA * a   # a, the kept elements' shift, the dropped value


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_alpha_dropout_keeps_zero_mean_and_unit_variance(p):
    x = cr.tensor(randn(7, 400_000))
    cr.manual_seed(1)
    y = F.alpha_dropout(x, p, training=True).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01
    xf = cr.tensor(randn(8, 4000, 8, 4, 3))
    yf = F.feature_alpha_dropout(xf, p, training=True).numpy()
    assert abs(yf.mean()) < 0.02 and abs(yf.var() - 1) < 0.02


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_alpha_dropout_formula_and_gradient_given_its_mask(p):
    a, b, dropped = alpha_coefficients(p)
    x = cr.tensor(randn(3, 2000), requires_grad=True)
    w = randn(4, 2000)
    cr.manual_seed(9)
    y = F.alpha_dropout(x, p, training=True)
    (y * cr.tensor(w)).sum().backward()
    out, xs = y.detach().numpy(), x.detach().numpy()
    kept = out != dropped           # the mask, read back from the output
    assert abs(1 - kept.mean() - p) < 0.04
    np.testing.assert_allclose(out[kept], a * xs[kept] + b, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), a * kept * w, rtol=1e-12)   # a where kept, 0 where dropped
    # torch's formula in float32, on this mask: a (x m + alpha' (1 - m)) + b
    x32 = torch.tensor(xs.astype(np.float32))
    m = torch.tensor(kept.astype(np.float32))
    want = x32 * (m * a) + ((m - 1) * (ALPHA * a) + ALPHA * a * p)
    cr.manual_seed(9)
    got = F.alpha_dropout(cr.tensor(xs.astype(np.float32)), p, training=True)
    assert got.dtype == cr.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape, batched", [((4, 6, 5, 3), True), ((5, 7, 2), True), ((40, 7), True)])
def test_feature_alpha_dropout_drops_whole_channels(shape, batched):
    p = 0.4
    a, b, dropped = alpha_coefficients(p)
    x = cr.tensor(randn(5, *shape), requires_grad=True)
    cr.manual_seed(2)
    y = F.feature_alpha_dropout(x, p, training=True)
    y.sum().backward()
    out = y.detach().numpy().reshape(shape[0], shape[1], -1)
    kept = out != dropped
    assert (kept.all(-1) | ~kept.any(-1)).all()   # a channel is kept or dropped as a whole
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(x.grad.numpy().reshape(out.shape), a * kept, rtol=1e-12)


def test_alpha_dropout_edges_as_torch():
    for lib, fn in ((cr, F), (torch, TF)):
        x = lib.tensor(randn(1, 3, 4), requires_grad=True)
        for f in (fn.alpha_dropout, fn.feature_alpha_dropout):
            assert f(x) is x and f(x, 0.5) is x              # training=False by default: the identity
            assert f(x, 0.0, True) is x                       # nothing dropped
            z = f(x, 1.0, True)                               # everything: the input times 0
            z.sum().backward()
            np.testing.assert_array_equal(z.detach().numpy(), 0)
            np.testing.assert_array_equal(x.grad.numpy(), 0)
            for p in (-0.1, 1.5):
                with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {p}"):
                    f(x, p, True)
        assert fn.feature_alpha_dropout(x[0, 0], 0.5) is not None   # 1-d is fine outside training
        with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions in the input"):
            fn.feature_alpha_dropout(lib.tensor(randn(2, 5)), 0.5, True)
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
            fn.alpha_dropout(lib.tensor([1, 2, 3]), 0.5, True)


def test_alpha_dropout_modules_print_train_and_relate_as_torch():
    for name, args in [("AlphaDropout", ()), ("AlphaDropout", (0.2,)), ("FeatureAlphaDropout", (0.3, True))]:
        m, t = getattr(cr.nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(m) == repr(t) and list(m.state_dict()) == []
        x = cr.tensor(randn(0, 4, 3, 5))
        assert m.eval()(x) is x
        assert not np.allclose(m.train()(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 2"):
        cr.nn.AlphaDropout(2)
    names = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]
    for a in names:
        for b in names:
            assert issubclass(getattr(cr.nn, a), getattr(cr.nn, b)) == \
                issubclass(getattr(torch.nn, a), getattr(torch.nn, b)), (a, b)


def test_alpha_dropout_in_a_compiled_step_draws_its_mask_afresh_as_eager():
    def make():
        cr.manual_seed(0)
        net = cr.nn.Sequential(cr.nn.Linear(6, 8), cr.nn.SELU(), cr.nn.AlphaDropout(0.3), cr.nn.Linear(8, 2))
        conv = cr.nn.Sequential(cr.nn.Conv1d(2, 4, 3), cr.nn.FeatureAlphaDropout(0.4))
        opt = cr.optim.RMSprop(list(net.parameters()) + list(conv.parameters()), lr=1e-3)

        def step(x):
            opt.zero_grad()
            loss = (net(x) ** 2).mean() + conv(x.reshape(4, 2, 3)).sum()
            loss.backward()
            opt.step()
            return loss
        return step
    data = [cr.tensor(randn(i, 4, 6).astype(np.float32)) for i in range(8)]
    eager, compiled = make(), cr.compile(make(), fullgraph=True)
    out = []
    for f in (eager, compiled):
        cr.manual_seed(6)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            out.append(([f(x).item() for x in data], cr.random.get_rng().bit_generator.state))
    assert out[1] == out[0] and len(set(out[0][0])) == 8   # bit for bit, the stream left alike
    assert compiled.stats == {"traces": 1, "replays": 7, "eager": 0}


# ----------------------------------------------------------------------------- pooling and channel shuffle
LP = [(1, 2, 3.0, None, False, (2, 3, 9)), (1, 3, 2, 2, True, (2, 8)), (1, 2, 1.5, 1, False, (1, 2, 6)),
      (2, 2, 2.0, None, False, (2, 3, 4, 6)), (2, (2, 3), 3, (1, 2), True, (1, 2, 5, 7)), (2, 2, 2, 1, False, (3, 4, 4)),
      (3, 2, 2.0, None, False, (1, 2, 4, 4, 4)), (3, (1, 2, 2), 1.5, 1, True, (1, 1, 3, 5, 5))]


@pytest.mark.parametrize("dims, kernel, norm, stride, ceil, shape", LP)
def test_lp_pool_matches_torch(dims, kernel, norm, stride, ceil, shape):
    x = np.abs(randn(4, *shape)) + 0.1   # positive: x^p and its 1/p-th root are defined for every p
    name = f"lp_pool{dims}d"
    check_op(lambda t: getattr(F, name)(t, norm, kernel, stride, ceil),
             lambda t: getattr(TF, name)(t, norm, kernel, stride, ceil), [x])


@pytest.mark.filterwarnings("ignore:invalid value encountered in power:RuntimeWarning")
@pytest.mark.parametrize("norm", [math.inf, -math.inf, 2, 3])
def test_lp_pool_signs_infinities_and_zero_windows_as_torch(norm):
    """p = +-inf pools |x| by max; an odd p over a window of negative sum gives NaN as in torch, and a window
    whose x^p sum to 0 gives 0 with no gradient (torch's sign(s) relu(|s|))."""
    x = np.array([[[0.0, 0.0, 1.0, -2.0, -3.0, 1.0, 2.5, -0.5]]])
    check_op(lambda t: F.lp_pool1d(t, norm, 2), lambda t: TF.lp_pool1d(t, norm, 2), [x], gradcheck=False)
    x2 = away_from(randn(5, 2, 6, 6), [0]) * np.array([0, 1, 1, 1, 1, 1])   # zero windows in column 0
    check_op(lambda t: F.lp_pool2d(t, norm, 2), lambda t: TF.lp_pool2d(t, norm, 2), [x2], gradcheck=False)


def test_lp_pool_modules_and_errors():
    x = np.abs(randn(6, 2, 3, 6, 6)) + 0.1
    for name, args, kw, xs in [("LPPool1d", (2, 3), {}, x[0, :, 0]), ("LPPool2d", (2.5, (2, 3)), {"ceil_mode": True}, x[0]),
                               ("LPPool2d", (1, 2), {"stride": 1}, x[1]), ("LPPool3d", (2, 2), {}, x)]:
        m, t = getattr(cr.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
        assert repr(m) == repr(t)
        np.testing.assert_allclose(m(cr.tensor(xs)).numpy(), t(torch.tensor(xs)).numpy(), rtol=1e-12)
    with pytest.raises(TypeError, match="lp_pool1d: input must be float, got dtype int64"):
        F.lp_pool1d(cr.tensor([[[1, 2, 3, 4]]]), 2, 2)
    with pytest.raises(ValueError, match=r"lp_pool1d: expected a 2-d \(unbatched\) or 3-d \(batched\) input"):
        F.lp_pool1d(cr.ones(4), 2, 2)
    for a in ("LPPool1d", "LPPool2d", "LPPool3d"):
        for b in ("LPPool1d", "LPPool2d", "LPPool3d"):
            assert issubclass(getattr(cr.nn, a), getattr(cr.nn, b)) == issubclass(getattr(torch.nn, a), getattr(torch.nn, b))


@pytest.mark.parametrize("name, args, shape", [
    ("max_pool1d_with_indices", (2,), (2, 3, 7)), ("max_pool2d_with_indices", (3, 2, 1), (1, 2, 6, 5)),
    ("max_pool3d_with_indices", (2,), (1, 1, 4, 4, 4)), ("adaptive_max_pool1d_with_indices", (3,), (2, 3, 7)),
    ("adaptive_max_pool2d_with_indices", ((2, 3),), (2, 5, 7)), ("adaptive_max_pool3d_with_indices", (2,), (1, 2, 5, 4, 3))])
def test_pooling_with_indices_names_return_both_as_torch(name, args, shape):
    x = randn(7, *shape)
    y, i = getattr(F, name)(cr.tensor(x), *args)
    ty, ti = getattr(TF, name)(torch.tensor(x), *args)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    assert i.dtype == cr.int64
    check_op(lambda t: getattr(F, name)(t, *args)[0], lambda t: getattr(TF, name)(t, *args)[0], [x])


@pytest.mark.parametrize("shape, groups", [((2, 6, 3), 3), ((1, 4, 2, 2), 2), ((2, 6, 2, 1, 2), 2), ((3, 5, 4), 1),
                                           ((2, 6, 3), 6)])
def test_channel_shuffle_matches_torch(shape, groups):
    check_op(lambda t: F.channel_shuffle(t, groups), lambda t: TF.channel_shuffle(t, groups), [randn(8, *shape)])
    ints = np.arange(np.prod(shape)).reshape(shape)
    got = cr.nn.ChannelShuffle(groups)(cr.tensor(ints))
    assert got.dtype == cr.int64 and repr(cr.nn.ChannelShuffle(groups)) == repr(torch.nn.ChannelShuffle(groups))
    np.testing.assert_array_equal(got.numpy(), TF.channel_shuffle(torch.tensor(ints), groups).numpy())


def test_channel_shuffle_errors_as_torch():
    for lib, fn in ((cr, F), (torch, TF)):
        x = lib.ones(1, 4, 2)
        with pytest.raises(RuntimeError, match=r"channel_shuffle expects input with > 2 dims, but got input with sizes "
                                               r"\[4, 2\]"):
            fn.channel_shuffle(lib.ones(4, 2), 2)
        for g in (0, -1):
            with pytest.raises(RuntimeError, match=f"Number of groups to divide channels in must be positive. Value "
                                                   f"of groups:{g}"):
                fn.channel_shuffle(x, g)
        with pytest.raises(RuntimeError, match="Number of channels must be divisible by groups. Got 4 channels and 3 "
                                               "groups."):
            fn.channel_shuffle(x, 3)


# ----------------------------------------------------------------------------- losses
def multilabel_targets(seed, n, c):
    """Rows of target class lists ended by -1 (some full, some empty, some with a repeat), entries after
    the -1 arbitrary classes (ignored)."""
    rng = R(seed)
    t = rng.integers(0, c, (n, c))
    for i in range(n):
        k = rng.integers(0, c + 1) if i > 1 else (c if i == 0 else 0)
        t[i, :k] = rng.permutation(c)[:k]
        if k < c:
            t[i, k] = -1
    if n > 2 and c > 2:
        t[2, :3] = [1, 1, -1]   # a class listed twice counts twice
    return t


@pytest.mark.parametrize("shape", [(6, 5), (1, 3), (4,), (3, 1)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_margin_loss_matches_torch(shape, reduction):
    t = multilabel_targets(1, *((shape[0], shape[1]) if len(shape) == 2 else (1, shape[0])))
    t = t.reshape(shape)
    check_op(lambda x: F.multilabel_margin_loss(x, cr.tensor(t), reduction=reduction),
             lambda x: TF.multilabel_margin_loss(x, torch.tensor(t), reduction=reduction),
             [randn(2, *shape) * 0.7])


def test_multilabel_margin_loss_at_the_hinge_0d_and_module():
    x, t = np.array([[0.5, 1.5, 0.0, 2.5]]), np.array([[1, 3, -1, 0]])   # margins of exactly 0: no gradient
    check_op(lambda a: F.multilabel_margin_loss(a, t), lambda a: TF.multilabel_margin_loss(a, torch.tensor(t)), [x],
             gradcheck=False)
    for tgt in (0, -1):
        check_op(lambda a: F.multilabel_margin_loss(a, cr.tensor(tgt)),
                 lambda a: TF.multilabel_margin_loss(a, torch.tensor(tgt)), [np.array(0.3)], gradcheck=False)
    m, tm = cr.nn.MultiLabelMarginLoss(reduction="sum"), torch.nn.MultiLabelMarginLoss(reduction="sum")
    assert repr(m) == repr(tm) and list(m.state_dict()) == []
    x, t = randn(3, 4, 6), multilabel_targets(4, 4, 6)
    np.testing.assert_allclose(m(cr.tensor(x), cr.tensor(t)).item(), tm(torch.tensor(x), torch.tensor(t)).item(),
                               rtol=1e-12)
    with pytest.warns(UserWarning):   # the deprecated flags, as torch reads them
        want = TF.multilabel_margin_loss(torch.tensor(x), torch.tensor(t), size_average=False).item()
    np.testing.assert_allclose(F.multilabel_margin_loss(cr.tensor(x), t, size_average=False).item(), want, rtol=1e-12)


def test_multilabel_margin_loss_errors():
    x = cr.tensor([[0.1, 0.2, 0.4, 0.8]])
    for bad in ([[3, 0, -2, 1]], [[3, 4, -1, 1]], [[3, 0, -1, 5]]):   # the whole target in [-1, C)
        with pytest.raises(RuntimeError, match=r"multilabel_margin_loss: target holds -?\d, outside \[-1, 4\)"):
            F.multilabel_margin_loss(x, cr.tensor(bad))
        with pytest.raises(RuntimeError, match="out of range"):
            TF.multilabel_margin_loss(torch.tensor(x.numpy()), torch.tensor(bad))
    with pytest.raises(RuntimeError, match=r"inconsistent target size: \[4\] for input of size: \[1, 4\]"):
        F.multilabel_margin_loss(x, cr.tensor([3, 0, -1, 1]))
    with pytest.raises(RuntimeError, match="expected target of integer class indices"):
        F.multilabel_margin_loss(x, cr.tensor([[3.0, 0, -1, 1]]))
    with pytest.raises(RuntimeError, match=r"Expected non-empty vector or matrix with optional 0-dim batch size, "
                                           r"but got: \[1, 1, 4\]"):
        F.multilabel_margin_loss(x.reshape(1, 1, 4), cr.tensor([[[3, 0, -1, 1]]]))
    with pytest.raises(ValueError, match="reduction"):
        F.multilabel_margin_loss(x, cr.tensor([[3, 0, -1, 1]]), reduction="bad")


def test_multilabel_margin_loss_in_a_compiled_step_follows_each_batchs_targets():
    w = cr.tensor(randn(5, 6, 5), requires_grad=True)

    def step(x, t):
        loss = F.multilabel_margin_loss(x @ w, t)
        loss.backward()
        return loss
    compiled = cr.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for i in range(4):
            x, t = cr.tensor(randn(10 + i, 4, 6)), cr.tensor(multilabel_targets(20 + i, 4, 5))
            w.grad = None
            got, g = compiled(x, t).item(), w.grad.numpy().copy()
            w.grad = None
            assert got == step(x, t).item()
            np.testing.assert_array_equal(g, w.grad.numpy())
    assert compiled.stats["replays"] == 3
    with pytest.warns(CompileWarning, match="gather's indices outside the input"):   # checked at every replay
        with pytest.raises(RuntimeError, match=r"target holds 5, outside \[-1, 5\)"):
            compiled(x, cr.tensor(np.full((4, 5), 5)))


@pytest.mark.parametrize("shape", [(5, 4), (4,), (3, 2, 4)])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_triplet_margin_with_distance_loss_matches_torch(shape, swap, reduction):
    kw = dict(margin=0.9, swap=swap, reduction=reduction)
    arrays = [randn(i, *shape) for i in range(3)]
    check_op(lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, **kw),
             lambda a, p, n: TF.triplet_margin_with_distance_loss(a, p, n, **kw), arrays)
    check_op(lambda a, p, n: F.triplet_margin_with_distance_loss(
                 a, p, n, distance_function=lambda u, v: 1.0 - F.cosine_similarity(u, v, -1), **kw),
             lambda a, p, n: TF.triplet_margin_with_distance_loss(
                 a, p, n, distance_function=lambda u, v: 1.0 - TF.cosine_similarity(u, v, -1), **kw), arrays)


def test_triplet_margin_with_distance_loss_module_and_errors():
    m, t = cr.nn.TripletMarginWithDistanceLoss(), torch.nn.TripletMarginWithDistanceLoss()
    assert repr(m) == repr(t) and list(m.state_dict()) == list(t.state_dict()) == []
    a, p, n = (randn(i, 4, 3) for i in range(3))
    np.testing.assert_allclose(m(*map(cr.tensor, (a, p, n))).item(), t(*map(torch.tensor, (a, p, n))).item(), rtol=1e-12)
    m = cr.nn.TripletMarginWithDistanceLoss(distance_function=cr.nn.PairwiseDistance(p=1), margin=2.0, swap=True)
    t = torch.nn.TripletMarginWithDistanceLoss(distance_function=torch.nn.PairwiseDistance(p=1), margin=2.0, swap=True)
    assert repr(m) == repr(t)
    np.testing.assert_allclose(m(*map(cr.tensor, (a, p, n))).item(), t(*map(torch.tensor, (a, p, n))).item(), rtol=1e-12)
    for lib, fn in ((cr, F), (torch, TF)):
        x = lib.ones(2, 3)
        with pytest.raises(ValueError, match="margin must be greater than 0, got 0"):
            fn.triplet_margin_with_distance_loss(x, x, x, margin=0)
        with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
            fn.triplet_margin_with_distance_loss(x, x, x, reduction="bad")
        with pytest.raises(RuntimeError, match="anchor 2D, positive 1D, and negative 2D inputs"):
            fn.triplet_margin_with_distance_loss(x, lib.ones(3), x)
        with pytest.raises(ValueError, match="TripletMarginWithDistanceLoss: expected margin to be greater than 0"):
            lib.nn.TripletMarginWithDistanceLoss(margin=-1)


TOP_LEVEL = [("relu_", ()), ("selu_", ()), ("celu_", (1.25,)), ("threshold_", (0.3, -2.0)), ("rrelu_", (0.1, 0.3)),
             ("selu", ()), ("celu", (0.5,)), ("threshold", (0.3, -2.0)), ("rrelu", (0.1, 0.3))]


@pytest.mark.parametrize("name, args", TOP_LEVEL)
def test_top_level_activations_are_torchs(name, args):
    """torch.relu_, torch.selu_, ... (torch has no top-level elu_, leaky_relu_ or hardtanh_: nor does chainrule)."""
    x = away_from(randn(7, 3, 4) * 2, [0, 0.3])
    got, want = getattr(cr, name)(cr.tensor(x), *args), getattr(torch, name)(torch.tensor(x), *args)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-15)
    if name.endswith("_"):
        assert inplace_run(cr, getattr(cr, name), name, args, x)[0]
        with pytest.raises(TypeError, match=rf"{name}\(\): argument 'input' \(position 1\) must be Tensor, not list"):
            getattr(cr, name)([1.0, 2.0], *args)
    check_op(lambda t: getattr(cr, name)(t * 1, *args), lambda t: getattr(torch, name)(t * 1, *args), [x])
    for absent in ("elu_", "leaky_relu_", "hardtanh_"):
        assert hasattr(cr, absent) is hasattr(torch, absent) is False


def test_top_level_rrelu_takes_torchs_generator():
    x = -np.ones(200)
    for fn in (lambda t, g: cr.rrelu_(t, 0.1, 0.3, True, g), lambda t, g: cr.rrelu(t, 0.1, 0.3, True, generator=g)):
        a, b = (fn(cr.tensor(x), cr.Generator().manual_seed(3)).numpy() for _ in range(2))
        np.testing.assert_array_equal(a, b)   # the generator's draw, not the default stream's
        assert ((-a >= 0.1) & (-a <= 0.3)).all() and len(np.unique(a)) > 100
