"""What public PyTorch programs (README's "Public programs tried") needed, each checked against
PyTorch through the public API: values, gradients and float64 gradchecks."""
import inspect
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
from chainrule.nn import functional as F
from oracle import check_op


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_index_select_with_repeated_indices_adds_their_gradients(dim):
    x = np.random.default_rng(0).standard_normal((3, 5, 4))
    n = x.shape[dim]
    idx = np.array([n - 1, 0, n - 1, 1, 0, n - 1])
    check_op(lambda a: cr.index_select(a, dim, cr.tensor(idx)), lambda a: torch.index_select(a, dim, torch.tensor(idx)),
             [x])


def test_reflection_padding_gradient_as_fast_neural_styles_conv_layers_use_it():
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 5))
    check_op(lambda a: F.pad(a, (4, 4, 3, 2), mode="reflect"), lambda a: TF.pad(a, (4, 4, 3, 2), mode="reflect"), [x])


def test_gather_with_repeated_indices_adds_their_gradients():
    x = np.random.default_rng(2).standard_normal((3, 4))
    idx = np.array([[0, 0, 3], [2, 2, 2], [1, 3, 1]])
    check_op(lambda a: cr.gather(a, 1, cr.tensor(idx)), lambda a: torch.gather(a, 1, torch.tensor(idx)), [x])


@pytest.mark.parametrize("n", [1, 5, 6, 7, 12])
def test_keywords_that_would_pass_the_line_width_go_on_a_new_line_as_pytorch_prints_them(n):
    # the char-RNN tutorial prints a (1, 6) log-softmax output with its grad_fn
    a = np.random.default_rng(3).standard_normal((1, n)).astype(np.float32)
    t, tt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    assert repr(t) == repr(tt)
    assert repr(F.log_softmax(t, dim=1)) == repr(TF.log_softmax(tt, dim=1))


@pytest.mark.parametrize("call", [lambda t: t.unsqueeze_(-1), lambda t: t.unsqueeze_(0), lambda t: t.squeeze_(),
                                  lambda t: t.squeeze_(1), lambda t: t.t_(), lambda t: t.transpose_(0, 1),
                                  lambda t: t.swapaxes_(1, 0)])
def test_in_place_shape_changes_as_pytorch(call):
    # the char-RNN generation tutorial calls target_line_tensor.unsqueeze_(-1) on its targets
    a = np.random.default_rng(4).standard_normal((3, 1))
    results = []
    for lib in (cr, torch):
        leaf = lib.tensor(a, requires_grad=True)
        y = leaf * 2
        v = y._version
        assert call(y) is y
        assert y._version == v + 1
        (y * lib.tensor(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)))).sum().backward()
        ints = lib.tensor([1, 2, 3])
        call(ints.reshape(3, 1))
        results.append((tuple(y.shape), y.detach().numpy(), leaf.grad.numpy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])


def test_in_place_shape_change_of_a_leaf_that_requires_grad_raises_and_of_a_saved_output_is_caught():
    w = cr.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.unsqueeze_(0)
    with cr.no_grad():
        assert w.unsqueeze_(0).shape == (1, 3)
    y = cr.tanh(cr.ones(3, requires_grad=True))  # tanh's backward reads its output
    y.unsqueeze_(0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_the_deprecated_alpha_first_overload_of_add_and_sub_works_with_pytorchs_warning():
    # the char-RNN generation tutorial updates its weights with p.data.add_(-learning_rate, p.grad.data)
    x, y = cr.ones(2), cr.tensor([1.0, 2.0])
    with pytest.warns(UserWarning, match="This overload of add_ is deprecated"):
        x.add_(-0.5, y)
    with pytest.warns(UserWarning, match="This overload of sub is deprecated"):
        z = x.sub(2, y)
    with pytest.warns(UserWarning, match="This overload of add is deprecated"):
        w = cr.add(x, 0.5, y)
    tx, ty = torch.ones(2), torch.tensor([1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns once per process
        tx.add_(-0.5, ty)
        assert [x.tolist(), z.tolist(), w.tolist()] == [tx.tolist(), tx.sub(2, ty).tolist(), torch.add(tx, 0.5, ty).tolist()]
    with pytest.raises(TypeError):
        cr.ones(2).add_(cr.ones(2), 0.5)


def test_autograd_variable_is_pytorchs_legacy_detaching_wrapper():
    # the LSTM part-of-speech tagger tutorial wraps every tensor in autograd.Variable
    for lib in (cr, torch):
        t = lib.ones(2) * 3
        v = lib.autograd.Variable(t)
        assert v is not t and not v.requires_grad and v.grad_fn is None
        assert isinstance(t, lib.autograd.Variable)
        w = lib.autograd.Variable(t, requires_grad=True)
        assert w.requires_grad and w.is_leaf and not t.requires_grad
        (w * w).sum().backward()
        assert w.grad.tolist() == [6.0, 6.0]
        h = lib.autograd.Variable(lib.ones(2, requires_grad=True) * 2)
        assert not h.requires_grad and h.grad_fn is None
        with pytest.raises(TypeError, match="Variable data has to be a tensor"):
            lib.autograd.Variable([1.0, 2.0])
        with pytest.warns(UserWarning, match="volatile was removed"):
            lib.autograd.Variable(t, volatile=True)


def test_every_layer_takes_pytorchs_device_and_dtype_keywords():
    # minGPT (pytorch/examples distributed/minGPT-ddp) builds nn.Linear(..., device=device, dtype=dtype)
    lacking = []
    for name in dir(torch.nn):
        theirs = getattr(torch.nn, name)
        if not (isinstance(theirs, type) and issubclass(theirs, torch.nn.Module)) or not hasattr(cr.nn, name):
            continue
        tp = inspect.signature(theirs.__init__).parameters
        cp = inspect.signature(getattr(cr.nn, name).__init__).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in cp.values()):
            lacking += [(name, k) for k in ("device", "dtype") if k in tp and k not in cp]
    assert lacking == []
    layer = cr.nn.Linear(3, 2, device="cpu", dtype=cr.float64)
    assert layer.weight.dtype == np.float64 and layer(cr.ones(1, 3, dtype=cr.float64)).shape == (1, 2)


def test_onnx_can_be_imported_and_export_refuses_in_one_line():
    # pytorch/examples word_language_model imports torch.onnx at the top and exports only when asked
    code = "import chainrule as torch\nimport chainrule.onnx\ntorch.onnx.export(torch.nn.Linear(2, 1), torch.ones(1, 2), 'm.onnx')\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("NotImplementedError: onnx.export: chainrule does not export")


SILENT = """
import warnings
import numpy as np
import chainrule as torch
warnings.simplefilter("always", append=True)  # after the filters in force: any other warning shows
a = np.array([-1.0, 0.0, 1.0, 1000.0])
for call in (lambda x: torch.log(x), lambda x: x / torch.zeros(4, dtype=torch.float64), torch.sqrt, torch.exp,
             lambda x: x ** -1, lambda x: torch.log1p(x - 1)):
    x = torch.tensor(a, requires_grad=True)
    call(x).sum().backward()
    print(call(x).tolist(), x.grad.tolist())
np.log(np.zeros(1))  # the user's own NumPy code still warns
"""


def test_floating_point_edge_values_are_silent_as_in_pytorch():
    # word_language_model's Transformer builds its mask as torch.log(torch.tril(torch.ones(n, n)));
    # PyTorch says nothing about log 0, 1/0, sqrt(-1) or exp(1000): neither does chainrule (in a fresh
    # process: pytest drops filters set while it imports a test module)
    ours = subprocess.run([sys.executable, "-c", SILENT], capture_output=True, text=True)
    theirs = subprocess.run([sys.executable, "-c", SILENT.replace("import chainrule as torch", "import torch")],
                            capture_output=True, text=True)
    assert ours.returncode == 0 and ours.stdout == theirs.stdout
    assert ours.stderr.count("Warning") == theirs.stderr.count("Warning") == 1
    assert "<string>:12: RuntimeWarning: divide by zero encountered in log" in ours.stderr


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_sends_each_input_its_slice_of_the_gradient(dim):
    # the char-RNN tutorials concatenate (category, input, hidden) at every step
    rng = np.random.default_rng(5)
    shapes = {0: [(1, 3, 2), (2, 3, 2), (3, 3, 2)], 1: [(2, 1, 2), (2, 4, 2), (2, 2, 2)],
              -1: [(2, 3, 1), (2, 3, 3), (2, 3, 2)]}[dim]
    check_op(lambda *xs: cr.cat(xs, dim), lambda *xs: torch.cat(xs, dim), [rng.standard_normal(s) for s in shapes])


@pytest.mark.parametrize("name,args,kwargs", [
    ("empty", (), {"size": (2, 3)}), ("zeros", (), {"size": [2, 3]}), ("ones", (), {"size": (4,)}),
    ("rand", (), {"size": (2, 3)}), ("randn", (), {"size": (1, 2)}), ("randint", (), {"low": 3, "high": 5, "size": (2, 3)}),
    ("randint", (), {"high": 5, "size": (3,)}), ("randint", (2,), {"high": 4, "size": (6,)})])
def test_factories_take_pytorchs_size_low_and_high_keywords(name, args, kwargs):
    # pytorch/examples gat builds its weights with torch.empty(size=(in_features, n_hidden * n_heads))
    ours, theirs = getattr(cr, name)(*args, **kwargs), getattr(torch, name)(*args, **kwargs)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == theirs.numpy().dtype
    if name == "randint":
        low = kwargs.get("low", args[0] if args else 0)
        assert (ours.numpy() >= low).all() and (ours.numpy() < kwargs["high"]).all()
    with pytest.raises(TypeError):
        getattr(cr, "zeros")(2, size=(2,))


def test_mT_mH_and_H_transpose_as_pytorch():
    # pytorch/examples gat adds source_scores + target_scores.mT
    x = np.random.default_rng(6).standard_normal((2, 3, 4))
    check_op(lambda a: a.mT * 2 + a.mH, lambda a: a.mT * 2 + a.mH, [x])
    check_op(lambda a: a[0].H, lambda a: a[0].H, [x], gradcheck=False)
    for lib in (cr, torch):
        with pytest.raises(RuntimeError, match="only supported on matrices"):
            lib.ones(3).mT
        with pytest.raises(RuntimeError, match="only supported on matrices"):
            lib.ones(2, 3, 4).H


BITWISE = [lambda a, b: a & b, lambda a, b: a | b, lambda a, b: a ^ b, lambda a, b: ~a, lambda a, b: a & True,
           lambda a, b: False | b, lambda a, b: a.logical_and(b), lambda a, b: a.logical_or(b),
           lambda a, b: a.logical_xor(b), lambda a, b: a.logical_not()]


@pytest.mark.parametrize("call", BITWISE)
@pytest.mark.parametrize("dtype", ["bool", "int64", "uint8"])
def test_bitwise_and_logical_operators_match_pytorch(call, dtype):
    # masks built as (x > lo) & (x < hi) in countless programs
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 4, (3, 4)).astype(dtype), rng.integers(0, 4, (4,)).astype(dtype)
    ours, theirs = call(cr.tensor(a), cr.tensor(b)), call(torch.tensor(a), torch.tensor(b))
    assert ours.dtype == theirs.numpy().dtype and ours.tolist() == theirs.tolist()


def test_bitwise_operators_refuse_floats_and_work_in_place_on_masks():
    x = cr.tensor([1.0, -1.0, 2.0])
    for lib, t in ((cr, x), (torch, torch.tensor([1.0, -1.0, 2.0]))):
        with pytest.raises(RuntimeError, match='"bitwise_and_cpu" not implemented for \'Float\''):
            t & t
    m = x > 0
    v = m._version
    m &= x < 2
    m |= x < -0.5
    assert m.tolist() == [True, True, False] and m._version == v + 2


def test_square_masked_select_repeat_interleave_and_scatter_match_pytorch():
    rng = np.random.default_rng(8)
    x, src = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    mask = rng.random((4,)) > 0.4
    idx = np.array([[3, 0], [1, 2], [2, 0]])  # no position twice in a row: which write wins is unspecified
    check_op(lambda a: a.square(), lambda a: a.square(), [x])
    check_op(lambda a: a.masked_select(cr.tensor(mask)), lambda a: a.masked_select(torch.tensor(mask)), [x])
    check_op(lambda a: a.repeat_interleave(2, dim=1), lambda a: a.repeat_interleave(2, dim=1), [x])
    check_op(lambda a: cr.repeat_interleave(a[0], 2), lambda a: torch.repeat_interleave(a[0], 2), [x])
    check_op(lambda a: cr.repeat_interleave(a, cr.tensor([1, 0, 3]), dim=0),
             lambda a: torch.repeat_interleave(a, torch.tensor([1, 0, 3]), dim=0), [x])
    check_op(lambda a, s: a.scatter(1, cr.tensor(idx), s), lambda a, s: a.scatter(1, torch.tensor(idx), s), [x, src])
    check_op(lambda a: a.scatter(0, cr.tensor(idx[:2] % 3), 2.5), lambda a: a.scatter(0, torch.tensor(idx[:2] % 3), 2.5),
             [x])
    onehot = [lib.zeros(3, 4).scatter_(1, lib.tensor([[2], [0], [3]]), 1).tolist() for lib in (cr, torch)]
    assert onehot[0] == onehot[1]
    a, s = cr.tensor(x, requires_grad=True), cr.tensor(src, requires_grad=True)
    out = (a * 1).scatter_(1, cr.tensor(idx), s)  # in place on a non-leaf: the gradient flows as scatter's
    ta, ts = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    tout = (ta * 1).scatter_(1, torch.tensor(idx), ts)
    g = rng.standard_normal((3, 4))
    out.backward(cr.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy())


def test_finfo_iinfo_and_the_seeding_and_printing_switches_match_pytorch():
    # RL programs take torch.finfo(torch.float32).eps; seeding helpers call use_deterministic_algorithms
    for ours, theirs in ((cr.float32, torch.float32), (cr.float64, torch.float64), (cr.float16, torch.float16)):
        for name in ("eps", "max", "min", "tiny", "smallest_normal", "resolution", "bits"):
            assert getattr(cr.finfo(ours), name) == getattr(torch.finfo(theirs), name)
        assert repr(cr.finfo(ours)) == repr(torch.finfo(theirs))
    assert cr.finfo().eps == torch.finfo().eps
    for ours, theirs in ((cr.int64, torch.int64), (cr.int32, torch.int32), (cr.uint8, torch.uint8)):
        assert (cr.iinfo(ours).min, cr.iinfo(ours).max, cr.iinfo(ours).bits) == \
            (torch.iinfo(theirs).min, torch.iinfo(theirs).max, torch.iinfo(theirs).bits)
    with pytest.raises(TypeError):
        cr.finfo(cr.int64)
    cr.use_deterministic_algorithms(True, warn_only=True)
    assert cr.are_deterministic_algorithms_enabled() and cr.is_deterministic_algorithms_warn_only_enabled()
    cr.use_deterministic_algorithms(False)
    assert cr.is_tensor(cr.ones(1)) and not cr.is_tensor(1.0) and cr.numel(cr.ones(2, 3)) == 6
    x = np.array([[1.123456789, 2e-5, 300.5], [4.0, 5.5, -6.25]], np.float32)
    try:
        for kw in (dict(precision=2), dict(sci_mode=False), dict(sci_mode=True, precision=3), dict(profile="short"),
                   dict(threshold=5, edgeitems=1), dict(linewidth=30)):
            cr.set_printoptions(**kw)
            torch.set_printoptions(**kw)
            assert repr(cr.tensor(x)) == repr(torch.tensor(x)) and repr(cr.arange(20.0)) == repr(torch.arange(20.0))
    finally:
        cr.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_pytorch(indexing):
    rng = np.random.default_rng(9)
    a, b, c = rng.standard_normal(3), rng.standard_normal(2), rng.standard_normal(4)
    check_op(lambda x, y, z: sum(g * (i + 1) for i, g in enumerate(cr.meshgrid(x, y, z, indexing=indexing))),
             lambda x, y, z: sum(g * (i + 1) for i, g in enumerate(torch.meshgrid(x, y, z, indexing=indexing))),
             [a, b, c])
    with pytest.warns(UserWarning, match="it will be required to pass the indexing argument"):
        assert [g.shape for g in cr.meshgrid([cr.ones(2), cr.ones(3)])] == [(2, 3), (2, 3)]


@pytest.mark.parametrize("call", [lambda a, b: a // b, lambda a, b: a % b, lambda a, b: a.fmod(b),
                                  lambda a, b: a // 2, lambda a, b: a % 3, lambda a, b: 7 // b, lambda a, b: 5 % b,
                                  lambda a, b: a.remainder(b), lambda a, b: a.floor_divide(b)])
@pytest.mark.parametrize("dtype", ["int64", "float32"])
def test_floor_division_and_remainder_match_pytorch(call, dtype):
    # index arithmetic (row = i // width, col = i % width) in data code
    a, b = np.array([7, -7, 4, 0, -3]).astype(dtype), np.array([2, 3, -3, 5, -2]).astype(dtype)
    ours, theirs = call(cr.tensor(a), cr.tensor(b)), call(torch.tensor(a), torch.tensor(b))
    assert ours.dtype == theirs.numpy().dtype
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_remainder_and_fmod_gradients_match_pytorch():
    a, b = np.array([7.5, -3.0, 4.0, -1.25]), np.array([2.0, 2.0, -1.5, 0.5])
    check_op(lambda x, y: x % y, lambda x, y: x % y, [a, b])
    check_op(lambda x, y: x.fmod(y), lambda x, y: x.fmod(y), [a, b])


def test_broadcast_tensors_and_shapes_match_pytorch():
    rng = np.random.default_rng(10)
    a, b, c = rng.standard_normal((3, 1)), rng.standard_normal((4,)), rng.standard_normal(())
    check_op(lambda x, y, z: sum(t * (i + 1) for i, t in enumerate(cr.broadcast_tensors(x, y, z))),
             lambda x, y, z: sum(t * (i + 1) for i, t in enumerate(torch.broadcast_tensors(x, y, z))), [a, b, c])
    assert cr.broadcast_shapes((3, 1), (4,), 1) == tuple(torch.broadcast_shapes((3, 1), (4,), 1)) == (3, 4)
    with pytest.raises(RuntimeError, match="do not broadcast"):
        cr.broadcast_shapes((3,), (4,))


def test_a_hand_written_adam_with_addcmul_addcdiv_and_lerp_matches_pytorch():
    # learners write Adam as exp_avg.lerp_(g, 1 - b1); exp_avg_sq.mul_(b2).addcmul_(g, g, value=1 - b2);
    # p.addcdiv_(exp_avg, denom, value=-lr)
    rng = np.random.default_rng(11)
    w0, grads = rng.standard_normal(5), rng.standard_normal((4, 5))
    results = []
    for lib in (cr, torch):
        p = lib.tensor(w0)
        m, v = lib.zeros(5, dtype=lib.float64), lib.zeros(5, dtype=lib.float64)
        for t, g in enumerate(grads, 1):
            g = lib.tensor(g)
            m.lerp_(g, 0.1)
            v.mul_(0.999).addcmul_(g, g, value=0.001)
            denom = (v / (1 - 0.999 ** t)).sqrt().add_(1e-8)
            p.addcdiv_(m, denom, value=-0.01 / (1 - 0.9 ** t))
        results.append(p.numpy())
        assert lib.addcmul(p, m, v).shape == (5,) and lib.tensor([2.0]).square_().tolist() == [4.0]
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)
    check_op(lambda a, b, c: a.addcdiv(b, c, value=0.5) + cr.addcmul(a, b, c, value=-2),
             lambda a, b, c: a.addcdiv(b, c, value=0.5) + torch.addcmul(a, b, c, value=-2),
             [rng.standard_normal(3), rng.standard_normal(3), rng.random(3) + 1])
