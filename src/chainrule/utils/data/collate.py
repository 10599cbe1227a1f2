"""default_collate and default_convert: a list of samples into a batch of Tensors, by PyTorch's rules.

Tensors and NumPy arrays are stacked along a new first dimension (keeping their dtype), Python
floats become a float64 Tensor, ints int64 and bools bool; strings stay a list; dicts, named
tuples, tuples and lists are collated field by field (a tuple of fields comes back as a list, as
in PyTorch).
"""
from __future__ import annotations

import collections.abc as abc

import numpy as np

from chainrule.ops import stack
from chainrule.tensor import Tensor
from chainrule.utils._arrays import array_of, wrap as _tensor

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}")


def _stack(tensors) -> Tensor:
    if any(t.requires_grad for t in tensors):      # keep the graph, as torch.stack does
        return stack(tensors)
    arrays = [array_of(t) for t in tensors]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(arrays[0].shape)} at entry 0 "
                           f"and {next(list(a.shape) for a in arrays if a.shape != arrays[0].shape)} at another")
    return _tensor(np.stack(arrays))


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_collate(batch):
    """Merge a list of samples into one batch (what the DataLoader does with every batch by default).

    Example:
        >>> import numpy as np
        >>> from chainrule.utils.data import default_collate
        >>> xb, yb = default_collate([(np.zeros(2, np.float32), 1), (np.ones(2, np.float32), 0)])
        >>> xb
        tensor([[0., 0.],
                [1., 1.]])
        >>> yb.dtype, yb.tolist()
        (dtype('int64'), [1, 0])
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if isinstance(elem, np.ndarray) or isinstance(elem, np.generic):
        if elem.dtype.kind in "SaUO":
            raise TypeError(_ERR.format(elem.dtype))
        if isinstance(elem, np.generic) or elem.ndim == 0:
            return _tensor(np.asarray(batch))
        return default_collate([_tensor(np.asarray(b)) for b in batch])
    if isinstance(elem, bool):
        return _tensor(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return _tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, float):
        return _tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, abc.Mapping):
        out = {k: default_collate([d[k] for d in batch]) for k in elem}
        try:
            return type(elem)(out)
        except TypeError:
            return out
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, abc.Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields
        try:
            return type(elem)(fields)
        except TypeError:
            return fields
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """One sample as Tensors without batching (``batch_size=None``): arrays and NumPy scalars become
    Tensors, containers are converted field by field, anything else is left as it is."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)):
        return data if data.dtype.kind in "SaUO" else _tensor(np.asarray(data))
    if isinstance(data, abc.Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(out)
        except TypeError:
            return out
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
