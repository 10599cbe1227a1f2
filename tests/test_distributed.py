"""Data-parallel training on MPI: collectives, DistributedDataParallel, the sharded loader, the
Trainer and `chainrule train --nproc K`, run for real under the venv's mpiexec (Open MPI)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributed as dist
from chainrule.data import DataLoader, DistributedSampler
from chainrule.data.loader import ArrayDataset

HERE = Path(__file__).parent

try:
    from chainrule.distributed.launch import find_mpiexec, mpi_env, mpiexec_command, run_job
    find_mpiexec()
    import mpi4py  # noqa: F401
    HAVE_MPI = True
except (ImportError, FileNotFoundError):
    HAVE_MPI = False
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="mpiexec or mpi4py is not installed "
                                                    "(pip install 'chainrule[distributed]')")


def mpirun(k, *argv, timeout=240, **kw):
    return run_job(mpiexec_command(k, [sys.executable, *map(str, argv)]), env=mpi_env(), timeout=timeout, **kw)


def cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=mpi_env())


# ------------------------------------------------------------------ without MPI
def test_outside_a_group_one_process_and_clear_errors():
    assert not dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    with pytest.raises(RuntimeError, match="not initialized; call chainrule.distributed.init_process_group"):
        dist.all_reduce(cr.tensor([1.0]))
    with pytest.raises(ValueError, match="backend 'nccl' is not supported"):
        dist.init_process_group("nccl")
    from chainrule.nn.parallel import DistributedDataParallel
    with pytest.raises(RuntimeError, match="DistributedDataParallel: the default process group is not initialized"):
        DistributedDataParallel(cr.nn.MLP([2, 3]))


def test_sampler_gives_each_rank_its_share_of_every_global_batch_in_the_loaders_order():
    ds = ArrayDataset(np.arange(50.0)[:, None], np.arange(50))
    one = [y.numpy() for _, y in DataLoader(ds, 16, shuffle=True, seed=3)]
    for k in (2, 3, 5):
        shares = [[y.numpy() for _, y in DataLoader(ds, 16, shuffle=True, seed=3, sampler=DistributedSampler(k, r))]
                  for r in range(k)]
        for b, batch in enumerate(one):        # 16, 16, 16, 2: the last batch leaves some ranks empty at k=3, 5
            parts = [shares[r][b] for r in range(k)]
            assert np.array_equal(np.concatenate(parts), batch)
            sizes = [len(p) for p in parts]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    class Items(cr.data.Dataset):            # a map-style dataset (no fast path): empty shares keep their shape
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full(3, i, np.float32), i
    got = [[(tuple(X.shape), X.dtype) for X, _ in DataLoader(Items(), 4, sampler=DistributedSampler(3, r))]
           for r in range(3)]
    assert [[s for s, _ in g] for g in got] == [[(2, 3), (1, 3)], [(1, 3), (0, 3)], [(1, 3), (0, 3)]]
    assert {d for g in got for _, d in g} == {cr.float32}
    assert [y.tolist() for _, y in DataLoader(ds, 4, sampler=[3, 1])] == [[3, 1]]  # any sampler, as PyTorch
    with pytest.raises(ValueError, match=r"rank 3 is not in \[0, 3\)"):
        DistributedSampler(3, 3)


def test_train_nproc_below_one_is_one_clear_line():
    p = subprocess.run([sys.executable, "-m", "chainrule", "train", "--nproc", "0"], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.strip() == "chainrule train: error: --nproc must be >= 1, got 0"


def test_the_launcher_passes_rank_output_and_leaves_out_open_mpis_notices():
    import io
    from chainrule.distributed.launch import _relay
    dash = "-" * 74
    text = "\n".join([
        "warning: a rank's own line", dash, "MPI_ABORT was invoked on rank 1 in communicator MPI_COMM_WORLD",
        "  Errorcode: 1", "", "NOTE: invoking MPI_ABORT causes Open MPI to kill all MPI processes.", dash,
        "chainrule train: error: rank 1: broken; stopping every rank",
        "[vm:20613] PMIX ERROR: PMIX_ERR_UNREACH in file pmix_server.c at line 3146", dash,
        "prterun detected that one or more processes exited with non-zero status,", dash, ""])
    out, told = io.StringIO(), []
    _relay(io.StringIO(text), out, told)
    assert out.getvalue().splitlines() == ["warning: a rank's own line",
                                           "chainrule train: error: rank 1: broken; stopping every rank"]
    assert told


@pytest.mark.parametrize("fails, launches, code", [(0, 1, 0), (2, 3, 0), (3, 3, 213), (-1, 1, 7)],
                         ids=["started", "third-time", "never", "another-error"])
def test_a_job_mpiexec_did_not_start_is_launched_again(tmp_path, monkeypatch, capfd, fails, launches, code):
    # Open MPI 5 sometimes exits at once with its PMIx listener's failure (seen once in a few hundred
    # launches of this suite); no rank ran, so run() and run_job() launch it again, up to 3 times in all.
    # A stand-in mpiexec fails ``fails`` times (-1: fails every time with another error), then runs argv.
    from chainrule.distributed import launch
    count, fake = tmp_path / "count", tmp_path / "mpiexec"
    fake.write_text(f"""#!{sys.executable}
import os, sys
n = int(open({str(count)!r}).read()) if os.path.exists({str(count)!r}) else 0
open({str(count)!r}, "w").write(str(n + 1))
if {fails} < 0:
    sys.stderr.write("chainrule train: error: something else\\n"); sys.exit(7)
if n < {fails}:
    dash = "-" * 74
    sys.stderr.write(dash + "\\nThe PMIx server's listener thread failed to start. We cannot\\ncontinue.\\n" + dash + "\\n")
    sys.exit(213)
i = sys.argv.index({sys.executable!r})
os.execv(sys.argv[i], sys.argv[i:])
""")
    fake.chmod(0o755)
    monkeypatch.setattr(launch, "find_mpiexec", lambda: str(fake))
    argv = [sys.executable, "-c", "print('ran')"]
    got, _ = launch.run(1, argv)
    assert (got, int(count.read_text())) == (code, launches)
    out, err = capfd.readouterr()
    assert out.count("ran") == (code == 0)
    assert err.count("mpiexec did not start") == launches - 1 and "We cannot" not in err  # Open MPI's notice left out
    count.unlink()
    p = launch.run_job(launch.mpiexec_command(1, argv), env=launch.mpi_env())
    assert (p.returncode, int(count.read_text()), p.stdout.count("ran")) == (code, launches, int(code == 0))


def test_chainrule_imports_without_mpi4py_and_says_how_to_install_it():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import chainrule, chainrule.distributed as d\n"
            "assert not d.is_available()\n"
            "try:\n    d.init_process_group('mpi')\nexcept ImportError as e:\n    print(e)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'chainrule[distributed]'" in p.stdout


# ------------------------------------------------------------------ under mpiexec
@needs_mpi
@pytest.mark.parametrize("k", [2, 3])
def test_k_ranks_reach_the_parameters_of_one_process(k):
    """Global batch 32 on K ranks (3 ranks: shares 11/11/10, weighted) vs one process, 256 steps each,
    SGD with momentum and Adam, L2, softmax and SVM losses; the collectives are checked in the run too."""
    p = mpirun(k, HERE / "mpi_equivalence.py", 32)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["world_size"] == k and len(out["configs"]) == 5
    assert out["empty_shares"] <= 1e-12     # ranks with no share of a batch still step in lockstep
    for name, r in out["configs"].items():
        tol = 1e-10 if name.endswith("float64") else 1e-5
        assert r["params"] <= tol and r["loss"] <= tol and r["val_acc"] <= tol, (name, r)
        assert r["steps"] == 256 and r["allreduce_calls"] == r["steps"], (name, r)   # one Allreduce per step
        assert r["same_on_every_rank"], name


@needs_mpi
def test_train_nproc_writes_one_run_like_one_process(tmp_path):
    common = ["--epochs", "4", "--dtype", "float64", "--batch-size", "30"]
    two = cli("train", "--nproc", "2", *common, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr
    one = cli("train", *common, "--out", tmp_path / "one")
    assert two.stdout.count("training MLP [2, 100, 3] on spiral") == 1      # rank 0 alone prints
    assert "Traceback" not in two.stderr
    rows = [[json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
            for d in ("two", "one")]
    assert len(rows[0]) == 4
    for a, b in zip(*rows):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert a[key] == pytest.approx(b[key], rel=1e-10), key
    for f in ("config.json", "training.png", "last/model.safetensors", "best/state.json"):
        assert (tmp_path / "two" / f).exists(), f
    from safetensors.numpy import load_file
    w2, w1 = (load_file(str(tmp_path / d / "last" / "model.safetensors")) for d in ("two", "one"))
    assert sorted(w2) == sorted(w1) == ["0.bias", "0.weight", "2.bias", "2.weight"]   # no "module." prefix
    for key in w1:
        np.testing.assert_allclose(w2[key], w1[key], rtol=1e-10, atol=1e-13)


def _wait_for_epochs(run_dir, n, timeout=120):
    """Wait until the run in ``run_dir`` has written ``n`` epochs to metrics.jsonl."""
    deadline = time.time() + timeout
    metrics = run_dir / "metrics.jsonl"
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= n):
        time.sleep(0.2)


def _rank_pids(marker):
    """{rank: pid} of the processes whose command line holds ``marker``."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if marker not in (d / "cmdline").read_bytes().decode(errors="replace"):
                continue
            env = dict(kv.split("=", 1) for kv in (d / "environ").read_bytes().decode(errors="replace").split("\0")
                       if "=" in kv)
        except OSError:
            continue
        if "OMPI_COMM_WORLD_RANK" in env:
            out[int(env["OMPI_COMM_WORLD_RANK"])] = int(d.name)
    return out


@needs_mpi
def test_a_killed_rank_ends_the_job_in_bounded_time_and_the_run_resumes_with_another_k(tmp_path):
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--nproc", "3", "--epochs", "100000",
                             "--dtype", "float64", "--out", str(run_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=mpi_env())
    try:
        _wait_for_epochs(run_dir, 3)
        pids = _rank_pids(str(run_dir))
        assert sorted(pids) == [0, 1, 2], pids
        os.kill(pids[1], signal.SIGKILL)
        t0 = time.time()
        _, err = proc.communicate(timeout=60)
        while time.time() - t0 < 60 and any(Path(f"/proc/{pids[r]}").exists() for r in (0, 2)):
            time.sleep(0.1)            # the other ranks, torn down by mpiexec
        ended = time.time() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert ended < 30, f"the job took {ended:.1f} s to end after a rank was killed"
    assert not any(Path(f"/proc/{pids[r]}").exists() for r in (0, 2)), "a rank outlived the job"
    assert f"the 3-rank MPI job failed" in err and f"resume with: chainrule train --resume {run_dir} --nproc 3" in err
    # the checkpoint is whole; resume it on 2 ranks (K may change: the state is the same) to 3 more epochs
    done = json.loads((run_dir / "last" / "state.json").read_text())["epoch"]
    p = cli("train", "--resume", run_dir, "--nproc", "2", "--epochs", done + 3)
    assert p.returncode == 0, p.stderr
    assert f"resuming {run_dir} at epoch {done + 1}" in p.stdout
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, done + 4))
    # ... and ends where one uninterrupted process ends
    ref = cli("train", "--epochs", done + 3, "--dtype", "float64", "--out", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    last = json.loads((tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()[-1])
    assert rows[-1]["train_loss"] == pytest.approx(last["train_loss"], rel=1e-8)


@needs_mpi
def test_ranks_that_disagree_say_so_in_one_line(tmp_path):
    base = [sys.executable, "-m", "chainrule", "train", "--epochs", "2", "--out", str(tmp_path / "m")]
    cmd = mpiexec_command(1, [*base, "--lr", "0.1"]) + [":", "-n", "1", *base, "--lr", "0.2"]
    p = run_job(cmd, env=mpi_env(), timeout=120)
    assert p.returncode != 0
    lines = [line for line in p.stderr.splitlines() if line.startswith("chainrule")]
    assert lines == ["chainrule train: error: rank 1 has a different configuration from rank 0 (differs in: run.lr); "
                     "start every rank with the same options and data"], p.stderr
    assert "Traceback" not in p.stderr and "MPI_ABORT" not in p.stderr    # every rank knew: no abort
    assert not (tmp_path / "m" / "last").exists()


@needs_mpi
def test_an_error_on_one_rank_stops_every_rank(tmp_path):
    base = [sys.executable, "-m", "chainrule", "train", "--epochs", "2", "--out", str(tmp_path / "e")]
    cmd = mpiexec_command(1, base) + [":", "-n", "1", *base, "--dataset", "mnist", "--data-dir", str(tmp_path / "none")]
    t0 = time.time()
    p = run_job(cmd, env=mpi_env(), timeout=120)
    took = time.time() - t0
    said = f"exit {p.returncode} after {took:.1f} s\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"  # kept for a rare failure
    assert p.returncode != 0 and took < 60, said
    assert "chainrule train: error: rank 1:" in p.stderr and "stopping every rank" in p.stderr, said


@needs_mpi
def test_usage_errors_under_mpi_are_one_line_without_mpi_banners(tmp_path):
    from files import write_cifar10
    p = cli("train", "--nproc", "2", "--lr", "-1", "--out", tmp_path / "a")
    assert p.returncode == 1 and p.stderr.strip() == "chainrule train: error: --lr must be > 0, got -1.0", p.stderr
    p = cli("train", "--nproc", "2", "--dataset", "mnist", "--data-dir", tmp_path / "none")
    assert p.returncode == 1 and p.stderr.strip().splitlines() == [
        f"chainrule train: error: --data-dir {tmp_path / 'none'}: no such folder"], p.stderr
    assert "starting" not in p.stdout                      # refused before mpiexec started
    # an error every rank meets once it reads the data: reported once, by rank 0; no MPI notices
    write_cifar10(tmp_path / "c")
    (tmp_path / "c" / "test_batch").write_bytes(b"not a pickle")
    p = cli("train", "--nproc", "2", "--dataset", "cifar10", "--data-dir", tmp_path / "c", "--out", tmp_path / "r")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1 and lines[0].startswith("chainrule train: error: "), p.stderr
    assert "test_batch" in lines[0] and "rank" not in lines[0]
    assert "starting 2 ranks with mpiexec" in p.stdout and "rank 0 prints the progress here" in p.stdout


def _alive(pid):
    """A process that exists and is not a zombie (an orphan may wait unreaped in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _children(pid):
    out = []
    for d in Path("/proc").iterdir():
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if d.name.isdigit() and int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d.name))
    return out


@needs_mpi
def test_kill_9_of_the_launcher_ends_mpiexec_and_the_ranks_and_frees_the_run_folder(tmp_path):
    from chainrule.train.lock import RunLock
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--nproc", "2", "--epochs", "100000",
                             "--out", str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=mpi_env())
    mpiexec = []
    try:
        _wait_for_epochs(run_dir, 2)
        ranks = _rank_pids(str(run_dir))
        mpiexec = _children(proc.pid)
        assert sorted(ranks) == [0, 1] and mpiexec, (ranks, mpiexec)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.time()
        while time.time() - t0 < 30 and any(_alive(p) for p in [*ranks.values(), *mpiexec]):
            time.sleep(0.1)
        left = [p for p in [*ranks.values(), *mpiexec] if _alive(p)]
    finally:   # never leave a rank or mpiexec behind, even when the test fails
        for p in [*_rank_pids(str(run_dir)).values(), *(m for m in mpiexec if _alive(m))]:
            os.kill(p, signal.SIGKILL)
    assert not left, f"still running after the launcher was killed: {left}"
    assert time.time() - t0 < 10
    RunLock(run_dir).acquire().release()    # the lock is free: a resume may start at once


@needs_mpi
def test_readmes_direct_mpiexec_command_works_with_the_documented_root_flag(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMPI_ALLOW_RUN_AS_ROOT")}
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []        # README: "as root, add --allow-run-as-root"
    exe = str(Path(sys.executable).parent / "chainrule")
    p = run_job([find_mpiexec(), "-n", "2", *root, exe, "train", "--epochs", "2", "--out", str(tmp_path / "r")],
                env=env, timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("training MLP [2, 100, 3] on spiral") == 1 and "result: best/" in p.stdout
