"""Seeing it: graph drawings (Graphviz), the narrated backward pass, the HTML stepper, plots
(matplotlib), and training diagnostics."""
from chainrule.nn.probes import Diagnostics  # noqa: F401  (it records: nn.probes; cr.viz.Diagnostics as before)
from chainrule.viz.explain import explain  # noqa: F401
from chainrule.viz.graph import draw_graph, render  # noqa: F401
from chainrule.viz.health import (plot_activation_histograms, plot_diagnostics, plot_gradient_histograms,  # noqa: F401
                                  plot_unit_health, plot_update_ratios)
from chainrule.viz.stepper import Stepper, stepper  # noqa: F401
from chainrule.viz.plots import (activation_curves, confusion_matrix, decision_grid, history_curves,  # noqa: F401
                                 plot_activations, plot_confusion, plot_decision_boundary, plot_history,
                                 plot_linear_vs_mlp, plot_template_comparison, plot_templates, templates)
from chainrule.viz.plots import filters, plot_filters  # noqa: F401
