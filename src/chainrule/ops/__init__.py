"""The op library: each op is a Function with forward and backward side by side.

Families: :mod:`.elementwise` (the gates), :mod:`.reduce`, :mod:`.linalg`,
:mod:`.shape`, :mod:`.nn` (fused softmax and friends). The functions here are
the public forms; Tensor's operators and methods call them.
"""
from chainrule.ops import elementwise, linalg, nn, reduce, shape  # noqa: F401
from chainrule.ops.convert import as_tensor, cast, promote  # noqa: F401
from chainrule.ops.elementwise import (  # noqa: F401
    abs, add, clip, compare, cos, div, elu, exp, gelu, leaky_relu, log, maximum, minimum, mul, neg,
    pow, relu, sigmoid, sin, softplus, sqrt, sub, tanh, where)
from chainrule.ops.linalg import matmul  # noqa: F401
from chainrule.ops.nn import log_softmax, softmax  # noqa: F401
from chainrule.ops.reduce import amax, amin, logsumexp, max, mean, min, sum, var  # noqa: F401
from chainrule.ops.shape import (  # noqa: F401
    cat, concatenate, expand, flatten, getitem, pad, permute, reshape, squeeze, stack, transpose,
    unsqueeze)
from chainrule.ops.index import (  # noqa: F401
    argmax, argmin, clone, flip, gather, index_select, masked_fill, repeat, scatter_add, sort, tile, topk)
from chainrule.ops.misc import (  # noqa: F401
    all, any, cumsum, einsum, expm1, log1p, logaddexp, norm, outer, xlogy)

clamp = clip
