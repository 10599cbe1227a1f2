"""The Trainer on K ranks: what changes when a run is launched under MPI.

- Start-up: join the process group, check that every rank has the same chainrule version and
  the same run configuration (a mismatch: one clear line, raised on every rank), wrap the model
  in DistributedDataParallel (rank 0's parameters are broadcast), and shard the train and
  validation loaders' batches (DistributedSampler): the global batch stays B.
- Each step (:meth:`Trainer.step`, the same code as a one-process run): forward and backward on
  this rank's share; the gradients, the loss sum, the count
  of correct predictions, the sample count and a "stop" flag (Ctrl-C) travel in ONE Allreduce,
  so every rank sees the global batch's loss and takes the same optimizer step.
- Validation: each rank evaluates its share of every batch; the sums are all-reduced.
- Rank 0 alone shows progress, runs the callbacks (metrics, plots) and writes checkpoints.

A checkpoint holds the bare model's state_dict and the optimizer's state, the same on every
rank and for every K, so ``--resume`` works with any number of ranks.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from chainrule import distributed as dist
from chainrule.data.distributed import DistributedSampler
from chainrule.nn.parallel import DistributedDataParallel
from chainrule.train.history import evaluate


def wanted() -> bool:
    """True when this process is one of several ranks: an initialized group of more than one, or
    started by mpiexec with more than one process."""
    if dist.is_initialized():
        return dist.get_world_size() > 1
    return dist.launched_under_mpi()


class DistributedRun:
    """The per-run distributed state of a Trainer (``trainer.dist``; None in a one-process run)."""

    def __init__(self, trainer):
        if not dist.is_initialized():
            dist.init_process_group("mpi")
        abort_on_uncaught_exceptions()
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        check_same_everywhere(trainer.config)
        self.ddp = DistributedDataParallel(trainer.model)
        for loader in (trainer.train_loader, trainer.val_loader):
            if loader is not None and getattr(loader, "sharder", None) is None:
                loader.sampler = DistributedSampler(self.world_size, self.rank)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def send_with_gradients(self, sums) -> None:
        """Have ``sums`` (loss sum, correct, samples, stop flag) travel in the next gradient Allreduce."""
        self.ddp.all_reduce_with_grads(sums)

    def received(self, has_samples: bool):
        """After the backward pass: the global (mean loss, correct, samples, stop). A rank without a
        share of this batch (a last batch smaller than K) had no backward: it joins the Allreduce here."""
        if not has_samples:
            self.ddp.reduce_gradients(samples=0)
        loss_sum, correct, seen, stops = self.ddp.reduced
        return loss_sum / seen, int(round(correct)), int(round(seen)), stops > 0

    def evaluate(self, model, loader, loss_fn) -> dict:
        """Validation split across ranks: every rank evaluates its share, the sums are all-reduced."""
        # a batch smaller than K leaves some ranks without a share: they skip it (a mean over nothing is NaN)
        r = evaluate(model, (b for b in loader if len(b[1]._data)), loss_fn)
        total = len(r["labels"])
        sums = np.array([int((r["predictions"] == r["labels"]).sum()), r.get("loss", 0.0) * total, total],
                        dtype=np.float64)
        dist.all_reduce(sums, dist.ReduceOp.SUM)
        out = {"accuracy": sums[0] / max(sums[2], 1)}
        if loss_fn is not None:
            out["loss"] = sums[1] / max(sums[2], 1)
        return out

    def after_resume(self) -> None:
        """Every rank read the same checkpoint; make sure the parameters are rank 0's all the same."""
        self.ddp.broadcast_parameters()


def check_same_everywhere(config: dict) -> None:
    """Every rank must run the same chainrule version with the same configuration; a mismatch is one
    clear line, raised on every rank (all of them see every rank's values)."""
    version = sys.modules["chainrule"].__version__   # the package that holds this module (no import of it: its
    mine = {"version": version,                      # __init__ pulls in viz, which train does not import)
            "config": json.loads(json.dumps(config, sort_keys=True, default=str))}
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    ref = everyone[0]
    for r, other in enumerate(everyone[1:], start=1):
        if other["version"] != ref["version"]:
            raise MismatchError(f"rank {r} runs chainrule {other['version']} but rank 0 runs {ref['version']}; "
                               f"install the same version on every machine")
        if other["config"] != ref["config"]:
            a, b = _flat(ref["config"]), _flat(other["config"])
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise MismatchError(f"rank {r} has a different configuration from rank 0 (differs in: {', '.join(keys)}); "
                               f"start every rank with the same options and data")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class MismatchError(RuntimeError):
    """Raised on every rank at once (the ranks disagree on version or configuration): each rank
    reports it and exits, with no need to abort the job."""


def same_on_every_rank(value):
    """Rank 0's ``value`` (JSON-able) on every rank; ``value`` itself outside an MPI job."""
    if not wanted():
        return value
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def rank() -> int:
    """This process's rank in the MPI job (0 outside one), without initializing anything."""
    if dist.is_initialized():
        return dist.get_rank()
    for v in dist._RANK_VARS:
        if v in os.environ:
            try:
                return int(os.environ[v])
            except ValueError:
                pass
    return 0


def abort_on_uncaught_exceptions() -> None:
    """An exception nobody catches on one rank ends the whole job (MPI_Abort) after printing its
    traceback, instead of leaving the other ranks waiting in a collective forever."""
    previous = sys.excepthook
    if getattr(previous, "_chainrule_abort", False):
        return

    def hook(kind, value, tb):
        previous(kind, value, tb)
        dist.abort(1)

    hook._chainrule_abort = True
    sys.excepthook = hook
