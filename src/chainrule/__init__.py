"""chainrule: neural networks and backpropagation on NumPy, as the lecture teaches them.

Every computation on tensors records a graph; ``backward()`` walks it in
reverse and applies the chain rule node by node (downstream = upstream x local).

    >>> import chainrule as cr
    >>> x, y, z = (cr.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    >>> f = (x + y) * z
    >>> f.backward()
    >>> [t.grad.item() for t in (x, y, z)]
    [-4.0, -4.0, 3.0]
"""
import os as _os

if any(_os.environ.get(_v, "1") not in ("", "0", "1") for _v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")):
    for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # an MPI rank: 1 BLAS thread
        _os.environ.setdefault(_v, "1")                                        # unless told otherwise
from chainrule import _malloc  # noqa: E402

_malloc.tune()   # freed arrays' memory is reused instead of page-faulted in again (see _malloc)
from chainrule.tensor import Size, Tensor  # noqa: E402
from chainrule.autograd import (Function, enable_grad, inference_mode, is_grad_enabled, no_grad,  # noqa: F401
                                set_grad_enabled)
from chainrule.dtypes import (bool_, float16, float32, float64, get_default_dtype, int8, int16, int32, int64,  # noqa: F401
                              set_default_dtype, uint8)
from chainrule.creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                                linspace, logspace, ones, ones_like, rand, rand_like, randint,
                                randint_like, randn, randn_like, randperm, tensor, zeros, zeros_like)
from chainrule.creation import (BoolTensor, ByteTensor, DoubleTensor, FloatTensor,  # noqa: F401
                                HalfTensor, IntTensor, LongTensor)
from chainrule.devices import device, get_default_device, set_default_device
from chainrule.ops.linalg import bmm, dot, mm, t
from chainrule.ops.reduce import std
from chainrule import accelerator, autograd, backends, cuda, onnx  # noqa: E402
from chainrule.ops import (
    abs, add, amax, amin, cat, clamp, clip, concatenate, cos, div, elu, exp, expand, flatten, gelu,
    leaky_relu, log, log_softmax, logsumexp, matmul, max, maximum, mean, min, minimum, mul, neg, pad,
    permute, pow, relu, reshape, sigmoid, sin, softmax, softplus, sqrt, squeeze, stack, sub, sum, tanh,
    transpose, unsqueeze, var, where)
from chainrule.ops import (argmax, argmin, clone, flip, gather, index_select, masked_fill, median, nanmedian,  # noqa: F401
                           nanquantile, quantile, roll, scatter_add, sort, tile, topk)
from chainrule.ops import (all, any, cumsum, einsum, erf, erfc, expm1, log1p, logaddexp, norm, outer,  # noqa: F401
                           xlogy)
from chainrule.ops import (allclose, argsort, argwhere, bincount, chunk, clamp_max, clamp_min,  # noqa: F401
                           ceil, cumprod, diag, diag_embed, diagonal, eq, equal, exp2, fix, floor, frac, ge, greater,
                           greater_equal, gt, histc, histogram, isclose, le, lerp, less, less_equal, log2,
                           log10, lt, moveaxis, movedim, msort, narrow, ne, nonzero, not_equal, prod,
                           reciprocal, round, rsqrt, sign, split, swapaxes, swapdims, trace, tril, triu, trunc,
                           unbind, unique)
from chainrule.ops import bernoulli, multinomial, normal  # noqa: F401
from chainrule.ops import (bitwise_and, bitwise_not, bitwise_or, bitwise_xor, logical_and, logical_not,  # noqa: F401
                           logical_or, logical_xor, masked_scatter, masked_select, repeat_interleave, scatter, square,
                           floor_divide, fmod, remainder, addcmul, addcdiv)
from chainrule.ops import (absolute, acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctan2,  # noqa: F401
                           arctanh, asin, asinh, atan, atan2, atanh, concat, copysign, cosh, deg2rad, divide,
                           float_power, fmax, fmin, heaviside, hypot, isfinite, isinf, isnan, isneginf, isposinf,
                           isreal, logit, multiply, nan_to_num, nanmean, nansum, negative, positive, rad2deg, sgn, signbit,
                           sinc, sinh, subtract, tan, true_divide)
from chainrule.ops import (addbmm, addmm, addmv, addr, aminmax, baddbmm, bucketize, cdist,  # noqa: F401
                           chain_matmul, corrcoef, cov, cross, cummax, cummin, det, dist, ger, inner, inverse,
                           isin, kthvalue, logcumsumexp, logdet, matrix_power, mode, mv, pdist, searchsorted,
                           slogdet, std_mean, tensordot, var_mean, vdot)
from chainrule.ops import frexp, gcd, lcm, ldexp, logaddexp2, renorm, unique_consecutive  # noqa: F401
from chainrule.ops import diagonal_scatter, select_scatter, slice_scatter  # noqa: F401
from chainrule.ops import cholesky, cholesky_inverse, cholesky_solve, pinverse, qr, svd  # noqa: F401
from chainrule import linalg  # noqa: E402,F401
from chainrule import special  # noqa: E402,F401
from chainrule.gradcheck import GradcheckError, gradcheck
from chainrule.random import Generator, manual_seed
from chainrule.serialization import load, save  # noqa: F401
from chainrule._settings import get_float32_matmul_precision, set_float32_matmul_precision  # noqa: F401
from chainrule._settings import (are_deterministic_algorithms_enabled,  # noqa: F401
                                 is_deterministic_algorithms_warn_only_enabled, use_deterministic_algorithms)
from chainrule._format import set_printoptions  # noqa: F401
from chainrule.dtypes import can_cast, finfo, iinfo, promote_types  # noqa: F401
from chainrule.ops import is_floating_point, is_nonzero, result_type  # noqa: F401
from chainrule.random import initial_seed, seed  # noqa: F401
from chainrule._settings import get_num_threads, set_num_threads  # noqa: F401
from chainrule.ops.shape import broadcast_shapes, broadcast_tensors, is_tensor, meshgrid, numel  # noqa: F401
from chainrule.ops import (  # noqa: F401 - PyTorch parity (shape and index)
    atleast_1d, atleast_2d, atleast_3d, broadcast_to, column_stack, dsplit, dstack, hsplit, hstack, ravel,
    tensor_split, unflatten, vsplit, vstack)
from chainrule.ops import (  # noqa: F401 - PyTorch parity (shape and index)
    count_nonzero, diagflat, diff, fliplr, flipud, rot90, select, take, take_along_dim)
from chainrule.ops import (  # noqa: F401 - PyTorch parity (shape and index)
    block_diag, cartesian_prod, combinations, kron, tril_indices, triu_indices, unravel_index, vander)
from chainrule.ops import index_add, index_copy, index_fill, scatter_reduce  # noqa: F401 - PyTorch parity
from chainrule import data, distributed, distributions, nn, optim, testing, train, utils, viz  # noqa: E402
from chainrule.compiler import compile  # noqa: E402,A001
from chainrule.nn.functional import celu, rrelu, selu, threshold  # noqa: E402,F401 - torch's top-level forms
from chainrule.nn.functional import celu_, relu_, rrelu_, selu_, threshold_  # noqa: E402,F401

# PyTorch's dtype names (they shadow the builtins only inside this namespace, as torch's do)
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001 - torch.int is int32
short = int16
char = int8
byte = uint8
bool = bool_  # noqa: A001

__version__ = "0.1.0"

from chainrule._missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("chainrule", "torch", globals())  # a PyTorch name chainrule lacks: one clear line
