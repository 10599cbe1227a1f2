"""Readers for the official CIFAR-10 (python) and MNIST (IDX) files. Nothing is downloaded, and
nothing in a data file is ever executed: pickles go through an unpickler that allows only the
three NumPy functions the official CIFAR-10 files use."""
from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_HELP = ("Download 'CIFAR-10 python version' (cifar-10-python.tar.gz) from the CIFAR-10 page of the "
                "University of Toronto, unpack it, and pass the folder that holds data_batch_1..5, test_batch "
                "and batches.meta (cifar-10-batches-py) as --data-dir")
MNIST_HELP = ("Put the four MNIST (or Fashion-MNIST) IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
              "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (raw or .gz) in one folder and pass it as --data-dir")


class DataFileError(ValueError):
    """A data file is missing, truncated or not in the expected format; the message names it."""


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct as r
    except ImportError:  # NumPy < 2
        from numpy.core.multiarray import _reconstruct as r
    return r


class SafeUnpickler(pickle.Unpickler):
    """Unpickles plain data and NumPy arrays only; any other global (os.system, eval, ...) is refused."""

    # the official files name the first three; a batch re-saved by Python 3 at protocol 2 also
    # names _codecs.encode, which only turns a str into bytes
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: this file is not a plain CIFAR-10 batch "
                f"(a pickle that names other globals could run code)")
        if name == "_reconstruct":
            return _reconstruct()
        if module == "_codecs":
            import codecs
            return codecs.encode
        return getattr(np, name)


def safe_unpickle(path: Path) -> dict:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found. {CIFAR10_HELP}") from None
    try:
        obj = SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        if str(e).startswith("refusing"):
            raise DataFileError(f"{path}: {e}") from None
        raise DataFileError(f"{path}: truncated or corrupt pickle ({e}); re-extract the file. {CIFAR10_HELP}") from None
    except (EOFError, ValueError, struct.error, TypeError, IndexError, KeyError) as e:
        raise DataFileError(f"{path}: truncated or corrupt pickle ({type(e).__name__}: {e}); "
                            f"re-extract the file. {CIFAR10_HELP}") from None
    if not isinstance(obj, dict):
        raise DataFileError(f"{path}: expected a dict, found a {type(obj).__name__}")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _cifar_batch(path: Path):
    d = safe_unpickle(path)
    for key in ("data", "labels"):
        if key not in d:
            raise DataFileError(f"{path}: no '{key}' entry (found {sorted(d)}); not a CIFAR-10 batch")
    X = np.asarray(d["data"])
    y = np.asarray(d["labels"], dtype=np.int64)
    if X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != 3072:
        raise DataFileError(f"{path}: 'data' must be uint8 of shape (N, 3072), got {X.dtype} {X.shape}")
    if len(y) != len(X):
        raise DataFileError(f"{path}: {len(X)} images but {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise DataFileError(f"{path}: labels must be 0..9, found {y.min()}..{y.max()}")
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
    parts = [_cifar_batch(root / f"data_batch_{i}") for i in range(1, 6)]
    X_test, y_test = _cifar_batch(root / "test_batch")
    X_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    classes = CIFAR10_CLASSES
    if (root / "batches.meta").exists():
        meta = safe_unpickle(root / "batches.meta")
        names = meta.get("label_names")
        if names:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    if not flatten:
        X_train, X_test = X_train.reshape(-1, 3, 32, 32), X_test.reshape(-1, 3, 32, 32)
    return X_train, y_train, X_test, y_test, classes


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    cands = [path, path.with_name(path.name + ".gz")]
    found = next((p for p in cands if p.exists()), None)
    if found is None:
        raise DataFileError(f"{path} (or .gz): file not found. {MNIST_HELP}")
    try:
        raw = gzip.decompress(found.read_bytes()) if found.suffix == ".gz" else found.read_bytes()
    except (OSError, EOFError) as e:
        raise DataFileError(f"{found}: cannot decompress ({e}); the file is truncated or not gzip") from None
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataFileError(f"{found}: {len(raw)} bytes, too short for an IDX header")
    m = struct.unpack(">I", raw[:4])[0]
    if m != magic:
        raise DataFileError(f"{found}: magic number {m:#010x}, expected {magic:#010x} "
                            f"(an IDX file of {ndim} dimension(s) of unsigned bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:head])
    need = int(np.prod(dims))
    if len(raw) - head != need:
        raise DataFileError(f"{found}: header says {dims} = {need} bytes of data, the file has {len(raw) - head}; "
                            f"it is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(dims)


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
        y = _read_idx(root / f"{split}-labels-idx1-ubyte", 0x00000801, 1).astype(np.int64)
        if len(X) != len(y):
            raise DataFileError(f"{root}: {split} has {len(X)} images but {len(y)} labels")
        out += [X, y]
    return (*out, [str(i) for i in range(10)])
