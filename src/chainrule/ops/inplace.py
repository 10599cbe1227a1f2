"""In-place ops (``add_``, ``+=``, ``x[i] = v``, ...) with PyTorch's rules.

An in-place op writes its result into the tensor's own array (``x._data`` stays the same
ndarray object) and bumps the tensor's version (:func:`chainrule.core.bump_version`).

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
from chainrule.core import TensorBase, bump_version, is_grad_enabled, make, no_grad
from chainrule.ops.convert import as_tensor
from chainrule.ops.shape import index_inputs
from chainrule.rules.index import IndexPut
from chainrule.rules.shape import fill_index

LEAF_ERROR = "a leaf Variable that requires grad is being used in an in-place operation."


def _check_result(x, out, op: str) -> None:
    if out._data.shape != x._data.shape:
        raise RuntimeError(f"{op}: output with shape {list(x.shape)} doesn't match the broadcast shape "
                           f"{list(out.shape)}")
    if out._data.dtype.kind == "f" and x._data.dtype.kind != "f" or \
            out._data.dtype.kind in "iu" and x._data.dtype.kind == "b":
        raise RuntimeError(f"{op}: result type {dtypes.type_name(out._data.dtype)} can't be cast to the "
                           f"desired output type {dtypes.type_name(x._data.dtype)}")


def _write(x, values, index=Ellipsis) -> None:
    """``x``'s array overwritten (at ``index``) by ``values``: the one place an in-place op writes."""
    try:
        x._data[index] = values
    except ValueError as e:  # a read-only array (a constant or a broadcast view), or shapes that differ
        if not x._data.flags.writeable:
            raise RuntimeError(f"in-place op on a tensor whose array cannot be written ({e}); "
                               f"make a copy with .clone() or tensor(...) first") from None
        raise RuntimeError(f"setitem on a tensor of shape {x._data.shape}: {e}") from None


def apply_(x, op: str, fn, *args, **kwargs):
    """``x <- fn(x, *args, **kwargs)`` in place, by the rules above; returns ``x``."""
    grad_on = is_grad_enabled()
    if grad_on and x.requires_grad and x._ctx is None:
        raise RuntimeError(LEAF_ERROR)
    record = grad_on and (x.requires_grad or any(isinstance(a, TensorBase) and a.requires_grad
                                                 for a in args))
    if not record:
        with no_grad():
            out = fn(x, *args, **kwargs)
        _check_result(x, out, op)
        _write(x, out._data)
        bump_version(x)
        return x
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: an in-place op that records a gradient needs a float tensor, got "
                           f"{dtypes.type_name(x._data.dtype)}")
    bump_version(x)  # before the new node exists: only nodes made earlier saw the old value
    earlier = make(x._data.copy(), x.requires_grad, x._ctx)
    # the history so far, frozen: the node that made the old value (and saved it) sees this change;
    # the new node, which saved the copy, does not see later ones
    earlier._vc = list(x._vc)
    earlier.name = x.name
    out = fn(earlier, *args, **kwargs)
    _check_result(x, out, op)
    _write(x, out._data)
    x._ctx, x.requires_grad = out._ctx, out.requires_grad
    return x


def reshape_(x, op: str, fn, *args):
    """``x`` given the shape of ``fn(x, *args)`` in place (unsqueeze_, squeeze_, t_, transpose_): its
    array becomes that view of the same memory and its version goes up (a node that saved the old
    array raises at backward); when a gradient flows, the shape op takes x's place in the graph."""
    grad_on = is_grad_enabled()
    if grad_on and x.requires_grad and x._ctx is None:
        raise RuntimeError(LEAF_ERROR)
    bump_version(x)
    if grad_on and x.requires_grad:
        earlier = make(x._data, True, x._ctx)  # the history so far, frozen (see apply_)
        earlier._vc, earlier.name = list(x._vc), x.name
        out = fn(earlier, *args)
        x._ctx = out._ctx
    else:
        with no_grad():
            out = fn(x, *args)
    x._data = out._data
    return x


def fill_(x, op: str, values):
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


def setitem(x, index, value, accumulate: bool = False, op: str = "setitem") -> None:
    """``x[index] = value`` in place (``accumulate``: ``+=``, repeated positions adding up, as
    index_put_), recorded as IndexPut when a gradient flows (index tensors are inputs of that op)."""
    template, idx = index_inputs(index)
    if not (is_grad_enabled() and (x.requires_grad or isinstance(value, TensorBase) and value.requires_grad)):
        if is_grad_enabled() and x.requires_grad and x._ctx is None:
            raise RuntimeError(LEAF_ERROR)
        where = fill_index(template, tuple(i._data for i in idx))
        values = value._data if isinstance(value, TensorBase) else value
        if accumulate:
            np.add.at(x._data, where, np.asarray(values, x._data.dtype))
        else:
            _write(x, values, where)
        bump_version(x)
        return
    v = as_tensor(value, x._data.dtype) if isinstance(value, TensorBase) else \
        make(np.asarray(value, x._data.dtype))
    apply_(x, op, lambda old, v: IndexPut.apply(old, v, *idx, index=template, accumulate=accumulate), v)


def index_put_(x, indices, values, accumulate: bool = False):
    """PyTorch's ``x.index_put_(indices, values, accumulate)``: ``indices`` a tuple (or list) of index
    tensors, one per leading dim; ``accumulate`` adds, repeated positions adding up."""
    if not isinstance(indices, (tuple, list)) or not all(isinstance(i, TensorBase) for i in indices):
        raise TypeError(f"index_put_(): argument 'indices' must be tuple of Tensors, not {type(indices).__name__}")
    setitem(x, tuple(indices), values, accumulate=bool(accumulate), op="index_put_")
    return x


def write_out(result, out, op: str):
    """PyTorch's ``out=``: the result written into ``out``'s array (no graph through ``out``)."""
    if out is None:
        return result
    if result.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic "
                           f"differentiation, but one of the arguments requires grad.")
    if not isinstance(out, TensorBase):
        raise TypeError(f"{op}(): out must be a Tensor, got {type(out).__name__}")
    if out._data.shape != result._data.shape:
        out._data = np.empty(result._data.shape, out._data.dtype)  # PyTorch resizes out to the result
    return fill_(out, op, result._data)
