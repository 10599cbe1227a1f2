"""PyTorch's global switches: the thread count (NumPy's BLAS threads), and those that have no meaning
on NumPy, accepted and remembered (documented no-ops)."""
from __future__ import annotations

import warnings

from threadpoolctl import threadpool_info, threadpool_limits

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


_deterministic = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Accepted and remembered: chainrule's CPU results are deterministic already (NumPy's kernels have
    no nondeterministic atomics), so seeding code that asks for determinism runs unchanged."""
    _deterministic.update(mode=bool(mode), warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled() -> bool:
    """What use_deterministic_algorithms last set (False at start)."""
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """The warn_only flag use_deterministic_algorithms last set."""
    return _deterministic["warn_only"]


def set_num_threads(num: int) -> None:
    """The threads NumPy's BLAS (and OpenMP) may use in this process (torch.set_num_threads: PyTorch's
    intra-op threads; chainrule's parallel work is BLAS's). ``chainrule train --threads`` sets it too."""
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise RuntimeError("set_num_threads expects a positive integer")
    threadpool_limits(num)


def blas_threads() -> int | None:
    """The BLAS thread count in force (None if no BLAS library is loaded)."""
    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return min(counts) if counts else None


def get_num_threads() -> int:
    """The threads NumPy's BLAS uses now (1 when no BLAS library reports a count)."""
    return blas_threads() or 1
