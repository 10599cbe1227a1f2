"""PyTorch's ``torch.linalg`` names: norms, inverses, determinants, solves, matrix powers, cross and
multi-matrix products of (..., n, n) batches; decompositions (svd, eigh, cholesky, qr) and what they give
(pinv, lstsq, matrix_rank, cond). The functions live in the front (:mod:`chainrule.ops`:
argument checks and PyTorch's signatures; their rules and local gradients in
:mod:`chainrule.rules.linalg`); this module is their PyTorch-named door, as ``chainrule.autograd``
is the core's. A torch.linalg name chainrule lacks raises one clear AttributeError.

Example:
    >>> import chainrule as cr
    >>> cr.linalg.det(cr.tensor([[2.0, 1.0], [1.0, 1.0]])).item()
    1.0
"""
from __future__ import annotations

from chainrule._missing import missing_names
from chainrule.core import LinAlgError  # noqa: F401
from chainrule.ops.distance import linalg_norm as norm  # noqa: F401
from chainrule.ops.distance import matrix_norm, vector_norm  # noqa: F401
from chainrule.ops.decomp import eigh, eigvalsh, svdvals  # noqa: F401
from chainrule.ops.decomp import linalg_cholesky as cholesky  # noqa: F401
from chainrule.ops.decomp import linalg_qr as qr  # noqa: F401
from chainrule.ops.decomp import linalg_svd as svd  # noqa: F401
from chainrule.ops.inverse import det, inv, matrix_power, multi_dot, slogdet, solve  # noqa: F401
from chainrule.ops.linalg import linalg_cross as cross  # noqa: F401
from chainrule.ops.linalg import matmul  # noqa: F401
from chainrule.ops.spectral import cond, lstsq, matrix_rank, pinv  # noqa: F401

__getattr__ = missing_names("chainrule.linalg", "torch.linalg", globals())
