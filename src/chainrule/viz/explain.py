"""The narrated backward pass: one line per edge, in the order the engine runs them, with the
lecture's words (downstream = upstream x local; add distributes, mul swaps, max routes) and each
op's local gradient as the formula its own file states beside its backward rule (``local``).

:func:`trace` records the pass as a list of :class:`Edge` (shared with the HTML stepper);
:func:`explain` turns it into text.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chainrule import autograd
from chainrule.tensor import Tensor
from chainrule.viz.graph import collect, describe, label_of, names_for, node_names

GATES = {"Add": "add gate: distributes the gradient unchanged to both inputs",
         "Sub": "subtract gate: passes the gradient to a, and its negative to b",
         "Mul": "mul gate: swaps the inputs and scales the gradient",
         "Maximum": "max gate: routes the gradient to the larger input",
         "Minimum": "min gate: routes the gradient to the smaller input",
         "Neg": "neg gate: flips the sign of the gradient",
         "Div": "div gate: d(a/b)/da = 1/b, d(a/b)/db = -a/b^2",
         "Exp": "exp gate: the local gradient is its own output",
         "Sigmoid": "sigmoid gate: the local gradient is s(1 - s), from its output s",
         "ReLU": "relu gate: passes the gradient where the input was positive, blocks it elsewhere"}
SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "**", "Matmul": "@"}


def num(v) -> str:
    """A number as the narration prints it (3 significant digits, as the lecture's slides)."""
    v = float(v)
    return "0" if v == 0 else f"{v:.3g}"


def rule_words(fn) -> str:
    """The gate's rule in words: the lecture's phrase, else the first paragraph of the op's docstring."""
    if fn.name in GATES:
        return GATES[fn.name]
    doc = (type(fn).__doc__ or "").strip().split("\n\n")[0]
    return f"{fn.name.lower()}: {' '.join(doc.split())}" if doc else fn.name.lower()


@dataclass
class Edge:
    """One step of the backward pass: the gradient flowing from ``out`` through op ``fn`` to its
    input number ``index`` (``parent``): downstream = upstream x local."""
    out: Tensor
    fn: object
    index: int
    parent: Tensor
    upstream: np.ndarray
    downstream: np.ndarray
    formula: str | None = None        # the local gradient (elementwise) or the vectorized rule
    factors: list = field(default_factory=list)
    local: np.ndarray | None = None   # the product of the factors (None: a vectorized rule)
    out_name: str = ""
    parent_name: str = ""
    up_name: str = ""                 # d<output>/d<out>
    down_name: str = ""               # d<output>/d<parent>

    @property
    def scalar(self) -> bool:
        return self.upstream.size == 1 and self.downstream.size == 1 and self.parent._data.size == 1


@dataclass
class Trace:
    """The backward pass of ``output``: its edges in the order the engine ran them, and the names
    every drawn tensor goes by."""
    output: Tensor
    edges: list
    labels: dict
    tensors: list
    name: object  # tensor -> its display name, in parentheses if it has spaces: d f/d(x + y)
    raw: object   # tensor -> its display name as it is

    def gradient_of(self, t: Tensor):
        return None if t._grad is None else np.asarray(t._grad)


def trace(output: Tensor, names=None, model=None, short: int | None = None) -> Trace:
    """Run ``output.backward()`` from fresh gradients (keeping the graph) and record every edge.

    With ``short``, computed tensors whose names are longer than that many characters (long
    sub-expressions) go by t1, t2, ... instead (their full expression stays in ``.name``)."""
    if not output.requires_grad or output._ctx is None:
        raise ValueError("explain: the output has no graph; build it from tensors with requires_grad=True")
    lookup = names_for(output, names, model)
    tensors, _ = collect(output, max_nodes=1 << 30)
    for t in tensors:
        t._grad = None
    auto = node_names(output, tensors, lookup)
    if short:
        taken, k = set(auto.values()), 0
        for t in sorted((t for t in tensors if t._ctx is not None and t is not output), key=lambda t: t._ctx.seq):
            if len(auto[id(t)]) > short:
                k += 1
                while f"t{k}" in taken:
                    k += 1
                auto[id(t)] = f"t{k}"
    out_name = auto[id(output)]

    def raw(t):
        return auto.get(id(t)) or label_of(t, lookup, describe(t._data, 1) if t._data.size == 1 else f"const{t.shape}")

    def name(t):
        n = raw(t)
        return f"({n})" if " " in n else n  # so that d f/d(x + y) and (x + y) * z read right

    edges = []

    def on_edge(t, fn, upstream, i, downstream):
        p = fn.parents[i]
        e = Edge(t, fn, i, p, np.array(upstream), np.array(downstream), out_name=name(t), parent_name=name(p),
                 up_name=f"d{out_name}/d{name(t)}", down_name=f"d{out_name}/d{name(p)}")
        local = getattr(fn, "local", None)
        if local is not None:
            formula, *factors = local(i)
            e.formula = formula.format(*[name(q) for q in fn.parents], g=e.up_name)
            e.factors = [np.asarray(f, dtype=np.float64) for f in factors]
            if factors:
                e.local = np.prod(np.broadcast_arrays(*e.factors), axis=0) if len(factors) > 1 else e.factors[0]
        elif e.scalar and e.upstream.item() != 0:  # an op that states no formula: the ratio the backward gave
            e.local = np.asarray(e.downstream.item() / e.upstream.item())
        edges.append(e)

    autograd.backward(output, None if output._data.size == 1 else np.ones_like(output._data), retain_graph=True,
                      on_edge=on_edge)
    return Trace(output, edges, auto, tensors, name, raw)


def expr(fn, name, raw=None) -> str:
    """The op as an expression of its inputs' names: ``q * z``, ``sigmoid(t1)``."""
    sym = SYMBOLS.get(fn.name)
    if sym and len(fn.parents) == 2:
        return f" {sym} ".join(name(p) for p in fn.parents)
    return f"{fn.name.lower()}({', '.join((raw or name)(p) for p in fn.parents)})"


def local_text(e: Edge) -> str:
    """``local = s(1 - s) = 0.731 x 0.269 = 0.197`` (scalars) or the formula alone (tensors)."""
    if e.local is None:
        return f"local: {e.formula}" if e.formula else "local: from the op's backward"
    if e.formula is None:
        return f"local = d{e.out_name}/d{e.parent_name} = {num(e.local)}"
    text = f"local = {e.formula}"
    if e.local.size == 1:
        nums = " x ".join(num(f) for f in e.factors)
        value = num(e.local)
        if len(e.factors) > 1:
            text += f" = {nums}"
        if nums != e.formula and value != e.formula:
            text += f" = {value}"
        elif len(e.factors) > 1:
            text += f" = {value}"
    else:
        text += f" (elementwise, {e.local.shape})"
    return text


def edge_text(e: Edge) -> str:
    """One line of the narration for one edge."""
    if e.scalar and e.local is not None:
        u, d = e.upstream.item(), e.downstream.item()
        return f"{e.down_name}: {local_text(e)}; downstream = upstream x local = {num(u)} x {num(e.local)} = {num(d)}"
    if e.local is not None:  # elementwise on tensors
        return (f"{e.down_name} {e.downstream.shape} = upstream {e.up_name} {e.upstream.shape} x local, "
                f"{local_text(e)}")
    if e.scalar:
        return f"{e.down_name} = {num(e.downstream.item())}   ({local_text(e)})"
    return f"{e.down_name} {e.downstream.shape} = {e.formula or 'from the backward of ' + e.fn.name.lower()}" \
           f"   <- upstream {e.up_name} {e.upstream.shape}"


def explain(output: Tensor, names=None, model=None, small: int = 9, short: int | None = None) -> str:
    """Run ``output.backward()`` (one pass, from fresh gradients) and narrate it; returns the text.

    Each op prints as it is reached, with its rule in words, then one line per input edge: the
    local gradient as the op states it (formula, then numbers) and downstream = upstream x local
    for scalars; for tensors the shapes and the vectorized rule (dL/dX = dL/dY @ W^T ...). Last,
    the gradient of every leaf. The graph is kept (retain_graph) so that it can still be drawn.
    ``short`` (int, None): call computed tensors with longer names t1, t2, ... (and say what they are).

    Example:
        >>> import chainrule as cr
        >>> x, y, z = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((-2., "x"), (5., "y"), (-4., "z")))
        >>> print(cr.viz.explain((x + y) * z))  # doctest: +NORMALIZE_WHITESPACE
        backward pass of f = t1 * z, in the order it runs (downstream = upstream x local):
        f = t1 * z   [mul gate: swaps the inputs and scales the gradient]
          df/dt1: local = z = -4; downstream = upstream x local = 1 x -4 = -4
          df/dz: local = t1 = 3; downstream = upstream x local = 1 x 3 = 3
        t1 = x + y   [add gate: distributes the gradient unchanged to both inputs]
          df/dx: local = 1; downstream = upstream x local = -4 x 1 = -4
          df/dy: local = 1; downstream = upstream x local = -4 x 1 = -4
        gradients: df/dx = -4, df/dy = -4, df/dz = 3
    """
    tr = trace(output, names, model, short=short)
    name = tr.name
    out_name = tr.labels[id(output)]
    lines = [f"backward pass of {out_name} = {expr(output._ctx, name, tr.raw)}, in the order it runs "
             f"(downstream = upstream x local):"]
    current = None
    for e in tr.edges:
        if current is not e.out:
            current = e.out
            rhs = expr(e.fn, name, tr.raw)
            if e.out.name and e.out.name not in (tr.raw(e.out), rhs) and e.out is not output:
                lines.append(f"{tr.raw(e.out)} is {e.out.name}")
            lhs = "" if rhs == tr.raw(e.out) else f"{tr.raw(e.out)} = "
            lines.append(f"{lhs}{rhs}   [{rule_words(e.fn)}]")
        lines.append("  " + edge_text(e))
    leaves = [t for t in tr.tensors if t._ctx is None and t._grad is not None and id(t) in tr.labels]
    leaves.sort(key=lambda t: tr.labels[id(t)])
    if leaves:
        lines.append("gradients: " + ", ".join(
            f"d{out_name}/d{name(t)} = " + (num(t._grad.item()) if t._grad.size == 1 else str(t._grad.shape))
            for t in leaves))
    return "\n".join(lines)
