"""Plots with matplotlib (imported lazily; ``pip install matplotlib``). Each function returns the
figure and, where it helps a test or a notebook, the arrays it drew."""
from __future__ import annotations

import numpy as np


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
