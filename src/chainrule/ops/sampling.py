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
    if p is None and x._data.dtype.kind != "f":
        raise dtypes.no_kernel("bernoulli_tensor_cpu_p_", x._data.dtype)
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


def bernoulli_(x, p=0.5, *, generator=None):
    """Fill ``x`` in place with 0/1 draws, 1 with probability ``p`` (a number or a tensor)."""
    prob = p._data if isinstance(p, TensorBase) else p
    if np.any(np.asarray(prob) < 0) or np.any(np.asarray(prob) > 1):
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    return (resolve(generator).random(x.shape) < prob).astype(x._data.dtype)
