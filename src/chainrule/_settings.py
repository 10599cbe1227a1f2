"""PyTorch's global switches that have no meaning on NumPy, accepted and remembered (documented no-ops)."""
from __future__ import annotations

import warnings

_PRECISIONS = ("highest", "high", "medium")
_matmul_precision = "highest"


def set_float32_matmul_precision(precision: str) -> None:
    """Accepted for PyTorch code and remembered; changes nothing: NumPy's float32 matmul always uses
    full float32 precision ("highest"), with no TF32 or bfloat16 shortcuts to allow."""
    global _matmul_precision
    if precision not in _PRECISIONS:   # PyTorch warns and keeps the setting
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the "
                      f"set_float32_matmul_precision call has no effect.", UserWarning, stacklevel=2)
        return
    _matmul_precision = precision


def get_float32_matmul_precision() -> str:
    """The value last given to set_float32_matmul_precision ("highest" at start)."""
    return _matmul_precision
