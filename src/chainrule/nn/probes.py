"""Training diagnostics the course teaches, recorded with Module hooks: per layer, the activations
and the gradients flowing back into them (samples at chosen steps, for histograms), the fraction
of saturated tanh/sigmoid units and of dead ReLUs, and per weight the update-to-data ratio
lr x |grad| / |weight| at every step (:class:`Probes`); and per epoch, per layer, the gradient norm
and the dead or saturated fraction on a probe batch, with a warning when most units are
(:class:`Diagnostics`). The data only: :mod:`chainrule.viz.health` draws it.
"""
from __future__ import annotations

import warnings

import numpy as np

from chainrule.autograd import is_grad_enabled, no_grad
from chainrule.nn import layers
from chainrule.tensor import Tensor

RELUS = (layers.ReLU, layers.LeakyReLU)
SQUASHES = {layers.Tanh: "tanh", layers.Sigmoid: "sigmoid"}
ACTIVATIONS = (*RELUS, *SQUASHES, layers.ELU, layers.GELU, layers.Softplus)
SATURATED = 0.97   # tanh beyond |0.97|, sigmoid beyond 0.03 or 0.97 (the course's threshold): the local
#                    gradient 1 - t^2 (or s(1 - s)) is below 6% (3%) of its largest


def kind_of(m) -> str:
    if isinstance(m, RELUS):
        return "relu"
    for cls, kind in SQUASHES.items():
        if isinstance(m, cls):
            return kind
    return type(m).__name__.lower()


def saturated_fraction(a: np.ndarray, kind: str) -> float:
    """The fraction of a tanh's outputs beyond +-0.97, or of a sigmoid's beyond 0.03 and 0.97."""
    if kind == "tanh":
        return float((np.abs(a) > SATURATED).mean())
    return float(((a < 1 - SATURATED) | (a > SATURATED)).mean())


def dead_fraction(a: np.ndarray) -> float:
    """The fraction of ReLU units (features) that are zero for every sample of the batch."""
    flat = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)
    return float((flat <= 0).all(axis=0).mean())


class Probes:
    """Record a model's health while it trains: a Trainer callback built on Module hooks.

    Hooks on every activation layer (ReLU, LeakyReLU, Tanh, Sigmoid, ELU, GELU, Softplus) record,
    on each training step (grad mode on, the model in training mode): the activations' mean and
    standard deviation, the fraction of saturated (tanh, sigmoid) or dead (ReLU) units, and the
    standard deviation of the gradient flowing back into them; at the steps in ``steps``, a random
    sample of the activations and of their gradients (for histograms). After each optimizer step
    (``on_step``) it records, for every weight matrix, the update-to-data ratio
    lr x |grad| / |weight| (norms over the whole matrix; the course's healthy value is about 1e-3).

    Args:
        model (Module): the network to watch.
        steps (tuple, (1, 10, 100, 1000)): the training steps (1 = the first) to keep samples of.
        sample (int, 2000): values kept per layer and step for the histograms.
        seed (int, 0): for choosing the samples.

    ``data`` holds what was recorded (plain lists and floats: JSON as it is); ``remove()`` takes
    the hooks off again.

    Example:
        >>> import chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.Tanh(), cr.nn.Linear(8, 2))
        >>> probes = Probes(net, steps=(1,))
        >>> net(cr.randn(16, 4)).sum().backward()
        >>> probes.end_step(lr=0.1)
        >>> sorted(probes.data["layers"]["1"]), len(probes.data["ratio"]["0.weight"])
        (['act_mean', 'act_std', 'grad_std', 'kind', 'saturated', 'snapshots'], 1)
    """

    def __init__(self, model, steps=(1, 10, 100, 1000), sample: int = 2000, seed: int = 0):
        self.model, self.keep, self.sample = model, set(int(s) for s in steps), int(sample)
        self.rng = np.random.default_rng(seed)
        self.step = 1  # the training step now running
        self.handles = []
        self.pending: dict = {}
        watched = [(n, m) for n, m in model.named_modules() if isinstance(m, ACTIVATIONS)]
        if not watched:
            raise ValueError(f"Probes: {type(model).__name__} has no activation layers (ReLU, Tanh, Sigmoid, ...) "
                             f"to watch")
        self.data = {"steps": [], "snapshot_steps": [], "layers": {}, "ratio": {}}
        for name, m in watched:
            kind = kind_of(m)
            self.data["layers"][name] = {"kind": kind, "act_mean": [], "act_std": [], "grad_std": [],
                                         ("dead" if kind == "relu" else "saturated"): [], "snapshots": []}
            self.handles.append(m.register_forward_hook(self._forward_hook(name, kind)))
            self.handles.append(m.register_full_backward_hook(self._backward_hook(name)))
        self.weights = [(n, p) for n, p in model.named_parameters() if p.ndim >= 2]
        for n, _ in self.weights:
            self.data["ratio"][n] = []

    def _recording(self, m) -> bool:
        return m.training and is_grad_enabled()

    def _forward_hook(self, name, kind):
        def hook(m, args, out):
            if not self._recording(m):
                return None
            a = np.asarray(out._data, dtype=np.float64)
            rec = {"act_mean": float(a.mean()), "act_std": float(a.std())}
            if kind == "relu":
                rec["dead"] = dead_fraction(a)
            elif kind in ("tanh", "sigmoid"):
                rec["saturated"] = saturated_fraction(a, kind)
            if self.step in self.keep:
                rec["act_sample"] = self._sample(a)
            self.pending[name] = rec
            return None
        return hook

    def _backward_hook(self, name):
        def hook(m, grad_input, grad_output):
            rec = self.pending.get(name)
            if rec is None or grad_output[0] is None:
                return None
            g = np.asarray(grad_output[0]._data, dtype=np.float64)
            rec["grad_std"] = float(g.std())
            if self.step in self.keep:
                rec["grad_sample"] = self._sample(g)
            return None
        return hook

    def _sample(self, a: np.ndarray) -> list:
        flat = a.ravel()
        if flat.size > self.sample:
            flat = flat[self.rng.choice(flat.size, self.sample, replace=False)]
        return flat.tolist()

    def end_step(self, lr: float) -> None:
        """Close the step now running: keep what the hooks saw and the weights' update-to-data ratios
        (call it after the backward pass, while the gradients are still there)."""
        self.data["steps"].append(self.step)
        kept = self.step in self.keep
        if kept:
            self.data["snapshot_steps"].append(self.step)
        for name, layer in self.data["layers"].items():
            rec = self.pending.pop(name, {})
            for key in ("act_mean", "act_std", "grad_std", "dead", "saturated"):
                if key in layer:
                    layer[key].append(rec.get(key, float("nan")))
            if kept:
                layer["snapshots"].append({"step": self.step, "act": rec.get("act_sample", []),
                                           "grad": rec.get("grad_sample", [])})
        for n, p in self.weights:
            g = p._grad
            w = float(np.linalg.norm(p._data))
            self.data["ratio"][n].append(float(lr * np.linalg.norm(g) / w) if g is not None and w > 0 else float("nan"))
        self.step += 1

    def on_step(self, trainer, loss) -> None:
        """The Trainer's callback: after each optimizer step (the gradients are still in .grad)."""
        self.end_step(trainer.optimizer.param_groups[0]["lr"])

    def remove(self) -> None:
        """Take the hooks off the model."""
        for h in self.handles:
            h.remove()
        self.handles = []


class Diagnostics:
    """A Trainer callback. After each epoch it records, for each Linear layer, the gradient norm
    of its weight, and for each activation layer the fraction of units that were dead (ReLU: zero
    for every sample of a probe batch) or saturated (sigmoid outside (0.02, 0.98), tanh beyond
    |0.96|). It warns (warnings.warn) when most units of a layer are dead or saturated.

    Args:
        probe (ndarray): a batch of inputs to measure activations on.
        threshold (float, 0.5): warn above this fraction.
    """

    def __init__(self, probe, threshold: float = 0.5):
        self.probe, self.threshold = np.asarray(probe), threshold
        self.records: list = []

    def on_epoch_end(self, trainer):
        model = trainer.model
        rec = {"epoch": trainer.epoch}
        for name, m in model.named_modules():
            if isinstance(m, layers.Linear) and m.weight._grad is not None:
                rec[f"{name}.grad_norm"] = float(np.linalg.norm(m.weight._grad))
        x = self.probe
        with no_grad():
            h = Tensor(x, dtype=next(model.parameters()).dtype)
            for name, m in model.named_children():
                h = m(h)
                a = h._data
                if isinstance(m, (layers.ReLU, layers.LeakyReLU)):
                    frac = float((a <= 0).all(axis=0).mean())
                    rec[f"{name}.dead"] = frac
                    if frac > self.threshold:
                        warnings.warn(f"epoch {trainer.epoch}: {frac:.0%} of the ReLU units of layer {name} are dead "
                                      f"(never active on the probe batch); try a lower learning rate or another init",
                                      RuntimeWarning, stacklevel=2)
                elif isinstance(m, (layers.Sigmoid, layers.Tanh)):
                    sat = (a < 0.02) | (a > 0.98) if isinstance(m, layers.Sigmoid) else np.abs(a) > 0.96
                    frac = float(sat.mean())
                    rec[f"{name}.saturated"] = frac
                    if frac > self.threshold:
                        warnings.warn(f"epoch {trainer.epoch}: {frac:.0%} of the {type(m).__name__} outputs of layer "
                                      f"{name} are saturated; their gradients vanish (scale the inputs or the init "
                                      f"down)", RuntimeWarning, stacklevel=2)
        self.records.append(rec)
