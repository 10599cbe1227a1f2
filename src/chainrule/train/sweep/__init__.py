"""Hyperparameter search on Optuna: many ordinary runs, one study.

A sweep is an Optuna study whose trials are ordinary runs: trial N trains with
``run.start_run`` into ``SWEEP_DIR/trials/NNNN`` (config.json, metrics.jsonl,
checkpoints, training.png), so ``chainrule evaluate`` and ``train --resume``
work on any trial. Optuna does the rest: samplers (TPE, random, grid), pruners
(median, successive halving), retries of failed trials, and storages that many
processes share.

The modules, in the order a sweep uses them:

- :mod:`.space`: ``"lr=1e-4:1e-1:log"``, ``"hidden=50,100,100x100"`` parsed and checked
  against train's own validation before the first trial;
- :mod:`.spec`: what a sweep is (SWEEP_DIR/sweep.json);
- :mod:`.journal` and :mod:`.storage`: the study in a journal file that holds up to kills and
  damage, or in a database many machines share;
- :mod:`.sampling`: Optuna's samplers (seeded per trial) and pruners, and a trial's score;
- :mod:`.workers`: processes that take trials, exactly ``trials`` of them, and notice each
  other's deaths through run locks;
- :mod:`.report`: results.csv, best.json, the retrain command and the plots.

Example:
    >>> from chainrule.train.sweep import parse_search
    >>> sorted(parse_search(["lr=1e-3:1:log", "hidden=50,100x100"]))
    ['hidden', 'lr']
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.autonotebook import tqdm  # tqdm.auto without asyncio (the commands start faster)

from chainrule.train.config import RunConfig, given_settings, resolve_config

from chainrule.train.sweep.journal import JournalError, JournalFile, SweepWarning  # noqa: F401
from chainrule.train.sweep.report import importances, report  # noqa: F401
from chainrule.train.sweep.space import Param, check_data, parse_search  # noqa: F401
from chainrule.train.sweep.spec import METRICS, PRUNERS, SAMPLERS, Spec, make_spec, redact  # noqa: F401
from chainrule.train.sweep.storage import journal_path, open_storage, open_study, storage_url  # noqa: F401
from chainrule.train.sweep.workers import (counts, recover, remove_dead_workers, run_workers,  # noqa: F401
                                           usable_cores, work)


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


def cap_jobs(jobs) -> int:
    """``jobs``, checked, and at most the cores this process may use (a SweepWarning says so)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer, got {jobs}")
    cores = usable_cores()
    if jobs > cores:
        warnings.warn(f"--jobs {jobs}: this process may use {cores} CPU core{'s' * (cores != 1)}; running {cores} "
                      f"trial{'s' * (cores != 1)} at once (more workers would only share the cores and take memory)",
                      SweepWarning, stacklevel=3)
        jobs = cores
    return jobs


def sweep(config=None, search=(), trials: int = 20, out="sweeps/sweep", jobs: int = 1, storage: str | None = None,
          study: str | None = None, sampler: str = "tpe", prune: str | None = None, metric: str = "val_acc",
          timeout: float | None = None, sampler_seed: int | None = None, progress: bool = True,
          on_trial=None, plots: bool = True, plot=None) -> SweepResult:
    """Search hyperparameters: ``trials`` ordinary runs in ``out/trials/``, sampled by Optuna.

    Args:
        config (RunConfig or dict, None): the fixed settings (RunConfig's defaults for the rest).
        search (list of str or dict): the space, ``"lr=1e-4:1e-1:log"``, ``"hidden=50,100,200"``.
        trials (int, 20): how many trials should have finished (COMPLETE or pruned) in the study;
            running the same sweep again after an interruption continues up to this number.
        out (path, "sweeps/sweep"): SWEEP_DIR: sweep.json, study.journal, trials/, the report.
        jobs (int, 1): trials at once, as separate processes with this process's BLAS thread limit;
            at most the cores this process may use (a :class:`SweepWarning` says when it is capped).
        storage (str, None): an Optuna storage URL (postgresql://... for many machines);
            None: the journal file SWEEP_DIR/study.journal.
        study (str, None): the study name (default: the folder name of ``out``).
        sampler (str, "tpe"): tpe, random or grid (grid: choices only).
        prune (str, None): None, "median" or "halving": stop hopeless trials after an epoch.
        metric (str, "val_acc"): val_acc, val_loss, train_acc or train_loss, at each trial's best epoch.
        timeout (float, None): stop starting trials after this many seconds.
        sampler_seed (int, None): seed of the sampler, mixed with each trial's number (None: fresh).
        progress (bool, True): a progress bar over trials (only on a terminal).
        on_trial (callable, None): called with each finished, pruned or failed FrozenTrial.
        plots (bool, True): draw the report's plots.
        plot (callable, None): ``plot(history, path)`` draws each trial's training.png (the command passes
            chainrule.viz's; train itself draws nothing); with ``jobs`` > 1 the workers import it by name.

    Returns:
        SweepResult: ``.study`` (optuna Study), ``.status``, ``.report`` (see :func:`report`), ``.best``.

    A journal whose last line a crash cut off is repaired first (a :class:`SweepWarning` says so).
    """
    jobs = cap_jobs(jobs)
    spec = make_spec(config, search, trials, out, storage, study, sampler, prune, metric, timeout, sampler_seed)
    check_data(spec.params(), spec.config())
    if spec.storage is None:
        Path(spec.out).mkdir(parents=True, exist_ok=True)
        cut = JournalFile(journal_path(spec.out)).repair()
        if cut:
            warnings.warn(cut, SweepWarning, stacklevel=2)
    study_ = open_study(spec, create=True)
    Path(spec.out).mkdir(parents=True, exist_ok=True)
    spec.save()
    remove_dead_workers(spec.out)
    deadline = None if timeout is None else time.time() + timeout
    bar = None
    if progress:
        bar = tqdm(total=spec.trials, initial=min(counts(study_)[0], spec.trials), desc="trials", unit="trial",
                   disable=None, dynamic_ncols=True)

    def seen(t):
        if bar is not None and t.state.name in ("COMPLETE", "PRUNED"):
            bar.update(1)
        if on_trial is not None:
            on_trial(t)

    status = "finished"
    try:
        if jobs == 1:
            status = work(spec, on_trial=seen, deadline=deadline, plot=plot)
        else:
            status = run_workers(spec, study_, jobs, deadline, seen, plot)
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


def quiet_optuna() -> None:
    """Optuna logs errors only: a failed trial is one line (the command's ``on_trial``), not a traceback."""
    import optuna     # lazily: optuna is an optional extra
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def fixed_settings(options) -> dict:
    """The settings a ``sweep`` command fixes: the flags given (argparse's Namespace), on top of its
    ``--config`` file if any; the rest are the dataset's defaults (``RunConfig.from_dict``)."""
    fixed = given_settings(options)
    if getattr(options, "config", None):
        fixed = asdict(resolve_config(fixed, options.config))
    return fixed


def sweep_command(options, on_trial=None, plot=None) -> tuple:
    """Run ``chainrule sweep`` with parsed ``options`` (the run flags, ``config``, ``search``,
    ``trials``, ``out``, ``jobs``, ``storage``, ``study``, ``sampler``, ``prune``, ``metric``,
    ``timeout``, ``sampler_seed``): the fixed settings merged as :func:`fixed_settings` says, the
    sweep folder ``--out`` or sweeps/DATASET. Returns (SweepResult, the sweep folder as given)."""
    quiet_optuna()
    fixed = fixed_settings(options)
    out = options.out or f"sweeps/{fixed.get('dataset', RunConfig.dataset)}"
    res = sweep(fixed, options.search, trials=options.trials, out=out, jobs=options.jobs, storage=options.storage,
                study=options.study, sampler=options.sampler, prune=options.prune, metric=options.metric,
                timeout=options.timeout, sampler_seed=options.sampler_seed, on_trial=on_trial, plot=plot)
    return res, out
