"""What the compiler knows of the engine's internals, in one place.

Where the tracing hook lives, a tensor's ndarray attribute, how a plain tensor is made around an
array, and where an optimizer keeps a parameter's state: the rest of the package goes through
these names.
"""
from __future__ import annotations

import operator

from chainrule.core import function as _function
from chainrule.optim.optimizer import Optimizer  # noqa: F401  (the state layout below is its own)

ARRAY = "_data"  # the attribute that holds a tensor's ndarray
HOOKS = "_hooks"  # the attribute of a module (in its __dict__) that holds its hooks
array_of = operator.attrgetter(ARRAY)
make_tensor = _function.make  # a tensor around an ndarray, outside any graph


def set_array(t, a) -> None:
    setattr(t, ARRAY, a)


def make(a):
    """A tensor around the ndarray ``a`` (no copy), outside any graph."""
    return make_tensor(a)


def tensor_class():
    """The class of the tensors the engine makes (the front's Tensor)."""
    return _function._Tensor


def tracer():
    """The active trace, or None (the hook in ``Function.apply``)."""
    return _function.tracer


def set_tracer(t) -> None:
    _function.tracer = t


def clock() -> int:
    """The graph's clock now (the creation stamps of nodes and of in-place changes)."""
    return next(_function._seq)


def opt_state(opt, p) -> dict:
    """The optimizer's state dict for parameter ``p`` (``opt.state[p]``, created empty on first use)."""
    return opt.state[p]


def opt_state_dicts(opt) -> list:
    """The optimizer's per-parameter state dicts."""
    return [v for v in opt.state.values() if isinstance(v, dict)]


def has_hooks(m) -> bool:
    """True when module ``m`` has forward, pre-forward or backward hooks (Python run at every call)."""
    return bool(m.__dict__.get(HOOKS))


def module_buffers(m) -> dict:
    """A module's buffers by name (``m._buffers``: arrays, or Tensors around them), changed in place."""
    return m._buffers


def buffer_array(b):
    """The ndarray of a module buffer (a buffer is an array, or a Tensor around one)."""
    return getattr(b, ARRAY, b)
