"""Lazy modules (PyTorch's LazyModuleMixin): parameters made as UninitializedParameter and given their
shape by the first forward, which then turns the module into its plain class (LazyLinear -> Linear)."""
from __future__ import annotations

from chainrule.nn.module import UninitializedParameter


class LazyModuleMixin:
    """Put before a layer class, with ``cls_to_become`` the layer and ``initialize_parameters(*args)``
    materializing the parameters from the first input. A forward pre-hook does it once, then removes
    itself and sets the module's class to ``cls_to_become``. ``load_state_dict`` also materializes
    them, with the saved shapes (``Module.load_state_dict``).

    As in PyTorch, an optimizer may be made before the first forward: the parameters stay the same
    objects. Reading an uninitialized parameter's values raises ValueError.
    """

    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(self._infer_parameters, with_kwargs=True)

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter of this module (not of its children) still waits for its shape."""
        return any(isinstance(p, UninitializedParameter) for p in self._parameters.values())

    def initialize_parameters(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"initialize_parameters is not implemented for {type(self).__name__}")

    def _infer_parameters(self, module, args, kwargs=None):
        module.initialize_parameters(*args, **(kwargs or {}))
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {type(module).__name__} has not been fully initialized")
        module._initialize_hook.remove()
        del module._initialize_hook
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become
