"""Checkpoints: safetensors for arrays, JSON for everything else, written atomically, verified on read.

A checkpoint is a folder ``RUN_DIR/<slot>`` (slot "last" or "best") holding
``model.safetensors`` (keys exactly as ``state_dict()`` gives them, so
``torch.nn.Sequential`` with the same layers loads it), ``optimizer.safetensors``
(the optimizer's buffers), ``state.json`` (configuration, optimizer and
scheduler settings, RNG state, position in training, history) and
``manifest.json`` (the size and SHA-256 of each of those files).

``RUN_DIR/<slot>`` is a symbolic link to a folder that is written completely
(every file flushed and fsynced) before the link is swapped with an atomic
rename, so a process killed at any moment leaves the previous checkpoint whole.

Reading checks everything before anything is used: the link must stay inside its run
folder, every file must be a regular file of the recorded size and SHA-256, ``state.json``
must have the expected structure, and :func:`check_model_state` / :func:`check_optimizer_state`
compare every tensor's name, shape and dtype with the model and optimizer it is loaded into.
No file is ever unpickled or executed: safetensors and JSON hold data only.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import stat
import time
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from chainrule import tensorfile
from chainrule.fileio import link_atomic, load_json, read_regular, write_atomic
from chainrule.serialization import as_array
from chainrule.train.history import History

MANIFEST = "manifest.json"
SLOTS = ("last", "best")
MAX_JSON_BYTES = 64 << 20          # state.json holds the history: a few MB for very long runs


class CheckpointError(ValueError):
    """A checkpoint is damaged, incomplete or does not fit the model; the message names the file."""


def _split_optimizer(state: dict):
    """Optimizer state_dict -> (arrays for safetensors, JSON-able rest)."""
    arrays, scalars = {}, {}
    for i, buffers in state["state"].items():
        for name, v in buffers.items():
            a = as_array(v)
            if a is not None and a.ndim:
                arrays[f"state.{i}.{name}"] = np.ascontiguousarray(a)
            else:  # a number, or a 0-d Tensor such as Adam's step: kept in state.json as before
                scalars.setdefault(str(i), {})[name] = v if a is None else a.item()
    return arrays, {"scalars": scalars, "param_groups": state["param_groups"]}


def _join_optimizer(arrays: dict, meta: dict, path) -> dict:
    if not isinstance(meta.get("scalars"), dict) or not isinstance(meta.get("param_groups"), list) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), list) for g in meta["param_groups"]):
        raise CheckpointError(f"{path.with_name('state.json')}: entry 'optimizer' is not {{scalars, param_groups}}")
    state: dict = {}
    for key, v in arrays.items():
        m = re.fullmatch(r"state\.(\d+)\.(\w+)", key)
        if not m:
            raise CheckpointError(f"{path}: unexpected tensor name {key!r} (expected state.INDEX.BUFFER)")
        state.setdefault(int(m.group(1)), {})[m.group(2)] = v
    for i, sc in meta["scalars"].items():
        if not re.fullmatch(r"\d+", i) or not isinstance(sc, dict):
            raise CheckpointError(f"{path}: optimizer entry {i!r} is not a parameter index with its settings")
        state.setdefault(int(i), {}).update(sc)
    return {"state": state, "param_groups": meta["param_groups"]}


def clean_run_folder(run_dir) -> None:
    """Remove what a killed or failed writer left behind: checkpoint folders no link names,
    half-swapped links and temporary files. Call it while holding the run folder's lock."""
    run_dir = Path(run_dir)
    for slot in SLOTS:
        link = run_dir / slot
        keep = os.readlink(link) if link.is_symlink() else None
        for p in run_dir.glob(f".{slot}-*"):
            if p.name != keep and re.fullmatch(rf"\.{slot}-\d+", p.name):
                shutil.rmtree(p, ignore_errors=True)
        tmp = run_dir / f".{slot}.link"  # the fixed name older versions used
        if tmp.is_symlink():
            tmp.unlink()
    for p in run_dir.glob("*.tmp"):  # write_atomic's and link_atomic's temporary names (and older fixed ones)
        if p.is_symlink() or p.is_file():
            p.unlink()


def save_checkpoint(run_dir, slot: str, model_state: dict, optimizer_state: dict | None, info: dict) -> Path:
    """Write a checkpoint into ``run_dir/slot`` atomically; return its folder.

    If writing fails (a full disk, a file size limit), the half-written folder is removed, the
    previous checkpoint stays in place, and a :class:`CheckpointError` says so.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    folder = run_dir / f".{slot}-{time.time_ns()}"
    model_arrays = {}
    for k, v in model_state.items():
        a = as_array(v)
        model_arrays[k] = np.asarray(v) if a is None else a  # an ndarray, a chainrule Tensor or array-like
    try:
        folder.mkdir()
        files = {"model.safetensors": write_atomic(folder / "model.safetensors", tensorfile.chunks(
            *tensorfile.layout(model_arrays, {"format": "pt"})))}
        info = dict(info)
        if optimizer_state is not None:
            arrays, meta = _split_optimizer(optimizer_state)
            files["optimizer.safetensors"] = write_atomic(folder / "optimizer.safetensors",
                                                          tensorfile.chunks(*tensorfile.layout(arrays)))
            info["optimizer"] = meta
        files["state.json"] = write_atomic(folder / "state.json", json.dumps(info, indent=1))
        write_atomic(folder / MANIFEST, json.dumps({"files": files}, indent=1))
        link_atomic(folder.name, run_dir / slot)  # the atomic step
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        kept = "the previous checkpoint was kept" if (run_dir / slot).exists() else "no earlier checkpoint exists"
        raise CheckpointError(f"{run_dir / slot}: cannot write the checkpoint ({e.strerror or e}); {kept}") from None
    # the link now names the new folder: every other folder of this slot (the previous one, or
    # one left half-written by a killed writer) is garbage
    for p in run_dir.glob(f".{slot}-*"):
        if p != folder:
            shutil.rmtree(p, ignore_errors=True)
    return folder


def slot_folder(run_dir, slot: str = "last") -> Path:
    """The folder ``run_dir/slot`` names, which must lie directly inside ``run_dir``."""
    run_dir = Path(run_dir)
    path = run_dir / slot
    if not path.is_symlink() and not path.exists():
        if not run_dir.is_dir():
            raise FileNotFoundError(f"{run_dir}: no checkpoint here: there is no such run folder")
        raise FileNotFoundError(f"{path}: no checkpoint here; is {run_dir} a run folder written by "
                                f"`chainrule train`?")
    if path.is_symlink():
        target = path.resolve()
        if target.parent != run_dir.resolve():
            raise CheckpointError(f"{path}: the link points to {os.readlink(path)}, outside its run folder "
                                  f"{run_dir}; refusing to follow it")
    else:
        target = path
    if not target.is_dir():
        raise CheckpointError(f"{path}: not a checkpoint folder (the link names a missing folder or a file)")
    return target


def _target(link: Path) -> str | None:
    try:
        return os.readlink(link)
    except OSError:
        return None


def read_slot(run_dir, slot: str = "last", attempts: int = 5) -> dict:
    """{file name: bytes} of the checkpoint ``run_dir/slot``, every file verified, all from one folder.

    A trainer may replace the checkpoint while it is read (it writes a new folder, swaps the link,
    then deletes the old folder). A reader that loses the old folder that way sees the link moved
    and reads again from the new one; an error is reported only if the link stayed where it was,
    so a reader always gets one whole checkpoint or a true error, never a mix or a "missing" file.
    """
    run_dir = Path(run_dir)
    link = run_dir / slot
    for attempt in range(attempts):
        before = _target(link)
        try:
            return _read_verified(slot_folder(run_dir, slot), link)
        except (CheckpointError, FileNotFoundError):
            if before is None or _target(link) == before or attempt == attempts - 1:
                raise


def _read_verified(folder: Path, shown: Path) -> dict:
    """{file name: bytes} for every file the manifest lists, each of the recorded size and SHA-256."""
    raw = read_regular(folder / MANIFEST, 1 << 20, CheckpointError, follow_symlinks=False, shown=shown / MANIFEST) \
        if (folder / MANIFEST).exists() or (folder / MANIFEST).is_symlink() else None
    if raw is None:
        raise CheckpointError(f"{shown / MANIFEST}: missing, so the checkpoint cannot be verified "
                              f"(it is incomplete, or was written by an older chainrule)")
    try:
        files = load_json(raw, shown / MANIFEST, CheckpointError)["files"]
        ok = isinstance(files, dict) and all(
            isinstance(v, dict) and isinstance(v.get("size"), int) and v["size"] >= 0
            and isinstance(v.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", v["sha256"])
            for v in files.values())
    except (CheckpointError, TypeError, KeyError):
        ok = False
    if not ok:
        raise CheckpointError(f"{shown / MANIFEST}: damaged (not the JSON list of file sizes and SHA-256 sums "
                              f"chainrule writes)")
    for need in ("model.safetensors", "state.json"):
        if need not in files:
            raise CheckpointError(f"{shown / MANIFEST}: lists no {need}; the checkpoint is incomplete")
    out = {}
    for name, rec in files.items():
        if name not in ("model.safetensors", "optimizer.safetensors", "state.json"):
            raise CheckpointError(f"{shown / MANIFEST}: lists an unexpected file {name!r}")
        p, s = folder / name, shown / name
        if not (p.exists() or p.is_symlink()):
            raise CheckpointError(f"{s}: missing (the manifest lists it); the checkpoint is incomplete")
        # the size first: a file grown (to a 2 GB sparse one, say) is refused unread
        st = p.lstat()
        size = st.st_size if stat.S_ISREG(st.st_mode) else rec["size"]  # not a regular file: read_regular says so
        if size == rec["size"]:
            data = read_regular(p, rec["size"], CheckpointError, follow_symlinks=False, shown=s)
            size = len(data)
        if size != rec["size"]:
            raise CheckpointError(f"{s}: {size} bytes, but {rec['size']} were written; the file is "
                                  f"truncated or was changed")
        if hashlib.sha256(data).hexdigest() != rec["sha256"]:
            raise CheckpointError(f"{s}: its SHA-256 differs from the one recorded when it was written; "
                                  f"the file is damaged")
        out[name] = data
    return out


def _tensors(data: bytes, path) -> dict:
    try:
        return tensorfile.read_bytes(data, path)
    except tensorfile.TensorFileError as e:
        raise CheckpointError(f"{path}: not a valid safetensors file ({str(e)[len(str(path)) + 2:]})") from None


def _is_num(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def check_info(info, path) -> None:
    """The structure of state.json: one line naming the first entry that is missing or of the wrong type."""
    def need(cond, what):
        if not cond:
            raise CheckpointError(f"{path}: {what}; the file is damaged or not written by chainrule")

    need(isinstance(info, dict), f"expected a JSON object, found {type(info).__name__}")
    for key, kind in (("config", dict), ("history", dict), ("rng", dict), ("partial", list)):
        need(isinstance(info.get(key), kind), f"entry {key!r} is missing or not a {kind.__name__}")
    for key in ("epoch", "batch"):
        need(isinstance(info.get(key), int) and not isinstance(info[key], bool) and info[key] >= 0,
             f"entry {key!r} is missing or not a count")
    need(_is_num(info.get("best_val_acc")), "entry 'best_val_acc' is missing or not a number")
    need(len(info["partial"]) == 3 and all(_is_num(v) for v in info["partial"]),
         "entry 'partial' is not [loss sum, correct, seen]")
    names = set(History().to_dict())
    need(set(info["history"]) == names, f"entry 'history' must have exactly the keys {sorted(names)}")
    need(all(isinstance(v, list) and all(_is_num(x) for x in v) for v in info["history"].values()),
         "entry 'history' must hold lists of numbers")
    need(info.get("scheduler") is None or isinstance(info["scheduler"], dict), "entry 'scheduler' is not an object")
    if "optimizer" in info:
        opt = info["optimizer"]
        need(isinstance(opt, dict) and isinstance(opt.get("scalars"), dict)
             and isinstance(opt.get("param_groups"), list)
             and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in opt["param_groups"]),
             "entry 'optimizer' is not {scalars, param_groups}")


def check_run_meta(meta, path) -> None:
    """The run description ``chainrule train`` records under ``config`` in state.json."""
    def need(cond, what):
        if not cond:
            raise CheckpointError(f"{path}: {what}; the file is damaged or not written by `chainrule train`")

    need(isinstance(meta, dict), "entry 'config' is missing or not an object")
    for key in ("run", "model", "preprocess"):
        need(isinstance(meta.get(key), dict), f"entry config.{key} is missing or not an object")
    need(isinstance(meta.get("classes"), list) and meta["classes"] and all(isinstance(c, str) for c in meta["classes"]),
         "entry config.classes is missing or not a list of names")
    need(isinstance(meta.get("n_in"), int) and meta["n_in"] > 0, "entry config.n_in is not a positive count")
    shape = meta.get("image_shape")
    need(shape is None or (isinstance(shape, list) and len(shape) == 3 and all(isinstance(v, int) and v > 0
                                                                             for v in shape)),
         "entry config.image_shape is not [C, H, W]")


def load_checkpoint(run_dir, slot: str = "last"):
    """(model_state, optimizer_state or None, info) from ``run_dir/slot``, every file verified first.

    Raises FileNotFoundError if there is no checkpoint, :class:`CheckpointError` (one line naming
    the file) if it is damaged, incomplete, or its link leads outside the run folder.
    """
    run_dir = Path(run_dir)
    shown = run_dir / slot
    files = read_slot(run_dir, slot)
    info = load_json(files["state.json"], shown / "state.json", CheckpointError)
    if not isinstance(info, dict):
        raise CheckpointError(f"{shown / 'state.json'}: expected a JSON object, found {type(info).__name__}")
    model = _tensors(files["model.safetensors"], shown / "model.safetensors")
    opt = None
    if isinstance(info.get("optimizer"), dict) and "optimizer.safetensors" in files:
        arrays = _tensors(files["optimizer.safetensors"], shown / "optimizer.safetensors")
        opt = _join_optimizer(arrays, info["optimizer"], shown / "optimizer.safetensors")
    return model, opt, info


def check_model_state(state: dict, model, path) -> None:
    """Every tensor of ``state`` named, shaped and typed as ``model.state_dict()`` has it."""
    own = {k: as_array(v) for k, v in model.state_dict().items()}
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    for k, v in own.items():
        if k in state:
            got, v = state[k], as_array(v)
            if got.shape != v.shape:
                problems.append(f"{k} has shape {got.shape}, the model {v.shape}")
            elif got.dtype != v.dtype:
                problems.append(f"{k} is {got.dtype}, the model {v.dtype}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError(f"{path}: does not fit the model: {'; '.join(problems[:3])}{more}")


def _same_kind(saved, now) -> bool:
    if isinstance(now, bool) or isinstance(saved, bool):
        return type(saved) is type(now)
    if isinstance(now, Real):
        return _is_num(saved) and math.isfinite(saved)
    if isinstance(now, (list, tuple)):
        return isinstance(saved, (list, tuple)) and len(saved) == len(now) and all(
            _same_kind(a, b) for a, b in zip(saved, now))
    return saved is None if now is None else type(saved) is type(now)


def check_optimizer_state(state: dict, optimizer, path) -> None:
    """Buffers for existing parameters only, each of its parameter's shape and dtype; the same buffers
    for every parameter; hyper-parameters of the kinds the optimizer uses."""
    params = optimizer._params()
    groups = state["param_groups"]
    want = [len(g["params"]) for g in optimizer.param_groups]
    if [len(g["params"]) for g in groups] != want:
        raise CheckpointError(f"{path}: holds {[len(g['params']) for g in groups]} parameters per group, "
                              f"the optimizer {want}")
    for saved, g in zip(groups, optimizer.param_groups):
        for k, v in g.items():
            if k == "params":
                continue
            if k not in saved:
                raise CheckpointError(f"{path}: setting {k!r} of the optimizer is missing")
            if not _same_kind(saved[k], v):
                raise CheckpointError(f"{path}: setting {k!r} is {saved[k]!r}, not a value like {v!r}")
        extra = set(saved) - set(g)
        if extra:
            raise CheckpointError(f"{path}: unexpected optimizer settings {sorted(extra)}")
    names = None
    for i, bufs in state["state"].items():
        if not 0 <= i < len(params):
            raise CheckpointError(f"{path}: buffers for parameter {i}, but the model has {len(params)}")
        p = as_array(params[i])
        for n, v in bufs.items():
            if isinstance(v, np.ndarray) and v.ndim == 0:   # a 0-d buffer (Adam's step) is a number
                v = v.item()
            if isinstance(v, np.ndarray):
                if v.shape != p.shape or v.dtype != p.dtype:
                    raise CheckpointError(f"{path}: buffer {n} of parameter {i} is {v.dtype} {v.shape}, "
                                          f"the parameter {p.dtype} {p.shape}")
            elif not _is_num(v) or not math.isfinite(v):
                raise CheckpointError(f"{path}: buffer {n} of parameter {i} is {v!r}, not a number")
        if names is None:
            names = set(bufs)
        elif set(bufs) != names:
            raise CheckpointError(f"{path}: parameter {i} has buffers {sorted(bufs)}, others {sorted(names)}")
    if state["state"] and len(state["state"]) != len(params):
        missing = sorted(set(range(len(params))) - set(state["state"]))
        raise CheckpointError(f"{path}: no optimizer buffers for parameter(s) {missing}")


def check_scheduler_state(state: dict, scheduler, path) -> None:
    """The saved schedule has exactly this scheduler's entries, each of the same kind."""
    now = scheduler.state_dict()
    # a checkpoint from before the schedulers kept PyTorch's private entries (_last_lr...) lacks only those
    if set(state) - set(now) or {k for k in set(now) - set(state) if not k.startswith("_")}:
        raise CheckpointError(f"{path}: the saved learning-rate schedule has entries {sorted(state)}, "
                              f"this {type(scheduler).__name__} {sorted(now)}")
    for k, v in now.items():
        if k in state and not _same_kind(state[k], v):
            raise CheckpointError(f"{path}: schedule entry {k!r} is {state[k]!r}, not a value like {v!r}")


def load_for_resume(run_dir, slot, model, optimizer, scheduler=None, reset_optimizer: bool = False,
                    reset_scheduler: bool = False):
    """(model_state, optimizer_state or None, scheduler_state or None, info), each checked against
    the objects it will be loaded into. A missing optimizer or scheduler state is refused unless
    ``reset_optimizer`` / ``reset_scheduler`` says to start it fresh (then None is returned for it)."""
    model_state, opt_state, info = load_checkpoint(run_dir, slot)
    shown = Path(run_dir) / slot
    check_info(info, shown / "state.json")
    check_model_state(model_state, model, shown / "model.safetensors")
    if reset_optimizer:
        opt_state = None
    elif opt_state is None:
        raise CheckpointError(f"{shown}: holds no optimizer state; to continue with fresh optimizer buffers, "
                              f"resume with --reset-optimizer")
    else:
        check_optimizer_state(opt_state, optimizer, shown / "optimizer.safetensors")
    sched_state = None
    if scheduler is not None and not reset_scheduler:
        sched_state = info.get("scheduler")
        if sched_state is None:
            raise CheckpointError(f"{shown / 'state.json'}: holds no learning-rate schedule state; to restart "
                                  f"the schedule, resume with --reset-scheduler")
        check_scheduler_state(sched_state, scheduler, shown / "state.json")
    return model_state, opt_state, sched_state, info
