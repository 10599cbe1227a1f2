"""Checkpoints: safetensors for arrays, JSON for everything else, written atomically.

A checkpoint is a folder ``RUN_DIR/<slot>`` (slot "last" or "best") holding
``model.safetensors`` (keys exactly as ``state_dict()`` gives them, so
``torch.nn.Sequential`` with the same layers loads it), ``optimizer.safetensors``
(the optimizer's buffers) and ``state.json`` (configuration, optimizer and
scheduler settings, RNG state, position in training, history).

``RUN_DIR/<slot>`` is a symbolic link to a folder that is written completely
(every file flushed and fsynced) before the link is swapped with an atomic
rename, so a process killed at any moment leaves the previous checkpoint whole.
No file is ever unpickled or executed: safetensors and JSON hold data only.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _split_optimizer(state: dict):
    """Optimizer state_dict -> (arrays for safetensors, JSON-able rest)."""
    arrays, scalars = {}, {}
    for i, buffers in state["state"].items():
        for name, v in buffers.items():
            if isinstance(v, np.ndarray):
                arrays[f"state.{i}.{name}"] = np.ascontiguousarray(v)
            else:
                scalars.setdefault(str(i), {})[name] = v
    return arrays, {"scalars": scalars, "param_groups": state["param_groups"]}


def _join_optimizer(arrays: dict, meta: dict) -> dict:
    state: dict = {}
    for key, v in arrays.items():
        _, i, name = key.split(".", 2)
        state.setdefault(int(i), {})[name] = v
    for i, sc in meta["scalars"].items():
        state.setdefault(int(i), {}).update(sc)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir, slot: str, model_state: dict, optimizer_state: dict | None, info: dict) -> Path:
    """Write a checkpoint into ``run_dir/slot`` atomically; return its folder."""
    from safetensors.numpy import save as st_save

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    folder = run_dir / f".{slot}-{time.time_ns()}"
    folder.mkdir()
    _write(folder / "model.safetensors",
           st_save({k: np.ascontiguousarray(v) for k, v in model_state.items()}, metadata={"format": "pt"}))
    info = dict(info)
    if optimizer_state is not None:
        arrays, meta = _split_optimizer(optimizer_state)
        _write(folder / "optimizer.safetensors", st_save(arrays) if arrays else st_save({}))
        info["optimizer"] = meta
    _write(folder / "state.json", json.dumps(info, indent=1).encode())
    _fsync_dir(folder)
    link, tmp = run_dir / slot, run_dir / f".{slot}.link"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(folder.name, tmp)
    os.replace(tmp, link)  # the atomic step
    _fsync_dir(run_dir)
    # the link now names the new folder: every other folder of this slot (the previous one, or
    # one left half-written by a killed writer) is garbage
    for p in run_dir.glob(f".{slot}-*"):
        if p != folder:
            shutil.rmtree(p, ignore_errors=True)
    return folder


def load_checkpoint(run_dir, slot: str = "last"):
    """(model_state, optimizer_state or None, info) from ``run_dir/slot``; a clear error if absent."""
    from safetensors.numpy import load_file

    path = Path(run_dir) / slot
    if not (path / "state.json").exists():
        raise FileNotFoundError(f"{path}: no checkpoint here (expected {path / 'state.json'}); "
                                f"is {run_dir} a run folder written by `chainrule train`?")
    try:
        info = json.loads((path / "state.json").read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path / 'state.json'}: not valid JSON ({e})") from None
    model = load_file(str(path / "model.safetensors"))
    opt = None
    if "optimizer" in info and (path / "optimizer.safetensors").exists():
        opt = _join_optimizer(load_file(str(path / "optimizer.safetensors")), info["optimizer"])
    return model, opt, info
