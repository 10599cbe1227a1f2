"""Packed sequences (nn.utils.rnn) and the recurrent layers on them, and the LSTM's projection
(proj_size), against PyTorch: the packing functions (values, gradients), RNN/LSTM/GRU given a
PackedSequence (output, h_n, c_n and every gradient; sorted and unsorted batches, bidirectional, two
layers, initial states), and the rules' held states (batch_sizes) and projection by float64
gradchecks. (The plain layers' comparisons are in test_layers.py.)"""
import numpy as np
import pytest
import torch
from torch.nn.utils import rnn as trnn

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import rnn as crnn
from chainrule.rules import rnn as rrnn


def _t(a, grad=True):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _np(t):
    return t.detach().numpy()


def _same(a, b, what=""):
    assert tuple(a.shape) == tuple(b.shape), what
    np.testing.assert_allclose(_np(a), _np(b), rtol=1e-7, atol=1e-10, err_msg=what)


# ----------------------------------------------------------------------------- the packing functions
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted", [([4, 3, 3, 1], True), ([2, 4, 1, 4], False), ([3], True)])
def test_pack_and_pad_match_pytorch_with_gradients(lengths, enforce_sorted, batch_first):
    rng = np.random.default_rng(30)
    shape = (len(lengths), 4, 2) if batch_first else (4, len(lengths), 2)
    x = rng.standard_normal(shape)
    xc, xt = _t(x), torch.tensor(x, requires_grad=True)
    pc = crnn.pack_padded_sequence(xc, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    pt = trnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted)
    _same(pc.data, pt.data)
    assert pc.batch_sizes.tolist() == pt.batch_sizes.tolist() and pc.batch_sizes.dtype == cr.int64
    for a, b in ((pc.sorted_indices, pt.sorted_indices), (pc.unsorted_indices, pt.unsorted_indices)):
        assert (a is None) == (b is None) and (a is None or a.tolist() == b.tolist())
    (yc, lc), (yt, lt) = (f(p, batch_first=batch_first, padding_value=-2.0, total_length=5)
                          for f, p in ((crnn.pad_packed_sequence, pc), (trnn.pad_packed_sequence, pt)))
    _same(yc, yt)
    assert lc.tolist() == lt.tolist()
    g = rng.standard_normal(yc.shape)
    (yc * cr.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    _same(xc.grad, xt.grad, "gradient through pack then pad")
    for a, b in zip(crnn.unpack_sequence(pc), trnn.unpack_sequence(pt)):
        _same(a, b)


@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_and_pack_sequence_match_pytorch(side):
    rng = np.random.default_rng(31)
    seqs = [rng.standard_normal((n, 3)) for n in (2, 5, 1)]
    cs, ts = [_t(s) for s in seqs], [torch.tensor(s, requires_grad=True) for s in seqs]
    for bf in (False, True):
        _same(crnn.pad_sequence(cs, batch_first=bf, padding_value=7.0, padding_side=side),
              trnn.pad_sequence(ts, batch_first=bf, padding_value=7.0, padding_side=side))
    yc, yt = crnn.pad_sequence(cs, padding_side=side), trnn.pad_sequence(ts, padding_side=side)
    g = rng.standard_normal(yc.shape)
    (yc * cr.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    for a, b in zip(cs, ts):
        _same(a.grad, b.grad)
    pc, pt = crnn.pack_sequence(cs, enforce_sorted=False), trnn.pack_sequence(ts, enforce_sorted=False)
    _same(pc.data, pt.data)
    assert pc.batch_sizes.tolist() == pt.batch_sizes.tolist() and pc.sorted_indices.tolist() == [1, 0, 2]
    assert crnn.PackedSequence(pc.data, pc.batch_sizes, pc.sorted_indices).unsorted_indices.tolist() == [1, 0, 2]


@pytest.mark.parametrize("call,kind,message", [
    (lambda: crnn.pack_padded_sequence(cr.zeros(3, 2, 1), [1, 2]), RuntimeError, "enforce_sorted=False"),
    (lambda: crnn.pack_padded_sequence(cr.zeros(3, 2, 1), [2, 0]), RuntimeError, "at least 1"),
    (lambda: crnn.pack_padded_sequence(cr.zeros(3, 2, 1), [4, 2]), ValueError, "longer than the input's 3 steps"),
    (lambda: crnn.pack_padded_sequence(cr.zeros(3, 2, 1), [3, 2, 1]), ValueError, "3 lengths"),
    (lambda: crnn.pad_packed_sequence(crnn.pack_sequence([cr.zeros(3)]), total_length=2), ValueError,
     "total_length=2"),
    (lambda: crnn.pad_sequence([cr.zeros(2)], padding_side="up"), ValueError, "padding_side"),
])
def test_packing_errors_are_one_clear_line(call, kind, message):
    with pytest.raises(kind) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- layers on packed batches
PACKED = {
    "LSTM_unsorted": (lambda M: M.LSTM(3, 4), [3, 5, 1, 5], False),
    "LSTM_2layer_bi_unsorted": (lambda M: M.LSTM(3, 4, num_layers=2, bidirectional=True), [2, 4, 4, 1], False),
    "LSTM_bi_sorted_batch_first_nobias": (lambda M: M.LSTM(3, 2, bidirectional=True, batch_first=True, bias=False),
                                          [5, 3, 2], True),
    "GRU_2layer_bi_unsorted": (lambda M: M.GRU(3, 4, num_layers=2, bidirectional=True), [1, 3, 5], False),
    "RNN_relu_bi_sorted": (lambda M: M.RNN(3, 4, nonlinearity="relu", bidirectional=True), [4, 4, 2], True),
    "LSTM_proj_2layer_bi_unsorted": (lambda M: M.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2),
                                     [2, 5, 3], False),
}


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("name", list(PACKED))
def test_recurrent_layers_on_packed_batches_match_pytorch(name, with_state):
    make, lengths, enforce_sorted = PACKED[name]
    cr.manual_seed(1)
    m = make(nn).double()
    t = make(torch.nn).double()
    t.load_state_dict({k: torch.tensor(_np(v)) for k, v in m.state_dict().items()})
    rng = np.random.default_rng(32)
    n, steps = len(lengths), max(lengths)
    x = rng.standard_normal((n, steps, 3) if m.batch_first else (steps, n, 3))
    lstm = isinstance(m, nn.LSTM)
    hshape = (m.num_layers * (2 if m.bidirectional else 1), n, m.hidden_size)
    h0, c0 = rng.standard_normal(hshape[:2] + (m.proj_size or m.hidden_size,)), rng.standard_normal(hshape)
    xc, xt = _t(x), torch.tensor(x, requires_grad=True)
    h0c, h0t, c0c, c0t = _t(h0), torch.tensor(h0, requires_grad=True), _t(c0), torch.tensor(c0, requires_grad=True)
    pc = crnn.pack_padded_sequence(xc, lengths, batch_first=m.batch_first, enforce_sorted=enforce_sorted)
    pt = trnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=m.batch_first,
                                   enforce_sorted=enforce_sorted)
    hxc = ((h0c, c0c) if lstm else h0c) if with_state else None
    hxt = ((h0t, c0t) if lstm else h0t) if with_state else None
    oc, sc = m(pc, hxc)
    ot, st = t(pt, hxt)
    assert isinstance(oc, crnn.PackedSequence) and oc.batch_sizes.tolist() == ot.batch_sizes.tolist()
    parts_c, parts_t = [oc.data] + (list(sc) if lstm else [sc]), [ot.data] + (list(st) if lstm else [st])
    for a, b in zip(parts_c, parts_t):
        _same(a, b, "output, h_n, c_n")
    gs = [rng.standard_normal(a.shape) for a in parts_c]
    sum((a * cr.tensor(g)).sum() for a, g in zip(parts_c, gs)).backward()
    sum((b * torch.tensor(g)).sum() for b, g in zip(parts_t, gs)).backward()
    _same(xc.grad, xt.grad, "dx")
    if with_state:
        for a, b in ((h0c, h0t),) + (((c0c, c0t),) if lstm else ()):
            _same(a.grad, b.grad, "initial state")
    tp = dict(t.named_parameters())
    for k, p in m.named_parameters():
        _same(p.grad, tp[k].grad, k)
    padded_c, lens_c = crnn.pad_packed_sequence(oc, batch_first=m.batch_first)
    padded_t, lens_t = trnn.pad_packed_sequence(ot, batch_first=m.batch_first)
    _same(padded_c, padded_t)
    assert lens_c.tolist() == lens_t.tolist() == lengths


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("rule", ["RNN", "LSTM", "GRU", "LSTM_proj"])
def test_recurrent_rules_with_held_states_gradcheck(rule, reverse):
    rng = np.random.default_rng(33)
    t, n, h, sizes = 4, 3, 2, (3, 2, 2, 1)
    g = {"RNN": 1, "LSTM": 4, "GRU": 3, "LSTM_proj": 4}[rule]
    h0, w = _t(rng.standard_normal((n, h))), _t(rng.standard_normal((g * h, h)) * 0.5)
    b = _t(rng.standard_normal(g * h))
    opts = {"reverse": reverse, "batch_sizes": sizes}
    if rule == "LSTM_proj":  # h (N, 2) from c (N, 3) through W_hr (2, 3)
        x, w_ih = _t(rng.standard_normal((t, n, 2))), _t(rng.standard_normal((12, 2)))
        c0 = _t(rng.standard_normal((n, 3)))
        args = (x, h0, c0, w_ih, _t(rng.standard_normal((12, h)) * 0.5), _t(rng.standard_normal(12)),
                _t(rng.standard_normal(12)), _t(rng.standard_normal((h, 3))))
        out = rrnn.LSTM.apply(*args, **opts)[:t * n * h].reshape(t, n, h)
        assert cr.gradcheck(lambda *a: rrnn.LSTM.apply(*a, **opts), *args)
    elif rule == "LSTM":
        x, w_ih = _t(rng.standard_normal((t, n, 2))), _t(rng.standard_normal((g * h, 2)))
        c0 = _t(rng.standard_normal((n, h)))
        args = (x, h0, c0, w_ih, w, b, _t(rng.standard_normal(g * h)))
        out = rrnn.LSTM.apply(*args, **opts)
        assert cr.gradcheck(lambda *a: rrnn.LSTM.apply(*a, **opts), *args)
    else:
        gx = _t(rng.standard_normal((t, n, g * h)))
        out = getattr(rrnn, rule).apply(gx, h0, w, b, **opts)
        assert cr.gradcheck(lambda *a: getattr(rrnn, rule).apply(*a, **opts), gx, h0, w, b)
    # sample 2 takes part in step 0 only: its state after steps 1-3 is its state after step 0 (forward), and
    # in reverse it keeps h0 until step 0
    o = _np(out)
    if reverse:
        np.testing.assert_allclose(o[1:t, 2], np.broadcast_to(_np(h0)[2], (t - 1, h)))
    else:
        np.testing.assert_allclose(o[1:t, 2], np.broadcast_to(o[0, 2], (t - 1, h)))


@pytest.mark.parametrize("name,direction", [("one_layer", "to_torch"), ("two_layer_bi_batch_first", "from_torch")])
def test_lstm_projection_matches_pytorch(name, direction):
    kw = {"one_layer": {},
          "two_layer_bi_batch_first": {"num_layers": 2, "bidirectional": True, "batch_first": True}}[name]
    cr.manual_seed(2)
    torch.manual_seed(2)
    m = nn.LSTM(3, 5, proj_size=2, **kw).double()
    t = torch.nn.LSTM(3, 5, proj_size=2, **kw).double()
    assert repr(m) == repr(t)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
    if direction == "to_torch":
        t.load_state_dict({k: torch.tensor(_np(v)) for k, v in m.state_dict().items()})
    else:
        m.load_state_dict(t.state_dict())
    rng = np.random.default_rng(34)
    x = rng.standard_normal((4, 6, 3))
    layers = m.num_layers * (2 if m.bidirectional else 1)
    n = 4 if m.batch_first else 6
    h0, c0 = rng.standard_normal((layers, n, 2)), rng.standard_normal((layers, n, 5))
    xc, xt = _t(x), torch.tensor(x, requires_grad=True)
    h0c, h0t, c0c, c0t = _t(h0), torch.tensor(h0, requires_grad=True), _t(c0), torch.tensor(c0, requires_grad=True)
    oc, (hc, cc) = m(xc, (h0c, c0c))
    ot, (ht, ct) = t(xt, (h0t, c0t))
    gs = [rng.standard_normal(a.shape) for a in (oc, hc, cc)]
    for a, b in zip((oc, hc, cc), (ot, ht, ct)):
        _same(a, b)
    sum((a * cr.tensor(g)).sum() for a, g in zip((oc, hc, cc), gs)).backward()
    sum((b * torch.tensor(g)).sum() for b, g in zip((ot, ht, ct), gs)).backward()
    for a, b in ((xc, xt), (h0c, h0t), (c0c, c0t)):
        _same(a.grad, b.grad)
    tp = dict(t.named_parameters())
    for k, p in m.named_parameters():
        _same(p.grad, tp[k].grad, k)


@pytest.mark.parametrize("make,message", [
    (lambda: nn.LSTM(3, 4, proj_size=4), "smaller than hidden_size"),
    (lambda: nn.LSTM(3, 4, proj_size=-1), "positive integer or zero"),
    (lambda: nn.GRU(3, 4, proj_size=2), "only supported for LSTM"),
    (lambda: nn.LSTM(3, 4, proj_size=2)(cr.zeros(2, 1, 3), (cr.zeros(1, 1, 4), cr.zeros(1, 1, 4))), "(1, 1, 2)"),
])
def test_projection_errors_are_one_clear_line(make, message):
    with pytest.raises(ValueError) as e:
        make()
    assert message in str(e.value) and "\n" not in str(e.value)
