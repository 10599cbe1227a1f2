"""The narrated backward pass: one line per edge, in the order the engine runs them, with the
lecture's words (downstream = upstream x local; add distributes, mul swaps, max routes) and each
op's local gradient as the formula its own file states beside its backward rule (``local``).

:func:`trace` records the pass as a list of :class:`Edge` (shared with the HTML stepper);
:func:`explain` turns it into text.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from chainrule import autograd
from chainrule.tensor import Tensor
from chainrule.viz.graph import describe
from chainrule.viz.names import FUNCTION_NAMES, formulas, label_of, names_for, node_names, written
from chainrule.viz.walk import collect

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
TIMES = {2: "twice", 3: "three times"}


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
    order: int = 0                    # its place in the walk
    via: str = ""                     # which wire, when the parent feeds several: "max", "mul into t4"

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
    into: dict = field(default_factory=dict)  # id(parent) -> the edges into it, in the order they ran

    def gradient_of(self, t: Tensor):
        return None if t._grad is None else np.asarray(t._grad)

    def fork_after(self, e: Edge):
        """The edges into ``e.parent`` in forward order, if ``e`` is the last of several to arrive
        (then the parent's gradient is complete: their sum); else None."""
        into = self.into.get(id(e.parent), ())
        if len(into) < 2 or max(into, key=lambda x: x.order) is not e:
            return None
        return sorted(into, key=lambda x: (x.out._ctx.seq, x.index))


def times(n: int) -> str:
    return TIMES.get(n, f"{n} times")


def fork_text(tr: Trace, parent: Tensor, edges: list) -> str:
    """``x is used twice: df/dx = 2 (via max) + -0.00698 (via mul) = 1.99``."""
    total = tr.gradient_of(parent)
    terms = " + ".join(f"{num(e.downstream.item())} (via {e.via})" if e.scalar else f"{e.downstream.shape} (via {e.via})"
                       for e in edges)
    value = num(total.item()) if total is not None and total.size == 1 else str(np.shape(total))
    return f"{tr.raw(parent)} is used {times(len(edges))}: {edges[0].down_name} = {terms} = {value}"


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
        e.order = len(edges)
        edges.append(e)

    autograd.backward(output, None if output._data.size == 1 else np.ones_like(output._data), retain_graph=True,
                      on_edge=on_edge)
    into: dict = {}
    for e in edges:
        into.setdefault(id(e.parent), []).append(e)
    for group in into.values():  # a parent fed by several wires: say which wire each share came along
        if len(group) > 1:
            words = [e.fn.name.lower() if e.fn.name not in FUNCTION_NAMES else FUNCTION_NAMES[e.fn.name] for e in group]
            for e, w in zip(group, words):
                if sum(x.out is e.out for x in group) > 1:  # Y * Y: two wires into one gate
                    w += f", input {e.index + 1}"
                elif words.count(w) > 1:
                    w += f" into {raw(e.out)}"
                e.via = w
    return Trace(output, edges, auto, tensors, name, raw, into)


def expr(fn, name, raw=None) -> str:
    """The op as an expression of its inputs' names: ``q * z``, ``sigmoid(t1)``, ``-t4``."""
    return written(fn, raw or name)


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
    """One line of the narration for one edge (a share of a fork says which wire it came along)."""
    if e.via:
        e = dataclasses.replace(e, down_name=f"{e.down_name} (via {e.via})")
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
        backward pass of f = t1 * z = (x + y) * z, in the order it runs (downstream = upstream x local):
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
    one = expr(output._ctx, name, tr.raw)
    whole = formulas(tr.tensors, tr.labels).get(id(output), one)
    lines = [f"backward pass of {out_name} = {one}" + (f" = {whole}" if whole != one else "") +
             ", in the order it runs (downstream = upstream x local):"]
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
        fork = tr.fork_after(e)
        if fork:
            lines.append(f"  {fork_text(tr, e.parent, fork)}   [gradients add at a fork]")
    leaves = [t for t in tr.tensors if t._ctx is None and t._grad is not None and id(t) in tr.labels]
    leaves.sort(key=lambda t: tr.labels[id(t)])
    if leaves:
        lines.append("gradients: " + ", ".join(
            f"d{out_name}/d{name(t)} = " + (num(t._grad.item()) if t._grad.size == 1 else str(t._grad.shape))
            for t in leaves))
    return "\n".join(lines)
