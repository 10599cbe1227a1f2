"""What a sweep is: the fixed settings, the space, the objective; kept as SWEEP_DIR/sweep.json.

The sweep folder is always the one a command was given: ``Spec.load(folder)`` sets ``out`` to
that folder's absolute path, whatever sweep.json recorded, so ``sweep --report ../A/sw`` from
anywhere reads and writes ``../A/sw`` and nothing else.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from chainrule.fileio import read_regular, write_atomic
from chainrule.train.config import RunConfig
from chainrule.train.sweep.space import parse_search, space_from_json, space_json

METRICS = {"val_acc": "maximize", "val_loss": "minimize", "train_acc": "maximize", "train_loss": "minimize"}
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving")


def redact(url: str | None) -> str | None:
    """The URL without its password (what sweep.json keeps)."""
    if not url or "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    cred, host = rest.rsplit("@", 1)
    return f"{scheme}://{cred.split(':', 1)[0]}@{host}"


@dataclass
class Spec:
    """What a sweep is: fixed config, space, objective; saved as SWEEP_DIR/sweep.json."""

    out: str                         # the sweep folder, absolute
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
        return space_from_json(self.space)

    def save(self) -> None:
        d = asdict(self)
        d["storage"] = redact(self.storage)
        write_atomic(Path(self.out) / "sweep.json", json.dumps(d, indent=1))

    @classmethod
    def load(cls, out) -> "Spec":
        path = Path(out) / "sweep.json"
        if not path.exists():
            raise FileNotFoundError(f"{out}: no sweep here (no sweep.json)")
        try:
            d = json.loads(read_regular(path, 1 << 20, ValueError))
            spec = cls(**d)
            spec.check()
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"{path}: not a sweep.json written by chainrule sweep ({msg})") from None
        spec.out = os.path.abspath(out)     # the folder given, never a path stored relative to another
        return spec

    def check(self) -> None:
        """Every field of the kind it must be (a damaged or edited sweep.json is refused as a whole)."""
        if not isinstance(self.base, dict) or not set(self.base) <= {f.name for f in fields(RunConfig)}:
            raise ValueError("base: not the settings of a run")     # (a setting added since may be missing)
        self.config().validate()
        space = self.params()
        if not space or any(p.kind not in ("float", "int", "choice") for p in space.values()):
            raise ValueError("no search space")
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise ValueError(f"trials={self.trials!r}")
        for name, value, allowed in (("metric", self.metric, METRICS), ("sampler", self.sampler, SAMPLERS),
                                     ("prune", self.prune, (None, *PRUNERS))):
            if value not in allowed:
                raise ValueError(f"{name}={value!r}")
        if not isinstance(self.study, str) or not (self.storage is None or isinstance(self.storage, str)):
            raise ValueError("study and storage must be names")
        for name in ("timeout", "sampler_seed"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ValueError(f"{name}={v!r}")


def make_spec(config=None, search=(), trials: int = 20, out="sweeps/sweep", storage: str | None = None,
              study: str | None = None, sampler: str = "tpe", prune: str | None = None, metric: str = "val_acc",
              timeout: float | None = None, sampler_seed: int | None = None) -> Spec:
    """Check every argument (nothing is written, no data read) and return the sweep's Spec."""
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
    if base.data_dir:
        base.data_dir = os.path.abspath(base.data_dir)
    space = parse_search(search, base)
    if not space:
        raise ValueError("nothing to search: give at least one --search NAME=LOW:HIGH[:log] or NAME=A,B,C")
    fixed = set(config) if isinstance(config, dict) else set()
    both = sorted(fixed & set(space))
    if both:
        raise ValueError(f"{both[0]} is both fixed (--{both[0].replace('_', '-')}) and searched; drop one")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
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
    out = Path(os.path.abspath(out))
    if study is None:        # the folder's own study, also after the folder was moved or renamed
        study = Spec.load(out).study if (out / "sweep.json").exists() else (out.name or "sweep")
    return Spec(out=str(out), base=json.loads(json.dumps(asdict(base))), space=space_json(space), trials=trials,
                study=study, storage=storage, sampler=sampler, prune=prune, metric=metric,
                timeout=timeout, sampler_seed=sampler_seed)
