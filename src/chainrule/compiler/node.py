"""A compiled call's output that still needs its backward: one node standing for the whole graph.

``chainrule.compile(model)`` in training returns the scores, and the loss and ``backward()`` come
after the call. The replay cannot hand out the graph the trace saw (it builds no graph), so the
output gets one node whose parents are the leaves the trace's graph reached (the parameters, and
the arguments that require grad); its backward seeds the unrolled walk recorded at trace time and
returns one gradient per leaf, which the engine then accumulates as usual.

The walk reads the buffers of the call that made the output: calling the compiled function again
before that backward would overwrite them, so the node then refuses with a clear error.
"""
from __future__ import annotations

from chainrule.autograd import Function


class ReplayedBackward(Function):
    """The backward of a whole compiled call, as one node (PyTorch's ``CompiledFunctionBackward``)."""

    def forward(self, *arrays, **options):  # pragma: no cover - made by the replay, never applied
        raise RuntimeError("ReplayedBackward is made by a compiled call, not applied")

    def backward(self, grad):
        prog = self.prog
        if prog.generation != self.generation:
            raise RuntimeError("chainrule.compile: backward through the output of a compiled call after "
                               "the function was called again (the replay reuses its buffers); call "
                               "backward() before the next call, or compile the whole step")
        env = prog.env
        env[prog.aot_seed] = grad
        for step in prog.aot_steps:
            step()
        grads = []
        for s in prog.aot_grads:
            grads.append(env[s])
            env[s] = None
        return tuple(grads)

    @property
    def name(self) -> str:
        return "CompiledFunction"
