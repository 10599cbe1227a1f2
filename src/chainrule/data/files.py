"""Readers for the official CIFAR-10 (python) and MNIST (IDX) files. Nothing is downloaded, and
nothing in a data file is ever executed: pickles go through an unpickler that allows only the
three NumPy functions the official CIFAR-10 files use."""
from __future__ import annotations

import codecs
import io
import math
import reprlib
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

try:
    from numpy._core.multiarray import _reconstruct as _RECONSTRUCT
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import _reconstruct as _RECONSTRUCT

from chainrule.fileio import open_regular, read_regular

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_HELP = ("Download 'CIFAR-10 python version' (cifar-10-python.tar.gz) from the CIFAR-10 page of the "
                "University of Toronto, unpack it, and pass the folder that holds data_batch_1..5, test_batch "
                "and batches.meta (cifar-10-batches-py) as --data-dir")
MNIST_HELP = ("Put the four MNIST (or Fashion-MNIST) IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
              "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (raw or .gz) in one folder and pass it as --data-dir")


class DataFileError(ValueError):
    """A data file is missing, truncated or not in the expected format; the message names it."""


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict = 2, 4, 4, 4
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 40


def _short(v) -> str:
    """A repr of at most a few dozen characters, in bounded time: a value from a hostile file may be a
    list holding itself, or 250 references to a list of 250 references to ..., whose full repr never ends."""
    try:
        return _SHORT.repr(v)
    except (ValueError, RecursionError):  # an int too long to print in decimal
        return f"<{type(v).__name__}>"


MAX_PICKLE_BYTES = 64 << 20     # an official batch is about 30 MB
MAX_MEMO = 1 << 20              # memo entries (an official batch uses about 20,000)
MAX_NESTING = 32                # MARK depth (an official batch uses 2)
MAX_STACK = 1 << 20
MAX_CLASSES = 1 << 16           # class names in batches.meta (CIFAR-10 has 10, CIFAR-100 100)
MAX_NAME = 256                  # characters of one class name


class SafeUnpickler(pickle._Unpickler):
    """Unpickles plain data and NumPy arrays only, with bounded work.

    Any global other than the three NumPy functions the official files name (and
    ``_codecs.encode`` with the 'latin1' encoding, which a batch re-saved by Python 3 uses) is
    refused, so nothing in the file can run code. The pure-Python unpickler is used so that every
    step can be bounded: at most ``MAX_MEMO`` memo entries, ``MAX_NESTING`` nested marks and
    ``MAX_STACK`` stack entries, arrays no larger in total than ``budget`` bytes (twice the file
    size plus 1 MiB: an array's data has to be in the file), and no protocol-5 buffers.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def __init__(self, file, budget: int, **kw):
        super().__init__(file, **kw)
        self.budget = budget

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: this file is not a plain CIFAR-10 batch "
                f"(a pickle that names other globals could run code)")
        if name == "_reconstruct":
            return _RECONSTRUCT
        if module == "_codecs":
            return codecs.encode
        return getattr(np, name)

    def _charge(self, shape, dtype) -> None:
        if dtype is not None and not isinstance(dtype, (str, bytes, np.dtype)) or isinstance(dtype, (str, bytes)) \
                and len(dtype) > 16:
            raise pickle.UnpicklingError(f"an array whose dtype is {_short(dtype)}, not a dtype or its name")
        try:
            dims = [int(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,))]
            item = np.dtype(dtype).itemsize if dtype is not None else 8
        except (TypeError, ValueError, OverflowError):
            raise pickle.UnpicklingError(f"an array with shape {_short(shape)} and dtype {_short(dtype)} is not "
                                         f"valid") from None
        if any(d < 0 for d in dims) or len(dims) > 64:
            raise pickle.UnpicklingError(f"an array with shape {_short(tuple(dims))}")
        size = math.prod(dims) * item
        self.budget -= size
        if self.budget < 0:
            raise pickle.UnpicklingError(f"an array of shape {_short(tuple(dims))} is larger than a file of this "
                                         f"size can describe")

    def _check_call(self, func, args) -> None:
        if not isinstance(args, tuple):
            raise pickle.UnpicklingError("malformed call")
        if func is np.ndarray:
            self._charge(args[0] if args else (), args[1] if len(args) > 1 else None)
        elif func is _RECONSTRUCT:
            self._charge(args[1] if len(args) > 1 else (), args[2] if len(args) > 2 else None)
        elif func is np.dtype:
            # a name such as 'u1', as the official files write it: a nested structured dtype built
            # from shared lists could take exponential time to construct
            if not args or not isinstance(args[0], (str, bytes)) or len(args[0]) > 16:
                raise pickle.UnpicklingError(f"dtype{_short(args)} is not a dtype name")
            try:
                if np.dtype(args[0]).itemsize > self.budget:
                    raise pickle.UnpicklingError(f"a dtype of {np.dtype(args[0]).itemsize} bytes per item")
            except (TypeError, ValueError):
                raise pickle.UnpicklingError(f"dtype{_short(args)} is not valid") from None
        elif getattr(func, "__name__", None) == "encode":
            if len(args) != 2 or not isinstance(args[0], str) or args[1] != "latin1":
                raise pickle.UnpicklingError(
                    f"refusing _codecs.encode with arguments other than (text, 'latin1'): the official files "
                    f"use no other encoding, and some encodings take unbounded time")

    dispatch = dict(pickle._Unpickler.dispatch)

    def _reduce(self):
        self._check_call(self.stack[-2], self.stack[-1])
        pickle._Unpickler.dispatch[pickle.REDUCE[0]](self)

    def _newobj(self):
        cls, args = self.stack[-2], self.stack[-1]
        self._check_call(cls if cls is not np.ndarray else np.ndarray, args)
        pickle._Unpickler.dispatch[pickle.NEWOBJ[0]](self)

    def _refuse(self):
        raise pickle.UnpicklingError("sets, protocol-5 buffers and NEWOBJ_EX are not used by CIFAR-10 files")

    def _mark(self):
        if len(self.metastack) >= MAX_NESTING:
            raise pickle.UnpicklingError(f"nested more than {MAX_NESTING} levels deep")
        pickle._Unpickler.dispatch[pickle.MARK[0]](self)

    def _keyed(op):
        """SETITEM(S) with keys that hash in bounded time: a tuple key built from shared tuples would
        hash for ever (tuples do not cache their hash), and the official files key by bytes only."""
        original = pickle._Unpickler.dispatch[op[0]]

        def run(self):
            # SETITEM: [..., dict, key, value]; SETITEMS and DICT: the stack since the last MARK is key, value, ...
            keys = self.stack[-2:-1] if op is pickle.SETITEM else self.stack[0::2]
            bad = next((k for k in keys if not isinstance(k, (bytes, str, int, float, type(None)))), None)
            if bad is not None:
                raise pickle.UnpicklingError(f"a dict key of type {type(bad).__name__}; CIFAR-10 files key "
                                             f"their dicts by names")
            original(self)
        return run

    def _bounded(op):
        original = pickle._Unpickler.dispatch[op[0]]

        def run(self):
            original(self)
            if len(self.memo) > MAX_MEMO:
                raise pickle.UnpicklingError(f"more than {MAX_MEMO} memo entries")
            if len(self.stack) > MAX_STACK:
                raise pickle.UnpicklingError(f"more than {MAX_STACK} objects on the stack")
        return run

    dispatch[pickle.REDUCE[0]] = _reduce
    dispatch[pickle.NEWOBJ[0]] = _newobj
    dispatch[pickle.MARK[0]] = _mark
    for _op in (pickle.NEWOBJ_EX, pickle.BYTEARRAY8, pickle.NEXT_BUFFER, pickle.READONLY_BUFFER,
                pickle.EMPTY_SET, pickle.ADDITEMS, pickle.FROZENSET):
        dispatch[_op[0]] = _refuse
    for _op in (pickle.SETITEM, pickle.SETITEMS, pickle.DICT):
        dispatch[_op[0]] = _keyed(_op)
    for _op in (pickle.PUT, pickle.BINPUT, pickle.LONG_BINPUT, pickle.MEMOIZE, pickle.APPEND, pickle.APPENDS,
                pickle.EMPTY_LIST, pickle.EMPTY_DICT, pickle.EMPTY_TUPLE,
                pickle.DUP, pickle.GET, pickle.BINGET, pickle.LONG_BINGET):
        dispatch[_op[0]] = _bounded(_op)
    del _op, _bounded, _keyed


def safe_unpickle(path: Path) -> dict:
    try:
        raw = read_regular(path, MAX_PICKLE_BYTES, DataFileError)
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found. {CIFAR10_HELP}") from None
    try:
        obj = SafeUnpickler(io.BytesIO(raw), budget=2 * len(raw) + (1 << 20), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        if str(e).startswith("refusing"):
            raise DataFileError(f"{path}: {e}") from None
        raise DataFileError(f"{path}: truncated or corrupt pickle ({e}); re-extract the file. {CIFAR10_HELP}") from None
    except (EOFError, ValueError, struct.error, TypeError, IndexError, KeyError, AttributeError, OverflowError,
            RecursionError, UnicodeError, MemoryError, pickle.PickleError) as e:
        raise DataFileError(f"{path}: truncated or corrupt pickle ({type(e).__name__}: {e}); "
                            f"re-extract the file. {CIFAR10_HELP}") from None
    if not isinstance(obj, dict):
        raise DataFileError(f"{path}: expected a dict, found a {type(obj).__name__}")
    return {(k.decode(errors="replace") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _labels(values, path, n_classes: int, what="labels") -> np.ndarray:
    """Integer class labels in 0..n_classes-1; floats (1.7), booleans and anything else refused."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "iu" or values.ndim != 1:
            raise DataFileError(f"{path}: {what} must be integers, found an array of {values.dtype} {values.shape}")
        y = values.astype(np.int64)
    else:
        if not isinstance(values, (list, tuple)):
            raise DataFileError(f"{path}: {what} must be a list of integers, found {type(values).__name__}")
        bad = next((v for v in values if type(v) is not int), None)
        if bad is not None or any(type(v) is not int for v in values):
            raise DataFileError(f"{path}: {what} must be integers, found {_short(bad)} ({type(bad).__name__})")
        try:
            y = np.array(values, dtype=np.int64)
        except OverflowError:
            raise DataFileError(f"{path}: {what} hold an integer too large for a class index") from None
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DataFileError(f"{path}: {what} must be 0..{n_classes - 1} ({n_classes} classes), "
                            f"found {y.min()}..{y.max()}")
    return y


def _cifar_batch(path: Path, n_classes: int = 10):
    d = safe_unpickle(path)
    for key in ("data", "labels"):
        if key not in d:
            found = ", ".join(_short(k) for k in list(d)[:8]) + (", ..." if len(d) > 8 else "")
            raise DataFileError(f"{path}: no '{key}' entry (found {found}); not a CIFAR-10 batch")
    X = d["data"]
    if not isinstance(X, np.ndarray) or X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != 3072:
        desc = f"{X.dtype} {X.shape}" if isinstance(X, np.ndarray) else type(X).__name__
        raise DataFileError(f"{path}: 'data' must be a uint8 array of shape (N, 3072), got {desc}")
    y = _labels(d["labels"], path, n_classes)
    if len(y) != len(X):
        raise DataFileError(f"{path}: {len(X)} images but {len(y)} labels")
    return X, y


def load_cifar10(root, flatten: bool = False):
    """Read the official ``cifar-10-batches-py`` folder.

    Returns (X_train, y_train, X_test, y_test, class_names); X as uint8 of shape (N, 3, 32, 32),
    or (N, 3072) with ``flatten=True`` (channel-major, as stored). Works with any number of rows
    and without the ``filenames`` entry.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"{root}: no such folder. {CIFAR10_HELP}")
    classes = CIFAR10_CLASSES
    if (root / "batches.meta").exists():
        meta = safe_unpickle(root / "batches.meta")
        names = meta.get("label_names")
        if names:
            if not isinstance(names, (list, tuple)) or not all(isinstance(n, (bytes, str)) for n in names):
                raise DataFileError(f"{root / 'batches.meta'}: 'label_names' must be a list of names")
            # many references to one long name would be decoded into as many copies
            if len(names) > MAX_CLASSES or any(len(n) > MAX_NAME for n in names):
                raise DataFileError(f"{root / 'batches.meta'}: 'label_names' must be at most {MAX_CLASSES} names "
                                    f"of at most {MAX_NAME} characters")
            classes = [n.decode(errors="replace") if isinstance(n, bytes) else n for n in names]
    # the class names must cover every label: a label without a name is refused
    parts = [_cifar_batch(root / f"data_batch_{i}", len(classes)) for i in range(1, 6)]
    X_test, y_test = _cifar_batch(root / "test_batch", len(classes))
    X_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    if not flatten:
        X_train, X_test = X_train.reshape(-1, 3, 32, 32), X_test.reshape(-1, 3, 32, 32)
    return X_train, y_train, X_test, y_test, classes


MAX_IDX_BYTES = 1 << 31            # 2 GiB of data: MNIST's largest file is 47 MB
GZIP_MAX_RATIO = 1100               # deflate cannot compress better than about 1032:1


def _idx_path(path: Path) -> Path:
    """``path`` or ``path.gz``, whichever exists."""
    cands = [path, path.with_name(path.name + ".gz")]
    found = next((p for p in cands if p.exists() or p.is_symlink()), None)
    if found is None:
        raise DataFileError(f"{path} (or .gz): file not found. {MNIST_HELP}")
    return found


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """The array of an IDX file of unsigned bytes, raw or gzipped, checked against the file's real size.

    The header's sizes are multiplied as Python integers (no overflow); a raw file must hold exactly
    that many bytes; a gzipped one is decompressed no further than the header says (so a gzip bomb
    stops there) and must then end.
    """
    found = _idx_path(path)
    head = 4 + 4 * ndim
    fd = open_regular(found, DataFileError)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(fd).st_size
        if found.suffix != ".gz":
            raw_head = f.read(head)
            data_size = size - head
            d = None
        else:
            if size > MAX_IDX_BYTES:
                raise DataFileError(f"{found}: {size} bytes, more than an IDX file may have")
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            comp = f.read(size)
            try:
                raw_head = d.decompress(comp, head)
            except zlib.error as e:
                raise DataFileError(f"{found}: cannot decompress ({e}); the file is truncated or not gzip") from None
        if len(raw_head) < head:
            raise DataFileError(f"{found}: {len(raw_head)} bytes, too short for an IDX header of {ndim} dimension(s)")
        m = struct.unpack(">I", raw_head[:4])[0]
        if m != magic:
            raise DataFileError(f"{found}: magic number {m:#010x}, expected {magic:#010x} "
                                f"(an IDX file of {ndim} dimension(s) of unsigned bytes)")
        dims = struct.unpack(f">{ndim}I", raw_head[4:head])
        need = math.prod(dims)  # exact: Python integers do not overflow
        if d is None:
            if data_size != need:
                raise DataFileError(f"{found}: header says {dims} = {need} bytes of data, the file has {data_size}; "
                                    f"it is truncated or corrupt")
            data = f.read(need + 1)
        else:
            if need > MAX_IDX_BYTES or need > GZIP_MAX_RATIO * max(size, 1):
                raise DataFileError(f"{found}: header says {dims} = {need} bytes of data, more than {size} "
                                    f"compressed bytes can hold; the file is corrupt")
            try:
                data = d.decompress(d.unconsumed_tail, need + 1)
            except zlib.error as e:
                raise DataFileError(f"{found}: cannot decompress ({e}); the file is truncated or corrupt") from None
            if len(data) == need and not d.eof:
                try:  # the stream must end right here (an official file has one gzip member)
                    more = d.decompress(d.unconsumed_tail, 1)
                except zlib.error:
                    more = b"?"
                if more or not d.eof:
                    data += more or b"?"
    if len(data) != need:
        what = "more" if len(data) > need else "less"
        raise DataFileError(f"{found}: header says {dims} = {need} bytes of data, the file holds {what}; "
                            f"it is truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def load_mnist(root):
    """Read MNIST (or Fashion-MNIST) IDX files from ``root``, raw or gzipped.

    Returns (X_train, y_train, X_test, y_test, class_names) with X uint8 of shape (N, 28, 28).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"{root}: no such folder. {MNIST_HELP}")
    out = []
    for split in ("train", "t10k"):
        X = _read_idx(root / f"{split}-images-idx3-ubyte", 0x00000803, 3)
        labels = root / f"{split}-labels-idx1-ubyte"
        y = _labels(_read_idx(labels, 0x00000801, 1), _idx_path(labels), 10)
        if len(X) != len(y):
            raise DataFileError(f"{root}: {split} has {len(X)} images but {len(y)} labels")
        out += [X, y]
    return (*out, [str(i) for i in range(10)])
