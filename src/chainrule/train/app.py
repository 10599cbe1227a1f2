"""The ``train`` command as a function: what ``chainrule train`` calls once it has parsed the flags.

:func:`train_command` decides how the run goes (one process; a launcher that starts K ranks under
mpiexec; or one of those ranks), merges the flags with a config file and the dataset's defaults,
runs the Trainer with a Progress display, and returns a :class:`TrainOutcome` that says which
checkpoint is the run's result. With ``--tensorboard`` and ``--diagnostics`` it adds their
callbacks and, after the run, writes diagnostics.jsonl and diagnostics.json. It reports through
``say`` (a function taking one line; the CLI passes ``print``) and never draws: the caller's
``plot(history, path)`` draws training.png and ``plot_diagnostics(data, folder)`` the health figures.
"""
from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from chainrule import distributed as dist
from chainrule.data import DataLoader
from chainrule.distributed import launch
from chainrule.fileio import write_atomic
from chainrule.messages import first_line, one_line
from chainrule.nn.probes import Diagnostics, Probes
from chainrule.train import models, run
from chainrule.train.config import RunConfig, given_settings, resolve_config
from chainrule.train.distributed import DistributedRun, MismatchError, rank, wanted
from chainrule.train.progress import Progress
from chainrule.train.tensorboard import TensorBoardLogger
from chainrule.train.trainer import History, NonFiniteLoss, evaluate

PROGRESS_VAR = "CHAINRULE_PROGRESS"    # "live": the launcher's terminal shows rank 0's live line


class RankFailed(RuntimeError):
    """This rank could not start its part of a K-rank run while the others could (the message names
    the rank); every rank stops without waiting for the others."""


@dataclass
class TrainOutcome:
    """What ``train`` did: ``code`` is the exit code (0 finished, 1 failed, 130 interrupted)."""

    code: int
    run_dir: Path | None = None
    history: History | None = None
    main: bool = True                  # this process writes the run's files (one process, or rank 0)
    summary: list = field(default_factory=list)


def _quiet(line: str) -> None:
    pass


def check_options(options) -> RunConfig | None:
    """The flags that contradict each other, a resume folder that does not exist, and for a new run
    its whole configuration, checked before anything starts (the launcher checks them before it
    starts mpiexec, so that a usage error is one line, not one per rank). Returns the new run's
    config (None for --resume)."""
    nproc = getattr(options, "nproc", None)
    if nproc is not None and nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    every = getattr(options, "log_every", None)
    if every is not None and every < 1:
        raise ValueError(f"--log-every must be a positive integer (epochs), got {every}")
    if options.resume:
        if options.out:
            raise ValueError(f"--out cannot be combined with --resume (the run folder is {options.resume})")
        if options.config:
            raise ValueError("--config cannot be combined with --resume (a resumed run keeps its own config)")
        if not Path(options.resume).is_dir():
            raise FileNotFoundError(f"{options.resume}: no checkpoint here: there is no such run folder")
        return None
    for flag in ("reset_optimizer", "reset_scheduler"):
        if getattr(options, flag, False):
            raise ValueError(f"--{flag.replace('_', '-')} only applies with --resume")
    cfg = resolve_config(given_settings(options), options.config)
    cfg.validate()
    if cfg.data_dir and not Path(cfg.data_dir).is_dir():
        raise FileNotFoundError(f"--data-dir {cfg.data_dir}: no such folder")
    return cfg


def train_command(options, say=_quiet, plot=None, plot_diagnostics=None, warn=None) -> TrainOutcome:
    """Run ``chainrule train`` with parsed ``options`` (argparse's Namespace: RunConfig's fields,
    ``config``, ``out``, ``resume``, ``reset_optimizer``, ``reset_scheduler``, ``nproc``, ``quiet``,
    ``log_every``, ``tensorboard``, ``diagnostics``, ``argv``). ``plot(history, path)``: draws
    training.png when the run ends; ``plot_diagnostics(data, folder)``: draws the ``--diagnostics``
    figures and returns their file names (an ImportError: none, said in one line); ``warn(line)``:
    shows a warning the diagnostics raise (None: Python's own display)."""
    if options.resume:        # a new run's options are checked in full when it starts
        check_options(options)
    if (options.nproc or 1) > 1 and not wanted():
        return TrainOutcome(launch_ranks(options, say))
    extras = Extras(getattr(options, "tensorboard", None), getattr(options, "diagnostics", False))
    with warnings.catch_warnings():
        if extras.diagnostics:     # every epoch's warning, each one line
            warnings.simplefilter("always", RuntimeWarning)
            if warn is not None:
                warnings.showwarning = lambda message, *args, **kw: warn(f"warning: {message}")
        if wanted():
            out = _rank(options, say, extras.callbacks, plot)
        else:
            out = _one_process(options, say, extras.callbacks, plot)
    if out.main and out.history is not None and out.history.epoch:
        extras.write(out.run_dir, plot_diagnostics, say)
    return out


class Extras:
    """What ``--tensorboard`` and ``--diagnostics`` add to a run: their Trainer callbacks, and
    after the run the diagnostics files (diagnostics.jsonl: per epoch; diagnostics.json: per step)."""

    def __init__(self, tensorboard=None, diagnostics: bool = False):
        self.tensorboard, self.diagnostics = tensorboard, diagnostics
        self.records = self.probes = None

    def callbacks(self, trainer, data) -> list:
        cbs = []
        if self.tensorboard:   # True: the run folder's tensorboard/
            cbs.append(TensorBoardLogger(Path(trainer.run_dir) / "tensorboard" if self.tensorboard is True
                                         else self.tensorboard))
        if self.diagnostics:
            self.records = Diagnostics(data.train.X[:256])
            self.probes = Probes(trainer.model)   # per-layer histograms, dead/saturated units, update ratios
            cbs += [self.records, self.probes]
        return cbs

    def write(self, run_dir: Path, plot_diagnostics=None, say=_quiet) -> None:
        if self.probes is None:
            return
        write_atomic(run_dir / "diagnostics.jsonl", "".join(json.dumps(r) + "\n" for r in self.records.records))
        write_atomic(run_dir / "diagnostics.json", json.dumps(self.probes.data))
        if plot_diagnostics is None:
            return
        try:
            say("diagnostics: " + ", ".join(plot_diagnostics(self.probes.data, run_dir)))
        except ImportError as e:
            say(f"(no diagnostics figures: {one_line(e)})")


# ---------------------------------------------------------------------- the launcher
def launch_ranks(options, say=_quiet) -> int:
    """Start ``options.nproc`` ranks of this same command under mpiexec and wait for them."""
    check_options(options)
    argv, skip = [], False
    for a in options.argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            argv.append(a)
    run_dir = options.resume or options.out
    if not run_dir:   # made here, so that two launches in the same second never share a folder
        run_dir = str(run.new_run_dir(options.dataset or RunConfig.dataset))
        argv += ["--out", run_dir]
    env = dict(os.environ)
    if not options.quiet and sys.stdout.isatty():
        env[PROGRESS_VAR] = "live"
    others = "rank 1 prints only its" if options.nproc == 2 else f"ranks 1-{options.nproc - 1} print only their"
    say(f"starting {options.nproc} ranks with mpiexec on this machine: rank 0 prints the progress here, "
        f"{others} errors (to stderr); the run folder is {run_dir}")
    again = f"chainrule train --resume {run_dir} --nproc {options.nproc}"
    try:
        code, told = launch.run(options.nproc, [sys.executable, "-m", "chainrule", *argv], env)
    except KeyboardInterrupt:
        say(f"\ninterrupted; resume with: {again}")
        return 130
    if code in (0, 130) or told:
        return code if code in (0, 130) else 1
    raise RuntimeError(f"the {options.nproc}-rank MPI job failed (exit code {code})"
                       + (f"; resume with: {again}" if (Path(run_dir) / "last").exists() else ""))


# ---------------------------------------------------------------------- one rank of K
def _rank(options, say, callbacks, plot) -> TrainOutcome:
    """One rank of an MPI job. Every rank sets up on its own (config, data, model), then the ranks
    compare: an error every rank met is printed once (by rank 0), an error of some ranks by each of
    them, and all stop without MPI_Abort. Once training runs, rank 0 alone prints and writes, and
    an error on one rank ends the job (MPI_Abort), so that no rank waits forever."""
    if not dist.is_initialized():   # every rank joins first
        dist.init_process_group("mpi")
    launch.watch_launcher()         # a rank of `--nproc` ends when its launcher is gone
    r = rank()
    main = r == 0
    if not main:
        say, callbacks, plot = _quiet, None, None
    trainer = error = None
    try:
        made = None
        if not options.resume and not options.out and main:
            made = str(run.new_run_dir(options.dataset or RunConfig.dataset))
    except Exception as e:
        error = e
    box = [(made, first_line(error) if error else None)]
    dist.broadcast_object_list(box, src=0)    # one run folder for all ranks: the one rank 0 made
    if box[0][1] is not None:
        return _rank_failed(error or RuntimeError(box[0][1]), r, [box[0][1]] * dist.get_world_size())
    if not options.resume and not options.out:
        options.out = box[0][0]
    if error is None:
        try:
            trainer, data = _setup(options, say, callbacks, plot, distributed=False)
        except Exception as e:
            error = e
    errors = [None] * dist.get_world_size()
    dist.all_gather_object(errors, first_line(error) if error else None)
    if any(errors):
        if trainer is not None:
            trainer.run_lock.release()
        return _rank_failed(error, r, errors)
    try:
        trainer.dist = DistributedRun(trainer)    # checks that every rank runs the same thing
        if trainer.epoch or trainer.batch:
            trainer.dist.after_resume()
    except MismatchError as e:                    # every rank found it: rank 0 says so
        trainer.run_lock.release()
        return _rank_failed(e, r, [first_line(e)] * dist.get_world_size())
    try:
        return _fit(trainer, data, options, say)
    except NonFiniteLoss:                         # the loss is all-reduced: every rank stops here
        if main:
            raise
        return TrainOutcome(1, main=False)
    except Exception as e:                        # this rank alone, maybe: end the job, never hang
        print(f"chainrule train: error: rank {r}: {first_line(e)}; stopping every rank", file=sys.stderr)
        dist.abort(1)
        raise


def _rank_failed(error, r: int, errors: list) -> TrainOutcome:
    """Set-up failed on some ranks: the same error everywhere is rank 0's to report; otherwise each
    failing rank reports its own. Returns (on the ranks that stay silent) exit code 1."""
    dist.barrier()      # every rank gets here: none is torn down while another still finalizes MPI
    dist.destroy_process_group()
    if all(e == errors[0] for e in errors):
        if r == 0:
            raise error
        return TrainOutcome(1, main=False)
    if error is not None:
        raise RankFailed(f"rank {r}: {first_line(error)}; stopping every rank")
    return TrainOutcome(1, main=False)


# ---------------------------------------------------------------------- one process
def _one_process(options, say, callbacks, plot) -> TrainOutcome:
    trainer, data = _setup(options, say, callbacks, plot)
    return _fit(trainer, data, options, say)


def _setup(options, say, callbacks, plot, distributed=None):
    """The Trainer of a new or resumed run, with its progress display and the caller's callbacks."""
    # a rank's stdout is Open MPI's pseudo-terminal, whatever the user looks at: the launcher says
    live = os.environ.get(PROGRESS_VAR) == "live" if wanted() else None
    every = 1 if options.log_every is None else options.log_every
    progress = False if options.quiet else Progress(every=every, live=live)
    extra = []
    if options.resume:
        trainer, data = run.resume_run(options.resume, progress=progress, overrides=given_settings(options),
                                       reset_optimizer=options.reset_optimizer,
                                       reset_scheduler=options.reset_scheduler, distributed=distributed,
                                       plot=plot)
        n = len(trainer.train_loader)
        say(f"resuming {options.resume} at epoch {trainer.epoch + 1}/{trainer.epochs}, after batch "
            f"{trainer.batch} of {n}" if trainer.batch else
            f"resuming {options.resume} at epoch {trainer.epoch + 1}/{trainer.epochs}")
    else:
        cfg = check_options(options)
        trainer, data = run.start_run(cfg, options.out, progress=progress, distributed=distributed, plot=plot)
        say(f"training {models.describe(trainer.model)} on {cfg.dataset}: {len(data.train)} train, "
            f"{len(data.val) if data.val else 0} validation, {len(data.test)} test samples -> {trainer.run_dir}")
    if callbacks is not None:
        extra = list(callbacks(trainer, data))
        trainer.callbacks[:0] = extra      # before the progress display: it reports what they saw
    return trainer, data


def _fit(trainer, data, options, say) -> TrainOutcome:
    t0 = time.perf_counter()
    try:
        h = trainer.fit()
    finally:
        trainer.run_lock.release()
    main = trainer.dist is None or trainer.dist.is_main
    out = TrainOutcome(0, Path(trainer.run_dir), h, main)
    if trainer.status == "interrupted":
        out.code = 130
        if main:
            say(f"\ninterrupted at epoch {trainer.epoch + 1}/{trainer.epochs}, after batch {trainer.batch} of "
                f"{len(trainer.train_loader)}; checkpoint saved. Resume with: chainrule train --resume "
                f"{trainer.run_dir}" + (f" --nproc {trainer.dist.world_size}" if trainer.dist else ""))
        return out
    if main:
        out.summary = summary(trainer, data, time.perf_counter() - t0)
        for line in out.summary:
            say(line)
    return out


def summary(trainer, data, seconds: float) -> list:
    """The lines that end a run: which checkpoint is the result (best, with its epoch), what it and
    the last one score on the test set, and where the files are."""
    h, run_dir = trainer.history, Path(trainer.run_dir)
    loader = DataLoader(data.test, 1024)
    loss_fn = trainer.loss_fn
    last = evaluate(trainer.model, loader, loss_fn)["accuracy"]
    best_epoch = trainer.best_epoch
    i = h.epoch.index(best_epoch)
    picked = "validation" if h.val_acc else "training"
    best_acc = (h.val_acc if h.val_acc else h.train_acc)[i]
    if best_epoch == h.epoch[-1]:
        best = last
    else:
        model, _ = run.load_run(run_dir, "best")
        best = evaluate(model, loader, loss_fn)["accuracy"]
    val = f", validation accuracy {h.val_acc[-1]:.4f}" if h.val_acc else ""
    return [f"done: {len(h.epoch)} epochs, {seconds:.1f} s",
            f"result: best/ = epoch {best_epoch} (best {picked} accuracy, {best_acc:.4f}): test accuracy "
            f"{best:.4f}; evaluate and predict use it",
            f"last/ = epoch {h.epoch[-1]}: train accuracy {h.train_acc[-1]:.4f}{val}, test accuracy {last:.4f} "
            f"(use it with --checkpoint last)",
            f"run folder: {run_dir} (config.json, metrics.jsonl, training.png, best/, last/)"]

