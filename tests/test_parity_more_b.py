"""PyTorch parity (shape and index): stacks and splits, diff/rot90/take/select, index patterns and
products, index_add/index_copy/index_fill/scatter_reduce; each the same snippet in chainrule and in
torch (values, shapes, dtypes, float64 gradients by check_op, refusals in torch's words)."""
import numpy as np
import pytest
import torch

import chainrule as cr
from oracle import check_op

RNG = np.random.default_rng(20261129)


def same(c, t):
    """chainrule tensor == torch tensor: shape, dtype and values."""
    t = t.detach()
    assert c.shape == tuple(t.shape), (c.shape, tuple(t.shape))
    assert str(c.dtype) == str(t.dtype).replace("torch.", ""), (c.dtype, t.dtype)
    np.testing.assert_allclose(c.detach().numpy(), t.numpy(), rtol=1e-7, atol=1e-12, equal_nan=True)


def same_all(cs, ts):
    assert isinstance(cs, tuple) and len(cs) == len(ts)
    for c, t in zip(cs, ts):
        same(c, t)


def refuses(fn, err, match):
    """chainrule and torch both raise ``err`` with a message matching ``match``."""
    for lib in (cr, torch):
        with pytest.raises(err, match=match):
            fn(lib)


def arr(*shape):
    return RNG.standard_normal(shape)


# ----------------------------------------------------------------------------- 1. stacks and splits
STACK_INPUTS = [[(), ()], [(3,), (3,)], [(2, 3), (2, 4)], [(2, 3, 1), (2, 3, 2)], [(3,), (3, 2)]]


@pytest.mark.parametrize("name", ["hstack", "vstack", "dstack", "column_stack"])
@pytest.mark.parametrize("shapes", STACK_INPUTS, ids=str)
def test_stacks_are_torchs(name, shapes):
    arrays = [arr(*s) for s in shapes]
    try:
        want = getattr(torch, name)([torch.tensor(a) for a in arrays])
    except RuntimeError:   # shapes that do not join: chainrule refuses them too
        with pytest.raises(RuntimeError):
            getattr(cr, name)([cr.tensor(a) for a in arrays])
        return
    check_op(lambda *xs: getattr(cr, name)(list(xs)), lambda *ts: getattr(torch, name)(list(ts)), arrays)
    same(getattr(cr, name)([cr.tensor(a) for a in arrays]), want)


def test_stacks_promote_dtypes_and_refuse_what_torch_refuses():
    same(cr.hstack([cr.tensor(1.0), cr.tensor(2)]), torch.hstack([torch.tensor(1.0), torch.tensor(2)]))
    refuses(lambda m: m.hstack([]), RuntimeError, "hstack expects a non-empty TensorList")
    refuses(lambda m: m.vstack(m.ones(2)), TypeError, "must be tuple of Tensors, not Tensor")
    with pytest.raises(TypeError, match="out="):
        cr.dstack([cr.ones(2)], out=cr.ones(1, 2, 1))


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 4)], ids=str)
def test_atleast_nd_is_torchs(n, shape):
    a = arr(*shape)
    check_op(getattr(cr, f"atleast_{n}d"), getattr(torch, f"atleast_{n}d"), [a])
    cs = getattr(cr, f"atleast_{n}d")(cr.tensor(a), cr.tensor(a))
    ts = getattr(torch, f"atleast_{n}d")(torch.tensor(a), torch.tensor(a))
    same_all(cs, ts)
    same_all(getattr(cr, f"atleast_{n}d")([cr.tensor(a)]), getattr(torch, f"atleast_{n}d")([torch.tensor(a)]))


@pytest.mark.parametrize("shape, size", [((3,), (2, 3)), ((2, 1), (2, 4)), ((2, 1), (3, -1, 5)), ((), (2, 2)),
                                         ((1, 3), (1, 3))], ids=str)
def test_broadcast_to_is_torchs(shape, size):
    check_op(lambda x: cr.broadcast_to(x, size), lambda t: torch.broadcast_to(t, size), [arr(*shape)])
    check_op(lambda x: x.broadcast_to(size), lambda t: t.broadcast_to(size), [arr(*shape)])


def test_broadcast_to_refuses_in_torchs_words():
    refuses(lambda m: m.broadcast_to(m.ones(2, 3), (3, 3)), RuntimeError,
            r"The expanded size of the tensor \(3\) must match the existing size \(2\) at non-singleton "
            r"dimension 0.  Target sizes: \[3, 3\].  Tensor sizes: \[2, 3\]")
    refuses(lambda m: m.broadcast_to(m.ones(2, 3), (3,)), RuntimeError,
            r"the number of sizes provided \(1\) must be greater or equal to the number of dimensions in the "
            r"tensor \(2\)")
    refuses(lambda m: m.broadcast_to(m.ones(2, 3), (-1, 2, 3)), RuntimeError,
            r"The expanded size of the tensor \(-1\) isn't allowed in a leading, non-existing dimension 0")


@pytest.mark.parametrize("shape", [(), (5,), (2, 3)], ids=str)
def test_ravel_is_torchs(shape):
    check_op(cr.ravel, torch.ravel, [arr(*shape)])


@pytest.mark.parametrize("shape, dim, sizes", [((2, 6), 1, (3, -1)), ((2, 6), -1, (2, 3)), ((4,), 0, (2, 2, 1)),
                                               ((6, 2), 0, (-1,))], ids=str)
def test_unflatten_is_torchs(shape, dim, sizes):
    check_op(lambda x: cr.unflatten(x, dim, sizes), lambda t: torch.unflatten(t, dim, sizes), [arr(*shape)])
    check_op(lambda x: x.unflatten(dim, sizes), lambda t: t.unflatten(dim, sizes), [arr(*shape)])


def test_unflatten_refuses_in_torchs_words():
    refuses(lambda m: m.unflatten(m.ones(2, 3), 1, (2, -1)), RuntimeError,
            r"unflatten: Provided sizes \[2, -1\] don't multiply up to the size of dim 1 \(3\) in the input tensor")
    refuses(lambda m: m.unflatten(m.ones(2, 3), 1, ()), RuntimeError, "unflatten: sizes must be non-empty")
    refuses(lambda m: m.unflatten(m.ones(2, 3), 2, (3, 1)), IndexError, "Dimension out of range")


SPLITS = [((7,), 3, 0), ((7,), [1, 5, 3], 0), ((7,), [-2, 10], 0), ((2, 5), 2, 1), ((2, 5), [], -1),
          ((4, 3), 5, 0), ((3, 4), "tensor3", 1), ((3, 4), "tensor[1, 2]", 1)]


def _sections(s, lib):
    if isinstance(s, str):
        return lib.tensor(eval(s[len("tensor"):]))
    return s


@pytest.mark.parametrize("shape, sections, dim", SPLITS, ids=str)
def test_tensor_split_is_torchs(shape, sections, dim):
    a = arr(*shape)
    cs = cr.tensor_split(cr.tensor(a), _sections(sections, cr), dim)
    ts = torch.tensor_split(torch.tensor(a), _sections(sections, torch), dim)
    same_all(cs, ts)
    check_op(lambda x: cr.cat(x.tensor_split(_sections(sections, cr), dim), dim),
             lambda t: torch.cat(t.tensor_split(_sections(sections, torch), dim), dim), [a])
    check_op(lambda x: x.tensor_split(_sections(sections, cr), dim)[0] * 2,
             lambda t: t.tensor_split(_sections(sections, torch), dim)[0] * 2, [a])


def test_tensor_split_refuses_in_torchs_words():
    refuses(lambda m: m.tensor_split(m.arange(7), 0), RuntimeError, "number of sections must be larger than 0, got 0")
    refuses(lambda m: m.tensor_split(m.tensor(1.0), 2), RuntimeError,
            "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    refuses(lambda m: m.tensor_split(m.ones(3), m.tensor([[1]])), RuntimeError,
            "to be a zero-dimensional or one-dimensional tensor, but got a tensor with 2 dims")
    refuses(lambda m: m.tensor_split(m.ones(3), m.tensor([1.0])), RuntimeError, "to have dtype of long")


@pytest.mark.parametrize("name, shape, sections", [("hsplit", (8,), 2), ("hsplit", (2, 6), 3), ("hsplit", (2, 6), [1, 4]),
                                                   ("vsplit", (4, 2), 2), ("vsplit", (5, 2), [2]),
                                                   ("dsplit", (2, 1, 4), 2), ("dsplit", (2, 1, 4), [3])], ids=str)
def test_numpy_splits_are_torchs(name, shape, sections):
    a = arr(*shape)
    same_all(getattr(cr, name)(cr.tensor(a), sections), getattr(torch, name)(torch.tensor(a), sections))
    check_op(lambda x: getattr(x, name)(sections)[-1], lambda t: getattr(t, name)(sections)[-1], [a])


def test_numpy_splits_refuse_in_torchs_words():
    refuses(lambda m: m.hsplit(m.arange(7), 2), RuntimeError,
            "torch.hsplit attempted to split along dimension 0, but the size of the dimension 7 is not divisible "
            "by the split_size 2!")
    refuses(lambda m: m.vsplit(m.ones(3), 3), RuntimeError,
            "torch.vsplit requires a tensor with at least 2 dimension, but got a tensor with 1 dimensions!")
    refuses(lambda m: m.dsplit(m.ones(2, 2), 1), RuntimeError,
            "torch.dsplit requires a tensor with at least 3 dimension, but got a tensor with 2 dimensions!")
    refuses(lambda m: m.hsplit(m.tensor(1.0), 1), RuntimeError, "torch.hsplit requires a tensor with at least 1")
