"""``chainrule.compile``: trace a step once per input signature, then replay it as array calls.

The first call with a new signature (argument shapes, dtypes and requires_grad, grad mode) runs the
function eagerly while :mod:`~chainrule.compiler.trace` watches it; :mod:`~chainrule.compiler.program`
turns what it saw into a straight list of NumPy calls over preallocated buffers, with the fusions of
:mod:`~chainrule.compiler.kernels` and :mod:`~chainrule.compiler.update`. Later calls with that
signature replay the list. A step the capture cannot replay (Python that reads tensor values, random
numbers, custom autograd Functions, in-place ops...) runs eagerly, with a one-time warning naming
the reason, or raises with ``fullgraph=True``.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np

from chainrule import autograd
from chainrule.compiler.engine import array_of, tracer
from chainrule.compiler.errors import CompileError, CompileWarning, Fallback, Unsupported
from chainrule.compiler.program import Builder, flatten, unflatten
from chainrule.compiler.taint import Derived
from chainrule.compiler.trace import Trace, rng_state
from chainrule.compiler.verify import Snapshot, close
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["compile", "CompiledFunction", "CompiledModule", "CompileError", "CompileWarning"]

_EAGER = object()  # a cache entry: this signature runs eagerly
_checking = False  # a first replay's eager twin is running (verify.py): nested compiled calls inline
_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
MODES = _MODES[1:]  # the names compile(mode=...) takes (PyTorch's)


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="chainrule", mode=None,  # noqa: A001
            options=None, disable: bool = False, cache_size_limit: int = 8):
    """Compile a function (a training step, a loss) or a module (for inference), as ``torch.compile``.

    Args:
        model (callable or Module, None): what to compile; without it, a decorator is returned.
        fullgraph (bool, False): raise :class:`CompileError` instead of running a step eagerly when it
            cannot be captured whole.
        dynamic (None, False): shapes are always specialised (a new shape traces again); True is refused.
        backend (str, "chainrule"): "eager" runs the function as it is; "inductor" is taken as "chainrule".
        mode (str, None): ``"max-autotune"`` (or ``"max-autotune-no-cudagraphs"``) times the large
            GEMMs of a replay on each BLAS engine at hand (NumPy's OpenBLAS; AMD's BLIS with the
            optional ``aoclda`` package) and keeps the fastest, and with Numba fuses bias + ReLU,
            ReLU's backward and softmax cross-entropy into loops (:mod:`chainrule.compiler.fused`);
            results within float rounding of eager (:mod:`chainrule.compiler.autotune`). The other
            names are PyTorch's and replay with NumPy's calls.
        options (dict, None): accepted and ignored (PyTorch's backend options).
        disable (bool, False): return the function unchanged.
        cache_size_limit (int, 8): signatures kept per function; the oldest goes first.

    The first call for each signature (argument shapes, dtypes, requires_grad, grad mode; the
    ``training`` flag of every module called) runs eagerly and is traced; later calls replay it.
    Learning rates and other optimizer settings are read at every call (schedulers work).

    Example:
        >>> import chainrule as cr
        >>> net = cr.nn.MLP([4, 8, 3]); opt = cr.optim.SGD(net.parameters(), lr=0.1)
        >>> @cr.compile
        ... def step(x, y):
        ...     opt.zero_grad()
        ...     loss = cr.nn.functional.cross_entropy(net(x), y)
        ...     loss.backward()
        ...     opt.step()
        ...     return loss
        >>> x, y = cr.randn(5, 4), cr.tensor([0, 1, 2, 0, 1])
        >>> float(step(x, y)) > float(step(x, y))
        True
    """
    if dynamic:
        raise ValueError("chainrule.compile: dynamic=True is not supported; every new shape is traced "
                         "again (pass dynamic=None or False)")
    if mode not in _MODES:
        raise ValueError(f"chainrule.compile: unknown mode {mode!r}; choose from {list(_MODES[1:])}")
    if backend not in ("chainrule", "inductor", "eager"):
        raise ValueError(f"chainrule.compile: unknown backend {backend!r}; choose 'chainrule' (alias "
                         f"'inductor') or 'eager'")
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                 options=options, disable=disable, cache_size_limit=cache_size_limit)
    if not callable(model):
        raise TypeError(f"chainrule.compile: expected a function or a Module, got {type(model).__name__}")
    if disable or backend == "eager":
        return model
    if isinstance(model, Module):
        return CompiledModule(model, fullgraph, cache_size_limit, mode)
    return CompiledFunction(model, fullgraph, cache_size_limit, mode)


class CompiledFunction:
    """A function that traces on the first call per signature and replays afterwards.

    ``stats`` counts ``traces``, ``replays`` and ``eager`` calls (for tests and the curious).
    """

    def __init__(self, fn, fullgraph: bool = False, cache_size_limit: int = 8, mode=None):
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._fullgraph = fullgraph
        self._autotune = mode in ("max-autotune", "max-autotune-no-cudagraphs")
        self._limit = max(1, int(cache_size_limit))
        self._cache: dict = {}
        self._warned: set = set()
        self.stats = {"traces": 0, "replays": 0, "eager": 0}

    def __call__(self, *args, **kwargs):
        if tracer() is not None or _checking:  # inside another trace or its check: inlined
            return self._fn(*args, **kwargs)
        flat = list(args)
        plain = not kwargs
        for a in args:
            if not isinstance(a, (Tensor, np.ndarray)):
                plain = False
                break
        if not plain:
            flat = []
            flatten((args, kwargs), flat)
        key = (autograd.is_grad_enabled(), _signature(flat))
        entry = self._cache.get(key)
        if entry is None or (entry is not _EAGER and not entry.guards_hold()):
            return self._trace(key, args, kwargs, flat)
        if entry is _EAGER:
            self.stats["eager"] += 1
            return self._fn(*args, **kwargs)
        if not entry.verified:
            return self._verify(key, entry, args, kwargs, flat)
        try:
            out = entry.run(flat)
        except Fallback as e:
            self._warn(f"runs eagerly for this call: the replay met {e}")
            self.stats["eager"] += 1
            return self._fn(*args, **kwargs)
        self.stats["replays"] += 1
        return unflatten(entry.out_spec, out)

    def _trace(self, key, args, kwargs, flat):
        self.stats["traces"] += 1
        rng = rng_state()
        with Trace(flat) as tr:  # NumPy arguments are seen as the step's data (taint.py)
            result = self._fn(*[derived_view(a) for a in args], **{k: derived_view(v) for k, v in kwargs.items()})
        try:
            after = rng_state()
            entry = Builder(tr, flat, result, rng, after, self._autotune).build()
            if self._autotune:  # checked on the default mode's calls; the tuned engines take over after
                entry.exact = Builder(tr, flat, result, rng, after, False).build()
        except Unsupported as e:
            if self._fullgraph:
                raise CompileError(f"chainrule.compile(fullgraph=True): {self._name()} {e}") from None
            self._warn(f"runs eagerly: the step {e}")
            entry = _EAGER
        if key not in self._cache and len(self._cache) >= self._limit:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = entry
        return result

    def _verify(self, key, entry, args, kwargs, flat):
        """The first replay, checked against the eager step from the same state (verify.py). What is
        checked is the capture: that the replay does the step's work. Under max-autotune that check
        runs the step on the default mode's calls (``entry.exact``), which are eager's bit for bit or
        nearly: the tuned engines round differently, and an optimizer can magnify a rounding
        difference past any tolerance (Adam turns a gradient that is rounding noise, a convolution's
        bias before BatchNorm, into a full step of either sign)."""
        checked = entry.exact or entry
        snap = Snapshot(checked, flat)
        before = snap.take()
        try:
            replayed = checked.run(flat)
        except Fallback as e:
            snap.restore(before)
            self._warn(f"runs eagerly for this call: the replay met {e}")
            self.stats["eager"] += 1
            return self._fn(*args, **kwargs)
        after = snap.take()
        snap.restore(before)
        global _checking
        _checking = True
        try:
            result = self._fn(*args, **kwargs)
        finally:
            _checking = False
        self.stats["replays"] += 1
        eager: list = []
        flatten(result, eager)
        diff = Snapshot.same(after, snap.take()) or _differ(replayed, eager)
        if diff:
            if self._fullgraph:
                raise CompileError(f"chainrule.compile(fullgraph=True): {self._name()}: the replay changed "
                                   f"{diff} differently from the eager step")
            self._warn(f"runs eagerly: its replay changed {diff} differently from the eager step (does it "
                       f"compute on arrays, .data or .grad, directly?)")
            self._cache[key] = _EAGER
        else:
            entry.verified, entry.exact = True, None
        return result

    def _name(self) -> str:
        return getattr(self._fn, "__qualname__", None) or type(self._fn).__name__

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(f"chainrule.compile: {self._name()} {message}", CompileWarning, stacklevel=3)

    def __get__(self, obj, objtype=None):  # a compiled method binds like a function
        return self if obj is None else functools.partial(self, obj)


class CompiledModule:
    """A module whose calls are compiled (``chainrule.compile(model)``); every attribute is the
    module's (``_orig_mod`` is the module itself, as in PyTorch)."""

    def __init__(self, module, fullgraph: bool = False, cache_size_limit: int = 8, mode=None):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_compiled", CompiledFunction(module, fullgraph, cache_size_limit, mode))

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)

    def __repr__(self):
        return f"CompiledModule({self._orig_mod!r})"


def _differ(replayed, eager) -> str | None:
    if len(replayed) != len(eager):
        return "the returned values"
    for a, b in zip(replayed, eager):
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            if not close(array_of(a), array_of(b)):
                return "a returned tensor"
        elif not isinstance(a, Tensor) and not isinstance(b, Tensor):
            continue  # Python values: the replay returns the traced ones
        else:
            return "the returned values"
    return None


def derived_view(a):
    """An ndarray argument as a Derived view while the step is traced (anything else as it is)."""
    return a.view(Derived) if type(a) is np.ndarray else a


def _signature(flat) -> tuple:
    sig = []
    for a in flat:
        if isinstance(a, Tensor):
            d = array_of(a)
            sig.append((d.shape, d.dtype.char, a.requires_grad))
        elif isinstance(a, np.ndarray):
            sig.append((a.shape, a.dtype.char))
        else:
            try:
                hash(a)
                sig.append((type(a), a))
            except TypeError:
                sig.append((type(a), id(a)))
    return tuple(sig)
