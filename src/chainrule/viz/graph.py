"""Drawing the computational graph with Graphviz: tensors as boxes, ops as circles, left to right.

Each tensor box shows its name (t1, t2, ... for intermediates; the sub-expression on hover), its
forward value (scalars and small tensors) or shape and dtype (large ones), and, after backward,
its gradient, from the engine's own numbers. Where a tensor feeds several ops, each of those edges
runs through a small red label, the gradient flowing back along it, and the box writes the sum out
(``grad 2 + -0.006976 = 1.993``). The lecture-style drawing is in :mod:`chainrule.viz.wires`.
"""
from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from chainrule.tensor import Tensor
from chainrule.viz.flow import edge_flows
from chainrule.viz.names import formulas, names_for, node_names
from chainrule.viz.summary import summarize
from chainrule.viz.wires import RED, WireGraph, draw_lecture, plain, sum_text

OP_SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Neg": "-", "Pow": "**", "Matmul": "@",
              "Maximum": "max", "Minimum": "min", "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Abs": "abs",
              "Tanh": "tanh", "Sigmoid": "σ", "ReLU": "relu", "Linear": "linear", "CrossEntropy": "softmax\nloss",
              "MulticlassSVM": "svm\nloss", "Sum": "sum", "Mean": "mean", "Amax": "max", "Amin": "min"}
INSTALL_DOT = ("the Graphviz program 'dot' is needed to render drawings; install it with "
               "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or from graphviz.org. "
               "The DOT source can still be written with .source or save()")


def _fmt(a: np.ndarray, digits: int = 4) -> str:
    if a.ndim == 0:
        return f"{a.item():.{digits}g}"
    return np.array2string(a, precision=digits - 1, separator=", ", suppress_small=True, max_line_width=40)


def describe(a, small: int = 9) -> str:
    """A value as the drawing shows it: the numbers if few, else shape and dtype."""
    a = np.asarray(a)
    return _fmt(a) if a.size <= small else f"{a.shape} {a.dtype}"


def draw_graph(output: Tensor, show_grad: bool = True, names=None, model=None, max_nodes: int = 300,
               small: int = 9, title: str | None = None, style: str = "boxes", scale: float = 1.0):
    """The graph that produced ``output`` as a ``graphviz.Digraph`` (renders inline in Jupyter;
    ``.render()``/``.pipe()`` write SVG or PNG).

    Gradients are drawn only when they belong to this graph's backward pass (``output`` has been
    backpropagated); gradients left in parameters from an earlier step are not shown. Long runs
    of a repeated op or layer are collapsed into one node that says what was left out.

    Args:
        output (Tensor): the result whose graph to draw (before or after backward()).
        show_grad (bool, True): add each tensor's gradient (after backward()).
        names (dict, None): variable names for tensors, e.g. ``locals()``.
        model (Module, None): label its parameters with their dotted names.
        max_nodes (int, 300): draw at most this many tensors and say how many were left out.
        small (int, 9): show values of tensors with at most this many elements, else shape and dtype.
        style (str, "boxes"): "boxes" (tensors as boxes, ops as circles) or "lecture" (gates as
            circles, values above the wires in green, gradients below in red).
        scale (float, 1.0): size of text, nodes and so of rendered pictures (2.0: twice as large).

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(-2.0, requires_grad=True, name="x")
        >>> f = x * x
        >>> f.backward()
        >>> "grad -4" in cr.viz.draw_graph(f).source
        True
    """
    try:
        import graphviz
    except ImportError:
        raise ImportError("graph drawings need the graphviz package: pip install graphviz "
                          "(and the Graphviz program: apt-get install graphviz)") from None
    if style not in ("boxes", "lecture"):
        raise ValueError(f"draw_graph: style must be 'boxes' or 'lecture', got {style!r}")
    if not scale > 0:
        raise ValueError(f"draw_graph: scale must be positive, got {scale}")
    lookup = names_for(output, names, model)
    tensors, hidden, truncated = summarize(output, max_nodes)
    labels = node_names(output, tensors, lookup)
    show_grad = show_grad and output._grad is not None  # no gradients from an earlier backward
    flows = edge_flows(output) if show_grad else None
    if style == "lecture":
        dot, ids = draw_lecture(output, tensors, labels, show_grad, scale, title, flows)
        _add_summaries(dot, hidden, truncated, max_nodes, ids.node_id, ids.node_id)
        return dot
    wires = WireGraph(output, tensors, labels, flows)
    exprs = formulas(tensors, labels)
    # sizes in points, scaled (Graphviz's dpi setting would clip SVG output)
    dot = graphviz.Digraph(graph_attr={"rankdir": "LR", "fontsize": f"{18 * scale:g}", "label": plain(title or ""),
                                       "labelloc": "t", "fontname": "Helvetica", "ranksep": f"{0.18 * scale:g}",
                                       "nodesep": f"{0.15 * scale:g}"},
                           node_attr={"fontname": "Helvetica", "fontsize": f"{14 * scale:g}", "margin": "0.05,0.02"},
                           edge_attr={"arrowsize": f"{scale:g}", "penwidth": f"{scale:g}"})

    def tensor_label(t: Tensor) -> str:
        name = labels.get(id(t), "")
        lines = [name] if name else []
        shown = t._data.size <= small or t._data.size == 1 or not name
        lines.append(describe(t._data, max(small, 1)) if shown else describe(t._data, 0))
        if show_grad and t._grad is not None:
            grad = describe(t._grad, max(small, 1))
            shares = wires.shares(t)
            if len(shares) > 1 and t._grad.size == 1 and all(x is not None for x in shares):
                # gradients add at a fork (this pass's: a leaf's .grad may hold earlier ones too)
                grad = sum_text(shares, sum(np.asarray(x) for x in shares), lambda a: describe(a, 1))
            lines.append("grad " + grad)
        return "\n".join(lines)

    drawn = {id(t) for t in tensors}
    for t in tensors:
        if id(t) in labels:  # constants are drawn beside the op that uses them
            color = "#d8ecff" if t._ctx is None else "#ffffff"
            tip = f"{labels[id(t)]} = {exprs[id(t)]}" if id(t) in exprs else labels[id(t)]
            dot.node(f"t{id(t)}", plain(tensor_label(t)), shape="box", style="rounded,filled", fillcolor=color,
                     tooltip=plain(tip))
        fn = t._ctx
        if fn is None:
            continue
        op = f"f{id(fn)}"
        dot.node(op, plain(OP_SYMBOLS.get(fn.name, fn.name.lower())), shape="circle", style="filled",
                 fillcolor="#fff2cc", width=f"{0.4 * scale:g}", margin="0.02")
        dot.edge(op, f"t{id(t)}")
        for i, p in enumerate(fn.parents):
            if id(p) not in labels and id(p) not in hidden.ids:
                # a constant: drawn once per use so that shared constants do not tangle the drawing
                c = f"c{id(p)}_{id(fn)}_{i}"
                dot.node(c, plain(describe(p._data, small)), shape="plaintext")
                dot.edge(c, op)
            elif id(p) in drawn and show_grad and wires.forks(p):
                # one wire of several: what flows back along it, on the wire itself
                share = wires.flow(p, t, i)
                w = f"e{id(p)}_{id(t)}_{i}"
                dot.node(w, plain(describe(share, max(small, 1)) if share is not None else " "), shape="plaintext",
                         fontcolor=RED, fontsize=f"{16 * scale:g}", margin="0", width="0", height="0")
                dot.edge(f"t{id(p)}", w, arrowhead="none")
                dot.edge(w, op)
            elif id(p) in drawn:
                dot.edge(f"t{id(p)}", op)
    _add_summaries(dot, hidden, truncated, max_nodes, lambda t: f"t{id(t)}", lambda t: f"f{id(t._ctx)}")
    return dot


def _add_summaries(dot, hidden, truncated, max_nodes, node_of, op_of) -> None:
    """Draw each collapsed run as one dashed node between the tensors it joins, and the cap's note."""
    for k, run in enumerate(hidden):
        dot.node(f"run{k}", plain(run.text.replace(": ", ":\n", 1)), id=f"run{k}", shape="box", style="dashed,rounded")
        dot.edge(node_of(run.below), f"run{k}", style="dashed")
        dot.edge(f"run{k}", op_of(run.above), style="dashed")
    if truncated:
        dot.node("more", plain(f"... {truncated} more tensors not drawn (max_nodes={max_nodes})"), shape="note")


DOT_TIMEOUT = 30.0        # seconds 'dot' may run before it is stopped
# nodes + edges beyond which 'dot' is not started: its layout time grows steeply (on a 2-core
# machine: 270 statements 0.2 s, 550 4 s, 1100 47 s)
DOT_MAX_STATEMENTS = 600


def _die_with_parent():
    """In the child, before exec: ask Linux to kill it when chainrule dies (even by SIGKILL)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        pass


def run_dot(source: str, fmt: str, timeout: float = DOT_TIMEOUT) -> bytes:
    """``dot -T<fmt>`` on ``source``: stopped after ``timeout`` seconds, and killed with chainrule
    (Ctrl-C, an exception, or, on Linux, the death of the process)."""
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(INSTALL_DOT)
    try:
        p = subprocess.run([exe, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=timeout,
                           preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Graphviz 'dot' did not finish within {timeout:g} s and was stopped; draw a smaller "
                           f"expression, or render the .dot file yourself: dot -T{fmt} FILE.dot -o FILE.{fmt}") from None
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"Graphviz 'dot' failed ({err[0] if err else f'exit {p.returncode}'})")
    return p.stdout


def render(dot, path, timeout: float = DOT_TIMEOUT) -> str:
    """Write the drawing to ``path``: .dot/.gv writes the source (no Graphviz program needed),
    .svg/.png/.pdf render it with 'dot' (within ``timeout`` seconds; graphs of more than
    ``DOT_MAX_STATEMENTS`` nodes and edges are refused). Returns the path written."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt in ("dot", "gv"):
        path.write_text(dot.source)
        return str(path)
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"{path}: choose an output ending in .svg, .png, .pdf or .dot")
    size = len(getattr(dot, "body", ()))
    if size > DOT_MAX_STATEMENTS:
        raise RuntimeError(f"the graph has {size} nodes and edges, more than the {DOT_MAX_STATEMENTS} Graphviz lays "
                           f"out in seconds; render the .dot file yourself (it may take minutes): "
                           f"dot -T{fmt} FILE.dot -o FILE.{fmt}")
    path.write_bytes(run_dot(dot.source, fmt, timeout))
    return str(path)
