"""Embedding's max_norm / scale_grad_by_freq and EmbeddingBag, against PyTorch: values, gradients,
the renormalised table, the version bump, printed forms, and float64 gradchecks."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from oracle import check_op


def _pair(a, dtype=np.float64):
    """The same table as a chainrule and a torch leaf that require grad."""
    a = np.asarray(a, dtype)
    return cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


# ----------------------------------------------------------------------------- Embedding(max_norm)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embedding_max_norm_renormalises_the_looked_up_rows_in_place_as_pytorch(norm_type, dtype):
    rng = np.random.default_rng(0)
    table = rng.standard_normal((9, 4)) * 2
    table[3] *= 0.05  # a row under the bound stays as it is
    idx = np.array([[1, 2, 2, 3], [8, 1, 0, 3]])
    w, tw = _pair(table, dtype)
    v0 = w._version
    out, tout = F.embedding(cr.tensor(idx), w, max_norm=1.5, norm_type=norm_type), \
        TF.embedding(torch.tensor(idx), tw, max_norm=1.5, norm_type=norm_type)
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=rtol)  # the table itself
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=rtol)
    assert w._version == v0 + 1 and out.dtype == dtype
    assert np.array_equal(w.detach().numpy()[[4, 5, 6, 7]], table[[4, 5, 6, 7]].astype(dtype))  # not looked up
    g = rng.standard_normal(out.shape)
    out.backward(cr.tensor(g.astype(dtype)))
    tout.backward(torch.tensor(g.astype(dtype)))
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=rtol)


def test_embedding_layer_with_max_norm_trains_as_pytorch():
    rng = np.random.default_rng(1)
    emb, temb = nn.Embedding(12, 5, max_norm=1.0, padding_idx=0).double(), \
        torch.nn.Embedding(12, 5, max_norm=1.0, padding_idx=0).double()
    table = rng.standard_normal((12, 5)) * 3
    emb.weight.data.copy_(cr.tensor(table))
    with torch.no_grad():
        temb.weight.copy_(torch.tensor(table))
    opt, topt = cr.optim.SGD(emb.parameters(), lr=0.5), torch.optim.SGD(temb.parameters(), lr=0.5)
    for step in range(4):
        idx = rng.integers(0, 12, size=(3, 6))
        t = rng.standard_normal((3, 6, 5))
        for m, o, lib in ((emb, opt, cr), (temb, topt, torch)):
            o.zero_grad()
            ((m(lib.tensor(idx)) - lib.tensor(t)) ** 2).sum().backward()
            o.step()
    np.testing.assert_allclose(emb.weight.detach().numpy(), temb.weight.detach().numpy(), rtol=1e-12)


def test_embedding_max_norm_after_the_weight_was_saved_raises_at_backward_as_pytorch():
    w = cr.tensor(np.ones((4, 3)) * 2, requires_grad=True)
    y = (w ** 2).sum() + F.embedding(cr.tensor([1, 2]), w, max_norm=1.0).sum()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    tw = torch.ones(4, 3, dtype=torch.float64, requires_grad=True) * 1
    tw.retain_grad()
    ty = (tw ** 2).sum() + TF.embedding(torch.tensor([1, 2]), tw, max_norm=1.0).sum()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.backward()


def test_embedding_scale_grad_by_freq_matches_pytorch():
    # a scaled gradient is not the derivative: no finite-difference check (the unscaled one has it)
    idx = np.array([[1, 2, 2, 5], [5, 5, 0, 1]])
    table = np.random.default_rng(2).standard_normal((7, 3))
    check_op(lambda w: F.embedding(cr.tensor(idx), w, padding_idx=0, scale_grad_by_freq=True),
             lambda w: TF.embedding(torch.tensor(idx), w, padding_idx=0, scale_grad_by_freq=True), [table],
             gradcheck=False)


# ----------------------------------------------------------------------------- embedding_bag
IDX = np.array([1, 2, 4, 5, 4, 3, 2, 7, 4, 0])
BAGS = {"offsets": (IDX, np.array([0, 2, 2, 7])),          # an empty bag, a long last one
        "2d": (IDX[:8].reshape(2, 4), None)}


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("layout", list(BAGS))
@pytest.mark.parametrize("padding_idx", [None, 4])
def test_embedding_bag_matches_pytorch_and_gradchecks(mode, layout, padding_idx):
    idx, off = BAGS[layout]
    table = np.random.default_rng(3).standard_normal((8, 3))
    kw = dict(mode=mode, padding_idx=padding_idx)
    check_op(lambda w: F.embedding_bag(cr.tensor(idx), w, None if off is None else cr.tensor(off), **kw),
             lambda w: TF.embedding_bag(torch.tensor(idx), w, None if off is None else torch.tensor(off), **kw),
             [table])


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag_per_sample_weights_get_their_gradient(padding_idx):
    rng = np.random.default_rng(4)
    table, psw = rng.standard_normal((8, 3)), rng.standard_normal(IDX.size)
    off = np.array([0, 3, 3, 6, 10])
    kw = dict(mode="sum", padding_idx=padding_idx, include_last_offset=True)
    check_op(lambda w, p: F.embedding_bag(cr.tensor(IDX), w, cr.tensor(off), per_sample_weights=p, **kw),
             lambda w, p: TF.embedding_bag(torch.tensor(IDX), w, torch.tensor(off), per_sample_weights=p, **kw),
             [table, psw])


def test_embedding_bag_max_routes_ties_to_the_first_row_as_pytorch():
    table = np.array([[1.0, 2.0], [1.0, 3.0], [0.0, 3.0], [-1.0, -2.0]])
    idx, off = np.array([0, 1, 2, 1, 3, 3]), np.array([0, 4])
    check_op(lambda w: F.embedding_bag(cr.tensor(idx), w, cr.tensor(off), mode="max"),
             lambda w: TF.embedding_bag(torch.tensor(idx), w, torch.tensor(off), mode="max"), [table],
             gradcheck=False)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq_divides_by_each_index_count(mode):
    # PyTorch 2.13's CPU embedding_bag divides by a neighbouring index's count (pytorch/pytorch#190063,
    # fixed by #190264); the oracle is its embedding (correct) summed into the bags
    idx, off = np.array([1, 1, 2, 2, 2, 3, 1]), np.array([0, 4])
    table = np.random.default_rng(5).standard_normal((5, 2))
    bag = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    size = torch.bincount(bag).double()

    def oracle(w):
        rows = TF.embedding(torch.tensor(idx), w, scale_grad_by_freq=True)
        out = torch.zeros(2, 2, dtype=torch.float64).index_add(0, bag, rows)
        return out / size[:, None] if mode == "mean" else out
    check_op(lambda w: F.embedding_bag(cr.tensor(idx), w, cr.tensor(off), mode=mode, scale_grad_by_freq=True),
             oracle, [table], gradcheck=False)


def test_embedding_bag_max_norm_renormalises_the_table_as_pytorch():
    table = np.random.default_rng(6).standard_normal((8, 3)) * 2
    w, tw = _pair(table)
    out = F.embedding_bag(cr.tensor(IDX), w, cr.tensor([0, 3]), max_norm=1.0, norm_type=1.0, mode="max")
    tout = TF.embedding_bag(torch.tensor(IDX), tw, torch.tensor([0, 3]), max_norm=1.0, norm_type=1.0, mode="max")
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12)


def test_embedding_bag_layer_state_dict_init_and_training_match_pytorch():
    cr.manual_seed(0)
    bag = nn.EmbeddingBag(10, 4, mode="sum", padding_idx=1).double()
    tbag = torch.nn.EmbeddingBag(10, 4, mode="sum", padding_idx=1).double()
    assert (bag.weight.detach().numpy()[1] == 0).all() and bag.weight.dtype == np.float64
    assert list(bag.state_dict()) == list(tbag.state_dict()) == ["weight"]
    tbag.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in bag.state_dict().items()})
    opt, topt = cr.optim.Adam(bag.parameters(), lr=0.1), torch.optim.Adam(tbag.parameters(), lr=0.1)
    rng = np.random.default_rng(7)
    for step in range(3):
        idx, off, psw = rng.integers(0, 10, size=12), np.array([0, 5, 5, 9]), rng.standard_normal(12)
        for m, o, lib in ((bag, opt, cr), (tbag, topt, torch)):
            o.zero_grad()
            m(lib.tensor(idx), lib.tensor(off), lib.tensor(psw)).pow(2).sum().backward()
            o.step()
    np.testing.assert_allclose(bag.weight.detach().numpy(), tbag.weight.detach().numpy(), rtol=1e-10)
    pre = nn.EmbeddingBag.from_pretrained(cr.tensor(np.eye(3)), mode="max")
    assert not pre.weight.requires_grad
    assert pre(cr.tensor([[0, 2]])).tolist() == [[1.0, 0.0, 1.0]]


@pytest.mark.parametrize("make", [
    lambda M: M.EmbeddingBag(10, 3), lambda M: M.EmbeddingBag(10, 3, mode="sum", padding_idx=1, max_norm=1.0,
                                                              norm_type=3.0, scale_grad_by_freq=True),
    lambda M: M.Embedding(10, 3, padding_idx=0, max_norm=2.0, norm_type=1.0, scale_grad_by_freq=True),
    lambda M: M.Embedding(10, 3, sparse=True), lambda M: M.EmbeddingBag(10, 3, sparse=True)])
def test_printed_forms_match_pytorch(make):
    assert repr(make(nn)) == repr(make(torch.nn))


@pytest.mark.parametrize("call,message", [
    (lambda: F.embedding_bag(cr.tensor([0, 1]), cr.zeros(3, 2)), "offsets has to be a 1D Tensor but got None"),
    (lambda: F.embedding_bag(cr.tensor([[0, 1]]), cr.zeros(3, 2), cr.tensor([0])), "offsets has to be None"),
    (lambda: F.embedding_bag(cr.tensor([0, 1]), cr.zeros(3, 2), cr.tensor([1])), "offsets[0] has to be 0"),
    (lambda: F.embedding_bag(cr.tensor([0, 1]), cr.zeros(3, 2), cr.tensor([0, 3])), "can not be greater"),
    (lambda: F.embedding_bag(cr.tensor([0, 1]), cr.zeros(3, 2), cr.tensor([0, 2, 1])), "non-decreasing"),
    (lambda: F.embedding_bag(cr.tensor([0, 1]), cr.zeros(3, 2), cr.tensor([0, 1]), include_last_offset=True),
     "the last offset must be the input's length 2"),
    (lambda: F.embedding_bag(cr.tensor([0, 1]), cr.zeros(3, 2), cr.tensor([0]), mode="min"), "mode has to be"),
    (lambda: F.embedding_bag(cr.tensor([0, 1]), cr.zeros(3, 2), cr.tensor([0]), per_sample_weights=cr.ones(2)),
     "only supported for mode='sum'"),
    (lambda: F.embedding_bag(cr.tensor([0, 1]), cr.zeros(3, 2), cr.tensor([0]), mode="sum",
                             per_sample_weights=cr.ones(3)), "must have the same shape as the input"),
    (lambda: F.embedding_bag(cr.tensor([0, 1]), cr.zeros(3, 2), cr.tensor([0]), mode="max",
                             scale_grad_by_freq=True), "max mode does not support"),
    (lambda: F.embedding_bag(cr.tensor([0, 3]), cr.zeros(3, 2), cr.tensor([0])), "index 3 is out of range"),
    (lambda: F.embedding_bag(cr.zeros(2, 2, 2).long(), cr.zeros(3, 2)), "1D or 2D"),
])
def test_embedding_bag_errors_are_one_clear_line(call, message):
    with pytest.raises((ValueError, IndexError, NotImplementedError, RuntimeError)) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("vocab", [5, 5000])  # more rows than indices: the sum runs over the rows used only
def test_embedding_gradient_adds_repeated_rows_for_small_and_large_tables(vocab):
    rng = np.random.default_rng(9)
    idx = rng.integers(-vocab, vocab, (4, 6)) if vocab == 5 else np.r_[rng.integers(0, vocab, 22), 7, 7].reshape(4, 6)
    table = rng.standard_normal((vocab, 3))
    check_op(lambda w: w[cr.tensor(idx)], lambda w: w[torch.tensor(idx)], [table], gradcheck=vocab == 5)
    check_op(lambda w: F.embedding(cr.tensor(idx % vocab), w), lambda w: TF.embedding(torch.tensor(idx % vocab), w),
             [table], gradcheck=False)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_of_no_indices_or_only_padding_gives_zeros_and_no_gradient(mode):
    table = np.random.default_rng(10).standard_normal((5, 3))
    for idx, kw in ((np.zeros(0, np.int64), {}), (np.array([2, 2, 2]), {"padding_idx": 2})):
        check_op(lambda w: F.embedding_bag(cr.tensor(idx), w, cr.tensor([0, 0]), mode=mode, **kw),
                 lambda w: TF.embedding_bag(torch.tensor(idx), w, torch.tensor([0, 0]), mode=mode, **kw), [table],
                 gradcheck=False)


@pytest.mark.parametrize("rows,n", [(5, 40), (1000, 7), (3, 0)])
def test_a_row_lookups_backward_sums_repeats_over_few_or_many_rows(rows, n):
    # add_rows sums over the whole table when the indices are many, over the rows used when they are few
    from chainrule.rules.embedding import add_rows
    rng = np.random.default_rng(rows)
    idx = rng.integers(-rows, rows, (n, 1))         # negative indices count from the end, as NumPy's
    g = rng.standard_normal((n, 1, 4)).astype(np.float32)
    want = np.zeros((rows, 4), np.float32)
    np.add.at(want, idx.reshape(-1) % rows, g.reshape(-1, 4))
    got = add_rows(g, idx, rows)
    assert got.dtype == np.float32 and got.shape == (rows, 4)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
