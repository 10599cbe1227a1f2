"""Module hooks, as PyTorch has them: functions called before and after a module's forward, and
when the gradients with respect to its inputs have been computed.

A forward pre-hook ``hook(module, args)`` may return new positional arguments; a forward hook
``hook(module, args, output)`` may return a new output (with ``with_kwargs=True`` both also
receive the keyword arguments). A full backward hook ``hook(module, grad_input, grad_output)``
sees the gradients with respect to the module's tensor inputs and outputs and may return new
``grad_input``. Each ``register_*`` returns a :class:`RemovableHandle`.

The backward hook needs no engine support: the module's tensor inputs and outputs pass through
an identity op (:class:`BackwardTap`) whose backward sees the gradient flowing through it. The
taps on the inputs were made before every op of the module, so the walk (newest first) reaches
them only after all of the module's ops: by then every input's gradient is complete.
"""
from __future__ import annotations

from collections import OrderedDict

from chainrule.autograd import Function, RemovableHandle, is_grad_enabled
from chainrule.tensor import Tensor


class Hooks:
    """A module's hooks: id -> (function, with_kwargs) in calling order, per kind."""

    def __init__(self):
        self.forward_pre: OrderedDict = OrderedDict()
        self.forward: OrderedDict = OrderedDict()
        self.backward: OrderedDict = OrderedDict()

    def add(self, table: OrderedDict, hook, prepend: bool, with_kwargs: bool = False) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
        handle = RemovableHandle(table)
        table[handle.id] = (hook, with_kwargs)
        if prepend:
            table.move_to_end(handle.id, last=False)
        return handle

    def __bool__(self):
        return bool(self.forward_pre or self.forward or self.backward)


class BackwardTap(Function):
    """Identity; its backward shows the gradient passing through to the tap's ``state``: d(x)/dx = 1."""

    def forward(self, x, state=None, index=0, side="input"):
        self.state, self.index, self.side = state, index, side
        return x

    def backward(self, grad):
        return self.state.arrive(self.side, self.index, grad)


class _BackwardCall:
    """One forward call's backward hooks: collects grad_output at the output taps, then calls the
    hooks once every input tap has its gradient, and hands each input its (possibly replaced) one."""

    def __init__(self, module, hooks, n_inputs: int, n_outputs: int, waiting: int):
        self.module, self.hooks = module, hooks
        self.grad_input = [None] * n_inputs
        self.grad_output = [None] * n_outputs
        self.waiting = waiting  # input taps still to be reached
        self.first_output = None  # without inputs to wait for, the hooks run at this output's tap

    def arrive(self, side, index, grad):
        if side == "output":
            self.grad_output[index] = Tensor(grad)
            if self.waiting == 0 and index == self.first_output:
                self._call()  # no input needs a gradient: PyTorch calls the hooks from the outputs
                # (the walk reaches the first output's tap last: it was made first)
            return grad
        self.grad_input[index] = Tensor(grad)
        self.waiting -= 1
        if self.waiting:
            return grad
        replaced = self._call()
        if replaced is not None:
            if sum(g is not None for g in self.grad_input) > 1:
                raise RuntimeError(f"{type(self.module).__name__}: a full backward hook on a module with several "
                                   f"tensor inputs that need gradients cannot replace grad_input in chainrule "
                                   f"(see docs/pytorch.md)")
            g = replaced[index]
            return None if g is None else (g._data if isinstance(g, Tensor) else g)
        return grad

    def _call(self):
        replaced = None
        grad_input, grad_output = tuple(self.grad_input), tuple(self.grad_output)
        for hook, _ in list(self.hooks.values()):
            out = hook(self.module, grad_input if replaced is None else replaced, grad_output)
            if out is not None:
                out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
                if len(out) != len(grad_input):
                    raise RuntimeError(f"{type(self.module).__name__}: a backward hook returned {len(out)} "
                                       f"gradients for {len(grad_input)} inputs")
                replaced = out
        return replaced


def call(module, args: tuple, kwargs: dict):
    """Run ``module.forward`` with its hooks."""
    hooks = module._hooks
    for hook, with_kwargs in list(hooks.forward_pre.values()):
        if with_kwargs:
            out = hook(module, args, kwargs)
            if out is not None:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError(f"forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {out}.")
                args, kwargs = out
        else:
            out = hook(module, args)
            if out is not None:
                args = out if isinstance(out, tuple) else (out,)
    tap = None
    if hooks.backward and is_grad_enabled():
        places = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        needs = [i for i in places if args[i].requires_grad]
        tap = _BackwardCall(module, hooks.backward, len(places), 0, len(needs))
        args = list(args)
        for k, i in enumerate(places):
            if args[i].requires_grad:
                args[i] = BackwardTap.apply(args[i], state=tap, index=k, side="input")
        args = tuple(args)
    output = module.forward(*args, **kwargs)
    for hook, with_kwargs in list(hooks.forward.values()):
        out = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
        if out is not None:
            output = out
    if tap is not None:
        outs = output if isinstance(output, tuple) else (output,)
        tap.grad_output = [None] * len(outs)
        tapped = [BackwardTap.apply(o, state=tap, index=j, side="output")
                  if isinstance(o, Tensor) and o.requires_grad else o for j, o in enumerate(outs)]
        output = tuple(tapped) if isinstance(output, tuple) else tapped[0]
        tap.first_output = next((j for j, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad), None)
    return output
