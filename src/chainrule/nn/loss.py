"""Loss modules: thin wrappers that call the functions in ``chainrule.nn.functional``."""
from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.module import Module


class CrossEntropyLoss(Module):
    """Softmax cross-entropy; see :func:`chainrule.nn.functional.cross_entropy`."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, self.reduction, self.label_smoothing)


class MulticlassSVMLoss(Module):
    """The lecture's multiclass SVM (hinge) loss; see :func:`chainrule.nn.functional.svm_loss`."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.margin, self.reduction = margin, reduction

    def forward(self, scores, target):
        return F.svm_loss(scores, target, self.margin, self.reduction)


class NLLLoss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, log_probs, target):
        return F.nll_loss(log_probs, target, self.reduction)


class MSELoss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):  # noqa: A002
        return F.mse_loss(input, target, self.reduction)


class BCEWithLogitsLoss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)
