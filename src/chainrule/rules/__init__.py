"""The rules: every op as a Function, ``forward`` and ``backward`` side by side on ndarrays.

A rule imports only NumPy and :mod:`chainrule.core`: no Tensor, no argument parsing (the front,
:mod:`chainrule.ops` and :mod:`chainrule.tensor`, checks and normalises arguments, then calls
``Rule.apply(*tensors, **options)``). Every array a backward reads is an input of the op, so that
the version check covers it. Each rule's docstring states its local gradient.
"""
import warnings

# PyTorch computes 1/0 = inf, log 0 = -inf, sqrt(-1) = nan and exp(1000) = inf without a word, where
# NumPy warns ("divide by zero encountered in log"). Those warnings are silenced for the rule modules
# only, at no cost per op: the user's own NumPy code still warns.
warnings.filterwarnings("ignore", message=r".* encountered in ", category=RuntimeWarning,
                        module=r"chainrule\.rules(\.|$)")
