"""Sampling from tensors (PyTorch's signatures): multinomial, bernoulli, normal. Each draws from
``generator=`` (a chainrule.Generator, a NumPy Generator or a seed) or chainrule's default stream;
the numbers are NumPy's, not PyTorch's (docs/pytorch.md). No gradient flows through a sample."""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.core import TensorBase, make
from chainrule.ops.convert import as_tensor
from chainrule.random import resolve


def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None, out=None):  # noqa: A002
    """``num_samples`` category indices per row of the (unnormalised) weights ``input`` (1-D or 2-D),
    with or without replacement, as int64."""
    if out is not None:
        raise TypeError("multinomial: out= is not supported here; assign the result instead")
    w = as_tensor(input)._data
    if w.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got {w.ndim}")
    if w.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{dtypes.torch_name(w.dtype).replace('Tensor', '')}")
    n = w.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if num_samples <= 0:
        raise RuntimeError(f"cannot sample n_sample <= 0 samples, got {num_samples}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    rows = np.atleast_2d(w).astype(np.float64)
    sums = rows.sum(axis=1)
    if (sums <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rng = resolve(generator)
    out = np.stack([_draw(rng, r / s, num_samples, replacement) for r, s in zip(rows, sums)])
    return make(out.astype(np.int64).reshape(w.shape[:-1] + (num_samples,)))


def _draw(rng, p, k, replacement):
    """k categories from the probabilities p; without replacement, once the non-zero ones run out the
    zero-probability ones follow in random order (as PyTorch)."""
    if replacement:
        return rng.choice(len(p), size=k, p=p)
    first = rng.choice(len(p), size=min(k, int((p > 0).sum())), replace=False, p=p)
    rest = rng.permutation(np.flatnonzero(p == 0))[:k - len(first)]
    return np.concatenate([first, rest])


def bernoulli(input, p=None, *, generator=None):  # noqa: A002
    """0 or 1 per element, 1 with the probability ``input`` (or ``p``), in the input's dtype."""
    x = as_tensor(input)
    if p is None:
        dtypes.need_float(x._data.dtype, "bernoulli_tensor_cpu_p_")
    prob = x._data if p is None else np.broadcast_to(np.asarray(p, np.float64), x.shape)
    if ((prob < 0) | (prob > 1)).any() or np.isnan(prob).any():
        raise RuntimeError("bernoulli: all elements of input must be in [0, 1]")
    draw = resolve(generator).random(x.shape) < prob
    return make(draw.astype(x._data.dtype if x._data.dtype.kind == "f" else dtypes.DEFAULT_FLOAT))


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, requires_grad: bool = False,
           out=None, device=None):
    """Normal samples: elementwise ``mean`` and ``std`` (either a tensor, broadcast), or a tensor of
    ``size`` from two numbers (PyTorch's overloads)."""
    if out is not None:
        raise TypeError("normal: out= is not supported here; assign the result instead")
    tensors = [t for t in (mean, std) if isinstance(t, TensorBase)]
    if size is None and not tensors:
        raise TypeError("normal() received an invalid combination of arguments: give a tensor mean or std, "
                        "or a size with two numbers")
    if tensors and size is not None:
        raise TypeError("normal: size= goes with a float mean and std only")
    m = mean._data if isinstance(mean, TensorBase) else np.asarray(mean, np.float64)
    s = std._data if isinstance(std, TensorBase) else np.asarray(std, np.float64)
    if (np.asarray(s) < 0).any():
        raise RuntimeError(f"normal expects std >= 0.0, but found std {float(np.min(s))}")
    if tensors:
        d = dtypes.operands_dtype(*[mean, std]) if len(tensors) == 2 else tensors[0]._data.dtype
        if d.kind != "f":
            raise RuntimeError("normal expects a floating-point mean and std")
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
    else:
        d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.DEFAULT_FLOAT
        shape = tuple(size) if not isinstance(size, int) else (size,)
    data = (m + s * resolve(generator).standard_normal(shape)).astype(d)
    t = make(np.asarray(data))
    t.requires_grad = bool(requires_grad)
    return t


def _continuous(x, law: str) -> None:
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{law} distribution is a continuous probability distribution. dtype must be a floating "
                           f"point but you specified {dtypes.type_name(x._data.dtype)}")


def exponential_(x, lambd=1.0, *, generator=None):
    """Draws for ``x.exponential_(lambd)``: rate ``lambd`` (mean 1 / lambd)."""
    _continuous(x, "Exponential")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    return resolve(generator).exponential(1.0 / lambd, x.shape)


def geometric_(x, p, *, generator=None):
    """Draws for ``x.geometric_(p)``: the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p:g}")
    return resolve(generator).geometric(p, x.shape)


def cauchy_(x, median=0.0, sigma=1.0, *, generator=None):
    """Draws for ``x.cauchy_(median, sigma)``."""
    _continuous(x, "Cauchy")
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma:g}")
    return median + sigma * resolve(generator).standard_cauchy(x.shape)


def log_normal_(x, mean=1.0, std=2.0, *, generator=None):
    """Draws for ``x.log_normal_(mean, std)``: e^N(mean, std^2)."""
    dtypes.need_float(x._data.dtype, "log_normal_cpu")
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std:g}")
    return resolve(generator).lognormal(mean, std, x.shape)


def random_(x, from_=0, to=None, *, generator=None):
    """Draws for ``x.random_()``, ``x.random_(to)``, ``x.random_(from, to)``: integers uniform in
    [from, to); without ``to``, up to the largest integer the dtype holds exactly (2^24 for float32,
    2^53 for float64, the integer type's maximum, 1 for bool)."""
    d = x._data.dtype
    if to is None:
        to = 2 if d == np.bool_ else 2 ** (np.finfo(d).nmant + 1) + 1 if d.kind == "f" else int(np.iinfo(d).max)
    if from_ >= to:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={from_} >= to={to}")
    return resolve(generator).integers(from_, to, x.shape, dtype=np.int64)


def bernoulli_(x, p=0.5, *, generator=None):
    """Fill ``x`` in place with 0/1 draws, 1 with probability ``p`` (a number or a tensor)."""
    prob = p._data if isinstance(p, TensorBase) else p
    if np.any(np.asarray(prob) < 0) or np.any(np.asarray(prob) > 1):
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    return (resolve(generator).random(x.shape) < prob).astype(x._data.dtype)
