"""Hyperparameter search on Optuna: many ordinary runs, one study.

A sweep is an Optuna study whose trials are ordinary runs: trial N trains with
``run.start_run`` into ``SWEEP_DIR/trials/NNNN`` (config.json, metrics.jsonl,
checkpoints, training.png), so ``chainrule evaluate`` and ``train --resume``
work on any trial. Optuna does the rest: samplers (TPE, random, grid), pruners
(median, successive halving) and storages that many processes share.

- Search space: ``"lr=1e-4:1e-1:log"`` (a float or int range, log-uniform with
  ``:log``), ``"hidden=50,100,100x100"`` (choices). Any RunConfig field but
  ``data_dir`` can be searched; the rest of the config is fixed.
- Storage: by default a journal file in SWEEP_DIR (Optuna's recommendation for
  several processes on one machine: appends under a file lock, no server, no
  SQLite write-lock errors); any URL Optuna takes for many machines, with
  ``postgresql://`` mapped to psycopg 3.
- Exactly ``trials`` trials finish: before a trial runs, a worker counts the
  finished ones and the ones running ahead of it, and waits or stops.
- A worker that dies leaves its trial RUNNING; the next worker to look marks it
  FAIL and enqueues the same parameters again (a recorded owner process on this
  host for every storage, Optuna's heartbeats as well for a database).

Example:
    >>> from chainrule.train.sweep import parse_search
    >>> sorted(parse_search(["lr=1e-3:1:log", "hidden=50,100x100"]))
    ['hidden', 'lr']
"""
from __future__ import annotations

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from chainrule.fileio import write_atomic
from chainrule.train import run as run_mod
from chainrule.train.run import RunConfig

METRICS = {"val_acc": "maximize", "val_loss": "minimize", "train_acc": "maximize", "train_loss": "minimize"}
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving")
NOT_SEARCHABLE = ("data_dir",)
# settings that may differ between machines sharing a study (not compared when joining it)
LOCAL_SETTINGS = ("data_dir",)
OWNER = "chainrule:owner"
HOST = socket.gethostname()
BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS")


# --------------------------------------------------------------------------- the search space
@dataclass
class Param:
    """One searched setting: a float/int range (``log``: log-uniform) or a list of choices."""

    name: str
    kind: str                      # "float", "int" or "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list = field(default_factory=list)

    def suggest(self, trial):
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_categorical(self.name, self.choices)

    def to_config(self, value):
        """The RunConfig value for an Optuna value (hidden widths travel as "100x100")."""
        if self.name == "hidden":
            return tuple(int(w) for w in str(value).split("x"))
        return value

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "name"}


def _field_kinds() -> dict:
    d = RunConfig()
    return {f.name: type(getattr(d, f.name)).__name__ for f in fields(RunConfig) if f.name not in NOT_SEARCHABLE}


def _number(text: str, kind: str, spec: str):
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        raise ValueError(f"--search {spec}: {text!r} is not {'an integer' if kind == 'int' else 'a number'}") from None


def parse_search(specs, base: RunConfig | None = None) -> dict:
    """``{name: Param}`` from strings ``NAME=LOW:HIGH[:log]`` or ``NAME=A,B,C`` (or a dict of such strings).

    Every bound and choice is checked with ``RunConfig.validate`` on ``base``, so a value ``train`` would
    refuse is refused here, before any trial runs.
    """
    if isinstance(specs, dict):
        specs = [f"{k}={v}" for k, v in specs.items()]
    base = base or RunConfig()
    kinds = _field_kinds()
    space = {}
    for spec in specs:
        name, eq, body = str(spec).partition("=")
        name = name.strip().replace("-", "_")
        if not eq or not name or not body.strip():
            raise ValueError(f"--search {spec!r}: expected NAME=LOW:HIGH[:log] or NAME=A,B,C")
        if name not in kinds:
            raise ValueError(f"--search {spec}: unknown parameter {name!r}; searchable: {', '.join(kinds)}")
        if name in space:
            raise ValueError(f"--search {spec}: {name} is searched twice")
        kind = kinds[name]
        body = body.strip()
        if ":" in body:
            parts = body.split(":")
            log = len(parts) == 3 and parts[2] == "log"
            if len(parts) not in (2, 3) or (len(parts) == 3 and not log) or "," in body:
                raise ValueError(f"--search {spec}: malformed range; expected {name}=LOW:HIGH or {name}=LOW:HIGH:log")
            if kind == "str":
                raise ValueError(f"--search {spec}: {name} takes choices ({name}=A,B,C), not a range")
            num = "int" if kind in ("int", "tuple") else "float"
            low, high = (_number(p, num, spec) for p in parts[:2])
            if not (math.isfinite(low) and math.isfinite(high)):
                raise ValueError(f"--search {spec}: bounds must be finite")
            if low > high:
                raise ValueError(f"--search {spec}: low bound {low:g} is above the high bound {high:g}")
            if log and low <= 0:
                raise ValueError(f"--search {spec}: a log range needs bounds > 0 (got {low:g}:{high:g})")
            p = Param(name, num, low, high, log)
            values = [p.to_config(low), p.to_config(high)]
        else:
            items = [s.strip() for s in body.split(",")]
            if not all(items):
                raise ValueError(f"--search {spec}: empty choice in {body!r}")
            if kind == "tuple":
                for s in items:
                    if not all(w.isdigit() and int(w) > 0 for w in s.split("x")):
                        raise ValueError(f"--search {spec}: {s!r} is not a hidden size (like 100, or 100x100 "
                                         f"for two layers)")
                choices = items
            elif kind in ("int", "float"):
                choices = [_number(s, kind, spec) for s in items]
            else:
                choices = items
            if len(set(choices)) != len(choices):
                raise ValueError(f"--search {spec}: a choice is listed twice")
            p = Param(name, "choice", choices=choices)
            values = [p.to_config(c) for c in choices]
        for v in values:
            try:
                replace(base, **{name: v}).validate()
            except (ValueError, TypeError) as e:
                raise ValueError(f"--search {spec}: {name}={v}: {e}") from None
        space[name] = p
    return space


def _space_json(space: dict) -> dict:
    return {n: p.to_json() for n, p in sorted(space.items())}


def _space_from_json(d: dict) -> dict:
    return {n: Param(n, **v) for n, v in d.items()}


# --------------------------------------------------------------------------- storage and study
def _retry():
    """Optuna's callback that enqueues a failed trial's parameters again (renamed in Optuna 4.9)."""
    import warnings

    import optuna.storages as st
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cls = getattr(st, "RetryHeartbeatStaleTrialCallback", None) or st.RetryFailedTrialCallback
        return cls(max_retry=None)


def storage_url(url: str | None) -> str | None:
    """The SQLAlchemy URL for a user's URL: postgresql:// and postgres:// use psycopg 3."""
    if url is None:
        return None
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def redact(url: str | None) -> str | None:
    """The URL without its password (what sweep.json keeps)."""
    if not url or "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    cred, host = rest.rsplit("@", 1)
    return f"{scheme}://{cred.split(':', 1)[0]}@{host}"


def open_storage(url: str | None, out: Path, create: bool = True, timeout: int = 10):
    """Optuna storage: the journal file SWEEP_DIR/study.journal, or a database URL (bounded connect wait)."""
    import inspect
    import warnings

    from optuna.storages import RDBStorage
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if url is None:
        path = Path(out) / "study.journal"
        if not create and not path.exists():
            raise FileNotFoundError(f"{out}: no sweep here (no study.journal)")
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    sa_url = storage_url(url)
    kwargs = {}
    if sa_url.startswith("postgresql"):
        kwargs = {"connect_args": {"connect_timeout": timeout}, "pool_pre_ping": True}
    elif sa_url.startswith("mysql"):
        kwargs = {"connect_args": {"connect_timeout": timeout}}
    # a trial whose worker stopped beating for grace_period seconds is failed and its parameters enqueued again
    stale = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback"
             in inspect.signature(RDBStorage).parameters else "failed_trial_callback")
    from sqlalchemy.exc import IntegrityError, ProgrammingError
    for attempt in range(4):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")     # heartbeats are "experimental" in Optuna
                return RDBStorage(sa_url, engine_kwargs=kwargs, heartbeat_interval=5, grace_period=30,
                                  **{stale: _retry()})
        except (IntegrityError, ProgrammingError):
            if attempt == 3:
                raise
            time.sleep(0.5 + attempt)   # another machine is creating the tables right now: look again
        except Exception as e:  # noqa: BLE001 - any driver's error becomes one line
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConnectionError(f"cannot open the storage {redact(url)}: {msg}") from None


@dataclass
class Spec:
    """What a sweep is: fixed config, space, objective; saved as SWEEP_DIR/sweep.json."""

    out: str
    base: dict
    space: dict
    trials: int = 20
    study: str = "sweep"
    storage: str | None = None       # None: SWEEP_DIR/study.journal
    sampler: str = "tpe"
    prune: str | None = None         # None, "median" or "halving"
    metric: str = "val_acc"
    timeout: float | None = None     # seconds, per invocation
    sampler_seed: int | None = None

    def config(self) -> RunConfig:
        return RunConfig.from_dict(self.base)

    def params(self) -> dict:
        return _space_from_json(self.space)

    def save(self) -> None:
        d = asdict(self)
        d["storage"] = redact(self.storage)
        write_atomic(Path(self.out) / "sweep.json", json.dumps(d, indent=1))

    @classmethod
    def load(cls, out) -> "Spec":
        path = Path(out) / "sweep.json"
        if not path.exists():
            raise FileNotFoundError(f"{out}: no sweep here (no sweep.json)")
        return cls(**json.loads(path.read_text()))


def _study_attrs(spec: Spec) -> dict:
    base = {k: v for k, v in spec.base.items() if k not in LOCAL_SETTINGS}
    return {"space": spec.space, "base": base, "metric": spec.metric}


_ATTRS = ("space", "base", "metric")


def _settled_attrs(study, wait: float = 10.0) -> dict:
    """The study's attributes; a study that another worker has just created gets them one by one
    right after, so wait (a bounded time) until all are there before judging it."""
    deadline = time.monotonic() + wait
    while True:
        have = study.user_attrs          # read from the storage at every access
        if all(k in have for k in _ATTRS) or time.monotonic() > deadline:
            return have
        time.sleep(0.05)


def _check_same(study, spec: Spec) -> None:
    """Refuse to join a study made for another space, fixed config or metric."""
    want = json.loads(json.dumps(_study_attrs(spec)))
    have = _settled_attrs(study)
    if any(k not in have for k in _ATTRS):
        raise ValueError(f"study {spec.study!r} was not created by chainrule sweep; choose another --study")
    if have["space"] != want["space"]:
        raise ValueError(f"study {spec.study!r} was created with a different search space "
                         f"({_describe(have['space'])}); use another --out or --study")
    if have["metric"] != want["metric"]:
        raise ValueError(f"study {spec.study!r} optimizes {have['metric']}, not {want['metric']}")
    diff = sorted(k for k in set(have["base"]) | set(want["base"]) if have["base"].get(k) != want["base"].get(k))
    if diff:
        k = diff[0]
        raise ValueError(f"study {spec.study!r} was created with {k}={have['base'].get(k)} (now "
                         f"{want['base'].get(k)}); use another --out or --study")


def _describe(space: dict) -> str:
    parts = []
    for n, p in space.items():
        if p["kind"] == "choice":
            parts.append(f"{n}={','.join(map(str, p['choices']))}")
        else:
            parts.append(f"{n}={p['low']:g}:{p['high']:g}" + (":log" if p["log"] else ""))
    return " ".join(parts)


def open_study(spec: Spec, create: bool = False):
    """Load (or, with ``create``, create) the study; checks it was made for this space."""
    import optuna

    storage = open_storage(spec.storage, Path(spec.out), create=create)
    exists = spec.study in {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if exists:
        study = optuna.load_study(study_name=spec.study, storage=storage)
        _check_same(study, spec)
        return study
    if not create:
        raise ValueError(f"no study {spec.study!r} in the storage")
    study = optuna.create_study(study_name=spec.study, storage=storage, direction=METRICS[spec.metric],
                                load_if_exists=True)     # another process may have created it just now
    if "space" not in study.user_attrs:
        for k, v in _study_attrs(spec).items():
            study.set_user_attr(k, v)
    _check_same(study, spec)
    return study


# --------------------------------------------------------------------------- worker processes
def _proc_stat(pid: int):
    """(state, start time) of a process from /proc, or None if it is gone; (None, None) off Linux."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return (None, None)
    rest = text.rsplit(")", 1)[1].split()
    return rest[0], rest[19]


def _owner() -> dict:
    st = _proc_stat(os.getpid())
    return {"host": HOST, "pid": os.getpid(), "start": st[1] if st else None}


def _alive(owner: dict) -> bool:
    st = _proc_stat(owner["pid"])
    if st is None:
        return False
    if st == (None, None):
        try:
            os.kill(owner["pid"], 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return st[0] not in ("Z", "X") and (owner.get("start") is None or st[1] == owner["start"])


def _owner_dead(t) -> bool:
    o = t.system_attrs.get(OWNER)
    return bool(o) and o.get("trial") == t.number and o.get("host") == HOST and not _alive(o)


def recover(study) -> list:
    """Mark RUNNING trials whose worker (on this host) is gone as FAIL and enqueue their parameters again."""
    import warnings

    import optuna
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.storages.fail_stale_trials(study)   # a database's heartbeats: workers on any machine
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _owner_dead(t):
            continue
        try:
            study.tell(t.number, state=TrialState.FAIL)
        except Exception:  # noqa: BLE001 - another worker failed it first
            continue
        _retry()(study, study.get_trials(deepcopy=False)[t.number])
        failed.append(t.number)
    return failed


def _counts(study, before: int | None = None):
    """(finished, running ahead): trials COMPLETE or PRUNED; live RUNNING ones numbered below ``before``."""
    from optuna.trial import TrialState

    done = running = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            done += 1
        elif t.state == TrialState.RUNNING and (before is None or t.number < before) and not _owner_dead(t):
            running += 1
    return done, running


class _Skipped(Exception):
    """The study already had enough trials when this one started; it is marked FAIL and ignored."""


class _Interrupted(KeyboardInterrupt):
    pass


def _make_sampler(spec: Spec, seed):
    import optuna

    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "grid":
        space = spec.params()
        return optuna.samplers.GridSampler({n: p.choices for n, p in space.items()}, seed=seed)
    # TPE models the trials after a few random ones: Optuna's default of 10 would leave a 20-trial sweep half random
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(4, spec.trials // 4)))


def _make_pruner(spec: Spec):
    import optuna

    if spec.prune == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if spec.prune == "median":
        # early epochs are noisy: judge a trial only after a quarter of its epochs, against 4 finished ones
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=max(1, spec.base["epochs"] // 4))
    return optuna.pruners.NopPruner()


class _Reporter:
    """Trainer callback: reports the metric after each epoch; on a prune, ends the run after this epoch."""

    def __init__(self, trial, metric: str, prune: bool):
        self.trial, self.metric, self.prune, self.pruned = trial, metric, prune, False

    def on_epoch_end(self, trainer):
        value = getattr(trainer.history, self.metric)[-1]
        self.trial.report(value, trainer.epoch)
        if self.prune and self.trial.should_prune():
            self.pruned = True
            trainer.epochs = trainer.epoch   # the loop ends normally: checkpoints and plot are written


def _plot_trial(history, path) -> None:
    """training.png of a trial (run.start_run draws nothing itself; to move to the application layer)."""
    try:
        from chainrule.viz.plots import plot_history
    except ImportError:
        return
    plot_history(history, path)


def _data_key(cfg: RunConfig):
    return (cfg.dataset, cfg.data_dir, cfg.limit, cfg.val_fraction, cfg.seed, cfg.preprocess, cfg.dtype)


def work(spec: Spec, worker: int = 0, on_trial=None, deadline: float | None = None,
         parent: int | None = None) -> str:
    """Run trials of the study until ``spec.trials`` have finished (or the deadline); returns why it stopped.

    ``on_trial(frozen_trial)`` is called after each trial this process ran.
    """
    import optuna
    from optuna.trial import TrialState

    from chainrule.train.trainer import NonFiniteLoss

    study = open_study(spec)
    recover(study)
    seed = None if spec.sampler_seed is None else spec.sampler_seed + 1000 * worker + len(study.trials)
    study.sampler = _make_sampler(spec, seed)
    study.pruner = _make_pruner(spec)
    base, space, out = spec.config(), spec.params(), Path(spec.out)
    direction = METRICS[spec.metric]
    cache = {}

    def objective(trial):
        o = _owner()
        o["trial"] = trial.number
        trial.storage.set_trial_system_attr(trial._trial_id, OWNER, o)
        done, ahead = _counts(study, before=trial.number)
        if done + ahead >= spec.trials:
            trial.set_user_attr("status", "skipped")
            raise _Skipped()
        values = {n: p.suggest(trial) for n, p in space.items()}
        cfg = replace(base, **{n: space[n].to_config(v) for n, v in values.items()})
        run_dir = out / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        key = _data_key(cfg)
        if key not in cache:
            cache.clear()
            cfg.validate()
            cache[key] = run_mod.load_data(cfg)
        trainer, _ = run_mod.start_run(cfg, run_dir, progress=False, data=cache[key], plot=_plot_trial)
        rep = _Reporter(trial, spec.metric, spec.prune is not None)
        trainer.callbacks.append(rep)
        t0 = time.perf_counter()
        status = "finished"
        try:
            trainer.fit()
        except NonFiniteLoss:
            status = "diverged"
        if trainer.status == "interrupted":
            raise _Interrupted()
        h = getattr(trainer.history, spec.metric)
        if h:
            value = max(h) if direction == "maximize" else min(h)
        else:
            value = 0.0 if direction == "maximize" else float("inf")
        trial.set_user_attr("status", "pruned" if rep.pruned else status)
        trial.set_user_attr("epochs", len(trainer.history.epoch))
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 3))
        if rep.pruned:
            raise optuna.TrialPruned()
        return value

    def after(study_, frozen):
        if frozen.state == TrialState.FAIL and frozen.user_attrs.get("status") == "skipped":
            if "failed_trial" in frozen.system_attrs:   # a retry that could not run: keep it queued
                _retry()(study_, frozen)
        elif on_trial is not None:
            on_trial(frozen)
        if not _wait_for_turn(study, spec, deadline, parent):
            study_.stop()

    if not _wait_for_turn(study, spec, deadline, parent):
        return "finished"
    timeout = None if deadline is None else max(deadline - time.time(), 0.001)
    try:
        study.optimize(objective, timeout=timeout, callbacks=[after], catch=(_Skipped,), gc_after_trial=False)
    except _Interrupted:
        # the interrupted trial is FAIL now: run its parameters again next time
        last = [t for t in study.get_trials(deepcopy=False) if t.system_attrs.get(OWNER, {}).get("pid") == os.getpid()
                and t.state == TrialState.FAIL and t.user_attrs.get("status") != "skipped"]
        if last:
            _retry()(study, last[-1])
        raise KeyboardInterrupt from None
    done, _ = _counts(study)
    return "finished" if done >= spec.trials else "timeout"


def _wait_for_turn(study, spec: Spec, deadline, parent) -> bool:
    """True when this worker should start another trial; waits while the trials still running would
    reach the budget (one of them may fail and need a retry)."""
    while True:
        recover(study)
        done, running = _counts(study)
        if done >= spec.trials:
            return False
        if deadline is not None and time.time() >= deadline:
            return False
        if parent is not None and os.getppid() != parent:
            return False            # the sweep that started this worker is gone
        if done + running < spec.trials:
            return True
        time.sleep(0.5)


def _worker_main(spec_path: str, worker: str, deadline: str, parent: str) -> int:
    """Entry of a worker process (started by :func:`sweep` with ``--jobs`` > 1)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = Spec.load(Path(spec_path).parent)
    spec.storage = os.environ.get("CHAINRULE_SWEEP_STORAGE") or spec.storage   # sweep.json has no password
    try:
        work(spec, int(worker), deadline=float(deadline) if deadline != "none" else None, parent=int(parent))
    except KeyboardInterrupt:
        return 130
    return 0


# --------------------------------------------------------------------------- the sweep
@dataclass
class SweepResult:
    """What :func:`sweep` returns: the study, the sweep folder, why it stopped, and the report."""

    study: object
    out: Path
    status: str                     # "finished", "timeout", "interrupted" or "incomplete" (a worker died)
    report: dict | None = None

    @property
    def best(self) -> dict | None:
        return self.report["best"] if self.report else None


def _threads_per_job(jobs: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores // jobs)


def make_spec(config=None, search=(), trials: int = 20, out="sweeps/sweep", storage: str | None = None,
              study: str | None = None, sampler: str = "tpe", prune: str | None = None, metric: str = "val_acc",
              timeout: float | None = None, sampler_seed: int | None = None) -> Spec:
    """Check every argument (nothing is written) and return the sweep's Spec."""
    if isinstance(config, RunConfig):
        base = replace(config)
    else:
        config = dict(config or {})
        names = {f.name for f in fields(RunConfig)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; settings: {', '.join(sorted(names))}")
        base = RunConfig.from_dict(config)
    base.validate()
    space = parse_search(search, base)
    if not space:
        raise ValueError("nothing to search: give at least one --search NAME=LOW:HIGH[:log] or NAME=A,B,C")
    fixed = set(config) if isinstance(config, dict) else set()
    both = sorted(fixed & set(space))
    if both:
        raise ValueError(f"{both[0]} is both fixed (--{both[0].replace('_', '-')}) and searched; drop one")
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"--trials must be a positive integer, got {trials}")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLERS)}")
    if sampler == "grid":
        ranges = [n for n, p in space.items() if p.kind != "choice"]
        if ranges:
            raise ValueError(f"--sampler grid needs choices (NAME=A,B,C) for every parameter; {ranges[0]} is a range")
        trials = min(trials, math.prod(len(p.choices) for p in space.values()))   # the whole grid at most
    if prune not in (None, *PRUNERS):
        raise ValueError(f"unknown pruner {prune!r}; choose from {', '.join(PRUNERS)}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    if metric.startswith("val_") and not base.val_fraction > 0:
        raise ValueError(f"--metric {metric} needs a validation set (--val-fraction > 0)")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"--timeout must be > 0 seconds, got {timeout}")
    out = Path(out)
    return Spec(out=str(out), base=json.loads(json.dumps(asdict(base))), space=_space_json(space), trials=trials,
                study=study or out.name or "sweep", storage=storage, sampler=sampler, prune=prune, metric=metric,
                timeout=timeout, sampler_seed=sampler_seed)


def sweep(config=None, search=(), trials: int = 20, out="sweeps/sweep", jobs: int = 1, storage: str | None = None,
          study: str | None = None, sampler: str = "tpe", prune: str | None = None, metric: str = "val_acc",
          timeout: float | None = None, sampler_seed: int | None = None, progress: bool = True,
          on_trial=None, plots: bool = True) -> SweepResult:
    """Search hyperparameters: ``trials`` ordinary runs in ``out/trials/``, sampled by Optuna.

    Args:
        config (RunConfig or dict, None): the fixed settings (RunConfig's defaults for the rest).
        search (list of str or dict): the space, ``"lr=1e-4:1e-1:log"``, ``"hidden=50,100,200"``.
        trials (int, 20): how many trials should have finished (COMPLETE or pruned) in the study;
            running the same sweep again after an interruption continues up to this number.
        out (path, "sweeps/sweep"): SWEEP_DIR: sweep.json, study.journal, trials/, the report.
        jobs (int, 1): trials at once, as separate processes, BLAS threads = cores // jobs each.
        storage (str, None): an Optuna storage URL (postgresql://... for many machines);
            None: the journal file SWEEP_DIR/study.journal.
        study (str, None): the study name (default: the folder name of ``out``).
        sampler (str, "tpe"): tpe, random or grid (grid: choices only).
        prune (str, None): None, "median" or "halving": stop hopeless trials after an epoch.
        metric (str, "val_acc"): val_acc, val_loss, train_acc or train_loss (best epoch of each trial).
        timeout (float, None): stop starting trials after this many seconds.
        sampler_seed (int, None): seed of the sampler (None: a fresh one).
        progress (bool, True): a progress bar over trials (only on a terminal).
        on_trial (callable, None): called with each finished, pruned or failed FrozenTrial.
        plots (bool, True): draw the report's plots.

    Returns:
        SweepResult: ``.study`` (optuna Study), ``.status``, ``.report`` (see :func:`report`), ``.best``.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer, got {jobs}")
    spec = make_spec(config, search, trials, out, storage, study, sampler, prune, metric, timeout, sampler_seed)
    study_ = open_study(spec, create=True)
    Path(spec.out).mkdir(parents=True, exist_ok=True)
    spec.save()
    deadline = None if timeout is None else time.time() + timeout
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=spec.trials, initial=min(_counts(study_)[0], spec.trials), desc="trials", unit="trial",
                   disable=None, dynamic_ncols=True)

    def seen(t):
        if bar is not None and t.state.name in ("COMPLETE", "PRUNED"):
            bar.update(1)
        if on_trial is not None:
            on_trial(t)

    status = "finished"
    try:
        if jobs == 1:
            status = work(spec, 0, on_trial=seen, deadline=deadline)
        else:
            status = _run_workers(spec, study_, jobs, deadline, seen)
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        if bar is not None:
            bar.close()
    rep = report(spec.out, study=study_, plots=plots)
    if status != "interrupted":
        timed_out = deadline is not None and time.time() >= deadline
        status = "finished" if rep["finished"] >= spec.trials else ("timeout" if timed_out else "incomplete")
    return SweepResult(study_, Path(spec.out), status, rep)


def _run_workers(spec: Spec, study, jobs: int, deadline, seen) -> str:
    """Start ``jobs`` worker processes and follow the study until they exit."""
    from optuna.trial import TrialState

    env = dict(os.environ)
    n = str(_threads_per_job(jobs))
    env.update({k: n for k in BLAS_THREADS})
    if spec.storage:
        env["CHAINRULE_SWEEP_STORAGE"] = spec.storage
    logs = Path(spec.out) / "logs"
    logs.mkdir(exist_ok=True)
    code = ("import sys; from chainrule.train.sweep import _worker_main; "
            "sys.exit(_worker_main(*sys.argv[1:]))")
    procs, files = [], []
    known = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    for i in range(jobs):
        f = open(logs / f"worker-{i}.log", "a")
        files.append(f)
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(Path(spec.out) / "sweep.json"), str(i),
                                       "none" if deadline is None else repr(deadline), str(os.getpid())],
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
        lines = (logs / f"worker-{i}.log").read_text().strip().splitlines()
        raise RuntimeError(f"worker {i} exited with {rc}: {lines[-1] if lines else 'no output'} "
                           f"(log: {logs / f'worker-{i}.log'})")
    return "finished"


# --------------------------------------------------------------------------- the report
def _rows(study, spec: Spec) -> list:
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("status") == "skipped":
            continue
        value = t.value if t.state.name == "COMPLETE" else None
        if t.state.name == "PRUNED" and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        rows.append({"trial": t.number, "state": t.state.name.lower(),
                     "status": t.user_attrs.get("status", t.state.name.lower()),
                     spec.metric: value, **{n: t.params.get(n) for n in spec.space},
                     "epochs": t.user_attrs.get("epochs"), "seconds": t.user_attrs.get("seconds"),
                     "run_dir": t.user_attrs.get("run_dir")})
    return rows


def report(out, study=None, top: int = 10, plots: bool = True, storage: str | None = None) -> dict:
    """Write results.csv, best.json and the plots of a sweep folder; return what to show.

    Returns a dict: ``rows`` (every trial), ``top`` (the best finished ones), ``best`` (the winning
    RunConfig as a dict, or None), ``finished``, ``trials``, ``files`` and ``command`` (the retrain
    command), ``notes`` (plots that could not be drawn, and why).
    """
    spec = Spec.load(out)
    if storage is not None:
        spec.storage = storage
    if study is None:
        study = open_study(spec)
    out = Path(out)
    rows = _rows(study, spec)
    maximize = METRICS[spec.metric] == "maximize"
    ranked = sorted((r for r in rows if r["state"] == "complete" and r[spec.metric] is not None),
                    key=lambda r: -r[spec.metric] if maximize else r[spec.metric])
    files, notes = [], []
    cols = ["trial", "state", "status", spec.metric, *spec.space, "epochs", "seconds", "run_dir"]
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    files.append(str(out / "results.csv"))
    best, command = None, None
    if ranked:
        b = ranked[0]
        space = spec.params()
        cfg = replace(spec.config(), **{n: space[n].to_config(b[n]) for n in spec.space if b[n] is not None})
        best = json.loads(json.dumps(asdict(cfg)))
        write_atomic(out / "best.json", json.dumps(best, indent=1) + "\n")
        files.append(str(out / "best.json"))
        command = f"chainrule train --config {out / 'best.json'} --out {out / 'best-run'}"
    if plots:
        try:
            files += _plots(study, spec, rows, ranked, out, notes)
        except ImportError as e:
            notes.append(f"no plots: {e}")
    finished = sum(r["state"] in ("complete", "pruned") for r in rows)
    return {"rows": rows, "top": ranked[:top], "best": best, "best_trial": ranked[0] if ranked else None,
            "finished": finished, "trials": spec.trials, "metric": spec.metric, "files": files,
            "command": command, "notes": notes, "params": list(spec.space)}


def _plots(study, spec: Spec, rows, ranked, out: Path, notes: list) -> list:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'chainrule[viz]'") from None
    files = []
    m = spec.metric
    space = spec.params()
    scored = [r for r in rows if r[m] is not None]
    numeric = [n for n, p in space.items() if p.kind != "choice"]
    # the lecture's tuning scatter: lr against reg, colour = the metric, the best marked
    pair = ("lr", "reg") if {"lr", "reg"} <= set(numeric) else tuple(numeric[:2])
    if len(pair) == 2 and scored:
        fig, ax = plt.subplots(figsize=(6, 4.8))
        done = [r for r in scored if r["state"] == "complete"]
        pruned = [r for r in scored if r["state"] == "pruned"]
        vals = [r[m] for r in scored]
        sc = ax.scatter([r[pair[0]] for r in done], [r[pair[1]] for r in done], c=[r[m] for r in done],
                        cmap="viridis", vmin=min(vals), vmax=max(vals), s=60, edgecolors="k", linewidths=0.4,
                        label="finished")
        if pruned:
            ax.scatter([r[pair[0]] for r in pruned], [r[pair[1]] for r in pruned], c=[r[m] for r in pruned],
                       cmap="viridis", vmin=min(vals), vmax=max(vals), s=40, marker="x", label="pruned")
        if ranked:
            b = ranked[0]
            ax.scatter([b[pair[0]]], [b[pair[1]]], s=320, marker="*", facecolors="none", edgecolors="red",
                       linewidths=1.8, label=f"best: trial {b['trial']} ({b[m]:.3f})")
        for axis, n in zip("xy", pair):
            if space[n].log:
                getattr(ax, f"set_{axis}scale")("log")
        ax.set_xlabel(pair[0] + (" (log)" if space[pair[0]].log else ""))
        ax.set_ylabel(pair[1] + (" (log)" if space[pair[1]].log else ""))
        fig.colorbar(sc if done else ax.collections[0], ax=ax, label=m)
        ax.set_title(f"{len(scored)} trials: {pair[0]} vs {pair[1]}, colour = {m}")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "tuning.png", dpi=110)
        plt.close(fig)
        files.append(str(out / "tuning.png"))
    else:
        notes.append("no tuning scatter: it needs two searched ranges (like lr and reg)")
    # the metric over trials, with the best so far
    if scored:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for state, style in (("complete", dict(marker="o", color="tab:blue")),
                             ("pruned", dict(marker="x", color="tab:gray"))):
            rs = [r for r in scored if r["state"] == state]
            if rs:
                ax.scatter([r["trial"] for r in rs], [r[m] for r in rs], label=state if state != "complete"
                           else "finished", **style)
        best_so_far, xs, ys = None, [], []
        for r in sorted(scored, key=lambda r: r["trial"]):
            if r["state"] != "complete":
                continue
            v = r[m]
            if best_so_far is None or (v > best_so_far if METRICS[m] == "maximize" else v < best_so_far):
                best_so_far = v
            xs.append(r["trial"])
            ys.append(best_so_far)
        if xs:
            ax.step(xs, ys, where="post", color="tab:red", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(m)
        ax.set_title(f"{m} over trials")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "trials.png", dpi=110)
        plt.close(fig)
        files.append(str(out / "trials.png"))
    # parameter importances
    imp = importances(study, spec)
    if isinstance(imp, str):
        notes.append(f"no importances: {imp}")
    else:
        fig, ax = plt.subplots(figsize=(6, 0.5 + 0.5 * len(imp)))
        names = list(imp)[::-1]
        ax.barh(names, [imp[n] for n in names], color="tab:green")
        ax.set_xlabel(f"importance for {m}")
        ax.set_title("parameter importances")
        fig.tight_layout()
        fig.savefig(out / "importances.png", dpi=110)
        plt.close(fig)
        files.append(str(out / "importances.png"))
    return files


def importances(study, spec: Spec):
    """{param: importance} (fANOVA with scikit-learn, else PED-ANOVA), or a string saying why there are none."""
    import optuna
    from optuna.trial import TrialState

    if len(spec.space) < 2:
        return "only one parameter is searched"
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if len(complete) < 4:
        return f"{len(complete)} finished trials; importances need at least 4"
    try:
        import sklearn  # noqa: F401
        evaluator = None
    except ImportError:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except Exception as e:  # noqa: BLE001 - an evaluator's limits (too few trials, one value) are not fatal
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return dict(imp) if imp else "the evaluator found nothing"
