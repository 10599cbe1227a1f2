"""Large graphs, summarized: a long run of one repeated op or layer (a 3000-step chain, a deep
stack of Linear -> ReLU blocks) is drawn as its first and last repetition around one node that
says what was left out, so that a drawing stays readable and keeps a sensible aspect ratio."""
from __future__ import annotations

from dataclasses import dataclass, field

from chainrule.tensor import Tensor
from chainrule.viz.walk import collect


@dataclass
class Run:
    """A collapsed run: ``above``'s op consumed the run's top, ``below`` fed its bottom."""
    above: Tensor
    below: Tensor
    count: int
    text: str


@dataclass
class Hidden:
    runs: list = field(default_factory=list)
    ids: set = field(default_factory=set)

    def __iter__(self):
        return iter(self.runs)

    def __len__(self):
        return len(self.runs)

    def run_into(self, fn):
        """The run whose top feeds op ``fn``, if any."""
        for r in self.runs:
            if r.above._ctx is fn:
                return r
        return None


def spine(output: Tensor) -> list:
    """The chain of op outputs from ``output`` down, as long as each op has one input made by an op."""
    out, t = [output], output
    while t._ctx is not None:
        made = [p for p in t._ctx.parents if p._ctx is not None]
        if len(made) != 1:
            break
        t = made[0]
        out.append(t)
    return out[:-1] if out[-1]._ctx is None else out


def longest_repeat(names: list, periods=(1, 2, 3), min_repeats: int = 4):
    """(start, end, period) of the longest stretch of ``names`` that repeats with a period, or None."""
    best = None
    n = len(names)
    for p in periods:
        i = 0
        while i < n:
            j = i
            while j + p < n and names[j + p] == names[j]:
                j += 1
            length = j - i + p
            if length >= min_repeats * p and (best is None or length > best[1] - best[0]):
                best = (i, i + length - (length % p), p)
            i = j + 1
    return best


def summarize(output: Tensor, max_nodes: int = 300):
    """(tensors to draw, Hidden runs, how many tensors the ``max_nodes`` cap left out)."""
    chain = spine(output)
    hidden = Hidden()
    if len(chain) >= 8:
        rep = longest_repeat([t._ctx.name for t in chain])
        if rep is not None:
            start, end, p = rep
            a, b = start + p, end - p  # keep the first and the last repetition
            if b - a >= p and b < len(chain):
                gone = chain[a:b]
                pattern = ", ".join(t._ctx.name.lower() for t in reversed(chain[start:start + p]))
                what = f"({pattern}) x {len(gone) // p}" if p > 1 else f"{pattern} x {len(gone)}"
                text = f"... {len(gone)} ops collapsed: {what} (a repeated {'layer' if p > 1 else 'op'})"
                hidden.runs.append(Run(chain[a - 1], chain[b], len(gone), text))
                hidden.ids.update(id(t) for t in gone)
    order, truncated = collect(output, max_nodes, hidden)
    return order, hidden, truncated
