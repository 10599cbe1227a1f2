"""Where a study lives: the journal file SWEEP_DIR/study.journal, or a database many machines share.

The journal (see :mod:`.journal`) is Optuna's recommendation for several processes on one machine:
appends under a file lock, no server, no SQLite write-lock errors. Any URL Optuna takes works for
many machines, with ``postgresql://`` mapped to psycopg 3; a database's trials carry Optuna's
heartbeats, so a worker that dies on any machine is noticed.
"""
from __future__ import annotations

import inspect
import json
import time
import warnings
from dataclasses import asdict
from pathlib import Path

from chainrule.train.config import RunConfig
from chainrule.train.sweep.journal import JournalError, journal_storage
from chainrule.train.sweep.space import describe
from chainrule.train.sweep.spec import METRICS, Spec, redact

# settings that may differ between machines sharing a study (not compared when joining it)
LOCAL_SETTINGS = ("data_dir",)
_ATTRS = ("space", "base", "metric")
DEFAULTS = json.loads(json.dumps(asdict(RunConfig())))


def retry_callback():
    """Optuna's callback that enqueues a failed trial's parameters again (renamed in Optuna 4.9)."""
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


def journal_path(out) -> Path:
    return Path(out) / "study.journal"


def open_storage(url: str | None, out: Path, create: bool = True, timeout: int = 10):
    """Optuna storage: the journal file SWEEP_DIR/study.journal, or a database URL (bounded connect wait)."""
    if url is None:
        path = journal_path(out)
        if not create and not (path.exists() or path.is_symlink()):
            raise FileNotFoundError(f"{out}: no sweep here (no study.journal)")
        path.parent.mkdir(parents=True, exist_ok=True)
        return journal_storage(path)
    from optuna.storages import RDBStorage
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
                                  **{stale: retry_callback()})
        except (IntegrityError, ProgrammingError):
            if attempt == 3:
                raise
            time.sleep(0.5 + attempt)   # another machine is creating the tables right now: look again
        except Exception as e:  # noqa: BLE001 - any driver's error becomes one line
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConnectionError(f"cannot open the storage {redact(url)}: {msg}") from None


def _study_attrs(spec: Spec) -> dict:
    base = {k: v for k, v in spec.base.items() if k not in LOCAL_SETTINGS}
    return {"space": spec.space, "base": base, "metric": spec.metric}


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
    runs = _trial_runs(spec.out)
    have = _settled_attrs(study, wait=0 if runs else 10)   # with trials run, it was set up long ago
    if spec.storage is None and runs and any(k not in have for k in _ATTRS):
        raise _lost(spec, f"has study {spec.study!r} without the settings chainrule records first")
    if any(k not in have for k in _ATTRS):
        raise ValueError(f"study {spec.study!r} was not created by chainrule sweep; choose another --study")
    if have["space"] != want["space"]:
        try:
            was = describe(have["space"])
        except (TypeError, ValueError, AttributeError, KeyError):
            was = "unreadable"
        raise ValueError(f"study {spec.study!r} was created with a different search space ({was}); use another "
                         f"--out or --study")
    if have["metric"] != want["metric"]:
        raise ValueError(f"study {spec.study!r} optimizes {have['metric']}, not {want['metric']}")
    # a setting RunConfig gained since the study began counts as its default there
    was, now = ({**DEFAULTS, **have["base"]}, {**DEFAULTS, **want["base"]})
    diff = sorted(k for k in set(was) | set(now) if k not in LOCAL_SETTINGS and was.get(k) != now.get(k))
    if diff:
        k = diff[0]
        raise ValueError(f"study {spec.study!r} was created with {k}={was.get(k)} (now {now.get(k)}); use another "
                         f"--out or --study")


def _trial_runs(out) -> int:
    trials = Path(out) / "trials"
    return sum(1 for p in trials.iterdir() if p.is_dir()) if trials.is_dir() else 0


def _lost(spec: Spec, state: str) -> JournalError:
    runs = _trial_runs(spec.out)
    lost = (f", but {Path(spec.out) / 'trials'} holds {runs} trial runs: the journal was cut, emptied or replaced; "
            f"restore it, or use another --out" if runs else "")
    return JournalError(f"{journal_path(spec.out)}: {state}{lost}")


def open_study(spec: Spec, create: bool = False, storage=None):
    """Load (or, with ``create``, create) the study; checks it was made for this space.

    A journal that lost its study (emptied, or replaced) while SWEEP_DIR/trials/ still holds the
    trials' runs is refused: a new study there would number its trials from 0 again.
    """
    import optuna

    storage = storage or open_storage(spec.storage, Path(spec.out), create=create)
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False))
    if spec.study in names:
        study = optuna.load_study(study_name=spec.study, storage=storage)
        _check_same(study, spec)
        return study
    if spec.storage is None and names:
        raise ValueError(f"{journal_path(spec.out)}: holds no study {spec.study!r}; its studies: "
                         f"{', '.join(map(repr, names))} (continue one with --study NAME, or start another in a "
                         f"new --out)")
    if spec.storage is None and (_trial_runs(spec.out) or not create):
        path = journal_path(spec.out)
        raise _lost(spec, "is empty" if path.is_file() and path.stat().st_size == 0 else "holds no study")
    if not create:
        raise ValueError(f"no study {spec.study!r} in the storage")
    study = optuna.create_study(study_name=spec.study, storage=storage, direction=METRICS[spec.metric],
                                load_if_exists=True)     # another process may have created it just now
    if "space" not in study.user_attrs:
        for k, v in _study_attrs(spec).items():
            study.set_user_attr(k, v)
    _check_same(study, spec)
    return study
