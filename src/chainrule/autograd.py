"""PyTorch's ``torch.autograd`` names, from the core: Function, backward, grad, grad mode.

The engine itself lives in :mod:`chainrule.core` (see ARCHITECTURE.md); this module is the public,
PyTorch-named door to it.
"""
from chainrule.core import (  # noqa: F401
    AccumulateGrad, Function, FunctionCtx, backward, bump_version, enable_grad, grad, is_grad_enabled,
    no_grad, queue_callback, toposort, unbroadcast, version_error)
