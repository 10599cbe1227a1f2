"""Module and Parameter: PyTorch's names, with state_dict as the single truth of a model's state."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from chainrule import dtypes
from chainrule.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad and registers itself when assigned as a Module attribute.

    Args:
        data (array-like or Tensor): the initial value (float32 unless it is a float64 array).
        requires_grad (bool, True).
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)
        if self.data.dtype.kind != "f":
            raise TypeError(f"Parameter needs float data, got dtype {self.data.dtype}")

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: ``__call__`` runs ``forward``; parameters, submodules and
    buffers assigned as attributes are registered by name.

    Example:
        >>> import chainrule as cr
        >>> class TwoLayer(cr.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1 = cr.nn.Linear(4, 8)
        ...         self.fc2 = cr.nn.Linear(8, 3)
        ...     def forward(self, x):
        ...         return self.fc2(cr.relu(self.fc1(x)))
        >>> [name for name, _ in TwoLayer().named_parameters()]
        ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def _check_init(self):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                               f"assigning parameters or submodules")

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Module)):
            self._check_init()
            for d in (self._parameters, self._modules, self._buffers):
                d.pop(name, None)
            (self._parameters if isinstance(value, Parameter) else self._modules)[name] = value
            self.__dict__.pop(name, None)
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter {name!r}; "
                                f"assign a Parameter (or set .data)")
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_modules", "_buffers"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def register_buffer(self, name: str, value) -> None:
        """A non-parameter array in the state_dict (e.g. BatchNorm's running mean)."""
        self._check_init()
        self._buffers[name] = value

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def children(self):
        return iter(m for m in self._modules.values() if m is not None)

    def named_children(self):
        return iter((n, m) for n, m in self._modules.items() if m is not None)

    def named_parameters(self, prefix: str = ""):
        """(dotted name, Parameter) pairs, as PyTorch names them: ``0.weight``, ``fc1.bias``."""
        seen = set()
        for mp, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mp}.{name}" if mp else name), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self):
        for mp, m in self.named_modules():
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mp}.{name}" if mp else name), b

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def to(self, dtype):
        """Cast every parameter and float buffer to ``dtype`` in place (e.g. float64 for gradcheck)."""
        d = dtypes.as_dtype(dtype)
        for p in self.parameters():
            p.data = p.data.astype(d)
            p.grad = None
        for m in self.modules():
            for name, b in m._buffers.items():
                if isinstance(b, np.ndarray) and b.dtype.kind == "f":
                    m._buffers[name] = b.astype(d)
        return self

    def double(self):
        return self.to(dtypes.float64)

    def float(self):
        return self.to(dtypes.float32)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Name -> ndarray copy for every parameter and buffer (PyTorch's keys)."""
        out = OrderedDict((n, p.data.copy()) for n, p in self.named_parameters())
        for n, b in self.named_buffers():
            out[n] = np.array(b, copy=True)
        return out

    def load_state_dict(self, state, strict: bool = True):
        """Copy arrays (or Tensors, or torch tensors) into the parameters and buffers by name.

        With ``strict`` an error lists every missing, unexpected and wrongly-shaped key.
        Returns (missing, unexpected) key lists.
        """
        own = {n: ("param", p) for n, p in self.named_parameters()}
        for mp, m in self.named_modules():
            for name, b in m._buffers.items():
                if b is not None:
                    own[f"{mp}.{name}" if mp else name] = ("buffer", (m, name))
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        arrays, wrong = {}, []
        for k, (kind, target) in own.items():
            if k not in state:
                continue
            v = state[k]
            v = v.data if isinstance(v, Tensor) else np.asarray(v.detach().cpu() if hasattr(v, "detach") else v)
            have = target.data.shape if kind == "param" else np.shape(target[0]._buffers[target[1]])
            if v.shape != have:
                wrong.append(f"{k}: expected shape {have}, got {v.shape}")
            arrays[k] = v
        if wrong or (strict and (missing or unexpected)):
            lines = [f"load_state_dict for {type(self).__name__} failed:"]
            if missing:
                lines.append("  missing keys: " + ", ".join(missing))
            if unexpected:
                lines.append("  unexpected keys: " + ", ".join(unexpected))
            lines += ["  wrong shape: " + w for w in wrong]
            raise RuntimeError("\n".join(lines))
        for k, v in arrays.items():
            kind, target = own[k]
            if kind == "param":
                target.data[...] = v.astype(target.data.dtype, copy=False)
            else:
                m, name = target
                old = m._buffers[name]
                m._buffers[name] = np.array(v, dtype=np.asarray(old).dtype)
        return missing, unexpected

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not lines else head + "\n" + "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied one after another; their parameters are named ``0.weight``, ``1.bias``, ...

    Example:
        >>> import chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Linear(3072, 100), cr.nn.ReLU(), cr.nn.Linear(100, 10))
        >>> net(cr.zeros(64, 3072)).shape
        (64, 10)
    """

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a Module")
            self._modules[str(i)] = layer

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
