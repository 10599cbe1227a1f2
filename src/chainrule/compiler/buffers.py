"""Module state in a replay: buffers read afresh each call, the Python updates a replay repeats,
and the plain attributes a replay is guarded on.

A layer's buffer that an op reads as an option (BatchNorm's ``running_mean`` and ``running_var``)
is state, not a constant: ``load_state_dict``, ``.to()`` or a user may replace the array between
calls, and the op itself may change it in place (BatchNorm in training). Such an array gets a slot
that the replay refreshes from the module before every call (a new shape or dtype traces again),
and whose values a replay that falls back to eager puts back first.

A buffer that the module's Python replaces during the step (``self.num_batches_tracked = n + 1``)
is repeated by the replay when it is a step counter (an integer scalar that grew by one); any
other replacement cannot be replayed and the step runs eagerly.

A module's plain attributes (numbers, strings, flags, tuples: ``training``, ``p``, ``eps``,
``negative_slope``...) become the options of the ops its forward applies, which a replay keeps as
traced: they are guards (a changed value traces again), and a step whose Python changes one runs
eagerly.
"""
from __future__ import annotations

import operator

import numpy as np

from chainrule.compiler.engine import buffer_array, module_buffers
from chainrule.compiler.errors import Unsupported


def owners(trace) -> dict:
    """id(array) -> (module, name) for the array buffers of every module the step called."""
    out = {}
    for key, before in trace.buffers.items():
        m = trace.modules[key]
        for name, b in before.items():
            a = buffer_array(b)
            if isinstance(a, np.ndarray):
                out.setdefault(id(a), (m, name))
    return out


_PLAIN = (bool, int, float, str, type(None))


def attributes(m) -> dict:
    """The plain attributes of module ``m`` (numbers, strings, None, and tuples of them)."""
    out = {}
    for k, v in vars(m).items():
        if type(v) in _PLAIN or (type(v) is tuple and all(type(x) in _PLAIN for x in v)):
            out[k] = v
    return out


def attribute_guards(trace) -> list:
    """(the module's __dict__, a getter, the values it gave) per module the step called; Unsupported
    when the step's Python changed one of them."""
    guards = []
    for key, before in trace.attributes.items():
        m = trace.modules[key]
        now = attributes(m)
        for k, v in before.items():
            if k not in now or now[k] != v:
                raise Unsupported(f"changes the attribute {k!r} of {type(m).__name__} in Python, which the "
                                  f"replay does not repeat")
        get = operator.itemgetter(*before) if before else None
        if get is not None:
            guards.append((vars(m), get, get(vars(m))))
    return guards


def counters(trace) -> list:
    """A replay step for each buffer the step replaced with itself + 1; Unsupported for any other
    buffer the step replaced."""
    steps = []
    for key, before in trace.buffers.items():
        m = trace.modules[key]
        now = module_buffers(m)
        for name, old in before.items():
            new = now.get(name)
            if buffer_array(new) is buffer_array(old):
                continue
            a, b = np.asarray(buffer_array(old)), np.asarray(buffer_array(new))
            if a.shape == b.shape == () and a.dtype.kind in "iu" and b.dtype == a.dtype and b == a + 1 \
                    and not hasattr(new, "_data") and not hasattr(old, "_data"):
                steps.append(_count(m, name, a.dtype))
            else:
                raise Unsupported(f"replaces the buffer {name!r} of {type(m).__name__} in Python, which the "
                                  f"replay does not repeat")
    return steps


def _count(m, name, dtype):
    bufs = module_buffers(m)

    def count():
        bufs[name] = np.array(bufs[name] + 1, dtype)
    return count


class LiveBuffers:
    """The buffer slots of a program: refreshed before each replay, saved and put back around it."""

    def __init__(self):
        self.rows: list = []   # [module's buffer dict, name, slot, the array last seen]

    def add(self, m, name, slot, a) -> None:
        self.rows.append([module_buffers(m), name, slot, a])

    def refresh(self, env) -> bool:
        """Put each buffer's current array in its slot; False when one changed shape or dtype."""
        for row in self.rows:
            a = buffer_array(row[0].get(row[1]))
            if a is not row[3]:
                old = row[3]
                if not isinstance(a, np.ndarray) or a.shape != old.shape or a.dtype != old.dtype:
                    return False
                row[3] = a
            env[row[2]] = a
        return True

    def save(self) -> list:
        return [row[3].copy() for row in self.rows]

    def restore(self, saved) -> None:
        for row, values in zip(self.rows, saved):
            row[3][...] = values
