"""The MLP 3072-100-100-10 training step (float32, SGD), compiled and not, side by side:
NumPy by hand, PyTorch eager, torch.compile of the whole step, JAX jit, chainrule eager and
chainrule.compile, at several batch sizes; with ``--net convnet`` the course's ConvNet on 3x32x32
images (Conv2d 3->32 7x7 pad 3, ReLU, MaxPool2d 2, Flatten, Linear 8192->100, ReLU, Linear 100->10).

Each contender runs in its own worker process pinned to one core (``taskset -c CORE``, one BLAS
thread); the main process asks them in turn, round after round (rounds interleaved), so that a
loaded machine slows them alike. Each answer is the time per step in the fastest block of about
2 ms of steps (see ``best_block``); the table gives the best over the rounds (ms), and the first
call (trace or compile) per batch size. JAX and torch are benchmark-only: a contender
whose library is missing, or whose compiler fails, is reported as such.

    python benchmarks/bench_compile.py [--rounds 3] [--core 0] [--batches 1,16,64,256,1024]
    python benchmarks/bench_compile.py --net convnet     # batches 1,16,64; PyTorch, JAX, chainrule

OpenBLAS chooses its kernels by CPU model (``DYNAMIC_ARCH``); on a CPU it does not recognise it may
take AVX2 kernels on an AVX-512 machine: ``OPENBLAS_CORETYPE=SkylakeX`` in the environment selects
the AVX-512 ones (for NumPy by hand and chainrule; PyTorch and JAX bring their own GEMMs).
"""
import _common  # noqa: F401  (one BLAS thread, set before NumPy loads)
import argparse
import os
import subprocess
import sys
import time

import numpy as np

SIZES = [3072, 100, 100, 10]
CONV = dict(image=(3, 32, 32), channels=32, kernel=7, pool=2, hidden=100, classes=10)
LR = 1e-3
CONTENDERS = ["numpy", "torch", "torch.compile", "jax.jit", "chainrule", "chainrule.compile", "chainrule.autotune"]
CONVNET_CONTENDERS = ["torch", "jax.jit", "chainrule", "chainrule.compile", "chainrule.autotune"]
NET = "mlp"  # or "convnet" (set by --net)
TITLES = {"numpy": "NumPy by hand", "torch": "PyTorch eager", "torch.compile": "torch.compile (whole step)",
          "jax.jit": "JAX jit", "chainrule": "chainrule eager", "chainrule.compile": "chainrule compiled",
          "chainrule.autotune": "compiled, max-autotune"}


def shapes():
    """(weight shape, fan-in) of each layer, PyTorch's layout: W (out, in) or (out, C, KH, KW)."""
    if NET == "mlp":
        return [((b, a), a) for a, b in zip(SIZES[:-1], SIZES[1:])]
    (c, h, w), o, k = CONV["image"], CONV["channels"], CONV["kernel"]
    flat = o * (h // CONV["pool"]) * (w // CONV["pool"])
    return [((o, c, k, k), c * k * k), ((CONV["hidden"], flat), flat), ((CONV["classes"], CONV["hidden"]), CONV["hidden"])]


def init_state():
    """The same weights for every contender: PyTorch's layout, W (out, in) and b (out,)."""
    rng = np.random.default_rng(0)
    state = []
    for shape, fan_in in shapes():
        bound = 1 / np.sqrt(fan_in)
        state.append((rng.uniform(-bound, bound, shape).astype(np.float32),
                      rng.uniform(-bound, bound, shape[0]).astype(np.float32)))
    return state


def batch(n):
    rng = np.random.default_rng(n)
    shape = (n, SIZES[0]) if NET == "mlp" else (n, *CONV["image"])
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, SIZES[-1], n)


def layers(nn):
    """The network in ``nn``'s language (torch.nn or chainrule.nn), with init_state's weights."""
    if NET == "mlp":
        mods = []
        for i, ((o, a), _) in enumerate(shapes()):
            mods += [nn.Linear(a, o)] + ([nn.ReLU()] if i < len(SIZES) - 2 else [])
    else:
        (conv, _), (fc1, _), (fc2, _) = shapes()
        mods = [nn.Conv2d(conv[1], conv[0], conv[2], padding=conv[2] // 2), nn.ReLU(), nn.MaxPool2d(CONV["pool"]),
                nn.Flatten(), nn.Linear(fc1[1], fc1[0]), nn.ReLU(), nn.Linear(fc2[1], fc2[0])]
    return nn.Sequential(*mods)


# ----------------------------------------------------------------------------- the contenders
def make_numpy():
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_train_step import NumpyMLP
    names = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    ref = NumpyMLP(dict(zip(names, [a for wb in init_state() for a in wb])))
    return lambda n: (lambda X, y: lambda: ref.step(X, y))(*batch(n))


def make_torch(compiled: bool):
    import torch
    torch.set_num_threads(1)
    net = layers(torch.nn)
    net.load_state_dict({k: torch.tensor(v) for k, v in zip(net.state_dict(), [a for wb in init_state() for a in wb])})
    opt = torch.optim.SGD(net.parameters(), lr=LR)

    def step(X, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(X), y)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        step = torch.compile(step, dynamic=False)

    def setup(n):
        X, y = batch(n)
        Xt, yt = torch.tensor(X), torch.tensor(y)
        return lambda: step(Xt, yt)
    return setup


def make_jax():
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_platforms", "cpu")

    def loss_fn(params, X, y):
        h = X
        if NET == "convnet":
            (w, b), params = params[0], params[1:]
            pad = w.shape[2] // 2
            h = jax.lax.conv_general_dilated(h, w, (1, 1), [(pad, pad), (pad, pad)],
                                             dimension_numbers=("NCHW", "OIHW", "NCHW")) + b[None, :, None, None]
            p = CONV["pool"]
            h = jax.lax.reduce_window(jax.nn.relu(h), -jnp.inf, jax.lax.max, (1, 1, p, p), (1, 1, p, p), "VALID")
            h = h.reshape(h.shape[0], -1)
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def step(params, X, y):
        loss, g = jax.value_and_grad(loss_fn)(params, X, y)
        return jax.tree_util.tree_map(lambda p, d: p - LR * d, params, g), loss

    box = [[(jnp.asarray(w), jnp.asarray(b)) for w, b in init_state()]]

    def setup(n):
        X, y = batch(n)
        Xj, yj = jnp.asarray(X), jnp.asarray(y.astype(np.int32))

        def run():
            box[0], loss = step(box[0], Xj, yj)
            loss.block_until_ready()
        return run
    return setup


def make_chainrule(compiled: bool, mode=None):
    import chainrule as cr
    from chainrule.nn import functional as F
    net = layers(cr.nn)
    net.load_state_dict({k: v for k, v in zip(net.state_dict(), [a for wb in init_state() for a in wb])})
    opt = cr.optim.SGD(net.parameters(), lr=LR)

    def step(X, y):
        opt.zero_grad()
        loss = F.cross_entropy(net(X), y)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        step = cr.compile(step, mode=mode)

    def setup(n):
        X, y = batch(n)
        Xc, yc = cr.tensor(X), cr.tensor(y)
        return lambda: step(Xc, yc)
    return setup


MAKERS = {"numpy": make_numpy, "torch": lambda: make_torch(False), "torch.compile": lambda: make_torch(True),
          "jax.jit": make_jax, "chainrule": lambda: make_chainrule(False),
          "chainrule.compile": lambda: make_chainrule(True),
          "chainrule.autotune": lambda: make_chainrule(True, "max-autotune")}


def best_block(fn, seconds=0.4, block=0.002):
    """Seconds per call in the fastest block of about ``block`` seconds, over ``seconds`` of calls.

    On a machine shared with other jobs a mean over many calls mostly measures the others; a block
    of a few milliseconds often runs undisturbed, and the best block approaches the unloaded speed.
    """
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-7)
    k = max(1, int(block / once))
    seconds = min(3.0, max(seconds, 40 * once))  # at least ~40 calls of a slow step
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(k):
            fn()
        best = min(best, (time.perf_counter() - t) / k)
    return best


def worker(name: str) -> None:
    """Answer 'setup N' with the first call's seconds, 'time N' with the best seconds per step."""
    try:
        setup = MAKERS[name]()
    except Exception as e:  # noqa: BLE001 - a missing optional library is reported, not fatal
        print(f"error {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)
        return
    print("ready", flush=True)
    steps = {}
    for line in sys.stdin:
        cmd, n = line.split()
        n = int(n)
        try:
            if cmd == "setup":
                steps[n] = setup(n)
                t = time.perf_counter()
                steps[n]()
                first = time.perf_counter() - t
                steps[n]()  # the second call of chainrule.compile is its first replay
                print(f"ok {first}", flush=True)
            else:
                print(f"ok {best_block(steps[n])}", flush=True)
        except Exception as e:  # noqa: BLE001
            print(f"error {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)


# ----------------------------------------------------------------------------- the driver
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--core", type=int, default=0)
    ap.add_argument("--net", choices=("mlp", "convnet"), default="mlp")
    ap.add_argument("--batches", help="default 1,16,64,256,1024 (mlp), 1,16,64 (convnet)")
    ap.add_argument("--only", help=f"default {','.join(CONTENDERS)} (mlp), {','.join(CONVNET_CONTENDERS)} (convnet)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    global NET
    NET = args.net
    if args.worker:
        return worker(args.worker)
    batches = [int(b) for b in (args.batches or ("1,16,64,256,1024" if NET == "mlp" else "1,16,64")).split(",")]
    names = [c for c in (args.only or ",".join(CONTENDERS if NET == "mlp" else CONVNET_CONTENDERS)).split(",") if c]
    if NET == "convnet" and "numpy" in names:
        ap.error("--net convnet: there is no NumPy-by-hand convnet step; leave 'numpy' out of --only")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    procs, status = {}, {}
    for name in names:
        cmd = ["taskset", "-c", str(args.core), sys.executable, __file__, "--worker", name, "--net", NET]
        procs[name] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        status[name] = procs[name].stdout.readline().strip() or "error: the worker died"

    def ask(name, cmd, n):
        if not status[name].startswith("ready"):
            return None
        p = procs[name]
        p.stdin.write(f"{cmd} {n}\n")
        p.stdin.flush()
        reply = p.stdout.readline().strip() or "error: the worker died"
        if reply.startswith("ok "):
            return float(reply[3:])
        status[name] = reply
        return None

    first = {(name, n): ask(name, "setup", n) for n in batches for name in names}
    best = {}
    for _ in range(args.rounds):
        for n in batches:
            for name in names:
                t = ask(name, "time", n)
                if t is not None:
                    best[name, n] = min(best.get((name, n), float("inf")), t)
    for p in procs.values():
        p.stdin.close()
        p.wait()
    rows = []
    for n in batches:
        row = [n]
        for name in names:
            t = best.get((name, n))
            row.append(f"{t * 1e3:.3f}" if t is not None else "n/a")
        c, a, j, e = (best.get((k, n)) for k in ("chainrule.compile", "chainrule.autotune", "jax.jit", "chainrule"))
        row.append(f"{c / j:.2f}x" if c and j else "n/a")
        row.append(f"{a / j:.2f}x" if a and j else "n/a")
        row.append(f"{min(c or e, a or e) / e:.2f}x" if e and (c or a) else "n/a")
        rows.append(row)
    what = "MLP 3072-100-100-10" if NET == "mlp" else "ConvNet 3x32x32 conv 32 7x7, pool 2, fc 100, 10"
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    print(f"{what} step time, ms (best of {args.rounds} interleaved rounds; one thread; pinned to core {args.core}"
          f"{'; OPENBLAS_CORETYPE=' + coretype if coretype else ''})\n")
    print(_common.table(["batch"] + [TITLES[n] for n in names] +
                        ["compiled / JAX", "max-autotune / JAX", "best compiled / eager"], rows))
    rows = [[n] + [f"{first[name, n]:.3f}" if first.get((name, n)) is not None else "n/a" for name in names]
            for n in batches]
    print("\nFirst call (trace or compile), s\n")
    print(_common.table(["batch"] + [TITLES[n] for n in names], rows))
    for name in names:
        if not status[name].startswith("ready"):
            print(f"\n{TITLES[name]}: {status[name]}")


if __name__ == "__main__":
    main()
