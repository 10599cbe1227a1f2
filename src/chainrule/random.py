"""The library's random number generator: one seeded NumPy Generator for init, dropout and shuffling."""
from __future__ import annotations

import numpy as np

from chainrule import devices

_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed chainrule's generator (weights, dropout masks, randn/rand without rng=)."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


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
        return self._seed
