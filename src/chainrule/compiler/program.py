"""From a trace to a replay: slots for every array, and a straight list of steps.

Every array the step touches gets a slot in ``env`` (a list): the arguments' arrays, the live
leaves (parameters and other tensors that existed before the call: read afresh each replay), the
constants born inside the step, and the outputs of the ops. Each event of the trace becomes one or
more steps, closures over ``env``: an op's forward (a kernel over preallocated buffers where
:mod:`chainrule.compiler.kernels` has one, else the op's own ``forward`` on arrays), a backward
(the engine's walk unrolled: the same order, the same sums, the same leaf accumulation), a
``zero_grad`` and an optimizer step (with the weight gradient folded into the update where that
pays, :mod:`chainrule.compiler.update`).
"""
from __future__ import annotations

import numpy as np

from chainrule import random as _random
from chainrule.autograd import unbroadcast
from chainrule.core import is_shape_constant
from chainrule.compiler import buffers, kernels, taint, update
from chainrule.compiler.engine import HOOKS, array_of, clock, make
from chainrule.compiler.errors import Fallback, Unsupported
from chainrule.compiler.node import ReplayedBackward
from chainrule.compiler.trace import RANDOM
from chainrule.tensor import Tensor


def flatten(obj, leaves: list):
    """The tensors, arrays and other values inside nested tuples, lists and dicts; returns a spec."""
    if isinstance(obj, (tuple, list)):
        return (type(obj), tuple(flatten(o, leaves) for o in obj))
    if isinstance(obj, dict):
        return (dict, tuple((k, flatten(v, leaves)) for k, v in obj.items()))
    leaves.append(obj)
    return None


def unflatten(spec, leaves):
    if spec is None:  # one value (a step returning its loss)
        return leaves[0]
    it = iter(leaves)

    def build(s):
        if s is None:
            return next(it)
        kind, items = s
        if kind is dict:
            return {k: build(v) for k, v in items}
        out = [build(v) for v in items]
        return out if kind is list else tuple(out) if kind is tuple else kind(*out)

    return build(spec)


class Program:
    """A replay: ``run(flat_args)`` repeats the traced step on new arguments of the same signature."""

    def __init__(self):
        self.env: list = []
        self.steps: list = []
        self.arg_slots: list = []   # (index in the flat arguments, slot, is a tensor)
        self.live: list = []        # [tensor, slot, array seen, requires_grad]
        self.buffers = buffers.LiveBuffers()  # module buffers read as options (buffers.py)
        self.outputs: list = []     # per returned leaf: ("slot", s) | ("grad", tensor) | ("value", v)
        self.out_spec = None
        self.modules: list = []     # the modules the step called
        self.attribute_guards: list = []  # (module's __dict__, getter, values): buffers.attribute_guards
        self.optimizers: list = []  # the optimizers the step zeroes or steps
        self.verified = False       # the first replay is checked against the eager step (verify.py)
        self.exact = None           # max-autotune: the same step on the default mode's calls, which that
                                    # check runs (tuned engines round differently, and an optimizer such
                                    # as Adam can magnify that past any tolerance)
        self.generation = 0         # replays so far (an output's node refuses a stale backward)
        self.aot_seed = None        # an output needing its backward: seed slot, walk, gradient slots,
        self.aot_steps: list = []   # and the leaves they belong to (node.py)
        self.aot_grads: list = []
        self.aot_leaves: list = []
        self.rngs: list = []        # the generators the step draws dropout masks from (rng arguments)

    def guards_hold(self) -> bool:
        """The live leaves and module flags are as traced (else the caller retraces)."""
        for d, get, values in self.attribute_guards:  # training, p, eps, ... as traced; no hooks
            try:
                if get(d) != values or d.get(HOOKS):
                    return False
            except KeyError:
                return False
        env = self.env
        if not self.buffers.refresh(env):
            return False
        for rec in self.live:
            t = rec[0]
            a = array_of(t)
            if a is not rec[2]:
                old = rec[2]
                if a.shape != old.shape or a.dtype != old.dtype:
                    return False
                rec[2] = a
            if t.requires_grad is not rec[3]:
                return False
            env[rec[1]] = a
        return True

    def run(self, flat):
        env = self.env
        for i, s, is_tensor in self.arg_slots:
            a = flat[i]
            env[s] = array_of(a) if is_tensor else a
        self.current_flat = flat
        self.generation += 1
        guarded = self.buffers.rows or self.rngs  # a step that falls back must leave the buffers and
        if guarded:                               # the random streams as it found them
            saved, streams = self.buffers.save(), rng_states(self.rngs)
        try:
            for step in self.steps:
                step()
        except Fallback:
            if guarded:
                self.buffers.restore(saved)
                set_rng_states(streams)
            raise
        out = []
        for kind, v in self.outputs:
            if kind == "slot":
                out.append(make(np.array(env[v])))
            elif kind == "grad":
                out.append(v.grad)
            elif kind == "arg_grad":
                out.append(flat[v].grad)
            elif kind == "graph":
                out.append(self.output_node(env[v], flat))
            else:
                out.append(v)
        return out


    def output_node(self, a, flat):
        """A copy of array ``a`` as a tensor whose node runs this replay's backward (node.py)."""
        fn = object.__new__(ReplayedBackward)
        fn.prog, fn.generation = self, self.generation
        fn.parents = tuple(flat[leaf[1]] if isinstance(leaf, tuple) else leaf for leaf in self.aot_leaves)
        fn.needs_input_grad = (True,) * len(fn.parents)
        fn.seq, fn.freed = clock(), False
        t = make(np.array(a))
        t.requires_grad, t._ctx = True, fn
        return t


class Builder:
    """Turns a :class:`~chainrule.compiler.trace.Trace` and the call's flat arguments into a Program."""

    def __init__(self, trace, flat_args, result, rng_before, rng_after, autotune: bool = False):
        self.trace, self.flat, self.result = trace, flat_args, result
        self.autotune = autotune  # mode="max-autotune": the large GEMMs on the fastest engine (autotune.py)
        if trace.problem:
            raise Unsupported(trace.problem)
        if trace.changed_in_place():
            raise Unsupported("changes a tensor in place (add_, +=, x[...] = v, zero_, ...), which the "
                              "replay does not repeat")
        # the default stream moved by the recorded dropout masks alone (else it was reached another way)
        chain = [rng_before]
        for d in trace.draws:
            if d.rng is None:
                if d.before != chain[-1]:
                    raise Unsupported(RANDOM)
                chain.append(d.after)
        if chain[-1] != rng_after:
            raise Unsupported(RANDOM)
        self.p = Program()
        self.owners = buffers.owners(trace)  # id(array) -> (module, name): the modules' buffers
        self.counters = buffers.counters(trace)  # BatchNorm's num_batches_tracked += 1, after the rest
        self.slot_of: dict = {}      # id(tensor) -> slot
        self.arr_slot: dict = {}     # id(ndarray) -> slot, for arrays passed as options
        self.producer: dict = {}     # id(tensor) -> OpRecord that made it
        self.fns: dict = {}          # op index -> slot holding that op's Function in a replay
        self.leaf_tensor: dict = {}  # slot -> the tensor object (live leaves) or ("arg", i)
        self.arg_arrays: list = []   # (slot, array) of the argument arrays
        self.keep: list = []
        self.gslots: dict = {}
        self.capture = None         # leaf slot -> gradient slot, while an output's backward is built
        self.arg_index: dict = {}   # id(argument tensor) -> its index in the flat arguments
        self.traced_arrays = {id(array_of(rec.out)): (array_of(rec.out), rec.out) for rec in trace.ops}
        # ^ id(array) -> (array, owner): the ops' outputs and the arguments (owner: the tensor, or the
        #   slot of an ndarray argument), the arrays that other arrays may be views of (alias_of)
        self.aliases: dict = {}      # id(array) -> what alias_of found
        self.data_arrays = None      # id -> array of traced_arrays, once complete

    # ------------------------------------------------------------------ slots
    def new_slot(self, value=None) -> int:
        self.p.env.append(value)
        return len(self.p.env) - 1

    def build(self) -> Program:
        p, tr = self.p, self.trace
        for i, a in enumerate(self.flat):
            if isinstance(a, Tensor):
                self.arg_index[id(a)] = i
                s = self.new_slot(array_of(a))
                self.traced_arrays[id(array_of(a))] = (array_of(a), a)
                p.arg_slots.append((i, s, True))
                self.slot_of[id(a)] = s
                self.arr_slot[id(array_of(a))] = s
                self.leaf_tensor[s] = ("arg", i, a)
                self.arg_arrays.append((s, array_of(a)))
            elif isinstance(a, np.ndarray):
                s = self.new_slot(a)
                self.traced_arrays[id(a)] = (a, s)
                p.arg_slots.append((i, s, False))
                self.arr_slot[id(a)] = s
                self.arg_arrays.append((s, a))
        for rec in tr.ops:
            self.producer[id(rec.out)] = rec
            if rec.out._ctx is not None and rec.out._ctx is not rec.fn:
                raise Unsupported("uses a custom autograd.Function (its forward and backward run Python "
                                  "that the capture cannot replay)")
        p.modules = list(tr.modules.values())
        p.attribute_guards = buffers.attribute_guards(tr)
        p.optimizers = list({id(ev[1]): ev[1] for ev in tr.events if ev[0] in ("zero_grad", "step")}.values())
        self.plan = kernels.plan(self, tr)
        self.folds, self.bias_folds = update.plan_folds(self, tr)
        first_op = True
        for ev in tr.events:
            kind = ev[0]
            if kind == "op" and first_op and (self.folds or self.bias_folds):
                p.steps.append(update.drop_stale_step(list(self.folds.values()) + list(self.bias_folds.values())))
                first_op = False
            if kind == "op":
                self.op(ev[1])
            elif kind == "backward":
                self.backward(*ev[1:])
            elif kind == "zero_grad":
                p.steps.append(update.zero_grad_step(ev[1], ev[2]))
            elif kind == "clear_grad":
                i = self.arg_index.get(id(ev[1]))
                p.steps.append(update.clear_grad_step(ev[1]) if i is None else _clear_arg_grad(p, i))
            elif kind == "step":
                p.steps.append(update.step(self, ev[1]))
            elif kind == "draw":
                self.draw(ev[1])
            elif kind == "clip":
                self.clip(*ev[1:])
        p.steps += self.counters
        self.outputs()
        return p

    def clip(self, fn, params, args, kwargs, out) -> None:
        """Gradient clipping (``nn.utils.clip_grad_norm_``, ``clip_grad_value_``) at its point of the
        step: the library's own function again, on this replay's gradients (a folded weight gradient is
        computed when it reads it), its returned norm into a slot. A norm that the function refuses
        (``error_if_nonfinite``) sends the call back to eager, which meets the error itself."""
        env, s = self.p.env, None
        if isinstance(out, Tensor):
            s = self.slot_of[id(out)] = self.new_slot(array_of(out))

        def clip():
            try:
                r = fn(params, *args, **kwargs)
            except RuntimeError:
                raise Fallback("a gradient norm that clip_grad_norm_ refuses (error_if_nonfinite)") from None
            if s is not None:
                env[s] = array_of(r)
        self.p.steps.append(clip)

    def draw(self, d) -> None:
        """A random draw (a dropout mask, a sampler's tensor) made afresh each replay, at the point of the
        step where eager draws it, from the generator eager uses (the default stream is looked up at
        each call: manual_seed replaces it)."""
        ins = [self.tensor_slot(t) for t in d.inputs]  # a draw from the step's tensors reads them
        s = self.new_slot(d.out)
        self.arr_slot[id(d.out)] = s
        env, rng, redo = self.p.env, d.rng, d.redo
        if all(r is not rng for r in self.p.rngs):
            self.p.rngs.append(rng)
        if not ins:
            self.p.steps.append(lambda: env.__setitem__(s, redo()))
            return

        def draw():   # the front checks the arguments before it draws: a refusal moves no stream
            try:
                env[s] = redo(*[env[i] for i in ins])
            except RuntimeError as e:  # bernoulli's p outside [0, 1], a negative std, bad weights
                raise Fallback(f"arguments the sampler refuses ({str(e).splitlines()[0]})") from None
        self.p.steps.append(draw)

    def tensor_slot(self, t: Tensor) -> int:
        """The slot of a tensor that an op reads."""
        s = self.slot_of.get(id(t))
        if s is not None:
            return s
        tr = self.trace
        if id(t) in tr.grad_reads:
            raise Unsupported("computes with a .grad inside the step")
        if id(t) in tr.born:
            s = self.array_slot(array_of(t), "a tensor")
        elif t._ctx is not None:
            raise Unsupported("uses a tensor whose graph was built outside the captured ops (before the "
                              "call, or by a custom autograd.Function)")
        else:  # a live leaf: a parameter, a buffer, a tensor made before the call
            s = self.new_slot(array_of(t))
            self.p.live.append([t, s, array_of(t), t.requires_grad])
            self.leaf_tensor[s] = t
            self.arr_slot.setdefault(id(array_of(t)), s)
        self.slot_of[id(t)] = s
        return s

    def alias_of(self, x):
        """The op's output or argument (a tensor, or an ndarray argument's slot) whose array ``x`` (a
        tensor made inside the step, or an ndarray) is exactly, as ``detach()`` and ``.data`` make it;
        else None."""
        if isinstance(x, Tensor):
            if id(x) not in self.trace.born:
                return None
            x = array_of(x)
        elif not isinstance(x, np.ndarray):
            return None
        key = id(x)
        if key not in self.aliases:
            if self.data_arrays is None:  # (the arguments are all in by now: build() enters them first)
                self.data_arrays = {k: v[0] for k, v in self.traced_arrays.items()}
            hit = taint.source(x, self.data_arrays)
            self.aliases[key] = self.traced_arrays[id(hit)][1] if hit is not None and \
                taint.same_array(x, hit) else None
        return self.aliases[key]

    def array_slot(self, a, what: str) -> int:
        """The slot of an array made inside the step: a view of the data (an argument's, an op's output),
        an argument's array converted, a module buffer, or a constant. An array computed from the data
        outside the ops cannot be replayed (taint.py)."""
        s = self.arr_slot.get(id(a))
        if s is not None:
            return s
        src = self.alias_of(a)
        if src is not None:
            return self.tensor_slot(src) if isinstance(src, Tensor) else src
        a = np.asarray(a)
        s = self.arr_slot.get(id(a))
        if s is not None:
            return s
        owner = self.owners.get(id(a))
        if owner is not None:  # a module's buffer: read afresh each call
            s = self.arr_slot[id(a)] = self.new_slot(a)
            self.p.buffers.add(*owner, s, a)
            return s
        if taint.derived(a, self.trace.derived):
            raise Unsupported(f"uses {what} of shape {a.shape} computed from the step's data by NumPy outside "
                              f"the ops (a mask, a cast or a count made from .data or ._data), which a replay "
                              f"would keep as traced")
        if a.ndim == 0 or a.size <= 1 or is_shape_constant(a):
            return self.const(a)
        if self.trace.made.get(id(a)) is a:  # arange(T), eye(n), tensor([...]) from Python values: the
            frozen = a.copy()                 # replay's own read-only copy (the step may hand out a)
            frozen.flags.writeable = False
            self.keep.append(a)
            s = self.arr_slot[id(a)] = self.new_slot(frozen)
            return s
        for s0, arg in self.arg_arrays:  # an argument, converted (labels cast to int64, ...)
            if arg.shape == a.shape and np.array_equal(arg, a):
                if arg.dtype == a.dtype:
                    return s0
                s = self.new_slot()
                env, dt = self.p.env, a.dtype
                self.p.steps.append(lambda: env.__setitem__(s, env[s0].astype(dt)))
                self.arr_slot[id(a)] = s
                return s
        flat = a.reshape(-1)
        if a.dtype.kind == "f" and (flat == flat[0]).all():  # zeros, ones, full: a constant
            return self.const(a)
        # a uniform mask or index array made by NumPy outside the ops is almost surely computed from the
        # data (x._data > t): all-True at trace time says nothing of the next batch, so it is not frozen
        raise Unsupported(f"uses {what} of shape {a.shape} computed inside the step by code the capture "
                          f"cannot follow (NumPy on .data?)")

    def const(self, a) -> int:
        self.keep.append(a)
        s = self.new_slot(a)
        self.arr_slot[id(a)] = s
        return s

    def options(self, rec):
        """The op's keyword options: a static dict and the (name, slot) pairs that change per call."""
        static, dynamic = {}, []
        for k, v in rec.options.items():
            if isinstance(v, Tensor):
                dynamic.append((k, self.tensor_slot(v), True))
            elif isinstance(v, np.ndarray) and (v.ndim > 0 or taint.derived(v, self.trace.derived)):
                dynamic.append((k, self.array_slot(v, f"the {k}= array of {rec.cls.__name__}"), False))
            else:
                static[k] = v
        return static, dynamic

    # ------------------------------------------------------------------ events
    def op(self, rec):
        if rec.index in self.plan.dead:
            return
        kernel = self.plan.kernels.get(rec.index)
        if kernel is not None:
            out = kernel.forward(self, rec)
        else:
            out = self.generic_forward(rec)
        self.slot_of[id(rec.out)] = out

    def generic_forward(self, rec) -> int:
        check = kernels.guard(self, rec)
        if check is not None:
            self.p.steps.append(check)
        ins = tuple(self.tensor_slot(t) for t in rec.inputs)
        static, dynamic = self.options(rec)
        out = self.new_slot()
        fslot = self.new_slot()
        self.fns[rec.index] = fslot
        env, cls, needs = self.p.env, rec.cls, getattr(rec.fn, "needs_input_grad", None)
        new = object.__new__
        wrap = [k for k, _, is_t in dynamic if is_t]

        def forward():
            env[fslot] = env[out] = None  # the previous call's output and saved arrays go first: the
            fn = new(cls)                 # allocator reuses their memory (a convolution's columns)
            opts = dict(static)
            for k, s, _ in dynamic:
                opts[k] = env[s]
            for k in wrap:
                opts[k] = make(opts[k])
            y = fn.forward(*[env[i] for i in ins], **opts)
            if needs is not None:
                fn.needs_input_grad = needs
            env[out] = y if type(y) is np.ndarray else np.asarray(y)
            env[fslot] = fn

        self.p.steps.append(forward)
        return out

    def grad_slot(self, rec) -> int:
        s = self.gslots.get(rec.index)
        if s is None:
            s = self.gslots[rec.index] = self.new_slot()
        return s

    def backward(self, roots, seeds, retain):
        """The engine's walk, unrolled: nodes newest first, gradients summed per tensor, leaves
        accumulated as ``Tensor._accumulate`` does (``retain`` changes nothing: a replay keeps no
        graph to free)."""
        self.gslots = {}
        env, steps = self.p.env, self.p.steps
        todo = {}
        for root, seed in zip(roots, seeds):
            rec = self.producer.get(id(root))
            if isinstance(seed, SeedSlot):
                sv = seed.slot
            elif seed is None:
                sv = self.const(np.ones(array_of(root).shape, array_of(root).dtype))
            elif isinstance(seed, Tensor):
                sv = self.tensor_slot(seed)
            else:
                sv = self.const(np.asarray(seed, dtype=array_of(root).dtype))
            if rec is None or not rec.recorded:
                if not root.requires_grad:
                    raise Unsupported("calls backward() on a tensor that does not require grad")
                acc = self.leaf_accumulator(("leaf", self.tensor_slot(root), root))
                steps.append(lambda acc=acc, sv=sv: acc(env[sv], None))  # a leaf: d(root)/d(root) = 1
                continue
            gs = self.grad_slot(rec)
            steps.append(_add_into(env, gs, sv))
            todo[rec.index] = rec
        # every recorded node reachable from the roots
        stack = list(todo.values())
        while stack:
            rec = stack.pop()
            for t in rec.inputs:
                r = self.producer.get(id(t))
                if r is not None and r.recorded and r.index not in todo and t.requires_grad:
                    todo[r.index] = r
                    stack.append(r)
        for index in sorted(todo, reverse=True):
            rec = todo[index]
            kernel = self.plan.kernels.get(index)
            targets = []
            for t in rec.inputs:
                if not t.requires_grad:
                    targets.append(None)
                    continue
                r = self.producer.get(id(t))
                if r is not None and r.recorded:
                    targets.append(("node", self.grad_slot(r), r))
                else:
                    targets.append(("leaf", self.tensor_slot(t), t))
            if kernel is not None and kernel.backward(self, rec, self.grad_slot(rec), targets):
                continue
            steps.append(self.generic_backward(rec, targets))

    def leaf_accumulator(self, target):
        """A function ``(gi, g)`` that accumulates gi into the leaf named by ``target`` as the walk does
        (or, when the walk belongs to an output's node, sums it into a slot the node returns)."""
        _, s, t = target
        leaf = self.leaf_tensor.get(s)
        if self.capture is not None:
            if leaf is None:
                raise Unsupported("backpropagates into a tensor the capture cannot name")
            c = self.capture.get(s)
            if c is None:
                c = self.capture[s] = self.new_slot()
            env = self.p.env

            def into(gi, g):
                prev = env[c]
                env[c] = (gi.copy() if gi is g else gi) if prev is None else prev + gi
            return into
        if isinstance(leaf, tuple):
            i, prog = leaf[1], self.p

            def acc(gi, g):
                prog.current_flat[i]._accumulate(gi.copy() if gi is g else gi)
            return acc
        if leaf is None:
            raise Unsupported("accumulates a gradient into a tensor the capture cannot name")

        def acc(gi, g):
            leaf._accumulate(gi.copy() if gi is g else gi)
        return acc

    def generic_backward(self, rec, targets):
        env = self.p.env
        gs, fslot = self.grad_slot(rec), self.fns.get(rec.index)
        if fslot is None:
            raise Unsupported(f"backpropagates through {rec.cls.__name__}, whose forward was not replayed")
        plan = []
        for t, target in zip(rec.inputs, targets):
            if target is None:
                plan.append(None)
            elif target[0] == "node":
                plan.append((True, target[1], array_of(t).shape, array_of(t).dtype))
            else:
                plan.append((False, self.leaf_accumulator(target), array_of(t).shape, array_of(t).dtype))
        name, n = rec.cls.__name__, len(plan)
        # the node's saved arrays are let go after its backward, as the engine frees a graph, unless
        # a second backward() of the step, or a later one through an output's node, may need them
        release = self.capture is None and sum(ev[0] == "backward" for ev in self.trace.events) == 1

        def backward():
            g = env[gs]
            if g is None:
                return
            env[gs] = None
            out = env[fslot].backward(g)
            if release:
                env[fslot] = None
            if type(out) is not tuple:
                out = (out,)
            if len(out) != n:
                raise RuntimeError(f"{name}.backward returned {len(out)} gradients for {n} inputs")
            for pl, gi in zip(plan, out):
                if gi is None or pl is None:
                    continue
                node, target, shape, dtype = pl
                if gi.shape != shape:
                    gi = unbroadcast(np.asarray(gi), shape)
                if gi.dtype != dtype:
                    gi = gi.astype(dtype)
                if node:
                    prev = env[target]
                    env[target] = gi if prev is None else prev + gi
                else:
                    target(gi, g)

        return backward

    def output_node(self, v) -> int:
        """The walk from output ``v``, built apart, for the node its replayed copy gets (node.py)."""
        p = self.p
        if any(ev[0] in ("backward", "step", "zero_grad", "clear_grad") for ev in self.trace.events) or \
                p.aot_seed is not None:
            raise Unsupported("returns a tensor that requires grad and also runs backward or an optimizer "
                              "(compile the whole step, or return tensors that need no gradient)")
        p.aot_seed = self.new_slot()
        main, p.steps = p.steps, []
        self.capture = {}
        try:
            self.backward((v,), (SeedSlot(p.aot_seed),), False)
        finally:
            p.aot_steps, p.steps = p.steps, main
        p.aot_grads = list(self.capture.values())
        p.aot_leaves = [self.leaf_tensor[s] for s in self.capture]
        self.capture = None
        return self.slot_of[id(v)]

    def outputs(self):
        leaves = []
        self.p.out_spec = flatten(self.result, leaves)
        for v in leaves:
            if isinstance(v, Tensor):
                if id(v) in self.trace.grad_reads:
                    owner = self.trace.grad_reads[id(v)]
                    i = self.arg_index.get(id(owner))
                    self.p.outputs.append(("grad", owner) if i is None else ("arg_grad", i))
                    continue
                rec = self.producer.get(id(v))
                if rec is not None and rec.recorded and not self.plan.backwarded.get(rec.index):
                    self.p.outputs.append(("graph", self.output_node(v)))
                    continue
                if rec is not None and rec.index in self.plan.dead:  # pragma: no cover - outputs are live
                    raise Unsupported("returns a value the capture dropped")
                self.p.outputs.append(("slot", self.tensor_slot(v)))
            elif isinstance(v, np.ndarray):
                raise Unsupported("returns a NumPy array (return tensors instead)")
            else:
                self.p.outputs.append(("value", v))


class SeedSlot:
    """A backward seed that the replay writes into a slot (an output node's incoming gradient)."""

    def __init__(self, slot: int):
        self.slot = slot


def _clear_arg_grad(prog, i):
    def clear():
        prog.current_flat[i]._grad = None
    return clear


def _add_into(env, target, source):
    def add():
        prev, g = env[target], env[source]
        env[target] = g if prev is None else prev + g
    return add


def rng_states(sources) -> list:
    """(generator, state) of each source a step draws from (an ``rng`` argument: None is the default
    stream as it is now; an int seeds a fresh generator each call and has no state to keep)."""
    out = []
    for r in sources:
        if r is None or isinstance(r, (np.random.Generator, _random.Generator)):
            g = _random.resolve(r)
            out.append((g, g.bit_generator.state))
    return out


def set_rng_states(states) -> None:
    for g, st in states:
        g.bit_generator.state = st
