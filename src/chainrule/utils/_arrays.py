"""Arrays out of the values a state_dict may hold: chainrule Tensors, torch tensors, NumPy arrays, numbers."""
from __future__ import annotations

import numpy as np

from chainrule.tensor import Tensor


def array_of(t: Tensor) -> np.ndarray:
    """The array a Tensor holds (shared, not copied: optimizers and load_state_dict write into it)."""
    return t._data


def wrap(a: np.ndarray) -> Tensor:
    """A Tensor around ``a`` (shared, not copied), outside any graph."""
    return Tensor._make(a, False, None)


def as_array(v) -> np.ndarray:
    """A chainrule Tensor, a torch tensor, a NumPy array, a list or a number as an ndarray."""
    if isinstance(v, Tensor):
        return array_of(v)
    if hasattr(v, "detach") and hasattr(v, "cpu") and hasattr(v, "numpy"):  # a torch tensor (never imported)
        return np.asarray(v.detach().cpu().numpy())
    return np.asarray(v)
