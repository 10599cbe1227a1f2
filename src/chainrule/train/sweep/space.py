"""The search space: ``lr=1e-4:1e-1:log`` and ``hidden=50,100,100x100`` parsed, checked and sampled.

A list setting (``hidden``, and the convnet's ``channels`` and ``kernels``) is searched over choices
separated by commas, each list written with "x": ``channels=16x32,32x64`` tries the blocks 16,32 and
32,64 (a range, ``hidden=50:200``, tries one-entry lists). ``model``, ``pool`` and every other
setting are searched as any string or number is: ``model=mlp,convnet``, ``pool=1,2``.

Every bound and choice is checked against train's own validation (``RunConfig.validate``), and a
value that changes the data (``val_fraction``, ``limit``, ``dataset``) against ``run.load_data``
as well, so a value ``train`` would refuse is refused before the first trial.

Example:
    >>> sorted(parse_search(["lr=1e-3:1:log", "hidden=50,100x100"]))
    ['hidden', 'lr']
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from chainrule.train import run as run_mod
from chainrule.train.config import TUPLE_SETTINGS, RunConfig

NOT_SEARCHABLE = ("data_dir",)
# what one choice of a list setting looks like, for its error message
LIST_EXAMPLES = {"hidden": "a hidden size (like 100, or 100x100 for two layers)",
                 "channels": "a list of conv channels (like 16, or 16x32 for two blocks)",
                 "kernels": "a list of kernel sizes (like 5, or 5x3 for two blocks)"}
# settings that change the loaded data: their searched values are tried on the data before any trial
DATA_FIELDS = ("dataset", "limit", "val_fraction", "seed", "preprocess", "dtype")


@dataclass
class Param:
    """One searched setting: a float/int range (``log``: log-uniform) or a list of choices."""

    name: str
    kind: str                      # "float", "int" or "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list = field(default_factory=list)

    def suggest(self, trial):
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_categorical(self.name, self.choices)

    def to_config(self, value):
        """The RunConfig value for an Optuna value (lists travel as "100x100": hidden, channels, kernels)."""
        if self.name in TUPLE_SETTINGS:
            return tuple(int(w) for w in str(value).split("x"))
        return value

    def extremes(self) -> list:
        """The values a check must try: both bounds of a range, every choice."""
        return [self.low, self.high] if self.kind != "choice" else list(self.choices)

    def spec(self) -> str:
        """How the user wrote it: ``lr=0.001:1:log``, ``hidden=50,100x100``."""
        if self.kind == "choice":
            return f"{self.name}={','.join(map(str, self.choices))}"
        return f"{self.name}={self.low:g}:{self.high:g}" + (":log" if self.log else "")

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "name"}


def _field_kinds() -> dict:
    d = RunConfig()
    return {f.name: type(getattr(d, f.name)).__name__ for f in fields(RunConfig) if f.name not in NOT_SEARCHABLE}


def _number(text: str, kind: str, spec: str):
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        raise ValueError(f"--search {spec}: {text!r} is not {'an integer' if kind == 'int' else 'a number'}") from None


def _parse_one(spec: str, name: str, kind: str, body: str) -> Param:
    if ":" in body:
        parts = body.split(":")
        log = len(parts) == 3 and parts[2] == "log"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log) or "," in body:
            raise ValueError(f"--search {spec}: malformed range; expected {name}=LOW:HIGH or {name}=LOW:HIGH:log")
        if kind == "str":
            raise ValueError(f"--search {spec}: {name} takes choices ({name}=A,B,C), not a range")
        num = "int" if kind in ("int", "tuple") else "float"
        low, high = (_number(p, num, spec) for p in parts[:2])
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"--search {spec}: bounds must be finite")
        if low > high:
            raise ValueError(f"--search {spec}: low bound {low:g} is above the high bound {high:g}")
        if log and low <= 0:
            raise ValueError(f"--search {spec}: a log range needs bounds > 0 (got {low:g}:{high:g})")
        return Param(name, num, low, high, log)
    items = [s.strip() for s in body.split(",")]
    if not all(items):
        raise ValueError(f"--search {spec}: empty choice in {body!r}")
    if kind == "tuple":
        for s in items:
            if not all(w.isdigit() and int(w) > 0 for w in s.split("x")):
                raise ValueError(f"--search {spec}: {s!r} is not {LIST_EXAMPLES.get(name, 'a list like 16x32')}")
        choices = items
    elif kind in ("int", "float"):
        choices = [_number(s, kind, spec) for s in items]
    else:
        choices = items
    if len(set(choices)) != len(choices):
        raise ValueError(f"--search {spec}: a choice is listed twice")
    return Param(name, "choice", choices=choices)


def parse_search(specs, base: RunConfig | None = None) -> dict:
    """``{name: Param}`` from strings ``NAME=LOW:HIGH[:log]`` or ``NAME=A,B,C`` (or a dict of such strings).

    Every bound and choice is checked with ``RunConfig.validate`` on ``base``, so a value ``train`` would
    refuse is refused here, before any trial runs.
    """
    if isinstance(specs, dict):
        specs = [f"{k}={v}" for k, v in specs.items()]
    base = base or RunConfig()
    kinds = _field_kinds()
    space = {}
    for spec in specs:
        name, eq, body = str(spec).partition("=")
        name = name.strip().replace("-", "_")
        if not eq or not name or not body.strip():
            raise ValueError(f"--search {spec!r}: expected NAME=LOW:HIGH[:log] or NAME=A,B,C")
        if name not in kinds:
            raise ValueError(f"--search {spec}: unknown parameter {name!r}; searchable: {', '.join(kinds)}")
        if name in space:
            raise ValueError(f"--search {spec}: {name} is searched twice")
        p = _parse_one(spec, name, kinds[name], body.strip())
        for cfg, v in variants(base, p):
            try:
                cfg.validate()
            except (ValueError, TypeError) as e:
                raise ValueError(f"--search {spec}: {name}={v}: {e}") from None
        space[name] = p
    return space


def variants(base: RunConfig, p: Param):
    """(config, value) for each extreme value of ``p`` on the fixed settings ``base``."""
    for v in p.extremes():
        yield replace(base, **{p.name: p.to_config(v)}), v


def check_data(space: dict, base: RunConfig) -> None:
    """Load the data once for each extreme of every searched setting that changes it (``val_fraction``,
    ``limit``, ...), so that a split ``train`` would refuse is refused before the first trial."""
    for p in space.values():
        if p.name not in DATA_FIELDS:
            continue
        for cfg, v in variants(base, p):
            try:
                run_mod.load_data(cfg)
            except ValueError as e:
                raise ValueError(f"--search {p.spec()}: {p.name}={v}: {e}") from None


def space_json(space: dict) -> dict:
    return {n: p.to_json() for n, p in sorted(space.items())}


def space_from_json(d: dict) -> dict:
    return {n: Param(n, **v) for n, v in d.items()}


def describe(space_dict: dict) -> str:
    """``lr=0.001:1:log reg=1e-06:0.01:log`` for a space as stored in sweep.json."""
    return " ".join(p.spec() for p in space_from_json(space_dict).values())
