"""chainrule's dataset of arrays, and PyTorch's datasets and DataLoader (one copy, in
:mod:`chainrule.utils.data`), imported here under the names chainrule has always used."""
from __future__ import annotations

from chainrule.utils._arrays import as_array, wrap
from chainrule.utils.data import DataLoader, Dataset, TensorDataset  # noqa: F401


class ArrayDataset(TensorDataset):
    """Inputs and labels held as NumPy arrays of equal length; ``ds[i]`` is ``(X[i], y[i])`` as arrays.

    A TensorDataset of two tensors (the DataLoader batches it by fancy indexing, fast), which also
    keeps the arrays as ``X`` and ``y`` and the class names.

    Args:
        X (array-like): inputs, shape (N, ...).
        y (array-like): labels, shape (N,).
        classes (list of str, None): class names, for reports.
    """

    def __init__(self, X, y, classes=None):
        X, y = as_array(X), as_array(y)
        if len(X) != len(y):
            raise ValueError(f"ArrayDataset: {len(X)} inputs but {len(y)} labels")
        self.X, self.y = X, y
        self.classes = list(classes) if classes is not None else None

    @property
    def arrays(self) -> tuple:
        return self.X, self.y

    @property
    def tensors(self) -> tuple:
        return wrap(self.X), wrap(self.y)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]
