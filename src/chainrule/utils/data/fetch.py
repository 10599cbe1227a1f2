"""Fetching one batch of a map-style dataset: the samples at a list of indices, collated.

A TensorDataset (or chainrule's ArrayDataset) with the default collate is indexed with the whole
index array at once, which gives exactly what stacking its rows would, without the Python loop.
"""
from __future__ import annotations

import numpy as np

from chainrule.tensor import Tensor
from chainrule.utils._arrays import array_of, wrap
from chainrule.utils.data.collate import default_collate
from chainrule.utils.data.dataset import TensorDataset


def _fast_arrays(dataset):
    """The arrays a TensorDataset's rows come from, or None where rows must be fetched one by one."""
    if not isinstance(dataset, TensorDataset):
        return None
    arrays = getattr(dataset, "arrays", None)          # ArrayDataset keeps NumPy arrays
    if arrays is None:
        if any(t.requires_grad for t in dataset.tensors):   # stacked rows keep the graph: take the slow path
            return None
        arrays = [array_of(t) for t in dataset.tensors]
    return arrays


def fetch(dataset, indices, auto_collation: bool, collate_fn):
    """The batch at ``indices`` (a list of indices; with ``auto_collation`` False, one index)."""
    if not auto_collation:
        return collate_fn(dataset[indices])
    if collate_fn is default_collate:
        arrays = _fast_arrays(dataset)
        if arrays is not None:
            sel = np.asarray(indices, dtype=np.int64)
            return [wrap(np.ascontiguousarray(a[sel])) for a in arrays]
    if not len(indices):       # a rank's empty share of a small last batch: a batch of 0 like sample 0's
        return _empty_like(collate_fn([dataset[0]]))
    getitems = getattr(dataset, "__getitems__", None)
    indices = indices.tolist() if isinstance(indices, np.ndarray) else indices
    samples = getitems(list(indices)) if callable(getitems) else [dataset[i] for i in indices]
    return collate_fn(samples)


def _empty_like(batch):
    if isinstance(batch, Tensor):
        return wrap(array_of(batch)[:0])
    if isinstance(batch, dict):
        return {k: _empty_like(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_empty_like(v) for v in batch) if not hasattr(batch, "_fields") else \
            type(batch)(*(_empty_like(v) for v in batch))
    return batch

