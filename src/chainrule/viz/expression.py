"""A small expression language for ``chainrule graph``: numbers, variables, + - * / ** (or ^),
unary minus and plus, parentheses, and exp log sqrt tanh sigmoid relu max min abs.

The text is read by a parser of its own (never ``eval``, never Python's ``ast``): a tokenizer and
one operator-precedence pass with explicit stacks, so that time is linear in the length and no
nesting depth can reach Python's recursion limit. Anything outside the grammar is refused with the
column where it stands. Intermediate tensors stay unnamed: drawings and narrations call them t1,
t2, ... and show their sub-expressions on hover.
"""
from __future__ import annotations

import math
import re

import numpy as np

from chainrule import ops
from chainrule.creation import tensor
from chainrule.tensor import Tensor


class ExpressionError(ValueError):
    """The expression cannot be parsed or evaluated; the message says where and why."""


FUNCTIONS = {"exp": ops.exp, "log": ops.log, "sqrt": ops.sqrt, "tanh": ops.tanh, "sigmoid": ops.sigmoid,
             "relu": ops.relu, "abs": ops.abs, "max": ops.maximum, "min": ops.minimum}
ARITY = {"max": 2, "min": 2}
BINARY = {"+": ops.add, "-": ops.sub, "*": ops.mul, "/": ops.div, "**": ops.pow}
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "u": 3, "**": 4}  # u: unary minus or plus
MAX_LENGTH = 2000
TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[^\W\d]\w*)|"
                   r"(?P<op>\*\*|[-+*/^])|(?P<open>\()|(?P<close>\))|(?P<comma>,))")
ALLOWED = f"only numbers, variables, + - * / ** ^, parentheses and {', '.join(FUNCTIONS)}"


def tokens(text: str) -> list:
    """[(kind, text, column)] with 1-based columns, ending with ("end", "", column after the text)."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is too long ({len(text)} characters, at most {MAX_LENGTH})")
    out, pos = [], 0
    end = len(text.rstrip())
    while pos < end:
        m = TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            col = len(text) - len(text[pos:].lstrip()) + 1
            raise ExpressionError(f"syntax error at column {col}: {bad!r} is not allowed ({ALLOWED})")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    out.append(("end", "", end + 1))
    return out


def _describe(tok) -> str:
    return "the end of the expression" if tok[0] == "end" else repr(tok[1])


def variables(toks: list) -> list:
    """The variable names the expression uses (names not followed by '('), in order of first use."""
    seen = {}
    for k, (kind, text, col) in enumerate(toks):
        if kind == "name" and toks[k + 1][0] != "open":
            if text.startswith("_") or text in FUNCTIONS:
                raise ExpressionError(f"{text!r} is not allowed as a variable name (column {col})")
            seen.setdefault(text, col)
        elif kind == "name" and text not in FUNCTIONS:
            raise ExpressionError(f"{text!r} is not an allowed function (column {col}); use one of "
                                  f"{', '.join(FUNCTIONS)}")
    return list(seen)


def parse(text: str) -> list:
    """Check ``text`` against the grammar and return it as a program in postfix order: a list of
    (kind, argument, start, end) with kind "num", "var", "neg", "pos", "bin" or "call" and the span
    of the text each step computes (nothing is evaluated)."""
    toks = tokens(text)
    variables(toks)
    return _Parser(toks).run()


def evaluate(text: str, values: dict, dtype="float64") -> tuple:
    """Build the graph of ``text`` with the given variable values.

    Returns (output tensor, {variable: leaf tensor}). Variables are leaves that require grad. Every
    variable must be given a value, and every value given must be used.

    Example:
        >>> f, leaves = evaluate("(x + y) * z", {"x": -2, "y": 5, "z": -4})
        >>> f.item(), leaves["x"].requires_grad
        (-12.0, True)
    """
    toks = tokens(text)
    used = variables(toks)
    program = _Parser(toks).run()
    missing = [v for v in used if v not in values]
    if missing:
        raise ExpressionError(f"undefined variable(s) {', '.join(missing)}: give a value like {missing[0]}=1.5")
    unused = [v for v in values if v not in used]
    if unused:
        raise ExpressionError(f"{', '.join(f'{v}={values[v]:g}' for v in unused)}: not used by the expression "
                              f"{text.strip()!r} (its variables: {', '.join(used) or 'none'})")
    leaves = {v: tensor(float(values[v]), dtype=dtype, requires_grad=True, name=v) for v in used}
    with np.errstate(all="ignore"):
        out = _run(program, text, leaves, dtype)
    if not isinstance(out, Tensor) or not out.requires_grad:
        raise ExpressionError("the expression has no variables to differentiate")
    return out, leaves


def _run(program: list, source: str, leaves: dict, dtype):
    """Evaluate a postfix program on a stack: each step builds one op of the graph."""
    stack: list = []

    def push(out, start, end):
        if isinstance(out, Tensor) and not math.isfinite(float(out._data)):
            raise ExpressionError(f"{_short(source[start:end])} is {float(out._data)} (overflow or an undefined power)")
        stack.append(out)

    for kind, arg, start, end in program:
        if kind == "num":
            stack.append(arg)
        elif kind == "var":
            stack.append(leaves[arg])
        elif kind == "neg":
            v = stack.pop()
            push(ops.neg(v) if isinstance(v, Tensor) else -v, start, end)
        elif kind == "bin":
            b, a = stack.pop(), stack.pop()
            if arg == "/" and float(np.asarray(b._data if isinstance(b, Tensor) else b)) == 0:
                raise ExpressionError(f"division by zero in {_short(source[start:end])}")
            if not isinstance(a, Tensor) and not isinstance(b, Tensor):
                a = tensor(a, dtype=dtype)
            push(BINARY[arg](a, b), start, end)
        elif kind == "call":
            fname, n = arg
            xs = [a if isinstance(a, Tensor) else tensor(a, dtype=dtype) for a in stack[len(stack) - n:]]
            del stack[len(stack) - n:]
            v = float(xs[0]._data)
            if fname == "log" and v <= 0:
                raise ExpressionError(f"log of {v:g} in {_short(source[start:end])}: log needs a positive argument")
            if fname == "sqrt" and v < 0:
                raise ExpressionError(f"sqrt of {v:g} in {_short(source[start:end])}: sqrt needs a non-negative argument")
            push(FUNCTIONS[fname](*xs), start, end)
    return stack[-1]


def _short(part: str) -> str:
    """A part of the expression, shortened for a one-line message."""
    return part if len(part) <= 60 else f"{part[:28]} ... {part[-28:]}"


class _Parser:
    """Operator precedence with explicit stacks (no recursion): the spans of the operands read so
    far, and the operators waiting, as ("bin", op, col), ("u", sign, col) or ("(", col, function)."""

    def __init__(self, toks):
        self.toks = toks
        self.spans: list = []    # (start, end) of each operand read, 0-based, end exclusive
        self.ops: list = []
        self.args: list = []     # for each open '(': how many arguments it has collected
        self.program: list = []

    def run(self) -> list:
        operand = True  # whether an operand (number, variable, call, '(' or a sign) comes next
        toks = self.toks
        k = 0
        while True:
            kind, tok, col = toks[k]
            if operand:
                if kind == "num":
                    v = float(tok)
                    if not math.isfinite(v):
                        raise ExpressionError(f"the number at column {col} ({len(tok)} characters) is too large "
                                              f"for a float")
                    self._emit("num", v, col - 1, col - 1 + len(tok))
                    operand = False
                elif kind == "name" and toks[k + 1][0] == "open":
                    self.ops.append(("(", col, tok))
                    self.args.append(1)
                    k += 1
                    if toks[k + 1][0] == "close":
                        raise ExpressionError(f"{tok}() takes {ARITY.get(tok, 1)} argument(s), got 0 (column {col})")
                elif kind == "name":
                    self._emit("var", tok, col - 1, col - 1 + len(tok))
                    operand = False
                elif kind == "op" and tok in "+-":
                    self.ops.append(("u", tok, col))
                elif kind == "open":
                    self.ops.append(("(", col, None))
                    self.args.append(1)
                else:
                    after = f" after {toks[k - 1][1]!r}" if k else ""
                    raise ExpressionError(f"syntax error at column {col}: expected a number, a variable, a function "
                                          f"or '('{after}, found {_describe(toks[k])}")
            elif kind == "op":
                op = "**" if tok == "^" else tok
                self._reduce(lambda top: PRECEDENCE[top] > PRECEDENCE[op] or
                             (PRECEDENCE[top] == PRECEDENCE[op] and op != "**"))
                self.ops.append(("bin", op, col))
                operand = True
            elif kind in ("close", "comma"):
                self._reduce(lambda top: True)
                if kind == "comma" and (not self.ops or self.ops[-1][2] is None):
                    raise ExpressionError(f"syntax error at column {col}: ',' outside a function's arguments")
                if not self.ops:
                    raise ExpressionError(f"syntax error at column {col}: {tok!r} without a matching '('")
                _, open_col, fname = self.ops[-1]
                if kind == "comma":
                    if fname is None:  # pragma: no cover (refused above)
                        raise ExpressionError(f"syntax error at column {col}: ',' outside a function's arguments")
                    self.args[-1] += 1
                    operand = True
                else:
                    self.ops.pop()
                    n = self.args.pop()
                    if fname is None:
                        self.spans[-1] = (open_col - 1, col)  # the span includes the parentheses
                    else:
                        want = ARITY.get(fname, 1)
                        if n != want:
                            raise ExpressionError(f"{fname}() takes {want} argument(s), got {n} (column "
                                                  f"{open_col})")
                        del self.spans[len(self.spans) - n:]
                        self.spans.append((open_col - 1, col))
                        self.program.append(("call", (fname, n), *self.spans[-1]))
            elif kind == "end":
                self._reduce(lambda top: True)
                if self.ops:
                    raise ExpressionError(f"syntax error at column {self.ops[-1][1]}: this '(' is never closed")
                return self.program
            else:
                raise ExpressionError(f"syntax error at column {col}: expected an operator, ')' or the end, "
                                      f"found {_describe(toks[k])}")
            k += 1

    def _emit(self, kind, arg, start, end) -> None:
        self.spans.append((start, end))
        self.program.append((kind, arg, start, end))

    def _reduce(self, pops) -> None:
        """Apply the operators on the stack (down to the nearest '(') while ``pops(precedence key)``."""
        while self.ops and self.ops[-1][0] != "(":
            kind, sym, col = self.ops[-1]
            if not pops("u" if kind == "u" else sym):
                return
            self.ops.pop()
            if kind == "u":
                start, end = self.spans.pop()
                if sym == "-":
                    self._emit("neg", None, col - 1, end)
                else:
                    self.spans.append((col - 1, end))
            else:
                (_, end), (start, _) = self.spans.pop(), self.spans.pop()
                self._emit("bin", sym, start, end)


def parse_assignments(items) -> dict:
    """``["x=-2", "y=5"]`` -> {"x": -2.0, "y": 5.0}, with a clear error for anything else."""
    values = {}
    for item in items:
        name, sep, val = item.partition("=")
        if not sep or not name.isidentifier():
            raise ExpressionError(f"{item!r}: give variable values as name=number, like x=-2")
        if name in values:
            raise ExpressionError(f"{item!r}: {name} is given twice")
        try:
            values[name] = float(val)
        except ValueError:
            raise ExpressionError(f"{item!r}: {val!r} is not a number") from None
    return values
