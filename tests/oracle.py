"""Test helpers: run a chainrule function and its PyTorch twin on the same float64 inputs.

``check_op`` does both checks the guide asks for on every op: gradcheck by
central differences, and equality with PyTorch of the value, of every input's
gradient (for the same random upstream gradient), and of shapes and dtypes.
"""
import numpy as np
import pytest
import torch

import chainrule as cr

RTOL = 1e-6
ATOL = 1e-9


def as_torch(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def check_op(cr_fn, torch_fn, arrays, *, gradcheck=True, seed=0, rtol=RTOL, atol=ATOL):
    """Check ``cr_fn`` against ``torch_fn`` (values and gradients) and by finite differences."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    xs = [cr.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    out = cr_fn(*xs)
    ts = [as_torch(a) for a in arrays]
    tout = torch_fn(*ts)
    assert out.shape == tuple(tout.shape), f"shape {out.shape} != torch's {tuple(tout.shape)}"
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=atol,
                               err_msg="forward value differs from PyTorch")
    g = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        tg = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        assert got.shape == x.shape and got.dtype == np.float64
        np.testing.assert_allclose(got, tg, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i} differs from PyTorch")
    if gradcheck:
        xs = [cr.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
        assert cr.gradcheck(cr_fn, *xs)


def train_beside_torch(models, opts, loss_of, steps, *, rel=1e-12, rtol=1e-10, atol=0.0):
    """``steps`` training steps of chainrule's model and torch's twin side by side (``models`` and
    ``opts`` in that order; ``loss_of(lib, model)`` gives a step's loss), the losses equal at every
    step and the state_dicts after the last."""
    for _ in range(steps):
        losses = []
        for lib, m, opt in zip((cr, torch), models, opts):
            opt.zero_grad()
            loss = loss_of(lib, m)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[0] == pytest.approx(losses[1], rel=rel)
    theirs = models[1].state_dict()
    for k, v in models[0].state_dict().items():
        np.testing.assert_allclose(v.numpy(), theirs[k].numpy(), rtol=rtol, atol=atol, err_msg=k)
