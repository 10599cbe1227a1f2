"""The front's functions: PyTorch's signatures, argument checks and dtype handling, calling the rules.

Each function normalises its arguments (:mod:`.args`: dims and their NumPy aliases, ``out=``;
:mod:`.convert`: operands to tensors of one dtype) and calls a rule of :mod:`chainrule.rules`.
Families: :mod:`.elementwise` (the gates), :mod:`.reduce`, :mod:`.linalg`, :mod:`.shape`,
:mod:`.index`, :mod:`.softmax`, :mod:`.misc`, :mod:`.inplace`. Tensor's operators and methods call them.
"""
from chainrule.ops import elementwise, index, linalg, misc, reduce, shape, softmax  # noqa: F401
from chainrule.ops.convert import as_tensor, cast, promote  # noqa: F401
from chainrule.ops.elementwise import (  # noqa: F401
    abs, add, clip, compare, cos, div, elu, exp, gelu, leaky_relu, log, maximum, minimum, mul, neg,
    pow, relu, sigmoid, sin, softplus, sqrt, sub, tanh, where)
from chainrule.ops.linalg import bmm, matmul, mm, t  # noqa: F401
from chainrule.ops.softmax import log_softmax, softmax  # noqa: F401
from chainrule.ops.reduce import amax, amin, logsumexp, max, mean, min, std, sum, var  # noqa: F401
from chainrule.ops.shape import (  # noqa: F401
    cat, concatenate, expand, flatten, getitem, pad, permute, reshape, squeeze, stack, transpose,
    unsqueeze)
from chainrule.ops.index import (  # noqa: F401
    argmax, argmin, clone, flip, gather, index_select, masked_fill, repeat, scatter_add, sort, tile, topk)
from chainrule.ops.misc import (  # noqa: F401
    all, any, cumsum, einsum, expm1, log1p, logaddexp, norm, outer, xlogy)

clamp = clip
