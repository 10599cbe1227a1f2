"""Preprocessing: scaling, mean-image subtraction, per-channel normalisation, a reproducible split.

Each fitted transform is a small dataclass whose statistics come from the training data only and
are saved with the run, so evaluation and prediction preprocess exactly as training did.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def train_val_split(n: int, val_fraction: float, seed: int = 0):
    """Indices (train, val) of a shuffled split; the same seed gives the same split."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    idx = np.random.default_rng(seed).permutation(n)
    k = int(round(n * val_fraction))
    return np.sort(idx[k:]), np.sort(idx[:k])


@dataclass
class Preprocess:
    """x -> ((x * scale) - mean) / std, with mean and std per feature or per channel.

    kind: "none", "scale" (divide by 255), "mean_image" (subtract the mean training image) or
    "channel" (per-channel mean and std, for images of shape (N, C, H, W)).
    """

    kind: str = "none"
    scale: float = 1.0
    mean: list = field(default_factory=list)
    std: list = field(default_factory=list)

    @classmethod
    def fit(cls, X: np.ndarray, kind: str) -> "Preprocess":
        scale = 1 / 255 if X.dtype == np.uint8 else 1.0
        Xs = X.astype(np.float64) * scale
        if kind in ("none", "scale"):
            return cls(kind, scale if kind == "scale" else 1.0)
        if kind == "mean_image":
            return cls(kind, scale, Xs.mean(axis=0).reshape(-1).tolist())
        if kind == "channel":
            axes = (0,) + tuple(range(2, X.ndim))
            return cls(kind, scale, Xs.mean(axis=axes).tolist(), (Xs.std(axis=axes) + 1e-8).tolist())
        raise ValueError(f"unknown preprocessing {kind!r}; use none, scale, mean_image or channel")

    def __call__(self, X: np.ndarray, dtype=np.float32) -> np.ndarray:
        out = X.astype(dtype) * dtype(self.scale) if self.scale != 1.0 else X.astype(dtype)
        if self.kind == "mean_image":
            out = (out.reshape(len(out), -1) - np.asarray(self.mean, dtype)).reshape(X.shape)
        elif self.kind == "channel":
            shape = (1, -1) + (1,) * (X.ndim - 2)
            out = (out - np.asarray(self.mean, dtype).reshape(shape)) / np.asarray(self.std, dtype).reshape(shape)
        return out
