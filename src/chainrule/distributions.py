"""``chainrule.distributions``: the probability distributions learners' programs use, with PyTorch's
parameters, shapes and formulas: ``Categorical`` (REINFORCE's policy), ``Normal`` (a Gaussian policy,
a VAE's posterior, reparameterised by ``rsample``), ``Bernoulli``, and ``kl_divergence`` between two
of a kind. ``log_prob``, ``entropy`` and ``rsample`` are differentiable ops; ``sample`` is not. Draws
come from chainrule's generator (NumPy's streams: other numbers than PyTorch's, docs/pytorch.md).

Example:
    >>> import chainrule as cr
    >>> m = cr.distributions.Categorical(probs=cr.tensor([0.25, 0.75]))
    >>> round(m.log_prob(cr.tensor(1)).item(), 4), m.sample((3,)).shape
    (-0.2877, (3,))
"""
from __future__ import annotations

import math

import numpy as np

from chainrule import ops
from chainrule.core import make, no_grad
from chainrule.ops.convert import as_tensor, float_input
from chainrule.random import resolve
from chainrule.tensor import Size, Tensor

__all__ = ["Distribution", "Categorical", "Normal", "Bernoulli", "kl_divergence"]


def _sample_shape(sample_shape) -> tuple:
    return tuple(int(s) for s in (sample_shape if isinstance(sample_shape, (tuple, list)) else (sample_shape,)))


def _floats(*values):
    """The values as float tensors of one dtype, broadcast to one shape (PyTorch's broadcast_all)."""
    ts = [float_input(v) if isinstance(v, Tensor) else None for v in values]
    dtype = next((t.dtype for t in ts if t is not None), np.dtype(np.float32))
    ts = [t if t is not None else as_tensor(np.asarray(v, dtype)) for t, v in zip(ts, values)]
    shape = np.broadcast_shapes(*(t.shape for t in ts))
    return [t if t.shape == shape else t.expand(shape) for t in ts]


class Distribution:
    """The base: ``batch_shape``, ``event_shape``, ``sample(sample_shape)`` / ``rsample`` and
    ``validate_args`` (True by default, as in PyTorch: invalid parameters and values raise ValueError)."""

    has_rsample = False
    _params: tuple = ()

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape, self._event_shape = tuple(batch_shape), tuple(event_shape)
        self._validate_args = True if validate_args is None else bool(validate_args)

    @property
    def batch_shape(self) -> Size:
        return Size(self._batch_shape)

    @property
    def event_shape(self) -> Size:
        return Size(self._event_shape)

    def _extended_shape(self, sample_shape=()) -> tuple:
        return _sample_shape(sample_shape) + self._batch_shape + self._event_shape

    def sample(self, sample_shape=()):
        """A draw of shape sample_shape + batch_shape + event_shape, outside the graph."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__} has no rsample: it is not reparameterizable")

    def _invalid(self, what: str, constraint: str) -> ValueError:
        return ValueError(f"Expected {what} of distribution {self!r} to satisfy the constraint {constraint}, "
                          f"but found invalid values")

    def __repr__(self):
        parts = []
        for name in self._params:
            t = self.__dict__[name]
            parts.append(f"{name}: {t.item() if t.numel() == 1 else t.size()}")
        return f"{type(self).__name__}({', '.join(parts)})"


class Categorical(Distribution):
    """One of K categories, by ``probs`` (normalised along the last axis) or ``logits`` (log-odds).

    Args:
        probs (tensor (*, K), None) or logits (tensor (*, K), None): exactly one of them.

    Shape: batch_shape = probs.shape[:-1]; a sample is an int64 category index of
    sample_shape + batch_shape; ``log_prob(value)`` = logits[value] (value broadcast against the batch).
    """

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            p = float_input(probs)
            if p.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self._params = ("probs",)
            self.probs = p / p.sum(-1, keepdim=True)
            eps = np.finfo(p.dtype).eps
            self.logits = ops.log(ops.clamp(self.probs, eps, 1 - eps))
            bad = (p._data < 0).any() or not np.isfinite(p._data).all()
        else:
            lg = float_input(logits)
            if lg.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self._params = ("logits",)
            self.logits = lg - lg.logsumexp(-1, keepdim=True)
            self.probs = ops.softmax(self.logits, -1)
            bad = np.isnan(lg._data).any()
        self._num_events = self.probs.shape[-1]
        super().__init__(self.probs.shape[:-1], (), validate_args)
        if self._validate_args and bad:
            raise self._invalid(f"parameter {self._params[0]} (Tensor of shape {self.probs.shape})", "Simplex()")

    @property
    def param_shape(self) -> Size:
        return Size(self.probs.shape)

    @property
    def mean(self):
        return make(np.full(self._batch_shape, np.nan, self.probs.dtype))

    @property
    def mode(self):
        return self.probs.argmax(-1)

    def sample(self, sample_shape=()):
        shape = _sample_shape(sample_shape)
        n = int(np.prod(shape)) if shape else 1
        with no_grad():
            flat = ops.multinomial(self.probs.reshape(-1, self._num_events), n, replacement=True)  # (B, n)
            return flat.T.reshape(shape + self._batch_shape)

    def log_prob(self, value):
        v = as_tensor(value)
        if self._validate_args:
            a = v._data
            if a.dtype.kind == "f" and (a != np.round(a)).any() or (a < 0).any() or (a >= self._num_events).any():
                raise ValueError(f"Expected value argument (Tensor of shape {tuple(v.shape)}) to be within the "
                                 f"support (IntegerInterval(lower_bound=0, upper_bound={self._num_events - 1})) "
                                 f"of the distribution {self!r}, but found invalid values")
        v = v.long().unsqueeze(-1)
        shape = np.broadcast_shapes(v.shape, self.logits.shape)
        logits = self.logits.expand(shape) if self.logits.shape != shape else self.logits
        return logits.gather(-1, v.expand(shape[:-1] + (1,))).squeeze(-1)

    def entropy(self):
        logits = ops.clamp(self.logits, min=float(np.finfo(self.logits.dtype).min))
        return -(logits * self.probs).sum(-1)


class Normal(Distribution):
    """The Gaussian N(loc, scale^2), elementwise over the broadcast shape of ``loc`` and ``scale``.

    ``rsample`` is loc + eps * scale with eps ~ N(0, 1) (the reparameterisation: gradients reach loc and
    scale); ``log_prob(x)`` = -(x - loc)^2 / (2 scale^2) - log scale - log sqrt(2 pi).
    """

    has_rsample = True
    _params = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = _floats(loc, scale)
        super().__init__(self.loc.shape, (), validate_args)
        if self._validate_args and not (self.scale._data > 0).all():
            raise self._invalid(f"parameter scale (Tensor of shape {self.scale.shape})", "GreaterThan(lower_bound=0.0)")

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale ** 2

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = make(resolve(None).standard_normal(shape).astype(self.loc.dtype))
        return self.loc + eps * self.scale

    def log_prob(self, value):
        return -((value - self.loc) ** 2) / (2 * self.variance) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()

    def cdf(self, value):
        return 0.5 * (1 + ops.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))


class Bernoulli(Distribution):
    """1 with probability ``probs`` (or sigmoid(``logits``)), else 0, elementwise.

    ``log_prob(x)`` = x log p + (1 - x) log(1 - p), computed from the logits as PyTorch does.
    """

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = _floats(probs)
            self._params = ("probs",)
            eps = np.finfo(self.probs.dtype).eps
            clamped = ops.clamp(self.probs, eps, 1 - eps)
            self.logits = ops.log(clamped) - ops.log1p(-clamped)
            bad = ((self.probs._data < 0) | (self.probs._data > 1) | np.isnan(self.probs._data)).any()
        else:
            (self.logits,) = _floats(logits)
            self._params = ("logits",)
            self.probs = ops.sigmoid(self.logits)
            bad = np.isnan(self.logits._data).any()
        super().__init__(self.probs.shape, (), validate_args)
        if self._validate_args and bad:
            raise self._invalid(f"parameter {self._params[0]} (Tensor of shape {self.probs.shape})",
                                "Interval(lower_bound=0.0, upper_bound=1.0)")

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with no_grad():
            p = self.probs._data
            return make((resolve(None).random(shape) < np.broadcast_to(p, shape)).astype(p.dtype))

    def log_prob(self, value):
        logits, value = _floats(self.logits, value)
        return logits * value - ops.softplus(logits)  # -binary_cross_entropy_with_logits(logits, value)

    def entropy(self):
        return ops.softplus(self.logits) - self.logits * self.probs


def kl_divergence(p: Distribution, q: Distribution):
    """KL(p || q) for two distributions of one kind (Normal, Categorical, Bernoulli), elementwise over
    the batch."""
    if isinstance(p, Normal) and isinstance(q, Normal):
        var_ratio = (p.scale / q.scale) ** 2
        t1 = ((p.loc - q.loc) / q.scale) ** 2
        return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())
    if isinstance(p, Categorical) and isinstance(q, Categorical):
        t = p.probs * (p.logits - q.logits)
        t = ops.where(q.probs == 0, float("inf"), t)
        return ops.where(p.probs == 0, 0.0, t).sum(-1)
    if isinstance(p, Bernoulli) and isinstance(q, Bernoulli):
        t1 = p.probs * (ops.softplus(-q.logits) - ops.softplus(-p.logits))
        t1 = ops.where(p.probs == 0, 0.0, ops.where(q.probs == 0, float("inf"), t1))
        t2 = (1 - p.probs) * (ops.softplus(q.logits) - ops.softplus(p.logits))
        t2 = ops.where(p.probs == 1, 0.0, ops.where(q.probs == 1, float("inf"), t2))
        return t1 + t2
    raise NotImplementedError(f"kl_divergence: no rule for {type(p).__name__} and {type(q).__name__} in chainrule")


from chainrule._missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("chainrule.distributions", "torch.distributions", globals())
