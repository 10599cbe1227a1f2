"""What a run is: its settings (RunConfig), their checks, the defaults of each dataset, and how
flags, a config file and those defaults merge into one configuration.

Every entry point (``train``, ``sweep``, the MPI ranks) builds its RunConfig with
:func:`resolve_config`, so a setting means the same everywhere.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from chainrule import nn, optim
from chainrule.compiler import MODES
from chainrule.fileio import load_json, read_regular
from chainrule.nn import functional as F
from chainrule.train import models


@dataclass(frozen=True)
class OptimizerSpec:
    """One entry of the optimizer registry: the class, whether it takes ``momentum``, and how many
    buffers of a parameter's size its state holds (for the memory estimate)."""

    cls: type
    momentum: bool
    buffers: int

    def build(self, params, lr: float, momentum: float):
        return self.cls(params, lr=lr, momentum=momentum) if self.momentum else self.cls(params, lr=lr)


DTYPES = ("float32", "float64")

# the one list of optimizers a run can use (train's --optimizer, the sweep's choices, the memory estimate)
OPTIMIZERS = {
    "sgd": OptimizerSpec(optim.SGD, True, 1),
    "adam": OptimizerSpec(optim.Adam, False, 2),
    "adamw": OptimizerSpec(optim.AdamW, False, 2),
    "rmsprop": OptimizerSpec(optim.RMSprop, True, 3),
    "adagrad": OptimizerSpec(optim.Adagrad, False, 1),
}
DATASETS = ("spiral", "xor", "blobs", "cifar10", "mnist")
LOSSES = {"softmax": F.cross_entropy, "svm": F.svm_loss}


@dataclass
class RunConfig:
    """Everything a run depends on; saved in config.json and in every checkpoint."""

    dataset: str = "spiral"          # spiral, xor, blobs (built in), cifar10, mnist (files in data_dir)
    data_dir: str | None = None      # folder of the CIFAR-10 / MNIST files
    hidden: tuple = (100,)           # hidden layer widths: (100,) is the lecture's 2-layer net
    model: str = "mlp"               # mlp, or convnet (image data): conv blocks, then the hidden layers
    channels: tuple = (16, 32)       # convnet: output channels of each conv block (conv, activation, pool)
    kernels: tuple = (5,)            # convnet: kernel size of each block (one value: all), padding "same"
    pool: int = 2                    # convnet: max-pool window and stride after each block (1: none)
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
    compile: bool | str = False      # replay each step with chainrule.compile (eager is the reference);
    #                                  a string: compile's mode ("max-autotune": the fastest engines)

    @classmethod
    def defaults(cls, dataset: str = "spiral") -> "RunConfig":
        """The settings a run on ``dataset`` starts from: the class's, then DATASET_DEFAULTS."""
        extra = DATASET_DEFAULTS.get(dataset, {}) if isinstance(dataset, str) else {}
        return cls(**{"dataset": dataset, **extra})

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """The settings in ``d``; a setting ``d`` lacks takes its dataset's default."""
        names = {f.name for f in fields(cls)}
        base = asdict(cls.defaults(d.get("dataset", cls.dataset)))
        cfg = cls(**{**base, **{k: v for k, v in d.items() if k in names}})
        for name in TUPLE_SETTINGS:
            if isinstance(getattr(cfg, name), list):
                setattr(cfg, name, tuple(getattr(cfg, name)))
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
        if not isinstance(self.compile, bool) and self.compile not in MODES:
            raise ValueError(f"--compile: unknown mode {self.compile!r}; choose from {', '.join(MODES)}")
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
        if self.model not in models.MODELS:
            raise ValueError(f"--model: unknown {self.model!r}; choose from {', '.join(models.MODELS)}")
        for name in ("channels", "kernels"):
            v = getattr(self, name)
            if not isinstance(v, (tuple, list)) or not v or not all(
                    isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in v):
                raise ValueError(f"--{name} needs positive integers separated by commas, like 16,32; got {v!r}")
        _check_range("pool", self.pool, 1, None, integer=True, note="(1: no pooling)")
        if self.model == "convnet" and self.dataset not in IMAGE_SHAPES:
            raise ValueError(f"--model convnet needs image data (--dataset {' or '.join(IMAGE_SHAPES)}), "
                             f"not {self.dataset}")
        if self.model == "convnet":
            _check_blocks(self.channels, self.kernels, self.pool, IMAGE_SHAPES[self.dataset])
        if self.dtype not in DTYPES:    # what `train --dtype` offers; float16 has no training path
            raise ValueError(f"--dtype: unknown {self.dtype!r}; choose float32 or float64")
        need, have = memory_needed(self), memory_available()
        if have is not None and need > have and self.model == "convnet":
            raise ValueError(f"--channels {','.join(map(str, self.channels))}: the convnet needs about "
                             f"{human_bytes(need)} for its weights, gradients, optimizer state and one batch, "
                             f"more than the {human_bytes(have)} available; choose fewer channels or a smaller "
                             f"--batch-size")
        if have is not None and need > have:
            sizes = [DATASET_SIZES[self.dataset][0], *self.hidden, DATASET_SIZES[self.dataset][1]]
            raise ValueError(f"--hidden {','.join(map(str, self.hidden))}: the model {sizes} needs about "
                             f"{human_bytes(need)} for its weights, gradients and optimizer state, more than the "
                             f"{human_bytes(have)} of memory available; choose smaller widths")


# What a run on each dataset starts from when no flag or config file says otherwise (RunConfig's
# own defaults are the spiral's). Both were chosen by benchmarks/bench_defaults.py (README lists the
# grids): CIFAR-10's on the CIFAR-10 subset, MNIST's on the first 10000 MNIST training images.
DATASET_DEFAULTS = {
    "cifar10": {"hidden": (100, 100), "lr": 3e-2, "reg": 1e-4, "epochs": 10, "batch_size": 64, "lr_step": 5},
    "mnist": {"hidden": (100, 100), "lr": 1e-1, "reg": 1e-3, "epochs": 10, "batch_size": 64, "lr_step": 5},
}

PREPROCESS = ("auto", "none", "scale", "mean_image", "channel")
# inputs and classes of each dataset, known before any file is read
DATASET_SIZES = {"spiral": (2, 3), "xor": (2, 2), "blobs": (2, 3), "cifar10": (3072, 10), "mnist": (784, 10)}
IMAGE_SHAPES = {"cifar10": (3, 32, 32), "mnist": (1, 28, 28)}
TUPLE_SETTINGS = ("hidden", "channels", "kernels")  # lists in JSON, tuples in a RunConfig


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


def _check_blocks(channels, kernels, pool: int, shape) -> None:
    """A kernel size for every conv block (one for all, or one each), and an image that each
    block's pooling leaves at least one pixel of."""
    if len(kernels) not in (1, len(channels)):
        raise ValueError(f"--kernels {','.join(map(str, kernels))}: {len(kernels)} kernel sizes for "
                         f"{len(channels)} conv blocks (--channels {','.join(map(str, channels))}); give one "
                         f"size for all blocks or one per block")
    side = min(shape[1:]) // pool ** len(channels)
    if side < 1:
        raise ValueError(f"--pool {pool}: {len(channels)} conv blocks each pooling by {pool} shrink a "
                         f"{shape[1]}x{shape[2]} image to nothing; use fewer --channels or a smaller --pool")


def human_bytes(n: int) -> str:
    """A byte count as people read it: 512 bytes, 3.2 MB, 1.5 GB (powers of 1000)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def memory_needed(cfg: RunConfig) -> int:
    """Bytes a training run of ``cfg`` needs for its model: weights, gradients, optimizer buffers
    and one batch of activations (an estimate made before anything is allocated)."""
    n_in, n_out = DATASET_SIZES[cfg.dataset]
    copies = 2 + (OPTIMIZERS[cfg.optimizer].buffers if cfg.optimizer in OPTIMIZERS else 2)
    item = np.dtype(cfg.dtype).itemsize
    if cfg.model == "convnet" and cfg.dataset in IMAGE_SHAPES:
        return _convnet_memory(cfg, IMAGE_SHAPES[cfg.dataset], n_out, copies, item)
    sizes = [n_in, *cfg.hidden, n_out]
    params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    activations = cfg.batch_size * sum(sizes) * 4
    return copies * params * item + activations * item


def _convnet_memory(cfg: RunConfig, shape, n_out: int, copies: int, item: int) -> int:
    """memory_needed for a convnet: its parameters times the optimizer's copies, plus one batch of
    activations and unfolded columns (kernel^2 per input value, 16 MB at a time at most) per block."""
    c, h, w = shape
    kernels = list(cfg.kernels) * (len(cfg.channels) if len(cfg.kernels) == 1 else 1)
    params, acts = 0, 0
    for out, k in zip(cfg.channels, kernels):
        params += out * (c * k * k + 1)
        acts += 4 * out * h * w
        if cfg.pool > 1:
            h, w = h // cfg.pool, w // cfg.pool
        c = out
    sizes = [c * h * w, *cfg.hidden, n_out]
    params += sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    return copies * params * item + cfg.batch_size * (acts + sum(sizes)) * item + (16 << 20)


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




def load_config(path) -> RunConfig:
    """A RunConfig from a JSON file: a flat one (a sweep's best.json) or a run's config.json."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such config file")
    d = load_json(read_regular(path, 1 << 20, ValueError), path)  # not a FIFO or /dev/zero; at most 1 MiB
    if isinstance(d, dict) and isinstance(d.get("run"), dict):
        d = d["run"]
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a JSON object of settings")
    unknown = sorted(set(d) - {f.name for f in fields(RunConfig)})
    if unknown:
        raise ValueError(f"{path}: unknown setting {unknown[0]!r}")
    return RunConfig.from_dict(d)




def given_settings(options) -> dict:
    """The RunConfig fields an options object (argparse's Namespace) sets, that is, not None."""
    return {f.name: getattr(options, f.name) for f in fields(RunConfig) if getattr(options, f.name, None) is not None}


def resolve_config(given: dict, config_file=None) -> RunConfig:
    """The configuration of a new run: ``config_file`` (a run's config.json or a sweep's best.json)
    if given, else the defaults of the dataset; then every setting in ``given`` on top."""
    unknown = sorted(set(given) - {f.name for f in fields(RunConfig)})
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}")
    if config_file:
        cfg = load_config(config_file)
    else:
        cfg = RunConfig.defaults(given.get("dataset", RunConfig.dataset))
    for name, value in given.items():
        setattr(cfg, name, tuple(value) if name in TUPLE_SETTINGS else value)
    return cfg
