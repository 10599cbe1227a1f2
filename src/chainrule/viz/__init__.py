"""Seeing it: plots of training (graph drawings and narrations are planned, see issue 5)."""
from chainrule.viz.plots import confusion_matrix, history_curves, plot_confusion, plot_history  # noqa: F401
