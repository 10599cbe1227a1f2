"""What the compiler knows of the engine's internals, in one place.

A tensor's ndarray attribute, how a plain tensor is made around an array, and where an optimizer
keeps a parameter's state: the rest of the package goes through these names.
"""
from __future__ import annotations

import operator

from chainrule import autograd as _autograd
from chainrule.tensor import Tensor

_SLOTS = {s for k in Tensor.__mro__ for s in getattr(k, "__slots__", ())}
ARRAY = "_data" if "_data" in _SLOTS else "data"  # the attribute that holds a tensor's ndarray
array_of = operator.attrgetter(ARRAY)


def set_array(t, a) -> None:
    setattr(t, ARRAY, a)


def make(a):
    """A tensor around the ndarray ``a`` (no copy), outside any graph."""
    return Tensor._make(a, False, None)


def opt_state(opt, p) -> dict:
    """The optimizer's state dict for parameter ``p``, created empty as its ``step`` does."""
    return opt.state.setdefault(id(p), {})


def clock() -> int:
    """The graph's clock now (the creation stamps of nodes and of in-place changes)."""
    return next(_autograd._seq)
