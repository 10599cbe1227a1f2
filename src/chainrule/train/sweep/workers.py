"""Workers: processes that take trials from the study and train them, and notice each other's deaths.

- Exactly ``trials`` trials finish: before a trial runs, a worker counts the finished ones and the
  ones running ahead of it, and waits or stops (Optuna's MaxTrialsCallback stops a worker at the
  budget too, but cannot stop several workers from overshooting it together).
- Liveness from locks, not from process tables: each worker holds a ``RunLock`` (train/lock.py, the
  same flock that guards a run folder) on its own folder SWEEP_DIR/workers/HOST-PID-ID for its
  whole life, and records that folder in each trial it takes. A RUNNING trial whose worker's lock
  is free lost its worker: the next worker to look marks it FAIL and Optuna's
  RetryFailedTrialCallback enqueues the same parameters again. A database's trials also carry
  Optuna's heartbeats, for workers on other machines.
- Trials are drawn and scored as :mod:`.sampling` says.
"""
from __future__ import annotations

import importlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

from chainrule.train import run as run_mod
from chainrule.train.lock import RunFolderBusy, RunLock
from chainrule.train.sweep.sampling import Reporter, make_pruner, make_sampler, score
from chainrule.train.sweep.spec import Spec
from chainrule.train.sweep.storage import open_study, retry_callback
from chainrule.train.trainer import NonFiniteLoss

OWNER = "chainrule:owner"
HOST = socket.gethostname()
UNCLAIMED_GRACE = 60.0      # seconds a RUNNING trial may stay without an owner (a worker records itself at once)


# --------------------------------------------------------------------------- liveness
class WorkerLock:
    """A worker's folder SWEEP_DIR/workers/HOST-PID-ID, run-locked for the life of the worker."""

    def __init__(self, out):
        self.root = Path(out) / "workers"
        self.folder, self.lock = None, None

    def acquire(self) -> "WorkerLock":
        for _ in range(10):
            folder = self.root / f"{HOST}-{os.getpid()}-{secrets.token_hex(3)}"
            try:
                folder.mkdir(parents=True)
                lock = RunLock(folder).acquire()
            except (FileNotFoundError, RunFolderBusy):   # the last worker out removed workers/ just now,
                continue                                  # or a cleaner is looking at this new folder
            try:   # a cleaner may have removed the folder between mkdir and lock: then take another
                if os.path.samestat(os.fstat(lock.fd), os.stat(folder / ".lock")):
                    self.folder, self.lock = folder, lock
                    return self
            except FileNotFoundError:
                pass
            lock.release()
        raise RuntimeError(f"{self.root}: could not make a worker folder")

    def release(self) -> None:
        if self.lock is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.lock.release()
            self.lock = None
            try:
                self.root.rmdir()       # the last worker out removes workers/
            except OSError:
                pass


def _free(folder: Path) -> bool:
    """True if no process holds ``folder``'s run lock (the folder of a worker that is gone)."""
    if not (folder / ".lock").exists():
        return not folder.exists()
    try:
        RunLock(folder).acquire().release()
        return True
    except RunFolderBusy:
        return False
    except OSError:
        return False


def remove_dead_workers(out) -> None:
    """Remove the folders of workers that are gone (a kill -9 leaves them behind)."""
    root = Path(out) / "workers"
    if root.is_dir():
        for folder in root.iterdir():
            if folder.is_dir() and (folder / ".lock").exists() and _free(folder):
                shutil.rmtree(folder, ignore_errors=True)


def _gone(t, now: float) -> bool:
    """Whether a RUNNING trial's worker is gone: its lock is free (a worker on this host), or it
    never recorded itself although it started over ``UNCLAIMED_GRACE`` seconds ago."""
    o = t.system_attrs.get(OWNER)
    if not isinstance(o, dict) or o.get("trial") != t.number:
        # no owner yet, or the one a retry copied from the failed trial it repeats (Optuna's callback copies
        # system attributes): the worker that just took it records itself within milliseconds
        start = t.datetime_start.timestamp() if t.datetime_start else now
        return now - start > UNCLAIMED_GRACE
    if o.get("host") != HOST or not o.get("lock"):
        return False        # another machine's worker: Optuna's heartbeats judge it
    return _free(Path(o["lock"]))


def recover(study) -> list:
    """Mark RUNNING trials whose worker is gone as FAIL and enqueue their parameters again."""
    import optuna
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.storages.fail_stale_trials(study)   # a database's heartbeats: workers on any machine
    failed, now = [], time.time()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _gone(t, now):
            continue
        try:
            study.tell(t.number, state=TrialState.FAIL)
        except Exception:  # noqa: BLE001 - another worker failed it first
            continue
        retry_callback()(study, study.get_trials(deepcopy=False)[t.number])
        failed.append(t.number)
    return failed


def counts(study, before: int | None = None, now: float | None = None):
    """(finished, running ahead): trials COMPLETE or PRUNED; live RUNNING ones numbered below ``before``."""
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    done = running = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            done += 1
        elif t.state == TrialState.RUNNING and (before is None or t.number < before) and not _gone(t, now):
            running += 1
    return done, running


# --------------------------------------------------------------------------- one worker
class Skipped(Exception):
    """The study already had enough trials when this one started; it is marked FAIL and ignored."""


class Interrupted(KeyboardInterrupt):
    pass


def _data_key(cfg):
    return (cfg.dataset, cfg.data_dir, cfg.limit, cfg.val_fraction, cfg.seed, cfg.preprocess, cfg.dtype)


def work(spec: Spec, on_trial=None, deadline: float | None = None, parent: int | None = None, plot=None) -> str:
    """Run trials of the study until ``spec.trials`` have finished (or the deadline); returns why it stopped.

    ``on_trial(frozen_trial)`` is called after each trial this process ran; ``plot(history, path)`` draws
    each trial's training.png (None: none).
    """
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    study = open_study(spec)
    me = WorkerLock(spec.out).acquire()
    study.sampler = make_sampler(spec)
    study.pruner = make_pruner(spec)
    base, space, out = spec.config(), spec.params(), Path(spec.out)
    cache = {}

    def objective(trial):
        trial.storage.set_trial_system_attr(trial._trial_id, OWNER, {"host": HOST, "lock": str(me.folder),
                                                                      "pid": os.getpid(), "trial": trial.number})
        done, ahead = counts(study, before=trial.number)
        if done + ahead >= spec.trials:
            trial.set_user_attr("status", "skipped")
            raise Skipped()
        values = {n: p.suggest(trial) for n, p in space.items()}
        cfg = replace(base, **{n: space[n].to_config(v) for n, v in values.items()})
        run_dir = out / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        key = _data_key(cfg)
        if key not in cache:
            cache.clear()
            cfg.validate()
            cache[key] = run_mod.load_data(cfg)
        trainer, _ = run_mod.start_run(cfg, run_dir, progress=False, data=cache[key], plot=plot)
        rep = Reporter(trial, spec.metric, spec.prune is not None)
        trainer.callbacks.append(rep)
        t0 = time.perf_counter()
        status = "finished"
        try:
            trainer.fit()
        except NonFiniteLoss:
            status = "diverged"
        if trainer.status == "interrupted":
            raise Interrupted()
        value, epoch = score(trainer.history, spec.metric)
        trial.set_user_attr("status", "pruned" if rep.pruned else status)
        trial.set_user_attr("epochs", len(trainer.history.epoch))
        trial.set_user_attr("best_epoch", epoch)
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 3))
        if rep.pruned:
            raise optuna.TrialPruned()
        return value

    def after(study_, frozen):
        if frozen.state == TrialState.FAIL and frozen.user_attrs.get("status") == "skipped":
            if "failed_trial" in frozen.system_attrs:   # a retry that could not run: keep it queued
                retry_callback()(study_, frozen)
        elif on_trial is not None:
            on_trial(frozen)
        if not wait_for_turn(study, spec, deadline, parent):
            study_.stop()

    try:
        if not wait_for_turn(study, spec, deadline, parent):
            return "finished"
        timeout = None if deadline is None else max(deadline - time.time(), 0.001)
        study.optimize(objective, timeout=timeout, catch=(Skipped,), gc_after_trial=False,
                       callbacks=[after, MaxTrialsCallback(spec.trials, states=(TrialState.COMPLETE,
                                                                                 TrialState.PRUNED))])
    except Interrupted:
        # the interrupted trial is FAIL now: run its parameters again next time
        mine = [t for t in study.get_trials(deepcopy=False)
                if (t.system_attrs.get(OWNER) or {}).get("lock") == str(me.folder)
                and t.state == TrialState.FAIL and t.user_attrs.get("status") != "skipped"]
        if mine:
            retry_callback()(study, mine[-1])
        raise KeyboardInterrupt from None
    finally:
        me.release()
    done, _ = counts(study)
    return "finished" if done >= spec.trials else "timeout"


def wait_for_turn(study, spec: Spec, deadline, parent) -> bool:
    """True when this worker should start another trial; waits while the trials still running would
    reach the budget (one of them may fail and need a retry)."""
    while True:
        recover(study)
        done, running = counts(study)
        if done >= spec.trials:
            return False
        if deadline is not None and time.time() >= deadline:
            return False
        if parent is not None and os.getppid() != parent:
            return False            # the sweep that started this worker is gone
        if done + running < spec.trials:
            return True
        time.sleep(0.5)


def worker_main(spec_path: str, deadline: str, parent: str, plot: str = "none") -> int:
    """Entry of a worker process (started by :func:`run_workers` with ``--jobs`` > 1); ``plot``: the
    ``module:name`` of the caller's plot function, or none."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = Spec.load(Path(spec_path).parent)
    spec.storage = os.environ.get("CHAINRULE_SWEEP_STORAGE") or spec.storage   # sweep.json has no password
    try:
        work(spec, deadline=float(deadline) if deadline != "none" else None, parent=int(parent),
             plot=_by_name(plot))
    except KeyboardInterrupt:
        return 130
    return 0


# --------------------------------------------------------------------------- many workers
def _by_name(ref: str):
    """The function ``module:name`` (the application's plot function, passed to a worker process by name)."""
    if ref == "none":
        return None
    module, name = ref.split(":", 1)
    return getattr(importlib.import_module(module), name)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_workers(spec: Spec, study, jobs: int, deadline, seen, plot=None) -> str:
    """Start ``jobs`` worker processes (with this process's BLAS thread limit: train/threads.py) and follow
    the study until they exit; ``seen(frozen_trial)`` for each trial that finishes meanwhile; ``plot`` as
    for :func:`work` (a function the workers import by its name)."""
    from optuna.trial import TrialState

    env = dict(os.environ)      # the BLAS limit the command chose (train/threads.py) goes to every worker
    if spec.storage:
        env["CHAINRULE_SWEEP_STORAGE"] = spec.storage
    logs = Path(spec.out) / "logs"
    logs.mkdir(exist_ok=True)
    code = ("import sys; from chainrule.train.sweep.workers import worker_main; "
            "sys.exit(worker_main(*sys.argv[1:]))")
    procs, files = [], []
    known = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    for i in range(jobs):
        f = open(logs / f"worker-{i}.log", "a")
        files.append(f)
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(Path(spec.out) / "sweep.json"),
                                       "none" if deadline is None else repr(deadline), str(os.getpid()),
                                       "none" if plot is None else f"{plot.__module__}:{plot.__qualname__}"],
                                      env=env, stdout=f, stderr=subprocess.STDOUT))

    def poll():
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in known:
                known.add(t.number)
                if not (t.state == TrialState.FAIL and t.user_attrs.get("status") == "skipped"):
                    seen(t)

    try:
        while any(p.poll() is None for p in procs):
            time.sleep(0.5)
            poll()
        poll()
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        raise
    finally:
        for f in files:
            f.close()
    # a worker killed by a signal is no error: its trial is failed and retried by the others (or next time)
    bad = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode > 0 and p.returncode != 130]
    if bad:
        i, rc = bad[0]
        lines = (logs / f"worker-{i}.log").read_text(errors="replace").strip().splitlines()
        raise RuntimeError(f"worker {i} exited with {rc}: {lines[-1] if lines else 'no output'} "
                           f"(log: {logs / f'worker-{i}.log'})")
    return "finished"
