"""Layers beyond the MLP (convolution, pooling, normalisation, dropout, embedding, recurrent): each
fused rule's float64 gradcheck, each function and layer against PyTorch (values, gradients, running
buffers; several shapes, strides and paddings, odd sizes, batch 1, eval mode), and state_dicts moved
both ways between chainrule and PyTorch."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.rules import conv as rconv, norm as rnorm, pool as rpool, rnn as rrnn
from chainrule.rules import dropout as rdropout, embedding as rembedding
from oracle import check_op


def _t(a, grad=True):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ----------------------------------------------------------------------------- fused rules: gradcheck
def test_conv_rule_gradchecks_with_stride_padding_dilation_groups():
    rng = np.random.default_rng(0)
    x, w, b = _t(rng.standard_normal((2, 4, 5, 6))), _t(rng.standard_normal((4, 2, 2, 3))), _t(rng.standard_normal(4))
    assert cr.gradcheck(lambda x, w, b: rconv.Conv.apply(x, w, b, stride=(2, 1), padding=((1, 2), (0, 1)),
                                                            dilation=(1, 2), groups=2), x, w, b)


def test_conv_rule_gradchecks_at_stride_one_where_columns_run_the_padded_width():
    rng = np.random.default_rng(24)
    x, w, b = _t(rng.standard_normal((2, 4, 5, 6))), _t(rng.standard_normal((4, 2, 2, 3))), _t(rng.standard_normal(4))
    assert cr.gradcheck(lambda x, w, b: rconv.Conv.apply(x, w, b, padding=((1, 2), (0, 1)), dilation=(2, 1),
                                                            groups=2), x, w, b)
    assert cr.gradcheck(lambda x, w: rconv.Conv.apply(x, w), x, _t(rng.standard_normal((3, 4, 1, 1))))


@pytest.mark.parametrize("stride", [2, 1])  # at stride 1: the columns run the padded width
def test_conv_unfolded_a_few_samples_at_a_time_gives_the_same_values_and_gradients(monkeypatch, stride):
    rng = np.random.default_rng(23)
    arrays = [rng.standard_normal((5, 4, 6, 7)), rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)]
    monkeypatch.setattr(rconv.Conv, "unfold_budget", 1)  # one sample at a time
    monkeypatch.setattr(rconv.Conv, "wide_below", 1 << 20 if stride == 1 else 0)
    check_op(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=1, groups=2),
             lambda x, w, b: TF.conv2d(x, w, b, stride=stride, padding=1, groups=2), arrays, gradcheck=False)


@pytest.mark.parametrize("keep", [16 << 20, 0])  # the forward's columns kept for the backward, or unfolded again
def test_conv_keeps_or_unfolds_again_and_a_second_backward_gives_the_same_gradients(monkeypatch, keep):
    rng = np.random.default_rng(27)
    monkeypatch.setattr(rconv.Conv, "keep_budget", keep)
    monkeypatch.setattr(rconv.Conv, "unfold_budget", 1)  # parts of one sample, kept side by side
    arrays = [rng.standard_normal((3, 4, 6, 5)), rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)]
    check_op(lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2),
             lambda x, w, b: TF.conv2d(x, w, b, padding=1, groups=2), arrays, gradcheck=False)
    x, w = (cr.tensor(a, requires_grad=True) for a in arrays[:2])
    y = F.conv2d(x, w, padding=1, groups=2).sum()
    y.backward(retain_graph=True)
    first = w.grad.numpy().copy()
    y.backward()  # the kept columns went with the first backward: this one unfolds again
    np.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-12)


@pytest.mark.parametrize("width", [5, 20])  # narrow: the columns run the padded width; wide: the output's
def test_conv_bias_gradient_with_the_weight_frozen_matches_pytorch(width):
    rng = np.random.default_rng(28)
    x, w, b = rng.standard_normal((2, 4, 3, width)), rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)
    ours, theirs = cr.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
    g = rng.standard_normal((2, 6, 3, width))
    F.conv2d(cr.tensor(x), cr.tensor(w), ours, padding=1, groups=2).backward(g)
    TF.conv2d(torch.tensor(x), torch.tensor(w), theirs, padding=1, groups=2).backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("size", [(16, 16), (15, 10)])  # 256 columns: 4 slices of 64; 150: 2 and 22 more
def test_conv_forward_product_in_column_slices_gives_the_same_values_and_gradients(monkeypatch, size):
    monkeypatch.setattr(rconv.Conv, "small_product", 3 * 19 * 64)  # O/G * rows * 64: slices 64 wide
    rng = np.random.default_rng(29)
    arrays = [rng.standard_normal((2, 4) + size), rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)]
    monkeypatch.setattr(rconv.Conv, "wide_below", 0)
    check_op(lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2),
             lambda x, w, b: TF.conv2d(x, w, b, padding=1, groups=2), arrays, gradcheck=False)


def test_conv_at_stride_one_reads_a_non_contiguous_input():
    rng = np.random.default_rng(25)
    x, w = rng.standard_normal((3, 5, 6, 2)), rng.standard_normal((4, 2, 3, 2))
    check_op(lambda x, w: F.conv2d(x.permute(0, 3, 1, 2), w), lambda x, w: TF.conv2d(x.permute(0, 3, 1, 2), w),
             [x, w], gradcheck=False)


def test_conv_at_stride_one_with_wide_outputs_keeps_rows_of_the_output_width():
    rng = np.random.default_rng(26)
    arrays = [rng.standard_normal((2, 2, 5, 19)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)]
    check_op(lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1), arrays,
             gradcheck=False)


def test_pool_rules_gradcheck():
    rng = np.random.default_rng(1)
    x = _t(rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0)  # distinct values: max is smooth
    assert cr.gradcheck(lambda x: rpool.MaxPool.apply(x, kernel=(3, 2), stride=(2, 1), padding=(1, 1),
                                                       dilation=(1, 1), ceil_mode=True), x)
    assert cr.gradcheck(lambda x: rpool.AvgPool.apply(x, kernel=(3, 3), stride=(2, 2), padding=(1, 1),
                                                       ceil_mode=True, count_include_pad=False), x)
    assert cr.gradcheck(lambda x: rpool.AdaptiveAvgPool.apply(x, output_size=(3, 4)), x)


@pytest.mark.parametrize("shape", [(4, 3, 2, 2), (2, 3, 2, 1, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_rule_gradchecks(training, shape):
    rng = np.random.default_rng(2)
    x, w, b = _t(rng.standard_normal(shape)), _t(rng.standard_normal(3)), _t(rng.standard_normal(3))
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    assert cr.gradcheck(lambda x, w, b: rnorm.BatchNorm.apply(x, w, b, training=training, running_mean=rm.copy(),
                                                               running_var=rv.copy()), x, w, b)


def test_layer_norm_dropout_embedding_rules_gradcheck():
    rng = np.random.default_rng(3)
    x, w, b = _t(rng.standard_normal((3, 2, 4))), _t(rng.standard_normal((2, 4))), _t(rng.standard_normal((2, 4)))
    assert cr.gradcheck(lambda x, w, b: rnorm.LayerNorm.apply(x, w, b, ndim=2), x, w, b)
    mask = cr.tensor((rng.random((3, 2, 4)) > 0.5) * 2.0)
    assert cr.gradcheck(lambda x: rdropout.Dropout.apply(x, mask), x)
    idx = cr.tensor(np.array([[1, 4, 1], [0, 4, 4]]))
    table = _t(rng.standard_normal((5, 3)))
    assert cr.gradcheck(lambda t: rembedding.Embedding.apply(t, idx, padding_idx=None), table)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("rule", ["RNN", "LSTM", "GRU"])
def test_recurrent_rules_gradcheck(rule, reverse):
    rng = np.random.default_rng(4)
    t, n, h = 3, 2, 3
    g = {"RNN": 1, "LSTM": 4, "GRU": 3}[rule]
    gx, h0 = _t(rng.standard_normal((t, n, g * h))), _t(rng.standard_normal((n, h)))
    w, b = _t(rng.standard_normal((g * h, h)) * 0.5), _t(rng.standard_normal(g * h))
    if rule == "LSTM":  # the LSTM rule takes x and W_ih itself
        x, w_ih, c0 = _t(rng.standard_normal((t, n, 2))), _t(rng.standard_normal((g * h, 2))), _t(rng.standard_normal((n, h)))
        b2 = _t(rng.standard_normal(g * h))
        assert cr.gradcheck(lambda *a: rrnn.LSTM.apply(*a, reverse=reverse), x, h0, c0, w_ih, w, b, b2)
    else:
        cls = getattr(rrnn, rule)
        assert cr.gradcheck(lambda gx, h0, w, b: cls.apply(gx, h0, w, b, reverse=reverse), gx, h0, w, b)


def test_rule_backward_checks_the_version_of_saved_inputs():
    x = _t(np.random.default_rng(5).standard_normal((1, 1, 4, 4)))
    w = _t(np.ones((1, 1, 2, 2)))
    y = F.conv2d(x, w)
    with cr.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ----------------------------------------------------------------------------- functions against torch
CONV2D = [
    ((2, 3, 7, 6), (4, 3, 3, 3), dict()),
    ((1, 2, 5, 5), (3, 2, 2, 3), dict(stride=2, padding=1)),
    ((2, 4, 6, 7), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2)),
    ((1, 3, 6, 5), (2, 3, 4, 3), dict(padding="same", dilation=(1, 2))),
    ((2, 1, 5, 4), (2, 1, 3, 3), dict(padding="valid", stride=3)),
    ((3, 6, 5), (4, 3, 3, 3), dict(padding=1)),  # unbatched
]


@pytest.mark.parametrize("xs,ws,kw", CONV2D, ids=[str(c[2]) for c in CONV2D])
def test_conv2d_matches_pytorch(xs, ws, kw):
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])]
    check_op(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), arrays,
             gradcheck=False)


CONV_T2D = [
    ((2, 4, 3, 4), (4, 3, 3, 3), dict()),
    ((1, 2, 4, 5), (2, 3, 4, 4), dict(stride=2, padding=1)),
    ((2, 2, 3, 3), (2, 2, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2))),
    ((2, 4, 3, 4), (4, 1, 3, 3), dict(stride=2, dilation=(1, 2), groups=2, padding=2)),
    ((3, 4, 4), (3, 2, 2, 2), dict(stride=2)),  # unbatched
    ((1, 3, 5, 7), (3, 2, 3, 3), dict(dilation=2, output_padding=1, padding=1)),  # output_padding >= stride
    ((2, 6, 5, 3), (6, 2, 4, 3), dict(stride=3, padding=(2, 1), output_padding=(2, 0), groups=3)),
    ((1, 2, 1, 1), (2, 5, 4, 4), dict()),  # DCGAN's first layer: a 1x1 input
]


def test_conv_transpose_rule_gradchecks_and_keeps_or_unfolds_dy_again(monkeypatch):
    rng = np.random.default_rng(32)
    x, w, b = _t(rng.standard_normal((2, 4, 3, 5))), _t(rng.standard_normal((4, 3, 3, 2))), _t(rng.standard_normal(6))
    for keep in (16 << 20, 0):
        monkeypatch.setattr(rconv.Conv, "keep_budget", keep)
        assert cr.gradcheck(lambda x, w, b: rconv.ConvTranspose.apply(
            x, w, b, stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dilation=(1, 2), groups=2), x, w, b)


@pytest.mark.parametrize("xs,ws,kw", CONV_T2D, ids=[str(c[2]) for c in CONV_T2D])
def test_conv_transpose2d_matches_pytorch_and_gradchecks(xs, ws, kw):
    rng = np.random.default_rng(30)
    groups = kw.get("groups", 1)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1] * groups)]
    check_op(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
             arrays)


@pytest.mark.parametrize("kw", [dict(), dict(stride=3, padding=1, output_padding=2), dict(groups=2, dilation=2)])
def test_conv_transpose1d_and_the_modules_match_pytorch(kw):
    rng = np.random.default_rng(31)
    x, w, b = rng.standard_normal((2, 4, 6)), rng.standard_normal((4, 3, 3)), rng.standard_normal(3 * kw.get("groups", 1))
    check_op(lambda x, w, b: F.conv_transpose1d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw),
             [x, w, b], gradcheck=False)
    cr.manual_seed(1)
    for ours, theirs, shape in ((nn.ConvTranspose1d(4, 6, 3, **kw), torch.nn.ConvTranspose1d(4, 6, 3, **kw), (2, 4, 6)),
                                (nn.ConvTranspose2d(4, 6, 3, **kw), torch.nn.ConvTranspose2d(4, 6, 3, **kw), (2, 4, 5, 6))):
        assert repr(ours) == repr(theirs)
        theirs = to_torch(ours.double(), theirs)            # chainrule -> torch, and back
        back = from_torch(type(ours)(4, 6, 3, **kw).double(), theirs)
        xin = rng.standard_normal(shape)
        np.testing.assert_allclose(back(_t(xin)).detach().numpy(), theirs(torch.tensor(xin)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)


def test_conv_transpose_output_size_picks_the_output_padding_as_pytorch():
    ours, theirs = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    for size in ((9, 9), (10, 9), (1, 2, 10, 10)):
        assert ours(cr.zeros(1, 3, 5, 5), output_size=size).shape == tuple(theirs(torch.zeros(1, 3, 5, 5), output_size=size).shape)
    with pytest.raises(ValueError, match="valid sizes range from"):
        ours(cr.zeros(1, 3, 5, 5), output_size=(12, 12))


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=2, dilation=2), dict(padding="same", groups=2)])
def test_conv1d_matches_pytorch(kw):
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((2, 4, 9)), rng.standard_normal((6, 4 // kw.get("groups", 1), 4))]
    check_op(lambda x, w: F.conv1d(x, w, **kw), lambda x, w: TF.conv1d(x, w, **kw), arrays, gradcheck=False)


POOLS = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(1, 2), dilation=(2, 1)),
    dict(kernel_size=2, stride=1),
    dict(kernel_size=3, stride=2, ceil_mode=True),
]


@pytest.mark.parametrize("kw", POOLS, ids=str)
def test_max_pool2d_matches_pytorch_including_ties(kw):
    x = np.round(np.random.default_rng(8).standard_normal((2, 3, 7, 8)))  # many equal values in a window
    check_op(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [x], gradcheck=False)
    check_op(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [np.zeros((1, 2, 5, 5))],
             gradcheck=False)  # every element tied


TILED_POOLS = [  # windows that tile the (padded) input: every input gradient is written exactly once
    ((2, 3, 8, 6), dict(kernel_size=2)),
    ((1, 2, 8, 6), dict(kernel_size=2, padding=1)),
    ((2, 2, 9, 6), dict(kernel_size=3, ceil_mode=True)),
    ((1, 2, 6, 9), dict(kernel_size=(2, 3))),
    ((3, 1, 5, 5), dict(kernel_size=1)),
]


@pytest.mark.parametrize("shape,kw", TILED_POOLS, ids=[str(c[1]) for c in TILED_POOLS])
def test_max_pool2d_over_tiling_windows_matches_pytorch_including_ties(shape, kw):
    x = np.round(np.random.default_rng(27).standard_normal(shape))  # many equal values in a window
    check_op(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [x], gradcheck=False)
    relu = np.maximum(x, 0)  # after a ReLU whole windows tie at 0
    check_op(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [relu], gradcheck=False)
    nan = x.copy()
    nan.flat[::7] = np.nan
    check_op(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [nan], gradcheck=False)


@pytest.mark.parametrize("kw", POOLS[:2] + [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                  count_include_pad=False), dict(kernel_size=2, divisor_override=3)],
                         ids=str)
def test_avg_pool2d_matches_pytorch(kw):
    x = np.random.default_rng(9).standard_normal((2, 3, 7, 8))
    check_op(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), [x], gradcheck=False)


@pytest.mark.parametrize("size", [1, (3, 5), (4, None), (7, 8)])
def test_adaptive_avg_pool2d_matches_pytorch(size):
    x = np.random.default_rng(10).standard_normal((2, 3, 7, 8))
    check_op(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size), [x],
             gradcheck=False)


POOLS_1D = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=2, ceil_mode=True),
            dict(kernel_size=(3,), stride=[1]), dict(kernel_size=2, stride=1, dilation=2)]


@pytest.mark.parametrize("kw", POOLS_1D, ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 11), (3, 8)], ids=str)
def test_1d_pooling_matches_pytorch(kw, shape):
    """max_pool1d (with ties), avg_pool1d and adaptive_avg_pool1d, batched and unbatched, functions and modules,
    compared with torch and gradchecked in float64."""
    x = np.round(np.random.default_rng(12).standard_normal(shape) * 2) / 2
    check_op(lambda x: F.max_pool1d(x, **kw), lambda x: TF.max_pool1d(x, **kw), [x], gradcheck=False)
    check_op(lambda x: F.max_pool1d(x, **kw), lambda x: TF.max_pool1d(x, **kw), [x + np.arange(x.shape[-1]) * 1e-3])
    akw = {k: v for k, v in kw.items() if k != "dilation"}
    check_op(lambda x: F.avg_pool1d(x, **akw), lambda x: TF.avg_pool1d(x, **akw), [x])
    for n in (1, 4, shape[-1]):
        check_op(lambda x: F.adaptive_avg_pool1d(x, n), lambda x: TF.adaptive_avg_pool1d(x, n), [x])
    for ours, theirs in ((nn.MaxPool1d(**kw), torch.nn.MaxPool1d(**kw)), (nn.AvgPool1d(**akw), torch.nn.AvgPool1d(**akw)),
                         (nn.AdaptiveAvgPool1d(3), torch.nn.AdaptiveAvgPool1d(3))):
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(cr.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy())


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (2, 3, 4, 5), (2, 3, 2, 3, 4)])
def test_batch_norm_function_matches_pytorch_with_running_buffers(shape):
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    crm, crv = rm.copy(), rv.copy()
    check_op(lambda x, w, b: F.batch_norm(x, crm, crv, w, b, training=True, momentum=0.3),
             lambda x, w, b: TF.batch_norm(x, trm, trv, w, b, training=True, momentum=0.3), [x, w, b],
             gradcheck=False)
    np.testing.assert_allclose(crm, trm.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(crv, trv.detach().numpy(), rtol=1e-12)
    check_op(lambda x, w, b: F.batch_norm(x, crm, crv, w, b), lambda x, w, b: TF.batch_norm(x, trm, trv, w, b),
             [x, w, b], gradcheck=False)


def test_layer_norm_function_matches_pytorch():
    rng = np.random.default_rng(12)
    x, w, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    check_op(lambda x, w, b: F.layer_norm(x, (4, 5), w, b), lambda x, w, b: TF.layer_norm(x, (4, 5), w, b),
             [x, w, b], gradcheck=False)
    check_op(lambda x: F.layer_norm(x, 5), lambda x: TF.layer_norm(x, (5,)), [x], gradcheck=False)


@pytest.mark.parametrize("pad,mode", [((1, 2), "constant"), ((1, 0, 2, 1), "constant"), ((-1, 2, 0, -1), "constant"),
                                      ((2, 1, 1, 2), "reflect"), ((2, 1, 1, 3), "replicate"),
                                      ((1, 2, 3, 0), "circular")])
def test_pad_matches_pytorch(pad, mode):
    x = np.random.default_rng(13).standard_normal((2, 3, 4, 5))
    check_op(lambda x: F.pad(x, pad, mode), lambda x: TF.pad(x, pad, mode), [x], gradcheck=False)


def test_silu_and_gelu_match_pytorch():
    x = np.random.default_rng(14).standard_normal((3, 4))
    check_op(F.silu, TF.silu, [x])
    for approximate in ("none", "tanh"):
        check_op(lambda x: nn.GELU(approximate)(x), lambda x: torch.nn.GELU(approximate)(x), [x])


def test_embedding_function_matches_pytorch_and_fancy_indexing_agrees():
    rng = np.random.default_rng(15)
    idx = rng.integers(0, 6, (4, 3))
    table = rng.standard_normal((6, 5))
    check_op(lambda w: F.embedding(cr.tensor(idx), w, padding_idx=2),
             lambda w: TF.embedding(torch.tensor(idx), w, padding_idx=2), [table], gradcheck=False)
    a, b = _t(table), _t(table)
    g = rng.standard_normal((4, 3, 5))
    F.embedding(cr.tensor(idx), a).backward(g)
    b[cr.tensor(idx)].backward(g)  # C[X], the course's spelling
    np.testing.assert_allclose(a.grad.detach().numpy(), b.grad.detach().numpy())


def test_dropout_functions_scale_and_zero_whole_channels():
    x = cr.ones(4, 6, 3, 3)
    y = F.dropout2d(x, 0.5, rng=np.random.default_rng(16)).detach().numpy()
    per_channel = y.reshape(4, 6, -1)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # a channel is kept or dropped whole
    assert 0 < (per_channel[..., 0] == 0).mean() < 1
    z = F.dropout(cr.ones(10000), 0.3, rng=np.random.default_rng(17)).detach().numpy()
    assert abs((z == 0).mean() - 0.3) < 0.02 and np.isclose(z.max(), 1 / 0.7)
    assert F.dropout(x, 0.5, training=False) is x and F.dropout2d(x, 0.5, training=False) is x


@pytest.mark.parametrize("name,shape,lead,warns", [
    ("dropout1d", (3, 5, 7), 2, False), ("dropout1d", (12, 7), 1, False),
    ("dropout2d", (3, 5, 4, 4), 2, False), ("dropout2d", (3, 5, 7), 2, True), ("dropout2d", (40, 30), 2, True),
    ("dropout2d", (2, 5, 3, 3, 3), 2, True), ("dropout3d", (2, 5, 3, 3, 3), 2, False),
    ("dropout3d", (12, 3, 3, 3), 1, False)])
def test_channel_dropout_follows_pytorchs_rank_rules(name, shape, lead, warns):
    """Which dims share one draw, and which ranks warn, as torch decides them (torch run alongside)."""
    def shared(y):   # the dims over which one draw is spread are constant in every (lead) slice
        flat = y.reshape(int(np.prod(shape[:lead])), -1)
        return bool((flat.min(-1) == flat.max(-1)).all())
    torch.manual_seed(0)
    cr.manual_seed(0)
    for lib, f in ((torch, getattr(TF, name)), (cr, getattr(F, name))):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            y = f(lib.ones(shape, dtype=lib.float64), 0.5)
        y = y.detach().numpy()
        assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 0).mean() < 1, lib.__name__
        assert shared(y), lib.__name__
        assert bool([x for x in w if name in str(x.message)]) == warns, lib.__name__
    modules = {"dropout1d": cr.nn.Dropout1d, "dropout2d": cr.nn.Dropout2d, "dropout3d": cr.nn.Dropout3d}
    m, x = modules[name](0.5).eval(), cr.ones(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the rank warnings, checked above
        assert m(x) is x
    assert repr(m) == repr(getattr(torch.nn, type(m).__name__)(0.5))


def test_channel_dropout_refuses_ranks_pytorch_refuses():
    for f in (F.dropout1d, TF.dropout1d):
        with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
            f(torch.ones(2, 3, 4, 5) if f is TF.dropout1d else cr.ones(2, 3, 4, 5), 0.5)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        F.dropout2d(cr.ones(5), 0.5)


# ----------------------------------------------------------------------------- layers against torch
def to_torch(module, torch_module):
    """chainrule -> torch through state_dict (names and shapes must be PyTorch's)."""
    torch_module.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in module.state_dict().items()})
    return torch_module.double()


def from_torch(module, torch_module):
    """torch -> chainrule through state_dict."""
    module.load_state_dict(torch_module.double().state_dict())
    return module.double()


def compare(module, torch_module, x, *, train=True, direction="to_torch", steps=1):
    """Same outputs, input gradients and parameter gradients (and buffers after ``steps`` forwards)."""
    module.double()
    if direction == "to_torch":
        to_torch(module, torch_module)
    else:
        from_torch(module, torch_module)
    assert list(module.state_dict()) == list(torch_module.state_dict())
    module.train(train)
    torch_module.train(train)
    for _ in range(steps):
        xc, xt = _t(x), torch.tensor(x, requires_grad=True)
        y, yt = module(xc), torch_module(xt)
        y, yt = (y[0], yt[0]) if isinstance(y, tuple) else (y, yt)
        np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-7, atol=1e-10)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xc.grad.detach().numpy(), xt.grad.detach().numpy(), rtol=1e-7, atol=1e-10)
    tparams = dict(torch_module.named_parameters())
    for name, p in module.named_parameters():
        np.testing.assert_allclose(p.grad.detach().numpy(), tparams[name].grad.detach().numpy(), rtol=1e-7, atol=1e-10, err_msg=name)
    tsd = torch_module.state_dict()
    for k, v in module.state_dict().items():
        np.testing.assert_allclose(v, tsd[k].detach().numpy(), rtol=1e-7, atol=1e-12, err_msg=k)


LAYERS = {
    "Conv2d": (lambda M: M.Conv2d(3, 4, 3), (2, 3, 6, 7)),
    "Conv2d_strided": (lambda M: M.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 2), groups=2, bias=False), (1, 4, 7, 5)),
    "Conv2d_same": (lambda M: M.Conv2d(2, 3, 4, padding="same", dilation=2), (2, 2, 5, 6)),
    "Conv2d_reflect": (lambda M: M.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (2, 2, 5, 4)),
    "Conv1d": (lambda M: M.Conv1d(3, 5, 3, stride=2, padding=1), (2, 3, 9)),
    "MaxPool2d": (lambda M: M.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 3, 7, 6)),
    "AvgPool2d": (lambda M: M.AvgPool2d(2), (1, 3, 5, 6)),
    "AdaptiveAvgPool2d": (lambda M: M.AdaptiveAvgPool2d((2, 3)), (2, 3, 5, 7)),
    "Conv3d": (lambda M: M.Conv3d(2, 4, (3, 2, 2), stride=(1, 2, 1), padding=(1, 0, 1), groups=2), (2, 2, 4, 5, 3)),
    "ConvTranspose3d": (lambda M: M.ConvTranspose3d(2, 3, 2, stride=2, padding=(0, 1, 0)), (1, 2, 3, 3, 2)),
    "MaxPool3d": (lambda M: M.MaxPool3d(2, ceil_mode=True), (2, 2, 5, 4, 3)),
    "AvgPool3d": (lambda M: M.AvgPool3d((2, 3, 2), stride=1, padding=1), (1, 2, 3, 4, 3)),
    "AdaptiveAvgPool3d": (lambda M: M.AdaptiveAvgPool3d((2, None, 3)), (2, 2, 5, 3, 4)),
    "AdaptiveMaxPool3d": (lambda M: M.AdaptiveMaxPool3d(2), (1, 2, 3, 5, 4)),
    "Unflatten": (lambda M: M.Unflatten(1, (2, 3)), (4, 6)),
    "SiLU": (lambda M: M.SiLU(), (3, 4)),
    "LayerNorm": (lambda M: M.LayerNorm((3, 4)), (2, 5, 3, 4)),
    "LayerNorm_nobias": (lambda M: M.LayerNorm(4, bias=False), (3, 4)),
    "BatchNorm1d": (lambda M: M.BatchNorm1d(3), (5, 3)),
    "BatchNorm1d_3d": (lambda M: M.BatchNorm1d(3, momentum=None), (4, 3, 5)),
    "BatchNorm2d": (lambda M: M.BatchNorm2d(3, momentum=0.2), (2, 3, 4, 5)),
    "BatchNorm2d_noaffine": (lambda M: M.BatchNorm2d(3, affine=False), (2, 3, 3, 3)),
    "BatchNorm2d_untracked": (lambda M: M.BatchNorm2d(3, track_running_stats=False), (2, 3, 3, 3)),
    "BatchNorm3d": (lambda M: M.BatchNorm3d(3, momentum=0.3), (2, 3, 2, 3, 4)),
    "BatchNorm3d_cumulative": (lambda M: M.BatchNorm3d(3, momentum=None, eps=1e-3), (3, 3, 2, 2, 2)),
    "BatchNorm3d_noaffine": (lambda M: M.BatchNorm3d(3, affine=False), (2, 3, 1, 2, 3)),
    "BatchNorm3d_untracked": (lambda M: M.BatchNorm3d(3, track_running_stats=False), (2, 3, 2, 2, 3)),
    "ConvNet": (lambda M: M.Sequential(M.Conv2d(3, 8, 7, padding=3), M.BatchNorm2d(8), M.ReLU(), M.MaxPool2d(2),
                                      M.Flatten(), M.Linear(8 * 4 * 4, 10)), (2, 3, 8, 8)),
}


@pytest.mark.parametrize("direction", ["to_torch", "from_torch"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_pytorch_both_ways(name, direction):
    make, shape = LAYERS[name]
    cr.manual_seed(0)
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal(shape)
    compare(make(nn), make(torch.nn), x, direction=direction, steps=3)
    cr.manual_seed(1)
    compare(make(nn), make(torch.nn), x[:1] if "BatchNorm1d" != name else x[:2], train=False, direction=direction)


def test_batch_norm_eval_uses_running_statistics_after_training():
    cr.manual_seed(0)
    m, t = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    rng = np.random.default_rng(18)
    for _ in range(4):
        x = rng.standard_normal((4, 3, 2, 2)) * 3 + 1
        m(cr.tensor(x, dtype="float32"))
        t(torch.tensor(x, dtype=torch.float32))
    assert int(m.num_batches_tracked) == 4
    for k, v in m.state_dict().items():
        np.testing.assert_allclose(v, t.state_dict()[k].detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    m.eval()
    t.eval()
    x = rng.standard_normal((1, 3, 2, 2))  # batch 1 works in eval mode
    np.testing.assert_allclose(m(cr.tensor(x, dtype="float32")).detach().numpy(),
                               t(torch.tensor(x, dtype=torch.float32)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_embedding_layer_padding_and_from_pretrained():
    cr.manual_seed(0)
    emb = nn.Embedding(7, 3, padding_idx=-1)
    assert emb.padding_idx == 6 and (emb.weight.detach().numpy()[6] == 0).all()
    temb = torch.nn.Embedding(7, 3, padding_idx=6)
    idx = np.array([[0, 6, 2], [6, 6, 1]])
    compare_idx = lambda m, t: np.testing.assert_allclose(m(cr.tensor(idx)).detach().numpy(), t(torch.tensor(idx)).detach().numpy())
    to_torch(emb, temb)
    emb.double()
    compare_idx(emb, temb)
    emb(cr.tensor(idx)).sum().backward()
    temb(torch.tensor(idx)).sum().backward()
    np.testing.assert_allclose(emb.weight.grad.detach().numpy(), temb.weight.grad.detach().numpy())
    table = np.arange(12.0).reshape(4, 3)
    pre = nn.Embedding.from_pretrained(cr.tensor(table))
    assert not pre.weight.requires_grad and pre(cr.tensor([3])).tolist() == [[9.0, 10.0, 11.0]]
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


RECURRENT = {
    "RNN": (lambda M: M.RNN(4, 5), (6, 2, 4)),
    "RNN_relu_2layer_bi": (lambda M: M.RNN(4, 3, num_layers=2, nonlinearity="relu", bidirectional=True), (5, 3, 4)),
    "LSTM": (lambda M: M.LSTM(4, 5), (6, 2, 4)),
    "LSTM_2layer_bi_batch_first": (lambda M: M.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True),
                                   (2, 5, 3)),
    "LSTM_nobias": (lambda M: M.LSTM(3, 4, bias=False), (5, 1, 3)),
    "GRU": (lambda M: M.GRU(4, 5), (6, 2, 4)),
    "GRU_2layer_bi": (lambda M: M.GRU(3, 4, num_layers=2, bidirectional=True), (4, 2, 3)),
    "GRU_unbatched": (lambda M: M.GRU(3, 4, num_layers=2), (5, 3)),
}


@pytest.mark.parametrize("direction", ["to_torch", "from_torch"])
@pytest.mark.parametrize("name", list(RECURRENT))
def test_recurrent_layer_matches_pytorch(name, direction):
    make, shape = RECURRENT[name]
    cr.manual_seed(0)
    torch.manual_seed(0)
    m, t = make(nn).double(), make(torch.nn).double()
    (to_torch if direction == "to_torch" else from_torch)(m, t)
    rng = np.random.default_rng(19)
    x = rng.standard_normal(shape)
    lstm = isinstance(m, nn.LSTM)
    dirs = 2 if m.bidirectional else 1
    batch = () if len(shape) == 2 else (shape[0] if m.batch_first else shape[1],)
    hshape = (m.num_layers * dirs,) + batch + (m.hidden_size,)
    h0 = rng.standard_normal(hshape)
    c0 = rng.standard_normal(hshape)
    xc, xt = _t(x), torch.tensor(x, requires_grad=True)
    h0c, h0t = _t(h0), torch.tensor(h0, requires_grad=True)
    c0c, c0t = _t(c0), torch.tensor(c0, requires_grad=True)
    out, hn = m(xc, (h0c, c0c) if lstm else h0c)
    tout, thn = t(xt, (h0t, c0t) if lstm else h0t)
    parts = [out] + (list(hn) if lstm else [hn])
    tparts = [tout] + (list(thn) if lstm else [thn])
    rng2 = np.random.default_rng(20)
    for a, b in zip(parts, tparts):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-7, atol=1e-10)
    gs = [rng2.standard_normal(a.shape) for a in parts]
    sum((a * cr.tensor(g)).sum() for a, g in zip(parts, gs)).backward()
    sum((b * torch.tensor(g)).sum() for b, g in zip(tparts, gs)).backward()
    for a, b in ((xc, xt), (h0c, h0t)) + (((c0c, c0t),) if lstm else ()):
        np.testing.assert_allclose(a.grad.detach().numpy(), b.grad.detach().numpy(), rtol=1e-7, atol=1e-10)
    tparams = dict(t.named_parameters())
    for k, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.detach().numpy(), tparams[k].grad.detach().numpy(), rtol=1e-7, atol=1e-10, err_msg=k)
    out2 = m(xc)[0]  # default zero initial state
    np.testing.assert_allclose(out2.detach().numpy(), t(xt)[0].detach().numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("cell", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_pytorch(cell):
    cr.manual_seed(0)
    m, t = getattr(nn, cell)(3, 4).double(), getattr(torch.nn, cell)(3, 4).double()
    to_torch(m, t)
    rng = np.random.default_rng(21)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    xc, xt = _t(x), torch.tensor(x, requires_grad=True)
    if cell == "LSTMCell":
        (hc, cc), (ht, ct) = m(xc, (_t(h), _t(c))), t(xt, (torch.tensor(h), torch.tensor(c)))
        (hc.sum() + 2 * cc.sum()).backward()
        (ht.sum() + 2 * ct.sum()).backward()
        np.testing.assert_allclose(cc.detach().numpy(), ct.detach().numpy(), rtol=1e-7)
    else:
        hc, ht = m(xc, _t(h)), t(xt, torch.tensor(h))
        hc.sum().backward()
        ht.sum().backward()
    np.testing.assert_allclose(hc.detach().numpy(), ht.detach().numpy(), rtol=1e-7)
    np.testing.assert_allclose(xc.grad.detach().numpy(), xt.grad.detach().numpy(), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(m.weight_hh.grad.detach().numpy(), t.weight_hh.grad.detach().numpy(), rtol=1e-7, atol=1e-12)
    unbatched = m(_t(x[0]))
    assert (unbatched[0] if cell == "LSTMCell" else unbatched).shape == (4,)


def test_recurrent_dropout_acts_between_layers_in_training_only():
    cr.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5).double()
    t = to_torch(m, torch.nn.LSTM(3, 4, num_layers=2, dropout=0.5)).eval()
    x = np.random.default_rng(22).standard_normal((5, 2, 3))
    a, b = m(_t(x))[0].detach().numpy(), m(_t(x))[0].detach().numpy()
    assert not np.allclose(a, b)  # fresh masks each call
    np.testing.assert_allclose(m.eval()(_t(x))[0].detach().numpy(), t(torch.tensor(x))[0].detach().numpy(), rtol=1e-7)


def test_state_dict_keys_and_shapes_are_pytorchs():
    for make in (lambda M: M.LSTM(3, 4, num_layers=2, bidirectional=True), lambda M: M.GRU(3, 4, bias=False),
                 lambda M: M.Conv2d(6, 4, 3, groups=2), lambda M: M.BatchNorm1d(5), lambda M: M.Embedding(5, 2),
                 lambda M: M.BatchNorm3d(3), lambda M: M.BatchNorm3d(2, affine=False, track_running_stats=False),
                 lambda M: M.LayerNorm([2, 3]), lambda M: M.LSTMCell(3, 2), lambda M: M.Conv1d(2, 3, 4),
                 lambda M: M.ConvTranspose2d(6, 4, 3, groups=2), lambda M: M.ConvTranspose1d(2, 3, 4, bias=False)):
        ours = {k: np.shape(v) for k, v in make(nn).state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in make(torch.nn).state_dict().items()}
        assert list(ours.items()) == list(theirs.items())


def test_printed_forms_match_pytorch():
    for make in (lambda M: M.Conv2d(1, 6, 5), lambda M: M.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
                 lambda M: M.BatchNorm2d(8), lambda M: M.LSTM(3, 4, num_layers=2, batch_first=True),
                 lambda M: M.BatchNorm3d(4, momentum=None, affine=False), lambda M: M.Bilinear(2, 3, 4),
                 lambda M: M.Embedding(10, 3, padding_idx=0), lambda M: M.LayerNorm(4),
                 lambda M: M.Conv1d(2, 3, 4, padding="same")):
        assert repr(make(nn)) == repr(make(torch.nn))


@pytest.mark.parametrize("call,message", [
    (lambda: F.conv2d(cr.zeros(1, 3, 5, 5), cr.zeros(4, 2, 3, 3)), "has 3 channels, but weight"),
    (lambda: F.conv2d(cr.zeros(1, 1, 2, 2), cr.zeros(1, 1, 3, 3)), "larger than the padded input"),
    (lambda: F.conv2d(cr.zeros(1, 1, 5, 5), cr.zeros(1, 1, 3, 3), stride=2, padding="same"), "strided"),
    (lambda: F.max_pool2d(cr.zeros(1, 1, 4, 4), 2, padding=2), "at most half the kernel"),
    (lambda: nn.BatchNorm2d(3)(cr.zeros(2, 4, 2, 2)), "expected a 4-d input with 3 channels"),
    (lambda: nn.BatchNorm1d(3)(cr.zeros(1, 3)), "more than 1 value per channel"),
    (lambda: nn.BatchNorm3d(3)(cr.zeros(2, 3, 2, 2)), "expected a 5-d input with 3 channels on axis 1, got shape (2, 3, 2, 2)"),
    (lambda: nn.BatchNorm3d(3)(cr.zeros(1, 3, 1, 1, 1)), "more than 1 value per channel"),
    (lambda: F.embedding(cr.tensor([5]), cr.zeros(3, 2)), "index 5 is out of range"),
    (lambda: nn.LSTM(3, 4)(cr.zeros(2, 1, 5)), "input_size=3"),
    (lambda: F.layer_norm(cr.zeros(2, 3), (4,)), "does not match"),
])
def test_errors_are_one_clear_line(call, message):
    with pytest.raises((ValueError, IndexError, TypeError)) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_max_pool2d_routes_nan_windows_as_pytorch():
    x = np.array([[[[1.0, np.nan, 0.5], [np.nan, 2.0, 7.0], [3.0, 1.0, np.nan]]]])
    check_op(lambda x: F.max_pool2d(x, 2, 1), lambda x: TF.max_pool2d(x, 2, 1), [x], gradcheck=False)


# ----------------------------------------------------------------------------- indices, unpooling, adaptive max
MAX_IDX = [
    ((2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 2, 5, 5), dict(kernel_size=2, dilation=2, padding=1, ceil_mode=True)),
    ((2, 6, 5), dict(kernel_size=(3, 2), stride=1)),  # unbatched
    ((1, 2, 4, 6), dict(kernel_size=2)),  # tiles: every index once, so the unpooling gradchecks
]


@pytest.mark.parametrize("shape,kw", MAX_IDX, ids=[str(c[1]) for c in MAX_IDX])
def test_max_pool2d_return_indices_and_max_unpool2d_match_pytorch(shape, kw):
    rng = np.random.default_rng(40)
    x = rng.standard_normal(shape)
    x.flat[::7] = x.flat[1]  # ties
    y, i = F.max_pool2d(cr.tensor(x), return_indices=True, **kw)
    ty, ti = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    assert i.dtype == np.int64 and i.shape == tuple(ti.shape)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    check_op(lambda x: F.max_pool2d(x, return_indices=True, **kw)[0],
             lambda x: TF.max_pool2d(x, return_indices=True, **kw)[0], [x], gradcheck=False)
    size = x.shape[-2:]
    ukw = dict(kernel_size=kw["kernel_size"], stride=kw.get("stride"), padding=kw.get("padding", 0))
    planes = i.numpy().reshape(-1, i.shape[-2] * i.shape[-1])
    unique = all(len(np.unique(p)) == p.size for p in planes)  # else the unpooling's forward keeps one of the
    check_op(lambda y: F.max_unpool2d(y, i, output_size=size, **ukw),   # repeats, its backward reads both
             lambda y: TF.max_unpool2d(y, ti, output_size=size, **ukw), [y.numpy()], gradcheck=unique)


def test_nan_windows_index_their_last_nan_and_the_1d_forms_match_pytorch():
    x = np.array([[[[np.nan, 1.0], [np.nan, 2.0]]]])
    y, i = F.max_pool2d(cr.tensor(x), 2, return_indices=True)
    assert i.tolist() == TF.max_pool2d(torch.tensor(x), 2, return_indices=True)[1].tolist() == [[[[2]]]]
    rng = np.random.default_rng(41)
    x = rng.standard_normal((2, 3, 9))
    y, i = nn.MaxPool1d(3, 2, 1, return_indices=True)(cr.tensor(x))
    ty, ti = torch.nn.MaxPool1d(3, 2, 1, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    check_op(lambda y: nn.MaxUnpool1d(3, 2, 1)(y, i, output_size=(9,)),
             lambda y: torch.nn.MaxUnpool1d(3, 2, 1)(y, ti, output_size=(9,)), [y.numpy()], gradcheck=False)
    u = nn.MaxUnpool2d(2)
    assert repr(u) == repr(torch.nn.MaxUnpool2d(2)) and repr(nn.MaxUnpool1d(3, 2)) == repr(torch.nn.MaxUnpool1d(3, 2))


@pytest.mark.parametrize("shape,size", [((2, 3, 5, 7), (3, 4)), ((1, 2, 6, 6), 4), ((3, 5, 4), (None, 3)),
                                        ((2, 3, 7), 3)])
def test_adaptive_max_pool_matches_pytorch_with_indices_and_gradcheck(shape, size):
    rng = np.random.default_rng(42)
    x = rng.standard_normal(shape)
    f, tf = (F.adaptive_max_pool1d, TF.adaptive_max_pool1d) if len(shape) == 3 and isinstance(size, int) and \
        shape[0] == 2 else (F.adaptive_max_pool2d, TF.adaptive_max_pool2d)
    check_op(lambda x: f(x, size), lambda x: tf(x, size), [x])
    _, i = f(cr.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(i.numpy(), tf(torch.tensor(x), size, return_indices=True)[1].numpy())
    M, TM = (nn.AdaptiveMaxPool1d, torch.nn.AdaptiveMaxPool1d) if f is F.adaptive_max_pool1d else \
        (nn.AdaptiveMaxPool2d, torch.nn.AdaptiveMaxPool2d)
    assert repr(M(size)) == repr(TM(size))
    np.testing.assert_array_equal(M(size, return_indices=True)(cr.tensor(x))[1].numpy(),
                                  TM(size, return_indices=True)(torch.tensor(x))[1].numpy())


@pytest.mark.parametrize("call,message", [
    (lambda: F.max_unpool2d(cr.ones(1, 1, 2, 2), cr.full((1, 1, 2, 2), 99, dtype=cr.int64), 2), "invalid max index 99"),
    (lambda: F.max_unpool2d(cr.ones(1, 1, 2, 2), cr.zeros(1, 1, 2, 2), 2), "integer (int64)"),
    (lambda: F.max_unpool2d(cr.ones(1, 1, 2, 2), cr.zeros(1, 1, 2, 2, dtype=cr.int64), 2, output_size=(9, 9)),
     "invalid output_size"),
    (lambda: F.max_unpool2d(cr.ones(1, 1, 2, 2), cr.zeros(1, 1, 2, 1, dtype=cr.int64), 2), "must have the shape"),
    (lambda: F.adaptive_max_pool2d(cr.ones(1, 1, 2, 2), (0, 1)), "positive ints"),
    (lambda: F.conv3d(cr.ones(1, 2, 3, 3, 3), cr.ones(4, 2, 3, 3)), "weight must be 5-d"),
    (lambda: F.conv3d(cr.ones(2, 3, 3), cr.ones(4, 2, 3, 3, 3)), "expected a 4-d (unbatched) or 5-d"),
    (lambda: F.max_pool3d(cr.ones(1, 1, 2, 2, 2), 3), "too small"),
    (lambda: F.conv_transpose3d(cr.ones(1, 2, 2, 2, 2), cr.ones(2, 1, 2, 2, 2), stride=2, output_padding=2),
     "smaller than stride"),
])
def test_unpool_and_adaptive_max_errors_are_one_clear_line(call, message):
    with pytest.raises((ValueError, RuntimeError, TypeError)) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)



# ----------------------------------------------------------------------------- 3-d: the same rules on three axes
CONV3D = [
    ((2, 4, 4, 5, 3), (6, 2, 3, 2, 2), dict(stride=(2, 1, 1), padding=(1, 0, 1), dilation=(1, 2, 1), groups=2)),
    ((1, 2, 3, 4, 5), (3, 2, 2, 3, 2), dict(padding="same")),
    ((2, 3, 4, 3), (2, 2, 2, 2, 2), dict(stride=2, padding=1)),  # unbatched
]


@pytest.mark.parametrize("xs,ws,kw", CONV3D, ids=[str(c[2]) for c in CONV3D])
def test_conv3d_matches_pytorch_and_gradchecks(xs, ws, kw):
    rng = np.random.default_rng(50)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])]
    check_op(lambda x, w, b: F.conv3d(x, w, b, **kw), lambda x, w, b: TF.conv3d(x, w, b, **kw), arrays)


def test_conv_and_transposed_conv_rules_gradcheck_on_one_and_three_axes():
    rng = np.random.default_rng(51)
    x, w, b = _t(rng.standard_normal((2, 2, 7))), _t(rng.standard_normal((4, 1, 3))), _t(rng.standard_normal(4))
    assert cr.gradcheck(lambda x, w, b: rconv.Conv.apply(x, w, b, stride=(2,), padding=((1, 2),), dilation=(2,),
                                                         groups=2), x, w, b)
    x, w = _t(rng.standard_normal((1, 2, 2, 3, 2))), _t(rng.standard_normal((2, 3, 2, 2, 3)))
    assert cr.gradcheck(lambda x, w: rconv.ConvTranspose.apply(x, w, stride=(2, 1, 2), padding=(0, 1, 1),
                                                               output_padding=(1, 0, 1), dilation=(1, 1, 1)), x, w)
    check_op(lambda x, w: F.conv_transpose3d(x, w, stride=2, output_padding=1),
             lambda x, w: TF.conv_transpose3d(x, w, stride=2, output_padding=1), [x.detach().numpy(), w.detach().numpy()], gradcheck=False)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=(3, 2, 2), stride=(2, 1, 2), padding=1),
                                dict(kernel_size=2, stride=1, dilation=(1, 2, 1), ceil_mode=True)])
def test_3d_pooling_matches_pytorch_including_ties_and_indices(kw):
    rng = np.random.default_rng(52)
    x = np.round(rng.standard_normal((2, 2, 4, 5, 4)), 1)  # rounded: ties
    check_op(lambda x: F.max_pool3d(x, **kw), lambda x: TF.max_pool3d(x, **kw), [x], gradcheck=False)
    y, i = F.max_pool3d(cr.tensor(x), return_indices=True, **kw)
    ty, ti = TF.max_pool3d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    ukw = dict(kernel_size=kw["kernel_size"], stride=kw.get("stride"), padding=kw.get("padding", 0))
    if "dilation" not in kw:  # unpooling knows no dilation: the input's size is not among its output sizes
        check_op(lambda y: nn.MaxUnpool3d(**ukw)(y, i, output_size=x.shape[2:]),
                 lambda y: torch.nn.MaxUnpool3d(**ukw)(y, ti, output_size=x.shape[2:]), [y.numpy()], gradcheck=False)
    akw = {k: v for k, v in kw.items() if k != "dilation"}
    check_op(lambda x: F.avg_pool3d(x, **akw, count_include_pad=False), lambda x: TF.avg_pool3d(x, **akw,
             count_include_pad=False), [x])
    check_op(lambda x: F.avg_pool3d(x, 2, divisor_override=3), lambda x: TF.avg_pool3d(x, 2, divisor_override=3), [x],
             gradcheck=False)
    for size in ((2, 3, 3), 1):
        check_op(lambda x: F.adaptive_avg_pool3d(x, size), lambda x: TF.adaptive_avg_pool3d(x, size), [x[0]])
        check_op(lambda x: F.adaptive_max_pool3d(x, size), lambda x: TF.adaptive_max_pool3d(x, size), [x],
                 gradcheck=False)
