"""chainrule's error vocabulary: the exception types PyTorch raises, with chainrule's own messages.

PyTorch reports a bad shape, dim combination or argument value of an op as ``RuntimeError``;
chainrule raised ``ValueError`` (and ``TypeError`` for a wrong dtype) before it followed PyTorch.
Its errors are both, so that PyTorch code (``except RuntimeError``) and older chainrule code
(``except ValueError``) each catch them.
"""


class ShapeError(RuntimeError, ValueError):
    """Shapes, dims or values that do not fit an op (PyTorch's RuntimeError; also a ValueError)."""


class DtypeError(RuntimeError, TypeError):
    """An operand of a dtype the op does not take (PyTorch's RuntimeError; also a TypeError)."""


class LinAlgError(RuntimeError):
    """A linear-algebra op met a matrix it cannot handle, a singular one (PyTorch's
    ``torch.linalg.LinAlgError``, a RuntimeError)."""


class IndexRangeError(IndexError, RuntimeError):
    """An index outside its axis in gather, scatter or index_select (PyTorch's RuntimeError there; an
    IndexError, the type chainrule raised before, and Python's for an index out of range)."""
