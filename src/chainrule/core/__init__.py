"""The core of the engine: the tensor record, Function, grad mode, the backward walk, versions.

It imports nothing else of chainrule (checked by import-linter, see ARCHITECTURE.md).
"""
from chainrule.core.errors import DtypeError, IndexRangeError, LinAlgError, ShapeError  # noqa: F401
from chainrule.core.engine import (  # noqa: F401
    RemovableHandle, backward, grad, queue_callback, register_hook, toposort)
from chainrule.core.function import (  # noqa: F401
    ALL, AccumulateGrad, Function, FunctionCtx, TensorBase, bump_version, check_versions, make, ones_vector,
    is_shape_constant, set_tensor_class, shape_constant, sum_last, sum_rows, torch_name, unbroadcast,
    version_error)
from chainrule.core.mode import (  # noqa: F401
    enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled)
