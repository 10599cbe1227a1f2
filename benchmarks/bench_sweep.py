"""Hyperparameter sweeps: TPE against random search, and one job against two (not part of the test run).

1. Best validation accuracy found by N trials of Optuna's TPE and N trials of random search, the
   same space and budget, over several sampler seeds: on the built-in spiral data, and on the
   CIFAR-10 subset in ../shared/data when it is there.
2. Wall time of the same sweep with --jobs 1 and --jobs 2 (rounds interleaved; the machine's
   load shows in the spread).
3. The journal: chainrule's backend (flock, a CRC-32 per line, the cut-line check before each
   write) against Optuna's JournalFileBackend, per append and per full read of the same records
   (rounds interleaved). ``--journal`` runs this part alone.

    python benchmarks/bench_sweep.py [--quick] [--journal] [CIFAR_DIR]
"""
import _common  # noqa: F401  (one BLAS thread in this process)
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import table

from chainrule.train.sweep import sweep
from chainrule.train.sweep.journal import JournalFile

import optuna  # noqa: E402,I001

optuna.logging.set_verbosity(optuna.logging.WARNING)

HERE = Path(__file__).resolve().parent
CANDIDATES = [HERE.parents[1] / "shared" / "data" / "cifar-10-subset-py",
              HERE.parents[2] / "shared" / "data" / "cifar-10-subset-py"]

SPIRAL = dict(config={"dataset": "spiral", "epochs": 15, "batch_size": 32, "lr_step": 0},
              search=["lr=1e-4:1:log", "reg=1e-6:1e-1:log", "hidden=10,50,100,200"])
CIFAR = dict(config={"dataset": "cifar10", "epochs": 4, "batch_size": 128, "lr_step": 0, "hidden": (100,)},
             search=["lr=1e-5:1e-1:log", "reg=1e-5:1e-1:log"])


def best_of(setting, sampler, trials, seed, tmp, jobs=1):
    out = Path(tempfile.mkdtemp(dir=tmp))
    t0 = time.perf_counter()
    r = sweep(setting["config"], setting["search"], trials=trials, out=out, sampler=sampler, sampler_seed=seed,
              progress=False, plots=False, jobs=jobs)
    return r.study.best_value, time.perf_counter() - t0


def compare_samplers(name, setting, trials, seeds, tmp):
    rows = []
    res = {"tpe": [], "random": []}
    for seed in seeds:
        for sampler in ("tpe", "random"):      # interleaved
            res[sampler].append(best_of(setting, sampler, trials, seed, tmp)[0])
    for sampler in ("tpe", "random"):
        v = res[sampler]
        rows.append([name, sampler, trials, len(seeds), f"{statistics.mean(v):.3f}", f"{min(v):.3f}",
                     f"{max(v):.3f}"])
    return rows


def compare_jobs(name, setting, trials, rounds, tmp):
    setting = dict(setting, search=[s for s in setting["search"] if not s.startswith("hidden")])  # same cost
    times = {1: [], 2: []}
    for _ in range(rounds):
        for jobs in (1, 2):
            times[jobs].append(best_of(setting, "random", trials, 0, tmp, jobs=jobs)[1])
    t1, t2 = min(times[1]), min(times[2])
    return [[name, trials, jobs, f"{min(times[jobs]):.1f}", f"{max(times[jobs]):.1f}",
             f"{t1 / min(times[jobs]):.2f}x"] for jobs in (1, 2)]


def _record(i):
    # the shape of a typical line: a trial's user attribute
    return {"op_code": 8, "worker_id": "3f2b7c1e-5d4a-4f0e-9a1b-6c8d2e7f4a90-140276836518784", "trial_id": i,
            "user_attr": {"run_dir": f"/home/user/sweeps/spiral/trials/{i:04d}", "seconds": 1.234}}


def compare_journals(n, rounds, tmp):
    from optuna.storages.journal import JournalFileBackend
    times = {"chainrule": ([], []), "optuna": ([], [])}
    for r in range(rounds):
        for name in ("chainrule", "optuna"):       # interleaved
            path = str(Path(tmp) / f"{name}-{r}.journal")
            backend = JournalFile(path) if name == "chainrule" else JournalFileBackend(path)
            t0 = time.perf_counter()
            for i in range(n):
                backend.append_logs([_record(i)])
            times[name][0].append((time.perf_counter() - t0) / n)
            reader = JournalFile(path) if name == "chainrule" else JournalFileBackend(path)
            t0 = time.perf_counter()
            assert sum(1 for _ in reader.read_logs(0)) == n
            times[name][1].append(time.perf_counter() - t0)
    a0, r0 = min(times["optuna"][0]), min(times["optuna"][1])
    return [[name, n, f"{min(app) * 1e6:.0f}", f"{min(app) / a0:.2f}x", f"{min(rd) * 1e3:.1f}", f"{min(rd) / r0:.2f}x"]
            for name, (app, rd) in times.items()]


def main():
    quick = "--quick" in sys.argv
    if "--journal" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            rows = compare_journals(500 if quick else 2000, 3 if quick else 5, tmp)
        print("The journal file: one record per append (fsync each), then one full read (best of rounds):")
        print(table(["backend", "records", "append us", "vs optuna", "read ms", "vs optuna"], rows))
        return
    args = [a for a in sys.argv[1:] if a not in ("--quick", "--journal")]
    cifar = Path(args[0]) if args else next((c for c in CANDIDATES if c.exists()), None)
    seeds = [0, 1] if quick else [0, 1, 2]
    with tempfile.TemporaryDirectory() as tmp:
        rows = compare_samplers("spiral", SPIRAL, 12 if quick else 20, seeds, tmp)
        jobs_rows = compare_jobs("spiral", SPIRAL, 6 if quick else 12, 1 if quick else 2, tmp)
        if cifar is not None and cifar.exists():
            setting = dict(CIFAR, config={**CIFAR["config"], "data_dir": str(cifar)})
            rows += compare_samplers("cifar10 subset", setting, 8 if quick else 16, seeds[:2], tmp)
            jobs_rows += compare_jobs("cifar10 subset", setting, 4 if quick else 8, 1, tmp)
        else:
            print("(no CIFAR-10 subset found; give its folder as an argument)")
    print("Best validation accuracy found (mean, min, max over sampler seeds):")
    print(table(["data", "sampler", "trials", "seeds", "mean best", "min", "max"], rows))
    print()
    print("Wall time of one sweep (seconds; best and worst round), --jobs 1 against --jobs 2:")
    print(table(["data", "trials", "jobs", "best s", "worst s", "speed-up"], jobs_rows))


if __name__ == "__main__":
    main()
