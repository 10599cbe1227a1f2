"""Layers: Linear, LazyLinear, Bilinear, Flatten, Unflatten, Dropout, Identity, the activations, and MLP."""
from __future__ import annotations

import math

import numpy as np

from chainrule import ops
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.lazy import LazyModuleMixin
from chainrule.nn.module import Module, Parameter, Sequential, UninitializedParameter


class Linear(Module):
    """A fully connected layer, y = x W^T + b.

    Args:
        in_features (int), out_features (int).
        bias (bool, True): learn an additive bias.
        device (None or "cpu"): accepted as in PyTorch (chainrule runs on the CPU).
        dtype (dtype, float32).

    Shape: (N, in_features) -> (N, out_features). ``weight`` is (out_features, in_features) as in
    PyTorch, so that state_dicts move between the two; the lecture's X W with W of shape (D, H) is
    ``x @ layer.weight.T``.

    Initialisation matches PyTorch's in distribution: weight and bias U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # shape (out, in) as in PyTorch, stored as the transpose of a C-contiguous (in, out) array: the
        # course code's layout, in which OpenBLAS runs all three products of a step fastest
        # (benchmarks/bench_train_step.py); state_dict() still gives C-contiguous (out, in) arrays
        self.weight = Parameter(np.empty((in_features, out_features), dtype=dtype or np.float32).T)
        self.bias = Parameter(np.empty(out_features, dtype=dtype or np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # = U(-1/sqrt(in), 1/sqrt(in))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear layer whose ``in_features`` is the last axis of its first input: until then ``weight``
    and ``bias`` are UninitializedParameters; the first forward gives them their shapes and Linear's
    initialisation, and the module becomes a :class:`Linear`.

    Args:
        out_features (int), bias (bool, True), device (None or "cpu"), dtype (dtype, float32).

    Example:
        >>> import chainrule as cr
        >>> layer = cr.nn.LazyLinear(10)
        >>> layer(cr.zeros(4, 3)).shape, layer
        ((4, 10), Linear(in_features=3, out_features=10, bias=True))
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__(0, 0, False, device, dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input) -> None:  # noqa: A002
        """Take ``in_features`` from the input's last axis and initialise as Linear does."""
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.in_features, self.out_features))
            self.weight._data = self.weight._data.T    # Linear's layout: see Linear.__init__
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()
        if self.in_features == 0:   # parameters loaded from a state_dict
            if input.shape[-1] != self.weight.shape[-1]:
                raise AssertionError(f"The in_features inferred from input: {input.shape[-1]} is not equal to "
                                     f"in_features from self.weight: {self.weight.shape[-1]}")
            self.in_features = input.shape[-1]


class Bilinear(Module):
    """y = x1^T A x2 + b: each output o is the bilinear form of A_o (in1 x in2) on the two inputs.

    Args:
        in1_features (int), in2_features (int), out_features (int).
        bias (bool, True): learn an additive bias.
        device (None or "cpu"), dtype (dtype, float32): as for Linear.

    Shape: (*, in1_features) and (*, in2_features), the same leading axes -> (*, out_features).
    ``weight`` is (out_features, in1_features, in2_features), ``bias`` (out_features,); both start
    U(-1/sqrt(in1_features), 1/sqrt(in1_features)), as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Bilinear(3, 4, 5)(cr.randn(8, 3), cr.randn(8, 4)).shape
        (8, 5)
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        dt = dtype or np.float32
        self.weight = Parameter(np.empty((out_features, in1_features, in2_features), dtype=dt))
        self.bias = Parameter(np.empty(out_features, dtype=dt)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Identity(Module):
    """Returns its input."""

    def forward(self, x):
        return x


class CosineSimilarity(Module):
    """The cosine of the angle between x1 and x2 along ``dim``; see
    :func:`chainrule.nn.functional.cosine_similarity`."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """The p-norm of x1 - x2 + eps along the last axis; see
    :func:`chainrule.nn.functional.pairwise_distance`."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class Flatten(Module):
    """Flattens axes start_dim..end_dim (default: all but the batch axis). (N, 3, 32, 32) -> (N, 3072)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits axis ``dim`` into ``unflattened_size``: Unflatten(1, (3, 32, 32)) turns (N, 3072) into
    (N, 3, 32, 32) (the inverse of Flatten)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        d = self.dim % x.ndim
        return x.reshape(x.shape[:d] + self.unflattened_size + x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class _DropoutNd(Module):
    """The dropout layers' common part (PyTorch's _DropoutNd): the probability p and the inplace flag."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace  # inplace: accepted, computed out of place (docs/pytorch.md)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Inverted dropout with drop probability p in training; the identity in eval mode."""

    def forward(self, x):
        return F.dropout(x, self.p, self.training)


# ----------------------------------------------------------------------------- activations
class ReLU(Module):
    """max(0, x). ``inplace`` is accepted and computed out of place (docs/pytorch.md)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""

    def forward(self, x):
        return ops.relu(x)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class RReLU(Module):
    """Randomized leaky ReLU (F.rrelu): a slope drawn in [lower, upper] for each element where x <= 0 in
    training, the slope (lower + upper) / 2 in eval mode."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, x):
        return F.rrelu(x, self.lower, self.upper, self.training)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, x):
        return ops.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return ops.tanh(x)


class ELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return ops.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return ops.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x) (swish)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.silu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Softplus(Module):
    def forward(self, x):
        return ops.softplus(x)

    def extra_repr(self):
        return "beta=1.0, threshold=20.0"


ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh, "elu": ELU,
               "gelu": GELU, "softplus": Softplus, "silu": SiLU}


class MLP(Sequential):
    """A fully connected network: Linear layers with an activation (and optional dropout) between.

    Args:
        sizes (list of int): layer widths, input first: ``[3072, 100, 100, 10]`` is the lecture's
            CIFAR-10 network (3072 inputs, two hidden layers of 100, 10 class scores).
        activation (str, "relu"): one of relu, leaky_relu, sigmoid, tanh, elu, gelu, softplus.
        dropout (float, 0.0): dropout after each hidden activation.

    Parameter names match ``torch.nn.Sequential`` with the same layers (``0.weight``, ``2.bias``...).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.MLP([3072, 100, 100, 10])(cr.zeros(8, 3072)).shape
        (8, 10)
    """

    def __init__(self, sizes, activation: str = "relu", dropout: float = 0.0):
        sizes = list(sizes)
        if len(sizes) < 2 or any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"MLP: sizes must be at least two positive integers, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
                if dropout:
                    layers.append(Dropout(dropout))
        super().__init__(*layers)
        self.sizes, self.activation, self.dropout = sizes, activation, dropout

    def config(self) -> dict:
        """What it takes to rebuild this network (saved in checkpoints)."""
        return {"sizes": self.sizes, "activation": self.activation, "dropout": self.dropout}
