"""The narrated backward pass: one line per edge, in the order the engine runs them, with the
lecture's words (downstream = upstream x local; add distributes, mul swaps, max routes)."""
from __future__ import annotations

import numpy as np

from chainrule import autograd
from chainrule.tensor import Tensor
from chainrule.viz.graph import collect, describe, label_of, names_for, node_names

GATES = {"Add": "add gate: distributes the gradient unchanged to both inputs",
         "Sub": "subtract gate: passes the gradient to a, and its negative to b",
         "Mul": "mul gate: swaps the inputs and scales the gradient",
         "Maximum": "max gate: routes the gradient to the larger input",
         "Minimum": "min gate: routes the gradient to the smaller input"}


# the rule each input's gradient follows, for the tensor ops a network is made of
EDGE_RULES = {
    "Linear": ("dL/dx = dL/dy W", "dL/dW = dL/dy^T x", "dL/db = dL/dy summed over the batch"),
    "Matmul": ("dL/dA = dL/dY B^T", "dL/dB = A^T dL/dY"),
    "ReLU": ("dL/dx = dL/dy where x > 0, else 0",),
    "Mean": ("dL/dx = dL/dy / n, copied to every element",),
    "Sum": ("dL/dx = dL/dy, copied to every element",),
    "CrossEntropy": ("dL/ds = (softmax(s) - onehot(y)) x dL/dL_i",),
    "MulticlassSVM": ("dL/ds_j = 1 where the margin is violated; dL/ds_y = -(number of violations)",),
    "Add": ("dL/da = dL/dy (summed over broadcast axes)", "dL/db = dL/dy (summed over broadcast axes)"),
    "Mul": ("dL/da = dL/dy * b", "dL/db = dL/dy * a"),
}


def _rule(fn) -> str:
    if fn.name in GATES:
        return GATES[fn.name]
    doc = (type(fn).__doc__ or "").strip().split("\n\n")[0]
    return f"{fn.name.lower()}: {' '.join(doc.split())}" if doc else fn.name.lower()


def explain(output: Tensor, names=None, model=None, small: int = 9) -> str:
    """Run ``output.backward()`` (one pass, from fresh gradients) and narrate it; returns the text.

    Each op prints as it is reached, then one line per input edge:
    ``dL/d(input) = upstream x local = downstream`` with numbers for scalars, and shapes with the
    rule used (dL/dX = dL/dY W^T ...) for tensors. The graph is kept (retain_graph) so that it can
    still be drawn.

    Example:
        >>> import chainrule as cr
        >>> x, y, z = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((-2., "x"), (5., "y"), (-4., "z")))
        >>> print(cr.viz.explain((x + y) * z))  # doctest: +NORMALIZE_WHITESPACE
        backward pass of f = t1 * z, in the order it runs (downstream = upstream x local):
        f = t1 * z   [mul gate: swaps the inputs and scales the gradient]
          df/dt1 = 1 x -4 = -4      (upstream df/df x local dt1 = z)
          df/dz = 1 x 3 = 3      (upstream df/df x local dz = t1)
        t1 = x + y   [add gate: distributes the gradient unchanged to both inputs]
          df/dx = -4 x 1 = -4      (upstream df/dt1 x local 1)
          df/dy = -4 x 1 = -4      (upstream df/dt1 x local 1)
    """
    if not output.requires_grad or output._ctx is None:
        raise ValueError("explain: the output has no graph; build it from tensors with requires_grad=True")
    lookup = names_for(output, names, model)
    tensors, _ = collect(output, max_nodes=1 << 30)
    for t in tensors:
        t._grad = None
    auto = node_names(output, tensors, lookup)
    out_name = auto[id(output)]

    def name(t):
        n = auto.get(id(t)) or label_of(t, lookup, describe(t.data, 1) if t.data.size == 1 else f"const{t.shape}")
        return f"({n})" if " " in n else n  # so that d f/d(x + y) and (x + y) * z read right

    def expr(fn):
        args = [name(p) for p in fn.parents]
        sym = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "**", "Matmul": "@"}.get(fn.name)
        return f" {sym} ".join(args) if sym and len(args) == 2 else f"{fn.name.lower()}({', '.join(args)})"

    lines = [f"backward pass of {out_name} = {expr(output._ctx)}, in the order it runs "
             f"(downstream = upstream x local):"]
    current = [None]

    def on_edge(t, fn, upstream, i, downstream):
        if current[0] is not t:
            current[0] = t
            lines.append(f"{name(t)} = {expr(fn)}   [{_rule(fn)}]")
        p = fn.parents[i]
        u, d = np.asarray(upstream), np.asarray(downstream)
        up = f"d{out_name}/d{name(t)}"
        if u.size == 1 and d.size == 1 and p.data.size == 1:
            uv, dv = u.item(), d.item()
            if fn.name == "Mul":
                other = fn.parents[1 - i]
                local, why = other.data.item(), f"local d{name(p)} = {name(other)}"
            elif fn.name in ("Add",):
                local, why = 1.0, "local 1"
            else:
                local = dv / uv if uv != 0 else float("nan")
                why = "local d(out)/d(in)"
            lines.append(f"  d{out_name}/d{name(p)} = {uv:.4g} x {local:.4g} = {dv:.4g}      (upstream {up} x {why})")
        else:
            rules = EDGE_RULES.get(fn.name, ())
            rule = f"   [{rules[i]}]" if i < len(rules) else ""
            lines.append(f"  d{out_name}/d{name(p)} {d.shape} <- upstream {up} {u.shape}{rule}")

    autograd.backward(output, None if output.data.size == 1 else np.ones_like(output.data), retain_graph=True,
                      on_edge=on_edge)
    return "\n".join(lines)
