"""The error for a PyTorch name chainrule lacks: a module-level ``__getattr__`` that names it, suggests
a close chainrule name, and points to docs/pytorch.md.

Only names that ordinary lookup did not find reach it, so ``hasattr`` still answers False (the
error is an AttributeError), and dunder lookups (``__wrapped__``, ``__path__``...) by tools such as
doctest, pickle and inspect get the plain message at once.
"""
from __future__ import annotations

import difflib

DOC = "docs/pytorch.md"


def missing_names(module: str, torch_module: str, namespace: dict):
    """A ``__getattr__`` for ``module`` (whose globals are ``namespace``), mirroring ``torch_module``."""

    def __getattr__(name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        public = [n for n in namespace if not n.startswith("_")]
        close = difflib.get_close_matches(name, public, n=1, cutoff=0.8)
        hint = f" Did you mean {module}.{close[0]}?" if close else ""
        raise AttributeError(f"module {module!r} has no attribute {name!r}.{hint} If you meant PyTorch's "
                             f"{torch_module}.{name}, chainrule does not provide it: see {DOC} in the chainrule "
                             f"repository for what differs from PyTorch and what to use instead")

    return __getattr__
