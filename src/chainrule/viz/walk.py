"""The walk from an output down its graph that every drawing shares."""
from __future__ import annotations

from chainrule.tensor import Tensor


def collect(output: Tensor, max_nodes: int = 300, hidden=None):
    """The tensors and ops behind ``output``, newest first, at most ``max_nodes`` tensors.

    Returns (tensors, truncated) where tensors is a list in breadth-first order from the output.
    ``hidden`` (a :class:`chainrule.viz.summary.Hidden`): the tensors it collapsed are skipped, and
    the walk crosses each collapsed run from the node above it to the node below it.
    """
    skip = hidden.ids if hidden is not None else ()
    order, seen, queue, truncated = [], {id(output)}, [output], 0
    head = 0
    while head < len(queue):
        t = queue[head]
        head += 1
        if len(order) < max_nodes:
            order.append(t)
        else:
            truncated += 1  # keep walking, to say how many were left out
        if t._ctx is not None:
            nxt = t._ctx.parents
            run = hidden.run_into(t._ctx) if hidden is not None else None
            if run is not None:
                nxt = (*nxt, run.below)
            for p in nxt:
                if id(p) not in seen and id(p) not in skip:
                    seen.add(id(p))
                    queue.append(p)
    return order, truncated
