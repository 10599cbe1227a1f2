"""PyTorch parity of the tensor's own semantics: ``.data``, ``.numpy()`` and NumPy functions, the graph
a learner walks (``is_leaf``, ``grad_fn.next_functions``, ``retain_grad``), version checks of the
arrays a backward reads (indices, masks, conditions, targets), dim errors and the device error.
Each test runs the same snippet with torch and with chainrule."""
import warnings

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

LIBS = (torch, cr)

# torch's own Tensor.__array__ (no copy keyword) and __array_wrap__ (no return_scalar) draw NumPy 2's
# DeprecationWarnings when the snippets run with torch; chainrule's run is checked under -W error below.
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
              pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context")]


def arr(t):
    return t.detach().numpy()


# ----------------------------------------------------------------------------- .data and .numpy()
def test_data_is_a_tensor_sharing_the_array_outside_the_graph():
    rng = np.random.default_rng(0)
    w0, g0 = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    got = {}
    for lib in LIBS:
        p = lib.tensor(w0, requires_grad=True)
        p.grad = lib.tensor(g0)
        d = p.data
        assert isinstance(d, lib.Tensor) and not d.requires_grad and d.is_leaf
        p.data.add_(-0.1 * p.grad)          # the classic manual SGD step
        p.data += -0.1 * p.grad             # the same, with an operator
        assert p._version == 0 and p.requires_grad and p.is_leaf  # .data changes are not versioned
        norm = p.data.norm()
        assert isinstance(norm, lib.Tensor) and not norm.requires_grad
        got[lib] = arr(p), norm.item(), p.data.std().item()
    np.testing.assert_allclose(got[cr][0], w0 - 0.2 * g0)
    for a, b in zip(got[cr], got[torch]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_data_shares_memory_and_assignment_replaces_the_array():
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        x.data[0] = 5.0
        assert arr(x)[0] == 5.0
        x.data = lib.tensor([7.0, 8.0])
        assert arr(x).tolist() == [7.0, 8.0] and x.requires_grad and x.shape == (2,)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.data = np.array([4.0, 5.0, 6.0])  # an array works too
    assert x.detach().numpy().tolist() == [4.0, 5.0, 6.0]


def test_a_change_through_data_is_not_seen_by_the_version_check():
    # PyTorch's documented hazard of .data: the backward uses the changed value without an error
    grads = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * x
        x.data.mul_(10)
        y.sum().backward()
        grads.append(arr(x.grad))
    np.testing.assert_allclose(grads[0], grads[1])


def test_numpy_is_refused_on_a_tensor_that_requires_grad():
    msgs = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        for f in (lambda: x.numpy(), lambda: np.asarray(x), lambda: (x * 2).numpy()):
            with pytest.raises(RuntimeError) as e:
                f()
            msgs.append(str(e.value))
        a = x.detach().numpy()
        a[0] = 9.0  # shares memory
        assert x.detach().numpy()[0] == 9.0
        plain = lib.tensor([1.0, 2.0])
        assert np.shares_memory(np.asarray(plain), plain.numpy())
    assert len(set(msgs)) == 1 and ".detach().numpy()" in msgs[0]


# ----------------------------------------------------------------------------- NumPy functions
@pytest.mark.parametrize("name,call", [
    ("exp", lambda x, w: np.exp(x)),
    ("dot", lambda x, w: np.dot(w, x)),
    ("concatenate", lambda x, w: np.concatenate([x, x])),
    ("maximum", lambda x, w: np.maximum(x, 0)),
])
def test_numpy_functions_refuse_a_tensor_that_requires_grad(name, call):
    with pytest.raises(RuntimeError) as te:
        call(torch.ones(2, requires_grad=True), torch.ones((2, 2)))
    with pytest.raises(RuntimeError) as ce:
        call(cr.ones(2, requires_grad=True), cr.ones((2, 2)))
    msg = str(ce.value)
    assert "\n" not in msg and f"numpy.{name}()" in msg and ".detach()" in msg
    assert "requires grad" in str(te.value)


def test_numpy_functions_on_plain_tensors_behave_as_in_pytorch():
    x = np.array([0.5, -1.0, 2.0])
    for lib in LIBS:
        t = lib.tensor(x)
        e = np.exp(t)  # a ufunc: a Tensor back, as torch's __array_wrap__
        assert isinstance(e, lib.Tensor)
        np.testing.assert_allclose(arr(e), np.exp(x), rtol=1e-12)
        d = np.dot(t, t)  # another function: NumPy's result
        assert not isinstance(d, lib.Tensor) and np.isclose(d, x @ x)
        c = np.concatenate([t, t])
        assert isinstance(c, np.ndarray) and c.tolist() == np.concatenate([x, x]).tolist()


def test_shape_questions_to_numpy_work_on_any_tensor():
    for lib in LIBS:
        w = lib.ones((2, 3), requires_grad=True)
        assert np.shape(w) == (2, 3) and np.ndim(w) == 2


def test_an_ndarray_on_the_left_of_an_operator_stays_in_the_graph():
    # chainrule goes further than torch here (torch raises TypeError): ndarray (op) Tensor is the Tensor op
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * w + np.array([1.0, 1.0])
    assert y.requires_grad and isinstance(y, cr.Tensor)
    y.sum().backward()
    assert w.grad.tolist() == [3.0, 4.0]
    assert (np.array([1.0, 5.0]) < cr.tensor([2.0, 2.0])).tolist() == [True, False]


# ----------------------------------------------------------------------------- the graph
def test_is_leaf_grad_fn_and_next_functions_as_in_pytorch():
    shapes = {}
    for lib in LIBS:
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, 4.0])
        y = a * b
        z = (y + a).sum()
        assert a.is_leaf and b.is_leaf and not y.is_leaf and a.grad_fn is None
        mul = y.grad_fn
        (acc, ia), (none, ib) = mul.next_functions
        assert acc.variable is a and none is None and (ia, ib) == (0, 0)
        assert type(acc).__name__ == "AccumulateGrad" and acc.next_functions == ()
        add = z.grad_fn.next_functions[0][0]
        assert add.next_functions[0][0] is mul
        assert add.next_functions[1][0].variable is a

        def walk(fn):
            return [type(fn).__name__ == "AccumulateGrad" if fn is not None else None] + \
                [walk(f) for f, _ in (fn.next_functions if fn is not None else ())]
        shapes[lib] = walk(z.grad_fn)
    assert shapes[torch] == shapes[cr]


def test_retain_grad_and_retains_grad_as_in_pytorch():
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        assert not y.retains_grad and not x.retains_grad
        y.retain_grad()
        x.retain_grad()  # a no-op on a leaf
        assert y.retains_grad and not x.retains_grad
        (y * y).sum().backward()
        assert arr(y.grad).tolist() == [6.0, 12.0]
        with pytest.raises(RuntimeError, match="requires_grad=False"):
            lib.tensor([1.0]).retain_grad()


def test_intermediate_gradients_are_kept_for_drawings():
    # chainrule's documented difference (docs/pytorch.md): every intermediate keeps its .grad
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    (y * y).sum().backward()
    assert y.grad.tolist() == [6.0, 12.0] and not y.retains_grad


# ----------------------------------------------------------------------------- version checks on inputs
VERSIONED = {
    "where": (lambda lib, x, c, i: lib.where(c, x, x * 2), "c"),
    "masked_fill": (lambda lib, x, c, i: x.masked_fill(c, 0.0), "c"),
    "gather": (lambda lib, x, c, i: x.gather(0, i), "i"),
    "index_select": (lambda lib, x, c, i: x.index_select(0, i), "i"),
    "scatter_add": (lambda lib, x, c, i: x.scatter_add(0, i, x * 1), "i"),
    "getitem": (lambda lib, x, c, i: x[i], "i"),
    "cross_entropy": (lambda lib, x, c, i: lib.nn.functional.cross_entropy(lib.stack([x, x * 2, x]), i), "i"),
}


@pytest.mark.parametrize("op", sorted(VERSIONED))
def test_changing_an_index_mask_or_condition_in_place_before_backward_raises(op):
    fn, changed = VERSIONED[op]
    messages = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        c = lib.tensor([True, False, True])
        i = lib.tensor([2, 0, 1])
        y = fn(lib, x, c, i)
        c.fill_(False) if changed == "c" else i.fill_(0)
        with pytest.raises(RuntimeError) as e:
            y.sum().backward()
        messages.append(str(e.value))
    assert all("modified by an inplace operation" in m for m in messages)


def test_an_unchanged_index_gives_the_gradient_of_pytorch():
    grads = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        i = lib.tensor([2, 0, 2])
        c = lib.tensor([True, False, True])
        (x.gather(0, i) * 2 + x[i] + lib.where(c, x, x * 3) + x.masked_fill(c, 0.0)).sum().backward()
        grads.append(arr(x.grad))
    np.testing.assert_allclose(grads[0], grads[1])


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call", [
    lambda lib, x: x.sum(5), lambda lib, x: x.argmax(5), lambda lib, x: x.mean(dim=-4),
    lambda lib, x: x.softmax(3), lambda lib, x: x.max(dim=2), lambda lib, x: x.cumsum(2),
    lambda lib, x: x.unsqueeze(4), lambda lib, x: x.transpose(0, 2), lambda lib, x: x.flatten(0, 2),
    lambda lib, x: lib.cat([x, x], 2), lambda lib, x: lib.stack([x, x], 4), lambda lib, x: x.sort(2),
    lambda lib, x: x.logsumexp(2), lambda lib, x: x.var(2), lambda lib, x: x.squeeze(3),
])
def test_a_dim_out_of_range_is_an_index_error_everywhere(call):
    for lib in LIBS:
        with pytest.raises(IndexError, match="(?i)dimension out of range"):
            call(lib, lib.ones((2, 3)))


def test_tensor_to_and_module_to_give_one_device_error():
    errors = []
    for f in (lambda: cr.ones(2).to("hpu"), lambda: cr.nn.Linear(2, 2).to("hpu"),
              lambda: cr.ones(2).cuda(), lambda: cr.nn.Linear(2, 2).cuda()):
        with pytest.raises(RuntimeError) as e:
            f()
        errors.append(str(e.value).replace("'cuda'", "'hpu'"))
    assert len(set(errors)) == 1 and "CPU only" in errors[0]


@pytest.mark.parametrize("call", [
    lambda L: L.zeros(3, 4).reshape(5, 2), lambda L: L.zeros(2, 3) @ L.zeros(2, 3),
    lambda L: L.zeros(2, 3) + L.zeros(4), lambda L: L.cat([L.zeros(2, 3), L.zeros(2, 4)]),
    lambda L: L.stack([L.zeros(2), L.zeros(3)]), lambda L: L.zeros(2, 3).expand(4, 3),
    lambda L: L.zeros(2, 3).permute(0, 0), lambda L: L.zeros(2, 3, 4).flatten(2, 1),
    lambda L: L.zeros(2).item(), lambda L: L.zeros(2, 3).gather(1, L.zeros(2, dtype=L.int64)),
    lambda L: L.zeros(3).topk(5), lambda L: L.zeros(3).masked_fill(L.zeros(3), 1.0),
    lambda L: L.zeros(3).masked_fill(L.zeros(4, dtype=L.bool), 1.0), lambda L: L.zeros(0).max(),
    lambda L: L.zeros(2, 3).repeat(2), lambda L: L.outer(L.zeros(2, 2), L.zeros(2)),
    lambda L: L.where(L.zeros(3, dtype=L.bool), L.zeros(3), L.zeros(4)),
    lambda L: L.einsum("ij,jk", L.zeros(2, 3), L.zeros(4, 2)),
    lambda L: (L.zeros(2, requires_grad=True) * 2).backward(L.zeros(3)),
])
def test_shape_and_dtype_errors_are_runtime_errors_as_in_pytorch(call):
    with pytest.raises(RuntimeError):
        call(torch)
    with pytest.raises(RuntimeError) as e:
        call(cr)
    assert "\n" not in str(e.value)
    # chainrule's earlier types still catch them
    assert isinstance(e.value, (ValueError, TypeError))


def test_changing_a_weight_in_place_between_forward_and_backward_raises():
    # the fused linear and the loss rules declare what their backward reads, as every rule does
    for lib in LIBS:
        lin = lib.nn.Linear(3, 2)
        x = lib.ones(4, 3, requires_grad=True)
        y = lin(x)
        with lib.no_grad():
            lin.weight.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_numpy_protocols_draw_no_deprecation_warning_on_chainrule_tensors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        t = cr.tensor([0.5, -1.0])
        assert isinstance(np.exp(t), cr.Tensor)
        assert np.dot(t, t) == 1.25
        assert np.asarray(t, dtype=np.float32).dtype == np.float32
        with pytest.raises(RuntimeError):
            np.dot(cr.ones((2, 2)), cr.ones(2, requires_grad=True))
