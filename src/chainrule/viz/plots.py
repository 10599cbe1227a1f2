"""Plots with matplotlib (imported lazily; ``pip install matplotlib``). Each function returns the
figure and, where it helps a test or a notebook, the arrays it drew."""
from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.creation import tensor
from chainrule.nn.utils import predict


def _plt():
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install matplotlib (or pip install 'chainrule[viz]')") from None
    return plt


def history_curves(history) -> dict:
    """The arrays the training plot draws: loss per iteration, epoch averages, lr steps, accuracies."""
    h = history if isinstance(history, dict) else history.to_dict()
    it = np.asarray(h["iter_loss"], dtype=float)
    n_ep = len(h["epoch"])
    per = len(it) / n_ep if n_ep else 0
    epoch_x = (np.arange(1, n_ep + 1) * per) if n_ep else np.array([])
    lr = list(h["lr"])
    steps = [float(epoch_x[i - 1]) for i in range(1, len(lr)) if lr[i] != lr[i - 1]]
    return {"iteration": np.arange(1, len(it) + 1), "loss": it, "epoch_x": epoch_x,
            "epoch_loss": np.asarray(h["train_loss"], float), "lr_steps": steps,
            "epoch": np.asarray(h["epoch"]), "train_acc": np.asarray(h["train_acc"], float),
            "val_acc": np.asarray(h["val_acc"], float)}


def plot_history(history, path=None):
    """Training loss per iteration with epoch averages and learning-rate steps marked (the
    lecture's "loss with step decay" figure), beside train and validation accuracy per epoch."""
    plt = _plt()
    c = history_curves(history)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    a1.plot(c["iteration"], c["loss"], lw=0.6, alpha=0.6, label="loss per iteration")
    if len(c["epoch_x"]):
        a1.plot(c["epoch_x"], c["epoch_loss"], "o-", ms=3 if len(c["epoch_x"]) > 30 else 6, label="epoch average")
    for i, x in enumerate(c["lr_steps"]):
        a1.axvline(x, color="red", ls="--", lw=1, label="learning-rate step" if i == 0 else None)
    a1.set(xlabel="iteration", ylabel="training loss", title="Training loss")
    a1.legend()
    a2.plot(c["epoch"], c["train_acc"], "o-", label="train")
    if len(c["val_acc"]):
        a2.plot(c["epoch"], c["val_acc"], "o-", label="validation")
    a2.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0, 1.02))
    from matplotlib.ticker import MaxNLocator
    for ax in (a1, a2):  # whole iterations and epochs, even for a run of one epoch
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if len(c["epoch"]):
        a2.set_xlim(0.5, max(c["epoch"]) + 0.5)
    a2.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def confusion_matrix(labels, predictions, n_classes: int) -> np.ndarray:
    """counts[i, j] = number of samples of class i predicted as j."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels, int), np.asarray(predictions, int)), 1)
    return m


def plot_confusion(matrix, classes, path=None):
    plt = _plt()
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 1.0 + 0.55 * k))
    ax.imshow(matrix, cmap="Blues")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title="Confusion matrix")
    ax.set_xticklabels(classes, rotation=45, ha="right")
    ax.set_yticklabels(classes)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


# ----------------------------------------------------------------------------- the lecture's figures
def decision_grid(model, X, resolution: int = 200, margin: float = 0.3):
    """The model's predicted class on a grid over the 2-D data: (xx, yy, classes)."""
    X = np.asarray(X)
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.c_[xx.ravel(), yy.ravel()].astype(X.dtype if X.dtype.kind == "f" else np.float32)
    return xx, yy, predict(model, grid).argmax(axis=1).reshape(xx.shape)


def plot_decision_boundary(model, X, y, ax=None, title=None, path=None):
    """Coloured regions of the model's predictions over 2-D data, with the points on top."""
    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
    xx, yy, zz = decision_grid(model, X)
    y = np.asarray(y)
    cmap, norm = class_colors(max(int(zz.max()), int(y.max())) + 1)
    # one colour map and one normalization for regions and points: region k has class k's colour
    ax.pcolormesh(xx, yy, zz, cmap=cmap, norm=norm, alpha=REGION_ALPHA, shading="nearest", zorder=0)
    ax.scatter(np.asarray(X)[:, 0], np.asarray(X)[:, 1], c=y, cmap=cmap, norm=norm, s=12, edgecolors="k",
               linewidths=0.3, zorder=2)
    acc = decision_accuracy(model, X, y)
    ax.set(title=(title + f" (accuracy {acc:.0%})") if title else f"accuracy {acc:.0%}", xticks=[], yticks=[])
    if fig is not None and path is not None:
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return ax.figure


CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf")
REGION_ALPHA = 0.35


def class_colors(k: int):
    """(colormap, norm) giving class i the colour CLASS_COLORS[i], for regions and points alike."""
    from matplotlib.colors import BoundaryNorm, ListedColormap
    colors = [CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(k)]
    return ListedColormap(colors), BoundaryNorm(np.arange(k + 1) - 0.5, k)


def decision_accuracy(model, X, y) -> float:
    return float((predict(model, np.asarray(X)).argmax(axis=1) == np.asarray(y)).mean())


def plot_linear_vs_mlp(linear, mlp, data, hidden: int | None = None, path=None):
    """The lecture's comparison: a trained linear classifier beside a trained 2-layer network on the
    same 2-D data (viz draws; :func:`chainrule.lecture.linear_vs_mlp` trains them).

    Returns the figure and the two accuracies (linear, 2-layer)."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 5))
    plot_decision_boundary(linear, data.X, data.y, ax=a1, title="linear: s = W x + b")
    plot_decision_boundary(mlp, data.X, data.y, ax=a2,
                           title="2-layer ReLU net" + (f", H={hidden}" if hidden else ""))
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig, (decision_accuracy(linear, data.X, data.y), decision_accuracy(mlp, data.X, data.y))


def templates(weight, image_shape=(3, 32, 32)) -> np.ndarray:
    """First-layer weights (H, C*H*W) as H images (H, h, w, C) scaled to [0, 1] each."""
    w = np.asarray(weight._data if hasattr(weight, "_data") else weight, dtype=np.float64)
    c, h, wd = image_shape
    if w.ndim != 2 or w.shape[1] != c * h * wd:
        raise ValueError(f"templates: weight of shape {w.shape} does not hold images of shape {image_shape}")
    imgs = w.reshape(-1, c, h, wd).transpose(0, 2, 3, 1)
    lo = imgs.min(axis=(1, 2, 3), keepdims=True)
    hi = imgs.max(axis=(1, 2, 3), keepdims=True)
    return (imgs - lo) / np.maximum(hi - lo, 1e-12)


def plot_templates(weight, image_shape=(3, 32, 32), columns: int = 10, path=None, title=None):
    """The lecture's "templates": each hidden unit's input weights shown as an image."""
    plt = _plt()
    imgs = templates(weight, image_shape)
    n = len(imgs)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 0.9 + 0.4))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(imgs[i].squeeze(), cmap="gray" if image_shape[0] == 1 else None, interpolation="nearest")
    fig.suptitle(title or f"first-layer weights as {image_shape[1]}x{image_shape[2]} templates, one per hidden unit")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def filters(weight) -> np.ndarray:
    """First convolution weights (O, C, KH, KW) as O images (O, KH, KW, C) scaled to [0, 1] each."""
    w = np.asarray(weight._data if hasattr(weight, "_data") else weight, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"filters: expected convolution weights (out, in, kH, kW), got shape {w.shape}")
    imgs = w.transpose(0, 2, 3, 1)
    lo = imgs.min(axis=(1, 2, 3), keepdims=True)
    hi = imgs.max(axis=(1, 2, 3), keepdims=True)
    return (imgs - lo) / np.maximum(hi - lo, 1e-12)


def plot_filters(conv_weight, mlp_weight=None, image_shape=(3, 32, 32), columns: int = 8, path=None):
    """The first convolution layer's filters as small images, beside the MLP's first-layer templates
    (``mlp_weight`` (H, C*H*W), optional): local detectors that slide against whole-image templates."""
    plt = _plt()
    panels = [("first convolution layer: filters", filters(conv_weight))]
    if mlp_weight is not None:
        panels.append(("MLP first layer: templates", templates(mlp_weight, image_shape)))
    rows = [-(-len(imgs) // columns) for _, imgs in panels]
    fig = plt.figure(figsize=(columns * 0.9 * len(panels), max(rows) * 0.9 + 0.6))
    for k, (sub, (title, imgs)) in enumerate(zip(fig.subfigures(1, len(panels)) if len(panels) > 1 else [fig],
                                                 panels)):
        axes = sub.subplots(rows[k], columns)
        for i, ax in enumerate(np.atleast_1d(axes).ravel()):
            ax.axis("off")
            if i < len(imgs):
                ax.imshow(imgs[i].squeeze(), cmap="gray" if imgs.shape[-1] == 1 else None, interpolation="nearest")
        sub.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def plot_template_comparison(linear_weight, mlp_weight, classes, caption: str, image_shape=(3, 32, 32),
                             mlp_shown: int = 50, path=None):
    """The lecture's contrast: a linear classifier has one template per class (top row, named), a
    2-layer network's first layer many templates shared by the classes (below); ``caption`` says
    on what data and to what accuracy they were trained."""
    plt = _plt()
    lin, mlp = templates(linear_weight, image_shape), templates(mlp_weight, image_shape)[:mlp_shown]
    cols = max(len(lin), 10)
    rows = -(-len(mlp) // cols)
    fig = plt.figure(figsize=(cols * 1.05, 2.0 + rows * 1.1 + 1.0))
    top, bottom, foot = fig.subfigures(3, 1, height_ratios=[2.0, rows * 1.1 + 0.5, 0.5])
    gray = image_shape[0] == 1
    axes = top.subplots(1, cols)
    for i, ax in enumerate(np.atleast_1d(axes)):
        ax.axis("off")
        if i < len(lin):
            ax.imshow(lin[i].squeeze(), cmap="gray" if gray else None, interpolation="nearest")
            ax.set_title(str(classes[i]), fontsize=9)
    top.suptitle("Linear classifier: one template per class", fontsize=12)
    axes = bottom.subplots(rows, cols, squeeze=False).ravel()
    for j, ax in enumerate(axes):
        ax.axis("off")
        if j < len(mlp):
            ax.imshow(mlp[j].squeeze(), cmap="gray" if gray else None, interpolation="nearest")
    n_hidden = np.asarray(mlp_weight._data if hasattr(mlp_weight, "_data") else mlp_weight).shape[0]
    bottom.suptitle(f"2-layer network: the first-layer weights of {len(mlp)} of its {n_hidden} hidden units, "
                    f"templates the classes share", fontsize=12)
    foot.text(0.5, 0.5, caption, ha="center", va="center", fontsize=9, wrap=True)
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


ACTIVATION_FUNCTIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "elu", "gelu", "softplus")


def activation_curves(names=ACTIVATION_FUNCTIONS, lo: float = -4, hi: float = 4, n: int = 401) -> dict:
    """name -> (x, f(x), f'(x)), with f and f' computed by the library's own ops and backward()."""
    out = {}
    for name in names:
        x = tensor(np.linspace(lo, hi, n), dtype="float64", requires_grad=True)
        fn = ops.leaky_relu if name == "leaky_relu" else getattr(ops, name)
        y = fn(x, 0.1) if name == "leaky_relu" else fn(x)
        y.sum().backward()
        out[name] = (x._data.copy(), y._data.copy(), x.grad._data.copy())
    return out


def plot_activations(names=ACTIVATION_FUNCTIONS, path=None):
    """Each activation and its derivative (from backward()), one panel each."""
    plt = _plt()
    curves = activation_curves(names)
    cols = min(4, len(curves))
    rows = -(-len(curves) // cols)  # a grid of at most 4 columns, not one long strip
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.ravel()[len(curves):]:
        ax.axis("off")
    for ax, (name, (x, y, g)) in zip(axes.ravel(), curves.items()):
        ax.plot(x, y, label="f(x)")
        ax.plot(x, g, "--", label="f'(x)")
        ax.axhline(0, color="gray", lw=0.5)
        ax.axvline(0, color="gray", lw=0.5)
        ax.set_title(name + (" (0.1)" if name == "leaky_relu" else ""))
    axes.ravel()[0].legend(loc="upper left")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig
