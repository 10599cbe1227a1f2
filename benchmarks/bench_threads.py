"""How many BLAS threads should chainrule use by default? Time what the commands do, with 1 and
with 2 BLAS threads (set through threadpoolctl, as ``chainrule --threads`` does), rounds
interleaved so that a change in the machine's load hits every variant alike.

    python benchmarks/bench_threads.py [ROUNDS]

Workloads: a training step of the spiral default (MLP [2, 100, 3], batch 32), of README's
CIFAR-10 network (MLP [3072, 100, 100, 10], batch 64), of a wide network (MLP [3072, 1024,
1024, 10], batch 256), and the evaluation forward pass of the CIFAR-10 network (batch 1024).
Not pinned to one core: the point is what a second thread buys or costs. Run it on an idle
machine and on a busy one (other processes using the cores): the default must hold up on both.
"""
import os
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import chainrule as cr
from chainrule.nn import functional as F
from _common import table

WORKLOADS = [  # name, layer sizes, batch, train (else forward only)
    ("spiral train step", [2, 100, 3], 32, True),
    ("cifar10 train step", [3072, 100, 100, 10], 64, True),
    ("wide train step", [3072, 1024, 1024, 10], 256, True),
    ("cifar10 evaluate", [3072, 100, 100, 10], 1024, False),
]
THREADS = (1, 2)


def make(sizes, batch, train):
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    net = cr.nn.MLP(sizes)
    opt = cr.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    X = cr.tensor(rng.standard_normal((batch, sizes[0]), dtype=np.float32))
    y = cr.tensor(rng.integers(0, sizes[-1], batch))

    def step():
        if train:
            opt.zero_grad()
            F.cross_entropy(net(X), y).backward()
            opt.step()
        else:
            with cr.no_grad():
                net(X)
    return step


def per_step(fn, seconds=0.5):
    """Mean seconds per call over about ``seconds`` of calls (after one warm-up call)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


def main(rounds=5):
    steps = {name: make(s, b, t) for name, s, b, t in WORKLOADS}
    times = {(name, k): [] for name in steps for k in THREADS}
    for r in range(rounds):
        for name, fn in steps.items():
            for k in (THREADS if r % 2 == 0 else THREADS[::-1]):
                with threadpool_limits(k, user_api="blas"):
                    times[name, k].append(per_step(fn))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} cores, load average {load:.1f}, {rounds} interleaved rounds; ms per step, median (best)")
    rows = []
    for name in steps:
        med = {k: statistics.median(times[name, k]) for k in THREADS}
        best = {k: min(times[name, k]) for k in THREADS}
        rows.append([name, *(f"{med[k] * 1e3:.2f} ({best[k] * 1e3:.2f})" for k in THREADS),
                     f"{med[2] / med[1]:.2f}x"])
    print(table(["workload", "1 thread ms", "2 threads ms", "2 threads / 1 thread"], rows))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
