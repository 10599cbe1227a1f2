"""Printing tensors as PyTorch does: ``tensor([1., 2.], requires_grad=True)``, ``tensor(3.5000)``.

PyTorch's float rule: if every finite value is a whole number, print them as ``1.``; otherwise
with 4 decimals, or in scientific notation (``1.0000e-05``) when the values span more than
1000x or reach below 1e-4 or above 1e8. All entries are padded to one width; more than 1000
elements are summarised with ``...`` (3 at each end).
"""
from __future__ import annotations

import math

import numpy as np

from chainrule import dtypes

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80
SCI_MODE = None  # None: PyTorch's automatic choice

_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, 2 ** 63 - 1, 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None) -> None:
    """PyTorch's print options: digits after the point (``precision``, 4), the element count above which
    a tensor is summarised (``threshold``, 1000), the entries kept at each end (``edgeitems``, 3), the
    line width (``linewidth``, 80), a ``profile`` ("default", "short", "full") and ``sci_mode`` (None:
    automatic, True/False: always/never scientific)."""
    global PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH, SCI_MODE
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH = _PROFILES[profile]
    PRECISION = PRECISION if precision is None else int(precision)
    THRESHOLD = THRESHOLD if threshold is None else threshold
    EDGEITEMS = EDGEITEMS if edgeitems is None else int(edgeitems)
    LINEWIDTH = LINEWIDTH if linewidth is None else int(linewidth)
    SCI_MODE = sci_mode


class _Formatter:
    """One width and one style for every printed entry (PyTorch's _Formatter)."""

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        if not self.floating:
            for v in values.ravel().tolist():
                self.width = max(self.width, len(str(v)))
            return
        vals = values.astype(np.float64).ravel()
        nz = vals[np.isfinite(vals) & (vals != 0)]
        if nz.size == 0:
            return
        lo, hi = np.abs(nz).min(), np.abs(nz).max()
        self.int_mode = bool(np.all(np.ceil(nz) == nz))
        if self.int_mode:
            self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8
        else:
            self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        if SCI_MODE is not None:  # set_printoptions(sci_mode=...)
            self.sci_mode = SCI_MODE
        for v in nz.tolist():
            if self.sci_mode:
                n = len(f"{v:.{PRECISION}e}")
            elif self.int_mode:
                n = len(f"{v:.0f}") + 1
            else:
                n = len(f"{v:.{PRECISION}f}")
            self.width = max(self.width, n)

    def __call__(self, v) -> str:
        if self.floating:
            v = float(v)
            if self.sci_mode:
                s = f"{v:{self.width}.{PRECISION}e}"
            elif self.int_mode:
                s = f"{v:.0f}"
                if not (math.isinf(v) or math.isnan(v)):
                    s += "."
            else:
                s = f"{v:.{PRECISION}f}"
        else:
            s = str(v)
        return " " * (self.width - len(s)) + s


def _summary(a: np.ndarray) -> np.ndarray:
    """The entries that get printed (the edges of each axis when the tensor is summarised)."""
    for ax in range(a.ndim):
        if a.shape[ax] > 2 * EDGEITEMS:
            idx = np.r_[0:EDGEITEMS, a.shape[ax] - EDGEITEMS:a.shape[ax]]
            a = np.take(a, idx, axis=ax)
    return a


def _vector(a, indent, summarize, fmt) -> str:
    per_line = max(1, int(math.floor((LINEWIDTH - indent) / (fmt.width + 2))))
    if summarize and a.shape[0] > 2 * EDGEITEMS:
        data = [fmt(v) for v in a[:EDGEITEMS].tolist()] + [" ..."] + \
            [fmt(v) for v in a[-EDGEITEMS:].tolist()]
    else:
        data = [fmt(v) for v in a.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(a, indent, summarize, fmt) -> str:
    if a.ndim == 0:
        return fmt(a.item())
    if a.ndim == 1:
        return _vector(a, indent, summarize, fmt)
    n = a.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        rows = [_nested(a[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)] + ["..."] + \
            [_nested(a[i], indent + 1, summarize, fmt) for i in range(n - EDGEITEMS, n)]
    else:
        rows = [_nested(a[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def format_array(a: np.ndarray, indent: int) -> str:
    """The body of a tensor's repr (without ``tensor(`` and the keywords), as PyTorch prints it."""
    if a.size == 0:
        return "[]"
    summarize = a.size > THRESHOLD
    fmt = _Formatter(_summary(a) if summarize else a)
    return _nested(a, indent, summarize, fmt)


def tensor_repr(t) -> str:
    data = t._data
    extra = []
    if data.size == 0 and data.ndim > 1 or data.size == 0 and data.shape != (0,):
        extra.append(f"size={tuple(data.shape)}")
    if data.dtype not in (dtypes.DEFAULT_FLOAT, dtypes.int64, dtypes.bool_):
        extra.append(f"dtype={data.dtype}")
    if t._ctx is not None:
        extra.append(f"grad_fn=<{t._ctx.name}Backward0>" if not t._ctx.name.endswith("Backward")
                     else f"grad_fn=<{t._ctx.name}>")
    elif t.requires_grad:
        extra.append("requires_grad=True")
    if t.name:
        extra.append(f"name={t.name!r}")
    return _with_suffixes("tensor(" + format_array(data, len("tensor(")), extra, len("tensor("))


def _with_suffixes(text: str, suffixes: list, indent: int) -> str:
    """``text`` and its keywords, each on a new line when it would pass LINEWIDTH (PyTorch's rule)."""
    out, last = [text], len(text) - text.rfind("\n") + 1
    for s in suffixes:
        if last + len(s) + 2 > LINEWIDTH:
            out.append(",\n" + " " * indent + s)
            last = indent + len(s)
        else:
            out.append(", " + s)
            last += len(s) + 2
    return "".join(out) + ")"
