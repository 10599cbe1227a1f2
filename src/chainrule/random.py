"""The library's random number generator: one seeded NumPy Generator for init, dropout and shuffling."""
from __future__ import annotations

import json
import secrets

import numpy as np

from chainrule import devices
from chainrule.core import TensorBase, make

_seed = secrets.randbits(63)   # the stream's seed until manual_seed (initial_seed reports it)
_rng = np.random.default_rng(_seed)


def manual_seed(seed: int) -> np.random.Generator:
    """Seed chainrule's generator (weights, dropout masks, randn/rand without rng=)."""
    global _rng, _seed
    _rng, _seed = np.random.default_rng(seed), seed
    return _rng


def seed() -> int:
    """Seed chainrule's generator with a fresh non-deterministic number, and return it (torch.seed)."""
    s = secrets.randbits(63)
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed of chainrule's generator: the last one given to manual_seed or drawn by seed()."""
    return _seed


def get_rng() -> np.random.Generator:
    """The generator in use (its ``bit_generator.state`` is saved in checkpoints)."""
    return _rng


def resolve(rng=None) -> np.random.Generator:
    """``rng`` as a Generator: None -> the library's, an int -> a new seeded one."""
    if rng is None:
        return _rng
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, Generator):
        return rng.rng
    return np.random.default_rng(rng)


def dropout_mask(rng, shape, p: float, dtype) -> np.ndarray:
    """A fresh inverted-dropout mask of ``shape``: 0 with probability p, else 1 / (1 - p), in ``dtype``,
    drawn from ``rng`` (as :func:`resolve` takes it). The one draw that ``chainrule.compile`` repeats in
    a replay (a fresh mask each call, from the same stream as eager)."""
    dtype = np.dtype(dtype)
    keep = resolve(rng).random(shape) >= p
    return keep.astype(dtype) / dtype.type(1 - p)


class Generator:
    """A random number generator to pass as ``generator=`` (PyTorch's ``torch.Generator``); it wraps a
    NumPy Generator, so its streams differ from PyTorch's."""

    def __init__(self, device="cpu"):
        devices.check(device)
        self.rng = np.random.default_rng()
        self._seed = None

    def manual_seed(self, seed: int) -> "Generator":
        self.rng, self._seed = np.random.default_rng(seed), seed
        return self

    def initial_seed(self):
        """The seed given to ``manual_seed`` (or drawn by ``seed``); None for an unseeded generator."""
        return self._seed

    def seed(self) -> int:
        """Seed from the operating system's entropy and return that seed (PyTorch's)."""
        s = secrets.randbits(63)
        self.manual_seed(s)
        return s

    def get_state(self):
        """The stream's state as a uint8 tensor (PyTorch's ByteTensor; its bytes are chainrule's own,
        NumPy's PCG64 state): ``set_state`` of it continues the same stream."""
        state = json.dumps({"seed": self._seed, "bit_generator": self.rng.bit_generator.state})
        return make(np.frombuffer(state.encode(), np.uint8).copy())

    def set_state(self, new_state) -> "Generator":
        """Restore a state from :meth:`get_state`."""
        data = new_state._data if isinstance(new_state, TensorBase) else np.asarray(new_state)
        try:
            state = json.loads(data.astype(np.uint8).tobytes().decode())
            rng = np.random.default_rng()
            rng.bit_generator.state = state["bit_generator"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise RuntimeError(f"Generator.set_state: not a state from Generator.get_state ({e})") from None
        self.rng, self._seed = rng, state["seed"]
        return self
