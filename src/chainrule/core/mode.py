"""Grad mode: whether ops record the graph (thread-local, on by default)."""
from __future__ import annotations

import functools
import threading


class _GradMode(threading.local):
    enabled = True


mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when ops record the graph (the default), False inside ``no_grad()``."""
    return mode.enabled


class _SetGrad:
    """Context manager and decorator that sets grad mode and restores it on exit."""

    _value = True

    def __enter__(self):
        self._prev = mode.enabled
        mode.enabled = self._value
        return self

    def __exit__(self, *exc):
        mode.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_SetGrad):  # noqa: N801 - PyTorch's name
    """Record no graph inside this block (evaluation, optimizer steps).

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> with cr.no_grad():
        ...     y = w * 2
        >>> y.requires_grad
        False
    """

    _value = False


class enable_grad(_SetGrad):  # noqa: N801 - PyTorch's name
    """Record the graph again inside a ``no_grad`` block."""

    _value = True
