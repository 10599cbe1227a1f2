"""Seeing it: the drawings' and narrations' content, the expression parser's safety, the plots'
data, the diagnostics, and the `graph` and `lecture` commands."""
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import activation_curves, draw_graph, explain, history_curves, render, templates
from chainrule.viz.diagnostics import Diagnostics
from chainrule.viz.expression import ExpressionError, evaluate

needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not __import__("os").environ.get("CI"),
                               reason="the Graphviz program is installed by .ci/run")


def lecture_graph():
    x, y, z = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((-2.0, "x"), (5.0, "y"), (-4.0, "z")))
    q = x + y
    f = q * z
    return f, dict(x=x, y=y, z=z, q=q, f=f)


def test_dot_source_holds_values_and_gradients():
    f, names = lecture_graph()
    f.backward()
    src = draw_graph(f, names=names).source
    for value in ("-2", "5", "-4", "3", "-12"):
        assert re.search(rf'label="\w+\n{value}\n', src), value
    for name, grad in (("x", "-4"), ("y", "-4"), ("z", "3"), ("q", "-4"), ("f", "1")):
        assert re.search(rf'label="{name}\n[-\d]+\ngrad {grad}"', src), (name, grad)
    assert src.count("->") == 6 and 'label="+"' in src and 'label="*"' in src and "rankdir=LR" in src


def test_drawing_before_backward_has_no_gradients_and_names_module_parameters():
    cr.manual_seed(0)
    net = cr.nn.MLP([3, 4, 2])
    loss = cr.nn.functional.cross_entropy(net(cr.randn(5, 3)), [0, 1, 0, 1, 1])
    src = draw_graph(loss, model=net).source
    assert "grad" not in src
    for name in ("0.weight\n(4, 3) float32", "0.bias", "2.weight", "2.bias"):
        assert name in src


def test_a_long_chain_is_collapsed_and_a_wide_graph_capped():
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    src = draw_graph(y).source
    assert "... 4998 ops collapsed: mul x 4998 (a repeated op)" in src
    assert src.count("shape=box") <= 6  # x, the first and last product, the output, the run
    z = x * 1.0
    for i in range(300):
        z = z + x * float(i)  # no chain: every add has two computed inputs
    src = draw_graph(z, max_nodes=100).source
    assert re.search(r"\.\.\. \d+ more tensors not drawn \(max_nodes=100\)", src)
    assert src.count("shape=box") <= 101


def test_repeated_layers_are_collapsed_into_one_note():
    cr.manual_seed(0)
    net = cr.nn.MLP([3] + [4] * 12 + [2])
    loss = net(cr.randn(2, 3)).sum()
    src = draw_graph(loss, model=net).source
    assert re.search(r"ops collapsed: \((linear, relu|relu, linear)\) x \d+ \(a repeated layer\)", src)
    assert "0.weight" in src and "12.weight" not in src


@needs_dot
def test_a_huge_chain_renders_with_a_sensible_size(tmp_path):
    from PIL import Image
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    for style in ("boxes", "lecture"):
        w, h = Image.open(render(draw_graph(y, style=style), tmp_path / f"{style}.png")).size
        assert w < 2500 and h < 2500 and w / h < 10, (style, w, h)


@needs_dot
@pytest.mark.parametrize("fmt,magic", [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_render_writes_valid_nontrivial_files(tmp_path, fmt, magic):
    f, names = lecture_graph()
    f.backward()
    path = render(draw_graph(f, names=names), tmp_path / f"g.{fmt}")
    data = open(path, "rb").read()
    assert data.startswith(magic) and len(data) > 2000
    if fmt == "svg":
        assert "grad &#45;4" in data.decode() or "grad -4" in data.decode()
    else:
        from PIL import Image
        w, h = Image.open(path).size
        assert w > 200 and h > 80


def test_render_without_dot_program_says_how_to_install(tmp_path, monkeypatch):
    f, _ = lecture_graph()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        render(draw_graph(f), tmp_path / "g.svg")
    assert "digraph" in open(render(draw_graph(f), tmp_path / "g.dot")).read()


def test_narration_numbers_equal_the_engine_gradients():
    f, names = lecture_graph()
    text = explain(f, names=names)
    x, y, z, q = (names[k] for k in "xyzq")
    assert "f = q * z   [mul gate" in text and "q = x + y   [add gate" in text
    assert "df/dq: local = z = -4; downstream = upstream x local = 1 x -4 = -4" in text
    assert "df/dz: local = q = 3; downstream = upstream x local = 1 x 3 = 3" in text
    assert "df/dx: local = 1; downstream = upstream x local = -4 x 1 = -4" in text
    assert "gradients: df/dx = -4, df/dy = -4, df/dz = 3" in text
    assert (x.grad.item(), y.grad.item(), z.grad.item(), q.grad.item()) == (-4.0, -4.0, 3.0, -4.0)
    # the order is the order the engine runs: the mul gate before the add gate
    assert text.index("mul gate") < text.index("add gate")
    # explain starts from fresh gradients each time
    explain(f, names=names)
    assert x.grad.item() == -4.0


LECTURE_NEURON = dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3)


@pytest.mark.parametrize("text", ["1/(1+exp(-(w0*x0+w1*x1+w2)))", "sigmoid(w0*x0+w1*x1+w2)"])
def test_narration_of_the_sigmoid_neuron_gives_the_lecture_numbers(text):
    f, leaves = evaluate(text, LECTURE_NEURON)
    narration = explain(f)
    assert round(f.item(), 2) == 0.73
    said = dict(re.findall(r"df/d(\w+) = (-?[\d.]+)", narration.splitlines()[-1]))
    lecture = dict(w0=-0.20, x0=0.39, w1=-0.39, x1=-0.59, w2=0.20)
    for name, value in lecture.items():
        assert round(float(said[name]), 2) == value, name  # what the narration says ...
        assert float(said[name]) == pytest.approx(leaves[name].grad.item(), abs=5e-3)  # ... is the engine's
    # every gate states its local gradient as a formula, then with numbers
    if text.startswith("sigmoid"):
        assert "local = s(1 - s) = 0.731 x 0.269 = 0.197; downstream = upstream x local = 1 x 0.197 = 0.197" \
            in narration
    else:
        assert "local = e^(-(w0 * x0 + w1 * x1 + w2)) = 0.368; downstream = upstream x local = -0.534 x 0.368" \
            in narration
        assert "local = -1; downstream = upstream x local = -0.197 x -1 = 0.197" in narration  # neg
        assert "local = -1/(1 + exp(-(w0 * x0 + w1 * x1 + w2)))^2 = -0.534" in narration  # 1/x
    assert "local d(out)/d(in)" not in narration


def test_every_local_formula_times_upstream_is_the_engine_downstream():
    from chainrule.viz.explain import trace
    f, leaves = evaluate("max(x, y) * exp(-z) + 2 ** x / sqrt(y) - relu(x) + sigmoid(z) + tanh(abs(x)) + log(y)",
                         dict(x=0.7, y=1.3, z=-0.4))
    tr = trace(f)
    assert len(tr.edges) > 15
    for e in tr.edges:
        assert e.formula, e.fn.name  # every op on the way states its formula
        assert e.upstream.item() * e.local.item() == pytest.approx(e.downstream.item(), rel=1e-12), e.fn.name


def test_narration_of_tensors_gives_shapes_and_rules():
    X = cr.randn(8, 5, requires_grad=True, rng=0)
    W = cr.randn(5, 3, requires_grad=True, rng=1)
    Y = X @ W
    L = Y.sum()
    text = explain(L, names=dict(X=X, W=W, Y=Y, L=L))
    assert "dL/dX (8, 5) = dL/dY @ W^T   <- upstream dL/dY (8, 3)" in text
    assert "dL/dW (5, 3) = X^T @ dL/dY   <- upstream dL/dY (8, 3)" in text
    np.testing.assert_allclose(X.grad.data, np.ones((8, 3)) @ W.data.T, rtol=1e-6)


def test_expression_language_values_and_gradients():
    f, leaves = evaluate("max(x, y) * exp(-z) + 2 ** x / sqrt(y) - relu(x) + sigmoid(z) + tanh(abs(x))",
                         {"x": 0.5, "y": 2.0, "z": 0.3})
    f.backward()
    import torch
    x, y, z = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.5, 2.0, 0.3))
    tf = torch.maximum(x, y) * torch.exp(-z) + 2 ** x / torch.sqrt(y) - torch.relu(x) + torch.sigmoid(z) + \
        torch.tanh(torch.abs(x))
    tf.backward()
    assert f.item() == pytest.approx(tf.item())
    for k, t in zip("xyz", (x, y, z)):
        assert leaves[k].grad.item() == pytest.approx(t.grad.item())


@pytest.mark.parametrize("text,match", [
    ("__import__('os').system('touch PWNED')", "not an allowed function"),
    ("x.__class__", "Attribute is not allowed"),
    ("(lambda: 1)()", "not an allowed function"),
    ("[x for x in ()]", "ListComp is not allowed"),
    ("open('f')", "'open' is not an allowed function"),
    ("__builtins__", "not allowed as a variable name"),
    ("'text'", "Constant is not allowed"),
    ("x if y else z", "IfExp is not allowed"),
    ("exp(x, y)", r"exp\(\) takes 1 argument"),
    ("x +", "syntax error"),
])
def test_expression_parser_refuses_unsafe_and_bad_input(text, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExpressionError, match=match):
        evaluate(text, {"x": 1, "y": 2, "z": 3})
    assert not (tmp_path / "PWNED").exists()


def test_expression_domain_errors_and_undefined_variables():
    with pytest.raises(ExpressionError, match="log of -1 in log"):
        evaluate("log(x)", {"x": -1})
    with pytest.raises(ExpressionError, match="sqrt of -4"):
        evaluate("sqrt(x)", {"x": -4})
    with pytest.raises(ExpressionError, match="division by zero"):
        evaluate("1 / (x - 1)", {"x": 1})
    with pytest.raises(ExpressionError, match="undefined variable.*y"):
        evaluate("x * y", {"x": 1})


def test_history_curves_are_the_arrays_plotted(tmp_path):
    from chainrule.train.trainer import History
    h = History(iter_loss=[4, 3, 2, 2, 1, 1], epoch=[1, 2, 3], train_loss=[3.5, 2, 1], train_acc=[.5, .7, .9],
                val_loss=[3, 2, 1.5], val_acc=[.4, .6, .8], lr=[0.1, 0.1, 0.01], seconds=[1, 1, 1])
    c = history_curves(h)
    np.testing.assert_array_equal(c["loss"], [4, 3, 2, 2, 1, 1])
    np.testing.assert_array_equal(c["epoch_x"], [2, 4, 6])
    assert c["lr_steps"] == [4.0]  # the lr changed after epoch 2, i.e. at iteration 4
    cr.viz.plot_history(h, tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


def test_activation_curves_come_from_the_engine():
    c = activation_curves(("relu", "sigmoid", "tanh", "leaky_relu"))
    x, y, g = c["sigmoid"]
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(y, s, rtol=1e-12)
    np.testing.assert_allclose(g, s * (1 - s), rtol=1e-12)
    x, y, g = c["relu"]
    np.testing.assert_array_equal(g, (x > 0).astype(float))
    np.testing.assert_allclose(c["leaky_relu"][2], np.where(x > 0, 1, 0.1))


def test_templates_are_the_first_layer_weights_as_images():
    w = np.random.default_rng(0).standard_normal((7, 3072))
    imgs = templates(w)
    assert imgs.shape == (7, 32, 32, 3) and imgs.min() == 0 and imgs.max() == 1
    k = 3
    raw = w[k].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_allclose(imgs[k], (raw - raw.min()) / (raw.max() - raw.min()))
    with pytest.raises(ValueError, match=r"weight of shape \(7, 100\) does not hold images"):
        templates(np.zeros((7, 100)))


def test_linear_vs_two_layer_on_xor(tmp_path):
    fig, (lin, mlp) = cr.viz.plot_linear_vs_mlp(cr.data.xor(200), epochs=150, path=tmp_path / "x.png")
    assert lin <= 0.75 and mlp == 1.0
    assert (tmp_path / "x.png").stat().st_size > 10_000
    xx, yy, zz = cr.viz.decision_grid(cr.nn.Linear(2, 2), cr.data.xor(50).X, resolution=20)
    assert zz.shape == (20, 20) and set(np.unique(zz)) <= {0, 1}


def test_diagnostics_record_and_warn_about_dead_relus():
    from chainrule.data import DataLoader, spiral
    from chainrule.train import Trainer
    cr.manual_seed(0)
    net = cr.nn.MLP([2, 16, 3])
    with cr.no_grad():
        net[0].bias.data[...] = -100.0  # every ReLU unit dead
    d = Diagnostics(spiral(20).X)
    t = Trainer(net, cr.nn.functional.cross_entropy, cr.optim.SGD(net.parameters(), lr=0.1),
                DataLoader(spiral(20), 16), epochs=1, progress=False, callbacks=[d])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t.fit()
    assert d.records[0]["1.dead"] == 1.0 and "0.grad_norm" in d.records[0]
    assert any("100% of the ReLU units of layer 1 are dead" in str(x.message) for x in w)


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], capture_output=True, text=True,
                          **kw)


@needs_dot
def test_graph_command_prints_value_gradients_narration_and_writes_drawing(tmp_path):
    p = cli("graph", "(x + y) * z", "x=-2", "y=5", "z=-4", "--out", tmp_path / "g.svg", "--explain")
    assert p.returncode == 0, p.stderr
    assert "f = (x + y) * z = -12" in p.stdout
    assert "df/dx = -4\ndf/dy = -4\ndf/dz = 3" in p.stdout
    assert "add gate: distributes" in p.stdout
    assert (tmp_path / "g.svg").read_bytes().startswith(b"<?xml")


@pytest.mark.parametrize("args,message", [
    (["__import__('os').system('touch PWNED')"], "not an allowed function"),
    (["log(x)", "x=-1"], "log of -1"),
    (["x * q", "x=1"], "undefined variable(s) q"),
    (["x +* 2", "x=1"], "syntax error"),
    (["x", "x=abc"], "'abc' is not a number"),
])
def test_graph_command_errors_are_one_line(tmp_path, args, message):
    p = cli("graph", *args, cwd=tmp_path)
    assert p.returncode == 1 and message in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "PWNED").exists()


def test_lecture_command_lists_and_makes_figures(tmp_path):
    p = cli("lecture", "--list")
    for name in ("linear_vs_2layer", "activations", "graph", "gates", "vectorized_linear", "pipeline",
                 "loss_step_decay", "templates"):
        assert name in p.stdout
    p = cli("lecture", "graph", "--out", tmp_path)
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "graph_xyz.txt").read_text()
    assert "df/dx: local = 1; downstream = upstream x local = -4 x 1 = -4" in text
    assert "grad -4" in (tmp_path / "graph_xyz.dot").read_text()
    p = cli("lecture", "templates", "--out", tmp_path)
    assert p.returncode == 1 and "needs CIFAR-10" in p.stderr


def test_train_with_diagnostics_writes_them(tmp_path):
    p = cli("train", "--epochs", "2", "--diagnostics", "--out", tmp_path / "r")
    assert p.returncode == 0, p.stderr
    rows = (tmp_path / "r" / "diagnostics.jsonl").read_text().splitlines()
    assert len(rows) == 2 and '"1.dead"' in rows[0]


def _svg_wires(svg: str) -> list:
    """(wire id, path points, [(text, fill, x, y)]) for every edge of a Graphviz SVG."""
    import xml.etree.ElementTree as ET
    ns = {"s": "http://www.w3.org/2000/svg"}
    out = []
    for g in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") != "edge":
            continue
        path = g.find(".//s:path", ns)
        pts = np.array([float(v) for v in re.findall(r"-?\d+\.?\d*", path.get("d"))]).reshape(-1, 2)
        texts = [(t.text, t.get("fill"), float(t.get("x")), float(t.get("y"))) for t in g.iter(f"{{{ns['s']}}}text")
                 if t.text and t.text.strip()]
        out.append((g.get("id"), pts, texts))
    return out


@needs_dot
def test_lecture_style_svg_puts_each_value_above_and_gradient_below_its_wire():
    from chainrule.viz.wires import GREEN, RED, wire_number
    f, leaves = evaluate("1/(1+exp(-(w0*x0+w1*x1+w2)))", dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3))
    f.backward()
    svg = draw_graph(f, style="lecture").pipe(format="svg").decode()
    expected = set()  # (value, gradient) of every wire, from the engine
    stack, seen = [f], set()
    while stack:
        t = stack.pop()
        for p in t._ctx.parents if t._ctx else ():
            expected.add((wire_number(p.data), wire_number(p.grad.data) if p.requires_grad else None))
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    expected.add((wire_number(f.data), "1.00"))
    found = set()
    for wid, pts, texts in _svg_wires(svg):
        green = [t for t in texts if t[1] == GREEN]
        red = [t for t in texts if t[1] == RED]
        assert len(green) == 1 and len(red) <= 1, wid
        if red:
            assert green[0][3] < red[0][3], wid  # the value above, the gradient below
            assert abs(green[0][2] - red[0][2]) < 20  # one above the other
        gx, gy = green[0][2], green[0][3]
        # next to its own wire: within a line's height of the wire's curve
        assert np.min(np.hypot(pts[:, 0] - gx, pts[:, 1] - gy)) < 40, wid
        found.add((green[0][0].replace("&#45;", "-"), red[0][0].replace("&#45;", "-") if red else None))
    assert found == expected
    for lecture_number in ("0.73", "-0.20", "0.39", "-0.39", "-0.59", "0.20", "-0.53"):
        assert any(lecture_number in pair for pair in found), lecture_number
    # gates as circles, unary minus as neg, constants as small nodes of their own, full expressions on hover
    assert svg.count("<ellipse") >= 8 + 2 and ">neg</text>" in svg
    assert 'xlink:title="exp: exp(&#45;(w0 * x0 + w1 * x1 + w2))"' in svg or \
        'xlink:title="exp: exp(-(w0 * x0 + w1 * x1 + w2))"' in svg


@needs_dot
def test_graph_command_draws_lecture_style_at_a_scale(tmp_path):
    from PIL import Image
    sizes = {}
    for scale in ("1", "2"):
        p = cli("graph", "(x + y) * z", "x=-2", "y=5", "z=-4", "--style", "lecture", "--scale", scale,
                "--out", tmp_path / f"g{scale}.png")
        assert p.returncode == 0, p.stderr
        sizes[scale] = Image.open(tmp_path / f"g{scale}.png").size
    assert sizes["1"][0] >= 700  # reads on a slide
    assert 1.7 < sizes["2"][0] / sizes["1"][0] < 2.3
    p = cli("graph", "x * 2", "x=1", "--scale", "0", "--out", tmp_path / "g.svg")
    assert p.returncode == 1 and "scale must be positive" in p.stderr and "Traceback" not in p.stderr


def test_draw_graph_shows_no_stale_gradients_and_scalar_values():
    cr.manual_seed(0)
    net = cr.nn.MLP([3, 4, 2])
    x = cr.randn(5, 3)
    cr.nn.functional.cross_entropy(net(x), [0, 1, 0, 1, 1]).backward()  # leaves gradients in the parameters
    loss = cr.nn.functional.cross_entropy(net(x), [0, 1, 0, 1, 1])
    assert net[0].weight.grad is not None
    for style in ("boxes", "lecture"):
        src = draw_graph(loss, model=net, style=style, small=0).source
        assert "grad" not in src and "#cf222e" not in src, style  # drawn before its own backward: none
        assert f"{loss.item():.4g}" in src or f"{loss.item():.2f}" in src, style  # a scalar shows its value
    loss.backward()
    assert "grad" in draw_graph(loss, model=net).source and "#cf222e" in draw_graph(loss, style="lecture").source


@pytest.mark.parametrize("dataset", ["xor", "spiral"])
def test_decision_regions_have_the_colour_of_their_class(dataset):
    from matplotlib.colors import to_rgb

    from chainrule.viz.plots import CLASS_COLORS, REGION_ALPHA, decision_grid, fit_small, plot_decision_boundary
    data = cr.data.xor(120) if dataset == "xor" else cr.data.spiral(40, 3)
    cr.manual_seed(0)
    net = fit_small(cr.nn.MLP([2, 50, int(data.y.max()) + 1]), data, epochs=120)
    fig = plot_decision_boundary(net, data.X, data.y)
    ax = fig.axes[0]
    points = ax.collections[-1]
    k = int(data.y.max()) + 1
    # the points have their class's colour ...
    fig.canvas.draw()
    np.testing.assert_allclose(points.get_facecolors()[:, :3], [to_rgb(CLASS_COLORS[c]) for c in data.y])
    points.set_visible(False)  # ... and the region under each is that colour, seen through alpha on white
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0
    seen = np.array([REGION_ALPHA * np.array(to_rgb(CLASS_COLORS[c])) + (1 - REGION_ALPHA) for c in range(k)])
    pred = cr.train.trainer.predict(net, data.X).argmax(axis=1)
    right = np.flatnonzero(pred == data.y)
    assert len(right) >= 0.9 * len(data.y)
    xx, yy, zz = decision_grid(net, data.X)
    checked = 0
    for i in right:
        px, py = ax.transData.transform(data.X[i])
        col = img[int(round(img.shape[0] - py)), int(round(px))]
        region = int(np.argmin(((seen - col) ** 2).sum(axis=1)))
        assert np.abs(seen[region] - col).max() < 0.03, (i, col)  # a region colour, no other
        # the drawn cell is the grid's nearest prediction: it is the point's class unless the
        # point sits within one grid cell of a boundary
        gi, gj = np.abs(yy[:, 0] - data.X[i, 1]).argmin(), np.abs(xx[0] - data.X[i, 0]).argmin()
        near = zz[max(gi - 1, 0):gi + 2, max(gj - 1, 0):gj + 2]
        if (near == data.y[i]).all():
            assert region == data.y[i], (i, region, data.y[i])
            checked += 1
    assert checked >= 0.9 * len(right)


def test_training_figure_has_whole_epoch_ticks_for_a_one_epoch_run():
    from chainrule.train.trainer import History
    h = History(iter_loss=[2.3, 2.1, 1.9], epoch=[1], train_loss=[2.1], train_acc=[.4], val_loss=[2.0],
                val_acc=[.45], lr=[0.1], seconds=[1])
    fig = cr.viz.plot_history(h)
    loss_ax, acc_ax = fig.axes
    lo, hi = acc_ax.get_xlim()
    ticks = [t for t in acc_ax.get_xticks() if lo <= t <= hi]
    assert ticks == [1.0]
    assert all(float(t).is_integer() for t in loss_ax.get_xticks())


def test_activations_figure_is_a_grid_not_a_strip():
    fig = cr.viz.plot_activations()
    w, h = fig.get_size_inches()
    assert 1 <= w / h <= 2.5
    assert sum(ax.has_data() for ax in fig.axes) == 7
