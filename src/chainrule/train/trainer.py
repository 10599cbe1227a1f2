"""The training loop: epochs of batches, validation, history, checkpoints, resume, Ctrl-C.

``Trainer.fit()`` owns the loop (like the course code's Solver): for each batch,
forward, loss (+ reg * l2_penalty), backward, optimizer step; after each epoch,
validation, the scheduler step, a history entry and a checkpoint ("last", and
"best" by validation accuracy). It never prints: a :class:`~chainrule.train.progress.Progress`
callback shows the run (a live line on a terminal, plain lines otherwise), and the caller
reads ``Trainer.status`` to tell the user what happened. :meth:`Trainer.step` is the one
training step, shared by a one-process and a K-rank (MPI) run.
"""
from __future__ import annotations

import math
import signal
import time

from chainrule import random as cr_random
from chainrule.compiler import compile as compile_fn
from chainrule.nn.functional import l2_penalty
from chainrule.nn.utils import predict  # noqa: F401  (train.predict, as before)
from chainrule.tensor import Tensor
from chainrule.train import guard
from chainrule.train.checkpoint import CheckpointError, load_for_resume, save_checkpoint
from chainrule.train.distributed import DistributedRun, wanted
from chainrule.train.history import History, evaluate  # noqa: F401  (trainer.History, trainer.evaluate, as before)
from chainrule.train.progress import Progress


class NonFiniteLoss(RuntimeError):
    """The loss, the weights or the optimizer state became NaN or inf; training stopped without
    writing a checkpoint, and the message says which earlier checkpoint (if any) was kept."""


class Trainer:
    """Train a classifier for a number of epochs, with checkpoints and exact resume.

    Args:
        model (Module), loss_fn (callable: (scores, labels) -> loss), optimizer (Optimizer).
        train_loader (DataLoader): shuffled with a seed for an exactly reproducible run.
        val_loader (DataLoader, None).
        scheduler (LRScheduler, None): stepped once per epoch.
        epochs (int, 10).
        reg (float, 0.0): lambda of the L2 penalty on the weight matrices.
        run_dir (path, None): where checkpoints go ("last" every epoch and on Ctrl-C, "best").
        config (dict, None): saved into every checkpoint (how to rebuild the model and data).
        progress (bool or Progress, True): show progress on stdout (True), as given, or not (False).
        callbacks (list): objects with optional ``on_fit_start(trainer)``, ``on_step(trainer, loss)``,
            ``on_epoch_end(trainer)`` (after the epoch's checkpoints) and ``on_fit_end(trainer)``
            (whenever fit ends: finished, interrupted or stopped by an error).
        distributed (bool, None): data-parallel on the ranks of an MPI job (None: when launched under
            mpiexec or the process group is initialized); see :mod:`chainrule.train.distributed`.
        compile (bool or str, False): run each step through :func:`chainrule.compile` (a string: its
            ``mode``, such as ``"max-autotune"``): the whole step (zero_grad,
            forward, loss, backward and the optimizer's update, with the weight gradients folded into
            it) in one process; forward, loss and backward on each rank of an MPI run (the gradients'
            Allreduce sits between the backward and the update).
    """

    def __init__(self, model, loss_fn, optimizer, train_loader, val_loader=None, scheduler=None, epochs: int = 10,
                 reg: float = 0.0, run_dir=None, config=None, progress: bool = True, callbacks=(),
                 distributed=None, compile: bool | str = False):  # noqa: A002
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.train_loader, self.val_loader, self.scheduler = train_loader, val_loader, scheduler
        self.epochs, self.reg, self.run_dir, self.config = epochs, reg, run_dir, config or {}
        self.callbacks = list(callbacks)
        if progress:
            self.callbacks.append(progress if isinstance(progress, Progress) else Progress())
        self.history = History()
        self.epoch, self.batch = 0, 0          # the position: next batch to run
        self._partial = [0.0, 0, 0]            # loss sum, correct, seen in the unfinished epoch
        self.best_val_acc = -1.0
        self.status = "not started"            # "finished", "interrupted", or "diverged: ..."
        self._stop = False
        self.dist = DistributedRun(self) if (wanted() if distributed is None else distributed) else None
        self.compile, self._compiled_steps = bool(compile), {}
        self.compile_mode = compile if isinstance(compile, str) else None

    # ------------------------------------------------------------------ state
    @property
    def best_epoch(self) -> int | None:
        """The epoch (1-based) whose weights ``best/`` holds: the highest validation accuracy, ties
        going to the lower validation loss, then to the earlier epoch (training accuracy and loss
        without a validation split); None before the first epoch. The history is its one source."""
        h = self.history
        accs, losses = (h.val_acc, h.val_loss) if h.val_acc else (h.train_acc, h.train_loss)
        if not accs:
            return None
        return h.epoch[max(range(len(accs)), key=lambda i: (accs[i], -losses[i], -i))]

    def _info(self) -> dict:
        return {"config": self.config, "epoch": self.epoch, "batch": self.batch, "partial": self._partial,
                "best_val_acc": self.best_val_acc, "history": self.history.to_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                "rng": cr_random.get_rng().bit_generator.state}

    def _callbacks(self) -> list:
        return self.callbacks if self.dist is None or self.dist.is_main else []   # rank 0 alone

    def save(self, slot: str = "last") -> None:
        """Write checkpoint ``slot``; refuse (NonFiniteLoss) if anything it would record is not finite."""
        if self.run_dir is not None:
            opt_state, info = self.optimizer.state_dict(), self._info()
            problem = guard.nonfinite(self.model, opt_state, info)
            if problem:
                self.status = "diverged"
                raise NonFiniteLoss(f"{problem} after step {len(self.history.iter_loss)} (epoch {self.epoch + 1}); "
                                    f"no {slot!r} checkpoint was written; try a lower learning rate (now "
                                    f"{self.optimizer.param_groups[0]['lr']:g}). {guard.kept(self.run_dir)}")
            if self.dist is None or self.dist.is_main:   # rank 0 alone writes
                save_checkpoint(self.run_dir, slot, self.model.state_dict(), opt_state, info)

    def resume(self, run_dir=None, slot: str = "last", reset_optimizer: bool = False,
               reset_scheduler: bool = False) -> "Trainer":
        """Continue from a checkpoint exactly where it stopped (mid-epoch included).

        Every tensor is checked against the model and optimizer first; a checkpoint without optimizer
        or schedule state is refused unless ``reset_optimizer`` / ``reset_scheduler`` starts it fresh.
        """
        run_dir = run_dir or self.run_dir
        model_state, opt_state, sched_state, info = load_for_resume(
            run_dir, slot, self.model, self.optimizer, self.scheduler, reset_optimizer, reset_scheduler)
        self.model.load_state_dict(model_state)
        if opt_state is not None:
            self.optimizer.load_state_dict(opt_state)
        if sched_state is not None:
            self.scheduler.load_state_dict(sched_state)
        self.epoch, self.batch, self._partial = info["epoch"], info["batch"], info["partial"]
        self.best_val_acc = info["best_val_acc"]
        self.history = History(**info["history"])
        try:
            cr_random.get_rng().bit_generator.state = info["rng"]
        except (ValueError, TypeError, KeyError) as e:
            raise CheckpointError(f"{run_dir}/{slot}/state.json: entry 'rng' is not a generator state ({e})") from None
        if self.dist is not None:
            self.dist.after_resume()
        return self

    # ------------------------------------------------------------------ the loop
    def _on_sigint(self, signum, frame):
        self._stop = True

    def fit(self) -> History:
        """Run the remaining epochs; returns the history. Ctrl-C stops after the current step and
        saves; a NaN/inf loss raises :class:`NonFiniteLoss` without overwriting the last checkpoint."""
        prev = None
        try:
            prev = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread: no Ctrl-C handling
            pass
        numeric = guard.NumericWarnings()
        try:
            self.status = "running"
            self._call("on_fit_start")
            with numeric:
                try:
                    while self.epoch < self.epochs:
                        if not self._run_epoch():
                            self.status = "interrupted"
                            self.save("last")
                            break
                    else:
                        self.status = "finished"
                except NonFiniteLoss as e:
                    note = f" NumPy reported: {numeric.summary()}." if numeric.caught else ""
                    raise NonFiniteLoss(f"{e}{note}") from None
            numeric.replay()
        except BaseException:
            try:
                self._call("on_fit_end")
            except Exception:   # the error that stopped the run is the one to report
                pass
            raise
        else:
            self._call("on_fit_end")
            return self.history
        finally:
            if prev is not None:
                signal.signal(signal.SIGINT, prev)

    def step(self, X, y) -> tuple:
        """One training step, the same in a one-process and a K-rank run: forward on this process's
        batch (its share, under MPI), loss + reg * l2_penalty, backward, and the optimizer step.

        Under MPI the gradients, the loss sum, the correct count, the sample count and the Ctrl-C
        flag travel in one Allreduce at the end of the backward pass, so every rank sees the global
        batch. Returns the batch's (mean loss, correct predictions, samples); a NaN or infinite loss
        raises NonFiniteLoss before the weights change."""
        n = len(y._data)
        if n and self.compile and self.dist is None:
            loss, scores = self._compiled(X, y)   # the whole step, the update included
            return loss.item(), int((scores._data.argmax(axis=1) == y._data).sum()), n
        self.optimizer.zero_grad()
        loss, value, correct = None, 0.0, 0
        replayed = bool(n) and self.compile
        if replayed:  # forward, loss and backward on this rank, then the Allreduce below
            loss, scores = self._compiled(X, y)
            value = loss.item()
            correct = int((scores._data.argmax(axis=1) == y._data).sum())
            self.dist.send_with_gradients([value * n, correct, n, float(self._stop)])
            self.dist.ddp.reduce_gradients(samples=n)  # what the DDP wrapper's forward would have queued
        elif n:
            scores, loss = self._scores_loss(X, y, self.dist.ddp if self.dist is not None else self.model)
            value = loss.item()
            correct = int((scores._data.argmax(axis=1) == y._data).sum())
        if self.dist is not None and not replayed:
            self.dist.send_with_gradients([value * n, correct, n, float(self._stop)])
        if loss is not None and not replayed:
            loss.backward()
        if self.dist is not None:
            value, correct, n, self._stop = self.dist.received(has_samples=loss is not None)
        if not math.isfinite(value):
            self._diverged(value)
        self.optimizer.step()
        return value, correct, n

    def _diverged(self, value: float):
        step = len(self.history.iter_loss) + 1
        self.status = f"diverged at step {step}"
        raise NonFiniteLoss(
            f"the loss became {value} at step {step} (epoch {self.epoch + 1}, batch {self.batch + 1}); "
            f"try a lower learning rate (now {self.optimizer.param_groups[0]['lr']:g}). "
            f"{guard.kept(self.run_dir)}")

    @property
    def compiled(self):
        """The compiled step (:func:`chainrule.compile`) for this run, or None without ``compile``:
        the whole step in one process, forward and backward on each rank of an MPI run (``dist`` may
        be set after construction, so it is chosen when asked)."""
        if not self.compile:
            return None
        whole = self.dist is None
        fn = self._compiled_steps.get(whole)
        if fn is None:
            fn = self._compiled_steps[whole] = compile_fn(self._train_step if whole else self._forward_backward,
                                                          mode=self.compile_mode)
        return fn

    def _compiled(self, X, y):
        """The compiled step's (loss, scores); its loss check raises inside it, before any update."""
        try:
            return self.compiled(X, y)
        except guard.NonFiniteValue as e:
            self._diverged(e.value)

    def _run_epoch(self) -> bool:
        self.model.train()
        self.train_loader.set_epoch(self.epoch)
        t0 = time.perf_counter()
        loss_sum, correct, seen = self._partial
        for X, y in self.train_loader.batches(self.batch):
            value, n_correct, n = self.step(X, y)
            loss_sum += value * n
            correct += n_correct
            seen += n
            self.history.iter_loss.append(value)
            self.batch += 1
            self._partial = [loss_sum, correct, seen]
            self._call("on_step", value)
            if self._stop:
                return False
        self._end_epoch(loss_sum / max(seen, 1), correct / max(seen, 1), time.perf_counter() - t0)
        return True

    def _call(self, hook: str, *args) -> None:
        """Call ``hook`` on every callback that has it (rank 0 alone, under MPI)."""
        for cb in self._callbacks():
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args)

    def _scores_loss(self, X, y, model=None):
        """The model's scores and the loss (+ reg * l2_penalty of the bare model)."""
        scores = (self.model if model is None else model)(X)
        loss = self.loss_fn(scores, y)
        if self.reg:
            loss = loss + self.reg * l2_penalty(self.model)
        return scores, loss

    def _forward_backward(self, X, y):
        """What ``compile`` replays on each rank of an MPI run: scores, loss (+ the L2 penalty) and
        gradients of the bare model (the Allreduce comes after it; the loss check after that, on
        every rank at once)."""
        scores, loss = self._scores_loss(X, y)
        loss.backward()
        return loss, scores

    def _train_step(self, X, y):
        """What ``compile`` replays in one process: the whole step, the update included."""
        self.optimizer.zero_grad()
        scores, loss = self._scores_loss(X, y)
        loss = guard.CheckFinite.apply(loss)   # a NaN stops the step here, before the update
        loss.backward()
        self.optimizer.step()
        return loss, scores

    def _end_epoch(self, train_loss, train_acc, seconds):
        h = self.history
        h.epoch.append(self.epoch + 1)
        h.train_loss.append(train_loss)
        h.train_acc.append(train_acc)
        h.lr.append(self.optimizer.param_groups[0]["lr"])
        h.seconds.append(seconds)
        if self.val_loader is not None:
            r = (self.dist.evaluate if self.dist else evaluate)(self.model, self.val_loader, self.loss_fn)
            h.val_loss.append(r["loss"])
            h.val_acc.append(r["accuracy"])
        if self.scheduler:
            self.scheduler.step()
        self.epoch += 1
        self.batch = 0
        self._partial = [0.0, 0, 0]
        if self.best_epoch == self.epoch:    # this epoch is the best so far
            self.best_val_acc = h.val_acc[-1] if h.val_acc else train_acc
            self.save("best")
        self.save("last")
        self._call("on_epoch_end")
