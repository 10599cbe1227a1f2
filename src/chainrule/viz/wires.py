"""The graph as the lecture draws it: gates as circles, values and gradients on the wires.

Each wire carries a tensor from where it was made (an input, a constant or a gate) into the gate
that uses it. Its numbers sit ON the wire, in a small label the wire passes through: the forward
value in green above, after backward() the gradient that flows back along that wire in red below.
Labels are nodes of the layout, so two crossing wires can never be confused. A tensor used by
more than one gate first runs into one label holding its value and its gradient written as the
sum of its wires' (``2.00 + -0.007 = 1.99``: gradients add at a fork), then forks into one wire
per gate, each labelled with its own share. Intermediates carry their short name (t1, t2, ...);
the whole sub-expression shows on hover (an SVG tooltip), as do the numbers of tensors that are
not scalars (their wires show the shape).

Every node and wire has a stable SVG id (``g<k>`` gates, ``v<k>`` inputs, ``c<k>`` constants,
``w<k>_<j>_<i>`` the label of the wire from tensor k into gate j as its input i, ``s<k>`` the
fork label of a tensor used more than once, ``wout`` the output's wire) so that the HTML stepper
can reveal values and highlight wires one step at a time.
"""
from __future__ import annotations

import html
import re

import numpy as np

from chainrule.tensor import Tensor
from chainrule.viz.flow import consumers, edge_key
from chainrule.viz.names import formulas, written

GREEN, RED, GREY = "#1a7f37", "#cf222e", "#6e7781"
GATE_SYMBOLS = {"Add": "+", "Sub": "−", "Mul": "×", "Div": "÷", "Neg": "neg", "Pow": "^", "Matmul": "@",
                "Maximum": "max", "Minimum": "min", "Exp": "exp", "Log": "log", "Sqrt": "√", "Abs": "abs",
                "Tanh": "tanh", "Sigmoid": "σ", "ReLU": "relu", "Linear": "linear", "CrossEntropy": "softmax\nloss",
                "MulticlassSVM": "svm\nloss", "Sum": "sum", "Mean": "mean", "Amax": "max", "Amin": "min"}


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def printable(text) -> str:
    """``text`` without control characters (Graphviz's parser stops at a NUL), each shown as ``?``."""
    return CONTROL.sub("?", str(text))


def plain(text) -> str:
    """A text for Graphviz that stays text: never an HTML-like label, and its backslashes plain
    characters (not Graphviz's escapes such as \\N or a quote's), whatever it holds."""
    import graphviz
    return graphviz.escape(printable(text))


def wire_number(v: float) -> str:
    """A number on a wire: two decimals, as the lecture writes them (-2.00, 0.73, -0.20)."""
    v = float(v)
    if v == 0:
        return "0.00"
    return f"{v:.2f}" if 0.01 <= abs(v) < 1e4 else f"{v:.2g}"


def wire_text(a: np.ndarray) -> str:
    """What a wire shows: the number for one element, else the shape."""
    a = np.asarray(a)
    return wire_number(a.item()) if a.size == 1 else str(a.shape)


def sum_text(parts: list, total, number=wire_text) -> str:
    """A gradient that is the sum of its wires': ``2.00 + -0.007 = 1.99`` (tensors: the shapes)."""
    total = np.asarray(total)
    if total.size != 1:
        return f"{number(total)} = sum of {len(parts)} wires"
    return " + ".join(number(p) for p in parts) + f" = {number(total)}"


def hover_text(a: np.ndarray) -> str:
    a = np.asarray(a)
    return np.array2string(a, precision=3, separator=", ", suppress_small=True, max_line_width=60, threshold=60)


class WireGraph:
    """The lecture drawing's structure: which tensors are inputs, constants and gates, their
    wires (who uses whom), the ids of everything, and the gradient along each wire."""

    def __init__(self, output: Tensor, tensors: list, labels: dict, flows: dict | None = None):
        self.output = output
        made = sorted((t for t in tensors if t._ctx is not None), key=lambda t: t._ctx.seq)
        first_use = {}
        for t in made:  # inputs in the order the computation first used them
            for i, p in enumerate(t._ctx.parents):
                first_use.setdefault(id(p), (t._ctx.seq, i))
        leaves = sorted((t for t in tensors if t._ctx is None), key=lambda t: first_use.get(id(t), (0, 0)))
        self.order = leaves + made                      # the forward order: inputs, then gates as run
        self.index = {id(t): k for k, t in enumerate(self.order)}
        self.labels = labels
        self.drawn = {id(t) for t in tensors}
        self.uses = consumers(tensors)                  # id -> [(out, input index)], the wires leaving it
        self.flows = flows

    def is_input(self, t) -> bool:
        return t._ctx is None and id(t) in self.labels

    def forks(self, t) -> bool:
        """Whether ``t`` feeds more than one wire (the output's own wire counts)."""
        return len(self.uses.get(id(t), ())) + (t is self.output) > 1

    def node_id(self, t) -> str:
        k = self.index[id(t)]
        if t._ctx is not None:
            return f"g{k}"
        return f"v{k}" if self.is_input(t) else f"c{k}"

    def wire_id(self, t, fn_out, i: int) -> str:
        return f"w{self.index[id(t)]}_{self.index[id(fn_out)]}_{i}"

    def stem_id(self, t) -> str:
        return f"s{self.index[id(t)]}"

    def flow(self, t, fn_out, i: int):
        """The gradient along the wire from ``t`` into ``fn_out``'s op as its input ``i``: the
        engine's record of that edge, or, without one, ``t``'s own gradient when it has one wire."""
        if not t.requires_grad:
            return None
        if self.flows is not None:
            return self.flows.get(edge_key(t, fn_out, i))
        return None if self.forks(t) else t._grad

    def shares(self, t) -> list:
        """The gradients along each wire leaving ``t`` (None where unknown), in the order the gates ran."""
        out = [self.flow(t, o, i) for o, i in self.uses.get(id(t), ())]
        return out + ([self.output._grad] if t is self.output else [])


def _cells(rows) -> str:
    """An HTML-like label of stacked text rows [(text, colour, size)], every text escaped."""
    cells = "".join(f'<tr><td><font color="{c}" point-size="{s:g}">{html.escape(printable(t), quote=True)}</font></td></tr>'
                    for t, c, s in rows)
    return f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">{cells}</table>>'


def draw_lecture(output: Tensor, tensors: list, labels: dict, show_grad: bool, scale: float = 1.0,
                 title: str | None = None, flows: dict | None = None):
    """The lecture-style drawing: (``graphviz.Digraph``, its :class:`WireGraph` of ids).

    ``flows`` maps each edge (:func:`chainrule.viz.flow.edge_key`) to the gradient flowing along
    it; without it a wire shows its tensor's gradient when the tensor has one wire, and a fork
    shows only the total."""
    import graphviz
    g = WireGraph(output, tensors, labels, flows)
    exprs = formulas(tensors, labels)
    fs = 20 * scale
    small = fs * 0.8
    dot = graphviz.Digraph(graph_attr={"rankdir": "LR", "fontsize": f"{fs:g}", "label": plain(title or ""),
                                       "labelloc": "t", "fontname": "Helvetica", "nodesep": f"{0.12 * scale:g}",
                                       "ranksep": f"{0.4 * scale:g}", "bgcolor": "white"},
                           node_attr={"fontname": "Helvetica", "fontsize": f"{fs:g}"},
                           edge_attr={"fontname": "Helvetica", "arrowsize": "0.7", "penwidth": f"{1.4 * scale:g}"})

    def name_of(t) -> str:
        return labels.get(id(t)) or wire_text(t._data)

    def about(t) -> str:
        """What a tensor is, for tooltips: ``t4 = x * y``, with the whole sub-expression if longer."""
        if t._ctx is None:
            return name_of(t)
        one = written(t._ctx, name_of)
        whole = exprs.get(id(t), one)
        return f"{name_of(t)} = {one}" + (f" = {whole}" if whole != one else "")

    def tip(t, grad, extra="") -> str:
        text = about(t) + extra + f"\nvalue {hover_text(t._data)}"
        return text + (f"\ngradient {hover_text(grad)}" if grad is not None else "")

    def label_node(nid, rows, tooltip):
        dot.node(nid, _cells(rows), id=nid, shape="plaintext", margin="0", width="0", height="0",
                 tooltip=plain(tooltip))

    def through(tail, nid, head, arrow=True):
        """A wire from ``tail`` through the label ``nid`` to ``head``."""
        dot.edge(tail, nid, id=f"{nid}_a", arrowhead="none")
        dot.edge(nid, head, id=f"{nid}_b", **({} if arrow else {"arrowhead": "none"}))

    def name_row(t):
        return [(labels[id(t)], GREY, small)] if t._ctx is not None and t is not output else []

    # the nodes: inputs by name, constants as small grey circles, gates as circles with their symbol
    for t in g.order:
        if id(t) not in g.drawn:
            continue
        nid = g.node_id(t)
        if t._ctx is None:
            if g.is_input(t):
                dot.node(nid, plain(labels[id(t)]), id=nid, shape="plaintext", tooltip=plain(labels[id(t)]))
            else:
                dot.node(nid, plain(wire_text(t._data)), id=nid, shape="circle", style="filled", fillcolor="#e6e6e6",
                         color="#999999", fontsize=f"{fs * 0.7:g}", width=f"{0.3 * scale:g}", margin="0.02",
                         tooltip=plain(f"constant {hover_text(t._data)}"))
            continue
        sym = GATE_SYMBOLS.get(t._ctx.name, t._ctx.name.lower())
        dot.node(nid, plain(sym), id=nid, shape="circle", style="filled", fillcolor="#fff2cc", color="#b58900",
                 width=f"{0.6 * scale:g}", fixedsize="true" if len(sym) <= 2 else "false",
                 tooltip=plain(f"{t._ctx.name.lower()} gate: {about(t)}"))
    dot.node("out", plain(labels.get(id(output), "f")), id="out", shape="plaintext")

    # the wires
    for t in g.order:
        if id(t) not in g.drawn:
            continue
        src = g.node_id(t)
        wires = [(o, i, g.node_id(o), g.wire_id(t, o, i)) for o, i in g.uses.get(id(t), ())]
        if t is output:
            wires.append((None, 0, "out", "wout"))
        if not wires:
            continue
        value = (wire_text(t._data), GREEN, fs * 0.85)
        grads = g.shares(t) if show_grad else [None] * len(wires)
        if t._ctx is None and not g.is_input(t):  # a constant: its value is its node; no gradient
            for o, i, head, wid in wires:
                dot.edge(src, head, id=wid)
            continue
        if len(wires) == 1:
            (o, i, head, wid), grad = wires[0], grads[0]
            rows = name_row(t) + [value] + ([(wire_text(grad), RED, fs * 0.85)] if grad is not None else [])
            label_node(wid, rows, tip(t, grad))
            through(src, wid, head)
            continue
        total = t._grad if show_grad and t.requires_grad else None
        known = total is not None and all(x is not None for x in grads)
        if known:  # this pass's gradient (a leaf's .grad may hold earlier passes' too)
            total = sum(np.asarray(x) for x in grads)
        rows = name_row(t) + [value]
        if total is not None:
            rows.append((sum_text(grads, total) if known else wire_text(total), RED, fs * 0.85))
        stem = g.stem_id(t)
        label_node(stem, rows, tip(t, total, f"\nused by {len(wires)} wires: gradients add at a fork"))
        dot.edge(src, stem, id=f"{stem}_a", arrowhead="none")
        for (o, i, head, wid), grad in zip(wires, grads):
            share = (wire_text(grad), RED, fs * 0.85) if grad is not None else (" ", RED, fs * 0.85)
            via = f" into {labels.get(id(o), 'f')}" if o is not None else " out"
            label_node(wid, [share], f"the gradient along {name_of(t)}'s wire{via}" +
                       (f"\n{hover_text(grad)}" if grad is not None else ""))
            through(stem, wid, head)
    return dot, g
