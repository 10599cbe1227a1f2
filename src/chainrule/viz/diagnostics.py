"""Training diagnostics: per layer, the gradient norm, the fraction of dead ReLU units and of
saturated sigmoid/tanh units, recorded over training as a Trainer callback."""
from __future__ import annotations

import warnings

import numpy as np

from chainrule.autograd import no_grad
from chainrule.nn import layers


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
        from chainrule.tensor import Tensor
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
