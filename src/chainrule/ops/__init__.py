"""The front's functions: PyTorch's signatures, argument checks and dtype handling, calling the rules.

Each function normalises its arguments (:mod:`.args`: dims and their NumPy aliases, ``out=``;
:mod:`.convert`: operands to tensors of one dtype) and calls a rule of :mod:`chainrule.rules`.
Families: :mod:`.elementwise` (the gates), :mod:`.reduce`, :mod:`.linalg`, :mod:`.shape`,
:mod:`.index`, :mod:`.softmax`, :mod:`.misc`, :mod:`.math`, :mod:`.matrix`, :mod:`.counting`,
:mod:`.writes` (index_add, index_copy, index_fill, scatter_reduce), :mod:`.floating` (isnan...,
nan_to_num, nansum), :mod:`.transcendental` (tan, atan2...), :mod:`.distance` (cdist, norms),
:mod:`.inverse` (inv, det, solve), :mod:`.decomp` (svd, eigh, cholesky, qr), :mod:`.spectral` (pinv,
lstsq, matrix_rank, cond), :mod:`.inplace`. Tensor's operators and methods call them.
"""
from chainrule.ops import (  # noqa: F401
    counting, elementwise, index, linalg, math, matrix, misc, reduce, sampling, shape, softmax)
from chainrule.ops.convert import as_tensor, cast, promote  # noqa: F401
from chainrule.ops.elementwise import (  # noqa: F401
    abs, add, clip, compare, cos, div, elu, exp, gelu, leaky_relu, log, maximum, minimum, mul, neg,
    positive, pow, relu, sigmoid, sin, softplus, sqrt, sub, tanh, where)
from chainrule.ops.linalg import bmm, dot, matmul, mm, t  # noqa: F401
from chainrule.ops.softmax import log_softmax, softmax  # noqa: F401
from chainrule.ops.reduce import amax, amin, logsumexp, max, mean, min, std, sum, var  # noqa: F401
from chainrule.ops.shape import (  # noqa: F401
    cat, chunk, concatenate, expand, flatten, getitem, moveaxis, movedim, narrow, pad, permute, reshape,
    split, squeeze, stack, swapaxes, swapdims, transpose, unbind, unsqueeze)
from chainrule.ops.math import (  # noqa: F401
    allclose, clamp_min, clamp_max, cumprod, eq, equal, ceil, exp2, fix, floor, frac, ge, greater, greater_equal, gt,
    isclose, le, lerp, less, less_equal, log2, log10, lt, ne, not_equal, prod, reciprocal, round, rsqrt, sign,
    trunc, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, logical_and, logical_not, logical_or, logical_xor,
    square, floor_divide, fmod, remainder, addcmul, addcdiv)
from chainrule.ops.sampling import bernoulli, multinomial, normal  # noqa: F401
from chainrule.ops.matrix import diag, diag_embed, diagonal, trace, tril, triu  # noqa: F401
from chainrule.ops.counting import (  # noqa: F401
    argsort, argwhere, bincount, histc, histogram, msort, nonzero, unique)
from chainrule.ops.index import (  # noqa: F401
    argmax, argmin, clone, flip, gather, index_select, masked_fill, masked_scatter, masked_select, median, nanmedian, nanquantile,
    quantile, repeat, repeat_interleave, roll, scatter, scatter_add, sort, tile, topk)
from chainrule.ops.misc import (  # noqa: F401
    all, any, cumsum, einsum, erf, erfc, expm1, log1p, logaddexp, norm, outer, xlogy)
from chainrule.ops.floating import (  # noqa: F401
    copysign, float_power, fmax, fmin, heaviside, isfinite, isinf, isnan, isneginf, isposinf, isreal, nan_to_num,
    nanmean, nansum, signbit)
from chainrule.ops.transcendental import (  # noqa: F401
    acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, asin, asinh, atan, atan2, atanh, cosh,
    deg2rad, hypot, logit, rad2deg, sinc, sinh, tan)
from chainrule.ops.math import true_divide  # noqa: F401
from chainrule.ops.elementwise import (  # noqa: F401  PyTorch's aliases of existing ops
    abs as absolute, div as divide, mul as multiply, neg as negative, sub as subtract)
from chainrule.ops.math import sign as sgn  # noqa: F401
from chainrule.ops.shape import cat as concat  # noqa: F401

clamp = clip
from chainrule.ops.shape import (  # noqa: F401 - PyTorch parity (shape and index)
    atleast_1d, atleast_2d, atleast_3d, broadcast_to, column_stack, dsplit, dstack, hsplit, hstack, ravel,
    tensor_split, unflatten, vsplit, vstack)
from chainrule.ops.index import fliplr, flipud, rot90, select, take, take_along_dim  # noqa: F401
from chainrule.ops.misc import diff  # noqa: F401
from chainrule.ops.matrix import diagflat  # noqa: F401
from chainrule.ops.counting import count_nonzero  # noqa: F401
from chainrule.ops.matrix import block_diag, kron, tril_indices, triu_indices, vander  # noqa: F401
from chainrule.ops.counting import unravel_index  # noqa: F401
from chainrule.ops.shape import cartesian_prod  # noqa: F401
from chainrule.ops.index import combinations  # noqa: F401
from chainrule.ops import writes  # noqa: F401 - index_add, index_copy, index_fill, scatter_reduce
from chainrule.ops.writes import index_add, index_copy, index_fill, scatter_reduce  # noqa: F401
from chainrule.ops import distance, inverse  # noqa: F401,E402
from chainrule.ops.linalg import (  # noqa: F401,E402
    addbmm, addmm, addmv, addr, baddbmm, chain_matmul, cross, ger, inner, mv, tensordot, vdot)
from chainrule.ops.distance import cdist, dist, pdist  # noqa: F401,E402
from chainrule.ops.reduce import aminmax, corrcoef, cov, std_mean, var_mean  # noqa: F401,E402
from chainrule.ops.index import cummax, cummin, kthvalue, mode  # noqa: F401,E402
from chainrule.ops.misc import logcumsumexp  # noqa: F401,E402
from chainrule.ops.counting import bucketize, isin, searchsorted  # noqa: F401,E402
from chainrule.ops.inverse import det, inverse, logdet, matrix_power, slogdet  # noqa: F401,E402
from chainrule.ops.info import is_floating_point, is_nonzero, result_type  # noqa: F401,E402
from chainrule.ops.counting import unique_consecutive  # noqa: F401,E402
from chainrule.ops.math import frexp, gcd, lcm, ldexp  # noqa: F401,E402
from chainrule.ops.misc import logaddexp2, renorm  # noqa: F401,E402
from chainrule.ops.index import diagonal_scatter, select_scatter, slice_scatter  # noqa: F401,E402
from chainrule.ops import decomp, spectral  # noqa: F401,E402
from chainrule.ops.decomp import cholesky, cholesky_inverse, cholesky_solve, qr, svd  # noqa: F401,E402
from chainrule.ops.spectral import pinverse  # noqa: F401,E402
