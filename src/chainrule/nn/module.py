"""Module and Parameter: PyTorch's names, with state_dict as the single truth of a model's state."""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from chainrule import devices, dtypes
from chainrule.core import TensorBase
from chainrule.nn import hooks
from chainrule.nn.moves import parse_to
from chainrule.tensor import Tensor
from chainrule.utils._arrays import as_array as _as_array, wrap


class Parameter(Tensor):
    """A Tensor that requires grad and registers itself when assigned as a Module attribute.

    Args:
        data (array-like or Tensor): the initial value (float32 unless it is a float64 array).
        requires_grad (bool, True).
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)
        if self._data.dtype.kind != "f":
            raise TypeError(f"Parameter needs float data, got dtype {self._data.dtype}")

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__  # print(param) shows it as torch does, whatever Tensor.__str__ is


_SLOT = TensorBase.__dict__["_data"]   # the array slot itself, past the property below


def _uninitialized(dtype, requires_grad):
    return UninitializedParameter(requires_grad, dtype=dtype)


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet: a lazy module's (``LazyLinear``) until its first
    forward. It has a dtype and ``requires_grad`` but no values: reading them raises ValueError, its
    shape RuntimeError, as in PyTorch. ``materialize(shape)`` gives it an (uninitialised) array and
    makes it a :class:`Parameter`, the same object, so an optimizer made before holds it.

    Args:
        requires_grad (bool, True), device (None or "cpu"), dtype (dtype, float32).
    """

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        Tensor.__init__(self, np.empty(0, dtypes.as_dtype(dtype or dtypes.float32)), device=device,
                        requires_grad=requires_grad)

    @property
    def _data(self):
        raise ValueError("Attempted to use an uninitialized parameter (a lazy module's before its first forward); "
                         "call forward with a dummy batch to initialize the parameters first")

    @_data.setter
    def _data(self, value):
        _SLOT.__set__(self, value)

    @property
    def shape(self):
        raise RuntimeError("Can't access the shape of an uninitialized parameter: call forward to initialize "
                           "the parameters before accessing their attributes")

    @property
    def dtype(self):
        return _SLOT.__get__(self).dtype

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give the parameter an uninitialised array of ``shape`` (its dtype unless ``dtype``) and make
        it a Parameter."""
        devices.check("cpu" if device is None else device)
        _SLOT.__set__(self, np.empty(tuple(shape), dtypes.as_dtype(dtype) if dtype else self.dtype))
        self.__class__ = self.cls_to_become

    def _retype(self, dtype) -> None:
        """Module.to(dtype) before the first forward: the dtype it will materialize in."""
        _SLOT.__set__(self, np.empty(0, dtype))

    def __reduce_ex__(self, protocol):   # copy, deepcopy and pickle without reading the values
        return _uninitialized, (self.dtype, self.requires_grad)

    def __repr__(self):
        return "<UninitializedParameter>"

    __str__ = __repr__


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: (missing_keys, unexpected_keys), printed as PyTorch prints it."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


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
        if self.__dict__.get("_hooks"):
            return hooks.call(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ hooks (see nn/hooks.py)
    def _hook_table(self) -> hooks.Hooks:
        if "_hooks" not in self.__dict__:
            object.__setattr__(self, "_hooks", hooks.Hooks())
        return self.__dict__["_hooks"]

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """Call ``hook(module, args)`` before each forward; it may return new args (a tuple, or one
        value). With ``with_kwargs``: ``hook(module, args, kwargs)`` returning None or (args, kwargs).
        Returns a handle whose ``remove()`` unregisters it."""
        t = self._hook_table()
        return t.add(t.forward_pre, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """Call ``hook(module, args, output)`` after each forward; it may return a new output.
        With ``with_kwargs``: ``hook(module, args, kwargs, output)``. Returns a removable handle.

        Example:
            >>> import chainrule as cr
            >>> seen = []
            >>> relu = cr.nn.ReLU()
            >>> h = relu.register_forward_hook(lambda m, args, out: seen.append(out.shape))
            >>> _ = relu(cr.ones(2, 3)); h.remove(); _ = relu(cr.ones(4))
            >>> seen
            [(2, 3)]
        """
        t = self._hook_table()
        return t.add(t.forward, hook, prepend, with_kwargs)

    def register_full_backward_hook(self, hook, prepend: bool = False):
        """Call ``hook(module, grad_input, grad_output)`` when the gradients with respect to the
        module's tensor inputs have been computed (tuples of Tensors, None for an input that needs
        none); it may return a new grad_input. Returns a removable handle."""
        t = self._hook_table()
        return t.add(t.backward, hook, prepend)

    # ------------------------------------------------------------------ registration
    def _check_init(self):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                               f"assigning parameters or submodules")

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Module)):
            self._check_init()
            store = self._parameters if isinstance(value, Parameter) else self._modules
            for d in (self._parameters, self._modules, self._buffers):
                if d is not store:  # a name replaced in its own store keeps its place, as in PyTorch
                    d.pop(name, None)
            store[name] = value
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

    def __delattr__(self, name):
        """``del module.name`` forgets a parameter, buffer or submodule, as in PyTorch."""
        for store in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(store, ()):
                del self.__dict__[store][name]
                self.__dict__.get("_non_persistent", set()).discard(name)
                return
        object.__delattr__(self, name)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_modules", "_buffers"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """A non-parameter tensor or array kept with the module (e.g. BatchNorm's running mean);
        in the state_dict unless ``persistent=False``."""
        self._check_init()
        if not isinstance(name, str) or "." in name or not name:
            raise KeyError(f"register_buffer: buffer name must be a non-empty string without '.', got {name!r}")
        if name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer: attribute {name!r} already exists as a parameter or module")
        self.__dict__.pop(name, None)
        self._buffers[name] = value
        hidden = self.__dict__.setdefault("_non_persistent", set())
        (hidden.discard if persistent else hidden.add)(name)

    def register_parameter(self, name: str, param) -> None:
        """Add a Parameter (or None) under ``name``, as assigning it as an attribute does."""
        self._check_init()
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got "
                            f"{type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def add_module(self, name: str, module) -> None:
        """Add a submodule (or None) under ``name``, as assigning it as an attribute does."""
        self._check_init()
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self.__dict__.pop(name, None)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        m = self
        for part in target.split(".") if target else ():
            if part not in m._modules:
                raise AttributeError(f"{type(m).__name__} has no submodule {part!r} (looking up {target!r})")
            m = m._modules[part]
        return m

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """(dotted name, module) for this module and every submodule, depth first; a module
        reachable twice is listed once (unless ``remove_duplicate=False``)."""
        if isinstance(memo, str):  # named_modules("net"): the prefix given positionally
            memo, prefix = None, memo
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def children(self):
        return iter(m for m in self._modules.values() if m is not None)

    def named_children(self):
        return iter((n, m) for n, m in self._modules.items() if m is not None)

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) pairs, as PyTorch names them: ``0.weight``, ``fc1.bias``."""
        seen = set()
        for mp, m in (self.named_modules(prefix=prefix) if recurse else [(prefix, self)]):
            for name, p in m._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mp}.{name}" if mp else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        for mp, m in (self.named_modules(prefix=prefix) if recurse else [(prefix, self)]):
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mp}.{name}" if mp else name), b

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def _state_items(self):
        """(dotted name, kind, owner, attribute) of everything in the state_dict, in PyTorch's order:
        each module's parameters, then its persistent buffers, then its submodules'."""
        for mp, m in self.named_modules(remove_duplicate=False):
            for name, p in m._parameters.items():
                if p is not None:
                    yield (f"{mp}.{name}" if mp else name), "param", m, name
            hidden = m.__dict__.get("_non_persistent", ())
            for name, b in m._buffers.items():
                if b is not None and name not in hidden:
                    yield (f"{mp}.{name}" if mp else name), "buffer", m, name

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule (children first), then on this module; returns self.

        Example: ``net.apply(init_weights)`` with ``def init_weights(m): if isinstance(m, nn.Linear): ...``.
        """
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (``.grad`` = None), or fill it with zeros when
        ``set_to_none=False``."""
        for p in self.parameters():
            if set_to_none or p._grad is None:
                p.grad = None
            else:
                p._grad = np.zeros_like(p._data)

    def requires_grad_(self, requires_grad: bool = True):
        """Switch gradient tracking of every parameter on or off (freezing layers); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, *args, **kwargs):
        """Cast every float parameter and buffer to a dtype in place and return self, as PyTorch's
        ``to(dtype)``, ``to("cpu")``, ``to(device, dtype)``, ``to(tensor)`` and ``to(dtype=...)``."""
        d = parse_to("Module.to", args, kwargs)
        if d is None:
            return self
        for p in self.parameters():
            if isinstance(p, UninitializedParameter):
                p._retype(d)
            elif p._data.dtype != d:
                p._data = p._data.astype(d)
                p.grad = None
        for m in self.modules():
            for name, b in m._buffers.items():
                arr = b._data if isinstance(b, Tensor) else b
                if isinstance(arr, np.ndarray) and arr.dtype.kind == "f" and arr.dtype != d:
                    if isinstance(b, Tensor):
                        b._data = arr.astype(d)
                    else:
                        m._buffers[name] = arr.astype(d)
        return self

    def cpu(self):
        """Returns self: chainrule runs on the CPU."""
        return self

    def cuda(self, device=None):
        devices.check("cuda" if device is None else device)

    def type(self, dst_type):
        return self.to(dst_type)

    def double(self):
        return self.to(dtypes.float64)

    def float(self):
        return self.to(dtypes.float32)

    def half(self):
        return self.to(dtypes.float16)

    # ------------------------------------------------------------------ state
    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """Name -> Tensor for every parameter and persistent buffer (PyTorch's keys and order).

        As in PyTorch the Tensors are detached views that share memory with the module (training
        changes them: ``copy.deepcopy`` the dict to keep a snapshot); with ``keep_vars`` the
        Parameters and buffers themselves.
        """
        if args:   # PyTorch's deprecated positional form state_dict(destination, prefix, keep_vars)
            destination, prefix, keep_vars = (list(args) + [destination, prefix, keep_vars][len(args):])[:3]
        out = OrderedDict() if destination is None else destination
        for n, kind, m, name in self._state_items():
            v = m._parameters[name] if kind == "param" else m._buffers[name]
            if not keep_vars and not isinstance(v, UninitializedParameter):  # itself, as in PyTorch
                v = v.detach() if isinstance(v, Tensor) else wrap(np.asarray(v))
            out[prefix + n] = v
        return out

    def load_state_dict(self, state, strict: bool = True):
        """Copy Tensors (chainrule's or torch's) or NumPy arrays into the parameters and buffers by name.

        With ``strict`` an error lists every missing, unexpected and wrongly-shaped key.
        Returns (missing_keys, unexpected_keys), a named tuple.
        """
        own = {n: (("param", m._parameters[name]) if kind == "param" else ("buffer", (m, name)))
               for n, kind, m, name in self._state_items()}
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        arrays, wrong = {}, []
        for k, (kind, target) in own.items():
            if k not in state:
                continue
            v = state[k]
            if isinstance(v, UninitializedParameter):   # saved before a lazy module's first forward
                if not isinstance(target, UninitializedParameter):
                    wrong.append(f"{k}: the saved parameter is uninitialized (its lazy module never ran forward)")
                continue
            v = _as_array(v)
            if isinstance(target, UninitializedParameter):   # a lazy module takes the saved shape, below
                arrays[k] = v
                continue
            have = target._data.shape if kind == "param" else np.shape(target[0]._buffers[target[1]])
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
            if isinstance(target, UninitializedParameter):
                target.materialize(v.shape)
            if kind == "param":
                target._data[...] = v.astype(target._data.dtype, copy=False)
            else:
                m, name = target
                old = m._buffers[name]
                if isinstance(old, Tensor):
                    old._data = np.array(v, dtype=old._data.dtype)
                else:
                    m._buffers[name] = np.array(v, dtype=np.asarray(old).dtype)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        # PyTorch's layout: a one-line extra_repr alone stays on the head line; otherwise its lines and
        # the children's, each indented by two
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        if len(lines) == 1 and not children:
            return f"{type(self).__name__}({lines[0]})"
        body = lines + children
        return f"{type(self).__name__}(" + ("\n  " + "\n  ".join(body) + "\n" if body else "") + ")"


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
        named = layers[0].items() if len(layers) == 1 and isinstance(layers[0], dict) else \
            ((str(i), m) for i, m in enumerate(layers))  # Sequential(OrderedDict(name=layer, ...)) too
        for i, (name, layer) in enumerate(named):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a Module")
            self._modules[name] = layer

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x

    def _key(self, idx: int) -> str:
        n = len(self._modules)
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise TypeError(f"Sequential indices must be integers or slices, not {type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return list(self._modules)[idx % n]

    def _renumber(self, modules) -> None:
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m

    def __getitem__(self, idx):
        """``net[0]``, ``net[-1]``; a slice is a Sequential of those layers, under their names."""
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._key(idx)]

    def __setitem__(self, idx, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: {type(module).__name__} is not a Module")
        self._modules[self._key(idx)] = module

    def __delitem__(self, idx):
        """Remove layers (an index or a slice); the rest are numbered 0, 1, ... again, as in PyTorch."""
        keys = list(self._modules)[idx] if isinstance(idx, slice) else [self._key(idx)]
        for k in keys:
            del self._modules[k]
        self._renumber(list(self._modules.values()))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __add__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return Sequential(*self, *other)

    def __iadd__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return self.extend(other)

    def append(self, module):
        """Add a layer at the end (named by its position); returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: {type(module).__name__} is not a Module")
        self.add_module(str(len(self)), module)
        return self

    def extend(self, sequential):
        """Append every layer of an iterable of modules; returns self."""
        for m in sequential:
            self.append(m)
        return self

    def insert(self, index: int, module):
        """Put a layer before position ``index`` (negative counts from the end); returns self."""
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        items = list(self._modules.values())
        items.insert(index if index >= 0 else index + n, module)
        self._renumber(items)
        return self

    def pop(self, key):
        """Remove the layer at index ``key`` and return it."""
        m = self[key]
        del self[key]
        return m
