"""The rules: every op as a Function, ``forward`` and ``backward`` side by side on ndarrays.

A rule imports only NumPy and :mod:`chainrule.core`: no Tensor, no argument parsing (the front,
:mod:`chainrule.ops` and :mod:`chainrule.tensor`, checks and normalises arguments, then calls
``Rule.apply(*tensors, **options)``). Every array a backward reads is an input of the op, so that
the version check covers it. Each rule's docstring states its local gradient.
"""
