"""What can go wrong in a compiled step, and how it is reported."""
from __future__ import annotations


class Unsupported(Exception):
    """The step did something a replay cannot repeat; the message names it."""


class Fallback(Exception):
    """Raised by a replay step before any state has changed: this call runs eagerly instead."""


class CompileError(RuntimeError):
    """``chainrule.compile(..., fullgraph=True)`` met a step it cannot capture whole."""


class CompileWarning(UserWarning):
    """A compiled function runs eagerly for some calls (the message names the reason)."""
