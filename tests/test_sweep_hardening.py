"""Sweeps under faults and hostile input: damaged journals, stale locks, folders given from elsewhere,
searched values train refuses, sweeps started together. Each case builds its input here and runs the
command in a subprocess under a memory limit and a timeout; then the journal is fuzzed."""
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from chainrule.train.sweep import JournalError, JournalFile, Spec, SweepWarning, make_spec, open_study, report
from chainrule.train.sweep.sampling import trial_seed
from chainrule.train.sweep.workers import HOST, OWNER, counts, recover

optuna = pytest.importorskip("optuna", reason="sweeps need optuna: pip install 'chainrule[sweep]'")

MEMORY = 3 << 30        # address space for one command: far below what /dev/zero as a journal took (1.36 GB)
ARGS = ["--epochs", 2, "--hidden", 10, "--batch-size", 64, "--search", "lr=1e-2:1:log", "--search",
        "reg=1e-6:1e-2:log", "--sampler", "random", "--sampler-seed", 0]


def cli(*args, cwd=None, timeout=120, one_core=False):
    """The command in a subprocess under a memory limit and a timeout (a hang fails the test)."""
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        if one_core:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, timeout=timeout, preexec_fn=limits, env=env)
    p.seconds = time.monotonic() - t0
    return p


def one_line(p, code=1, *needles):
    lines = p.stderr.strip("\n").splitlines()
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


def plain_optuna_trials(out, study="sw"):
    """The study as Optuna itself reads it (its own journal backend): chainrule's lines stay Optuna's."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    storage = JournalStorage(JournalFileBackend(str(Path(out) / "study.journal")))
    return optuna.load_study(study_name=study, storage=storage).get_trials()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished two-trial sweep, copied by each test that damages it."""
    root = tmp_path_factory.mktemp("made")
    p = cli("sweep", *ARGS, "--trials", 2, "--out", "sw", cwd=root)
    assert p.returncode == 0, p.stderr
    return root / "sw"


@pytest.fixture
def sw(made, tmp_path):
    out = tmp_path / "sw"
    shutil.copytree(made, out, symlinks=True)
    return out


def lines(out):
    return (out / "study.journal").read_bytes().splitlines(keepends=True)


# --------------------------------------------------------------------------- stale locks, cut lines
def test_a_dangling_relative_lock_link_left_by_a_kill_does_not_stop_the_next_sweep(sw):
    # what Optuna's symlink lock leaves when a kill -9 hits it with a relative --out
    os.symlink("sw/study.journal", sw / "study.journal.lock")
    p = cli("sweep", *ARGS, "--trials", 3, "--out", "sw", cwd=sw.parent, timeout=90)
    assert p.returncode == 0, p.stderr
    assert "3 of 3 trials finished" in p.stdout and p.seconds < 90


def test_a_journal_cut_mid_line_is_repaired_with_a_warning_and_loses_nothing_else(sw):
    before = plain_optuna_trials(sw)
    data = (sw / "study.journal").read_bytes()
    (sw / "study.journal").write_bytes(data[:-25])        # a crash in the middle of the last write
    kept = data[:data[:-25].rfind(b"\n") + 1]
    p = cli("sweep", *ARGS, "--trials", 3, "--out", sw)
    assert p.returncode == 0, p.stderr
    warning = one_line(p, 0, "study.journal", "its last line was cut off mid-write", "removed it")
    assert str(sw / "study.journal") in warning
    assert (sw / "study.journal").read_bytes().startswith(kept)   # every complete line is still there
    after = plain_optuna_trials(sw)                               # and Optuna reads the whole study
    assert after[0].value == before[0].value and after[0].params == before[0].params
    assert len([t for t in after if t.state.name == "COMPLETE"]) == 3
    assert "3 of 3 trials finished" in p.stdout


# --------------------------------------------------------------------------- the folder given
def test_report_of_a_folder_given_from_elsewhere_reads_and_writes_only_that_folder(made, tmp_path):
    a, b = tmp_path / "A" / "sw", tmp_path / "B" / "sw"
    shutil.copytree(made, a)
    shutil.copytree(made, b)
    spec = json.loads((a / "sweep.json").read_text())
    spec["out"] = "sw"                   # as older versions stored it: relative to where the sweep started
    (a / "sweep.json").write_text(json.dumps(spec))
    (a / "results.csv").unlink()
    decoy = (b / "results.csv").read_bytes(), (b / "results.csv").stat().st_mtime_ns
    p = cli("sweep", "--report", "../A/sw", cwd=tmp_path / "B")
    assert p.returncode == 0, p.stderr
    assert (a / "results.csv").exists() and (a / "best.json").exists()
    assert ((b / "results.csv").read_bytes(), (b / "results.csv").stat().st_mtime_ns) == decoy
    assert f"--config {a / 'best.json'}" in p.stdout
    rows = (a / "results.csv").read_text().splitlines()[1:]
    assert rows and all(os.path.isabs(r.rsplit(",", 1)[1]) for r in rows)   # run folders: absolute


def test_a_moved_sweep_folder_continues_its_own_study(tmp_path):
    assert cli("sweep", *ARGS, "--trials", 1, "--out", tmp_path / "sw").returncode == 0
    moved = tmp_path / "renamed"
    os.rename(tmp_path / "sw", moved)
    p = cli("sweep", *ARGS, "--trials", 2, "--out", moved)
    assert p.returncode == 0 and "2 of 2 trials finished" in p.stdout, p.stderr
    assert (moved / "trials" / "0001" / "last").exists()
    rows = (moved / "results.csv").read_text().splitlines()[1:]      # run folders where they are now
    assert [r.rsplit(",", 1)[1] for r in rows] == [str(moved / "trials" / f"{i:04d}") for i in range(2)]
    p = cli("sweep", *ARGS, "--trials", 3, "--study", "other", "--out", moved)
    one_line(p, 1, "study.journal: holds no study 'other'; its studies: 'sw'")


# --------------------------------------------------------------------------- damaged journals
def _garbage(sw):
    ls = lines(sw)
    (sw / "study.journal").write_bytes(b"".join(ls[:3] + [b"this is not json\n"] + ls[3:]))


def _binary(sw):
    ls = lines(sw)
    (sw / "study.journal").write_bytes(b"".join(ls[:3] + [bytes(range(256)).replace(b"\n", b"") + b"\n"] + ls[3:]))


def _emptied(sw):
    (sw / "study.journal").write_bytes(b"")


def _fifo(sw):
    (sw / "study.journal").unlink()
    os.mkfifo(sw / "study.journal")


def _dev_zero(sw):
    (sw / "study.journal").unlink()
    os.symlink("/dev/zero", sw / "study.journal")


def _changed_value(sw):      # one digit of a recorded value edited: the line's checksum catches it
    ls = lines(sw)
    k = next(i for i, x in enumerate(ls) if b'"values":[' in x)
    i = ls[k].index(b'"values":[') + 12
    ls[k] = ls[k][:i] + (b"1" if ls[k][i:i + 1] != b"1" else b"2") + ls[k][i + 1:]
    (sw / "study.journal").write_bytes(b"".join(ls))


@pytest.mark.parametrize("damage, message", [
    (_garbage, "line 4 is damaged (no checksum where every line has one"),
    (_binary, "line 4 is damaged"),
    (_emptied, "is empty, but"),
    (_fifo, "is a FIFO (named pipe), not a regular file"),
    (_dev_zero, "is a character device, not a regular file"),
    (_changed_value, "its checksum does not match"),
])
def test_a_damaged_journal_is_one_line_naming_it_for_report_and_for_continuing(sw, damage, message):
    damage(sw)
    for args in (["sweep", "--report", sw], ["sweep", *ARGS, "--trials", 3, "--out", sw]):
        p = cli(*args, timeout=60)
        one_line(p, 1, f"{sw / 'study.journal'}: ", message)
        assert p.seconds < 60
    assert not (sw / "trials" / "0002").exists()      # nothing ran on a study it could not read


def test_a_damaged_line_says_how_many_lines_before_it_are_intact(sw):
    _garbage(sw)
    p = cli("sweep", "--report", sw)
    one_line(p, 1, "the 3 lines before it are intact", "`head -n 3`")


# --------------------------------------------------------------------------- values train refuses
@pytest.mark.parametrize("search, message", [
    ("dtype=float16,float32", "--search dtype=float16,float32: dtype=float16: --dtype: unknown 'float16'"),
    ("val_fraction=0.2:0.999", "--search val_fraction=0.2:0.999: val_fraction=0.999: --val-fraction 0.999 of"),
])
def test_searched_values_train_refuses_are_refused_before_the_first_trial(tmp_path, search, message):
    p = cli("sweep", "--epochs", 1, "--search", search, "--trials", 2, "--out", tmp_path / "v")
    one_line(p, 1, message)
    assert not (tmp_path / "v").exists()
    q = cli("train", "--epochs", 1, "--val-fraction", 0.999, "--out", tmp_path / "t")
    assert q.returncode != 0      # train itself refuses the same value


# --------------------------------------------------------------------------- sweeps started together
def test_a_leftover_temporary_name_cannot_block_a_sweep(sw):
    (sw / "sweep.json.tmp").mkdir()     # a fixed temporary name, taken: unique names never collide with it
    p = cli("sweep", *ARGS, "--trials", 3, "--out", sw)
    assert p.returncode == 0, p.stderr
    assert not [f for f in os.listdir(sw) if f.endswith(".tmp") and f != "sweep.json.tmp"]


def test_jobs_beyond_the_cores_are_capped_with_one_line(tmp_path):
    p = cli("sweep", *ARGS, "--trials", 1, "--jobs", 64, "--out", tmp_path / "j", one_core=True)
    one_line(p, 0, "--jobs 64: this process may use 1 CPU core; running 1 trial at once")
    assert "1 of 1 trials finished" in p.stdout and not (tmp_path / "j" / "logs").exists()


def test_trial_seeds_differ_per_trial_and_are_stable():
    seeds = [trial_seed(1, n) for n in range(50)]
    assert len(set(seeds)) == 50 and seeds == [trial_seed(1, n) for n in range(50)]
    assert trial_seed(2, 0) != trial_seed(1, 0)


# --------------------------------------------------------------------------- fuzzing the journal
def _read(out):
    """The trials as chainrule reads them: (number, state, value, params) each, or the JournalError text."""
    try:
        study = open_study(Spec.load(out))
        return [(t.number, t.state.name, t.value, t.params) for t in study.get_trials()]
    except JournalError as e:
        return str(e)


def test_fuzzed_journals_read_whole_or_fail_in_one_line_naming_the_file(made, tmp_path):
    rng = random.Random(20)
    out = tmp_path / "sw"
    shutil.copytree(made, out)
    journal = out / "study.journal"
    data = journal.read_bytes()
    whole = _read(out)
    assert isinstance(whole, list) and len(whole) == 2
    ends = [i + 1 for i, c in enumerate(data) if c == 10]
    for case in range(300):
        kind = ("flip", "cut", "garbage")[case % 3]
        if kind == "flip":              # one bit anywhere but the last newline (a last line without its
            i = rng.randrange(len(data) - 1)      # newline is a write in progress, read as not yet there)
            bad = data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]
        elif kind == "cut":
            i = rng.randrange(len(data))
            bad = data[:i]
        else:
            at = rng.choice([0, *ends])
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).replace(b"\n", b"") + b"\n"
            bad = data[:at] + junk + data[at:]
        journal.write_bytes(bad)
        t0 = time.monotonic()
        got = _read(out)
        assert time.monotonic() - t0 < 5, kind
        if isinstance(got, str):
            assert got.startswith(f"{journal}: ") and "\n" not in got, got
            assert kind != "cut" or got.endswith("trial runs: the journal was cut, emptied or replaced; "
                                                 "restore it, or use another --out"), got
        elif kind == "cut":             # a prefix: the trials so far, each as it was or not yet finished
            assert len(got) <= len(whole)
            for g, w in zip(got, whole):
                assert g[0] == w[0] and (g == w or g[1] == "RUNNING"), (g, w)
        else:                           # a flip or a garbage line never reads as other numbers
            assert got == whole, (kind, got)
        if kind == "cut":               # and the next write goes after the last complete line, never onto a cut one
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                JournalFile(journal).append_logs([{"op_code": 5, "worker_id": "w", "trial_id": 0, "param": "x"}])
            assert [str(w.message).startswith(f"{journal}: its last line was cut off") for w in seen] == \
                [True] * (not bad.endswith(b"\n") and bool(bad)), seen
            assert all(w.category is SweepWarning for w in seen)
            records = list(JournalFile(journal).read_logs(0))
            assert records[-1]["param"] == "x" and len(records) == bad.count(b"\n") + 1


# --------------------------------------------------------------------------- liveness from run locks
def test_a_running_trial_is_alive_while_its_workers_lock_is_held_and_retried_once_it_is_free(tmp_path):
    spec = make_spec({"epochs": 1}, ["lr=0.01:0.1"], trials=2, out=tmp_path / "l")
    study = open_study(spec, create=True)
    trial = study.ask()
    trial.suggest_float("lr", 0.01, 0.1)
    folder = tmp_path / "l" / "workers" / "elsewhere"
    folder.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from chainrule.train.lock import RunLock; "
                               "lock = RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(600)",
                               str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        study._storage.set_trial_system_attr(trial._trial_id, OWNER, {"host": HOST, "lock": str(folder),
                                                                    "trial": trial.number})
        assert recover(study) == [] and counts(study) == (0, 1)      # its worker holds the lock: alive
    finally:
        holder.kill()
        holder.wait()
    assert recover(study) == [trial.number] and counts(study) == (0, 0)   # the lock is free: the worker is gone
    states = [t.state.name for t in study.get_trials()]
    assert states == ["FAIL", "WAITING"] and study.get_trials()[1].params == trial.params   # enqueued again
    retry = study.ask()       # Optuna's retry copies the dead owner; until the new worker records itself,
    assert retry.number == 1 and recover(study) == [] and counts(study) == (0, 1)   # the trial is not judged


def test_a_huge_tail_of_zeros_is_an_unfinished_last_line_read_past_and_then_cut(sw):
    size = (sw / "study.journal").stat().st_size
    os.truncate(sw / "study.journal", size + (80 << 20))     # what a crash can leave: a sparse tail of zeros
    p = cli("sweep", "--report", sw, timeout=60)
    assert p.returncode == 0 and "2 of 2 trials finished" in p.stdout, p.stderr
    p = cli("sweep", *ARGS, "--trials", 3, "--out", sw, timeout=90)
    one_line(p, 0, "study.journal: its last line was cut off mid-write (83886080 bytes")
    assert "3 of 3 trials finished" in p.stdout


def test_fuzzed_sweep_json_reports_or_fails_in_one_line_naming_it(made, tmp_path):
    rng = random.Random(21)
    out = tmp_path / "sw"
    shutil.copytree(made, out)
    data = (out / "sweep.json").read_bytes()
    for case in range(120):
        bad = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(bad))
            bad[i] ^= 1 << rng.randrange(8)
        (out / "sweep.json").write_bytes(bytes(bad))
        try:
            r = report(out, plots=False)
        except (ValueError, FileNotFoundError) as e:      # JournalError is a ValueError
            assert "\n" not in str(e) and str(e).startswith(f"{out / 'sweep.json'}: "), str(e)
        else:
            assert r["finished"] <= 2


def test_a_study_made_before_a_run_setting_existed_is_continued_when_the_setting_is_its_default(tmp_path):
    spec = make_spec({"epochs": 1}, ["lr=0.01:0.1"], trials=1, out=tmp_path / "o")
    study = open_study(spec, create=True)
    older = {k: v for k, v in study.user_attrs["base"].items() if k != "limit"}   # as if limit came later
    study.set_user_attr("base", older)
    assert open_study(spec).study_name == spec.study
    spec.base["limit"] = 5
    with pytest.raises(ValueError, match=r"was created with limit=0 \(now 5\)"):
        open_study(spec)
