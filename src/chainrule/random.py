"""The library's random number generator: one seeded NumPy Generator for init, dropout and shuffling."""
from __future__ import annotations

import numpy as np

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
    return np.random.default_rng(rng)
