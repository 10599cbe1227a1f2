"""PyTorch parity of the engine: the same snippet run with torch and with chainrule.

Values, gradients (float64), dtypes, printed text and error types/messages are compared for
in-place ops and version counters, dim/keepdim keywords and return values, dtypes and devices,
factories, tensor methods, custom autograd Functions and numerics at awkward points.
"""
import math

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def run_both(snippet, **arrays):
    """Run ``snippet(lib, **tensors)`` with torch and with chainrule on the same float64 arrays."""
    out = {}
    for name, lib in (("torch", torch), ("cr", cr)):
        ts = {k: lib.tensor(v, dtype=lib.float64, requires_grad=True) for k, v in arrays.items()}
        res = snippet(lib, **ts)
        out[name] = (res, ts)
    return out


def np_(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.detach().numpy() if isinstance(t, cr.Tensor) else t)


def same(a, b, rtol=1e-7, atol=1e-10):
    np.testing.assert_allclose(np_(a), np_(b), rtol=rtol, atol=atol)
    assert tuple(np_(a).shape) == tuple(np_(b).shape)


def same_dtype(ct, tt):
    assert str(ct.dtype) == str(tt.dtype).replace("torch.", ""), (ct.dtype, tt.dtype)


def raises_both(snippet, exc=RuntimeError, match=None):
    """The same error type from torch and chainrule (and, when given, a common message fragment)."""
    with pytest.raises(exc, match=match) as te:
        snippet(torch)
    with pytest.raises(exc, match=match) as ce:
        snippet(cr)
    return str(te.value), str(ce.value)


# ----------------------------------------------------------------------------- 1. in-place ops
def test_sgd_step_under_no_grad_updates_the_parameter_in_place():
    rng = np.random.default_rng(0)
    w0, x = rng.standard_normal(3), rng.standard_normal(3)
    for lib in (torch, cr):
        w = lib.tensor(w0, requires_grad=True)
        arr = w.detach().numpy() if lib is cr else None
        (w * lib.tensor(x)).sum().backward()
        with lib.no_grad():
            w -= 0.1 * w.grad
        assert w.is_leaf and w.requires_grad and w._version == 1
        np.testing.assert_allclose(np_(w), w0 - 0.1 * x)
        if lib is cr:
            assert w.detach().numpy() is arr  # the same ndarray: optimizers and views see the update
    net = cr.nn.Linear(3, 2)
    before = net.weight.detach().numpy()
    net(cr.tensor(rng.standard_normal((4, 3)))).sum().backward()
    with cr.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
    assert net.weight.detach().numpy() is before and net.weight.is_leaf and net.weight.requires_grad


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
def test_augmented_assignment_keeps_identity_and_values(op):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    res = {}
    for lib in (torch, cr):
        x, y = lib.tensor(a), lib.tensor(b)
        before = id(x)
        exec(f"x {op} y")
        assert id(x) == before and x._version == 1
        res[lib] = x
    same(res[torch], res[cr])


def test_inplace_matmul_writes_into_the_array():
    # PyTorch rebinds x for @= (x = x @ y); chainrule writes into x's array (same values)
    a, b = np.eye(2) * 2, np.arange(4.0).reshape(2, 2)
    x = cr.tensor(a)
    arr = x.numpy()
    x @= cr.tensor(b)
    assert x.numpy() is arr and x._version == 1
    np.testing.assert_allclose(x.data, a @ b)
    np.testing.assert_allclose(x.data, (torch.tensor(a) @ torch.tensor(b)).numpy())


@pytest.mark.parametrize("call", [
    "add_(y)", "add_(y, alpha=2.0)", "sub_(y)", "sub_(y, alpha=0.5)", "mul_(y)", "div_(y)", "pow_(2)",
    "zero_()", "fill_(3.5)", "copy_(y)", "clamp_(-0.3, 0.4)", "clamp_(min=0.0)", "neg_()", "exp_()",
    "masked_fill_(y > 0, -1.0)", "abs_()", "sqrt_()"])
def test_inplace_methods_match_pytorch(call):
    rng = np.random.default_rng(2)
    a, b = np.abs(rng.standard_normal((2, 3))) + 0.1, rng.standard_normal((2, 3))
    res = {}
    for lib in (torch, cr):
        x, y = lib.tensor(a), lib.tensor(b)
        r = eval(f"x.{call}")
        assert r is x and x._version == 1
        res[lib] = x
    same(res[torch], res[cr])


def test_inplace_on_leaf_requiring_grad_raises_pytorch_error():
    for call in ("x.add_(1)", "x.mul_(2)", "x.zero_()", "x.exp_()", "x.__iadd__(1)", "x.fill_(0)"):
        def snippet(lib, call=call):
            x = lib.tensor([1.0, 2.0], requires_grad=True)
            eval(call)
        t, c = raises_both(snippet, RuntimeError, "a leaf Variable that requires grad is being used in an "
                                                  "in-place operation")
        assert t == c


def test_setitem_on_leaf_requiring_grad_raises_and_works_under_no_grad():
    def snippet(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x[0] = 5.0
    raises_both(snippet, RuntimeError, "leaf Variable")
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        x[0] = 5.0
    assert x.tolist() == [5.0, 2.0] and x._version == 1 and x.is_leaf


def test_inplace_on_nonleaf_is_recorded_and_gradients_match():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))

    def snippet(lib, a, b):
        y = a * 2
        y.mul_(b)      # saves a copy of the old y for b's gradient
        y += a
        y.clamp_(-1.0, 1.0)
        y[0, 1] = b[1, 2] * 3
        y.sigmoid_()
        y.sum().backward()
        return y
    r = run_both(snippet, a=a, b=b)
    (ty, tts), (cy, cts) = r["torch"], r["cr"]
    same(ty, cy)
    for k in ("a", "b"):
        same(tts[k].grad, cts[k].grad)
    assert cy.grad_fn is not None and not cy.is_leaf


def test_modifying_a_saved_output_is_caught_with_versions():
    # exp, sigmoid and tanh save their OUTPUT: changing it in place must be caught
    for fn in ("exp", "sigmoid", "tanh"):
        def snippet(lib, fn=fn):
            x = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
            y = getattr(x, fn)()
            y.add_(1)
            y.sum().backward()
        t, c = raises_both(snippet, RuntimeError, "one of the variables needed for gradient computation has "
                                                  "been modified by an inplace operation")
        assert "is at version 1; expected version 0 instead" in t and \
            "is at version 1; expected version 0 instead" in c


def test_modifying_a_saved_input_is_caught_but_an_unsaved_one_is_fine():
    def saved(lib):  # mul saves its inputs
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        z = x * 1
        y = z * z
        z.mul_(3)
        z.mul_(2)
        y.sum().backward()
    t, c = raises_both(saved, RuntimeError, "modified by an inplace operation")
    assert "is at version 2; expected version 0 instead" in t and "is at version 2; expected version 0" in c
    for lib in (torch, cr):   # add saves nothing: y = x + 1; x.add_(1) then backward is fine
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        z = x * 1
        y = z + 1
        z.add_(1)
        y.sum().backward()
        np.testing.assert_allclose(np_(x.grad), [1.0, 1.0])
        assert z._version == 1


def test_version_counter_counts_every_inplace_op():
    for lib in (torch, cr):
        x = lib.zeros(3)
        assert x._version == 0
        x.add_(1)
        x += 1
        x[0] = 4
        x.zero_()
        assert x._version == 4


def test_inplace_errors_on_shape_and_dtype_match_pytorch():
    def shape(lib):
        x = lib.zeros(3)
        x += lib.ones(2, 3)
    t, c = raises_both(shape, RuntimeError, "doesn't match the broadcast shape")

    def dtype(lib):
        x = lib.zeros(3, dtype=lib.long)
        x += 1.5
    t, c = raises_both(dtype, RuntimeError, "result type Float can't be cast to the desired output type Long")


def test_requires_grad_and_random_inplace_fills():
    cr.manual_seed(0)
    x = cr.empty(1000)
    x.uniform_(-2, 3)
    assert -2 <= x.min().item() and x.max().item() < 3 and x._version == 1
    x.normal_(5.0, 0.1)
    assert abs(x.mean().item() - 5.0) < 0.02
    assert x.requires_grad_() is x and x.requires_grad
    raises_both(lambda lib: lib.zeros(2, dtype=lib.long).requires_grad_(), RuntimeError, "floating point")


# ----------------------------------------------------------------------------- 2. keywords, returns
@pytest.mark.parametrize("call", [
    "x.sum(dim=1)", "x.sum(1, keepdim=True)", "x.sum(dim=(0, 2))", "x.sum(dim=[])", "x.mean(dim=[])",
    "x.mean(dim=-1, keepdim=True)", "x.amax(dim=1)", "x.amin(dim=(0, 1), keepdim=True)",
    "x.var(dim=1)", "x.var(1, unbiased=False)", "x.var(dim=2, correction=2)", "x.std()", "x.std(dim=2)",
    "x.logsumexp(dim=1)", "x.softmax(dim=0)", "x.log_softmax(dim=-1)", "x.max()", "x.min()",
    "x.flatten(start_dim=1)", "x.unsqueeze(dim=1)", "x.transpose(0, 2)", "x.squeeze(dim=0)",
    "x.permute(2, 0, 1)", "x.t() if x.dim() == 2 else x.sum(0).t()"])
def test_reductions_and_shapes_with_dim_keywords(call):
    a = np.random.default_rng(4).standard_normal((2, 3, 4))

    def snippet(lib, x):
        y = eval(call)
        (y * y).sum().backward()
        return y
    r = run_both(snippet, x=a)
    same(r["torch"][0], r["cr"][0])
    same(r["torch"][1]["x"].grad, r["cr"][1]["x"].grad)


def test_cat_stack_and_axis_aliases():
    a, b = np.ones((2, 3)), np.zeros((2, 3))
    for lib in (torch, cr):
        assert tuple(lib.cat([lib.tensor(a), lib.tensor(b)], dim=1).shape) == (2, 6)
        assert tuple(lib.stack([lib.tensor(a), lib.tensor(b)], dim=2).shape) == (2, 3, 2)
    x = cr.tensor(a)
    assert x.sum(axis=0, keepdims=True).shape == (1, 3) and cr.cat([x, x], axis=0).shape == (4, 3)


def test_max_with_dim_returns_values_and_indices():
    a = np.array([[1.0, 5.0, 5.0], [7.0, 2.0, 7.0]])

    def snippet(lib, x):
        v, i = x.max(1)
        r = x.max(dim=0, keepdim=True)
        m = lib.min(x, dim=1)
        (v.sum() + r.values.sum() * 2 + m.values.sum() * 3).backward()
        return v, i, r.indices, m.indices
    res = run_both(snippet, x=a)
    for tv, cv in zip(res["torch"][0], res["cr"][0]):
        same(tv, cv)
    same(res["torch"][1]["x"].grad, res["cr"][1]["x"].grad)
    vi = cr.tensor(a).max(dim=1)
    assert vi.indices.dtype == cr.long and type(vi).__name__ == "max" and len(vi) == 2
    assert cr.tensor(a).max().ndim == 0
    same(cr.max(cr.tensor(a), cr.tensor(a[::-1].copy())), torch.max(torch.tensor(a), torch.tensor(a[::-1].copy())))


def test_size_numel_dim_len():
    for lib in (torch, cr):
        x = lib.zeros(2, 3, 4)
        assert x.size() == (2, 3, 4) and x.size(0) == 2 and x.size(-1) == 4
        assert x.numel() == 24 and x.dim() == 3 and len(x) == 2 and x.shape[1] == 3
        assert isinstance(x.size(1), int)
        assert [tuple(r.shape) for r in x] == [(3, 4), (3, 4)]
    raises_both(lambda lib: lib.zeros(2).size(3), IndexError, "Dimension out of range")


def test_var_correction_larger_than_n_gives_inf():
    for lib in (torch, cr):
        x = lib.tensor([1.0, 2.0])
        assert math.isinf(x.var(correction=2).item()) and math.isinf(x.var(correction=3).item())
        assert x.var(unbiased=False).item() == pytest.approx(0.25)


# ----------------------------------------------------------------------------- 3. dtypes and devices
def test_dtype_objects_and_conversions():
    names = ["float32", "float64", "float", "double", "half", "float16", "int32", "int64", "long", "int",
             "bool"]
    for n in names:
        assert str(getattr(cr, n)) == str(getattr(torch, n)).replace("torch.", "")
    x = cr.tensor([1.5, -2.5], requires_grad=True)
    tx = torch.tensor([1.5, -2.5], requires_grad=True)
    for m in ("float", "double", "half", "long", "int", "bool"):
        c, t = getattr(x, m)(), getattr(tx, m)()
        same_dtype(c, t)
        assert c.requires_grad == t.requires_grad, m
        same(c.double() if m != "bool" else c, t.double() if m != "bool" else t)
    assert x.to(cr.float64).dtype == cr.float64 and x.to("cpu") is x and x.cpu() is x
    assert x.to(cr.device("cpu"), cr.float64).dtype == cr.double
    assert x.to(cr.zeros(1, dtype=cr.int64)).dtype == cr.long and x.type(cr.float64).dtype == cr.float64
    assert x.is_floating_point() and not x.long().is_floating_point()
    assert x.dtype == cr.float32 and x.dtype == cr.float and x.double().dtype != cr.float


def test_devices_and_cuda():
    assert cr.device("cpu") == cr.zeros(2).device and str(cr.zeros(2).device) == "cpu"
    assert not cr.cuda.is_available() and cr.cuda.device_count() == 0
    # the device choice PyTorch's examples make (pytorch/examples mnist) picks the CPU
    assert not cr.backends.mps.is_available() and not cr.backends.cuda.is_built()
    cr.backends.cudnn.deterministic, cr.backends.cudnn.benchmark = True, False   # seeding code: accepted
    cr.set_default_device("cpu")
    assert cr.device("cuda").type == "cuda" and cr.device("cuda:1").index == 1  # naming one is fine
    for f in (lambda: cr.zeros(2, device="cuda"), lambda: cr.ones(2).to(cr.device("cuda")),
              lambda: cr.ones(2).to("cuda:0"),
              lambda: cr.tensor([1.0], device="mps"), lambda: cr.set_default_device("cuda")):
        with pytest.raises(RuntimeError, match="chainrule runs on the CPU only"):
            f()


def test_default_dtype():
    assert cr.get_default_dtype() == cr.float32
    try:
        cr.set_default_dtype(cr.float64)
        assert cr.tensor([1.0]).dtype == cr.float64 and cr.zeros(2).dtype == cr.float64
        assert (cr.arange(3) * 0.5).dtype == cr.float64
    finally:
        cr.set_default_dtype(cr.float32)
    with pytest.raises(TypeError, match="floating-point"):
        cr.set_default_dtype(cr.int64)


PROMOTION = [
    ("f32", lambda lib: np.float64(2.5)), ("f32", lambda lib: np.array(2.5)), ("f32", lambda lib: np.float32(2)),
    ("f32", lambda lib: lib.tensor(2.5, dtype=lib.float64)), ("f32", lambda lib: 2.5),
    ("f32", lambda lib: lib.tensor([2.5], dtype=lib.float64)), ("i64", lambda lib: 2.5),
    ("i64", lambda lib: lib.tensor(2.5, dtype=lib.float64)), ("i64", lambda lib: np.float64(2.5)),
    ("i32", lambda lib: lib.tensor(2, dtype=lib.int64)), ("i32", lambda lib: 2),
    ("b", lambda lib: 2), ("b", lambda lib: 2.5), ("f16", lambda lib: lib.tensor(2.5, dtype=lib.float64)),
    ("f0", lambda lib: lib.tensor(2.5, dtype=lib.float64)), ("i64", lambda lib: lib.tensor(True)),
    ("i32", lambda lib: lib.tensor([1, 2], dtype=lib.int64)),
]


@pytest.mark.parametrize("left,right", PROMOTION, ids=lambda v: v if isinstance(v, str) else "")
def test_dtype_promotion_matches_pytorch(left, right):
    def make(lib):
        return {"f32": lib.tensor([1.0, 2.0]), "i64": lib.tensor([1, 2]), "i32": lib.tensor([1, 2], dtype=lib.int32),
                "b": lib.tensor([True, False]), "f16": lib.tensor([1.0, 2.0], dtype=lib.float16),
                "f0": lib.tensor(1.0)}[left]
    ops = [lambda a, b: a * b, lambda a, b: a + b]
    if not isinstance(right(cr), np.ndarray):  # ndarray + torch.Tensor is NumPy's business
        ops.append(lambda a, b: b * a)
    for op in ops:
        same_dtype(op(make(cr), right(cr)), op(make(torch), right(torch)))


# ----------------------------------------------------------------------------- 4. factories
def test_factories_match_pytorch_signatures_and_dtypes():
    calls = ["linspace(-1, 1, 7)", "linspace(0, 1, steps=5, dtype=lib.float64)", "logspace(0, 2, 3)",
             "logspace(-1, 1, 4, base=2)", "arange(5)", "arange(1, 4)", "arange(0, 1, 0.25)",
             "arange(0, 10, 3, dtype=lib.float64)", "full((2, 2), 7)", "full((2,), 1.5)", "full((2,), True)",
             "zeros(2, 3, dtype=lib.int64)", "ones((2, 3))", "eye(3)", "eye(2, 3, dtype=lib.float64)",
             "full_like(lib.zeros(2, dtype=lib.int64), 4)", "zeros_like(lib.ones(2), dtype=lib.long)",
             "empty(2, 3).size()", "empty(4).dtype"]
    for call in calls:
        t, c = eval("lib." + call, {"lib": torch}), eval("lib." + call, {"lib": cr})
        if isinstance(t, torch.Tensor):
            same(t, c, rtol=1e-6)
            same_dtype(c, t)
        else:
            assert str(t).replace("torch.", "").replace("Size", "") == \
                str(c).replace("chainrule.", "").replace("Size", ""), call


def test_factories_take_requires_grad_device_and_the_seed():
    for f in (lambda: cr.zeros(2, requires_grad=True), lambda: cr.ones(2, 2, requires_grad=True, device="cpu"),
              lambda: cr.eye(3, requires_grad=True), lambda: cr.randn(2, requires_grad=True),
              lambda: cr.linspace(0, 1, 3, requires_grad=True), lambda: cr.full((2,), 1.0, requires_grad=True),
              lambda: cr.rand_like(cr.zeros(2), requires_grad=True), lambda: cr.arange(3.0, requires_grad=True),
              lambda: cr.tensor([1.0], requires_grad=True, device=cr.device("cpu"))):
        t = f()
        assert t.requires_grad and t.is_leaf and t.device == cr.device("cpu")
    draws = []
    for _ in range(2):
        cr.manual_seed(7)
        draws.append(np.concatenate([cr.rand(3).numpy(), cr.randn(3).numpy(), cr.randn_like(cr.zeros(2)).numpy(),
                                     cr.rand_like(cr.zeros(2)).numpy(), cr.randint(0, 5, (4,)).numpy(),
                                     cr.randperm(5).numpy(), cr.randint_like(cr.zeros(3), 10).numpy()]))
    np.testing.assert_array_equal(draws[0], draws[1])
    assert cr.randint(3, 7, (100,)).min() >= 3 and cr.randint(10, size=(5,)).dtype == cr.long
    assert sorted(cr.randperm(6).tolist()) == list(range(6)) and cr.randperm(6).dtype == cr.int64
    g = cr.Generator().manual_seed(3)
    assert cr.rand(2, generator=g).tolist() == cr.rand(2, generator=cr.Generator().manual_seed(3)).tolist()


# ----------------------------------------------------------------------------- 5. tensor methods
def test_arithmetic_methods_and_out():
    rng = np.random.default_rng(5)
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 3))

    def snippet(lib, a, b, c):
        r = [a.mm(b), a.matmul(b), a.add(c, alpha=2), a.sub(c, alpha=0.5), a.mul(c), a.div(c + 3),
             a.pow(2), a.t(), lib.mm(a, b), lib.bmm(a[None], b[None]), (a @ b).mm(b.t()).t()]
        sum(x.sum() for x in r).backward()
        return r
    res = run_both(snippet, a=a, b=b, c=c)
    for t, x in zip(res["torch"][0], res["cr"][0]):
        same(t, x)
    for k in "abc":
        same(res["torch"][1][k].grad, res["cr"][1][k].grad)
    for lib in (torch, cr):
        out = lib.zeros(2, 3, dtype=lib.float64)
        x, y = lib.tensor(a), lib.tensor(c)
        lib.add(x, y, out=out)
        np.testing.assert_allclose(np_(out), a + c)
        lib.mul(x, y, out=out)
        np.testing.assert_allclose(np_(out), a * c)
        o2 = lib.zeros(2, 4, dtype=lib.float64)
        lib.matmul(x, lib.tensor(b), out=o2)
        np.testing.assert_allclose(np_(o2), a @ b)
        o3 = lib.zeros(3, dtype=lib.float64)
        lib.sum(x, 0, out=o3)
        np.testing.assert_allclose(np_(o3), a.sum(0))
    raises_both(lambda lib: lib.add(lib.ones(2, requires_grad=True), 1, out=lib.zeros(2)), RuntimeError,
                "don't support automatic differentiation")


def test_new_factories_tolist_item_view_and_friends():
    for lib in (torch, cr):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lib.float64)
        assert x.new_zeros(3).dtype == lib.float64 and x.new_ones((2, 2)).tolist() == [[1, 1], [1, 1]]
        assert x.new_full((2,), 5.0).tolist() == [5.0, 5.0] and x.new_tensor([1, 2]).dtype == lib.float64
        assert tuple(x.new_empty(2, 3).shape) == (2, 3)
        assert x.view(4).tolist() == [1, 2, 3, 4] and x.view(-1, 1).shape == (4, 1)
        assert x.view_as(lib.zeros(4)).shape == (4,) and x.reshape_as(lib.zeros(1, 4)).shape == (1, 4)
        assert x.contiguous().tolist() == x.tolist() and x.tolist() == [[1, 2], [3, 4]]
        assert x[1, 0].item() == 3.0 and isinstance(x.sum().item(), float)
        assert bool(lib.tensor(1.0)) and not bool(lib.tensor(0))
        assert f"{x.sum():.2f}" == "10.00" and format(x.mean(), ".3f") == "2.500"
        assert float(x[0, 1]) == 2.0 and int(lib.tensor(3)) == 3
    raises_both(lambda lib: bool(lib.ones(2)), RuntimeError, "more than one value is ambiguous")
    raises_both(lambda lib: len(lib.tensor(1.0)), TypeError, "len\\(\\) of a 0-d tensor")
    raises_both(lambda lib: iter(lib.tensor(1.0)), TypeError, "iteration over a 0-d tensor")
    with pytest.raises(TypeError):
        format(torch.ones(2), ".2f")
    with pytest.raises(TypeError):
        format(cr.ones(2), ".2f")


REPRS = [
    "lib.tensor([1.0, 2.0])", "lib.tensor(3.5)", "lib.tensor([1.0, 2.0], requires_grad=True)",
    "lib.tensor([0.1234567, -12.5, 3.0])", "lib.tensor([[1e-5, 1.0], [2.0, 3.0]])",
    "lib.tensor([1e9, 1.0])", "lib.tensor([[1, 2], [30, 4]])", "lib.tensor([True, False])",
    "lib.tensor(3.0)", "lib.tensor([1.5, float('nan'), float('inf')])", "lib.tensor([])",
    "lib.zeros(0, 3)", "lib.tensor([1.0, 2.0], requires_grad=True) * 2", "lib.tensor(2.0, requires_grad=True).exp()",
    "lib.arange(30).reshape(3, 10) * 1.5", "lib.linspace(0, 1, 12).reshape(3, 4) - 0.5",
    "lib.tensor([-0.0, 0.0])", "lib.tensor([123456.789, 0.5])", "lib.arange(2000) * 1.0",
]


@pytest.mark.parametrize("expr", REPRS)
def test_repr_prints_like_pytorch(expr):
    t, c = repr(eval(expr, {"lib": torch})), repr(eval(expr, {"lib": cr}))
    assert c == t


def test_repr_names_non_default_dtypes():
    assert repr(cr.tensor([1.0], dtype=cr.float64)) == "tensor([1.], dtype=float64)"
    assert repr(cr.tensor([1, 2], dtype=cr.int32)) == "tensor([1, 2], dtype=int32)"


# ----------------------------------------------------------------------------- 6. custom Functions
def _functions(lib):
    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return x ** 3 * scale + 1.0

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return g * 3 * x ** 2 * ctx.scale, None

    class SortLike(lib.autograd.Function):  # two outputs, one of them not differentiable
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            idx = (x > 0).long()
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(y)
            return y, idx, x.exp()

        @staticmethod
        def backward(ctx, gy, gidx, ge):
            (y,) = ctx.saved_tensors
            return gy * 2 + ge * (y / 2).exp()

    class Mul2(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return (g * b if ctx.needs_input_grad[0] else None), (g * a if ctx.needs_input_grad[1] else None)
    return Cube, SortLike, Mul2


def test_custom_function_pytorch_style_matches_pytorch():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal(4), rng.standard_normal(4)

    def snippet(lib, a, b):
        Cube, SortLike, Mul2 = _functions(lib)
        y = Cube.apply(a, 2.0)
        p, idx, e = SortLike.apply(b)
        z = Mul2.apply(y, p)
        (z.sum() + e.sum()).backward()
        assert not idx.requires_grad and idx.dtype == lib.int64 and p.requires_grad
        return y, p, idx, z, e
    res = run_both(snippet, a=a, b=b)
    for t, c in zip(res["torch"][0], res["cr"][0]):
        same(t, c)
    for k in "ab":
        same(res["torch"][1][k].grad, res["cr"][1][k].grad)
    Cube = _functions(cr)[0]
    x = cr.tensor(a, requires_grad=True)
    assert "CubeBackward" in repr(Cube.apply(x, 1.0))
    assert cr.gradcheck(lambda t: Cube.apply(t, 2.0), cr.tensor(a, requires_grad=True))


def test_custom_function_saved_tensor_version_check_and_errors():
    def modified(lib):
        Cube = _functions(lib)[0]
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        y = Cube.apply(h, 1.0)
        h.add_(1)
        y.sum().backward()
    raises_both(modified, RuntimeError, "modified by an inplace operation")

    def wrong_count(lib):
        class Bad(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                return a * b

            @staticmethod
            def backward(ctx, g):
                return g
        a = lib.tensor([1.0], requires_grad=True)
        Bad.apply(a, a).sum().backward()
    raises_both(wrong_count, RuntimeError, "returned an incorrect number of gradients")


def test_lecture_style_function_still_works_beside():
    class Square(cr.Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, grad):
            return 2 * self.x * grad
    x = cr.tensor([1.0, 3.0], requires_grad=True)
    Cube = _functions(cr)[0]
    (Square.apply(x) + Cube.apply(x, 1.0)).sum().backward()
    np.testing.assert_allclose(x.grad.data, [5.0, 33.0])


def test_autograd_grad_matches_pytorch():
    a = np.array([0.5, -1.5, 2.0])

    def snippet(lib, a):
        y = (a ** 3).sum()
        w = a * 2
        ga, = lib.autograd.grad(y, a, retain_graph=True)
        gw = lib.autograd.grad([w], [a], grad_outputs=[lib.ones(3, dtype=lib.float64)])[0]
        gu = lib.autograd.grad(y, [a, lib.zeros(1, requires_grad=True)], allow_unused=True)
        assert a.grad is None and gu[1] is None
        return ga, gw, gu[0]
    res = run_both(snippet, a=a)
    for t, c in zip(res["torch"][0], res["cr"][0]):
        same(t, c)
    raises_both(lambda lib: lib.autograd.grad((lib.ones(1, requires_grad=True) * 2).sum(),
                                              [lib.ones(1, requires_grad=True)]),
                RuntimeError, "appears to not have been used in the graph")
    with pytest.raises(NotImplementedError, match="create_graph"):
        x = cr.ones(1, requires_grad=True)
        cr.autograd.grad(x * x, x, create_graph=True)


# ----------------------------------------------------------------------------- 7. numerics
def test_pow_gradients_at_zero_match_pytorch():
    def snippet(lib, a, b):
        z = lib.zeros(3, dtype=lib.float64)
        y = (a ** 0).sum() + ((a * 0) ** b).sum() + (z ** 0).sum() + (a ** 2).sum()
        y.backward()
        return y
    res = run_both(snippet, a=np.array([0.0, 1.5, -2.0]), b=np.array([0.0, 2.0, 3.0]))
    for k in "ab":
        same(res["torch"][1][k].grad, res["cr"][1][k].grad)
        assert not np.isnan(np_(res["cr"][1][k].grad)).any()


def test_nan_propagates_through_max_min_and_relu_like_pytorch():
    a = np.array([[1.0, np.nan, 3.0], [2.0, 5.0, -1.0]])
    b = np.array([[0.5, 1.0, np.nan], [2.0, 1.0, 4.0]])

    def snippet(lib, a, b):
        # (amax(dim) is left out: PyTorch's gives NaN gradients on a NaN row, chainrule's goes to the NaN)
        r = [a.max(), a.min(), lib.maximum(a, b), lib.minimum(a, b), lib.relu(a), a.max(dim=1).values,
             a.min(dim=0).values]
        sum((x * lib.arange(1.0, 1.0 + x.numel(), dtype=lib.float64).reshape(x.shape)).sum() for x in r).backward()
        return r
    res = run_both(snippet, a=a, b=b)
    for t, c in zip(res["torch"][0], res["cr"][0]):
        same(t, c)
    for k in "ab":
        same(res["torch"][1][k].grad, res["cr"][1][k].grad)


def test_softmax_family_on_zero_size_axes():
    for shape, dim in (((3, 0), 1), ((0, 4), 1), ((0,), 0)):
        for name in ("softmax", "log_softmax", "logsumexp"):
            t = getattr(torch, name)(torch.zeros(shape), dim)
            c = getattr(cr, name)(cr.zeros(shape), dim)
            same(t, c)


def test_relu_at_zero_and_max_ties_keep_the_lecture_conventions():
    def snippet(lib, x):
        y = lib.relu(x).sum() + x.max()
        y.backward()
    res = run_both(snippet, x=np.array([0.0, 2.0, 2.0, -1.0]))
    same(res["torch"][1]["x"].grad, res["cr"][1]["x"].grad)
    np.testing.assert_allclose(np_(res["cr"][1]["x"].grad), [0.0, 1.5, 1.5, 0.0])


def test_tutorial_spellings_backward_gradient_keywords_and_printed_results():
    a = np.array([2.0, 3.0])

    def snippet(lib, a):
        q = 3 * a ** 3
        q.backward(gradient=lib.tensor([1.0, 0.5], dtype=lib.float64))
        g = lib.matmul(input=a, other=a)
        return q, g, repr(lib.tensor([[1.0, 5.0], [7.0, 2.0]]).max(dim=1))
    res = run_both(snippet, a=a)
    same(res["torch"][1]["a"].grad, res["cr"][1]["a"].grad)
    same(res["torch"][0][1], res["cr"][0][1])
    assert res["torch"][0][2].replace("torch.", "") == res["cr"][0][2].replace("chainrule.", "")
    assert not cr.accelerator.is_available() and cr.accelerator.current_accelerator() is None
    assert repr(cr.zeros(2, 3).size()) == "chainrule.Size([2, 3])"
    assert "AddBackward0 object at" in repr((cr.ones(1, requires_grad=True) + 1).grad_fn)


@pytest.mark.parametrize("dt", ["uint8", "int8", "int16", "int32", "int64", "bool"])
def test_integer_arrays_keep_their_dtype_as_in_pytorch(dt):
    """torch.tensor(ndarray) keeps an integer array's dtype (a uint8 image stays uint8, 8x smaller than int64),
    and the results of ops with it promote as torch's do."""
    a = np.array([[1, 2, 3], [0, 5, 250 if dt == "uint8" else 7]], dtype=dt)
    c, t = cr.tensor(a), torch.tensor(a)
    for f in (lambda x, M: x, lambda x, M: x + 1, lambda x, M: x * 2.5, lambda x, M: x + M.tensor([1]),
              lambda x, M: x.sum(), lambda x, M: x.float() / 2, lambda x, M: x.max(), lambda x, M: -x if dt != "bool" else x,
              lambda x, M: M.as_tensor(a)):
        got, want = f(c, cr), f(t, torch)
        assert str(got.dtype) == str(want.dtype).replace("torch.", ""), dt
        np.testing.assert_array_equal(np.asarray(got.numpy()), want.numpy())
    assert cr.from_numpy(a).dtype == a.dtype
    for name in ("byte", "char", "short", "int", "long"):
        assert str(getattr(cr.tensor([1.7, -2.2]), name)().dtype) == str(getattr(torch.tensor([1.7, -2.2]), name)().dtype).replace("torch.", "")
    assert (cr.uint8, cr.int8, cr.int16, cr.short, cr.char, cr.byte) == (np.uint8, np.int8, np.int16, np.int16, np.int8, np.uint8)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64"])
def test_relu_against_its_shared_zeros_matches_torch_at_any_size_and_layout(dtype):
    # ReLU takes its max against a view of one read-only zero block per dtype, grown for a larger input
    rng = np.random.default_rng(7)
    for shape in [(), (0, 3), (5, 7), (70000,), (3, 300, 400)]:
        x = np.asarray(rng.standard_normal(shape) * 5).astype(dtype)
        for a in (x, x.T):
            got = cr.relu(cr.tensor(a)).numpy()
            want = torch.relu(torch.from_numpy(a.copy())).numpy()
            assert got.shape == want.shape and got.dtype == want.dtype and np.array_equal(got, want)
    y = cr.relu(cr.tensor(np.array([-1.0, 2.0])))
    y.numpy()[:] = 5.0                                  # the result is the caller's, not the zero block
    assert cr.relu(cr.tensor(np.array([-1.0, -2.0]))).tolist() == [0.0, 0.0]
