"""What flows along each wire: the gradient of one backward pass per edge, not per tensor.

A tensor used by two gates receives two gradients, one along each wire, and its own gradient is
their sum (the lecture's "gradients add at a fork"). The engine's walk hands each edge's share to
its ``on_edge`` callback; :func:`edge_flows` collects them for a graph that has already been
backpropagated, by walking it once more and putting every ``.grad`` back as it was.
"""
from __future__ import annotations

import numpy as np

from chainrule import autograd
from chainrule.tensor import Tensor
from chainrule.viz.walk import collect


def edge_key(parent: Tensor, out: Tensor, index: int) -> tuple:
    """The key of the wire that carries ``parent`` into the op that made ``out`` as its input ``index``."""
    return id(parent), id(out), index


def edge_flows(output: Tensor):
    """{edge_key: gradient along that wire} for ``output``'s last backward pass, or None when it
    cannot be known: no backward yet, or the graph freed its saved arrays (backward without
    ``retain_graph=True``), or a saved array changed in place since."""
    if output._grad is None or output._ctx is None:
        return None
    tensors, _ = collect(output, max_nodes=1 << 30)
    if any(t._ctx is not None and t._ctx.freed for t in tensors):
        return None
    kept = [(t, t._grad) for t in tensors]
    flows = {}

    def on_edge(t, fn, upstream, i, downstream):
        flows[edge_key(fn.parents[i], t, i)] = np.array(downstream)

    try:
        autograd.backward(output, np.array(output._grad), retain_graph=True, on_edge=on_edge)
    except RuntimeError:  # an in-place change since the backward pass
        return None
    finally:
        for t, g in kept:
            t._grad = g
    return flows


def consumers(tensors) -> dict:
    """id(tensor) -> [(out, index), ...]: the wires leaving each tensor, in the order the gates ran."""
    out: dict = {}
    drawn = {id(t) for t in tensors}
    for t in sorted((t for t in tensors if t._ctx is not None), key=lambda t: t._ctx.seq):
        for i, p in enumerate(t._ctx.parents):
            if id(p) in drawn:
                out.setdefault(id(p), []).append((t, i))
    return out
