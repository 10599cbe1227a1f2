"""Small data files in the official formats, made by the tests (the suite needs no downloads)."""
import gzip
import pickle
import struct

import numpy as np


def write_cifar10(root, n_train=(12, 10, 10, 10, 10), n_test=10, filenames=False, seed=0):
    """A cifar-10-batches-py folder: Python-2-style pickles with bytes keys, uint8 (N, 3072) data."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    data = {}
    for name, n in zip(names, list(n_train) + [n_test]):
        X = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, n)]
        d = {b"batch_label": name.encode(), b"labels": y, b"data": X}
        if filenames:
            d[b"filenames"] = [f"img{i}.png".encode() for i in range(n)]
        (root / name).write_bytes(pickle.dumps(d, protocol=2))
        data[name] = (X, np.array(y))
    meta = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
                             b"ship", b"truck"], b"num_cases_per_batch": 10, b"num_vis": 3072}
    (root / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return data


def write_idx(path, array, gz=False):
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x00000800 | array.ndim
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


def write_mnist(root, n_train=50, n_test=20, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        X = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n)
        write_idx(root / f"{split}-images-idx3-ubyte", X, gz)
        write_idx(root / f"{split}-labels-idx1-ubyte", y, gz)
        out[split] = (X, y)
    return out
