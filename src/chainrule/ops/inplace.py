"""In-place ops (``add_``, ``+=``, ``x[i] = v``, ...) with PyTorch's rules.

An in-place op writes its result into the tensor's own array (``x.data`` stays the same
ndarray object) and bumps the tensor's version (:func:`chainrule.autograd.bump_version`).

* Inside ``no_grad()``, or when no operand requires grad, nothing is recorded: a Parameter
  updated with ``p -= lr * p.grad`` stays a leaf that requires grad.
* Outside ``no_grad()``, a leaf that requires grad refuses (its ``.grad`` would no longer be
  the gradient of the value it holds), with PyTorch's message.
* Otherwise the op is recorded: the out-of-place op runs on the tensor's earlier value (a copy,
  standing in the graph where the tensor stood) and the tensor's node is replaced by the new
  one, as PyTorch does. A node that saved the earlier array sees the version change and its
  backward raises instead of computing a wrong gradient.
"""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.autograd import Function, bump_version, is_grad_enabled, no_grad
from chainrule.tensor import Tensor

LEAF_ERROR = "a leaf Variable that requires grad is being used in an in-place operation."


def _check_result(x: Tensor, out: Tensor, op: str) -> None:
    if out.data.shape != x.data.shape:
        raise RuntimeError(f"{op}: output with shape {list(x.shape)} doesn't match the broadcast shape "
                           f"{list(out.shape)}")
    if out.data.dtype.kind == "f" and x.data.dtype.kind != "f" or \
            out.data.dtype.kind in "iu" and x.data.dtype.kind == "b":
        raise RuntimeError(f"{op}: result type {dtypes.type_name(out.data.dtype)} can't be cast to the "
                           f"desired output type {dtypes.type_name(x.data.dtype)}")


def _write(x: Tensor, values) -> None:
    try:
        x.data[...] = values
    except ValueError as e:  # a read-only array: a constant or a broadcast view (expand)
        raise RuntimeError(f"in-place op on a tensor whose array cannot be written ({e}); "
                           f"make a copy with .clone() or tensor(...) first") from None


def apply_(x: Tensor, op: str, fn, *args, **kwargs) -> Tensor:
    """``x <- fn(x, *args, **kwargs)`` in place, by the rules above; returns ``x``."""
    grad_on = is_grad_enabled()
    if grad_on and x.requires_grad and x._ctx is None:
        raise RuntimeError(LEAF_ERROR)
    record = grad_on and (x.requires_grad or any(isinstance(a, Tensor) and a.requires_grad
                                                 for a in args))
    if not record:
        with no_grad():
            out = fn(x, *args, **kwargs)
        _check_result(x, out, op)
        _write(x, out.data)
        bump_version(x)
        return x
    if x.data.dtype.kind != "f":
        raise RuntimeError(f"{op}: an in-place op that records a gradient needs a float tensor, got "
                           f"{dtypes.type_name(x.data.dtype)}")
    bump_version(x)  # before the new node exists: only nodes made earlier saw the old value
    earlier = Tensor._make(x.data.copy(), x.requires_grad, x._ctx)
    # the history so far, frozen: the node that made the old value (and saved it) sees this change;
    # the new node, which saved the copy, does not see later ones
    earlier._vc = list(x._vc)
    earlier.name = x.name
    out = fn(earlier, *args, **kwargs)
    _check_result(x, out, op)
    _write(x, out.data)
    x._ctx, x.requires_grad = out._ctx, out.requires_grad
    return x


def fill_(x: Tensor, op: str, values) -> Tensor:
    """``x`` overwritten by constants (zero_, fill_, uniform_, normal_): nothing to differentiate."""
    if is_grad_enabled() and x.requires_grad:
        if x._ctx is None:
            raise RuntimeError(LEAF_ERROR)
        # a non-leaf overwritten by a constant: it no longer depends on anything
        bump_version(x)
        _write(x, values)
        x._ctx, x.requires_grad = None, False
        return x
    _write(x, values)
    bump_version(x)
    return x


class IndexPut(Function):
    """y = x with y[index] = v; dL/dx = dL/dy with zeros at index, dL/dv = dL/dy[index]."""

    def forward(self, x, v, index):
        self.index, self.v_shape = index, v.shape
        y = x.copy()
        y[index] = v
        return y

    def backward(self, grad):
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = grad.copy()
            gx[self.index] = 0
        if self.needs_input_grad[1]:
            gv = grad[self.index]
        return gx, gv


def setitem(x: Tensor, index, value) -> None:
    """``x[index] = value`` in place (recorded as IndexPut when a gradient flows)."""
    from chainrule.ops.convert import as_tensor
    from chainrule.ops.shape import _index
    index = _index(index)
    if not (is_grad_enabled() and (x.requires_grad or isinstance(value, Tensor) and value.requires_grad)):
        if is_grad_enabled() and x.requires_grad and x._ctx is None:
            raise RuntimeError(LEAF_ERROR)
        _write_index(x, index, value)
        bump_version(x)
        return
    v = as_tensor(value, x.data.dtype) if isinstance(value, Tensor) else \
        Tensor._make(np.asarray(value, x.data.dtype), False, None)
    apply_(x, "setitem", lambda old, v: IndexPut.apply(old, v, index=index), v)


def _write_index(x, index, value):
    try:
        x.data[index] = value.data if isinstance(value, Tensor) else value
    except ValueError as e:
        raise RuntimeError(f"setitem on a tensor of shape {x.shape}: {e}") from None
