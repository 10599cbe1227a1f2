"""Hyperparameter sweeps on Optuna: the search space, the command, workers, storages, kills and the report."""
import csv
import glob
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from chainrule.train.run import RunConfig
from chainrule.train.sweep import parse_search, redact, storage_url

optuna = pytest.importorskip("optuna", reason="sweeps need optuna: pip install 'chainrule[sweep]'")

FAST = ["--epochs", "3", "--hidden", "20", "--batch-size", "64"]
SPACE = ["--search", "lr=1e-3:1:log", "--search", "reg=1e-6:1e-2:log"]


def chainrule(*args, check=True, timeout=240, **kw):
    p = subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def _memory_limit():
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))     # each process: far below what --jobs 64 took
    try:    # a pytest pinned to one core (taskset) would cap --jobs 2 at one in-process trial: give back every core
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    except OSError:
        pass


def start(*args):
    """The command in the background, under a memory limit (sweeps started together, kills, Ctrl-C)."""
    return subprocess.Popen([sys.executable, "-m", "chainrule", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_memory_limit)


def trials(out):
    """The study's trials, read through Optuna from the sweep's own journal file."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    storage = JournalStorage(JournalFileBackend(str(Path(out) / "study.journal")))
    spec = json.loads((Path(out) / "sweep.json").read_text())
    return optuna.load_study(study_name=spec["study"], storage=storage).get_trials()


def finished(ts):
    return [t for t in ts if t.state.name in ("COMPLETE", "PRUNED")]


def assert_exact_and_unique(ts, n):
    done = finished(ts)
    assert len(done) == n, [(t.number, t.state.name, t.user_attrs) for t in ts]
    dirs = [t.user_attrs["run_dir"] for t in done]
    assert len(set(dirs)) == n
    for d in dirs:   # each trial is an ordinary run
        for f in ("config.json", "metrics.jsonl", "last/model.safetensors", "training.png"):
            assert (Path(d) / f).exists(), (d, f)


# --------------------------------------------------------------------------- the search space
def test_parse_search_ranges_choices_and_types():
    s = parse_search(["lr=1e-4:1e-1:log", "reg=0:0.01", "batch-size=32,64", "hidden=50,100x100",
                      "epochs=2:9", "optimizer=sgd,adam"])
    assert (s["lr"].kind, s["lr"].low, s["lr"].high, s["lr"].log) == ("float", 1e-4, 1e-1, True)
    assert (s["reg"].kind, s["reg"].log) == ("float", False)
    assert s["batch_size"].choices == [32, 64] and s["epochs"].kind == "int"
    assert s["hidden"].to_config("100x100") == (100, 100) and s["hidden"].to_config("50") == (50,)
    trial = optuna.trial.FixedTrial({"lr": 0.01, "hidden": "100x100"})
    assert s["lr"].suggest(trial) == 0.01 and s["hidden"].suggest(trial) == "100x100"


@pytest.mark.parametrize("spec, message", [
    ("learning_rate=1e-3:1", "unknown parameter 'learning_rate'; searchable: dataset,"),
    ("lr=1e-3:1:lg", "malformed range"),
    ("lr=1e-3", ""),                       # one choice is fine: checked below separately
    ("lr=a:1", "'a' is not a number"),
    ("lr=1:1e-3", "low bound 1 is above the high bound 0.001"),
    ("lr=0:1:log", "a log range needs bounds > 0"),
    ("reg=0:1e-2:log", "a log range needs bounds > 0"),
    ("epochs=1.5:3", "'1.5' is not an integer"),
    ("optimizer=sgd,nadam", "optimizer=nadam: unknown optimizer 'nadam'"),
    ("activation=0:1", "activation takes choices"),
    ("hidden=50,a", "'a' is not a hidden size"),
    ("lr", "expected NAME=LOW:HIGH[:log] or NAME=A,B,C"),
    ("lr=0:0.1", "--lr must be > 0"),
])
def test_parse_search_refuses_bad_specs_with_one_line(spec, message):
    if not message:
        assert parse_search([spec])["lr"].choices == [1e-3]
        return
    with pytest.raises(ValueError) as e:
        parse_search([spec])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_storage_urls_map_postgresql_to_psycopg_and_hide_passwords():
    assert storage_url("postgresql://u:pw@h:5/db") == "postgresql+psycopg://u:pw@h:5/db"
    assert storage_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert storage_url("sqlite:///x.db") == "sqlite:///x.db"
    assert redact("postgresql://u:pw@h:5/db") == "postgresql://u@h:5/db"


# --------------------------------------------------------------------------- the command
def test_sweep_two_jobs_exact_trials_report_and_each_trial_is_an_ordinary_run(tmp_path):
    out = tmp_path / "sw"
    p = chainrule("sweep", "--epochs", 3, "--batch-size", 64, *SPACE, "--search", "hidden=10,20,10x10", "--trials", 5, "--jobs", 2,
                  "--sampler-seed", 1, "--out", out)
    ts = trials(out)
    assert_exact_and_unique(ts, 5)
    assert len([t for t in ts if t.state.name == "COMPLETE"]) == 5
    assert sum(line.startswith("trial ") and " finished " in line for line in p.stdout.splitlines()) == 5
    assert "5 of 5 trials finished" in p.stdout and "best 5 trials:" in p.stdout
    # workers ran with one BLAS thread each on this machine's cores (2 jobs)
    assert (out / "logs" / "worker-0.log").exists() and (out / "logs" / "worker-1.log").exists()
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert sorted(int(r["trial"]) for r in rows) == [t.number for t in ts]
    best = max(rows, key=lambda r: float(r["val_acc"]))
    cfg = json.loads((out / "best.json").read_text())
    assert cfg["lr"] == pytest.approx(float(best["lr"])) and os.path.isabs(best["run_dir"])
    assert f"retrain the best: chainrule train --config {out / 'best.json'}" in p.stdout
    # the score is the best epoch's, and the retrain command printed reproduces that very checkpoint
    assert "score: val_acc at each trial's best epoch" in p.stdout
    assert cfg["epochs"] == int(best["epoch"]) <= 3
    command = next(line for line in p.stdout.splitlines() if line.startswith("retrain the best: "))
    chainrule(*command.split()[4:])
    retrained = (out / "best-run" / "metrics.jsonl").read_text().splitlines()
    assert len(retrained) == cfg["epochs"]
    assert json.loads(retrained[-1])["val_acc"] == pytest.approx(float(best["val_acc"]), abs=1e-12)
    for f in ("tuning.png", "trials.png", "importances.png"):
        assert (out / f).read_bytes()[:4] == b"\x89PNG", f
    # the retrain command, with a flag overriding the saved config
    q = chainrule("train", "--config", out / "best.json", "--epochs", 2, "--out", tmp_path / "best")
    run_cfg = json.loads((tmp_path / "best" / "config.json").read_text())["run"]
    assert run_cfg["epochs"] == 2 and run_cfg["lr"] == pytest.approx(cfg["lr"]) and run_cfg["hidden"] == cfg["hidden"]
    assert "done:" in q.stdout
    # any trial can be evaluated and resumed like a run
    trial_dir = Path(best["run_dir"])
    assert "spiral test set: 300 samples" in chainrule("evaluate", trial_dir).stdout
    chainrule("train", "--resume", trial_dir, "--epochs", 4)
    assert len((trial_dir / "metrics.jsonl").read_text().splitlines()) == 4
    # the report, again, on its own
    r = chainrule("sweep", "--report", out)
    assert "5 of 5 trials finished" in r.stdout and "best 5 trials:" in r.stdout


def test_two_sweeps_started_at_once_on_the_journal_finish_exactly_the_trials(tmp_path):
    out = tmp_path / "shared"      # one sampler seed: each trial's own draw, never the same in both
    args = ["sweep", *FAST, *SPACE, "--trials", 6, "--sampler", "random", "--sampler-seed", 7, "--out", out]
    a, b = start(*args), start(*args)
    for p in (a, b):
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    ts = trials(out)
    assert_exact_and_unique(ts, 6)
    assert len({tuple(sorted(t.params.items())) for t in finished(ts)}) == 6


def test_prune_stops_hopeless_trials_after_an_epoch(tmp_path):
    out = tmp_path / "p"
    p = chainrule("sweep", "--epochs", 6, "--hidden", 20, "--search", "lr=1e-6:1:log", "--trials", 8, "--prune",
                  "--sampler", "random", "--sampler-seed", 3, "--out", out)
    ts = trials(out)
    pruned = [t for t in ts if t.state.name == "PRUNED"]
    assert pruned and len(finished(ts)) == 8
    for t in pruned:   # a pruned trial is a shorter ordinary run, with its checkpoint and plot
        rows = (Path(t.user_attrs["run_dir"]) / "metrics.jsonl").read_text().splitlines()
        assert len(rows) == t.user_attrs["epochs"] < 6
        assert (Path(t.user_attrs["run_dir"]) / "training.png").exists()
    assert " pruned " in p.stdout
    assert "(no tuning scatter: it needs two searched ranges" in p.stdout
    assert "(no importances: only one parameter is searched)" in p.stdout


def test_sigkill_loses_no_finished_trial_and_the_running_one_is_failed_and_retried(tmp_path):
    out = tmp_path / "k"
    args = ["sweep", "--epochs", 40, "--hidden", 20, "--search", "lr=1e-2:1:log", "--trials", 3,
            "--sampler-seed", 0, "--out", out]
    p = start(*args)
    deadline = time.time() + 120
    while not (out / "trials" / "0001" / "config.json").exists():
        assert p.poll() is None and time.time() < deadline, p.communicate()
        time.sleep(0.05)
    p.kill()
    p.wait()
    before = trials(out)
    assert [t.state.name for t in before] == ["COMPLETE", "RUNNING"]
    q = chainrule(*args)
    after = trials(out)
    assert after[0].value == before[0].value and after[0].state.name == "COMPLETE"
    assert after[1].state.name == "FAIL"
    retry = [t for t in after if t.system_attrs.get("failed_trial") == 1]
    assert len(retry) == 1 and retry[0].params == after[1].params and retry[0].state.name == "COMPLETE"
    assert_exact_and_unique(after, 3)
    assert "3 of 3 trials finished" in q.stdout


@pytest.mark.slow   # the default run covers the same recovery through a killed sweep (the test above)
def test_sigkill_of_one_worker_is_retried_by_the_other(tmp_path):
    out = tmp_path / "w"
    p = start("sweep", "--epochs", 30, "--hidden", 20, "--search", "lr=1e-2:1:log", "--trials", 3, "--jobs", 2,
              "--out", out)
    deadline = time.time() + 120
    victim = None
    while victim is None:
        assert p.poll() is None and time.time() < deadline, p.communicate()
        time.sleep(0.1)
        if (out / "study.journal").exists() and (out / "sweep.json").exists():
            running = [t for t in trials(out) if t.state.name == "RUNNING" and "chainrule:owner" in t.system_attrs]
            victim = running[0] if running else None
    os.kill(victim.system_attrs["chainrule:owner"]["pid"], signal.SIGKILL)
    stdout, stderr = p.communicate(timeout=240)
    assert p.returncode == 0, stderr
    ts = trials(out)
    assert ts[victim.number].state.name == "FAIL"
    retry = [t for t in ts if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retry) == 1 and retry[0].params == victim.params and retry[0].state.name == "COMPLETE"
    assert_exact_and_unique(ts, 3)
    assert "3 of 3 trials finished" in stdout


def test_ctrl_c_stops_the_sweep_and_the_same_command_continues(tmp_path):
    out = tmp_path / "c"
    args = ["sweep", "--epochs", 40, "--hidden", 20, "--search", "lr=1e-2:1:log", "--trials", 3, "--jobs", 2,
            "--out", out]
    p = start(*args)
    deadline = time.time() + 120
    while not (out / "trials" / "0001" / "config.json").exists():
        assert p.poll() is None and time.time() < deadline, p.communicate()
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stderr
    assert "run the same command again to continue" in stderr and "Traceback" not in stderr
    assert not [t for t in trials(out) if t.state.name == "RUNNING"]
    chainrule(*args)
    assert_exact_and_unique(trials(out), 3)


def test_bad_input_is_one_line_nonzero_and_writes_nothing_into_the_study(tmp_path):
    out = tmp_path / "b"
    chainrule("sweep", *FAST, *SPACE, "--trials", 1, "--out", out)
    journal = (out / "study.journal").read_bytes()
    cases = [
        (["--search", "lrr=1:2"], "unknown parameter 'lrr'"),   # the other spec errors: the unit test above
        (["--search", "lr=1e-3:1:log", "--search", "reg=1e-6:1e-3:log"],
         "was created with a different search space (lr=0.001:1:log reg=1e-06:0.01:log)"),
        (["--search", "lr=1e-3:1:log", "--search", "reg=1e-6:1e-2:log", "--lr", "0.1"],
         "lr is both fixed (--lr) and searched"),
    ]
    for extra, message in cases:
        base = [a for a in FAST]
        p = chainrule("sweep", *base, *extra, "--trials", 2, "--out", out, check=False)
        assert p.returncode != 0 and message in p.stderr, (extra, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    # a changed fixed setting is another study too
    p = chainrule("sweep", "--epochs", 4, "--hidden", 20, "--batch-size", 64, *SPACE, "--trials", 2, "--out", out,
                  check=False)
    assert p.returncode == 1 and "was created with epochs=3 (now 4)" in p.stderr
    assert (out / "study.journal").read_bytes() == journal
    assert [d.name for d in (out / "trials").iterdir()] == ["0000"]


def test_unreachable_storage_fails_fast_with_one_line(tmp_path):
    with socket.socket() as s:     # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    p = chainrule("sweep", *FAST, *SPACE, "--trials", 1, "--out", tmp_path / "u",
                  "--storage", f"postgresql://me:secret@127.0.0.1:{port}/db", check=False)
    assert time.perf_counter() - t0 < 60
    assert p.returncode == 1 and f"cannot open the storage postgresql://me@127.0.0.1:{port}/db" in p.stderr
    assert "secret" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "u").exists()


def test_train_config_file_is_checked(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"lr": 0.1, "learning": 2}))
    p = chainrule("train", "--config", tmp_path / "c.json", check=False)
    assert p.returncode == 1 and "unknown setting 'learning'" in p.stderr
    (tmp_path / "c.json").write_text(json.dumps({"lr": -1, "epochs": 1}))
    p = chainrule("train", "--config", tmp_path / "c.json", "--out", tmp_path / "r", check=False)
    assert p.returncode == 1 and "--lr must be > 0" in p.stderr
    p = chainrule("train", "--config", tmp_path / "nope.json", check=False)
    assert p.returncode == 1 and "no such config file" in p.stderr


# --------------------------------------------------------------------------- the Python API
def test_python_api_returns_the_study_and_the_best_config(tmp_path):
    import chainrule
    seen = []
    res = chainrule.train.sweep({"epochs": 2, "hidden": (10,)}, {"lr": "1e-2:1:log", "batch_size": "32,64"},
                                trials=3, out=tmp_path / "api", sampler="random", sampler_seed=0, progress=False,
                                on_trial=seen.append, plots=False)
    assert res.status == "finished" and len(finished(res.study.trials)) == 3 == len(seen)
    best = res.study.best_trial
    assert res.best["lr"] == best.params["lr"] and res.best["batch_size"] == best.params["batch_size"]
    assert RunConfig.from_dict(res.best).hidden == (10,)
    # the same call again has nothing left to do; a larger budget continues the study
    again = chainrule.train.sweep({"epochs": 2, "hidden": (10,)}, {"lr": "1e-2:1:log", "batch_size": "32,64"},
                                  trials=4, out=tmp_path / "api", progress=False, plots=False)
    assert len(finished(again.study.trials)) == 4


def test_grid_sampler_runs_the_whole_grid_once(tmp_path):
    import chainrule
    res = chainrule.train.sweep({"epochs": 1, "hidden": (10,)}, ["lr=0.01,0.1", "batch_size=32,64"], trials=10,
                                out=tmp_path / "g", sampler="grid", progress=False, plots=False)
    done = finished(res.study.trials)
    assert res.status == "finished" and len(done) == 4
    assert {(t.params["lr"], t.params["batch_size"]) for t in done} == {(0.01, 32), (0.01, 64), (0.1, 32), (0.1, 64)}
    with pytest.raises(ValueError, match="--sampler grid needs choices"):
        chainrule.train.sweep({}, ["lr=0.01:0.1"], out=tmp_path / "g2", sampler="grid")
    assert not (tmp_path / "g2").exists()


# --------------------------------------------------------------------------- PostgreSQL
def _pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL cluster on a free loopback port, run by an unprivileged user when we are root."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (Debian: apt-get install postgresql)")
    as_user = []
    folder = Path(tempfile.mkdtemp(prefix="chainrule-pg-"))
    if os.geteuid() == 0:
        import pwd
        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if user is None:
            pytest.skip("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL")
        pw = pwd.getpwnam(user)
        os.chown(folder, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", user, "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"
    subprocess.run([*as_user, bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-l", folder / "log", "-w", "-t", "60", "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name):
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_two_sweeps_share_a_postgresql_study(postgres, tmp_path):
    # two "machines": each its own SWEEP_DIR, one study in the database
    args = ["sweep", *FAST, *SPACE, "--trials", 6, "--storage", postgres, "--study", "shared"]
    a, b = start(*args, "--out", tmp_path / "m1"), start(*args, "--out", tmp_path / "m2")
    for p in (a, b):
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=storage_url(postgres))
    done = finished(study.trials)
    assert len(done) == 6 and len({t.user_attrs["run_dir"] for t in done}) == 6
    assert {Path(t.user_attrs["run_dir"]).parent.parent.name for t in done} == {"m1", "m2"}
    r = chainrule("sweep", "--report", tmp_path / "m2")
    assert "6 of 6 trials finished" in r.stdout
    p = chainrule("sweep", *FAST, "--search", "lr=1e-3:1e-1:log", "--trials", 6, "--storage", postgres,
                  "--study", "shared", "--out", tmp_path / "m3", check=False)
    assert p.returncode == 1 and "different search space" in p.stderr


def test_a_storage_that_never_answers_is_given_up_after_the_timeout(tmp_path):
    from chainrule.train.sweep import open_storage
    with socket.socket() as s:     # accepts connections (the kernel's backlog) but never says a word
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        t0 = time.perf_counter()
        with pytest.raises(ConnectionError, match="cannot open the storage postgresql://127.0.0.1"):
            open_storage(f"postgresql://127.0.0.1:{s.getsockname()[1]}/db", tmp_path, timeout=2)
        assert time.perf_counter() - t0 < 20
