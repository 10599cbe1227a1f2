"""MultiheadAttention, the Transformer layers, interpolate / Upsample, pixel (un)shuffle and
unfold / fold against PyTorch: values, gradients of inputs and of every parameter (float64),
finite-difference gradchecks, printed forms and state_dicts moved both ways."""
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from tests.oracle import check_op

RTOL, ATOL = 1e-7, 1e-9


def _pair(cr_cls, t_cls, *args, **kwargs):
    """The same module in torch and chainrule, float64, chainrule loaded with torch's weights."""
    torch.manual_seed(0)
    t = t_cls(*args, **kwargs).double()
    c = cr_cls(*args, **kwargs).double()
    c.load_state_dict(t.state_dict())
    return c, t


def _state_names(m):
    return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]


def _to_cr(a):
    return a if a is None or isinstance(a, bool) else cr.tensor(np.asarray(a))


def _to_t(a):
    return a if a is None or isinstance(a, bool) else torch.tensor(np.asarray(a))


def _compare(c, t, arrays, call, masks=(), seed=1):
    """Run ``call(module, *inputs, *masks)`` in both libraries; compare every output, the gradients of
    the inputs and of every parameter (by name) for the same random upstream gradients."""
    xs = [cr.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    with warnings.catch_warnings(record=True) as cw:
        warnings.simplefilter("always")
        co = call(c, *xs, *[_to_cr(m) for m in masks])
    with warnings.catch_warnings(record=True) as tw:
        warnings.simplefilter("always")
        to = call(t, *ts, *[_to_t(m) for m in masks])
    assert sorted({str(w.message) for w in cw}) == sorted({str(w.message) for w in tw})
    co, to = (co, to) if isinstance(co, tuple) else ((co,), (to,))
    rng = np.random.default_rng(seed)
    closs, tloss = 0, 0
    for a, b in zip(co, to):
        assert (a is None) == (b is None)
        if a is None:
            continue
        assert a.shape == tuple(b.shape) and a.dtype == np.float64
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=RTOL, atol=ATOL)
        g = rng.standard_normal(a.shape)
        closs = closs + (a * cr.tensor(g)).sum()
        tloss = tloss + (b * torch.tensor(g)).sum()
    closs.backward()
    tloss.backward()
    for x, tx in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=RTOL, atol=ATOL)
    tparams = dict(t.named_parameters())
    for name, p in c.named_parameters():
        tg = tparams[name].grad
        tg = np.zeros(p.shape) if tg is None else tg.numpy()
        got = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
        np.testing.assert_allclose(got, tg, rtol=RTOL, atol=ATOL, err_msg=f"gradient of {name}")
    return co


# ----------------------------------------------------------------------------- MultiheadAttention
def _mha_call(need_weights=True, average=True, is_causal=False):
    def call(m, q, k, v, attn_mask=None, kpm=None):
        return m(q, k, v, key_padding_mask=kpm, need_weights=need_weights, attn_mask=attn_mask,
                 average_attn_weights=average, is_causal=is_causal)
    return call


def _masks(kind, L, S, N, H, rng):
    """(attn_mask, key_padding_mask) of one kind; no row is fully masked."""
    if kind == "none":
        return None, None
    if kind == "bool2d":
        m = rng.random((L, S)) < 0.4
        m[:, 0] = False
        return m, None
    if kind == "float3d":
        return rng.standard_normal((N * H, L, S)), None
    if kind == "kpm_bool":
        m = np.zeros((N, S), bool)
        m[0, -2:] = True
        return None, m
    if kind == "both":  # a float 2-d attn_mask and a bool key_padding_mask, merged as torch merges them
        m = np.zeros((N, S), bool)
        m[-1, -1] = True
        return rng.standard_normal((L, S)), m
    if kind == "kpm_float":
        return (rng.random((L, S)) < 0.3) & (np.arange(S) > 0), rng.standard_normal((N, S))
    raise ValueError(kind)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mask", ["none", "bool2d", "float3d", "kpm_bool", "both", "kpm_float"])
def test_multihead_attention_matches_torch(batch_first, need_weights, mask):
    rng = np.random.default_rng(0)
    E, H, L, S, N = 8, 2, 4, 5, 3
    c, t = _pair(nn.MultiheadAttention, torch.nn.MultiheadAttention, E, H, batch_first=batch_first)
    with torch.no_grad():  # non-zero biases, so that their gradients and values are exercised
        t.in_proj_bias.normal_()
        t.out_proj.bias.normal_()
    c.load_state_dict(t.state_dict())
    shape = (lambda n: (N, n, E)) if batch_first else (lambda n: (n, N, E))
    q, k, v = rng.standard_normal(shape(L)), rng.standard_normal(shape(S)), rng.standard_normal(shape(S))
    _compare(c, t, [q, k, v], _mha_call(need_weights), _masks(mask, L, S, N, H, rng))


def test_multihead_attention_gradcheck_and_self_attention():
    rng = np.random.default_rng(1)
    c, t = _pair(nn.MultiheadAttention, torch.nn.MultiheadAttention, 6, 3)
    x = rng.standard_normal((4, 2, 6))
    check_op(lambda a: c(a, a, a)[0], lambda a: t(a, a, a)[0], [x], rtol=RTOL, atol=ATOL)
    check_op(lambda a, b: c(a, b, b, need_weights=False)[0], lambda a, b: t(a, b, b, need_weights=False)[0],
             [x, rng.standard_normal((3, 2, 6))], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("options", [dict(kdim=4, vdim=6), dict(bias=False), dict(add_bias_kv=True),
                                     dict(add_zero_attn=True), dict(add_bias_kv=True, add_zero_attn=True,
                                                                    kdim=3, vdim=5)])
def test_multihead_attention_variants(options):
    rng = np.random.default_rng(2)
    E, H, L, S, N = 8, 4, 3, 5, 2
    c, t = _pair(nn.MultiheadAttention, torch.nn.MultiheadAttention, E, H, **options)
    assert _state_names(c) == _state_names(t)
    assert repr(c) == repr(t)
    q = rng.standard_normal((L, N, E))
    k = rng.standard_normal((S, N, options.get("kdim", E)))
    v = rng.standard_normal((S, N, options.get("vdim", E)))
    kpm = np.zeros((N, S), bool)
    kpm[1, 0] = True
    for need in (True, False):
        c.zero_grad()
        t.zero_grad()
        _compare(c, t, [q, k, v], _mha_call(need), (rng.random((L, S)) < 0.3, kpm))


def test_multihead_attention_unbatched_per_head_weights_and_causal():
    rng = np.random.default_rng(3)
    E, H, L = 8, 2, 5
    c, t = _pair(nn.MultiheadAttention, torch.nn.MultiheadAttention, E, H, batch_first=True)
    x = rng.standard_normal((L, E))
    causal = np.triu(np.ones((L, L), bool), 1)
    kpm = np.zeros(L, bool)
    kpm[-1] = True
    out = _compare(c, t, [x, x, x], _mha_call(True, average=False), (causal, kpm))
    assert out[1].shape == (H, L, L)
    # is_causal is a hint: with need_weights=False and no padding mask PyTorch masks the upper triangle
    not_causal = np.zeros((L, L), bool)
    _compare(c, t, [x, x, x], _mha_call(False, is_causal=True), (not_causal,))
    _compare(c, t, [x, x, x], _mha_call(True, is_causal=True), (causal,))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        c(cr.tensor(x), cr.tensor(x), cr.tensor(x), is_causal=True)


def test_multihead_attention_state_dict_both_ways_and_init():
    c = nn.MultiheadAttention(12, 3, kdim=5)
    t = torch.nn.MultiheadAttention(12, 3, kdim=5)
    assert _state_names(c) == _state_names(t)
    t.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in c.state_dict().items()})
    for (k, a), (_, b) in zip(c.state_dict().items(), t.state_dict().items()):
        np.testing.assert_array_equal(np.asarray(a), b.numpy())
    assert np.all(c.in_proj_bias.detach().numpy() == 0) and np.all(c.out_proj.bias.detach().numpy() == 0)
    bound = np.sqrt(6 / (12 + 12))
    assert np.abs(c.q_proj_weight.detach().numpy()).max() <= bound
    assert c.in_proj_weight is None and c.q_proj_weight.dtype == np.float32
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(10, 3)


def test_multihead_attention_dropout_only_in_training():
    rng = np.random.default_rng(4)
    c = nn.MultiheadAttention(8, 2, dropout=0.5).double()
    x = cr.tensor(rng.standard_normal((6, 2, 8)))
    cr.manual_seed(0)
    a = c(x, x, x)[0]
    b = c(x, x, x)[0]
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())  # two draws of the mask
    c.eval()
    np.testing.assert_array_equal(c(x, x, x)[0].detach().numpy(), c(x, x, x)[0].detach().numpy())
    w = c(x, x, x)[1]
    np.testing.assert_allclose(w.detach().numpy().sum(-1), 1.0)


# ----------------------------------------------------------------------------- transformer layers
def _enc_call(m, x, mask=None, kpm=None, is_causal=False):
    return m(x, src_mask=mask, src_key_padding_mask=kpm, is_causal=is_causal)


@pytest.mark.parametrize("batch_first,norm_first,activation", [(False, False, "relu"), (True, True, "gelu"),
                                                               (True, False, "relu")])
def test_transformer_encoder_layer_matches_torch(batch_first, norm_first, activation):
    rng = np.random.default_rng(5)
    E, H, S, N = 8, 2, 5, 3
    c, t = _pair(nn.TransformerEncoderLayer, torch.nn.TransformerEncoderLayer, E, H, 16, dropout=0.0,
                 activation=activation, batch_first=batch_first, norm_first=norm_first)
    assert repr(c) == repr(t) and _state_names(c) == _state_names(t)
    x = rng.standard_normal((N, S, E) if batch_first else (S, N, E))
    causal = np.triu(np.ones((S, S), bool), 1)
    kpm = np.zeros((N, S), bool)
    kpm[0, -1] = True
    for mode in ("train", "eval"):
        getattr(c, mode)()
        getattr(t, mode)()
        for masks in [(), (causal,), (None, kpm), (rng.standard_normal((S, S)), kpm)]:
            c.zero_grad()
            t.zero_grad()
            _compare(c, t, [x], _enc_call, masks)
    c.zero_grad()
    t.zero_grad()
    _compare(c, t, [x], lambda m, a, mask: m(a, src_mask=mask, is_causal=True),
             (cr.nn.Transformer.generate_square_subsequent_mask(S).numpy(),))


def test_transformer_encoder_layer_callable_activation_and_unbatched():
    rng = np.random.default_rng(6)
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoderLayer(6, 3, 10, dropout=0.0, activation=torch.nn.GELU()).double()
    c = nn.TransformerEncoderLayer(6, 3, 10, dropout=0.0, activation=nn.GELU()).double()
    c.load_state_dict(t.state_dict())
    assert repr(c) == repr(t)
    check_op(lambda a: c(a), lambda a: t(a), [rng.standard_normal((4, 6))], rtol=RTOL, atol=ATOL)
    c2 = nn.TransformerEncoderLayer(6, 3, 10, dropout=0.0, activation=F.silu).double()
    t2 = torch.nn.TransformerEncoderLayer(6, 3, 10, dropout=0.0, activation=torch.nn.functional.silu).double()
    c2.load_state_dict(t2.state_dict())
    check_op(lambda a: c2(a), lambda a: t2(a), [rng.standard_normal((4, 2, 6))], gradcheck=False,
             rtol=RTOL, atol=ATOL)
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(6, 3, activation="tanh")


def test_transformer_encoder_deep_copies_and_causal_detection():
    rng = np.random.default_rng(7)
    E, S, N = 8, 5, 2
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0, batch_first=True)
    t = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(E), enable_nested_tensor=False).double()
    cl = nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0, batch_first=True)
    c = nn.TransformerEncoder(cl, 2, norm=nn.LayerNorm(E), enable_nested_tensor=False).double()
    assert repr(c) == repr(t) and _state_names(c) == _state_names(t)
    assert c.layers[0].linear1.weight is not c.layers[1].linear1.weight
    assert c.layers[0].linear1.weight is not cl.linear1.weight
    c.load_state_dict(t.state_dict())
    x = rng.standard_normal((N, S, E))
    causal = torch.nn.Transformer.generate_square_subsequent_mask(S, dtype=torch.float64).numpy()
    kpm = np.zeros((N, S), bool)
    kpm[1, -2:] = True
    call = (lambda m, a, mask=None, pad=None: m(a, mask=mask, src_key_padding_mask=pad))
    for mode in ("train", "eval"):
        getattr(c, mode)()
        getattr(t, mode)()
        for masks in [(), (causal,), (causal, kpm), (np.triu(np.ones((S, S), bool), 1),)]:
            c.zero_grad()
            t.zero_grad()
            _compare(c, t, [x], call, masks)
    # state_dict moves from chainrule to torch too
    c2 = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0), 2).double()
    t2 = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0), 2,
                                     enable_nested_tensor=False).double()
    t2.load_state_dict({k: torch.from_numpy(np.asarray(v).copy()) for k, v in c2.state_dict().items()})
    y = rng.standard_normal((S, N, E))
    with torch.no_grad(), cr.no_grad():
        np.testing.assert_allclose(c2(cr.tensor(y)).numpy(), t2(torch.tensor(y)).numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("batch_first,norm_first", [(False, False), (True, True)])
def test_transformer_decoder_and_transformer_match_torch(batch_first, norm_first):
    rng = np.random.default_rng(8)
    E, S, T, N = 8, 5, 4, 2
    c, t = _pair(nn.Transformer, torch.nn.Transformer, E, 2, 2, 1, 16, dropout=0.0, batch_first=batch_first,
                 norm_first=norm_first)
    assert repr(c) == repr(t) and _state_names(c) == _state_names(t)
    src = rng.standard_normal((N, S, E) if batch_first else (S, N, E))
    tgt = rng.standard_normal((N, T, E) if batch_first else (T, N, E))
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(T).numpy().astype(np.float64)
    src_kpm = np.zeros((N, S), bool)
    src_kpm[0, -1] = True
    tgt_kpm = np.zeros((N, T), bool)
    tgt_kpm[1, -1] = True

    def call(m, a, b, tm=None, skpm=None, tkpm=None):
        return m(a, b, tgt_mask=tm, src_key_padding_mask=skpm, tgt_key_padding_mask=tkpm,
                 memory_key_padding_mask=skpm)
    for masks in [(), (tgt_mask, src_kpm, tgt_kpm)]:
        c.zero_grad()
        t.zero_grad()
        _compare(c, t, [src, tgt], call, masks)
    c.eval()
    t.eval()
    c.zero_grad()
    t.zero_grad()
    _compare(c, t, [src, tgt], lambda m, a, b, tm: m(a, b, tgt_mask=tm, tgt_is_causal=True), (tgt_mask,))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        c(cr.tensor(src), cr.zeros(*tgt.shape[:-1], 3))


def test_generate_square_subsequent_mask():
    for n in (1, 4):
        m = nn.Transformer.generate_square_subsequent_mask(n)
        tm = torch.nn.Transformer.generate_square_subsequent_mask(n)
        assert m.dtype == np.float32
        np.testing.assert_array_equal(m.numpy(), tm.numpy())
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype=cr.float64).dtype == np.float64


# ----------------------------------------------------------------------------- interpolate and Upsample
INTERP_CASES = [
    ((2, 3, 5), dict(scale_factor=2)),
    ((2, 3, 5), dict(size=7)),
    ((2, 3, 5), dict(size=3, mode="nearest-exact")),
    ((2, 3, 5), dict(scale_factor=1.7, mode="linear")),
    ((2, 3, 5), dict(size=8, mode="linear", align_corners=True)),
    ((1, 2, 4, 5), dict(scale_factor=(2, 3))),
    ((1, 2, 4, 5), dict(size=(3, 7))),
    ((1, 2, 5, 4), dict(scale_factor=2.1)),  # 2.1 * 5 -> 10 = 2 * 5: torch's shortcut
    ((1, 2, 5, 4), dict(scale_factor=0.5, mode="nearest-exact")),
    ((1, 2, 4, 5), dict(scale_factor=2, mode="bilinear")),
    ((1, 2, 4, 5), dict(size=(7, 3), mode="bilinear")),
    ((1, 2, 4, 5), dict(scale_factor=1.5, mode="bilinear", align_corners=True)),
    ((1, 2, 4, 5), dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True)),
    ((2, 1, 3, 3), dict(size=(1, 6), mode="bilinear", align_corners=True)),
    ((1, 2, 3, 4, 3), dict(scale_factor=2, mode="trilinear")),
    ((1, 2, 3, 4, 3), dict(size=(2, 5, 4), mode="nearest")),
    ((1, 2, 6, 9), dict(size=(4, 3), mode="area")),
    ((1, 2, 6, 9), dict(scale_factor=0.5, mode="area")),
    ((1, 2, 7), dict(size=3, mode="area")),
    ((1, 2, 4, 6, 5), dict(size=(2, 4, 3), mode="area")),     # 5-d: adaptive_avg_pool3d
    ((1, 1, 6, 4, 8), dict(scale_factor=0.5, mode="area")),
]


@pytest.mark.parametrize("shape,kw", INTERP_CASES)
def test_interpolate_matches_torch(shape, kw):
    x = np.random.default_rng(9).standard_normal(shape)
    check_op(lambda a: F.interpolate(a, **kw), lambda a: torch.nn.functional.interpolate(a, **kw), [x])


def test_interpolate_float32_nearest_indices_and_errors():
    x = np.random.default_rng(10).standard_normal((1, 1, 7, 9)).astype(np.float32)
    for s in (0.3, 1.37, 2.5, 3.0):
        for mode in ("nearest", "nearest-exact"):
            got = F.interpolate(cr.tensor(x), scale_factor=s, mode=mode)
            want = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=s, mode=mode)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    got = F.interpolate(cr.tensor(x), size=(11, 4), mode="bilinear")
    want = torch.nn.functional.interpolate(torch.tensor(x), size=(11, 4), mode="bilinear")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    img = np.random.default_rng(18).integers(0, 256, (2, 3, 5, 4), dtype=np.uint8)
    got = F.interpolate(cr.from_numpy(img), size=(8, 9))
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got.numpy(), torch.nn.functional.interpolate(torch.tensor(img), size=(8, 9)).numpy())
    t = cr.zeros(1, 1, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        F.interpolate(t, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(t)
    with pytest.raises(NotImplementedError, match="Got 3D input, but bilinear mode needs 4D input"):
        F.interpolate(t, scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(t, scale_factor=2, align_corners=True)


def test_upsample_modules():
    x = np.random.default_rng(11).standard_normal((2, 3, 4, 5))
    for c, t in [(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
                 (nn.Upsample(size=(3, 7), mode="bilinear"), torch.nn.Upsample(size=(3, 7), mode="bilinear")),
                 (nn.UpsamplingNearest2d(scale_factor=3), torch.nn.UpsamplingNearest2d(scale_factor=3)),
                 (nn.UpsamplingBilinear2d(size=6), torch.nn.UpsamplingBilinear2d(size=6))]:
        assert repr(c) == repr(t)
        check_op(c, t, [x], gradcheck=False)
    check_op(nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(scale_factor=2), [x[:1, :1]])


@pytest.mark.parametrize("name,kw", [("upsample", dict(scale_factor=2, mode="bilinear")),
                                     ("upsample_nearest", dict(size=(3, 7))),
                                     ("upsample_bilinear", dict(scale_factor=1.5))])
def test_deprecated_upsample_functions_warn_as_torch(name, kw):
    x = np.random.default_rng(17).standard_normal((1, 2, 4, 5))
    with pytest.warns(UserWarning, match=f"`nn.functional.{name}` is deprecated"):
        check_op(lambda a: getattr(F, name)(a, **kw), lambda a: getattr(torch.nn.functional, name)(a, **kw), [x],
                 gradcheck=False)


@pytest.mark.parametrize("shape,r", [((2, 8, 3, 2), 2), ((18, 2, 3), 3), ((2, 1, 4, 2, 2), 2)])
def test_pixel_shuffle_and_unshuffle(shape, r):
    x = np.random.default_rng(12).standard_normal(shape)
    check_op(lambda a: F.pixel_shuffle(a, r), lambda a: torch.nn.functional.pixel_shuffle(a, r), [x])
    y = np.random.default_rng(13).standard_normal(shape[:-2] + (shape[-2] * r, shape[-1] * r))
    check_op(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), [y])
    assert repr(nn.PixelShuffle(r)) == repr(torch.nn.PixelShuffle(r))
    assert repr(nn.PixelUnshuffle(r)) == repr(torch.nn.PixelUnshuffle(r))
    with pytest.raises(RuntimeError, match="not divisible by"):
        F.pixel_shuffle(cr.zeros(1, 5, 2, 2), 2)


# ----------------------------------------------------------------------------- unfold and fold
FOLD_CASES = [dict(kernel_size=2), dict(kernel_size=(2, 3), stride=(1, 2)),
              dict(kernel_size=3, padding=1, stride=2), dict(kernel_size=(2, 2), dilation=(2, 1), padding=(1, 0))]


@pytest.mark.parametrize("kw", FOLD_CASES)
def test_unfold_and_fold_match_torch(kw):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 3, 6, 7))
    check_op(lambda a: F.unfold(a, **kw), lambda a: torch.nn.functional.unfold(a, **kw), [x])
    check_op(lambda a: F.unfold(a, **kw), lambda a: torch.nn.functional.unfold(a, **kw), [x[0]])
    cols = torch.nn.functional.unfold(torch.tensor(x), **kw)
    y = rng.standard_normal(tuple(cols.shape))
    check_op(lambda a: F.fold(a, (6, 7), **kw), lambda a: torch.nn.functional.fold(a, (6, 7), **kw), [y])
    check_op(nn.Fold((6, 7), **kw), torch.nn.Fold((6, 7), **kw), [y[1]])
    assert repr(nn.Fold((6, 7), **kw)) == repr(torch.nn.Fold((6, 7), **kw))
    assert repr(nn.Unfold(**kw)) == repr(torch.nn.Unfold(**kw))


def test_fold_errors_name_the_block_count():
    with pytest.raises(RuntimeError, match=r"calculated number of sliding blocks 3 \* 4 = 12"):
        F.fold(cr.zeros(1, 4, 10), (4, 5), 2)
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        F.fold(cr.zeros(1, 5, 12), (4, 5), 2)


# ----------------------------------------------------------------------------- dtypes, the function, training
def test_float32_stays_float32_and_functional_form_matches_torch():
    rng = np.random.default_rng(15)
    c = nn.MultiheadAttention(8, 2)
    x = cr.tensor(rng.standard_normal((3, 2, 8)).astype(np.float32))
    kpm = cr.tensor(np.array([[False, False, True], [False, False, False]]))
    out, w = c(x, x, x, key_padding_mask=kpm, attn_mask=cr.tensor(np.eye(3) < 0))
    assert out.dtype == np.float32 and w.dtype == np.float32
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    assert layer(x, src_key_padding_mask=kpm).dtype == np.float32
    # the functional form, with PyTorch's positional arguments
    t = torch.nn.MultiheadAttention(8, 2).double()
    p = [t.in_proj_weight, t.in_proj_bias, None, None, False, 0.0, t.out_proj.weight, t.out_proj.bias]
    cp = [cr.tensor(v.detach().numpy(), requires_grad=True) if torch.is_tensor(v) else v for v in p]
    q, k = rng.standard_normal((4, 2, 8)), rng.standard_normal((5, 2, 8))
    check_op(lambda a, b: F.multi_head_attention_forward(a, b, b, 8, 2, *cp, training=False)[0],
             lambda a, b: torch.nn.functional.multi_head_attention_forward(a, b, b, 8, 2, *p, training=False)[0],
             [q, k], rtol=RTOL, atol=ATOL)


def test_a_tiny_transformer_trains_as_in_torch():
    """A next-token model (embedding, a causal encoder of two layers, a linear head) trained by Adam:
    the same losses step by step."""
    V, E, T, N = 11, 16, 6, 4
    rng = np.random.default_rng(16)
    tokens = rng.integers(0, V, (N, T + 1))

    def build(lib):
        layer = lib.nn.TransformerEncoderLayer(E, 4, 32, dropout=0.0, batch_first=True, norm_first=True)
        kw = {} if lib is cr else dict(enable_nested_tensor=False)
        return lib.nn.ModuleList([lib.nn.Embedding(V, E), lib.nn.TransformerEncoder(layer, 2, **kw),
                                  lib.nn.Linear(E, V)]).double()

    torch.manual_seed(0)
    t = build(torch)
    c = build(cr)
    c.load_state_dict(t.state_dict())
    mask_t = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    mask_c = nn.Transformer.generate_square_subsequent_mask(T, dtype=cr.float64)
    opt_t = torch.optim.Adam(t.parameters(), lr=1e-2)
    opt_c = cr.optim.Adam(c.parameters(), lr=1e-2)
    for _ in range(4):
        losses = []
        for lib, m, opt, mask in ((torch, t, opt_t, mask_t), (cr, c, opt_c, mask_c)):
            x, y = lib.tensor(tokens[:, :-1]), lib.tensor(tokens[:, 1:])
            logits = m[2](m[1](m[0](x), mask=mask, is_causal=True))
            loss = lib.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-9)


def test_multihead_attention_errors_are_torch_s():
    m = nn.MultiheadAttention(8, 2)
    x = cr.zeros(3, 2, 8)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is \(4, 4\), but should be \(3, 3\)"):
        m(x, x, x, attn_mask=cr.zeros(4, 4))
    with pytest.raises(AssertionError, match="key_padding_mask shape of"):
        m(x, x, x, key_padding_mask=cr.tensor(np.zeros((2, 4), bool)))
    with pytest.raises(AssertionError, match="only bool and floating types of attn_mask are supported"):
        m(x, x, x, attn_mask=cr.tensor(np.zeros((3, 3), np.int64)))
    with pytest.raises(NotImplementedError, match="static_k"):
        F.multi_head_attention_forward(x, x, x, 8, 2, m.in_proj_weight, m.in_proj_bias, None, None, False, 0.0,
                                       m.out_proj.weight, m.out_proj.bias, static_k=x)
