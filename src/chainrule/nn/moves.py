"""Reading PyTorch's ``Module.to(...)`` arguments: a dtype, a device ("cpu" only), or a tensor."""
from __future__ import annotations

from chainrule import devices, dtypes
from chainrule.tensor import Tensor

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
        devices.check(kwargs["device"])
    for a in args:
        if isinstance(a, bool) or a is None:
            continue
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif devices.is_device(a) or isinstance(a, int):
            devices.check(a)
        else:
            dtype = a
    if dtype is None:
        return None
    d = dtypes.as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"{what} only accepts floating point dtypes, but got desired dtype={d}")
    return d
