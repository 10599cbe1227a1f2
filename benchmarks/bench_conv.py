"""Convolutional and recurrent training steps, chainrule against PyTorch eager, pinned and interleaved.

One training step = forward, softmax cross-entropy, backward, SGD update, in float32, of
  - LeNet-5 on 1x28x28 (conv 6 5x5 pad 2, ReLU, max pool 2, conv 16 5x5, ReLU, max pool 2,
    affine 120, ReLU, affine 84, ReLU, affine 10),
  - the course's ConvNet on 3x32x32 (conv 32 7x7 pad 3, ReLU, 2x2 max pool, affine 100, ReLU, affine 10),
at batch 1, 16, 64 and 256, and an LSTM step (LSTM(128, 128) over seq 32, batch 16, then affine 10 on
the last hidden state). Every measurement runs in its own process pinned with taskset (core 0 for one
thread, cores 0-1 for two), the rounds interleaved (framework by framework, then the next round), and
the best of the rounds is kept. Each process reports its best step time, the peak RSS growth during
the steps (ru_maxrss after them minus the RSS before them) and, for chainrule, the GFLOP/s of the
step's multiply-adds against a float32 GEMM peak measured the same way. One-thread times are
CPU times (time.process_time: on a loaded machine they leave out the time other processes held
the core; the wall-time ratio is printed beside them), two-thread times are wall times.

    python benchmarks/bench_conv.py            # everything, 3 rounds (several minutes)
    python benchmarks/bench_conv.py --rounds 1 --batches 1 16
"""
import _common  # noqa: F401  (one BLAS thread by default, set before NumPy loads)
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys

import numpy as np

LR = 1e-3
FRAMEWORKS = [("chainrule", 1), ("torch", 1), ("chainrule", 2), ("torch", 2)]


def lenet(M):
    return M.Sequential(M.Conv2d(1, 6, 5, padding=2), M.ReLU(), M.MaxPool2d(2), M.Conv2d(6, 16, 5), M.ReLU(),
                        M.MaxPool2d(2), M.Flatten(), M.Linear(400, 120), M.ReLU(), M.Linear(120, 84), M.ReLU(),
                        M.Linear(84, 10))


def convnet(M):
    return M.Sequential(M.Conv2d(3, 32, 7, padding=3), M.ReLU(), M.MaxPool2d(2), M.Flatten(),
                        M.Linear(32 * 16 * 16, 100), M.ReLU(), M.Linear(100, 10))


class LSTMNet:
    """LSTM(128, 128) then an affine map of the last hidden state to 10 scores (for either library)."""

    def __new__(cls, M):
        class Net(M.Module):
            def __init__(self):
                super().__init__()
                self.lstm, self.head = M.LSTM(128, 128), M.Linear(128, 10)

            def forward(self, x):
                return self.head(self.lstm(x)[0][-1])
        return Net()


MODELS = {"lenet": (lenet, (1, 28, 28)), "convnet": (convnet, (3, 32, 32)), "lstm": (LSTMNet, None)}


def step_flops(model: str, n: int) -> float:
    """Multiply-adds x 2 of one step: forward, and backward's two products per layer (one for the
    first layer, whose input needs no gradient)."""
    if model == "lstm":
        t, i, h = 32, 128, 128
        fwd = 2 * t * n * (i + h) * 4 * h + 2 * n * h * 10
        return 3 * fwd - 2 * t * n * i * 4 * h
    layers = {"lenet": [(28 * 28, 6, 25), (10 * 10, 16, 150), (1, 120, 400), (1, 84, 120), (1, 10, 84)],
              "convnet": [(32 * 32, 32, 147), (1, 100, 8192), (1, 10, 100)]}[model]
    fwd = [2 * n * p * o * k for p, o, k in layers]
    return 3 * sum(fwd) - fwd[0]


def worker(framework: str, model: str, n: int, threads: int) -> dict:
    rng = np.random.default_rng(0)
    if model == "gemm":
        a, b = (rng.standard_normal((2048, 2048)).astype(np.float32) for _ in range(2))
        wall, cpu = _common.best_times(lambda: a @ b, repeat=3, min_time=0.5)
        return {"time": wall, "cpu": cpu}
    make, shape = MODELS[model]
    if model == "lstm":
        x = rng.standard_normal((32, n, 128)).astype(np.float32)
    else:
        x = rng.standard_normal((n,) + shape).astype(np.float32)
    y = rng.integers(0, 10, n)
    if framework == "torch":
        import torch as lib
        lib.set_num_threads(threads)
    else:
        import chainrule as lib
    net = make(lib.nn)  # the same program for both libraries: only the module differs
    opt = lib.optim.SGD(net.parameters(), lr=LR)
    xt, yt = lib.tensor(x), lib.tensor(y)

    def step():
        opt.zero_grad()
        lib.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    before = _rss_kb()
    wall, cpu = _common.best_times(step, repeat=3, min_time=0.3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"time": wall, "cpu": cpu, "rss_mb": max(peak - before, 0) / 1024, "flops": step_flops(model, n)}


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run(framework, model, n, threads):
    """One measurement in a fresh process, pinned to ``threads`` cores."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--worker", framework, model, str(n), str(threads)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", ",".join(str(c) for c in range(threads))] + cmd
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 16, 64, 256])
    ap.add_argument("--models", nargs="*", default=["lenet", "convnet", "lstm"])
    ap.add_argument("--worker", nargs=4, metavar=("FRAMEWORK", "MODEL", "N", "THREADS"))
    a = ap.parse_args()
    if a.worker:
        fw, model, n, threads = a.worker
        print(json.dumps(worker(fw, model, int(n), int(threads))))
        return
    cases = [(m, n) for m in a.models for n in (a.batches if m != "lstm" else [16])]
    best = {}

    def keep(k, r):
        for clock in ("time", "cpu"):
            best.setdefault(k, {}).setdefault(clock, float("inf"))
            best[k][clock] = min(best[k][clock], r[clock])
        best[k]["rss_mb"] = r.get("rss_mb", 0)
        best[k]["flops"] = r.get("flops", 0)

    for r in range(a.rounds):  # interleaved: every case and framework once per round
        keep("gemm", run("numpy", "gemm", 0, 1))
        for m, n in cases:
            for fw, th in FRAMEWORKS:
                keep((m, n, fw, th), run(fw, m, n, th))
        print(f"after round {r + 1} of {a.rounds}:")
        report(best, cases)
        sys.stdout.flush()


def report(best, cases):
    """The table of the best times so far."""
    peak = 2 * 2048 ** 3 / best["gemm"]["cpu"] / 1e9
    rows = []
    for m, n in cases:
        c1, t1, c2, t2 = (best[(m, n, fw, th)] for fw, th in FRAMEWORKS)
        rows.append([m, n, f"{c1['cpu'] * 1e3:.2f}", f"{t1['cpu'] * 1e3:.2f}", f"{c1['cpu'] / t1['cpu']:.2f}x",
                     f"{c1['time'] / t1['time']:.2f}x", f"{c2['time'] * 1e3:.2f}", f"{t2['time'] * 1e3:.2f}",
                     f"{c2['time'] / t2['time']:.2f}x", f"{c1['rss_mb']:.0f} / {t1['rss_mb']:.0f}",
                     f"{c1['flops'] / c1['cpu'] / 1e9:.1f} ({100 * c1['flops'] / c1['cpu'] / 1e9 / peak:.0f}%)"])
    print(f"float32 GEMM peak, 2048^3 on one pinned core: {peak:.1f} GFLOP/s (CPU time)")
    print(_common.table(["model", "batch", "chainrule 1t ms (CPU)", "torch 1t ms (CPU)", "ratio 1t (CPU)",
                         "ratio 1t (wall)", "chainrule 2t ms (wall)", "torch 2t ms (wall)", "ratio 2t (wall)",
                         "peak RSS growth MB (cr / torch, 1t)", "chainrule 1t GFLOP/s (of peak)"], rows))


if __name__ == "__main__":
    main()
