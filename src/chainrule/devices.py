"""Devices: chainrule computes with NumPy on the CPU, so ``"cpu"`` is the one device there is.

``device("cpu")``, ``device=`` on factories and ``.to("cpu")`` are accepted so that PyTorch code
runs unchanged; asking for a GPU (``"cuda"``, ``"mps"``) raises one clear error instead of
silently computing somewhere else.
"""
from __future__ import annotations


class device:  # noqa: N801 - PyTorch's name
    """A device. ``device("cuda")`` can be named (code often builds it before checking), but only
    the CPU can hold tensors: passing any other device to a factory or ``.to()`` raises.

    Example:
        >>> import chainrule as cr
        >>> cr.device("cpu")
        device(type='cpu')
    """

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):  # noqa: A002 - PyTorch's keyword
        if not isinstance(type, str) and isinstance(getattr(type, "type", None), str):
            type, index = type.type, getattr(type, "index", None)  # a device, or torch.device
        name = str(type)
        if ":" in name:
            name, _, idx = name.partition(":")
            index = int(idx) if idx.isdigit() else index
        if name not in _KNOWN:
            raise RuntimeError(f"Expected one of cpu, cuda, mps, xpu, meta device type at start of "
                               f"device string: {type}")
        self.type, self.index = name, index

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        return isinstance(other, device) and other.type == self.type

    def __hash__(self):
        return hash(self.type)

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type


_KNOWN = ("cpu", "cuda", "mps", "xpu", "meta", "mtia", "hpu", "xla")


def _gpu_message(name: str) -> str:
    return (f"device {name!r} is not available: chainrule runs on the CPU only (NumPy); "
            f"use device='cpu' (chainrule.cuda.is_available() is False)")


def is_device(a) -> bool:
    """True for a device (also a torch.device), or a string naming one ("cpu", "cuda:0", "hpu"), as
    ``to()`` reads its arguments."""
    if isinstance(a, str):
        return a.split(":")[0] in _KNOWN
    return isinstance(getattr(a, "type", None), str)  # a device, or a torch.device


def check(dev) -> "device":
    """``dev`` as a device, raising one clear line for anything but the CPU."""
    if isinstance(dev, int):  # a GPU index, as in .to(0) or device=0
        raise RuntimeError(_gpu_message(f"cuda:{dev}"))
    d = dev if isinstance(dev, device) else device(dev)
    if d.type != "cpu":
        raise RuntimeError(_gpu_message(str(dev)))
    return d


CPU = device("cpu")

_default = CPU


def set_default_device(dev) -> None:
    """Only ``"cpu"`` (or None) is accepted: chainrule has no other device."""
    if dev is not None:
        check(dev)


def get_default_device() -> device:
    return _default
