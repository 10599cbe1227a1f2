"""Data-parallel training step of MLP([3072, 1024, 1024, 10]) (float32, softmax loss, SGD) at global
batch 256 and 1024: one process with 2 BLAS threads, one with 1, and 2 MPI ranks with 1 thread
each (DistributedDataParallel: one Allreduce of every gradient per step); then a model of the
step time on K machines connected by a 10 Gb/s or a 100 Gb/s network.

    python benchmarks/bench_distributed.py [--rounds 3] [--steps 8]

The variants run as separate processes, interleaved round by round (best of the rounds is
kept), so that a busy machine slows all of them alike.
"""
import argparse
import json
import os
import sys
import time

SIZES = [3072, 1024, 1024, 10]
BATCHES = [256, 1024]


def worker(batch: int, steps: int) -> None:
    """One process or one rank: time `steps` training steps on its share of a global batch."""
    import numpy as np
    import chainrule as cr
    import chainrule.distributed as dist
    from chainrule.nn import functional as F
    from chainrule.nn.parallel import DistributedDataParallel

    k, rank = 1, 0
    if dist.launched_under_mpi():
        dist.init_process_group("mpi")
        k, rank = dist.get_world_size(), dist.get_rank()
    cr.manual_seed(0)
    model = cr.nn.MLP(SIZES)
    net = DistributedDataParallel(model) if k > 1 else model
    opt = cr.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], batch)
    lo, hi = cr.data.DistributedSampler(k, rank).bounds(batch)
    Xs, ys = cr.tensor(X[lo:hi]), cr.tensor(y[lo:hi])

    def step():
        opt.zero_grad()
        F.cross_entropy(net(Xs), ys).backward()
        opt.step()

    step()
    step()
    if k > 1:
        dist.barrier()
        net.comm_seconds = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    total = (time.perf_counter() - t0) / steps
    if rank == 0:
        n_params = sum(p.numel() for p in model.parameters())
        print(json.dumps({"step": total, "comm": net.comm_seconds / steps if k > 1 else 0.0,
                          "bytes": net.bytes_reduced if k > 1 else 4 * n_params, "params": n_params}))


VARIANTS = [("1 process x 2 threads", 1, 2), ("1 process x 1 thread", 1, 1), ("2 ranks x 1 thread", 2, 1)]


def run_variant(nproc: int, threads: int, batch: int, steps: int) -> dict:
    from chainrule.distributed.launch import mpi_env, mpiexec_command, run_job
    env = mpi_env(blas_threads=None)
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = str(threads)
    argv = [sys.executable, os.path.abspath(__file__), "--worker", str(batch), "--steps", str(steps)]
    cmd = mpiexec_command(nproc, argv) if nproc > 1 else argv
    p = run_job(cmd, env=env, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"bench_distributed: {' '.join(cmd)} failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def ring_allreduce(nbytes: float, k: int, gbit_s: float, latency_s: float) -> float:
    """Ring all-reduce: 2(K-1) steps, each moving bytes/K per machine: 2(K-1)/K x bytes / bandwidth
    plus 2(K-1) message latencies."""
    if k == 1:
        return 0.0
    return 2 * (k - 1) / k * nbytes / (gbit_s * 1e9 / 8) + 2 * (k - 1) * latency_s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per run (default 8)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best is kept (default 3)")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.steps)

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import table
    best = {}
    for _ in range(args.rounds):
        for batch in BATCHES:
            for name, nproc, threads in VARIANTS:
                r = run_variant(nproc, threads, batch, args.steps)
                key = (batch, name)
                if key not in best or r["step"] < best[key]["step"]:
                    best[key] = r
    print(f"MLP {SIZES}, float32, softmax cross-entropy + SGD momentum; best of {args.rounds} interleaved rounds "
          f"of {args.steps} steps; {os.cpu_count()} cores\n")
    rows = []
    for batch in BATCHES:
        base = best[(batch, "1 process x 1 thread")]["step"]
        for name, _, _ in VARIANTS:
            r = best[(batch, name)]
            rows.append([batch, name, f"{r['step'] * 1e3:.1f}", f"{batch / r['step']:.0f}",
                         f"{base / r['step']:.2f}x", f"{r['comm'] * 1e3:.1f}" if r["comm"] else "-"])
    print(table(["batch", "variant", "step ms", "samples/s", "vs 1x1", "Allreduce ms/step"], rows))

    r2 = best[(BATCHES[0], "2 ranks x 1 thread")]
    nbytes = r2["bytes"]
    print(f"\nall-reduced per step: {nbytes / 1e6:.1f} MB ({r2['params']:,} float32 gradients and the sample count, "
          f"in one buffer)\n")
    print("Model for K machines (ring all-reduce, no overlap of communication with the backward):")
    print("  step(K) = compute(B / K) + 2(K-1)/K x bytes / bandwidth + 2(K-1) x latency")
    print("  compute(B / K) = measured 1 process x 1 thread step at batch B, divided by K (linear in the batch;")
    print("  each machine as fast as one core here); latency 50 us at 10 Gb/s (TCP), 5 us at 100 Gb/s (RDMA).\n")
    rows = []
    for batch in BATCHES:
        t1 = best[(batch, "1 process x 1 thread")]["step"]
        for k in (1, 2, 4, 8, 16, 32):
            if batch % k:
                continue
            cells = [batch, k]
            for gbit, lat in ((10, 50e-6), (100, 5e-6)):
                comm = ring_allreduce(nbytes, k, gbit, lat)
                step = t1 / k + comm
                cells += [f"{step * 1e3:.1f}", f"{comm * 1e3:.1f}", f"{batch / step:.0f}"]
            rows.append(cells)
    print(table(["batch", "K", "10G step ms", "10G comm ms", "10G samples/s",
                 "100G step ms", "100G comm ms", "100G samples/s"], rows))


if __name__ == "__main__":
    main()
