"""save and load: PyTorch's ``torch.save(obj, path)`` / ``torch.load(path)``, without pickle.

One file holds everything: the arrays in safetensors format and the structure around them
(dicts, lists, tuples, numbers, strings, None) as JSON in the safetensors header's metadata, with
a SHA-256 of the header and the data, so that a damaged file is refused instead of loading as
other numbers. Loading a file never runs code, checks every size before reading, and reads no more
than the header declares; an object that cannot be written that way (a Module, an optimizer, a
function, any other class, a structure that contains itself) is refused with a one-line error that
says what to save instead.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from collections import OrderedDict

import numpy as np

from chainrule import tensorfile
from chainrule.fileio import JSON_MAX_DEPTH, JSON_MAX_VALUES, json_structure, load_json, open_regular, write_atomic
from chainrule.nn import Parameter
from chainrule.tensor import Tensor

_FORMAT = "chainrule"
_VERSION = "2"                      # 2: with chainrule.sha256; files of version 1 (no checksum) still load
_KEYS = {"1": {"format", "chainrule.version", "chainrule.object"},
         "2": {"format", "chainrule.version", "chainrule.object", "chainrule.sha256"}}
MAX_DEPTH = 100                     # lists, tuples and dicts inside one another
MAX_NODES = 1 << 20                 # entries of lists, tuples and dicts, counted each time they are met


def as_array(v) -> np.ndarray | None:
    """The NumPy array of a chainrule Tensor or an ndarray (a state_dict may hold either), else None."""
    if isinstance(v, Tensor):
        return np.asarray(v.detach().numpy())
    return v if isinstance(v, np.ndarray) else None


def _where(path) -> str:
    """``obj['a'][0]`` from the linked path (parent, key) the writer keeps."""
    keys = []
    while path is not None:
        path, key = path
        keys.append(key)
    text = "obj" + "".join(f"[{k!r}]" for k in reversed(keys))
    return text if len(text) <= 120 else text[:60] + "..." + text[-50:]


class _Writer:
    """Turns an object into JSON-able structure, collecting its arrays under keys a0, a1, ..."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.open: set[int] = set()     # ids of the containers being written (a cycle meets one again)
        self.done: dict[int, tuple] = {}  # id of a container written before -> (its JSON, entries in it)
        self.nodes = 0

    def _array(self, a: np.ndarray, path) -> list:
        if tensorfile.code_of(a) is None:
            at = "" if path is None else f" (at {_where(path)})"
            raise TypeError(f"save: cannot store an array of dtype {a.dtype}{at}; chainrule.save stores bool, "
                            f"integer and float arrays")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = a
        return [key, list(a.shape)]  # the shape too: files of version 1 kept it beside the array

    def encode(self, obj, path=None, depth=0):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, float)) and not isinstance(obj, np.generic):
            return obj
        if isinstance(obj, Tensor):
            out = {"__tensor__": self._array(as_array(obj), path), "requires_grad": bool(obj.requires_grad)}
            if isinstance(obj, Parameter):
                out["parameter"] = True
            return out
        if isinstance(obj, np.ndarray):
            return {"__ndarray__": self._array(obj, path)}
        if isinstance(obj, np.generic):
            return {"__scalar__": self._array(np.asarray(obj), path)}
        if not isinstance(obj, (dict, list, tuple)):
            raise TypeError(_refusal(obj, path))
        if id(obj) in self.open:
            raise ValueError(f"save: {_where(path)} is a {type(obj).__name__} that contains itself (a reference "
                             f"cycle); chainrule.save stores trees of lists, tuples and dicts")
        if depth >= MAX_DEPTH:
            raise ValueError(f"save: {_where(path)} is nested more than {MAX_DEPTH} lists, tuples or dicts deep; "
                             f"chainrule.save stores structures up to {MAX_DEPTH} levels")
        if id(obj) in self.done:  # met again through another reference: written out again, counted again
            tree, count = self.done[id(obj)]
            self._count(count)
            return tree
        before = self.nodes
        self._count(len(obj))
        self.open.add(id(obj))
        try:
            if isinstance(obj, dict):
                items = []
                for k, v in obj.items():
                    if not isinstance(k, (str, int)) or isinstance(k, bool):
                        raise TypeError(f"save: dict key {k!r} at {_where(path)} is a {type(k).__name__}; "
                                        f"chainrule.save stores dicts whose keys are strings or ints")
                    items.append([k, self.encode(v, (path, k), depth + 1)])
                tree = {"__dict__": items, "ordered": isinstance(obj, OrderedDict)}
            else:
                kind = "__list__" if isinstance(obj, list) else "__tuple__"
                tree = {kind: [self.encode(v, (path, i), depth + 1) for i, v in enumerate(obj)]}
        finally:
            self.open.discard(id(obj))
        self.done[id(obj)] = (tree, self.nodes - before)
        return tree

    def _count(self, n: int) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise ValueError(f"save: the object holds more than {MAX_NODES} entries in its lists, tuples and "
                             f"dicts (one shared many times counts each time); save the numbers as arrays")


def _refusal(obj, path) -> str:
    name = type(obj).__name__
    at = "" if path is None else f" (at {_where(path)})"
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        return (f"save: cannot store an object of type {name}{at} safely; save its state instead: "
                f"chainrule.save(x.state_dict(), path), and rebuild it in code, then x.load_state_dict(chainrule.load(path))")
    return (f"save: cannot store an object of type {name}{at} safely (no pickle); chainrule.save stores tensors, "
            f"arrays, numbers, strings, None, and lists, tuples and dicts of them")


def _digest(header: dict, data_sha) -> str:
    """The checksum a file of version 2 records: SHA-256 over its header (without the checksum) and data."""
    meta = {k: v for k, v in header.get("__metadata__", {}).items() if k != "chainrule.sha256"}
    h = hashlib.sha256(tensorfile.canonical({**header, "__metadata__": meta}))
    h.update(data_sha.digest())
    return h.hexdigest()


class _Reader:
    """Rebuilds the object from the JSON structure and the arrays, refusing anything save never writes."""

    def __init__(self, arrays: dict, name):
        self.arrays, self.name = arrays, name

    def bad(self, why):
        return RuntimeError(f"load: {self.name} is damaged: {why}")

    def array(self, ref) -> np.ndarray:
        if not (isinstance(ref, list) and len(ref) == 2 and isinstance(ref[0], str) and ref[0] in self.arrays
                and isinstance(ref[1], list)):
            raise self.bad(f"a tensor reference {str(ref)[:60]} names no array of the file")
        try:
            return self.arrays[ref[0]].reshape(ref[1])
        except (ValueError, TypeError, OverflowError):
            raise self.bad(f"array {ref[0]} cannot take the shape {str(ref[1])[:60]}") from None

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        keys = set(node) if isinstance(node, dict) else None
        if keys in ({"__tensor__", "requires_grad"}, {"__tensor__", "requires_grad", "parameter"}):
            data, grad = self.array(node["__tensor__"]), node["requires_grad"]
            if not isinstance(grad, bool) or node.get("parameter", True) is not True:
                raise self.bad("a tensor's requires_grad or parameter flag is not true or false")
            if (grad or node.get("parameter")) and data.dtype.kind != "f":
                raise self.bad(f"a tensor of dtype {data.dtype} is marked requires_grad or as a Parameter, which "
                               f"only floating-point tensors can be")
            if node.get("parameter"):
                return Parameter(data, requires_grad=grad)
            return Tensor(data, dtype=data.dtype, requires_grad=grad)
        if keys == {"__ndarray__"}:
            return self.array(node["__ndarray__"])
        if keys == {"__scalar__"}:
            a = self.array(node["__scalar__"])
            if a.shape != ():
                raise self.bad(f"a scalar of shape {a.shape}")
            return a[()]
        if keys == {"__dict__", "ordered"} and isinstance(node["__dict__"], list):
            pairs = []
            for pair in node["__dict__"]:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))
                        and not isinstance(pair[0], bool)):
                    raise self.bad("a dict entry is not a [key, value] pair with a string or int key")
                pairs.append((pair[0], self.decode(pair[1])))
            return OrderedDict(pairs) if node["ordered"] is True else dict(pairs)
        if keys in ({"__list__"}, {"__tuple__"}):
            items = node.get("__list__", node.get("__tuple__"))
            if not isinstance(items, list):
                raise self.bad("a list or tuple node holds no list")
            out = [self.decode(v) for v in items]
            return out if "__list__" in keys else tuple(out)
        raise self.bad(f"an entry of the structure is {type(node).__name__} {str(node)[:60]}, not one chainrule "
                       f"writes")


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True) -> None:
    """Write ``obj`` (tensors, arrays, numbers, strings, and nested dicts, lists and tuples of them,
    such as a model's or an optimizer's state_dict) to the path or binary file ``f``.

    The file is safetensors with the structure as JSON in its metadata and a SHA-256 of the whole:
    no pickle, so loading it can run no code, and a damaged file is refused. A path is written
    atomically (a reader never sees half a file). The extra arguments of ``torch.save`` are
    accepted and ignored.

    Example:
        >>> import chainrule as cr, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "m.pt")
        >>> cr.save({"w": cr.ones(2), "step": 3}, path)
        >>> cr.load(path)["step"]
        3
    """
    w = _Writer()
    text = json.dumps(w.encode(obj))
    values = json_structure(text)[1]
    if values > JSON_MAX_VALUES:  # what load would refuse is not written
        raise ValueError(f"save: the object's structure is about {values} JSON values, more than the "
                         f"{JSON_MAX_VALUES} chainrule.load reads; save the numbers as arrays")
    meta = {"format": _FORMAT, "chainrule.version": _VERSION, "chainrule.object": text}
    header, arrays = tensorfile.layout(w.arrays, meta)
    header["__metadata__"]["chainrule.sha256"] = _digest(header, tensorfile.data_digest(arrays))
    pieces = tensorfile.chunks(header, arrays)
    if hasattr(f, "write"):
        if isinstance(f, io.TextIOBase):
            raise TypeError(f"save: {getattr(f, 'name', 'the file')} is open in text mode; open it with 'wb'")
        for piece in pieces:
            f.write(piece)
        return
    write_atomic(os.path.realpath(f), pieces)  # through a symbolic link to its target, as torch.save writes


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Read an object written by :func:`save` from a path or binary file.

    ``map_location`` may name the CPU (or be None); ``weights_only`` is accepted (loading is always
    "weights only": no code runs). A plain safetensors file (no chainrule structure) loads as a dict
    of tensors; its bfloat16 tensors load as float32 (exactly: PyTorch would keep bfloat16). Only a
    regular file is opened (a FIFO or a device is refused), its sizes are checked before anything
    is read, and its checksum after: any other or damaged file gives one error naming it.
    """
    _check_location(map_location)
    if hasattr(f, "read"):
        name = getattr(f, "name", None) or "<file object>"
        return _load(f, name)
    name = os.fspath(f)
    try:
        fd = open_regular(name, ValueError)
    except ValueError as e:
        raise RuntimeError(f"load: {e}") from None
    with os.fdopen(fd, "rb") as fh:
        return _load(fh, name)


def _load(fh, name):
    digest = hashlib.sha256()
    try:
        header, meta, arrays = tensorfile.read(fh, name, digest=digest)
    except tensorfile.TensorFileError as e:
        why = str(e)[len(str(name)) + 2:] if str(e).startswith(f"{name}: ") else str(e)
        kind = ""
        if "header of" in why and _starts_like_zip(fh):
            kind = " (a zip archive: a file written by torch.save? load it with torch and save its tensors with " \
                   "safetensors)"
        raise RuntimeError(f"load: {name} is not a chainrule file or is damaged ({why}){kind}") from None
    ours = meta.get("format") == _FORMAT or any(k.startswith("chainrule") for k in meta)
    if not ours:
        return OrderedDict((k, Tensor(v, dtype=v.dtype)) for k, v in arrays.items())
    version = meta.get("chainrule.version")
    if version not in _KEYS or set(meta) != _KEYS[version] or meta.get("format") != _FORMAT:
        raise RuntimeError(f"load: {name} is damaged or of a newer chainrule: its metadata has the entries "
                           f"{[k[:40] for k in sorted(meta)[:6]]}, not those of a chainrule file")
    if version != "1" and meta["chainrule.sha256"] != _digest(header, digest):
        raise RuntimeError(f"load: {name} is damaged: its SHA-256 differs from the one recorded when it was "
                           f"written")
    tree = load_json(meta["chainrule.object"], f"load: {name} is damaged: its structure", RuntimeError,
                     max_depth=min(JSON_MAX_DEPTH, 3 * MAX_DEPTH + 3))
    return _Reader(arrays, name).decode(tree)


def _starts_like_zip(fh) -> bool:
    try:
        fh.seek(0)
        return fh.read(2) == b"PK"
    except (OSError, ValueError, AttributeError):
        return False


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
