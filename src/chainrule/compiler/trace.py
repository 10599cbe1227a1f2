"""The trace: one eager run of the step, watched.

While a :class:`Trace` is active, the engine's hook (``Function.apply``) reports every op applied,
and a few entry points are wrapped for the duration of the run: ``backward()``, the optimizers'
``zero_grad`` and ``step``, gradient clipping (``nn.utils.clip_grad_norm_``, ``clip_grad_value_``),
the ``.grad`` property, the Tensor constructors (to know which tensors were born inside the step)
and the methods that read a tensor's values into Python (``item``, ``bool``, ``float``, ...). The
run itself is the eager step, so its results are the eager ones; what the trace keeps is the list of
events the replay will repeat.
"""
from __future__ import annotations

import sys
import threading

import numpy as np

from chainrule import autograd, creation, devices
from chainrule import random as _random
from chainrule.compiler import taint
from chainrule.compiler.buffers import attributes
from chainrule.compiler.engine import clock, has_hooks, make_tensor, module_buffers, opt_state_dicts, set_tracer
from chainrule.nn import utils as nn_utils
from chainrule.nn.module import Module
from chainrule.ops import sampling
from chainrule.optim.optimizer import Optimizer
from chainrule.tensor import Tensor


class OpRecord:
    """One op of the trace: its Function (after forward), input tensors, options and output."""

    __slots__ = ("cls", "fn", "inputs", "options", "out", "recorded", "index")

    def __init__(self, fn, inputs, options, out, index):
        self.cls, self.fn, self.inputs, self.options, self.out = type(fn), fn, inputs, options, out
        self.recorded = out._ctx is fn  # in the graph: grad mode was on and an input needed a gradient
        self.index = index


# the Tensor methods through which Python reads a tensor's values: a step whose control flow may
# depend on them cannot be replayed without running that Python again
_VALUE_READS = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist", "numpy", "__array__",
                "__repr__", "__format__", "__iter__")


RANDOM = "draws random numbers other than dropout's mask and the samplers' (randn, rand, randint, " \
    "randperm and their _like forms, with Python sizes; bernoulli, normal and multinomial of the step's " \
    "tensors), which a replay would repeat identically"


class DrawRecord:
    """One random draw during the trace (a dropout mask, a sampler's tensor): the generator it drew from
    (None: the default stream), the array it gave, ``redo`` (the same draw again, for a replay, from the
    arrays of ``inputs``: the tensors a draw from data reads, bernoulli's probabilities, normal's mean
    and std, multinomial's weights; none for the others), and for a draw from the default stream the
    stream's state before and after."""

    __slots__ = ("rng", "out", "redo", "before", "after", "inputs")

    def __init__(self, rng, out, redo, before, after, inputs=()):
        self.rng, self.out, self.redo, self.before, self.after = rng, out, redo, before, after
        self.inputs = inputs


class Trace:
    """Collects the events of one eager run (use as a context manager around the call)."""

    def __init__(self, args=()):
        self.ops: list = []
        self.traced = {id(a) for a in args if isinstance(a, Tensor)}  # the tensors whose arrays are
        # the step's data: the arguments, the ops' outputs, tensors around derived arrays (taint.py)
        self.events: list = []   # ("op", rec) | ("backward", roots, seeds, retain) | ("zero_grad", opt,
                                 # set_to_none) | ("clear_grad", tensor) | ("step", opt) | ("grad_read", t)
                                 # | ("clip", fn, params, args, kwargs, result)
        self.born: dict = {}     # id -> tensor, for tensors created inside the step (kept alive)
        self.grad_reads: dict = {}  # id of a tensor handed out by .grad -> the tensor it belongs to
        self.modules: dict = {}  # id -> module called during the step (their flags are guarded)
        self.buffers: dict = {}  # id(module) -> its buffers when the step first called it (name -> object)
        self.attributes: dict = {}  # id(module) -> its plain attributes then (buffers.attributes)
        self.draws: list = []    # DrawRecord per dropout mask drawn (also an event: ("draw", rec))
        self.made: dict = {}     # id -> array of a factory's result made from Python values alone
                                 # (arange(T), eye(n), tensor([1., 2.])): a constant of the replay
        self.problem = None      # the first reason the trace cannot be replayed
        self._thread = threading.get_ident()
        self._saved = []
        self._quiet = False
        self._drawing = False

    # ------------------------------------------------------------------ the engine's hook
    def op(self, fn, inputs, options, out):
        if threading.get_ident() != self._thread:
            return
        rec = OpRecord(fn, inputs, options, out, len(self.ops))
        self.traced.add(id(out))
        self.ops.append(rec)
        self.events.append(("op", rec))

    def refuse(self, reason: str) -> None:
        if self.problem is None:
            self.problem = reason

    # ------------------------------------------------------------------ wrapped entry points
    def __enter__(self):
        trace = self
        t_init = Tensor.__init__
        grad_prop = Tensor.__dict__["grad"]
        backward, agrad = autograd.backward, autograd.grad
        zero_grad, step = Optimizer.zero_grad, Optimizer.step
        mod_call = Module.__call__

        def mine():
            return threading.get_ident() == trace._thread

        def init(self, *a, **k):
            t_init(self, *a, **k)
            if mine():
                trace.born[id(self)] = self

        orig_make = make_tensor

        def make(*a, **k):
            t = orig_make(*a, **k)
            if mine():
                trace.born[id(t)] = t
            return t

        def get_grad(self):
            g = grad_prop.fget(self)
            if g is not None and mine():
                trace.grad_reads[id(g)] = self
                trace.events.append(("grad_read", self))
            return g

        def set_grad(self, value):
            if mine() and not trace._quiet:
                if value is None:
                    trace.events.append(("clear_grad", self))
                else:
                    trace.refuse("assigns a tensor's .grad")
            grad_prop.fset(self, value)

        def backward_(tensors, grad_tensors=None, retain_graph=False, on_edge=None, *, grad=None):
            if mine():
                roots = (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)
                seeds = grad if grad is not None else grad_tensors
                seeds = (seeds,) if isinstance(tensors, Tensor) else \
                    (tuple(seeds) if seeds is not None else (None,) * len(roots))
                if on_edge is not None:
                    trace.refuse("backward(on_edge=...) narrates the walk")
                trace.events.append(("backward", roots, seeds, bool(retain_graph)))
            return backward(tensors, grad_tensors, retain_graph, on_edge, grad=grad)

        resolve, dropout_mask = _random.resolve, _random.dropout_mask

        def resolve_(*a, **k):  # every random draw of the library asks for its generator here
            if mine() and not trace._drawing:
                trace.refuse(RANDOM)
            return resolve(*a, **k)

        def drawn(rng, redo, inputs=()):  # a draw a replay repeats (Builder.draw): ``redo(*arrays of
            before = rng_state() if rng is None else None   # inputs)`` gives its array
            trace._drawing = True
            try:
                out = redo(*(t._data for t in inputs))
            finally:
                trace._drawing = False
            after = rng_state() if rng is None else None
            rec = DrawRecord(rng, out, redo, before, after, tuple(inputs))
            trace.draws.append(rec)
            trace.events.append(("draw", rec))
            return out

        def dropout_mask_(rng, shape, p, dtype):
            if not mine():
                return dropout_mask(rng, shape, p, dtype)
            shape = tuple(shape)
            return drawn(rng, lambda: dropout_mask(rng, shape, p, dtype))

        def sampler(fn):  # randn(2, 3), rand_like(x), randint(0, 10, (4,)), randperm(n): drawn afresh by
            like = fn in LIKE_SAMPLERS  # the replay, when the sizes and options are Python values

            def sample(*a, **k):
                rng = k.get("generator", k.get("rng"))
                if not mine() or trace._drawing or k.get("requires_grad") or \
                        not _python_values(a[1:] if like else a) or \
                        not _python_values(v for n, v in k.items() if n not in ("generator", "rng")) or \
                        not (rng is None or isinstance(rng, (np.random.Generator, _random.Generator))):
                    return fn(*a, **k)    # (a draw resolve_ refuses, if it is the step's)
                if like:  # only the input's shape and dtype count: a stand-in, not the step's array
                    src = a[0]._data if isinstance(a[0], Tensor) else np.asarray(a[0])
                    a = (np.broadcast_to(np.zeros((), src.dtype), src.shape),) + tuple(a[1:])
                return make(drawn(rng, lambda: fn(*a, **k)._data))
            return sample

        def data_sampler(fn):  # bernoulli(p), normal(mean, std), multinomial(w, n): drawn afresh by the
            def sample(*a, **k):  # replay from the arrays it computed, the other arguments Python values
                rng = k.get("generator")
                values = a + tuple(v for n, v in k.items() if n != "generator")
                tensors = [v for v in values if isinstance(v, Tensor)]
                if not mine() or trace._drawing or not tensors or k.get("requires_grad") or \
                        not _python_values(v for v in values if not isinstance(v, Tensor)) or \
                        not (rng is None or isinstance(rng, (np.random.Generator, _random.Generator))):
                    return fn(*a, **k)    # (a draw resolve_ refuses, if it is the step's)

                def redo(*arrays):  # the same call on a replay's arrays (in the order of ``tensors``)
                    it = iter(arrays)
                    swap = lambda v: make_tensor(next(it)) if isinstance(v, Tensor) else v  # noqa: E731
                    return fn(*[swap(v) for v in a], **{n: swap(v) for n, v in k.items()})._data
                return make(drawn(rng, redo, tensors))
            return sample

        def grad_(*a, **k):
            if mine():
                trace.refuse("calls autograd.grad")
            return agrad(*a, **k)

        def factory(fn):  # arange, eye, linspace, logspace, tensor, as_tensor: their result is a constant
            def made(*a, **k):  # when every argument is a Python value (a shape, a literal list)
                out = fn(*a, **k)
                if mine() and isinstance(out, Tensor) and _python_values(a) and _python_values(k.values()):
                    trace.made[id(out._data)] = out._data
                return out
            return made

        def zero_grad_(self, set_to_none=True):
            if not mine():
                return zero_grad(self, set_to_none)
            trace.events.append(("zero_grad", self, bool(set_to_none)))
            trace._quiet = True  # its own `p.grad = None` are part of this event
            try:
                return zero_grad(self, set_to_none)
            finally:
                trace._quiet = False

        def step_(self, *a, **k):
            if mine():
                if a or k:
                    trace.refuse(f"calls {type(self).__name__}.step with arguments")
                trace.events.append(("step", self))
            return step(self, *a, **k)

        def clipper(fn):  # nn.utils.clip_grad_norm_ / clip_grad_value_: replayed as the same call
            def clip_(parameters, *a, **k):
                if not mine():
                    return fn(parameters, *a, **k)
                params = [parameters] if isinstance(parameters, Tensor) else list(parameters)  # a generator
                out = fn(params, *a, **k)                                     # is read once, here
                trace.events.append(("clip", fn, params, a, k, out))
                return out
            return clip_

        def call(self, *a, **k):
            if mine() and id(self) not in trace.modules:
                trace.modules[id(self)] = self
                if has_hooks(self):
                    trace.refuse(f"calls {type(self).__name__}, which has hooks (Python that a replay would not "
                                 f"run)")
                trace.buffers[id(self)] = dict(self._buffers)
                trace.attributes[id(self)] = attributes(self)
            return mod_call(self, *a, **k)

        patches = [(Tensor, "__init__", init),
                   (Tensor, "grad", property(get_grad, set_grad)), (Optimizer, "zero_grad", zero_grad_),
                   (Optimizer, "step", step_), (Module, "__call__", call)]
        # functions are patched wherever a chainrule module holds them (``from ... import backward``)
        patches += _everywhere(backward, backward_) + _everywhere(agrad, grad_) + _everywhere(make_tensor, make) + \
            _everywhere(resolve, resolve_) + _everywhere(dropout_mask, dropout_mask_) + \
            [x for fn in (nn_utils.clip_grad_norm_, nn_utils.clip_grad_value_) for x in _everywhere(fn, clipper(fn))] + \
            [x for fn in FACTORIES for x in _everywhere(fn, factory(fn))] + \
            [x for fn in SAMPLERS + LIKE_SAMPLERS for x in _everywhere(fn, sampler(fn))] + \
            [x for fn in DATA_SAMPLERS for x in _everywhere(fn, data_sampler(fn))]
        for name in _VALUE_READS:
            orig = Tensor.__dict__.get(name)
            if orig is not None:
                patches.append((Tensor, name, _reader(trace, name, orig)))
        for owner, name, new in patches:
            self._saved.append((owner, name, vars(owner)[name]))
            setattr(owner, name, new)
        self._watch = taint.watch(self.traced).__enter__()
        set_tracer(self)
        self._seq0 = clock()  # the graph's clock: in-place changes after it are this step's
        return self

    def __exit__(self, *exc):
        set_tracer(None)
        self._watch.__exit__(*exc)
        self.derived = self._watch.owners
        for owner, name, old in reversed(self._saved):
            setattr(owner, name, old)
        self._saved.clear()
        self._clean()
        return False

    def _clean(self) -> None:
        """Plain arrays again wherever the step's own computation may have kept a derived one (a rule
        that computed with a derived option array: a gradient, an optimizer's state, a buffer)."""
        tensors = list(self.born.values()) + [rec.out for rec in self.ops] + \
            [t for rec in self.ops for t in rec.inputs]
        opts = {id(ev[1]): ev[1] for ev in self.events if ev[0] in ("zero_grad", "step")}
        for m in self.modules.values():
            tensors += list(m.parameters())
            taint.clean(module_buffers(m))
        for opt in opts.values():
            for group in opt.param_groups:
                tensors += list(group["params"])
            for st in opt_state_dicts(opt):
                taint.clean(st)
        for t in tensors:
            if isinstance(t._grad, taint.Derived):
                t._grad = taint.plain(t._grad)


    def changed_in_place(self) -> bool:
        """True when an in-place op (add_, +=, x[...] = v, zero_...) changed a tensor of this step."""
        seen = [t for rec in self.ops for t in (*rec.inputs, rec.out)] + list(self.born.values())
        for t in seen:
            vc = getattr(t, "_vc", None)
            if vc is not None and len(vc) > 1 and vc[-1] > self._seq0:
                return True
        return False


FACTORIES = (creation.arange, creation.eye, creation.linspace, creation.logspace, creation.tensor,
             creation.as_tensor)
SAMPLERS = (creation.randn, creation.rand, creation.randint, creation.randperm)
LIKE_SAMPLERS = (creation.randn_like, creation.rand_like, creation.randint_like)
DATA_SAMPLERS = (sampling.bernoulli, sampling.normal, sampling.multinomial)
_PYTHON_SCALARS = (bool, int, float, str, type(None))


def _python_values(values) -> bool:
    """Are ``values`` Python's own numbers, strings, dtypes, devices, or lists and tuples of them (never
    an array, a tensor or a NumPy scalar, which may carry the step's data)?"""
    for v in values:
        if isinstance(v, (list, tuple)):
            if not _python_values(v):
                return False
        elif type(v) not in _PYTHON_SCALARS and not isinstance(v, (np.dtype, type, devices.device)):
            return False
    return True


def _everywhere(fn, new) -> list:
    """(module, name, new) for every chainrule module attribute that is ``fn``."""
    out = []
    for mod_name, mod in list(sys.modules.items()):
        if mod is not None and (mod_name == "chainrule" or mod_name.startswith("chainrule.")) and \
                not mod_name.startswith("chainrule.compiler"):
            for name, value in list(vars(mod).items()):
                if value is fn:
                    out.append((mod, name, new))
    return out


def _reader(trace, name, orig):
    """``orig`` (a Tensor method that hands values to Python), noting the read in ``trace``."""
    what = {"__bool__": "bool(tensor)", "__float__": "float(tensor)", "__int__": "int(tensor)",
            "__index__": "a tensor used as an index", "__array__": "np.asarray(tensor)",
            "__repr__": "printing a tensor", "__format__": "formatting a tensor",
            "__iter__": "iterating over a tensor"}.get(name, f".{name}()")

    def read(self, *a, **k):
        if threading.get_ident() == trace._thread:
            trace.refuse(f"reads a tensor's value into Python ({what}), so the control flow may depend "
                         f"on it")
        return orig(self, *a, **k)

    read.__name__ = name
    return read


def rng_state():
    """The state of the library's default generator, to see whether a step drew random numbers."""
    return _random.get_rng().bit_generator.state
