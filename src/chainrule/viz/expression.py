"""A small expression language for ``chainrule graph``: numbers, variables, + - * / **, unary
minus, parentheses, and exp log sqrt tanh sigmoid relu max min abs.

The text is parsed by Python's ``ast`` and walked against an allowlist; it is never passed to
``eval``, so ``__import__('os').system('...')`` is refused before anything runs. Every
sub-expression becomes a tensor named after its own text, so drawings and narrations read
``x + y`` rather than ``t1``.
"""
from __future__ import annotations

import ast
import math

import numpy as np

from chainrule import ops
from chainrule.creation import tensor
from chainrule.tensor import Tensor


class ExpressionError(ValueError):
    """The expression cannot be parsed or evaluated; the message says where and why."""


FUNCTIONS = {"exp": ops.exp, "log": ops.log, "sqrt": ops.sqrt, "tanh": ops.tanh, "sigmoid": ops.sigmoid,
             "relu": ops.relu, "abs": ops.abs, "max": ops.maximum, "min": ops.minimum}
ARITY = {"max": 2, "min": 2}
BINARY = {ast.Add: ops.add, ast.Sub: ops.sub, ast.Mult: ops.mul, ast.Div: ops.div, ast.Pow: ops.pow}


def parse(text: str) -> ast.Expression:
    """Parse and check ``text`` against the allowlist (no evaluation)."""
    if len(text) > 2000:
        raise ExpressionError("the expression is too long (over 2000 characters)")
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"syntax error at column {e.offset}: {text!r}") from None
    for node in ast.walk(tree):
        ok = isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.USub, ast.UAdd)) \
            or type(node) in BINARY
        if isinstance(node, ast.Constant):
            ok = type(node.value) in (int, float)
        if isinstance(node, ast.Call):
            ok = isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS and not node.keywords
            if not ok:
                what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise ExpressionError(f"{what!r} is not an allowed function; use one of {', '.join(FUNCTIONS)}")
            if len(node.args) != ARITY.get(node.func.id, 1):
                raise ExpressionError(f"{node.func.id}() takes {ARITY.get(node.func.id, 1)} argument(s), "
                                      f"got {len(node.args)}")
        if isinstance(node, ast.Name) and (node.id.startswith("_") or node.id in FUNCTIONS) and \
                not _is_call_name(tree, node):
            raise ExpressionError(f"{node.id!r} is not allowed as a variable name")
        if not ok:
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression "
                                  f"(only numbers, variables, + - * / **, parentheses and {', '.join(FUNCTIONS)})")
    return tree


def _is_call_name(tree, name_node) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name_node for n in ast.walk(tree))


def evaluate(text: str, values: dict, dtype="float64") -> tuple:
    """Build the graph of ``text`` with the given variable values.

    Returns (output tensor, {variable: leaf tensor}). Variables are leaves that require grad;
    every intermediate tensor is named after its sub-expression.
    """
    tree = parse(text)
    used = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not _is_call_name(tree, n)})
    missing = [v for v in used if v not in values]
    if missing:
        raise ExpressionError(f"undefined variable(s) {', '.join(missing)}: give a value like {missing[0]}=1.5")
    leaves = {v: tensor(float(values[v]), dtype=dtype, requires_grad=True, name=v) for v in used}

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return leaves[node.id]
        if isinstance(node, ast.UnaryOp):
            x = walk(node.operand)
            out = ops.neg(x) if isinstance(node.op, ast.USub) else x
        elif isinstance(node, ast.BinOp):
            a, b = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and float(np.asarray(b._data if isinstance(b, Tensor) else b)) == 0:
                raise ExpressionError(f"division by zero in {ast.unparse(node)}")
            if not isinstance(a, Tensor) and not isinstance(b, Tensor):
                a = tensor(a, dtype=dtype)
            out = BINARY[type(node.op)](a, b)
        else:  # a call
            fname = node.func.id
            args = [walk(a) for a in node.args]
            args = [a if isinstance(a, Tensor) else tensor(a, dtype=dtype) for a in args]
            v = args[0]._data
            if fname == "log" and v <= 0:
                raise ExpressionError(f"log of {v:g} in {ast.unparse(node)}: log needs a positive argument")
            if fname == "sqrt" and v < 0:
                raise ExpressionError(f"sqrt of {v:g} in {ast.unparse(node)}: sqrt needs a non-negative argument")
            out = FUNCTIONS[fname](*args)
        if isinstance(out, Tensor):
            if not math.isfinite(float(out._data)):
                raise ExpressionError(f"{ast.unparse(node)} is {float(out._data)} (overflow or an undefined power)")
            if out.name is None and out._ctx is not None and node is not tree.body:
                out.name = ast.unparse(node)  # the output stays unnamed: drawings call it f
        return out

    with np.errstate(all="ignore"):
        out = walk(tree)
    if not isinstance(out, Tensor) or not out.requires_grad:
        raise ExpressionError("the expression has no variables to differentiate")
    return out, leaves


def parse_assignments(items) -> dict:
    """``["x=-2", "y=5"]`` -> {"x": -2.0, "y": 5.0}, with a clear error for anything else."""
    values = {}
    for item in items:
        name, sep, val = item.partition("=")
        if not sep or not name.isidentifier():
            raise ExpressionError(f"{item!r}: give variable values as name=number, like x=-2")
        try:
            values[name] = float(val)
        except ValueError:
            raise ExpressionError(f"{item!r}: {val!r} is not a number") from None
    return values
