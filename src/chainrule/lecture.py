"""The lecture's figures, regenerated from the library itself (``chainrule lecture``).

Each figure is a function that writes its files into a folder and returns their paths; the
numbers in every drawing come from the engine's own forward and backward passes. This module sits
above viz: where a figure needs a trained network, it trains it here and hands viz the weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import ArrayDataset, DataLoader, Preprocess, load_cifar10, spiral, xor
from chainrule.nn.functional import cross_entropy
from chainrule.nn.utils import predict
from chainrule.random import manual_seed
from chainrule.train import run
from chainrule.train.models import ConvNet
from chainrule.viz.explain import explain
from chainrule.viz.expression import evaluate
from chainrule.viz.graph import draw_graph, render
from chainrule.viz.plots import (plot_activations, plot_filters, plot_history, plot_linear_vs_mlp,
                                 plot_template_comparison)
from chainrule.viz.stepper import stepper


def _graph_files(out: Path, stem: str, output, **kw) -> list:
    dot = draw_graph(output, **kw)
    files = [render(dot, out / f"{stem}.dot")]
    try:
        files.append(render(dot, out / f"{stem}.svg"))
        files.append(render(dot, out / f"{stem}.png"))
    except RuntimeError:  # no Graphviz program: the DOT source is still written
        pass
    return files


def fit_small(model, data, epochs: int = 300, lr: float = 0.05, seed: int = 0):
    """Train a small model on a 2-D dataset with Adam (for the lecture's comparison figures)."""
    opt = optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(data, 64, shuffle=True, seed=seed)
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for X, y in loader:
            opt.zero_grad()
            cross_entropy(model(X), y).backward()
            opt.step()
    return model


def linear_vs_mlp(data, hidden: int = 100, epochs: int = 300, path=None, seed: int = 0):
    """Train a linear classifier and a 2-layer ReLU net on the same 2-D data and draw them side by side
    (:func:`chainrule.viz.plots.plot_linear_vs_mlp`). Returns the figure and the two accuracies."""
    k = int(np.max(data.y)) + 1
    manual_seed(seed)
    linear = fit_small(nn.Linear(2, k), data, epochs, seed=seed)
    manual_seed(seed)
    mlp = fit_small(nn.MLP([2, hidden, k]), data, epochs, seed=seed)
    return plot_linear_vs_mlp(linear, mlp, data, hidden, path=path)


def linear_vs_2layer(out: Path, data_dir=None) -> list:
    """Linear classifier vs 2-layer network on XOR and on the spiral."""
    linear_vs_mlp(xor(200), path=out / "linear_vs_2layer_xor.png")
    linear_vs_mlp(spiral(100, 3), path=out / "linear_vs_2layer_spiral.png")
    return [str(out / "linear_vs_2layer_xor.png"), str(out / "linear_vs_2layer_spiral.png")]


def activations(out: Path, data_dir=None) -> list:
    """Activation functions and their derivatives."""
    plot_activations(path=out / "activations.png")
    return [str(out / "activations.png")]


def graph(out: Path, data_dir=None) -> list:
    """The computational graph of f = (x + y) * z at x=-2, y=5, z=-4 with values and gradients."""
    f, _ = evaluate("(x + y) * z", {"x": -2, "y": 5, "z": -4})
    text = explain(f)
    (out / "graph_xyz.txt").write_text(text + "\n")
    return _graph_files(out, "graph_xyz", f) + _graph_files(out, "graph_xyz_lecture", f, style="lecture") + \
        [str(out / "graph_xyz.txt")]


def neuron(out: Path, data_dir=None) -> list:
    """The sigmoid neuron 1/(1+exp(-(w0*x0+w1*x1+w2))) as the lecture draws it, narrated, and its stepper page."""
    text = "1/(1+exp(-(w0*x0+w1*x1+w2)))"
    f, _ = evaluate(text, {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3})
    (out / "neuron.txt").write_text(explain(f) + "\n")
    files = _graph_files(out, "neuron", f, style="lecture", title=f"f = {text}")
    try:
        files.append(stepper(f, title=f"f = {text}").save(out / "neuron.html"))
    except RuntimeError:  # no Graphviz program: the page cannot draw its graph
        pass
    return files + [str(out / "neuron.txt")]


def gates(out: Path, data_dir=None) -> list:
    """The gate patterns: add distributes, mul swaps and scales, max routes."""
    files = []
    for name, expr in (("add", "x + y"), ("mul", "x * y"), ("max", "max(x, y)")):
        f, _ = evaluate(expr, {"x": 3, "y": -1})
        f.backward(np.asarray(2.0))  # an upstream gradient of 2
        files += _graph_files(out, f"gate_{name}", f, title=f"{name} gate, upstream gradient 2")
    return files


def vectorized_linear(out: Path, data_dir=None) -> list:
    """Y = X W with the shape of every gradient: dL/dX = dL/dY W^T, dL/dW = X^T dL/dY."""
    cr.manual_seed(0)
    X = cr.randn(64, 3072, requires_grad=True)
    W = cr.randn(3072, 100, requires_grad=True)
    X.name, W.name = "X", "W"
    Y = X @ W
    L = (Y * Y).mean()
    text = explain(L, names={"Y": Y, "L": L})
    (out / "vectorized_linear.txt").write_text(text + "\n")
    return _graph_files(out, "vectorized_linear", L, names={"Y": Y, "L": L}, small=0) + \
        [str(out / "vectorized_linear.txt")]


def pipeline(out: Path, data_dir=None) -> list:
    """The modular pipeline Linear -> ReLU -> Linear -> softmax loss, forward and backward."""
    cr.manual_seed(0)
    net = cr.nn.MLP([4, 5, 3])
    x = cr.randn(2, 4)
    L = cr.nn.functional.cross_entropy(net(x), [0, 2])
    text = explain(L, model=net, names={"x": x, "L": L})
    (out / "pipeline.txt").write_text(text + "\n")
    return _graph_files(out, "pipeline", L, model=net, names={"x": x, "L": L}) + [str(out / "pipeline.txt")]


def loss_step_decay(out: Path, data_dir=None) -> list:
    """Training loss per iteration with step learning-rate decay (the spiral, `chainrule train`'s defaults)."""
    trainer, _ = run.make_trainer(run.RunConfig(), out / "_run", progress=False)
    trainer.run_dir, trainer.callbacks = None, []
    h = trainer.fit()
    plot_history(h, out / "loss_step_decay.png")
    return [str(out / "loss_step_decay.png")]


TEMPLATES = dict(epochs=25, lr=7e-3, reg=3e-2, init_std=1e-2, batch=128, hidden=100)
# chosen on the 5170-image CIFAR-10 subset so that both sets of templates show structure: SGD with
# momentum 0.9 from small random weights, L2 regularization strong enough to wear the initial noise
# away (linear 38%, 2-layer 35.5% test accuracy on its 1017 test images)


def _fit(net, X, y, seed: int, epochs: int, lr: float, reg: float, batch: int):
    """SGD with momentum on cross-entropy + reg x L2, as the course trains its classifiers."""
    opt = cr.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    loader = DataLoader(ArrayDataset(X, y), batch, shuffle=True, seed=seed)
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad()
            (cr.nn.functional.cross_entropy(net(xb), yb) + reg * cr.nn.functional.l2_penalty(net)).backward()
            opt.step()
    return net


def train_templates(data_dir, settings: dict | None = None, limit: int | None = None) -> dict:
    """Train a linear classifier and a 2-layer net on CIFAR-10 (the first ``limit`` training images,
    all by default) as the templates figure does (``TEMPLATES``, overridden by ``settings``).

    Returns {"linear": weight, "mlp": first-layer weight, "classes", "n_train", "n_test",
    "accuracy": {"linear", "mlp"}, "caption"}: what :func:`chainrule.viz.plots.plot_template_comparison` draws."""
    k = {**TEMPLATES, **(settings or {})}
    Xtr, ytr, Xte, yte, classes = load_cifar10(data_dir)
    Xtr, ytr = Xtr[:limit], ytr[:limit]
    pre = Preprocess.fit(Xtr, "mean_image")
    X, Xt = pre(Xtr).reshape(len(Xtr), -1), pre(Xte).reshape(len(Xte), -1)
    nets, acc = {}, {}
    for name, make in (("linear", lambda: cr.nn.Linear(3072, len(classes))),
                       ("mlp", lambda: cr.nn.MLP([3072, k["hidden"], len(classes)]))):
        cr.manual_seed(0)
        net = make()
        for layer in net.modules():  # small initial weights: what the templates show was learned
            if isinstance(layer, cr.nn.Linear):
                cr.nn.init.normal_(layer.weight, std=k["init_std"])
        nets[name] = _fit(net, X, ytr, 0, k["epochs"], k["lr"], k["reg"], k["batch"])
        acc[name] = float((predict(net, Xt).argmax(axis=1) == yte).mean())
    caption = (f"trained on {len(Xtr)} CIFAR-10 training images (mean image subtracted), {k['epochs']} epochs of SGD "
               f"(momentum 0.9, lr {k['lr']:g}, L2 {k['reg']:g}); test accuracy on {len(Xte)} images: "
               f"linear {acc['linear']:.1%}, 2-layer {acc['mlp']:.1%}")
    return {"linear": nets["linear"].weight, "mlp": nets["mlp"][0].weight, "classes": classes,
            "n_train": len(Xtr), "n_test": len(Xte), "accuracy": acc, "caption": caption}


def templates(out: Path, data_dir=None, settings: dict | None = None) -> list:
    """Templates: a linear classifier's 10 class templates beside a 2-layer net's first-layer weights (CIFAR-10)."""
    if not data_dir:
        raise FileNotFoundError("templates: needs CIFAR-10; pass --data-dir with the cifar-10-batches-py folder")
    t = train_templates(data_dir, settings)
    plot_template_comparison(t["linear"], t["mlp"], t["classes"], t["caption"], path=out / "templates.png")
    return [str(out / "templates.png")]


def filters(out: Path, data_dir=None) -> list:
    """Filters: a small CIFAR-10 ConvNet's first-layer 5x5 filters beside a 2-layer net's 32x32 templates."""
    if not data_dir:
        raise FileNotFoundError("filters: needs CIFAR-10; pass --data-dir with the cifar-10-batches-py folder")
    Xtr, ytr, _, _, _ = load_cifar10(data_dir)
    X = Preprocess.fit(Xtr, "mean_image")(Xtr).reshape(len(Xtr), -1)
    cr.manual_seed(0)
    conv = _fit(ConvNet((3, 32, 32), [16, 32], [5], 2, [100], 10), X, ytr, 0, 3, 1e-2, 1e-4, 64)
    k = TEMPLATES
    cr.manual_seed(0)
    mlp = cr.nn.MLP([3072, k["hidden"], 10])
    for layer in (mlp[0], mlp[2]):  # small initial weights: what the templates show was learned
        cr.nn.init.normal_(layer.weight, std=k["init_std"])
    _fit(mlp, X, ytr, 0, k["epochs"], k["lr"], k["reg"], k["batch"])
    plot_filters(conv[1].weight, mlp[0].weight[:32], path=out / "filters.png")
    return [str(out / "filters.png")]


FIGURES = {"linear_vs_2layer": linear_vs_2layer, "activations": activations, "graph": graph, "neuron": neuron,
           "gates": gates, "vectorized_linear": vectorized_linear, "pipeline": pipeline, "loss_step_decay": loss_step_decay,
           "templates": templates, "filters": filters}


def make(name: str, out, data_dir=None) -> list:
    """Write figure ``name`` into folder ``out``; returns the files written."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; `chainrule lecture --list` lists them")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return FIGURES[name](out, data_dir)


def make_each(name: str, out, data_dir=None):
    """Figure ``name``, or every figure for "all": yields (name, files written, None), or for "all"
    (name, [], why) for a figure whose data is missing (a single figure raises instead)."""
    for one in (list(FIGURES) if name == "all" else [name]):
        try:
            yield one, make(one, out, data_dir), None
        except FileNotFoundError as e:
            if name != "all":
                raise
            yield one, [], str(e)


def demo(x: float = -2.0, y: float = 5.0, z: float = -4.0) -> list:
    """The lecture's f = (x + y) * z, forward and backward, as the lines ``chainrule demo`` prints."""
    tx, ty, tz = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((x, "x"), (y, "y"), (z, "z")))
    q = tx + ty
    f = q * tz
    f.backward()
    return [f"f = (x + y) * z at x={x:g}, y={y:g}, z={z:g}",
            f"forward:  q = x + y = {q.item():g},  f = q * z = {f.item():g}",
            f"backward: df/dq = z = {q.grad.item():g}   (mul swaps)",
            f"          df/dz = q = {tz.grad.item():g}",
            f"          df/dx = df/dq * 1 = {tx.grad.item():g}   (add distributes)",
            f"          df/dy = df/dq * 1 = {ty.grad.item():g}"]
