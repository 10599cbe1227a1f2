"""Embedding lookup: rows of a table picked by integer indices."""
from __future__ import annotations

import numpy as np

from chainrule.core import Function


def add_rows(grad: np.ndarray, idx: np.ndarray, rows: int) -> np.ndarray:
    """The (rows, *grad.shape[idx.ndim:]) array whose row v is the sum of grad over idx == v: the
    backward of a row lookup, in one bincount pass (np.add.at is several times slower)."""
    tail = grad.shape[idx.ndim:]
    d = int(np.prod(tail))
    flat = (idx.reshape(-1, 1).astype(np.intp) % rows * d + np.arange(d)).ravel()
    out = np.bincount(flat, weights=grad.reshape(-1), minlength=rows * d)
    return out.astype(grad.dtype, copy=False).reshape((rows,) + tail)


class Embedding(Function):
    """y = W[idx] (row lookup); dL/dW[v] = sum of g over the positions where idx == v (repeats add up),
    zero at ``padding_idx``; the indices get no gradient.

    Inputs weight (V, D) and integer indices of any shape; y has shape idx.shape + (D,).
    """

    saved_inputs = (1,)

    def forward(self, w, idx, padding_idx=None):
        self.idx, self.vocab, self.padding_idx = idx, w.shape[0], padding_idx
        return w[idx]

    def backward(self, grad):
        gw = add_rows(grad, self.idx, self.vocab)  # repeated indices accumulate
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw, None
