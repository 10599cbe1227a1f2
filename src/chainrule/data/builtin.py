"""Built-in 2-D datasets that need no files, deterministic from a seed."""
from __future__ import annotations

import numpy as np

from chainrule.data.loader import ArrayDataset


def spiral(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int = 0) -> ArrayDataset:
    """The classic spiral: ``n_classes`` arms that no linear classifier can separate.

    Each arm k has points at radius r in [0, 1] and angle t = 4k + 4r + noise.
    Shape: X (n_per_class * n_classes, 2) float32, y int64.
    """
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(n_classes):
        r = np.linspace(0.0, 1, n_per_class)
        t = np.linspace(k * 4, (k + 1) * 4, n_per_class) + rng.standard_normal(n_per_class) * noise
        X.append(np.c_[r * np.sin(t), r * np.cos(t)])
        y.append(np.full(n_per_class, k))
    return ArrayDataset(np.concatenate(X).astype(np.float32), np.concatenate(y).astype(np.int64),
                        classes=[f"arm {k}" for k in range(n_classes)])


def xor(n: int = 400, noise: float = 0.1, seed: int = 0) -> ArrayDataset:
    """Points around the four corners (+-1, +-1); the class is 1 where the signs differ (XOR)."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, (n, 2))
    X = (corners * 2 - 1) + rng.standard_normal((n, 2)) * noise
    y = corners[:, 0] ^ corners[:, 1]
    return ArrayDataset(X.astype(np.float32), y.astype(np.int64), classes=["same sign", "different sign"])


def blobs(n_per_class: int = 100, n_classes: int = 3, std: float = 0.5, seed: int = 0) -> ArrayDataset:
    """Gaussian clusters with centres on a circle of radius 2: separable by a linear classifier."""
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    centres = 2 * np.c_[np.cos(angles), np.sin(angles)]
    X = np.concatenate([c + rng.standard_normal((n_per_class, 2)) * std for c in centres])
    y = np.repeat(np.arange(n_classes), n_per_class)
    return ArrayDataset(X.astype(np.float32), y.astype(np.int64), classes=[f"blob {k}" for k in range(n_classes)])
