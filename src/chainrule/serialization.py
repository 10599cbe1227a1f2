"""save and load: PyTorch's ``torch.save(obj, path)`` / ``torch.load(path)``, without pickle.

One file holds everything: the arrays in safetensors format and the structure around them
(dicts, lists, tuples, numbers, strings, None) as JSON in the safetensors header's metadata. Loading
a file never runs code; an object that cannot be written that way (a Module, an optimizer, a
function, any other class) is refused with a one-line error that says what to save instead.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from chainrule.tensor import Tensor

_FORMAT = "chainrule"
_VERSION = "1"


class _Writer:
    """Turns an object into JSON-able structure, collecting its arrays under keys a0, a1, ..."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def _array(self, a: np.ndarray) -> str:
        if a.dtype.kind not in "biuf":
            raise TypeError(f"save: cannot store an array of dtype {a.dtype}; chainrule.save stores bool, "
                            f"integer and float arrays")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(a)
        return [key, list(a.shape)]  # the shape too: safetensors gives 0-d arrays back as (1,)

    def encode(self, obj, where: str):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, float)) and not isinstance(obj, np.generic):
            return obj
        if isinstance(obj, Tensor):
            out = {"__tensor__": self._array(obj._data), "requires_grad": bool(obj.requires_grad)}
            if type(obj).__name__ == "Parameter":
                out["parameter"] = True
            return out
        if isinstance(obj, np.ndarray):
            return {"__ndarray__": self._array(obj)}
        if isinstance(obj, np.generic):
            return {"__scalar__": self._array(np.asarray(obj))}
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise TypeError(f"save: dict key {k!r} at {where} is a {type(k).__name__}; chainrule.save "
                                    f"stores dicts whose keys are strings or ints")
                items.append([k, self.encode(v, f"{where}[{k!r}]")])
            return {"__dict__": items, "ordered": isinstance(obj, OrderedDict)}
        if isinstance(obj, (list, tuple)):
            kind = "__list__" if isinstance(obj, list) else "__tuple__"
            return {kind: [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        raise TypeError(_refusal(obj, where))


def _refusal(obj, where: str) -> str:
    name = type(obj).__name__
    at = "" if where == "obj" else f" (at {where})"
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        return (f"save: cannot store an object of type {name}{at} safely; save its state instead: "
                f"chainrule.save(x.state_dict(), path), and rebuild it in code, then x.load_state_dict(chainrule.load(path))")
    return (f"save: cannot store an object of type {name}{at} safely (no pickle); chainrule.save stores tensors, "
            f"arrays, numbers, strings, None, and lists, tuples and dicts of them")


def _get(arrays: dict, ref) -> np.ndarray:
    key, shape = ref
    return arrays[key].reshape(shape)


def _decode(node, arrays: dict):
    if not isinstance(node, dict):
        return node
    if "__tensor__" in node:
        data = _get(arrays, node["__tensor__"])
        if node.get("parameter"):
            from chainrule.nn import Parameter  # the data layer reaches up only to rebuild a Parameter
            return Parameter(data, requires_grad=node.get("requires_grad", True))
        return Tensor(data, dtype=data.dtype, requires_grad=node.get("requires_grad", False))
    if "__ndarray__" in node:
        return _get(arrays, node["__ndarray__"])
    if "__scalar__" in node:
        return _get(arrays, node["__scalar__"])[()]
    if "__dict__" in node:
        pairs = [(k, _decode(v, arrays)) for k, v in node["__dict__"]]
        return OrderedDict(pairs) if node.get("ordered") else dict(pairs)
    if "__list__" in node:
        return [_decode(v, arrays) for v in node["__list__"]]
    if "__tuple__" in node:
        return tuple(_decode(v, arrays) for v in node["__tuple__"])
    raise ValueError("unknown node")


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True) -> None:
    """Write ``obj`` (tensors, arrays, numbers, strings, and nested dicts, lists and tuples of them,
    such as a model's or an optimizer's state_dict) to the path or binary file ``f``.

    The file is safetensors with the structure as JSON in its metadata: no pickle, so loading it
    can run no code. The extra arguments of ``torch.save`` are accepted and ignored.

    Example:
        >>> import chainrule as cr, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "m.pt")
        >>> cr.save({"w": cr.ones(2), "step": 3}, path)
        >>> cr.load(path)["step"]
        3
    """
    from safetensors.numpy import save as st_save

    w = _Writer()
    tree = w.encode(obj, "obj")
    blob = st_save(w.arrays, metadata={"format": _FORMAT, "chainrule.version": _VERSION,
                                      "chainrule.object": json.dumps(tree)})
    if hasattr(f, "write"):
        f.write(blob)
        return
    path = Path(os.fspath(f))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)  # a reader never sees a half-written file
    finally:
        if tmp.exists():
            tmp.unlink()


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Read an object written by :func:`save` from a path or binary file.

    ``map_location`` may name the CPU (or be None); ``weights_only`` is accepted (loading is always
    "weights only": no code runs). A plain safetensors file (no chainrule structure) loads as a dict
    of tensors. Any other file gives one error naming it.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    _check_location(map_location)
    name = getattr(f, "name", None) or (os.fspath(f) if not hasattr(f, "read") else "<file object>")
    if hasattr(f, "read"):
        blob = f.read()
    else:
        with open(os.fspath(f), "rb") as fh:
            blob = fh.read()
    try:
        n = int.from_bytes(blob[:8], "little")
        if len(blob) < 8 or n > len(blob) - 8:
            raise ValueError("no safetensors header")
        header = json.loads(blob[8:8 + n])
        meta = header.get("__metadata__") or {}
        arrays = st_load(blob)
    except (ValueError, SafetensorError, UnicodeDecodeError, AttributeError) as e:
        kind = " (a zip archive: a file written by torch.save? load it with torch and save its tensors " \
               "with safetensors)" if blob[:2] == b"PK" else ""
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RuntimeError(f"load: {name} is not a chainrule file or is damaged ({why}){kind}") from None
    if meta.get("format") != _FORMAT or "chainrule.object" not in meta:
        return OrderedDict((k, Tensor(v, dtype=v.dtype)) for k, v in arrays.items())
    try:
        return _decode(json.loads(meta["chainrule.object"]), arrays)
    except (ValueError, KeyError, TypeError) as e:
        raise RuntimeError(f"load: {name} is damaged: its structure does not match its arrays "
                           f"({type(e).__name__}: {e})") from None


def _check_location(loc) -> None:
    if loc is None:
        return
    if isinstance(loc, dict):
        for v in loc.values():
            _check_location(v)
        return
    kind = loc if isinstance(loc, str) else getattr(loc, "type", None)
    if callable(loc) and not isinstance(loc, str) and kind is None:
        return  # torch's (storage, location) -> storage hook: everything is on the CPU already
    if not isinstance(kind, str) or kind.split(":")[0] != "cpu":
        raise RuntimeError(f"load: map_location={loc!r} is not available; chainrule runs on the CPU only "
                           f"(use map_location='cpu' or leave it out)")
