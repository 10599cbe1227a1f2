"""Which arrays of a traced step derive from its data without going through a recorded op.

A replay repeats the ops the trace recorded; an array that the front computes from a tensor's values
with NumPy (a mask ``x._data > t``, labels converted by NumPy, a count of valid targets) is not an
op, and a replay would keep its traced value. A 0-d or uniform one looks like a constant (an
all-True mask at trace time, mixed later), so the trace marks such arrays instead of guessing:

While a step is traced, front code that reads the array of a tensor the step was given or computed
(``t._data``) gets a :class:`Derived` view of it. NumPy carries the subclass through ufuncs, methods,
reductions and functions, so whatever the front computes from it is a Derived array, or a plain view
of one once it becomes a tensor (``make`` stores plain arrays: see :func:`watch`). The core, the rules
(which get their arrays from ``Function.apply``) and the compiler read the plain arrays, so the step's
own numbers, gradients and state stay plain ndarrays. The builder then replays a derived array only
when it is the data itself (``detach()``, ``.data``, labels passed as an option) and otherwise runs the
step eagerly, naming the reason.

What escapes: a value the front turns into a Python number (``float(x._data.sum())``) or into control
flow (``if (t == ignore).any():``) loses the mark, as do NumPy calls that copy without dispatch
(``np.array(a)``, ``np.asarray(a, other_dtype)``).
"""
from __future__ import annotations

import sys

import numpy as np

from chainrule.compiler.engine import ARRAY, tensor_class

_PLAIN_READERS = ("chainrule.core", "chainrule.compiler", "chainrule.autograd")


_owners = None  # while a trace watches: id -> array, the memory of every Derived array (see Derived)


class Derived(np.ndarray):
    """An array computed from a traced step's data (a view: the values are the array's own).

    NumPy keeps the subclass through ufuncs and methods, but a plain view of a Derived array (what
    ``np.asarray`` and a tensor keep) points at the memory's owner, not at the Derived array; so the
    owner of every Derived array's memory is noted while a trace watches."""

    def __array_finalize__(self, obj):
        if _owners is not None:
            o = self
            while isinstance(o.base, np.ndarray):
                o = o.base
            _owners[id(o)] = o

    def __array_function__(self, func, types, args, kwargs):
        return mark(super().__array_function__(func, types, args, kwargs))


def mark(out):
    """``out`` (an array, or a tuple or list of them) as Derived; anything else unchanged."""
    if type(out) is np.ndarray:
        return out.view(Derived)
    if isinstance(out, (tuple, list)):
        return type(out)(mark(o) for o in out)
    return out


def plain(a):
    """A Derived array as a plain ndarray view (other values unchanged)."""
    return a.view(np.ndarray) if isinstance(a, Derived) else a


def derived(a, owners: dict) -> bool:
    """True when ``a`` is a Derived array, or shares the memory of one (``owners``: what a trace's
    :class:`watch` noted)."""
    while isinstance(a, np.ndarray):
        if type(a) is Derived or owners.get(id(a)) is a:
            return True
        a = a.base
    return False


def same_array(a, b) -> bool:
    """True when ``a`` and ``b`` are the same memory, shape, strides and dtype (one is a view of the other
    that changes nothing)."""
    return a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype and \
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


def source(a, arrays: dict):
    """The array of ``arrays`` (id -> array) that ``a`` is exactly, through its chain of views, or None."""
    while isinstance(a, np.ndarray):
        b = arrays.get(id(a))
        if b is not None:
            return b
        a = a.base
    return None


class watch:  # noqa: N801 - a context manager, used as a function
    """While active, front code reading the array of a tensor in ``traced`` (a set of ids, which the
    caller keeps adding to) gets a Derived view; a tensor made around a derived array joins ``traced``
    and keeps a plain view of it."""

    def __init__(self, traced: set):
        self.traced = traced
        self.owners: dict = {}  # the memory of the Derived arrays made while watching (Derived)

    def __enter__(self):
        global _owners
        _owners = self.owners
        cls = tensor_class()
        slot = None
        for klass in cls.__mro__:
            slot = klass.__dict__.get(ARRAY)
            if slot is not None:
                break
        get, put = slot.__get__, slot.__set__
        traced, getframe, owners = self.traced, sys._getframe, self.owners

        def read(t):
            a = get(t)
            if id(t) in traced and not getframe(1).f_globals.get("__name__", "").startswith(_PLAIN_READERS):
                return a.view(Derived)
            return a

        def write(t, a):
            if derived(a, owners):
                traced.add(id(t))
                a = plain(a)
            put(t, a)

        self.cls, self.own = cls, vars(cls).get(ARRAY)  # (the slot is the core's, on a base class)
        setattr(cls, ARRAY, property(read, write))
        return self

    def __exit__(self, *exc):
        global _owners
        _owners = None
        if self.own is None:
            delattr(self.cls, ARRAY)
        else:  # pragma: no cover - a tensor class that holds the slot itself
            setattr(self.cls, ARRAY, self.own)
        return False


def clean(obj):
    """Plain ndarrays for the Derived ones inside ``obj`` (dicts, lists, tuples are walked; a dict or
    list in place); returns the cleaned object."""
    if isinstance(obj, Derived):
        return plain(obj)
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (Derived, dict, list)):
                obj[k] = clean(v)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            if isinstance(v, (Derived, dict, list)):
                obj[i] = clean(v)
    return obj
