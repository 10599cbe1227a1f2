"""The main job as a library call: a RunConfig in, a trained run folder out.

``chainrule train/evaluate/predict`` parse arguments and call these functions;
the logic (which data, which preprocessing, which model, where files go) is here.
A run folder holds ``config.json``, ``metrics.jsonl`` (one line per epoch),
``training.png``, and the checkpoints ``last/`` and ``best/``.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import struct
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from chainrule import dtypes, nn, optim
from chainrule import random as cr_random
from chainrule.data import DataLoader, Preprocess, blobs, load_cifar10, load_mnist, spiral, train_val_split, xor
from chainrule.data.loader import ArrayDataset
from chainrule.fileio import open_regular, read_regular
from chainrule.nn import functional as F
from chainrule.train.checkpoint import (CheckpointError, check_model_state, check_run_meta, clean_run_folder,
                                        load_checkpoint)
from chainrule.train.trainer import Trainer, evaluate, predict

DATASETS = ("spiral", "xor", "blobs", "cifar10", "mnist")
LOSSES = {"softmax": F.cross_entropy, "svm": F.svm_loss}
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
DTYPES = ("float32", "float64")


@dataclass
class RunConfig:
    """Everything a run depends on; saved in config.json and in every checkpoint."""

    dataset: str = "spiral"          # spiral, xor, blobs (built in), cifar10, mnist (files in data_dir)
    data_dir: str | None = None      # folder of the CIFAR-10 / MNIST files
    hidden: tuple = (100,)           # hidden layer widths: (100,) is the lecture's 2-layer net
    activation: str = "relu"         # relu, leaky_relu, sigmoid, tanh, elu, gelu, softplus
    loss: str = "softmax"            # softmax (cross-entropy) or svm (multiclass hinge)
    reg: float = 1e-5                # lambda of the L2 penalty on weight matrices
    optimizer: str = "sgd"           # sgd, adam, adamw, rmsprop, adagrad
    lr: float = 0.3                  # learning rate
    momentum: float = 0.9            # SGD / RMSprop momentum
    lr_step: int = 100               # StepLR: multiply the lr by lr_gamma every lr_step epochs (0: off)
    lr_gamma: float = 0.3
    epochs: int = 200
    batch_size: int = 32
    val_fraction: float = 0.2        # share of the training data held out for validation
    seed: int = 0                    # weights, split, shuffling and dropout all follow it
    dtype: str = "float32"
    preprocess: str = "auto"         # none, scale, mean_image, channel; auto: mean_image for images
    limit: int = 0                   # use only the first N training images (0: all), for quick trials

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in d.items() if k in names})
        if isinstance(cfg.hidden, list):
            cfg.hidden = tuple(cfg.hidden)
        return cfg

    def validate(self) -> None:
        """Every setting of the right type and in range, and a model that fits in memory; else a
        ValueError naming the flag (``--lr`` for ``lr``). Called by every entry point before any
        data is read or any weight allocated."""
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose from {', '.join(DATASETS)}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose softmax or svm")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.activation not in nn.layers.ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose from {', '.join(nn.layers.ACTIVATIONS)}")
        if self.preprocess not in PREPROCESS:
            raise ValueError(f"--preprocess: unknown {self.preprocess!r}; choose from {', '.join(PREPROCESS)}")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise ValueError(f"--data-dir must be a folder name, got {self.data_dir!r}")
        if self.dataset in ("cifar10", "mnist") and not self.data_dir:
            raise ValueError(f"--dataset {self.dataset} needs --data-dir (the folder with its files)")
        _check_range("epochs", self.epochs, 1, None, integer=True)
        _check_range("batch_size", self.batch_size, 1, None, integer=True)
        _check_range("limit", self.limit, 0, None, integer=True, note="(0: all)")
        _check_range("lr_step", self.lr_step, 0, None, integer=True, note="(0: off)")
        _check_range("seed", self.seed, 0, 2**63 - 1, integer=True)
        _check_range("lr", self.lr, 0, None, low_open=True)
        _check_range("reg", self.reg, 0, None)
        _check_range("momentum", self.momentum, 0, 1, high_open=True)
        _check_range("lr_gamma", self.lr_gamma, 0, 1, low_open=True)
        _check_range("val_fraction", self.val_fraction, 0, 1, high_open=True)
        if not isinstance(self.hidden, (tuple, list)) or not all(
                isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in self.hidden):
            raise ValueError(f"--hidden needs positive integer widths, like 100,100; got {self.hidden!r}")
        if self.dtype not in DTYPES:    # what `train --dtype` offers; float16 has no training path
            raise ValueError(f"--dtype: unknown {self.dtype!r}; choose float32 or float64")
        need, have = memory_needed(self), memory_available()
        if have is not None and need > have:
            sizes = [DATASET_SIZES[self.dataset][0], *self.hidden, DATASET_SIZES[self.dataset][1]]
            raise ValueError(f"--hidden {','.join(map(str, self.hidden))}: the model {sizes} needs about {need} bytes "
                             f"for its weights, gradients and optimizer state, more than the {have} bytes of "
                             f"memory available; choose smaller widths")


PREPROCESS = ("auto", "none", "scale", "mean_image", "channel")
# inputs and classes of each dataset, known before any file is read
DATASET_SIZES = {"spiral": (2, 3), "xor": (2, 2), "blobs": (2, 3), "cifar10": (3072, 10), "mnist": (784, 10)}
OPTIMIZER_BUFFERS = {"sgd": 1, "adam": 2, "adamw": 2, "rmsprop": 3, "adagrad": 1}


def _check_range(name, v, low, high, integer=False, low_open=False, high_open=False, note=""):
    flag = "--" + name.replace("_", "-")
    kind = "an integer" if integer else "a number"
    if isinstance(v, bool) or not isinstance(v, (int,) if integer else (int, float)):
        raise ValueError(f"{flag} must be {kind}, got {v!r}")
    if not integer and not math.isfinite(v):
        raise ValueError(f"{flag} must be a finite number, got {v}")
    lo_ok = v > low if low_open else v >= low
    hi_ok = high is None or (v < high if high_open else v <= high)
    if not (lo_ok and hi_ok):
        lo = f"{'>' if low_open else '>='} {low}"
        want = lo if high is None else f"{lo} and {'<' if high_open else '<='} {high}"
        raise ValueError(f"{flag} must be {want}{' ' + note if note else ''}, got {v}")


def memory_needed(cfg: RunConfig) -> int:
    """Bytes a training run of ``cfg`` needs for its model: weights, gradients, optimizer buffers
    and one batch of activations (an estimate made before anything is allocated)."""
    n_in, n_out = DATASET_SIZES[cfg.dataset]
    sizes = [n_in, *cfg.hidden, n_out]
    params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    item = np.dtype(cfg.dtype).itemsize
    activations = cfg.batch_size * sum(sizes) * 4
    return (2 + OPTIMIZER_BUFFERS.get(cfg.optimizer, 2)) * params * item + activations * item


def memory_available() -> int | None:
    """Bytes this process may still allocate: the smaller of the free memory the system reports
    and what the address-space limit (ulimit -v) leaves; None if neither is known."""
    have = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    have.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            used = 0
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmSize:"):
                        used = int(line.split()[1]) * 1024
            have.append(max(soft - used, 0))
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return min(have) if have else None


@dataclass
class Data:
    train: ArrayDataset
    val: ArrayDataset | None
    test: ArrayDataset
    classes: list
    preprocess: Preprocess
    image_shape: tuple | None       # (C, H, W) for image datasets, None for 2-D points


def load_raw(cfg: RunConfig):
    """(X_train, y_train, X_test, y_test, classes, image_shape) before preprocessing."""
    if cfg.dataset in ("spiral", "xor", "blobs"):
        make = {"spiral": spiral, "xor": xor, "blobs": blobs}[cfg.dataset]
        tr, te = make(seed=cfg.seed), make(seed=cfg.seed + 1)
        return tr.X, tr.y, te.X, te.y, tr.classes, None
    if cfg.dataset == "cifar10":
        Xtr, ytr, Xte, yte, classes = load_cifar10(cfg.data_dir)
        shape = (3, 32, 32)
    else:
        Xtr, ytr, Xte, yte, classes = load_mnist(cfg.data_dir)
        Xtr, Xte = Xtr[:, None], Xte[:, None]
        shape = (1, 28, 28)
    if cfg.limit:
        Xtr, ytr = Xtr[:cfg.limit], ytr[:cfg.limit]
    return Xtr, ytr, Xte, yte, classes, shape


def load_data(cfg: RunConfig, preprocess: Preprocess | None = None) -> Data:
    Xtr, ytr, Xte, yte, classes, shape = load_raw(cfg)
    tr_idx, va_idx = train_val_split(len(Xtr), cfg.val_fraction, cfg.seed)
    if len(tr_idx) == 0 or (cfg.val_fraction > 0 and len(va_idx) == 0):
        raise ValueError(f"--val-fraction {cfg.val_fraction:g} of {len(Xtr)} training samples leaves "
                         f"{len(tr_idx)} for training and {len(va_idx)} for validation; both need at least one")
    kind = cfg.preprocess if cfg.preprocess != "auto" else ("mean_image" if shape else "none")
    pre = preprocess or Preprocess.fit(Xtr[tr_idx], kind)
    d = dtypes.as_dtype(cfg.dtype).type

    def ds(X, y):
        X = pre(X, d)
        return ArrayDataset(X.reshape(len(X), -1), y, classes)

    return Data(ds(Xtr[tr_idx], ytr[tr_idx]), ds(Xtr[va_idx], ytr[va_idx]) if len(va_idx) else None,
                ds(Xte, yte), classes, pre, shape)


def build_model(cfg: RunConfig, n_in: int, n_classes: int):
    cr_random.manual_seed(cfg.seed)
    model = nn.MLP([n_in, *cfg.hidden, n_classes], activation=cfg.activation)
    return model.to(cfg.dtype)


def build_optimizer(cfg: RunConfig, model):
    p = model.parameters()
    if cfg.optimizer == "sgd":
        opt = optim.SGD(p, lr=cfg.lr, momentum=cfg.momentum)
    elif cfg.optimizer == "adam":
        opt = optim.Adam(p, lr=cfg.lr)
    elif cfg.optimizer == "adamw":
        opt = optim.AdamW(p, lr=cfg.lr)
    elif cfg.optimizer == "rmsprop":
        opt = optim.RMSprop(p, lr=cfg.lr, momentum=cfg.momentum)
    else:
        opt = optim.Adagrad(p, lr=cfg.lr)
    sched = optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma) if cfg.lr_step else None
    return opt, sched


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: into a temporary file of this writer's own (a
    unique name beside it, so two writers at once never share one), then renamed into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


class RunFiles:
    """Trainer callback: rewrites metrics.jsonl after every epoch, draws training.png at the end."""

    def __init__(self, run_dir: Path, plot: bool = True):
        self.run_dir, self.plot = run_dir, plot

    def on_epoch_end(self, trainer):
        h = trainer.history
        lines = []
        for i, e in enumerate(h.epoch):
            row = {"epoch": e, "train_loss": h.train_loss[i], "train_acc": h.train_acc[i], "lr": h.lr[i],
                   "seconds": h.seconds[i]}
            if h.val_acc:
                row.update(val_loss=h.val_loss[i], val_acc=h.val_acc[i])
            lines.append(json.dumps(row))
        _write_atomic(self.run_dir / "metrics.jsonl", "\n".join(lines) + "\n")

    def on_fit_end(self, trainer):
        h = trainer.history
        if self.plot and h.epoch:
            try:
                from chainrule.viz.plots import plot_history
                plot_history(h, self.run_dir / "training.png")
            except ImportError:
                self.plot = False


def make_trainer(cfg: RunConfig, run_dir, progress: bool = True, data: Data | None = None):
    """Everything wired up for ``cfg``: data, model, optimizer, schedule, and a Trainer."""
    cfg.validate()
    data = data or load_data(cfg)
    model = build_model(cfg, data.train.X.shape[1], len(data.classes))
    opt, sched = build_optimizer(cfg, model)
    run_dir = Path(run_dir)
    meta = {"run": asdict(cfg), "classes": data.classes, "image_shape": data.image_shape,
            "n_in": int(data.train.X.shape[1]), "preprocess": asdict(data.preprocess), "model": model.config()}
    trainer = Trainer(model, LOSSES[cfg.loss], opt,
                      DataLoader(data.train, cfg.batch_size, shuffle=True, seed=cfg.seed),
                      DataLoader(data.val, 1024) if data.val is not None else None,
                      scheduler=sched, epochs=cfg.epochs, reg=cfg.reg, run_dir=run_dir, config=meta,
                      progress=progress, callbacks=[RunFiles(run_dir)])
    return trainer, data


def _recorded_config(meta: dict, path) -> RunConfig:
    """The RunConfig a checkpoint records, validated; a CheckpointError naming the file if it is not valid."""
    try:
        cfg = RunConfig.from_dict(meta["run"])
        cfg.validate()
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: the recorded run settings are not valid ({e})") from None
    return cfg


def new_run_dir(dataset: str, root="runs") -> Path:
    """A new, empty folder ``root/DATASET-YYYYmmdd-HHMMSS`` (with -2, -3, ... if that exists):
    created with an exclusive mkdir, so two runs started in the same second never share one."""
    base = Path(root) / f"{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for k in range(1, 10000):
        path = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{base}: too many runs started in this second; choose --out")


# what a run writes at its top level; a new run in a folder without a checkpoint removes these
# leftovers of an earlier start that died before its first checkpoint
_RUN_FILES = ("config.json", "metrics.jsonl", "training.png", "diagnostics.jsonl", "confusion.png")


def _lock(run_dir: Path):
    from chainrule.train.distributed import rank, wanted
    from chainrule.train.lock import RunLock
    if wanted() and rank() != 0:     # under MPI, rank 0 alone locks (and cleans) the run folder
        return RunLock(run_dir)      # an unacquired lock: release() does nothing
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir).acquire()
    clean_run_folder(run_dir)
    return lock


def start_run(cfg: RunConfig, run_dir=None, progress: bool = True, data: Data | None = None):
    """A new run in ``run_dir`` (which must not hold a checkpoint yet; None: a new folder under runs/).

    The run folder is locked for the life of the returned trainer (a second process is refused),
    and the data folder is stored as an absolute path so the run resumes from any directory.
    ``data``: already loaded for ``cfg`` (a sweep worker reuses it across trials).
    """
    cfg.validate()
    if cfg.data_dir:
        cfg.data_dir = os.path.abspath(cfg.data_dir)
    made = run_dir is None
    run_dir = new_run_dir(cfg.dataset) if made else Path(run_dir)
    from chainrule.train.distributed import rank, wanted
    if wanted() and rank() != 0:     # under MPI, rank 0 alone locks the folder and writes files
        if (run_dir / "last").exists() or (run_dir / "last").is_symlink():
            raise FileExistsError(f"{run_dir} already holds a run; resume it with --resume {run_dir}, "
                                  f"or choose another --out")
        return make_trainer(cfg, run_dir, progress, data)
    lock = _lock(run_dir)  # first: a run folder in use is refused naming its holder
    try:
        if (run_dir / "last").exists() or (run_dir / "last").is_symlink():
            raise FileExistsError(f"{run_dir} already holds a run; resume it with --resume {run_dir}, "
                                  f"or choose another --out")
        for name in ("best", *_RUN_FILES):
            p = run_dir / name
            if p.is_symlink() or p.is_file():
                p.unlink()
        clean_run_folder(run_dir)  # the folder of the removed "best" link
        trainer, data = make_trainer(cfg, run_dir, progress, data)
        _write_atomic(run_dir / "config.json", json.dumps(trainer.config, indent=1))
    except BaseException:
        lock.release()
        if made:
            import shutil
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    trainer.run_lock = lock
    return trainer, data


def load_config(path) -> RunConfig:
    """A RunConfig from a JSON file: a flat one (a sweep's best.json) or a run's config.json."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such config file")
    try:
        d = json.loads(read_regular(path, 1 << 20, ValueError))  # not a FIFO or /dev/zero; at most 1 MiB
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a JSON config ({e})") from None
    if isinstance(d, dict) and isinstance(d.get("run"), dict):
        d = d["run"]
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a JSON object of settings")
    unknown = sorted(set(d) - {f.name for f in fields(RunConfig)})
    if unknown:
        raise ValueError(f"{path}: unknown setting {unknown[0]!r}")
    return RunConfig.from_dict(d)


# flags a resumed run accepts; any other flag must equal the run's own setting
RESUMABLE = ("epochs", "data_dir")


def resume_run(run_dir, progress: bool = True, epochs: int | None = None, overrides: dict | None = None,
               reset_optimizer: bool = False, reset_scheduler: bool = False):
    """Rebuild a run from its folder and continue it from the last checkpoint.

    ``overrides`` maps RunConfig fields to values given again: ``epochs`` (the new total) and
    ``data_dir`` (the data moved) are applied; any other field must equal the run's setting, or a
    ValueError names the flag. ``reset_optimizer`` / ``reset_scheduler`` accept a checkpoint
    without optimizer or schedule state and start them fresh.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no checkpoint here: there is no such run folder")
    lock = _lock(run_dir)
    try:
        _, _, info = load_checkpoint(run_dir, "last")
        check_run_meta(info.get("config"), run_dir / "last" / "state.json")
        cfg = _recorded_config(info["config"], run_dir / "last" / "state.json")
        overrides = dict(overrides or {})
        if epochs:
            overrides["epochs"] = epochs
        for name, value in overrides.items():
            flag = "--" + name.replace("_", "-")
            if name == "epochs":
                if isinstance(value, int) and value <= info["epoch"]:
                    raise ValueError(f"--epochs {value}: the run has done {info['epoch']} epochs already; "
                                     f"give a larger total")
                cfg.epochs = value
            elif name == "data_dir":
                cfg.data_dir = os.path.abspath(value)
            elif name not in {f.name for f in fields(RunConfig)}:
                raise ValueError(f"{flag}: not a setting of a run")
            elif (tuple(value) if name == "hidden" else value) != getattr(cfg, name):
                raise ValueError(f"{flag} {value}: the run in {run_dir} was started with {getattr(cfg, name)} and a "
                                 f"resumed run keeps its settings (only --epochs and --data-dir may change); "
                                 f"start a new run with --out to change it")
        trainer, data = make_trainer(cfg, run_dir, progress)
        trainer.resume(run_dir, reset_optimizer=reset_optimizer, reset_scheduler=reset_scheduler)
    except BaseException:
        lock.release()
        raise
    trainer.epochs = cfg.epochs
    trainer.config["run"]["epochs"] = cfg.epochs
    trainer.config["run"]["data_dir"] = cfg.data_dir
    trainer.run_lock = lock
    return trainer, data


def load_run(run_dir, slot: str = "best"):
    """(model in eval mode, meta) from a run folder; falls back to "last" if there is no "best"."""
    run_dir = Path(run_dir)
    if not (run_dir / slot).exists():
        slot = "last"
    state, _, info = load_checkpoint(run_dir, slot)
    meta = info.get("config")
    check_run_meta(meta, run_dir / slot / "state.json")
    cfg = _recorded_config(meta, run_dir / slot / "state.json")
    sizes = [meta["n_in"], *cfg.hidden, len(meta["classes"])]
    if not isinstance(meta["model"], dict) or meta["model"].get("sizes") != sizes:
        raise CheckpointError(f"{run_dir / slot / 'state.json'}: entry config.model does not match the run's "
                              f"settings (layer sizes {sizes})")
    try:
        model = nn.MLP(**meta["model"]).to(cfg.dtype)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{run_dir / slot / 'state.json'}: entry config.model does not describe a network "
                              f"({e})") from None
    check_model_state(state, model, run_dir / slot / "model.safetensors")
    model.load_state_dict(state)
    return model.eval(), meta


def evaluate_run(run_dir, dataset: str | None = None, data_dir: str | None = None) -> dict:
    """Loss, accuracy, per-class accuracy and confusion matrix of a run's best model on a test set."""
    model, meta = load_run(run_dir)
    cfg = RunConfig.from_dict(meta["run"])
    if dataset:
        cfg.dataset = dataset
    if data_dir:
        cfg.data_dir = data_dir
    cfg.validate()
    pre = Preprocess(**meta["preprocess"])
    data = load_data(cfg, preprocess=pre)
    if data.test.X.shape[1] != meta["n_in"]:
        raise ValueError(f"the model takes {meta['n_in']} inputs but {cfg.dataset} has {data.test.X.shape[1]}")
    r = evaluate(model, DataLoader(data.test, 1024), LOSSES[cfg.loss])
    from chainrule.viz.plots import confusion_matrix
    k = len(meta["classes"])
    m = confusion_matrix(r["labels"], r["predictions"], k)
    per_class = (np.diag(m) / np.maximum(m.sum(axis=1), 1)).tolist()
    return {"dataset": cfg.dataset, "n": int(m.sum()), "loss": r["loss"], "accuracy": r["accuracy"],
            "classes": meta["classes"], "per_class": per_class, "confusion": m}


MAX_IMAGE_PIXELS = 64_000_000      # images are decoded only up to this size (8000 x 8000)
MAX_NPY_BYTES = 1 << 30


def _npy_samples(path: Path, meta) -> np.ndarray:
    """Rows of raw model inputs from a .npy array: one sample or a batch, flat, (C, H, W) or
    (H, W, C) (transposed to the model's channel-first layout); any other shape is refused."""
    os.close(open_regular(path, ValueError))
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npy array ({str(e).splitlines()[0] if str(e) else e})") from None
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected an array of numbers, found {getattr(a, 'dtype', type(a).__name__)}")
    if a.nbytes > MAX_NPY_BYTES:
        raise ValueError(f"{path}: {a.nbytes} bytes of data, more than the {MAX_NPY_BYTES} predict reads at once")
    n_in, shape, s = meta["n_in"], meta.get("image_shape"), a.shape
    if shape:
        c, h, w = shape
        if s in ((c, h, w), (n_in,)) or (c == 1 and s == (h, w)):
            a = a.reshape(1, -1)
        elif s == (h, w, c):
            a = a.transpose(2, 0, 1).reshape(1, -1)
        elif len(s) == 4 and s[1:] == (c, h, w) or len(s) == 2 and s[1] == n_in or c == 1 and s[1:] == (h, w):
            a = a.reshape(len(a), -1)
        elif len(s) == 4 and s[1:] == (h, w, c):
            a = a.transpose(0, 3, 1, 2).reshape(len(a), -1)
        else:
            raise ValueError(f"{path}: array of shape {s}; the model takes images of shape {(c, h, w)} or {(h, w, c)} "
                             f"(or flat {n_in}), or a batch (N, ...) of them")
    elif s == (n_in,):
        a = a.reshape(1, -1)
    elif len(s) == 2 and s[1] == n_in:
        a = np.asarray(a)
    else:
        raise ValueError(f"{path}: array of shape {s}; the model takes points of {n_in} features: shape ({n_in},) "
                         f"or (N, {n_in})")
    a = np.array(a)
    if len(a) == 0:
        raise ValueError(f"{path}: the array holds no samples")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{path}: the array holds NaN or infinite values")
    return a


def _image_sample(path: Path, shape) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install pillow") from None
    import warnings
    fd = open_regular(path, ValueError)
    with os.fdopen(fd, "rb") as f:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(f)
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise ValueError(f"{path}: {img.width} x {img.height} pixels, more than the {MAX_IMAGE_PIXELS} "
                                     f"predict decodes; shrink the image first")
                img = img.convert("RGB" if shape[0] == 3 else "L").resize((shape[2], shape[1]))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ValueError(f"{path}: image too large to decode safely ({e})") from None
        except (OSError, SyntaxError, struct.error, EOFError, IndexError, TypeError) as e:
            raise ValueError(f"{path}: not a readable image ({str(e).splitlines()[0] if str(e) else type(e).__name__})") \
                from None
    a = np.asarray(img, dtype=np.uint8)
    a = a.transpose(2, 0, 1) if a.ndim == 3 else a[None]
    return a.reshape(1, -1)


def read_inputs(files, meta):
    """Images (PNG/JPEG, resized to the model's input) or .npy arrays, as raw model inputs.

    Returns (inputs, names): one row and one name per sample ("file", or "file[i]" for the rows
    of a .npy array holding several samples). Images larger than ``MAX_IMAGE_PIXELS`` and arrays
    of a shape the model cannot take are refused with one line naming the file.
    """
    shape = meta.get("image_shape")
    out, names = [], []
    for f in files:
        path = Path(f)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        if path.suffix.lower() == ".npy":
            a = _npy_samples(path, meta)
            out.append(a)
            names += [str(path)] if len(a) == 1 else [f"{path}[{i}]" for i in range(len(a))]
        else:
            if not shape:
                raise ValueError(f"{path}: this model was trained on 2-D points, not images; give a .npy file")
            out.append(_image_sample(path, shape))
            names.append(str(path))
    return np.concatenate(out), names


def predict_files(run_dir, files, top_k: int = 3):
    """For each sample: (name, the top-k (class name, probability) pairs)."""
    model, meta = load_run(run_dir)
    k = len(meta["classes"])
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= k:
        raise ValueError(f"--top-k must be between 1 and {k} (the model's classes), got {top_k}")
    cfg = RunConfig.from_dict(meta["run"])
    X, names = read_inputs(files, meta)
    pre = Preprocess(**meta["preprocess"])
    shape = meta.get("image_shape")
    Xp = pre(X.reshape((len(X), *shape)) if shape else X, dtypes.as_dtype(cfg.dtype).type).reshape(len(X), -1)
    probs = predict(model, Xp)
    classes = meta["classes"]
    top = np.argsort(-probs, axis=1)[:, :top_k]
    return [(n, [(classes[j], float(probs[i, j])) for j in row]) for n, (i, row) in zip(names, enumerate(top))]
