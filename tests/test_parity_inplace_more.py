"""In-place forms of the index writes and of a few elementwise ops, against torch: the values, the
gradient through the written tensor (a non-leaf) and the source, and the leaf refusal."""
import numpy as np
import pytest
import torch

import chainrule as cr


def run(lib, x, src, call):
    """``call`` on a non-leaf copy of x (x * 1), the loss a weighted sum; returns (out, dx, dsrc)."""
    xt = lib.tensor(x, requires_grad=True)
    st = lib.tensor(src, requires_grad=True)
    y = xt * 1
    call(y, st)
    w = lib.tensor(np.arange(y.numel(), dtype=np.float64).reshape(y.shape) / 7)
    (y * w).sum().backward()
    return y.detach().numpy(), xt.grad.numpy(), (None if st.grad is None else st.grad.numpy())


CALLS = {
    "index_add_": lambda L: lambda y, s: y.index_add_(0, L.tensor([2, 0, 2]), s, alpha=2.0),
    "index_copy_": lambda L: lambda y, s: y.index_copy_(0, L.tensor([3, 0, 1]), s),
    "scatter_add_": lambda L: lambda y, s: y.scatter_add_(0, L.tensor([[0, 1], [3, 3], [0, 2]]), s),
    "scatter_reduce_": lambda L: lambda y, s: y.scatter_reduce_(0, L.tensor([[0, 1], [3, 3], [0, 2]]), s, "amax"),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_inplace_index_writes_match_torch(name):
    rng = np.random.default_rng(5)
    x, src = rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    got, want = run(cr, x, src, CALLS[name](cr)), run(torch, x, src, CALLS[name](torch))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)


def test_index_fill_and_elementwise_inplace_forms_match_torch():
    x = np.array([[1.5, -2.5, np.nan], [0.4, np.inf, -0.6]])
    for name, args in [("index_fill_", (1, "idx", 7.0)), ("tril_", ()), ("triu_", (1,)), ("nan_to_num_", (0.0, 9.0)),
                       ("sign_", ()), ("floor_", ()), ("ceil_", ()), ("round_", ()), ("trunc_", ()), ("sin_", ()),
                       ("cos_", ()), ("clamp_min_", (0.0,)), ("clamp_max_", (0.5,))]:
        out = []
        for lib in (torch, cr):
            a = tuple(lib.tensor([0, 2]) if v == "idx" else v for v in args)
            t = lib.tensor(x.copy())
            r = getattr(t, name)(*a)
            assert r is t
            out.append(t.numpy())
        np.testing.assert_array_equal(out[1], out[0], err_msg=name)
    for lib in (torch, cr):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad|leaf"):
            lib.ones(3, 2, requires_grad=True).index_add_(0, lib.tensor([0]), lib.ones(1, 2))
