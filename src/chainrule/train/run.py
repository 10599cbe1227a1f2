"""The main job as a library call: a RunConfig in, a trained run folder out.

``chainrule train/evaluate/predict`` parse arguments and call these functions;
the logic (which data, which preprocessing, which model, where files go) is here.
A run folder holds ``config.json``, ``metrics.jsonl`` (one line per epoch),
``training.png``, and the checkpoints ``last/`` and ``best/``.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from chainrule import dtypes, nn, optim
from chainrule import random as cr_random
from chainrule.data import DataLoader, Preprocess, blobs, load_cifar10, load_mnist, spiral, train_val_split, xor
from chainrule.data.loader import ArrayDataset
from chainrule.messages import first_line
from chainrule.fileio import open_regular, write_atomic
from chainrule.train import models
from chainrule.train.config import (DATASET_DEFAULTS, DATASET_SIZES, DATASETS, IMAGE_SHAPES, LOSSES,  # noqa: F401
                                    OPTIMIZERS, PREPROCESS, RunConfig, given_settings, human_bytes, load_config,
                                    memory_available, memory_needed, resolve_config)
from chainrule.train.checkpoint import (CheckpointError, check_model_state, check_run_meta, clean_run_folder,
                                        load_checkpoint)
from chainrule.train.distributed import rank, wanted
from chainrule.train.lock import RunLock
from chainrule.train.trainer import Trainer, evaluate, predict

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


def build_model(cfg: RunConfig, n_in: int, n_classes: int, image_shape=None):
    cr_random.manual_seed(cfg.seed)
    model = models.build(cfg, n_in, n_classes, image_shape or IMAGE_SHAPES.get(cfg.dataset))
    return model.to(cfg.dtype)


def build_optimizer(cfg: RunConfig, model):
    opt = OPTIMIZERS[cfg.optimizer].build(model.parameters(), cfg.lr, cfg.momentum)
    sched = optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma) if cfg.lr_step else None
    return opt, sched


class RunFiles:
    """Trainer callback: rewrites metrics.jsonl after every epoch; at the end, draws training.png
    with ``plot(history, path)`` if the caller gives one (train does not draw: the application
    passes chainrule.viz.plot_history, so that the plots receive data and train imports no viz)."""

    def __init__(self, run_dir: Path, plot=None):
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
        write_atomic(self.run_dir / "metrics.jsonl", "\n".join(lines) + "\n")

    def on_fit_end(self, trainer):
        if self.plot is not None and trainer.history.epoch and trainer.status in ("finished", "interrupted"):
            self.plot(trainer.history, self.run_dir / "training.png")


def make_trainer(cfg: RunConfig, run_dir, progress=True, data: Data | None = None, callbacks=(),
                 distributed: bool | None = None, plot=None):
    """Everything wired up for ``cfg``: data, model, optimizer, schedule, and a Trainer.

    ``progress``: True, False or a Progress (see Trainer); ``callbacks``: more Trainer callbacks;
    ``distributed``: as Trainer's (None: when launched under MPI); ``plot(history, path)``: draws
    training.png when fit ends (None: no picture)."""
    cfg.validate()
    data = data or load_data(cfg)
    model = build_model(cfg, data.train.X.shape[1], len(data.classes), data.image_shape)
    opt, sched = build_optimizer(cfg, model)
    run_dir = Path(run_dir)
    meta = {"run": asdict(cfg), "classes": data.classes, "image_shape": data.image_shape,
            "n_in": int(data.train.X.shape[1]), "preprocess": asdict(data.preprocess), "model": model.config()}
    trainer = Trainer(model, LOSSES[cfg.loss], opt,
                      DataLoader(data.train, cfg.batch_size, shuffle=True, seed=cfg.seed),
                      DataLoader(data.val, 1024) if data.val is not None else None,
                      scheduler=sched, epochs=cfg.epochs, reg=cfg.reg, run_dir=run_dir, config=meta,
                      progress=progress, callbacks=[RunFiles(run_dir, plot), *callbacks], distributed=distributed,
                      compile=cfg.compile)
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
    if wanted() and rank() != 0:     # under MPI, rank 0 alone locks (and cleans) the run folder
        return RunLock(run_dir)      # an unacquired lock: release() does nothing
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir).acquire()
    clean_run_folder(run_dir)
    return lock


def start_run(cfg: RunConfig, run_dir=None, progress=True, data: Data | None = None, callbacks=(),
              distributed: bool | None = None, plot=None):
    """A new run in ``run_dir`` (which must not hold a checkpoint yet; None: a new folder under runs/).

    The run folder is locked for the life of the returned trainer (a second process is refused),
    and the data folder is stored as an absolute path so the run resumes from any directory.
    ``data``: already loaded for ``cfg`` (a sweep worker reuses it across trials); ``progress``,
    ``callbacks``, ``distributed`` and ``plot`` go to :func:`make_trainer`.
    """
    cfg.validate()
    if cfg.data_dir:
        cfg.data_dir = os.path.abspath(cfg.data_dir)
    made = run_dir is None
    run_dir = new_run_dir(cfg.dataset) if made else Path(run_dir)
    if wanted() and rank() != 0:     # under MPI, rank 0 alone locks the folder and writes files
        if (run_dir / "last").exists() or (run_dir / "last").is_symlink():
            raise FileExistsError(f"{run_dir} already holds a run; resume it with --resume {run_dir}, "
                                  f"or choose another --out")
        trainer, data = make_trainer(cfg, run_dir, progress, data, callbacks, distributed, plot)
        trainer.run_lock = RunLock(run_dir)   # unacquired: release() does nothing
        return trainer, data
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
        trainer, data = make_trainer(cfg, run_dir, progress, data, callbacks, distributed, plot)
        write_atomic(run_dir / "config.json", json.dumps(trainer.config, indent=1))
    except BaseException:
        lock.release()
        if made:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    trainer.run_lock = lock
    return trainer, data


# flags a resumed run accepts; any other flag must equal the run's own setting
RESUMABLE = ("epochs", "data_dir")


def resume_run(run_dir, progress=True, epochs: int | None = None, overrides: dict | None = None,
               reset_optimizer: bool = False, reset_scheduler: bool = False, callbacks=(),
               distributed: bool | None = None, plot=None):
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
        trainer, data = make_trainer(cfg, run_dir, progress, callbacks=callbacks, distributed=distributed, plot=plot)
        trainer.resume(run_dir, reset_optimizer=reset_optimizer, reset_scheduler=reset_scheduler)
    except BaseException:
        lock.release()
        raise
    trainer.epochs = cfg.epochs
    trainer.config["run"]["epochs"] = cfg.epochs
    trainer.config["run"]["data_dir"] = cfg.data_dir
    trainer.run_lock = lock
    return trainer, data


CHECKPOINTS = ("best", "last")


def result_slot(run_dir) -> str:
    """Which checkpoint is a run's result: ``best`` (the epoch with the best validation accuracy),
    or ``last`` while a run has no ``best`` yet (stopped during its first epoch)."""
    run_dir = Path(run_dir)
    return "best" if (run_dir / "best").exists() else "last"


def open_checkpoint(run_dir, checkpoint: str | None = None):
    """(model in eval mode, meta, slot, epoch) of a run's checkpoint ``best`` or ``last``
    (None: the run's result, :func:`result_slot`). ``epoch``: how many epochs its weights trained."""
    run_dir = Path(run_dir)
    if checkpoint is not None and checkpoint not in CHECKPOINTS:
        raise ValueError(f"--checkpoint must be best or last, got {checkpoint!r}")
    slot = checkpoint or result_slot(run_dir)
    state, _, info = load_checkpoint(run_dir, slot)
    meta = info.get("config")
    check_run_meta(meta, run_dir / slot / "state.json")
    cfg = _recorded_config(meta, run_dir / slot / "state.json")
    sizes = [meta["n_in"], *cfg.hidden, len(meta["classes"])]
    recorded = meta["model"]
    if not isinstance(recorded, dict) or (cfg.model == "mlp" and recorded.get("sizes") != sizes) or \
            (cfg.model == "convnet" and list(recorded.get("hidden", ())) != list(cfg.hidden)):
        raise CheckpointError(f"{run_dir / slot / 'state.json'}: entry config.model does not match the run's "
                              f"settings (layer sizes {sizes})")
    try:
        model = models.from_config(recorded).to(cfg.dtype)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{run_dir / slot / 'state.json'}: entry config.model does not describe a network "
                              f"({e})") from None
    check_model_state(state, model, run_dir / slot / "model.safetensors")
    model.load_state_dict(state)
    return model.eval(), meta, slot, info["epoch"]


def load_run(run_dir, slot: str | None = None):
    """(model in eval mode, meta) of a run's checkpoint ``slot`` (None: the run's result)."""
    model, meta, _, _ = open_checkpoint(run_dir, slot)
    return model, meta


def confusion(labels, predictions, k: int) -> np.ndarray:
    """(k, k) counts: row = true class, column = predicted class."""
    labels, predictions = np.asarray(labels, np.int64), np.asarray(predictions, np.int64)
    return np.bincount(labels * k + predictions, minlength=k * k).reshape(k, k)


def evaluate_run(run_dir, dataset: str | None = None, data_dir: str | None = None,
                 checkpoint: str | None = None) -> dict:
    """Loss, accuracy, per-class accuracy and confusion matrix of a run's checkpoint on a test set
    (``checkpoint`` best or last; None: the run's result); the dict names the checkpoint used."""
    model, meta, slot, epoch = open_checkpoint(run_dir, checkpoint)
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
    k = len(meta["classes"])
    m = confusion(r["labels"], r["predictions"], k)
    per_class = (np.diag(m) / np.maximum(m.sum(axis=1), 1)).tolist()
    return {"dataset": cfg.dataset, "n": int(m.sum()), "loss": r["loss"], "accuracy": r["accuracy"],
            "classes": meta["classes"], "per_class": per_class, "confusion": m, "checkpoint": slot,
            "epoch": epoch, "epochs": meta["run"]["epochs"]}


MAX_IMAGE_PIXELS = 64_000_000      # images are decoded only up to this size (8000 x 8000)
MAX_NPY_BYTES = 1 << 30


def _npy_samples(path: Path, meta) -> np.ndarray:
    """Rows of raw model inputs from a .npy array: one sample or a batch, flat, (C, H, W) or
    (H, W, C) (transposed to the model's channel-first layout); any other shape is refused."""
    os.close(open_regular(path, ValueError))
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npy array ({first_line(e)})") from None
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
            raise ValueError(f"{path}: not a readable image ({first_line(e)})") \
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


def predict_files(run_dir, files, top_k: int = 3, checkpoint: str | None = None):
    """(slot, epoch, rows): the checkpoint used (best or last; None: the run's result) and, for each
    sample, (name, the top-k (class name, probability) pairs)."""
    model, meta, slot, epoch = open_checkpoint(run_dir, checkpoint)
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
    return slot, epoch, [(n, [(classes[j], float(probs[i, j])) for j in row])
                         for n, (i, row) in zip(names, enumerate(top))]
