"""Grad mode: whether ops record the graph (thread-local, on by default)."""
from __future__ import annotations

import functools
import threading


class _GradMode(threading.local):
    enabled = True


mode = _GradMode()
_mode = mode  # the same, for the classes whose argument PyTorch names ``mode``


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
        value = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = mode.enabled
            mode.enabled = value
            try:
                return fn(*args, **kwargs)
            finally:
                mode.enabled = prev

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


class inference_mode(_SetGrad):  # noqa: N801 - PyTorch's name
    """``no_grad`` under PyTorch's other name (``inference_mode(False)`` changes nothing); a context
    manager and a decorator. chainrule has no inference tensors: the results are ordinary tensors."""

    def __init__(self, mode: bool = True):
        self._value = not mode if mode else None

    def __enter__(self):
        self._prev = mode.enabled
        if self._value is not None:
            mode.enabled = self._value
        return self

    def __call__(self, fn):
        if self._value is None:
            return fn
        return super().__call__(fn)


class set_grad_enabled(_SetGrad):  # noqa: N801 - PyTorch's name
    """Set grad mode to ``mode``: at once when called, restored at the end of a ``with`` block; as a
    decorator, for the calls of the function only (as PyTorch)."""

    def __init__(self, mode: bool):
        self._value = bool(mode)
        self._prev = _mode.enabled
        _mode.enabled = self._value

    def __enter__(self):
        return self

    def __call__(self, fn):
        _mode.enabled = self._prev  # the decorator form: only the calls change the mode
        return super().__call__(fn)
