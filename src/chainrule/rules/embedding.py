"""Embedding lookup: rows of a table picked by integer indices."""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function


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
        d = grad.shape[-1]
        g = grad.reshape(-1, d)
        idx = self.idx.reshape(-1)
        gw = np.zeros((self.vocab, d), grad.dtype)
        np.add.at(gw, idx, g)  # repeated indices accumulate
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw, None
