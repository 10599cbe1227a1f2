"""What a run produced and how a model scores: the :class:`History` of a run (per iteration and per
epoch) and :func:`evaluate` (loss and accuracy over a loader). Below the Trainer, its checkpoints
and the distributed run, which all read them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chainrule.autograd import no_grad


@dataclass
class History:
    """What training produced: loss per iteration; per epoch train/val loss and accuracy and lr."""

    iter_loss: list = field(default_factory=list)
    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def evaluate(model, loader, loss_fn=None) -> dict:
    """Loss (if ``loss_fn``), accuracy, predictions and labels of ``model`` over ``loader`` (eval mode)."""
    was = model.training
    model.eval()
    total, correct, loss_sum, preds, labels = 0, 0, 0.0, [], []
    with no_grad():
        for X, y in loader:
            s = model(X)
            p = s._data.argmax(axis=1)
            preds.append(p)
            labels.append(y._data)
            correct += int((p == y._data).sum())
            total += len(p)
            if loss_fn is not None:
                loss_sum += float(loss_fn(s, y).item()) * len(p)
    model.train(was)
    out = {"accuracy": correct / max(total, 1), "predictions": np.concatenate(preds) if preds else np.array([]),
           "labels": np.concatenate(labels) if labels else np.array([])}
    if loss_fn is not None:
        out["loss"] = loss_sum / max(total, 1)
    return out
