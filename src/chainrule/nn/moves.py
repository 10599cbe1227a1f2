"""Reading PyTorch's ``Module.to(...)`` arguments: a dtype, a device ("cpu" only), or a tensor."""
from __future__ import annotations

from chainrule import dtypes
from chainrule.tensor import Tensor

_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "meta", "hip")


def no_cuda(what: str):
    raise RuntimeError(f"{what}: chainrule runs on the CPU only (no CUDA); use 'cpu' or drop the "
                       f"device argument")


def _device(d, what: str) -> None:
    kind = d if isinstance(d, str) else str(getattr(d, "type", d))
    if kind.split(":")[0] != "cpu":
        no_cuda(f"{what}({d!r})")


def _is_device(a) -> bool:
    if isinstance(a, str):
        return a.split(":")[0] in _DEVICE_TYPES
    return isinstance(getattr(a, "type", None), str)


def parse_to(what: str, args, kwargs):
    """The float dtype asked for by ``to(*args, **kwargs)`` (None: keep the dtype); devices other
    than the CPU raise one clear error."""
    unknown = set(kwargs) - {"dtype", "device", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"{what}: unexpected keyword(s) {sorted(unknown)}")
    if len(args) > 3:
        raise TypeError(f"{what}: takes at most (device, dtype, non_blocking), got {len(args)} arguments")
    dtype = kwargs.get("dtype")
    if kwargs.get("device") is not None:
        _device(kwargs["device"], what)
    for a in args:
        if isinstance(a, bool) or a is None:
            continue
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif _is_device(a):
            _device(a, what)
        else:
            dtype = a
    if dtype is None:
        return None
    d = dtypes.as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"{what} only accepts floating point dtypes, but got desired dtype={d}")
    return d
