"""The course's training diagnostics as figures, from what :class:`chainrule.nn.probes.Probes`
recorded (its ``data``, or the diagnostics.json a run writes): one panel per layer, labelled axes,
the healthy band shaded green.

- :func:`plot_activation_histograms`: where the activations lie at chosen steps (saturated tanh
  and sigmoid outputs, dead ReLUs);
- :func:`plot_gradient_histograms`: the gradients flowing back into each layer's activations,
  against the band that holds the pooled gradients of all layers;
- :func:`plot_unit_health`: the fraction of saturated or dead units over the steps;
- :func:`plot_update_ratios`: lr x |grad| / |weight| per weight matrix over the steps (about 1e-3).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from chainrule.viz.plots import _plt

HEALTHY = "#2da44e"
HEALTHY_FRACTION = 0.05       # saturated or dead units: more than this is worth a look
RATIO_BAND = (1e-4, 1e-2)     # update-to-data ratio: the course's rule of thumb is about 1e-3


def _grid(plt, n: int, width: float = 3.6, height: float = 2.9):
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.5), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes.ravel()[:n]


def _finish(fig, title: str, path):
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        _plt().close(fig)
    return fig


def _layer_title(name: str, layer: dict) -> str:
    return f"layer {name} ({layer['kind']})"


def plot_activation_histograms(data: dict, path=None):
    """Histograms of each activation layer's outputs at the recorded steps, one panel per layer;
    the healthy region (tanh/sigmoid: not saturated; ReLU: active) shaded."""
    plt = _plt()
    layers = data["layers"]
    fig, axes = _grid(plt, len(layers))
    for ax, (name, layer) in zip(axes, layers.items()):
        kind = layer["kind"]
        lo, hi = {"tanh": (-1, 1), "sigmoid": (0, 1)}.get(kind, (None, None))
        for snap in layer["snapshots"]:
            a = np.asarray(snap["act"])
            if a.size:
                ax.hist(a, bins=50, range=(lo, hi) if lo is not None else None, histtype="step", density=True,
                        lw=1.4, label=f"step {snap['step']}")
        if kind == "tanh":
            ax.axvspan(-0.97, 0.97, color=HEALTHY, alpha=0.12, label="healthy: |t| < 0.97")
        elif kind == "sigmoid":
            ax.axvspan(0.03, 0.97, color=HEALTHY, alpha=0.12, label="healthy: 0.03 < s < 0.97")
        elif kind == "relu":
            ax.axvspan(0, max(ax.get_xlim()[1], 1e-3), color=HEALTHY, alpha=0.12, label="healthy: active (> 0)")
        last = layer.get("saturated") or layer.get("dead") or []
        what = "saturated" if "saturated" in layer else "dead"
        extra = f", {what} {last[-1]:.0%} at the end" if last and np.isfinite(last[-1]) else ""
        ax.set(title=_layer_title(name, layer) + extra, xlabel="activation value", ylabel="density")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    return _finish(fig, "Activations per layer (histograms at chosen steps)", path)


def plot_gradient_histograms(data: dict, path=None):
    """Histograms of the gradients flowing back into each layer's activations at the recorded
    steps, one panel per layer; shaded: the central 95% of all layers' gradients pooled, so that a
    layer whose gradients vanish (a spike at 0) or explode stands out."""
    plt = _plt()
    layers = data["layers"]
    pooled = np.concatenate([np.asarray(s["grad"]) for layer in layers.values() for s in layer["snapshots"]] +
                            [np.zeros(0)])
    band = np.percentile(pooled, [2.5, 97.5]) if pooled.size else None
    fig, axes = _grid(plt, len(layers))
    for ax, (name, layer) in zip(axes, layers.items()):
        for snap in layer["snapshots"]:
            g = np.asarray(snap["grad"])
            if g.size:
                ax.hist(g, bins=50, range=tuple(band * 3) if band is not None and band[1] > band[0] else None,
                        histtype="step", density=True, lw=1.4, label=f"step {snap['step']} (std {g.std():.1e})")
        if band is not None and band[1] > band[0]:
            ax.axvspan(band[0], band[1], color=HEALTHY, alpha=0.12, label="all layers' central 95%")
        ax.set(title=_layer_title(name, layer), xlabel="gradient dL/d(activation)", ylabel="density")
        ax.title.set_fontsize(9)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
        ax.legend(fontsize=7)
    return _finish(fig, "Gradients flowing back into each layer (histograms at chosen steps)", path)


def plot_unit_health(data: dict, path=None):
    """The fraction of saturated (tanh, sigmoid) or dead (ReLU) units of each layer over the
    training steps, one panel per layer; shaded: below 5%."""
    plt = _plt()
    layers = {n: l for n, l in data["layers"].items() if "saturated" in l or "dead" in l}
    fig, axes = _grid(plt, max(1, len(layers)))
    steps = np.asarray(data["steps"])
    for ax, (name, layer) in zip(axes, layers.items()):
        what = "saturated" if "saturated" in layer else "dead"
        ax.axhspan(0, HEALTHY_FRACTION, color=HEALTHY, alpha=0.15, label=f"healthy: under {HEALTHY_FRACTION:.0%}")
        ax.plot(steps, layer[what], lw=1.2, label=f"{what} units")
        ax.set(title=_layer_title(name, layer), xlabel="training step", ylabel=f"fraction {what}", ylim=(-0.02, 1.02))
        ax.legend(fontsize=7)
    return _finish(fig, "Saturated (tanh, sigmoid) and dead (ReLU) units per layer", path)


def plot_update_ratios(data: dict, path=None):
    """lr x |grad| / |weight| of each weight matrix over the training steps (log scale), one panel
    per weight; shaded: 1e-4 to 1e-2 around the course's rule of thumb 1e-3."""
    plt = _plt()
    ratios = data["ratio"]
    fig, axes = _grid(plt, max(1, len(ratios)))
    steps = np.asarray(data["steps"])
    for ax, (name, r) in zip(axes, ratios.items()):
        ax.axhspan(*RATIO_BAND, color=HEALTHY, alpha=0.15, label="healthy: 1e-4 to 1e-2")
        ax.axhline(1e-3, color=HEALTHY, ls="--", lw=1, label="1e-3")
        ax.plot(steps, r, lw=1.2, label="lr x |grad| / |w|")
        ax.set(yscale="log", title=f"weight {name}", xlabel="training step", ylabel="update / data")
        ax.legend(fontsize=7)
    return _finish(fig, "Update-to-data ratio per weight matrix", path)


FIGURES = {"activations": plot_activation_histograms, "gradients": plot_gradient_histograms,
           "units": plot_unit_health, "update_ratio": plot_update_ratios}


def plot_diagnostics(data: dict, folder) -> list:
    """Write the four figures into ``folder`` as diagnostics_<name>.png; returns their paths."""
    out = []
    for name, fn in FIGURES.items():
        path = Path(folder) / f"diagnostics_{name}.png"
        fn(data, path)
        out.append(str(path))
    return out
