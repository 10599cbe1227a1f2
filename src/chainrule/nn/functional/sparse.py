"""Lookups by integer index: ``embedding``, ``embedding_bag`` and ``one_hot``."""
from __future__ import annotations

import numpy as np

from chainrule import dtypes, ops
from chainrule.core import DtypeError, ShapeError, make, no_grad
from chainrule.ops.convert import as_tensor
from chainrule.rules import embedding as _embedding, index as _index
from chainrule.tensor import Tensor


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """(..., ) integer labels -> (..., num_classes) int64 rows of zeros with a 1 at each label
    (num_classes = -1: one more than the largest label).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.one_hot(cr.tensor([0, 2]), 3).tolist()
        [[1, 0, 0], [0, 0, 1]]
    """
    tensor = as_tensor(tensor)
    t = tensor._data
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot is only applicable to index tensors (int64), got dtype {t.dtype}")
    if num_classes == -1:
        if t.size == 0:
            raise RuntimeError("one_hot: cannot infer the number of classes from an empty tensor; pass num_classes")
        num_classes = int(tensor.max().item()) + 1  # read through the tensor: the output's shape depends on
        # the values, which a compiled step then sees (and runs eagerly)
    if t.size and t.min() < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if t.size and t.max() >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes ({num_classes}), "
                           f"got {t.max()}")
    with no_grad():
        return _index.OneHot.apply(tensor, num_classes=int(num_classes))


def _indices(input, op: str, rows: int) -> np.ndarray:
    """The integer index array of ``input``, every index checked against a table of ``rows`` rows."""
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers (int64), got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= rows):
        bad = idx[(idx < 0) | (idx >= rows)].flat[0]
        raise IndexError(f"{op}: index {bad} is out of range for a table of {rows} rows")
    return idx.astype(np.int64, copy=False)


def _table(weight, op: str, padding_idx):
    """``weight`` as a 2-d tensor and ``padding_idx`` made non-negative (checked against its rows)."""
    w = as_tensor(weight)
    if w.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-d (num_embeddings, embedding_dim), got shape {w.shape}")
    v = w.shape[0]
    if padding_idx is not None:
        if not -v <= padding_idx < v:
            raise ValueError(f"{op}: padding_idx {padding_idx} must be within num_embeddings ({v})")
        padding_idx %= v
    return w, padding_idx


def _renorm_rows_(weight, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """PyTorch's embedding_renorm_: under no_grad, each row of ``weight`` named in ``idx`` whose
    ``norm_type``-norm exceeds ``max_norm`` is scaled in place by max_norm / (norm + 1e-7). The
    weight's version goes up even when no row changes, as in PyTorch (a node that saved the weight
    before raises at backward)."""
    with no_grad():
        rows = ops.unique(make(idx.reshape(-1)))
        picked = weight[rows]
        norms = picked.norm(p=norm_type, dim=1, keepdim=True)
        weight[rows] = ops.where(norms > max_norm, picked * (max_norm / (norms + 1e-7)), picked)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,  # noqa: A002
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (V, D) picked by the integer tensor ``input`` (any shape) -> input.shape + (D,).

    Args:
        padding_idx (int, None): that row gets no gradient.
        max_norm (float, None): first, under no_grad, each looked-up row whose ``norm_type``-norm
            (2.0) exceeds it is scaled down in place to that norm (PyTorch's renormalisation).
        scale_grad_by_freq (bool, False): each row's gradient divided by its count in ``input``.
        sparse (bool, False): accepted; the gradient is a dense array (docs/pytorch.md).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.functional.embedding(cr.tensor([[0, 2]]), cr.eye(3)).tolist()
        [[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]
    """
    w, padding_idx = _table(weight, "embedding", padding_idx)
    idx = _indices(input, "embedding", w.shape[0])
    if max_norm is not None:
        _renorm_rows_(w, idx, max_norm, norm_type)
    return _embedding.Embedding.apply(w, make(idx), padding_idx=padding_idx,
                                      scale_grad_by_freq=bool(scale_grad_by_freq))


def _bag_starts(idx: np.ndarray, offsets, include_last_offset: bool) -> np.ndarray:
    """Each bag's first position in the flat indices: from ``offsets`` (checked as PyTorch does, and
    non-decreasing), or every row of a 2-d ``idx``."""
    if idx.ndim == 2:
        if offsets is not None:
            raise ShapeError("embedding_bag: if input is 2D, then offsets has to be None, as input is treated "
                             f"as a mini-batch of fixed length sequences; got offsets of type {type(offsets).__name__}")
        return np.arange(idx.shape[0], dtype=np.int64) * idx.shape[1]
    if idx.ndim != 1:
        raise ShapeError(f"embedding_bag: input has to be 1D or 2D Tensor, but got Tensor of dimension {idx.ndim}")
    if offsets is None:
        raise ShapeError("embedding_bag: offsets has to be a 1D Tensor but got None")
    off = offsets._data if isinstance(offsets, Tensor) else np.asarray(offsets)
    if off.ndim != 1 or off.dtype.kind not in "iu":
        raise ShapeError(f"embedding_bag: offsets has to be a 1D integer Tensor, got shape {off.shape} and "
                         f"dtype {off.dtype}")
    n = idx.size
    if len(off) and off[0] != 0:
        raise ShapeError(f"embedding_bag: offsets[0] has to be 0, i.e., the first sequence in the mini-batch "
                         f"has to start from position 0; got {off[0]}")
    if len(off) and off[-1] > n:
        raise ShapeError(f"embedding_bag: offsets[-1] can not be greater than input's length {n} but got "
                         f"offsets[-1] of {off[-1]}")
    if (np.diff(off) < 0).any():
        raise ShapeError(f"embedding_bag: offsets must be non-decreasing, got {off.tolist()[:8]}")
    if include_last_offset:
        if not len(off) or off[-1] != n:
            raise ShapeError(f"embedding_bag: with include_last_offset=True the last offset must be the "
                             f"input's length {n}, got {off.tolist()[-1:]}")
        off = off[:-1]
    return off.astype(np.int64, copy=False)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type: float = 2,  # noqa: A002
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights=None, include_last_offset: bool = False, padding_idx=None) -> Tensor:
    """Sums, means or maxima of bags of ``weight``'s rows, without the (n, D) lookup in between.

    Args:
        input (int tensor): (B, N), B bags of N indices; or (n,) indices with ``offsets`` (B,), each
            bag's start (the last bag runs to the end; ``include_last_offset``: offsets has B + 1
            entries, the last being n).
        mode (str, "mean"): "sum", "mean" or "max" over each bag; an empty bag gives zeros.
        per_sample_weights (tensor, None): the shape of ``input``, each index's weight (mode "sum").
        padding_idx (int, None): entries equal to it are left out of their bag (and out of its size).
        max_norm, norm_type, scale_grad_by_freq, sparse: as in :func:`embedding`.

    Shape: -> (B, D), in weight's dtype.

    Example:
        >>> import chainrule as cr
        >>> F = cr.nn.functional
        >>> F.embedding_bag(cr.tensor([0, 1, 2]), cr.eye(3), cr.tensor([0, 2]), mode="sum").tolist()
        [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    w, padding_idx = _table(weight, "embedding_bag", padding_idx)
    idx = _indices(input, "embedding_bag", w.shape[0])
    if per_sample_weights is not None and tuple(np.shape(per_sample_weights)) != idx.shape:
        raise ValueError(f"embedding_bag: If per_sample_weights ({tuple(np.shape(per_sample_weights))}) is not "
                         f"None, then it must have the same shape as the input ({idx.shape})")
    starts = _bag_starts(idx, offsets, include_last_offset)
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode has to be one of sum, mean or max, got {mode!r}")
    if max_norm is not None:
        _renorm_rows_(w, idx, max_norm, norm_type)
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights is only supported for mode='sum' "
                                  f"(got mode={mode!r})")
    if scale_grad_by_freq and mode == "max":
        raise ValueError("embedding_bag: max mode does not support scaling the gradient by the frequency")
    inputs = [w, make(idx.reshape(-1)), make(starts)]
    rule = _embedding.EmbeddingBag
    if per_sample_weights is not None:
        psw = as_tensor(per_sample_weights)
        if psw.dtype != w.dtype:
            raise DtypeError(f"embedding_bag: per_sample_weights ({dtypes.type_name(psw.dtype)}) must have the "
                             f"weight's dtype ({dtypes.type_name(w.dtype)})")
        inputs.append(psw.reshape(-1))
        rule = _embedding.WeightedEmbeddingBag
    return rule.apply(*inputs, mode=mode, padding_idx=padding_idx, scale_grad_by_freq=bool(scale_grad_by_freq))
