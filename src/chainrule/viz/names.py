"""The names drawings, narrations and the stepper share: a tensor's own or given name, t1, t2, ...
for unnamed intermediates in the order they were computed, f (or out) for the output, and for
each intermediate its whole sub-expression (for tooltips and legends)."""
from __future__ import annotations

import numpy as np

from chainrule.tensor import Tensor

SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "**", "Matmul": "@"}
FUNCTION_NAMES = {"Maximum": "max", "Minimum": "min"}
FORMULA_LIMIT = 80  # characters of a sub-expression written out in full; a longer part goes by its name


def names_for(output: Tensor, names=None, model=None) -> dict:
    """id(tensor) -> label: the tensor's own ``name``, a name from ``names`` (e.g. ``locals()``),
    or a module parameter's dotted name (``0.weight``)."""
    out = {}
    if model is not None:
        for n, p in model.named_parameters():
            out[id(p)] = n
    for n, v in (names or {}).items():
        if isinstance(v, Tensor) and not n.startswith("_"):
            out.setdefault(id(v), n)
    return out


def label_of(t: Tensor, names: dict, fallback: str) -> str:
    return t.name or names.get(id(t)) or fallback


def node_names(output: Tensor, tensors, lookup: dict) -> dict:
    """id(tensor) -> the label drawings and narrations share: a tensor's own or given name;
    unnamed intermediates t1, t2, ... in the order they were computed (skipping numbers a given
    name already uses); the output f (a scalar) or out. Constants and unnamed leaves that need no
    gradient get none."""
    labels = {}
    for t in tensors:
        if t._ctx is None and (t.name or id(t) in lookup or t.requires_grad):
            labels[id(t)] = label_of(t, lookup, "leaf")
    labels[id(output)] = label_of(output, lookup, "f" if output._data.size == 1 else "out")
    given = {label_of(t, lookup, "") for t in tensors}
    k = 0
    for t in sorted((t for t in tensors if t._ctx is not None and t is not output), key=lambda t: t._ctx.seq):
        name = label_of(t, lookup, "")
        if not name:
            k += 1
            while f"t{k}" in given:
                k += 1
            name = f"t{k}"
        labels[id(t)] = name
    return labels


def constant_text(t: Tensor) -> str:
    a = np.asarray(t._data)
    return f"{a.item():.4g}" if a.size == 1 else f"const{tuple(a.shape)}"


PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "neg": 3, "**": 4}
ATOM = 5


def _compose(fn, parts: list) -> tuple:
    """(text, precedence) of the op applied to its inputs' (text, precedence), with the
    parentheses the precedences need: ``a * (b + c)``, ``-x ** 2``, ``max(a, b)``."""
    sym = SYMBOLS.get(fn.name)
    if sym and len(parts) == 2:
        p = PRECEDENCE[sym]
        (a, pa), (b, pb) = parts
        left = f"({a})" if pa < p or (sym == "**" and pa == p) else a
        right = f"({b})" if pb < p or (pb == p and sym in ("-", "/", "@")) else b
        return f"{left} {sym} {right}", p
    if fn.name == "Neg" and len(parts) == 1:
        a, pa = parts[0]
        return (f"-({a})" if pa < PRECEDENCE["neg"] else f"-{a}"), PRECEDENCE["neg"]
    return f"{FUNCTION_NAMES.get(fn.name, fn.name.lower())}({', '.join(a for a, _ in parts)})", ATOM


def _atom(text: str) -> tuple:
    return text, (ATOM if " " not in text else 0)


def written(fn, part) -> str:
    """The op as an expression of its inputs, each written by ``part(tensor)``: ``a * b``, ``-a``,
    ``max(a, b)``, ``tanh(a)``."""
    return _compose(fn, [_atom(part(p)) for p in fn.parents])[0]


def formulas(tensors, labels: dict, limit: int = FORMULA_LIMIT) -> dict:
    """id(tensor) -> its whole sub-expression in the names of the inputs (``tanh(x * y)``), for
    every computed tensor; a part longer than ``limit`` characters is written by its name, so each
    text stays short and the whole costs time linear in the graph."""
    out: dict = {}

    def part(p) -> tuple:
        if p._ctx is None:
            return _atom(labels.get(id(p)) or constant_text(p))
        s = out.get(id(p))
        return s if s is not None and len(s[0]) <= limit else _atom(labels.get(id(p), "?"))

    for t in sorted((t for t in tensors if t._ctx is not None), key=lambda t: t._ctx.seq):
        out[id(t)] = _compose(t._ctx, [part(p) for p in t._ctx.parents])
    return {k: text for k, (text, _) in out.items()}
