"""PyTorch parity (shape and index): stacks and splits, diff/rot90/take/select, index patterns and
products, index_add/index_copy/index_fill/scatter_reduce; each the same snippet in chainrule and in
torch (values, shapes, dtypes, float64 gradients by check_op, refusals in torch's words)."""
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.compiler import CompileWarning
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


# ----------------------------------------------------------------------------- 2. diff, rot90, take, select
@pytest.mark.parametrize("shape, kw", [((5,), {}), ((5,), {"n": 2}), ((3, 4), {"dim": 0}), ((3, 4), {"n": 3}),
                                       ((3, 4), {"n": 6}), ((2, 3), {"prepend": (2, 1), "append": (2, 2)}),
                                       ((2, 3), {"dim": 0, "n": 2, "append": (1, 3)}), ((4,), {"n": 0})], ids=str)
def test_diff_is_torchs(shape, kw):
    ends = [k for k in ("prepend", "append") if k in kw]
    rest = {k: v for k, v in kw.items() if k not in ends}
    arrays = [arr(*shape)] + [arr(*kw[k]) for k in ends]

    def run(lib):
        return lambda x, *es: lib.diff(x, **rest, **dict(zip(ends, es)))
    check_op(run(cr), run(torch), arrays)
    check_op(lambda x: x.diff(**rest), lambda t: t.diff(**rest), arrays[:1])


def test_diff_of_integers_and_bools_and_mixed_dtypes_is_torchs():
    for values in ([1, 3, 2, 7], [True, False, False, True]):
        same(cr.diff(cr.tensor(values)), torch.diff(torch.tensor(values)))
    x, t = cr.arange(6.0).reshape(2, 3), torch.arange(6.0).reshape(2, 3)
    same(cr.diff(x, append=cr.zeros(2, 1, dtype=cr.float64), dim=1),
         torch.diff(t, append=torch.zeros(2, 1, dtype=torch.float64), dim=1))
    same(cr.diff(x, prepend=cr.zeros(2, 1, dtype=cr.int64)), torch.diff(t, prepend=torch.zeros(2, 1, dtype=torch.int64)))


def test_diff_refuses_in_torchs_words():
    refuses(lambda m: m.diff(m.tensor(1.0)), RuntimeError, "diff expects input to be at least one-dimensional")
    refuses(lambda m: m.diff(m.ones(3), n=-1), RuntimeError, "order must be non-negative but got -1")
    refuses(lambda m: m.diff(m.ones(2, 3), prepend=m.zeros(1)), RuntimeError,
            "diff expects prepend or append to be the same dimension as input")
    refuses(lambda m: m.diff(m.ones(2, 3), prepend=m.zeros(1, 3)), RuntimeError,
            r"diff expects the shape of tensor to prepend or append to match that of input except along the "
            r"differencing dimension; input.size\(0\) = 2, but got tensor.size\(0\) = 1")


@pytest.mark.parametrize("k", [-3, -1, 0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (-1, 0), (0, 2)], ids=str)
def test_rot90_is_torchs(k, dims):
    check_op(lambda x: cr.rot90(x, k, dims), lambda t: torch.rot90(t, k, dims), [arr(2, 3, 4)])
    check_op(lambda x: x.rot90(k, dims), lambda t: t.rot90(k, dims), [arr(2, 3, 4)])


def test_rot90_fliplr_flipud_are_torchs_and_refuse_in_its_words():
    check_op(cr.fliplr, torch.fliplr, [arr(3, 4, 2)])
    check_op(cr.flipud, torch.flipud, [arr(3, 4)])
    check_op(lambda x: x.flipud(), lambda t: t.flipud(), [arr(3)])
    check_op(lambda x: x.fliplr(), lambda t: t.fliplr(), [arr(3, 2)])
    refuses(lambda m: m.rot90(m.ones(2, 2), 1, (0, 0)), RuntimeError,
            "expected rotation dims to be different, but got dim0 = 0 and dim1 = 0")
    refuses(lambda m: m.rot90(m.ones(2, 2), 1, (0,)), RuntimeError, "expected total rotation dims == 2, but got dims = 1")
    refuses(lambda m: m.rot90(m.ones(3)), RuntimeError, "expected total dims >= 2, but got total dims = 1")
    refuses(lambda m: m.rot90(m.ones(2, 2), 1, (0, 5)), IndexError, "Dimension out of range")
    refuses(lambda m: m.fliplr(m.ones(3)), RuntimeError, "Input must be >= 2-d.")
    refuses(lambda m: m.flipud(m.tensor(1.0)), RuntimeError, "Input must be >= 1-d.")


@pytest.mark.parametrize("index", [[[0, -1], [5, 2]], [3, 3, 0], 4, [-6]], ids=str)
def test_take_is_torchs(index):
    check_op(lambda x: cr.take(x, cr.tensor(index)), lambda t: torch.take(t, torch.tensor(index)), [arr(2, 3)])
    check_op(lambda x: x.take(cr.tensor(index)), lambda t: t.take(torch.tensor(index)), [arr(2, 3)])


def test_take_refuses_in_torchs_words():
    refuses(lambda m: m.take(m.ones(2, 3), m.tensor([6])), IndexError,
            "out of range: tried to access index 6 on a tensor of 6 elements.")
    refuses(lambda m: m.take(m.ones(2, 3), m.tensor([-7])), IndexError,
            "out of range: tried to access index -7 on a tensor of 6 elements.")
    refuses(lambda m: m.take(m.ones(2, 3), m.tensor([1.0])), RuntimeError, "Expected a long tensor for index")


@pytest.mark.parametrize("shape, index, dim", [((2, 3), [[0, 2]], 1), ((2, 3), [[1], [0], [1]], 0),
                                               ((2, 3), [[0], [1]], None), ((2, 3, 4), [[[3], [0], [1]]], -1),
                                               ((2, 1, 4), [[[2, 0]], [[1, 1]]], 2), ((4,), [3, 0, 0], 0)], ids=str)
def test_take_along_dim_is_torchs(shape, index, dim):
    check_op(lambda x: cr.take_along_dim(x, cr.tensor(index), dim),
             lambda t: torch.take_along_dim(t, torch.tensor(index), dim), [arr(*shape)])
    check_op(lambda x: x.take_along_dim(cr.tensor(index), dim=dim),
             lambda t: t.take_along_dim(torch.tensor(index), dim=dim), [arr(*shape)])


def test_take_along_dim_of_argsort_is_sort_and_refusals_are_torchs():
    a = arr(3, 5)
    idx = cr.argsort(cr.tensor(a), dim=1)
    np.testing.assert_array_equal(cr.take_along_dim(cr.tensor(a), idx, dim=1).numpy(), np.sort(a, 1))
    refuses(lambda m: m.take_along_dim(m.ones(2, 3), m.tensor([0, 1]), 1), RuntimeError,
            r"torch.take_along_dim\(\): input and indices should have the same number of dimensions, but got 2 "
            "dimensions for input, and 1 dimensions for indices")
    refuses(lambda m: m.take_along_dim(m.ones(2, 3), m.tensor([[0.0]]), 1), RuntimeError,
            r"torch.take_along_dim\(\): dtype of indices should be Long")
    refuses(lambda m: m.take_along_dim(m.ones(2, 3), m.tensor([[0, 1, 1, 0]]), 0), RuntimeError,
            r"The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1")
    # out of range: chainrule refuses as its gather does (torch wraps or reads garbage along a dim)
    for bad in ([[3]], [[-1]]):
        with pytest.raises(IndexError, match="out of bounds"):
            cr.take_along_dim(cr.ones(2, 3), cr.tensor(bad), 1)


@pytest.mark.parametrize("shape, dim, index", [((2, 3), 1, -1), ((2, 3), 0, 1), ((4,), 0, -4), ((2, 3, 4), -1, 2)],
                         ids=str)
def test_select_is_torchs(shape, dim, index):
    check_op(lambda x: cr.select(x, dim, index), lambda t: torch.select(t, dim, index), [arr(*shape)])
    check_op(lambda x: x.select(dim, index), lambda t: t.select(dim, index), [arr(*shape)])


def test_select_refuses_in_torchs_words():
    refuses(lambda m: m.select(m.ones(2, 3), 1, 3), IndexError,
            r"select\(\): index 3 out of range for tensor of size \[2, 3\] at dimension 1")
    refuses(lambda m: m.select(m.ones(2, 3), 1, -4), IndexError, r"select\(\): index -4 out of range")
    refuses(lambda m: m.select(m.tensor(1.0), 0, 0), IndexError, r"select\(\) cannot be applied to a 0-dim tensor.")


@pytest.mark.parametrize("shape, offset", [((3,), 0), ((2, 2), 1), ((), -1), ((2, 3), -2)], ids=str)
def test_diagflat_is_torchs(shape, offset):
    check_op(lambda x: cr.diagflat(x, offset), lambda t: torch.diagflat(t, offset), [arr(*shape)])
    check_op(lambda x: x.diagflat(offset), lambda t: t.diagflat(offset), [arr(*shape)])


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 1), [], (1,)], ids=str)
def test_count_nonzero_is_torchs(dim):
    a = RNG.integers(-1, 2, (3, 4)).astype(np.float64)
    a[0, 0] = np.nan
    for values in (a, a.astype(bool), a[1].astype(np.int64)):
        if values.ndim == 1 and dim not in (None, 0, -1, []):
            continue
        c = cr.count_nonzero(cr.tensor(values), dim)
        same(c, torch.count_nonzero(torch.tensor(values), dim))
        same(cr.tensor(values).count_nonzero(dim), torch.tensor(values).count_nonzero(dim))
        assert not c.requires_grad
    same(cr.count_nonzero(cr.tensor(3.0), 0), torch.count_nonzero(torch.tensor(3.0), 0))
    refuses(lambda m: m.count_nonzero(m.ones(2, 2), dim=[0, 0]), RuntimeError,
            "dim 0 appears multiple times in the list of dims")
    refuses(lambda m: m.count_nonzero(m.ones(2, 2), 2), IndexError, "Dimension out of range")


def test_take_and_count_nonzero_replay_on_each_calls_data():
    """Negative indices are wrapped by ops, so a compiled step replays them; an index out of range at a
    replay meets the eager error (index_select's replay check)."""
    f = cr.compile(lambda x, i: (cr.take(x, i) * 2).sum() + cr.count_nonzero(x))
    x = cr.tensor([[0.0, 1.0, 2.0], [3.0, 0.0, 5.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for i in ([0, -1], [2, -3], [5, 1]):
            assert f(x, cr.tensor(i)).item() == 2 * x.numpy().reshape(-1)[i].sum() + 4
    assert f.stats == {"traces": 1, "replays": 2, "eager": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        with pytest.raises(IndexError, match="out of range: tried to access index 6"):
            f(x, cr.tensor([6, 0]))


# ----------------------------------------------------------------------------- 3. index patterns and products
@pytest.mark.parametrize("name", ["tril_indices", "triu_indices"])
@pytest.mark.parametrize("row, col, offset", [(3, 3, 0), (4, 3, 1), (3, 4, -1), (0, 3, 0), (3, 0, 0), (5, 2, -7),
                                              (2, 5, 9)])
def test_triangle_indices_are_torchs(name, row, col, offset):
    same(getattr(cr, name)(row, col, offset), getattr(torch, name)(row, col, offset))
    same(getattr(cr, name)(row, col, offset, dtype=cr.int32), getattr(torch, name)(row, col, offset, dtype=torch.int32))


def test_triangle_indices_refuse_in_torchs_words():
    refuses(lambda m: m.tril_indices(-1, 3), RuntimeError, "row must be non-negative, got-1")
    refuses(lambda m: m.triu_indices(3, -2), RuntimeError, "col must be non-negative, got-2")
    refuses(lambda m: m.tril_indices(3, 3, dtype=m.float32), NotImplementedError,
            "\"tril_indices\" not implemented for 'Float'")


@pytest.mark.parametrize("indices, shape", [([4, 5, 0], (2, 3)), (4, (2, 3)), ([-1, 6, -7, 23], (2, 3)),
                                            ([[1, 2], [7, 3]], 8), ([11, 3], (2, 3, 2)), (0, ())], ids=str)
def test_unravel_index_is_torchs(indices, shape):
    cs = cr.unravel_index(cr.tensor(indices), shape)
    same_all(cs, torch.unravel_index(torch.tensor(indices), shape))
    cs32 = cr.unravel_index(cr.tensor(np.asarray(indices, np.int32)), shape)
    same_all(cs32, torch.unravel_index(torch.tensor(np.asarray(indices, np.int32)), shape))


def test_unravel_index_refuses_in_torchs_words():
    refuses(lambda m: m.unravel_index(m.tensor(1.0), (2, 3)), TypeError, "expected 'indices' to be integer dtype")
    refuses(lambda m: m.unravel_index(m.tensor([1]), (2, -3)), ValueError,
            r"'shape' cannot have negative values, but got \(2, -3\)")


@pytest.mark.parametrize("shapes", [[(2,), (3,)], [(3,)], [(2,), (1,), (3,)], [(2,), (0,)]], ids=str)
def test_cartesian_prod_is_torchs(shapes):
    check_op(cr.cartesian_prod, torch.cartesian_prod, [arr(*s) for s in shapes])
    same(cr.cartesian_prod(cr.tensor([1, 2]), cr.tensor([3, 4, 5])),
         torch.cartesian_prod(torch.tensor([1, 2]), torch.tensor([3, 4, 5])))


def test_cartesian_prod_refuses_in_torchs_words():
    refuses(lambda m: m.cartesian_prod(m.ones(2, 2)), RuntimeError, r"Expect a 1D vector, but got shape \[2, 2\]")
    refuses(lambda m: m.cartesian_prod(m.tensor([1, 2]), m.tensor([1.0])), RuntimeError,
            "meshgrid expects all tensors to have the same dtype")
    refuses(lambda m: m.cartesian_prod(), RuntimeError, "meshgrid expects a non-empty TensorList")


@pytest.mark.parametrize("n", [0, 1, 3, 4])
@pytest.mark.parametrize("r", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("with_replacement", [False, True])
def test_combinations_are_torchs(n, r, with_replacement):
    a = arr(n)
    same(cr.combinations(cr.tensor(a), r, with_replacement), torch.combinations(torch.tensor(a), r, with_replacement))
    if cr.combinations(cr.tensor(a), r, with_replacement).numel():
        check_op(lambda x: cr.combinations(x, r, with_replacement=with_replacement),
                 lambda t: torch.combinations(t, r, with_replacement=with_replacement), [a])


def test_combinations_refuse_in_torchs_words():
    refuses(lambda m: m.combinations(m.ones(2, 2)), RuntimeError, r"Expect a 1D vector, but got shape \[2, 2\]")
    refuses(lambda m: m.combinations(m.ones(3), -1), RuntimeError, "Expect a non-negative number, but got -1")


@pytest.mark.parametrize("shapes", [[(2, 3), (3,)], [(), (2,)], [(2, 2), (3, 1)], [(2, 1, 3), (2, 2)], [(), ()],
                                    [(3,), (2, 2, 2)]], ids=str)
def test_kron_is_torchs(shapes):
    arrays = [arr(*s) for s in shapes]
    check_op(cr.kron, torch.kron, arrays)
    check_op(lambda a, b: a.kron(b), lambda a, b: a.kron(b), arrays)


def test_kron_promotes_as_torch():
    same(cr.kron(cr.ones(2), cr.tensor([1, 2])), torch.kron(torch.ones(2), torch.tensor([1, 2])))
    same(cr.kron(cr.tensor([1, 2]), cr.tensor([[3], [4]])), torch.kron(torch.tensor([1, 2]), torch.tensor([[3], [4]])))


@pytest.mark.parametrize("shapes", [[(2, 2), (), (2,), (0, 2)], [(1, 3)], [(2, 3), (3, 1), (1, 1)], [(0, 0), (2,)]],
                         ids=str)
def test_block_diag_is_torchs(shapes):
    check_op(cr.block_diag, torch.block_diag, [arr(*s) for s in shapes])


def test_block_diag_dtypes_and_refusal_are_torchs():
    same(cr.block_diag(), torch.block_diag())
    same(cr.block_diag(cr.tensor([[1, 2]]), cr.tensor(3.0)), torch.block_diag(torch.tensor([[1, 2]]), torch.tensor(3.0)))
    same(cr.block_diag(cr.tensor([[1, 2]]), cr.tensor(3)), torch.block_diag(torch.tensor([[1, 2]]), torch.tensor(3)))
    refuses(lambda m: m.block_diag(m.ones(2), m.ones(2, 2, 2)), RuntimeError,
            "torch.block_diag: Input tensors must have 2 or fewer dimensions. Input 1 has 3 dimensions")


@pytest.mark.parametrize("N", [None, 0, 1, 2, 5])
@pytest.mark.parametrize("increasing", [False, True])
def test_vander_is_torchs(N, increasing):
    """Values are torch.vander's; its backward raises in torch 2.13 (an in-place write of a saved
    tensor), so the gradients are checked against torch's own construction (a cumprod of copies)."""
    a = arr(4)
    a[1] = 0.0  # cumprod's gradient through a zero, as torch's
    same(cr.vander(cr.tensor(a), N, increasing), torch.vander(torch.tensor(a), N, increasing))

    def torch_vander(t):
        n = len(t) if N is None else N
        cols = [torch.ones(len(t), min(n, 1), dtype=t.dtype), t[:, None].expand(len(t), max(n - 1, 0)).cumprod(1)]
        out = torch.cat(cols, 1)
        return out if increasing else out.flip(1)
    if N in (0, 1):   # no power of x: outside the graph in both
        assert not cr.vander(cr.tensor(a, requires_grad=True), N).requires_grad
        assert not torch.vander(torch.tensor(a, requires_grad=True), N).requires_grad
    else:
        check_op(lambda x: cr.vander(x, N, increasing), torch_vander, [a])
    for values in ([1, 2, 3], [True, False], np.array([1, -2], np.int32)):
        same(cr.vander(cr.tensor(values), N, increasing), torch.vander(torch.tensor(values), N, increasing))


def test_vander_refuses_in_torchs_words():
    refuses(lambda m: m.vander(m.ones(3), -1), RuntimeError, "N must be non-negative.")
    refuses(lambda m: m.vander(m.ones(2, 2)), RuntimeError, "x must be a one-dimensional tensor.")


def test_products_and_index_patterns_replay_on_each_calls_data():
    """combinations' and vander's index patterns and ones are shape constants, unravel_index is a
    positions op: a compiled step replays them all instead of running eagerly."""
    def body(x):
        return (cr.combinations(x).prod(1).sum() + cr.vander(x).sum() + cr.block_diag(x, x).sum()
                + cr.kron(x, x).sum() + cr.unravel_index(cr.argmax(x), (3,))[0])
    f = cr.compile(body)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for a in ([1.0, 2.0, 3.0], [0.0, 1.0, -1.0], [2.0, 2.0, 5.0]):
            assert f(cr.tensor(a)).item() == pytest.approx(body(cr.tensor(a)).item())
    assert f.stats == {"traces": 1, "replays": 2, "eager": 0}


# ----------------------------------------------------------------------------- 4. index_add, index_copy, index_fill, scatter_reduce
SLICES = [((5, 3), 0, [0, 4, 0, 2]), ((5, 3), 1, [2, 2]), ((4,), 0, [3, 1, 3]), ((2, 3, 4), -1, [1]), ((3, 2), 0, 2)]


@pytest.mark.parametrize("shape, dim, index", SLICES, ids=str)
@pytest.mark.parametrize("alpha", [1, -2.5])
def test_index_add_is_torchs(shape, dim, index, alpha):
    k = np.size(index)
    src_shape = list(shape)
    src_shape[dim] = k
    if np.ndim(index) == 0:
        src_shape[dim] = 1
    a, s = arr(*shape), arr(*src_shape)
    check_op(lambda x, v: cr.index_add(x, dim, cr.tensor(index), v, alpha=alpha),
             lambda x, v: torch.index_add(x, dim, torch.tensor(index), v, alpha=alpha), [a, s])
    check_op(lambda x, v: x.index_add(dim, cr.tensor(index), v, alpha=alpha),
             lambda x, v: x.index_add(dim, torch.tensor(index), v, alpha=alpha), [a, s])


@pytest.mark.parametrize("shape, dim, index", [sl for sl in SLICES if len(set(np.ravel(sl[2]))) == np.size(sl[2])],
                         ids=str)
def test_index_copy_is_torchs(shape, dim, index):
    src_shape = list(shape)
    src_shape[dim] = max(np.size(index), 1)
    a, s = arr(*shape), arr(*src_shape)
    check_op(lambda x, v: cr.index_copy(x, dim, cr.tensor(index), v),
             lambda x, v: torch.index_copy(x, dim, torch.tensor(index), v), [a, s])
    check_op(lambda x, v: x.index_copy(dim, cr.tensor(index), v),
             lambda x, v: x.index_copy(dim, torch.tensor(index), v), [a, s])


@pytest.mark.parametrize("shape, dim, index", SLICES + [((5, 3), 0, [-1, 0]), ((), 0, [0])], ids=str)
@pytest.mark.parametrize("value", [7.5, "tensor"])
def test_index_fill_is_torchs(shape, dim, index, value):
    def run(lib):
        v = lib.tensor(-3.0, dtype=lib.float64) if value == "tensor" else value
        return lambda x: lib.index_fill(x, dim, lib.tensor(index), v)
    check_op(run(cr), run(torch), [arr(*shape)])
    check_op(lambda x: x.index_fill(dim, cr.tensor(index), 2), lambda t: t.index_fill(dim, torch.tensor(index), 2),
             [arr(*shape)])


def test_index_ops_keep_dtypes_as_torch():
    same(cr.index_fill(cr.zeros(2, dtype=cr.int64), 0, cr.tensor(1), 2.7),
         torch.index_fill(torch.zeros(2, dtype=torch.int64), 0, torch.tensor(1), 2.7))
    same(cr.index_add(cr.zeros(3, dtype=cr.int64), 0, cr.tensor([0, 0], dtype=cr.int32), cr.tensor([2, 5])),
         torch.index_add(torch.zeros(3, dtype=torch.int64), 0, torch.tensor([0, 0], dtype=torch.int32),
                         torch.tensor([2, 5])))
    same(cr.index_add(cr.tensor(1.0), 0, cr.tensor([0]), cr.tensor(2.0)),
         torch.index_add(torch.tensor(1.0), 0, torch.tensor([0]), torch.tensor(2.0)))


def test_index_ops_refuse_in_torchs_words():
    refuses(lambda m: m.index_add(m.zeros(3, 2), 0, m.tensor([0, 3]), m.ones(2, 2)), RuntimeError,
            "index 3 is out of bounds for dimension 0 with size 3")
    refuses(lambda m: m.index_add(m.zeros(3, 2), 0, m.tensor([0, -1]), m.ones(2, 2)), RuntimeError,
            "index -1 is out of bounds for dimension 0 with size 3")
    refuses(lambda m: m.index_add(m.zeros(3, 2), 0, m.tensor([0, 1]), m.ones(3, 2)), RuntimeError,
            r"index_add_\(\): Number of indices \(2\) should be equal to source.size\(dim\): \(3\), for dim: 0")
    refuses(lambda m: m.index_add(m.zeros(3, 2), 0, m.tensor([0, 1]), m.ones(2, 3)), RuntimeError,
            r"source tensor shape must match self tensor shape, excluding the specified dimension. Got self.shape = "
            r"\[3, 2\] source.shape = \[2, 3\]")
    refuses(lambda m: m.index_add(m.zeros(3, 2), 0, m.tensor([0.0, 1.0]), m.ones(2, 2)), RuntimeError,
            r"index_add_\(\): Expected dtype int32/int64 for index but got: Float")
    refuses(lambda m: m.index_add(m.zeros(3, 2), 0, m.tensor([0, 1]), m.ones(2, 2, dtype=m.float64)), RuntimeError,
            r"index_add_\(\): self \(Float\) and source \(Double\) must have the same scalar type")
    refuses(lambda m: m.index_add(m.zeros(3, 2), 0, m.tensor([[0, 1]]), m.ones(2, 2)), IndexError,
            r"index_add_\(\): Index is supposed to be a vector, but got dim: 2")
    refuses(lambda m: m.index_copy(m.zeros(3, 2), 0, m.tensor([0, -1]), m.ones(2, 2)), IndexError,
            r"index_copy_\(\): index -1 is out of bounds for dimension 0 with size 3")
    refuses(lambda m: m.index_copy(m.zeros(3, 2), 0, m.tensor([0, 1]), m.ones(3, 2)), IndexError,
            r"index_copy_\(\): Number of indices \(2\) should be equal to source.size\(dim\) \(3\)")
    refuses(lambda m: m.index_copy(m.zeros(3, 2), 0, m.tensor([0, 1]), m.ones(2, 2, dtype=m.float64)), RuntimeError,
            r"index_copy_\(\): self and source expected to have the same dtype, but got \(self\) Float and \(source\) "
            r"Double")
    refuses(lambda m: m.index_copy(m.zeros(3, 2), 0, m.tensor([0.0]), m.ones(1, 2)), RuntimeError,
            r"index_copy_\(\): Expected a long tensor for index, but got Float")
    refuses(lambda m: m.index_fill(m.zeros(3, 2), 0, m.tensor([0, 3]), 5), IndexError,
            "index 3 is out of bounds for dimension 0 with size 3")
    refuses(lambda m: m.index_fill(m.zeros(3, 2), 0, m.tensor([-4]), 5), IndexError,
            "index -4 is out of bounds for dimension 0 with size 3")
    refuses(lambda m: m.index_fill(m.zeros(3, 2), 1, m.tensor([0.0]), 5), IndexError,
            r"index_fill_\(\): Expected dtype int64 for index.")
    refuses(lambda m: m.index_fill(m.zeros(3, 2), 1, m.tensor([[0]]), 5), RuntimeError, "Index has to be a vector/scalar")
    refuses(lambda m: m.index_fill(m.zeros(3, 2), 1, m.tensor(1), m.tensor([5.0])), RuntimeError,
            r"index_fill_ only supports a 0-dimensional value tensor, but got tensor with 1 dimension\(s\).")


REDUCES = ["sum", "prod", "mean", "amax", "amin"]
SCATTERS = [((4,), [0, 2, 0, 0, 3], 0), ((3, 2), [[0, 1], [2, 0], [0, 0], [2, 2]], 0),
            ((2, 4), [[3, 3, 0], [1, 1, 1]], 1), ((), 0, 0), ((2, 3, 2), [[[1, 0]], [[2, 2]]], 1)]


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("shape, index, dim", SCATTERS, ids=str)
def test_scatter_reduce_is_torchs(reduce, include_self, shape, index, dim):
    a, s = arr(*shape), arr(*np.shape(index))
    check_op(lambda x, v: cr.scatter_reduce(x, dim, cr.tensor(index), v, reduce, include_self=include_self),
             lambda x, v: torch.scatter_reduce(x, dim, torch.tensor(index), v, reduce, include_self=include_self),
             [a, s])
    check_op(lambda x, v: x.scatter_reduce(dim, cr.tensor(index), v, reduce=reduce, include_self=include_self),
             lambda x, v: x.scatter_reduce(dim, torch.tensor(index), v, reduce=reduce, include_self=include_self),
             [a, s])


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_at_ties_and_zeros_is_torchs(reduce, include_self):
    """Ties for amax/amin (the gradient shared evenly), zeros for prod (one and two at a position)."""
    a = np.array([0.0, 2.0, 3.0, 1.0])
    s = np.array([0.0, 2.0, 2.0, 0.0, 5.0, 0.0, 3.0])
    index = [0, 1, 1, 2, 2, 3, 3]
    check_op(lambda x, v: cr.scatter_reduce(x, 0, cr.tensor(index), v, reduce, include_self=include_self),
             lambda x, v: torch.scatter_reduce(x, 0, torch.tensor(index), v, reduce, include_self=include_self),
             [a, s], gradcheck=reduce not in ("amax", "amin"))


@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_of_integers_is_torchs(reduce):
    x, s, i = [-1, 2, 3, 7], [-4, 5, 7, 2, -9], [0, 0, 1, 0, 3]
    for include_self in (True, False):
        same(cr.scatter_reduce(cr.tensor(x), 0, cr.tensor(i, dtype=cr.int32), cr.tensor(s), reduce,
                               include_self=include_self),
             torch.scatter_reduce(torch.tensor(x), 0, torch.tensor(i, dtype=torch.int32), torch.tensor(s), reduce,
                                  include_self=include_self))


def test_scatter_reduce_with_an_index_smaller_than_src():
    """Values as torch's; src elements the index does not reach get a zero gradient (torch's backward
    refuses this case in 2.13), checked by finite differences."""
    a, s, index = arr(3, 2), arr(4, 3), [[0, 1], [2, 0], [0, 0]]
    for reduce in REDUCES:
        same(cr.scatter_reduce(cr.tensor(a), 0, cr.tensor(index), cr.tensor(s), reduce),
             torch.scatter_reduce(torch.tensor(a), 0, torch.tensor(index), torch.tensor(s), reduce))
        xs = [cr.tensor(a, requires_grad=True), cr.tensor(s, requires_grad=True)]
        assert cr.gradcheck(lambda x, v: cr.scatter_reduce(x, 0, cr.tensor(index), v, reduce), *xs)
        cr.scatter_reduce(xs[0], 0, cr.tensor(index), xs[1], reduce).sum().backward()
        assert (xs[1].grad.numpy()[3] == 0).all() and (xs[1].grad.numpy()[:, 2] == 0).all()


def test_scatter_reduce_refuses_in_torchs_words():
    x, s = (lambda m: m.zeros(3, 2)), (lambda m: m.ones(4, 3))
    refuses(lambda m: m.scatter_reduce(x(m), 0, m.tensor([[0, 3]]), s(m), "sum"), RuntimeError,
            "index 3 is out of bounds for dimension 0 with size 3")
    refuses(lambda m: m.scatter_reduce(x(m), 0, m.tensor([[0, -1]]), s(m), "amax"), RuntimeError,
            "index -1 is out of bounds for dimension 0 with size 3")
    refuses(lambda m: m.scatter_reduce(x(m), 0, m.tensor([[0, 1]]), s(m), "foo"), RuntimeError,
            "reduce argument must be either sum, prod, mean, amax or amin, got foo")
    refuses(lambda m: m.scatter_reduce(x(m), 0, m.tensor([[0.0]]), s(m), "sum"), RuntimeError,
            r"scatter\(\): Expected dtype int32/int64 for index")
    refuses(lambda m: m.scatter_reduce(x(m), 0, m.tensor([0, 1]), s(m), "sum"), RuntimeError,
            "Index tensor must have the same number of dimensions as self tensor")
    refuses(lambda m: m.scatter_reduce(x(m), 0, m.tensor([[0]]), s(m).double(), "sum"), RuntimeError,
            r"scatter\(\): Expected self.dtype to be equal to src.dtype")
    refuses(lambda m: m.scatter_reduce(x(m), 0, m.zeros(5, 1, dtype=m.int64), s(m), "sum"), RuntimeError,
            r"Expected index \[5, 1\] to be no larger than self \[3, 2\] apart from dimension 0 and to be no larger "
            r"size than src \[4, 3\]")
    refuses(lambda m: m.scatter_reduce(m.tensor([True]), 0, m.tensor([0]), m.tensor([True]), "mean"),
            NotImplementedError, "not implemented for 'Bool'")


@pytest.mark.parametrize("name, call", [
    ("IndexAdd", lambda x, i: cr.index_add(x, 0, i, cr.ones(2, 2))),
    ("IndexCopy", lambda x, i: cr.index_copy(x, 0, i, cr.ones(2, 2))),
    ("ScatterReduce", lambda x, i: cr.scatter_reduce(x, 0, i.reshape(2, 1).expand(2, 2), cr.ones(2, 2), "amax")),
    ("ScatterAdd", lambda x, i: cr.scatter_add(x, 0, i.reshape(2, 1).expand(2, 2), cr.ones(2, 2))),
    ("Scatter", lambda x, i: cr.scatter(x, 0, i.reshape(2, 1).expand(2, 2), cr.ones(2, 2)))])
def test_index_writes_replay_and_an_index_out_of_range_falls_back_to_the_eager_error(name, call):
    """The replay's guard re-checks the indices (NumPy would wrap -1 silently, or write past the end):
    the call runs eagerly and meets the front's error. scatter and scatter_add were not re-checked
    before (a -1 at a replay wrote to the last row)."""
    f = cr.compile(lambda x, i: call(x, i) * 2)
    x = cr.zeros(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for i in ([0, 2], [1, 1], [2, 0]):
            np.testing.assert_array_equal(f(x, cr.tensor(i)).numpy(), (call(x, cr.tensor(i)) * 2).numpy())
    assert f.stats == {"traces": 1, "replays": 2, "eager": 0}
    for k, bad in enumerate((-1, 3)):
        with pytest.warns(CompileWarning, match=f"{name}'s indices outside the input") if not k else \
                warnings.catch_warnings():   # (one warning per reason)
            with pytest.raises((IndexError, RuntimeError), match="out of bounds"):
                f(x, cr.tensor([0, bad]))
    assert f.stats == {"traces": 1, "replays": 2, "eager": 2}


def test_index_fill_replays_negative_indices_and_falls_back_out_of_range():
    f = cr.compile(lambda x, i: cr.index_fill(x, 1, i, 5.0).sum(0))
    x = cr.zeros(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for i in ([0, -1], [1, 1], [-3, 2]):
            np.testing.assert_array_equal(f(x, cr.tensor(i)).numpy(),
                                          torch.index_fill(torch.zeros(2, 3), 1, torch.tensor(i), 5.0).sum(0).numpy())
    assert f.stats == {"traces": 1, "replays": 2, "eager": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        with pytest.raises(IndexError, match="index 3 is out of bounds"):
            f(x, cr.tensor([0, 3]))
