"""Embedding and EmbeddingBag: lookup tables of learned vectors, one row per index."""
from __future__ import annotations

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor


def _table(num_embeddings: int, embedding_dim: int, padding_idx, _weight, _freeze: bool, dtype, name: str):
    """(weight Parameter or None, padding_idx made non-negative): the checks both layers share."""
    if padding_idx is not None:
        if not -num_embeddings <= padding_idx < num_embeddings:
            raise ValueError(f"{name}: padding_idx must be within num_embeddings ({num_embeddings}), "
                             f"got {padding_idx}")
        padding_idx %= num_embeddings
    if _weight is None:
        return Parameter(np.empty((num_embeddings, embedding_dim), dtype or np.float32),
                         requires_grad=not _freeze), padding_idx
    w = _weight._data if isinstance(_weight, Tensor) else np.asarray(_weight)
    if w.shape != (num_embeddings, embedding_dim):
        raise ValueError(f"{name}: _weight has shape {w.shape}, expected ({num_embeddings}, {embedding_dim})")
    return Parameter(np.array(w, dtype=dtype or (w.dtype if w.dtype.kind == "f" else np.float32)),
                     requires_grad=not _freeze), padding_idx


def _pretrained(embeddings) -> np.ndarray:
    w = embeddings._data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
    if w.ndim != 2:
        raise ValueError(f"from_pretrained: embeddings must be 2-d, got shape {w.shape}")
    return w


class _Table(Module):
    """What Embedding and EmbeddingBag share: the table, its initialisation and its printed form."""

    def reset_parameters(self) -> None:
        """N(0, 1) draws, the padding row zeroed (PyTorch's default)."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    def extra_repr(self):  # PyTorch's order: the table, the class's own leading option, the shared
        s = f"{self.num_embeddings}, {self.embedding_dim}" + self._repr_lead()  # ones, its trailing ones
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm!r}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type!r}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        return s + self._repr_tail()

    def _repr_lead(self) -> str:
        return ""

    def _repr_tail(self) -> str:
        return ""


class Embedding(_Table):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, indexed by integer tensors.

    Args:
        num_embeddings (int), embedding_dim (int).
        padding_idx (int, None): that row starts at zero and never gets a gradient.
        max_norm (float, None): each looked-up row whose ``norm_type``-norm (2.0) exceeds it is scaled
            down in place to that norm, before the lookup (as in PyTorch).
        scale_grad_by_freq (bool, False): each row's gradient divided by its count in the batch.
        sparse (bool, False): accepted; the gradient is dense (docs/pytorch.md).
        _weight (array, None): the initial table instead of N(0, 1) draws.
        _freeze (bool, False): the table does not require grad.
        dtype (dtype, float32).

    Shape: integer indices of any shape (*) -> (*, embedding_dim); ``weight`` is (num_embeddings,
    embedding_dim).

    Example:
        >>> import chainrule as cr
        >>> emb = cr.nn.Embedding(27, 10)
        >>> emb(cr.tensor([[1, 2, 3], [4, 5, 6]])).shape
        (2, 3, 10)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight=None, _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        self.weight, padding_idx = _table(num_embeddings, embedding_dim, padding_idx, _weight, _freeze, dtype,
                                          "Embedding")
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.reset_parameters()

    def forward(self, input):  # noqa: A002
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False):
        """An Embedding holding ``embeddings`` (V, D) as its table, frozen unless ``freeze=False``."""
        w = _pretrained(embeddings)
        return cls(w.shape[0], w.shape[1], padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=w, _freeze=freeze)

    def _repr_lead(self) -> str:
        return f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""

    def _repr_tail(self) -> str:
        return ", sparse=True" if self.sparse else ""


class EmbeddingBag(_Table):
    """Sums, means or maxima of bags of a table's rows (a bag of words), without the per-index lookup.

    Args:
        num_embeddings (int), embedding_dim (int).
        max_norm, norm_type, scale_grad_by_freq, sparse: as in :class:`Embedding`.
        mode (str, "mean"): "sum", "mean" or "max" over each bag.
        include_last_offset (bool, False): ``offsets`` has B + 1 entries, the last the input's length.
        padding_idx (int, None): entries equal to it are left out of their bag; that row starts at
            zero and gets no gradient.
        _weight (array, None), dtype (dtype, float32).

    Shape: forward(input, offsets=None, per_sample_weights=None): input (B, N) or (n,) with offsets
    (B,) -> (B, embedding_dim); see :func:`chainrule.nn.functional.embedding_bag`.

    Example:
        >>> import chainrule as cr
        >>> bag = cr.nn.EmbeddingBag(10, 3, mode="sum")
        >>> bag(cr.tensor([1, 2, 4, 5, 4]), cr.tensor([0, 2])).shape
        (2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False, _weight=None,
                 include_last_offset: bool = False, padding_idx=None, device=None, dtype=None):
        super().__init__()
        self.weight, padding_idx = _table(num_embeddings, embedding_dim, padding_idx, _weight, False, dtype,
                                          "EmbeddingBag")
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset
        if _weight is None:
            self.reset_parameters()

    def forward(self, input, offsets=None, per_sample_weights=None):  # noqa: A002
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                               self.scale_grad_by_freq, self.mode, self.sparse, per_sample_weights,
                               self.include_last_offset, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm=None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False, padding_idx=None):
        """An EmbeddingBag holding ``embeddings`` (V, D) as its table, frozen unless ``freeze=False``."""
        w = _pretrained(embeddings)
        bag = cls(w.shape[0], w.shape[1], max_norm, norm_type, scale_grad_by_freq, mode, sparse, _weight=w,
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag

    def _repr_tail(self) -> str:
        return f", mode={self.mode!r}" + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
