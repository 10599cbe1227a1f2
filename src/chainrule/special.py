"""PyTorch's ``torch.special`` names that chainrule has: the error functions, the logistic pair,
``exp2 expm1 log1p``, ``softmax log_softmax logsumexp``, ``xlogy xlog1py entr``, ``sinc``,
``round`` and the normal CDF ``ndtr``. Each is the op of the same meaning elsewhere in chainrule (``expit`` is
``sigmoid``); this module is their PyTorch-named door, as :mod:`chainrule.linalg` is for
``torch.linalg``. A torch.special name chainrule lacks (the gamma and Bessel families, ``erfinv``)
raises one clear AttributeError.

Example:
    >>> import chainrule as cr
    >>> cr.special.ndtr(cr.tensor(0.0)).item(), cr.special.expit(cr.tensor(0.0)).item()
    (0.5, 0.5)
"""
from __future__ import annotations

from chainrule._missing import missing_names
from chainrule.ops.elementwise import sigmoid as expit  # noqa: F401
from chainrule.ops.math import exp2, round  # noqa: F401,A004
from chainrule.ops.misc import entr, erf, erfc, expm1, log1p, ndtr, xlog1py, xlogy  # noqa: F401
from chainrule.ops.reduce import logsumexp  # noqa: F401
from chainrule.ops.softmax import log_softmax, softmax  # noqa: F401
from chainrule.ops.transcendental import logit, sinc  # noqa: F401

__getattr__ = missing_names("chainrule.special", "torch.special", globals())
