"""Packed sequences, PyTorch's ``torch.nn.utils.rnn``: a batch of sequences of different lengths
held without padding, as the recurrent layers read it.

A PackedSequence keeps the samples sorted longest first; ``data`` holds step 0 of every sample, then
step 1 of the samples at least two steps long, and so on; ``batch_sizes[t]`` counts the samples that
reach step t. Packing and padding are differentiable gathers (one indexing op each), so the
gradient flows back to the padded input, and from a padded output to the packed data.

Example:
    >>> import chainrule as cr
    >>> from chainrule.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    >>> x = cr.arange(8.0).reshape(4, 2, 1)                   # (T, N, features)
    >>> p = pack_padded_sequence(x, [2, 4], enforce_sorted=False)
    >>> p.data.flatten().tolist(), p.batch_sizes.tolist(), p.sorted_indices.tolist()
    ([1.0, 0.0, 3.0, 2.0, 5.0, 7.0], [2, 2, 1, 1], [1, 0])
    >>> pad_packed_sequence(p)[1].tolist()
    [2, 4]
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from chainrule import ops
from chainrule.ops.convert import as_tensor
from chainrule.tensor import Tensor
from chainrule.utils._arrays import as_array, wrap


class _Fields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor | None
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_Fields):
    """Sequences of different lengths packed step by step, longest first (PyTorch's fields).

    Args:
        data (Tensor): (sum of the lengths, *) the steps, step 0 of every sample first.
        batch_sizes (Tensor, int64): (T,) how many samples reach each step, non-increasing.
        sorted_indices (Tensor or None): the original sample at each sorted position.
        unsorted_indices (Tensor or None): its inverse; computed from sorted_indices when left out.

    Build one with :func:`pack_padded_sequence` or :func:`pack_sequence`; a recurrent layer given one
    returns its output as one.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:  # PyTorch also takes the pair (data, batch_sizes) as the first argument
            data, batch_sizes = data
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = wrap(np.argsort(as_array(sorted_indices), kind="stable"))
        return super().__new__(cls, data, _ints(batch_sizes), sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        """The same packing with ``data.to(*args, **kwargs)`` (a dtype, or a device chainrule has)."""
        return self._replace(data=self.data.to(*args, **kwargs))

    def float(self) -> PackedSequence:
        return self._replace(data=self.data.float())

    def double(self) -> PackedSequence:
        return self._replace(data=self.data.double())

    is_cuda = False


def _ints(v) -> Tensor:
    return wrap(np.asarray(as_array(v), dtype=np.int64))


def _pad_row(like: Tensor, value: float) -> Tensor:
    return wrap(np.full((1,) + tuple(like.shape[1:]), value, like._data.dtype))


def packed_rows(batch_sizes: np.ndarray, width: int) -> np.ndarray:
    """Where each packed row sits in a (T, width) grid flattened row by row: t * width + j, j < batch_sizes[t]."""
    return np.flatnonzero(np.arange(width)[None, :] < batch_sizes[:, None])


def _exceeding(v: np.ndarray) -> np.ndarray:
    """For non-increasing counts v: how many exceed 0, 1, ..., v[0] - 1. One transform both ways: the
    batch size of each step from the sorted lengths, and each sorted sample's length from the batch sizes."""
    return (v[None, :] > np.arange(v[0])[:, None]).sum(axis=1)


def padded_from_packed(data: Tensor, batch_sizes: np.ndarray, padding_value: float = 0.0, total: int | None = None,
            order: np.ndarray | None = None) -> Tensor:
    """The packed rows as a (total, N, *) grid, samples in ``order`` (sorted when None), padding_value
    elsewhere: one gather from the rows and a padding row appended to them."""
    t_len, n = len(batch_sizes), int(batch_sizes[0])
    total = t_len if total is None else total
    grid = np.full(total * n, len(data), np.int64)  # the padding row everywhere...
    grid[packed_rows(batch_sizes, n)] = np.arange(len(data))  # ...but where a step is packed
    grid = grid.reshape(total, n)
    if order is not None:
        grid = grid[:, order]
    return ops.cat([data, _pad_row(data, padding_value)])[grid.reshape(-1)].reshape(total, n, *data.shape[1:])


def pack_padded_sequence(input, lengths, batch_first: bool = False, enforce_sorted: bool = True):  # noqa: A002
    """Pack a padded batch (T, N, *) (or (N, T, *) with batch_first) of sequences of the given lengths.

    Args:
        input (Tensor): the padded batch.
        lengths (list, array or int Tensor): (N,) each sample's length, all in 1..T.
        batch_first (bool, False): input is (N, T, *).
        enforce_sorted (bool, True): lengths must be non-increasing; with False the batch is sorted
            here and the PackedSequence records the order (sorted_indices, unsorted_indices).

    Returns: a PackedSequence whose data is (sum of the lengths, *).
    """
    x = as_tensor(input)
    lens = np.asarray(as_array(lengths), dtype=np.int64)
    if lens.ndim != 1:
        raise ValueError(f"pack_padded_sequence: lengths must be 1-D, got shape {lens.shape}")
    if batch_first:
        x = x.transpose(0, 1)
    if x.ndim < 2 or x.shape[1] != len(lens):
        raise ValueError(f"pack_padded_sequence: {len(lens)} lengths for an input of shape {tuple(input.shape)} "
                         f"({'N' if batch_first else 'T'}, {'T' if batch_first else 'N'}, *)")
    if len(lens) and lens.min() <= 0:
        raise RuntimeError(f"pack_padded_sequence: every length must be at least 1, got {lens.min()}")
    if len(lens) and lens.max() > x.shape[0]:
        raise ValueError(f"pack_padded_sequence: a length of {lens.max()} is longer than the input's "
                         f"{x.shape[0]} steps")
    sorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError("pack_padded_sequence: lengths must be sorted in decreasing order when "
                             f"enforce_sorted=True, got {lens.tolist()}; pass enforce_sorted=False to sort them here")
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices, lens = wrap(order), lens[order]
        x = x[:, order]
    sizes = _exceeding(lens)
    n = x.shape[1]
    data = x[:len(sizes)].reshape(len(sizes) * n, *x.shape[2:])[packed_rows(sizes, n)]
    return PackedSequence(data, sizes, sorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None):
    """Undo :func:`pack_padded_sequence`: (padded (T, N, *) or (N, T, *), lengths (N,) int64), the
    samples in their original order.

    Args:
        sequence (PackedSequence).
        batch_first (bool, False), padding_value (float, 0.0).
        total_length (int or None): pad to this many steps (at least the longest length).
    """
    sizes = as_array(sequence.batch_sizes)
    if total_length is not None and total_length < len(sizes):
        raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than the longest "
                         f"sequence ({len(sizes)} steps)")
    order = None if sequence.unsorted_indices is None else as_array(sequence.unsorted_indices)
    padded = padded_from_packed(sequence.data, sizes, padding_value, total_length, order)
    lengths = _exceeding(sizes)
    if order is not None:
        lengths = lengths[order]
    return (padded.transpose(0, 1) if batch_first else padded), wrap(lengths.astype(np.int64))


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes (L_i, *) into (max L, N, *) (or (N, max L, *)), padding_value after
    each (``padding_side="right"``) or before it ("left")."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    seqs = [as_tensor(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequence: received an empty list of sequences")
    lens = np.array([s.shape[0] for s in seqs], np.int64)
    starts = np.cumsum(lens) - lens
    longest = int(lens.max())
    t = np.arange(longest)[:, None]
    step = t if padding_side == "right" else t - (longest - lens)[None, :]  # the step each cell holds
    grid = np.where((step >= 0) & (step < lens), starts + step, lens.sum())  # the padding row past the end
    rows = ops.cat(seqs + [_pad_row(seqs[0], padding_value)])
    out = rows[grid.reshape(-1)].reshape(longest, len(seqs), *seqs[0].shape[1:])
    return out.transpose(0, 1) if batch_first else out


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *): ``pack_padded_sequence(pad_sequence(sequences), lengths)``."""
    lengths = [as_tensor(s).shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False) -> list:
    """The list of sequences (L_i, *) a padded batch holds."""
    x = as_tensor(padded_sequences)
    x = x if batch_first else x.transpose(0, 1)
    return [x[i, :int(n)] for i, n in enumerate(np.asarray(as_array(lengths)))]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of sequences (L_i, *) a PackedSequence holds, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


from chainrule._missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("chainrule.nn.utils.rnn", "torch.nn.utils.rnn", globals())
