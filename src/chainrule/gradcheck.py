"""Checking a backward rule against central finite differences, in float64 (the lecture's signature:
``gradcheck(fn, *inputs)``; PyTorch's, with the inputs as a tuple, is ``chainrule.autograd.gradcheck``).
The check itself lives in :mod:`chainrule.autograd`."""
from __future__ import annotations

from chainrule.autograd import GradcheckError, check_gradients  # noqa: F401

gradcheck = check_gradients
