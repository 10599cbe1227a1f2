"""Engine overhead: one small op (forward, and forward + backward) in chainrule, PyTorch and NumPy,
and building plus backpropagating a 100,000-op scalar chain.

    python benchmarks/bench_engine.py
"""
import _common  # noqa: F401  (sets one thread before NumPy loads)
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import chainrule as cr

try:
    if os.environ.get("CHAINRULE_BENCH_NO_TORCH"):
        raise ImportError
    import torch
    torch.set_num_threads(1)
except ImportError:  # the table then has no PyTorch column
    torch = None

SHAPE = (64, 100)


def op_rows():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(SHAPE).astype(np.float32)
    b = rng.standard_normal(SHAPE).astype(np.float32)
    bt = np.ascontiguousarray(b.T)  # (100, 64), the right operand of the matmul row
    ca, cb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    cbt = cr.tensor(bt, requires_grad=True)
    ops = {
        "add": (lambda x, y: x + y, lambda x, y: x + y),
        "mul": (lambda x, y: x * y, lambda x, y: x * y),
        "relu": (lambda x, y: cr.relu(x), lambda x, y: np.maximum(x, 0)),
        "exp": (lambda x, y: cr.exp(x), lambda x, y: np.exp(x)),
        "sum": (lambda x, y: x.sum(), lambda x, y: x.sum()),
        "matmul (64x100 @ 100x64)": (lambda x, y: x @ y, lambda x, y: x @ y),
    }
    torch_ops = {
        "add": lambda x, y: x + y, "mul": lambda x, y: x * y, "relu": lambda x, y: torch.relu(x),
        "exp": lambda x, y: torch.exp(x), "sum": lambda x, y: x.sum(),
        "matmul (64x100 @ 100x64)": lambda x, y: x @ y,
    }
    if torch:
        ta, tb, ttb = (torch.tensor(v, requires_grad=True) for v in (a, b, bt))
    rows = []
    for name, (cr_op, np_op) in ops.items():
        mm = name.startswith("matmul")
        nb, cb_ = (bt, cbt) if mm else (b, cb)
        t_np = _common.best_time(lambda: np_op(a, nb))
        t_cr = _common.best_time(lambda: cr_op(ca, cb_))

        def cr_fb():
            out = cr_op(ca, cb_)
            out.backward(np.ones(out.shape, np.float32))
            ca.grad = cb_.grad = None

        t_crb = _common.best_time(cr_fb)
        row = [name, f"{t_np * 1e6:.2f}", f"{t_cr * 1e6:.2f}", f"{(t_cr - t_np) * 1e6:+.2f}", f"{t_crb * 1e6:.2f}"]
        if torch:
            top = torch_ops[name]
            tb_ = ttb if mm else tb
            t_t = _common.best_time(lambda: top(ta, tb_))

            def t_fb():
                out = top(ta, tb_)
                out.backward(torch.ones_like(out))
                ta.grad = tb_.grad = None

            row += [f"{t_t * 1e6:.2f}", f"{_common.best_time(t_fb) * 1e6:.2f}"]
        rows.append(row)
    headers = ["op on (64, 100) float32", "NumPy us", "chainrule fwd us", "overhead us",
               "chainrule fwd+bwd us"] + (["PyTorch fwd us", "PyTorch fwd+bwd us"] if torch else [])
    return headers, rows


def chain(n=100_000):  # noqa: D401
    """y = x, then n ops alternating y * 1.0001 and y + 0.001; returns (build s, backward s)."""
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    t0 = time.perf_counter()
    for _ in range(n // 2):
        y = y * 1.0001 + 0.001
    t1 = time.perf_counter()
    y.backward()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def torch_chain(n=100_000):
    x = torch.tensor(1.0, requires_grad=True)
    y = x
    t0 = time.perf_counter()
    for _ in range(n // 2):
        y = y * 1.0001 + 0.001
    t1 = time.perf_counter()
    y.backward()
    return t1 - t0, time.perf_counter() - t1


def chain_in_fresh_process(which):
    """Best of 3 runs of the chain, in a new process that imports only the library measured
    (a graph of 100,000 nodes is Python objects, and the garbage collector's cost depends on
    how many other objects the process holds)."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import _common, bench_engine as b; "
            f"r = min((b.{which}() for _ in range(3)), key=sum); print(r[0], r[1])")
    env = dict(os.environ, CHAINRULE_BENCH_NO_TORCH="1" if which == "chain" else "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return tuple(map(float, out.stdout.split()))


def main():
    headers, rows = op_rows()
    print(_common.table(headers, rows))
    print()
    b, w = chain_in_fresh_process("chain")
    rows = [["chainrule", f"{b:.3f}", f"{w:.3f}", f"{b + w:.3f}"]]
    if torch:
        tb, tw = chain_in_fresh_process("torch_chain")
        rows.append(["PyTorch", f"{tb:.3f}", f"{tw:.3f}", f"{tb + tw:.3f}"])
    print(_common.table(["100,000-op scalar chain", "build s", "backward s", "total s"], rows))


if __name__ == "__main__":
    main()
