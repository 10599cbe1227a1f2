"""The graph as the lecture draws it: gates as circles, values on the wires.

Each wire carries a tensor from where it was made (an input, a constant or a gate) into the gate
that uses it; its forward value is written above the wire in green and, after backward(), its
gradient below in red. Inputs are plain names, constants small grey nodes of their own, unary
minus the gate ``neg``; a gate's full expression shows on hover (an SVG tooltip). Tensors that
are not scalars show their shape on the wire and their numbers on hover.

Every node and wire has a stable SVG id (``g<k>`` gates, ``v<k>`` inputs, ``c<k>`` constants,
``w<k>_<j>`` the wire from tensor k into gate j, ``wout`` the output's wire) so that the HTML
stepper can reveal values and highlight wires one step at a time.
"""
from __future__ import annotations

import html

import numpy as np

from chainrule.tensor import Tensor

GREEN, RED = "#1a7f37", "#cf222e"
GATE_SYMBOLS = {"Add": "+", "Sub": "−", "Mul": "×", "Div": "÷", "Neg": "neg", "Pow": "^", "Matmul": "@",
                "Maximum": "max", "Minimum": "min", "Exp": "exp", "Log": "log", "Sqrt": "√", "Abs": "abs",
                "Tanh": "tanh", "Sigmoid": "σ", "ReLU": "relu", "Linear": "linear", "CrossEntropy": "softmax\nloss",
                "MulticlassSVM": "svm\nloss", "Sum": "sum", "Mean": "mean", "Amax": "max", "Amin": "min"}


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


def hover_text(a: np.ndarray) -> str:
    a = np.asarray(a)
    return np.array2string(a, precision=3, separator=", ", suppress_small=True, max_line_width=60, threshold=60)


class WireGraph:
    """The lecture drawing's structure: which tensors are inputs, constants and gates, and ids."""

    def __init__(self, output: Tensor, tensors: list, labels: dict):
        self.output = output
        made = [t for t in tensors if t._ctx is not None]
        made.sort(key=lambda t: t._ctx.seq)
        first_use = {}
        for t in made:  # inputs in the order the computation first used them
            for i, p in enumerate(t._ctx.parents):
                first_use.setdefault(id(p), (t._ctx.seq, i))
        leaves = sorted((t for t in tensors if t._ctx is None), key=lambda t: first_use.get(id(t), (0, 0)))
        self.order = leaves + made                      # the forward order: inputs, then gates as run
        self.index = {id(t): k for k, t in enumerate(self.order)}
        self.labels = labels
        self.drawn = {id(t) for t in tensors}

    def is_input(self, t) -> bool:
        return t._ctx is None and id(t) in self.labels

    def node_id(self, t) -> str:
        k = self.index[id(t)]
        if t._ctx is not None:
            return f"g{k}"
        return f"v{k}" if self.is_input(t) else f"c{k}"

    def wire_id(self, t, fn_out) -> str:
        return f"w{self.index[id(t)]}_{self.index[id(fn_out)]}"


def draw_lecture(output: Tensor, tensors: list, labels: dict, show_grad: bool, scale: float = 1.0,
                 title: str | None = None, wire_grads: dict | None = None):
    """The lecture-style drawing: (``graphviz.Digraph``, its :class:`WireGraph` of ids).

    ``wire_grads`` maps a wire id to the gradient flowing along that wire (the stepper passes
    each edge's own share); without it a wire shows its tensor's gradient.
    """
    import graphviz
    g = WireGraph(output, tensors, labels)
    fs = 18 * scale
    dot = graphviz.Digraph(graph_attr={"rankdir": "LR", "fontsize": f"{fs:g}", "label": title or "",
                                       "labelloc": "t", "fontname": "Helvetica", "nodesep": "0.35",
                                       "ranksep": f"{0.9 * scale:g}", "bgcolor": "white"},
                           node_attr={"fontname": "Helvetica", "fontsize": f"{fs:g}"},
                           edge_attr={"fontname": "Helvetica", "fontsize": f"{fs * 0.85:g}", "arrowsize": "0.7"})

    def full_expr(t) -> str:
        return t.name or labels.get(id(t)) or ""

    def wire(t, head, wid):
        value = wire_text(t._data)
        rows = [f'<font color="{GREEN}">{html.escape(value)}</font>']
        grad = None
        if show_grad:
            grad = (wire_grads or {}).get(wid, t._grad if t.requires_grad else None)
        if grad is not None:
            rows.append(f'<font color="{RED}">{html.escape(wire_text(grad))}</font>')
        else:
            rows.append(" ")
        tip = f"value {hover_text(t._data)}" + (f"\ngradient {hover_text(grad)}" if grad is not None else "")
        name = labels.get(id(t))
        if name and t._data.size > 1:
            tip = f"{name}: {tip}"
        dot.edge(g.node_id(t), head, id=wid, label="<" + "<br/>".join(rows) + ">", labeltooltip=tip,
                 tooltip=tip, penwidth=f"{1.4 * scale:g}")

    for t in g.order:
        if id(t) not in g.drawn:
            continue
        nid = g.node_id(t)
        if t._ctx is None:
            if g.is_input(t):
                dot.node(nid, labels[id(t)], id=nid, shape="plaintext", tooltip=labels[id(t)])
            else:
                dot.node(nid, wire_text(t._data), id=nid, shape="circle", style="filled", fillcolor="#e6e6e6",
                         color="#999999", fontsize=f"{fs * 0.7:g}", width=f"{0.3 * scale:g}",
                         fixedsize="false", margin="0.02", tooltip=f"constant {hover_text(t._data)}")
            continue
        fn = t._ctx
        sym = GATE_SYMBOLS.get(fn.name, fn.name.lower())
        expr = full_expr(t)
        dot.node(nid, sym, id=nid, shape="circle", style="filled", fillcolor="#fff2cc", color="#b58900",
                 width=f"{0.6 * scale:g}", fixedsize="true" if len(sym) <= 2 else "false",
                 tooltip=f"{fn.name.lower()}: {expr}" if expr else fn.name.lower())
        for p in fn.parents:
            if id(p) in g.drawn:
                wire(p, nid, g.wire_id(p, t))
    out_name = labels.get(id(output), "f")
    dot.node("out", out_name, id="out", shape="plaintext")
    wire(output, "out", "wout")
    return dot, g
