"""The bounded CIFAR-10 unpickler against Python's C unpickler on the same batches (same allowed
globals, no bounds): the price of bounding memo, nesting and allocation.

    python benchmarks/bench_readers.py [CIFAR_FOLDER]      (default /work/shared/data/cifar-10-subset-py)
"""
import io
import pickle
import sys
import time
from pathlib import Path

from chainrule.data.files import SafeUnpickler


class Unbounded(pickle.Unpickler):
    ALLOWED = SafeUnpickler.ALLOWED
    find_class = SafeUnpickler.find_class


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/cifar-10-subset-py")
    raws = [(root / n).read_bytes() for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]]
    c, p = [], []
    for _ in range(5):  # interleaved, best of 5
        t = time.perf_counter()
        for r in raws:
            Unbounded(io.BytesIO(r), encoding="bytes").load()
        c.append(time.perf_counter() - t)
        t = time.perf_counter()
        for r in raws:
            SafeUnpickler(io.BytesIO(r), budget=2 * len(r) + (1 << 20), encoding="bytes").load()
        p.append(time.perf_counter() - t)
    mb = sum(map(len, raws)) / 1e6
    print(f"{len(raws)} files, {mb:.1f} MB: C unpickler {min(c) * 1e3:.1f} ms, bounded unpickler "
          f"{min(p) * 1e3:.1f} ms (ratio {min(p) / min(c):.2f})")


if __name__ == "__main__":
    main()
