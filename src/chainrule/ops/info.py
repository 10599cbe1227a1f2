"""Questions about tensors' types and values that PyTorch answers at the top level (is_floating_point,
is_nonzero, result_type); the dtype rules themselves are :mod:`chainrule.dtypes`'s."""
from __future__ import annotations

from chainrule import dtypes
from chainrule.core import TensorBase


def _tensor(x, op: str, name: str = "input"):
    if not isinstance(x, TensorBase):
        raise TypeError(f"{op}(): argument '{name}' (position 1) must be Tensor, not {type(x).__name__}")
    return x


def is_floating_point(input) -> bool:  # noqa: A002
    """Whether the tensor's dtype is a floating-point one.

    Example:
        >>> import chainrule as cr
        >>> cr.is_floating_point(cr.ones(2)), cr.is_floating_point(cr.tensor([1, 2]))
        (True, False)
    """
    return _tensor(input, "is_floating_point")._data.dtype.kind == "f"


def is_nonzero(input) -> bool:  # noqa: A002
    """Whether a one-element tensor is not zero (PyTorch's refusals for more elements or none)."""
    a = _tensor(input, "is_nonzero")._data
    if a.size == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if a.size > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(a.reshape(()) != 0)


def result_type(tensor1, tensor2):
    """The dtype an op on these two operands computes in: a tensor, a 0-d tensor or a number (which
    count by category, as in every op; torch.result_type).

    Example:
        >>> import chainrule as cr
        >>> cr.result_type(cr.tensor([1, 2], dtype=cr.int32), 2.5)
        dtype('float32')
    """
    return dtypes.operands_dtype(tensor1, tensor2)
