"""The NaN guard's helpers: is a state finite, which checkpoint survives, NumPy's warnings
collected so that they can be folded into one message instead of printed on their own, and the
loss check as an op (inside a compiled step)."""
from __future__ import annotations

import contextlib
import math
import warnings
from pathlib import Path

import numpy as np

from chainrule.core import Function
from chainrule.fileio import load_json, read_regular
from chainrule.tensor import Tensor
from chainrule.utils._arrays import as_array


def nonfinite(model, optimizer_state: dict, info: dict) -> str | None:
    """What is not finite in a checkpoint about to be written (weights, optimizer buffers, the
    losses it records), or None if everything is."""
    for name, v in model.state_dict().items():
        if not np.isfinite(as_array(v)).all():
            return f"the weights ({name}) are not finite"
    for i, bufs in optimizer_state["state"].items():
        for name, v in bufs.items():
            if isinstance(v, (Tensor, np.ndarray)) and not np.isfinite(as_array(v)).all():
                return f"the optimizer's {name} of parameter {i} is not finite"
    h = info.get("history", {})
    for key in ("train_loss", "val_loss", "iter_loss"):
        if any(not math.isfinite(x) for x in h.get(key, ())[-1:]):
            return f"the recorded {key.replace('_', ' ')} is not finite"
    if not all(math.isfinite(x) for x in info.get("partial", ())):
        return "the running loss of this epoch is not finite"
    return None


def kept(run_dir) -> str:
    """Which checkpoints of ``run_dir`` are left from before, as a sentence."""
    if run_dir is None:
        return "No checkpoint is written by this trainer (no run_dir)."
    have = []
    for slot in ("last", "best"):
        p = Path(run_dir) / slot
        if p.exists():
            where = ""
            try:
                info = load_json(read_regular(p / "state.json", 64 << 20, ValueError, follow_symlinks=False),
                                 p / "state.json")
                where = f" (epoch {info['epoch']}" + (f", batch {info['batch']})" if info["batch"] else ")")
            except (OSError, ValueError, KeyError, TypeError):
                pass
            have.append(f"{p}{where}")
    if not have:
        return "No checkpoint was written: none exists from before this point."
    return f"The last good checkpoint{'s' if len(have) > 1 else ''} {' and '.join(have)} " \
           f"{'were' if len(have) > 1 else 'was'} kept."


class NumericWarnings(contextlib.AbstractContextManager):
    """Collect NumPy's RuntimeWarnings (overflow, invalid value, ...) instead of printing them;
    other warnings pass through. ``summary()`` names each distinct one once; ``replay()`` shows them
    as warnings would have."""

    def __init__(self):
        self.caught = []

    def __enter__(self):
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        self._show = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, RuntimeWarning):
                self.caught.append((message, category, filename, lineno))
            else:
                self._show(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)
        return False

    def summary(self) -> str:
        seen = []
        for m, *_ in self.caught:
            if str(m) not in seen:
                seen.append(str(m))
        return "; ".join(seen)

    def replay(self) -> None:
        for m, cat, fn, ln in self.caught:
            warnings.showwarning(m, cat, fn, ln)


class NonFiniteValue(FloatingPointError):
    """Raised by :class:`CheckFinite`: the value it checks is NaN or infinite (``.value``)."""

    def __init__(self, value: float):
        super().__init__(f"the loss became {value}")
        self.value = value


class CheckFinite(Function):
    """The identity, d(out)/dx = 1, whose forward raises :class:`NonFiniteValue` when the scalar x is NaN
    or infinite: the loss check of a compiled training step, which runs before its backward and its
    update whether the step is traced, replayed or run eagerly."""

    def forward(self, x):
        if not np.isfinite(x).all():
            raise NonFiniteValue(float(np.asarray(x).reshape(-1)[0]))
        return x.copy()

    def backward(self, grad):
        return grad
