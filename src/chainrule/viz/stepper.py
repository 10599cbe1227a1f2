"""The stepper: a backward pass you click through, as one self-contained HTML page.

The page holds the lecture-style drawing (inline SVG from Graphviz), its styles and its script,
and nothing else: it opens from disk with no network and loads nothing from anywhere. It steps
through the forward pass (each value appears on its wire, in the order the engine computed it),
then the backward pass, one edge per step: the gate, its rule in words, the local gradient as the
op states it, and upstream x local = downstream with the numbers, the wire highlighted. Next /
Back / Play / Reset buttons and the arrow keys drive it; a side panel lists the steps so far.
Tensor graphs show shapes on the wires and the vectorized rule at each step, numbers on hover.
"""
from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np

from chainrule.tensor import Tensor
from chainrule.viz.explain import expr, fork_text, local_text, num, rule_words, times, trace
from chainrule.viz.flow import edge_key
from chainrule.viz.graph import INSTALL_DOT
from chainrule.viz.names import formulas
from chainrule.viz.wires import GREEN, RED, draw_lecture, hover_text

MAX_TENSORS = 200


FORWARD = {"Add": "adds its inputs", "Sub": "subtracts its second input from its first", "Mul": "multiplies its inputs",
           "Div": "divides its first input by its second", "Neg": "flips the sign of its input",
           "Maximum": "passes on the larger input", "Minimum": "passes on the smaller input",
           "Exp": "raises e to its input", "Log": "takes the natural logarithm", "Sqrt": "takes the square root",
           "Abs": "takes the absolute value", "Pow": "raises its first input to the power of its second",
           "Tanh": "squashes its input into (-1, 1)", "Sigmoid": "squashes its input into (0, 1): 1/(1 + e^-x)",
           "ReLU": "keeps its input where positive, 0 elsewhere", "Matmul": "multiplies matrices",
           "Linear": "computes x W^T + b", "Sum": "sums its input", "Mean": "averages its input"}


def forward_words(fn) -> str:
    """What a gate computes, in words (the forward pass; the backward rule is the narration's)."""
    return FORWARD.get(fn.name, f"computes {fn.name.lower()} of its input" + ("s" if len(fn.parents) > 1 else ""))


def _value_text(a) -> str:
    a = np.asarray(a)
    return num(a.item()) if a.size == 1 else str(a.shape)


class Stepper:
    """The steps of ``output``'s forward and backward pass and the page that shows them.

    Args:
        output (Tensor): the result to step through (its backward pass is run, from fresh gradients).
        names (dict, None): variable names for tensors, e.g. ``locals()``.
        model (Module, None): label its parameters with their dotted names.
        title (str, None): the page's heading.
        scale (float, 1.0): size of the drawing's text.

    ``steps`` is the list of steps (dicts) the page walks; ``html`` the page; ``save(path)``
    writes it; in Jupyter the object shows itself inline (``_repr_html_``, an isolated iframe).

    Example:
        >>> import chainrule as cr
        >>> x, y, z = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((-2., "x"), (5., "y"), (-4., "z")))
        >>> s = cr.viz.stepper((x + y) * z)
        >>> [st["text"] for st in s.steps if st["kind"] == "backward"]  # the start, then one edge per step
        ['df/df = 1', 'df/dt1 = upstream x local = 1 x -4 = -4', 'df/dz = upstream x local = 1 x 3 = 3', \
'df/dx = upstream x local = -4 x 1 = -4', 'df/dy = upstream x local = -4 x 1 = -4']
    """

    def __init__(self, output: Tensor, names=None, model=None, title: str | None = None, scale: float = 1.0):
        tr = trace(output, names, model)
        if len(tr.tensors) > MAX_TENSORS:
            raise ValueError(f"stepper: the graph has {len(tr.tensors)} tensors; the stepper is for small graphs "
                             f"(at most {MAX_TENSORS}); draw larger ones with draw_graph")
        self.output, self.trace = output, tr
        out_name = tr.labels[id(output)]
        whole = formulas(tr.tensors, tr.labels).get(id(output), "")
        self.title = title or f"{out_name} = {whole or expr(output._ctx, tr.name, tr.raw)}"
        # the gradient each wire carries: the engine's own share for every edge of the walk
        flows = {edge_key(e.parent, e.out, e.index): e.downstream for e in tr.edges}
        self.dot, self.ids = draw_lecture(output, tr.tensors, tr.labels, True, scale, None, flows)
        self.exprs = formulas(tr.tensors, tr.labels)
        self.steps = self._forward_steps(self.ids) + self._backward_steps(self.ids)
        self._html = None

    # ------------------------------------------------------------------ the steps
    def _wires_of(self, ids, t) -> list:
        """The labels that show ``t``'s value: its fork label, or the label of its one wire."""
        if ids.forks(t):
            return [ids.stem_id(t)]
        if t is self.output:
            return ["wout"]
        return [ids.wire_id(t, o, i) for o, i in ids.uses.get(id(t), ())]

    def _forward_steps(self, ids) -> list:
        tr, steps = self.trace, []
        for t in ids.order:
            value = _value_text(t._data)
            if t._ctx is None:
                if ids.is_input(t):
                    lhs, rule = f"input {tr.raw(t)}", "an input: a leaf of the graph"
                else:
                    lhs, rule = "constant", "a constant: a leaf of the graph"
                if ids.is_input(t) and not t.requires_grad:
                    rule += " (not trained)"
            else:
                one = expr(t._ctx, tr.name, tr.raw)
                lhs = f"{tr.raw(t)} = {one}"
                rule = f"{t._ctx.name.lower()} gate: {forward_words(t._ctx)}"
                whole = self.exprs.get(id(t), one)
                if whole != one:
                    rule += f"; {tr.raw(t)} = {whole}"
                if t.name and t.name != tr.raw(t):
                    rule = f"{tr.raw(t)} is {t.name}; {rule}"
            steps.append({"kind": "forward", "node": ids.node_id(t), "wires": self._wires_of(ids, t),
                          "expr": lhs, "text": f"{lhs} = {value}", "rule": rule, "value": value,
                          "hover": hover_text(t._data)})
        return steps

    def _backward_steps(self, ids) -> list:
        tr, out = self.trace, self.output
        name = tr.labels[id(out)]
        g = np.asarray(out._grad)
        steps = [{"kind": "backward", "node": ids.node_id(out), "wire": "wout", "gate": "start",
                  "rule": f"the gradient of {name} with respect to itself is 1",
                  "text": f"d{name}/d{name} = {_value_text(g)}", "upstream": "", "local": "",
                  "downstream": _value_text(g), "hover": hover_text(g), "down_name": f"d{name}/d{name}"}]
        for e in tr.edges:
            scalar = e.scalar and e.local is not None
            down_name = e.down_name + (f" (via {e.via})" if e.via else "")
            step = {"kind": "backward", "node": ids.node_id(e.out), "wire": ids.wire_id(e.parent, e.out, e.index),
                    "gate": f"{e.fn.name.lower()} gate", "rule": rule_words(e.fn), "local_text": local_text(e),
                    "up_name": e.up_name, "down_name": down_name,
                    "upstream": _value_text(e.upstream), "downstream": _value_text(e.downstream),
                    "local": num(e.local.item()) if scalar else
                    (f"{e.up_name} * ({e.formula})" if e.local is not None else e.formula or "from the backward"),
                    "hover": hover_text(e.downstream), "up_hover": hover_text(e.upstream), "vector": not scalar}
            if scalar:
                step["text"] = (f"{down_name} = upstream x local = {step['upstream']} x {step['local']} "
                                f"= {step['downstream']}")
            elif e.local is not None:  # elementwise on a tensor
                step["text"] = f"{down_name} {e.downstream.shape} = {e.up_name} * local, local = {e.formula}"
            else:
                step["text"] = f"{down_name} {e.downstream.shape} = {e.formula or 'from the backward'}"
            steps.append(step)
            fork = tr.fork_after(e)
            if fork:
                steps.append(self._fork_step(ids, e.parent, fork))
        return steps

    def _fork_step(self, ids, parent, edges) -> dict:
        """Gradients add at a fork: the parent's gradient is the sum of its wires'."""
        tr = self.trace
        total = np.asarray(parent._grad)
        n = len(edges)
        terms = " + ".join(f"{_value_text(e.downstream)} (via {e.via})" for e in edges)
        branches = [ids.wire_id(parent, e.out, e.index) for e in edges]
        return {"kind": "backward", "node": ids.node_id(parent), "wire": ids.stem_id(parent), "gate": "fork",
                "highlight": [ids.stem_id(parent)] + branches,
                "rule": f"gradients add at a fork: {tr.raw(parent)} is used {times(n)}, so its gradient is the sum "
                        f"of the gradients flowing back along its {n} wires",
                "text": fork_text(tr, parent, edges), "down_name": edges[0].down_name, "sum": terms,
                "upstream": "", "local": "", "downstream": _value_text(total), "hover": hover_text(total),
                "vector": total.size != 1}

    # ------------------------------------------------------------------ the page
    def svg(self) -> str:
        """The drawing as inline SVG: no XML prolog, no namespace URLs, tooltips as <title>."""
        if shutil.which("dot") is None:
            raise RuntimeError(INSTALL_DOT)
        svg = self.dot.pipe(format="svg", quiet=True).decode()
        svg = svg[svg.index("<svg"):]
        svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg)
        svg = re.sub(r'<a xlink:title="([^"]*)">', r"<a><title>\1</title>", svg)
        svg = re.sub(r'\s+xlink:href="[^"]*"', "", svg)
        # no fixed size: the drawing scales to fill its pane (its viewBox keeps the proportions)
        return re.sub(r'^<svg width="[^"]*" height="[^"]*"', '<svg preserveAspectRatio="xMidYMid meet"', svg)

    @property
    def html(self) -> str:
        if self._html is None:
            # no "<" at all inside the script element: nothing in a name can end or re-open it
            data = json.dumps({"steps": self.steps, "green": GREEN, "red": RED}).replace("<", "\\u003c")
            parts = {"__CSS__": CSS, "__JS__": JS, "__DATA__": data, "__TITLE__": html.escape(self.title),
                     "__SVG__": self.svg()}
            # one pass over the page, so that a name holding "__SVG__" stays a name
            self._html = re.sub("|".join(parts), lambda m: parts[m.group(0)], PAGE)
        return self._html

    def save(self, path) -> str:
        """Write the page to ``path`` (one self-contained .html file); returns the path."""
        path = Path(path)
        path.write_text(self.html, encoding="utf-8")
        return str(path)

    def _repr_html_(self) -> str:
        # an iframe keeps the page's script and styles apart from the notebook's
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts" '
                f'style="width: 100%; height: 620px; border: 1px solid #ddd"></iframe>')

    def __repr__(self):
        return f"<Stepper: {self.title}, {len(self.steps)} steps>"


def stepper(output: Tensor, names=None, model=None, title: str | None = None, scale: float = 1.0) -> Stepper:
    """Step through ``output``'s forward and backward pass in the browser (see :class:`Stepper`)."""
    return Stepper(output, names=names, model=model, title=title, scale=scale)


CSS = """
html, body { height: 100%; }
body { font-family: Helvetica, Arial, sans-serif; margin: 0; color: #222; display: flex; flex-direction: column;
       height: 100vh; overflow: hidden; }
header { padding: 8px 16px; border-bottom: 1px solid #ddd; display: flex; gap: 12px; align-items: center;
         flex-wrap: wrap; flex: none; }
header h1 { font-size: 18px; margin: 0 12px 0 0; font-weight: 600; }
button { font-size: 15px; padding: 5px 14px; border: 1px solid #999; border-radius: 4px; background: #f6f6f6;
         cursor: pointer; }
button:hover { background: #e8e8e8; }
#counter { color: #555; font-size: 14px; }
main { display: flex; flex: 1; min-height: 0; }
#graph { flex: 1; min-width: 0; padding: 8px; display: flex; }
#graph svg { width: 100%; height: 100%; display: block; }
aside { flex: none; width: clamp(300px, 28vw, 460px); border-left: 1px solid #ddd; padding: 10px 14px;
        font-size: 14px; display: flex; flex-direction: column; min-height: 0; }
#detail { background: #fafafa; border: 1px solid #e2e2e2; border-radius: 6px; padding: 10px; min-height: 96px;
          flex: none; }
#detail .gate { font-weight: 600; font-size: 15px; }
#detail .rule { color: #555; margin: 4px 0; }
#detail .eq { font-family: Menlo, Consolas, monospace; font-size: 15px; margin-top: 6px; overflow-wrap: anywhere; }
.upstream, .downstream { color: #cf222e; } .local { color: #8250df; } .value { color: #1a7f37; }
aside h3 { margin: 12px 0 4px; flex: none; }
#log { padding-left: 34px; margin: 0; flex: 1; min-height: 0; overflow: auto; font-family: Menlo, Consolas, monospace;
       font-size: 12.5px; }
#log li.current { background: #fff3b0; }
#log li.backward { color: #a0111f; } #log li.forward { color: #116329; } #log li.fork { font-weight: 600; }
.hide { visibility: hidden; }
.edge.current path { stroke: #ff8c00; stroke-width: 4px; }
.edge.current polygon { stroke: #ff8c00; fill: #ff8c00; }
.node.current ellipse, .node.current polygon { stroke: #ff8c00; stroke-width: 3px; }
.node.label.current text { font-weight: bold; }
/* a drawing wider than the window's proportions: the whole width for it, the steps below */
body.wide main { flex-direction: column; }
body.wide aside { width: auto; height: 36vh; border-left: none; border-top: 1px solid #ddd; flex-direction: row;
                  gap: 16px; }
body.wide #detail { width: 42%; flex: none; overflow: auto; }
body.wide .steps { flex: 1; display: flex; flex-direction: column; min-height: 0; }
.steps { display: flex; flex-direction: column; flex: 1; min-height: 0; }
"""

JS = r"""
(function () {
  const D = JSON.parse(document.getElementById('steps').textContent);
  const steps = D.steps;
  let at = -1, timer = null;
  const svg = document.querySelector('#graph svg');
  const byId = (id) => svg.querySelector('[id="' + CSS.escape(id) + '"]');
  const isNumber = (t) => [D.green, D.red].includes((t.getAttribute('fill') || '').toLowerCase());
  function texts(id, color) {
    const g = byId(id);
    if (!g) return [];
    return Array.from(g.querySelectorAll('text')).filter(t => (t.getAttribute('fill') || '').toLowerCase() === color);
  }
  // a wire label and the two pieces of wire through it
  const wireParts = (id) => [byId(id), byId(id + '_a'), byId(id + '_b')].filter(Boolean);
  const allWireTexts = Array.from(svg.querySelectorAll('g.node text, g.edge text')).filter(isNumber);
  svg.querySelectorAll('g.node').forEach(g => { if (/^(w\d|wout|s\d)/.test(g.id)) g.classList.add('label'); });
  function el(tag, cls, text, title) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (title) e.title = title;
    return e;
  }
  function detail(s) {
    const d = document.getElementById('detail');
    d.innerHTML = '';
    if (!s) { d.appendChild(el('div', 'rule', 'Press Next (or the right arrow key) to run the forward pass.')); return; }
    d.dataset.kind = s.kind;
    if (s.kind === 'forward') {  // the computation once, with its value
      d.appendChild(el('div', 'gate', 'forward'));
      d.appendChild(el('div', 'rule', s.rule));
      const eq = el('div', 'eq');
      eq.appendChild(el('span', 'expr', s.expr + ' = '));
      eq.appendChild(el('span', 'value', s.value, s.hover));
      d.appendChild(eq);
      return;
    }
    d.appendChild(el('div', 'gate', s.gate === 'fork' ? 'gradients add at a fork' : s.gate));
    d.appendChild(el('div', 'rule', s.rule));
    if (s.local_text) d.appendChild(el('div', 'rule localtext', s.local_text));
    const eq = el('div', 'eq');
    eq.appendChild(el('span', 'name', (s.down_name || '') + ' = '));
    if (s.gate === 'fork') {
      eq.appendChild(el('span', 'sum', s.sum));
      eq.appendChild(document.createTextNode(' = '));
      eq.appendChild(el('span', 'downstream', s.downstream, s.hover));
      d.appendChild(eq);
      return;
    }
    if (s.vector) {  // a tensor step: the vectorized rule, then the shapes (numbers on hover)
      eq.appendChild(el('span', 'local', s.local));
      d.appendChild(eq);
      const sh = el('div', 'eq');
      sh.appendChild(document.createTextNode('upstream '));
      sh.appendChild(el('span', 'upstream', s.upstream, (s.up_name || '') + '\n' + (s.up_hover || '')));
      sh.appendChild(document.createTextNode(' -> downstream '));
      sh.appendChild(el('span', 'downstream', s.downstream, s.hover));
      d.appendChild(sh);
      return;
    }
    if (s.upstream !== '') {
      eq.appendChild(el('span', 'upstream', s.upstream, (s.up_name || '') + '\n' + (s.up_hover || '')));
      eq.appendChild(document.createTextNode(' x '));
      eq.appendChild(el('span', 'local', s.local));
      eq.appendChild(document.createTextNode(' = '));
    }
    eq.appendChild(el('span', 'downstream', s.downstream, s.hover));
    d.appendChild(eq);
  }
  function show(i) {
    at = Math.max(-1, Math.min(steps.length - 1, i));
    allWireTexts.forEach(t => t.classList.add('hide'));
    svg.querySelectorAll('.current').forEach(e => e.classList.remove('current'));
    const log = document.getElementById('log');
    log.innerHTML = '';
    for (let k = 0; k <= at; k++) {
      const s = steps[k];
      if (s.kind === 'forward') s.wires.forEach(w => texts(w, D.green).forEach(t => t.classList.remove('hide')));
      else texts(s.wire, D.red).forEach(t => t.classList.remove('hide'));
      const li = el('li', s.kind + (s.gate === 'fork' ? ' fork' : '') + (k === at ? ' current' : ''), s.text, s.hover);
      li.dataset.step = k;
      log.appendChild(li);
    }
    const s = steps[at];
    if (s) {
      const n = byId(s.node); if (n) n.classList.add('current');
      (s.kind === 'forward' ? s.wires : s.highlight || [s.wire])
        .forEach(w => wireParts(w).forEach(e => e.classList.add('current')));
      log.lastChild.scrollIntoView({block: 'nearest'});
    }
    detail(s);
    const nf = steps.filter(s => s.kind === 'forward').length;
    document.getElementById('counter').textContent = at < 0 ? 'ready: ' + steps.length + ' steps'
      : (steps[at].kind === 'forward' ? 'forward ' + (at + 1) + ' / ' + nf
                                       : 'backward ' + (at + 1 - nf) + ' / ' + (steps.length - nf));
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; document.getElementById('play').textContent = 'Play'; } }
  function play() {
    if (timer) { stop(); return; }
    if (at >= steps.length - 1) show(-1);
    document.getElementById('play').textContent = 'Pause';
    timer = setInterval(() => { if (at >= steps.length - 1) stop(); else show(at + 1); }, 900);
  }
  document.getElementById('next').onclick = () => { stop(); show(at + 1); };
  document.getElementById('back').onclick = () => { stop(); show(at - 1); };
  document.getElementById('reset').onclick = () => { stop(); show(-1); };
  document.getElementById('play').onclick = play;
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowRight') { stop(); show(at + 1); ev.preventDefault(); }
    else if (ev.key === 'ArrowLeft') { stop(); show(at - 1); ev.preventDefault(); }
    else if (ev.key === 'Home') { stop(); show(-1); ev.preventDefault(); }
    else if (ev.key === ' ') { play(); ev.preventDefault(); }
  });
  function layout() {  // steps beside a tall drawing, below a wide one: the drawing as large as it can be
    const vb = svg.viewBox.baseVal;
    const side = (window.innerWidth - 340) / Math.max(1, window.innerHeight - 60);
    const below = window.innerWidth / Math.max(1, window.innerHeight * 0.6);
    document.body.classList.toggle('wide', vb && vb.width / vb.height > Math.sqrt(side * below));
  }
  window.addEventListener('resize', layout);
  layout();
  window.stepper = {steps: steps, show: show, at: () => at};
  show(-1);
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>__CSS__</style>
</head>
<body>
<header>
  <h1>__TITLE__</h1>
  <button id="reset" title="back to the start (Home)">Reset</button>
  <button id="back" title="previous step (left arrow)">&larr; Back</button>
  <button id="next" title="next step (right arrow)">Next &rarr;</button>
  <button id="play" title="play / pause (space)">Play</button>
  <span id="counter"></span>
</header>
<main>
  <div id="graph">__SVG__</div>
  <aside>
    <div id="detail"></div>
    <div class="steps">
      <h3>Steps so far</h3>
      <ol id="log"></ol>
    </div>
  </aside>
</main>
<script type="application/json" id="steps">__DATA__</script>
<script>__JS__</script>
</body>
</html>
"""
