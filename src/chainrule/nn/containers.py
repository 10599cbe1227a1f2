"""ModuleList and ModuleDict: hold submodules in a list or a dict so that their parameters are
registered (names ``layers.0.weight``, ``heads.out.bias``), as in PyTorch; ParameterList and
ParameterDict do the same for parameters (``weights.0``, ``scales.left``)."""
from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor


def _check_module(m, where: str):
    if not isinstance(m, Module):
        raise TypeError(f"{where}: {type(m).__name__} is not a Module")
    return m


class ModuleList(Module):
    """A list of modules whose parameters belong to the owner; index, slice, append, extend, insert.

    Example:
        >>> import chainrule as cr
        >>> layers = cr.nn.ModuleList([cr.nn.Linear(4, 4) for _ in range(3)])
        >>> len(list(layers.parameters())), len(layers[1:])
        (6, 2)
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, i: int) -> int:
        n = len(self._modules)
        if not isinstance(i, int) or not -n <= i < n:
            raise IndexError(f"ModuleList index {i} is out of range for a list of {n} modules")
        return i % n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(list(self._modules.values())[i])
        return self._modules[str(self._index(i))]

    def __setitem__(self, i, module):
        self._modules[str(self._index(i))] = _check_module(module, "ModuleList")

    def __delitem__(self, i):
        items = list(self._modules.values())
        del items[i if isinstance(i, slice) else self._index(i)]
        self._modules.clear()
        for k, m in enumerate(items):
            self._modules[str(k)] = m

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return type(self)(list(self) + list(other))

    def append(self, module):
        self._modules[str(len(self._modules))] = _check_module(module, "ModuleList.append")
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module) -> None:
        items = list(self._modules.values())
        items.insert(index, _check_module(module, "ModuleList.insert"))
        self._modules.clear()
        for k, m in enumerate(items):
            self._modules[str(k)] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(): iterate over it in your module's forward")

    def __repr__(self):
        # PyTorch's form: runs of identical modules are shown once, "(0-2): 3 x Linear(...)"
        reprs = [repr(m).replace("\n", "\n  ") for m in self._modules.values()]
        if not reprs:
            return "ModuleList()"
        lines, start = [], 0
        for i in range(1, len(reprs) + 1):
            if i == len(reprs) or reprs[i] != reprs[start]:
                n = i - start
                key = f"({start})" if n == 1 else f"({start}-{i - 1}): {n} x"
                lines.append(f"  {key}: {reprs[start]}" if n == 1 else f"  {key} {reprs[start]}")
                start = i
        return "ModuleList(\n" + "\n".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules (insertion order kept) whose parameters belong to the owner.

    Example:
        >>> import chainrule as cr
        >>> heads = cr.nn.ModuleDict({"cls": cr.nn.Linear(8, 3), "box": cr.nn.Linear(8, 4)})
        >>> [name for name, _ in heads.named_parameters()]
        ['cls.weight', 'cls.bias', 'box.weight', 'box.bias']
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str):
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no module {key!r} (keys: {list(self._modules)})")
        return self._modules[key]

    def __setitem__(self, key: str, module):
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict keys must be strings, got {type(key).__name__}")
        self._modules[key] = _check_module(module, f"ModuleDict[{key!r}]")

    def __delitem__(self, key: str):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key: str):
        return self._modules.pop(key)

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules) -> None:
        pairs = modules.items() if isinstance(modules, (dict, OrderedDict, ModuleDict)) else modules
        for k, m in pairs:
            self[k] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(): pick a module by key in your forward")


# ----------------------------------------------------------------------------- parameters
def _as_parameter(value):
    """A Tensor given to a ParameterList or ParameterDict becomes a Parameter (sharing its array), as
    in PyTorch; Parameters, modules and other objects are kept as they are."""
    return Parameter(value) if isinstance(value, Tensor) and not isinstance(value, Parameter) else value


def _entry(owner: Module, name: str):
    """The object stored under ``name``: a parameter, a submodule or a plain attribute."""
    for store in (owner._parameters, owner._modules):
        if name in store:
            return store[name]
    return owner.__dict__[name]


def _entry_lines(items, type_name) -> str:
    """PyTorch's extra_repr of a parameter container: one line per entry, the type (``type_name`` of a
    tensor: its dtype in a list, its tensor type in a dict, as PyTorch prints them) and size of each."""
    lines = []
    for k, p in items:
        if isinstance(p, Tensor):
            size = "x".join(str(n) for n in p.shape)
            kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
            lines.append(f"  ({k}): {kind} containing: [{type_name(p)} of size {size}]")
        else:
            lines.append(f"  ({k}): Object of type: {type(p).__name__}")
    return "\n".join(lines)


class ParameterList(Module):
    """A list of parameters that belong to the owner: ``parameters()``, ``state_dict()`` (keys
    ``<attribute>.0``, ``<attribute>.1``, ...) and the optimizers see them. Tensors put in it become
    Parameters; other objects are kept as they are, as in PyTorch.

    Args:
        values (iterable, None): the first entries.

    Example:
        >>> import chainrule as cr
        >>> ws = cr.nn.ParameterList([cr.zeros(2, 3), cr.zeros(3)])
        >>> [name for name, _ in ws.named_parameters()], type(ws[1]).__name__
        (['0', '1'], 'Parameter')
    """

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _key(self, idx) -> str:
        idx = operator.index(idx)
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} is out of range")
        return str(idx % len(self))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)([self[i] for i in range(*idx.indices(len(self)))])
        return _entry(self, self._key(idx))

    def __setitem__(self, idx, value) -> None:
        setattr(self, self._key(idx), _as_parameter(value))

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return iter([self[i] for i in range(len(self))])

    def __iadd__(self, values):
        return self.extend(values)

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def append(self, value):
        """Put ``value`` at the end (a Tensor as a Parameter); returns self."""
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values):
        """Append every value of an iterable (not of a Tensor: that raises TypeError); returns self."""
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got {type(values).__name__}")
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        return _entry_lines(enumerate(self), lambda p: p.dtype)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """An ordered dict of parameters (string keys) that belong to the owner: ``state_dict()`` keys are
    ``<attribute>.<key>``. Tensors put in it become Parameters. As in PyTorch, a plain ``dict`` given
    to the constructor or ``update`` is added in sorted key order (an ``OrderedDict``, a ParameterDict
    or a sequence of pairs in its own order).

    Args:
        parameters (mapping or iterable of (str, value) pairs, None): the first entries.

    Example:
        >>> import chainrule as cr
        >>> scales = cr.nn.ParameterDict({"right": cr.ones(3), "left": cr.zeros(3)})
        >>> list(scales.state_dict()), "left" in scales
        (['left', 'right'], True)
    """

    def __init__(self, parameters=None):
        super().__init__()
        self._keys = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _check_key(key) -> str:
        if not isinstance(key, str):
            raise TypeError(f"Index given to ParameterDict cannot be used as a key as it is not a string "
                            f"(type is '{type(key).__name__}')")
        return key

    def __getitem__(self, key: str):
        self._check_key(key)
        if key not in self._keys:
            raise AttributeError(f"'ParameterDict' object has no attribute '{key}'")
        return _entry(self, key)

    def __setitem__(self, key: str, value) -> None:
        self._check_key(key)
        value = _as_parameter(value)
        if isinstance(value, (Parameter, Module)) and ("." in key or not key):
            kind = "parameter" if isinstance(value, Parameter) else "module"
            raise KeyError(f"{kind} name can't contain \".\"" if key else f"{kind} name can't be empty string \"\"")
        self._keys[key] = None
        setattr(self, key, value)

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._keys

    def keys(self):
        return self._keys.keys()

    def items(self):
        return ((k, self[k]) for k in self._keys)

    def values(self):
        return (self[k] for k in self._keys)

    def get(self, key: str, default=None):
        return self[key] if key in self else default

    def setdefault(self, key: str, default=None):
        """``self[key]``, first set to ``default`` when the key is new."""
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str):
        v = self[key]
        del self[key]
        return v

    def popitem(self) -> tuple:
        """Remove and return the last (key, value) pair put in."""
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def clear(self) -> None:
        for k in list(self._keys):
            del self[k]

    def copy(self) -> "ParameterDict":
        """A new ParameterDict holding the same parameters, in the same order."""
        return ParameterDict(OrderedDict(self.items()))

    def fromkeys(self, keys, default=None) -> "ParameterDict":
        return ParameterDict((k, default) for k in keys)

    def update(self, parameters) -> None:
        """Add or replace entries from a mapping or an iterable of (key, value) pairs."""
        if not isinstance(parameters, Iterable):
            raise TypeError(f"ParametersDict.update should be called with an iterable of key/value pairs, "
                            f"but got {type(parameters).__name__}")
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs = list(parameters.items())
        elif isinstance(parameters, Mapping):
            pairs = sorted(parameters.items())
        else:
            pairs = []
            for j, p in enumerate(parameters):
                if not isinstance(p, Iterable):
                    raise TypeError(f"ParameterDict update sequence element #{j} should be Iterable; is "
                                    f"{type(p).__name__}")
                p = list(p)
                if len(p) != 2:
                    raise ValueError(f"ParameterDict update sequence element #{j} has length {len(p)}; 2 is required")
                pairs.append(p)
        for k, v in pairs:
            self[k] = v

    def __or__(self, other) -> "ParameterDict":
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other) -> "ParameterDict":
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other):
        self.update(other)
        return self

    def extra_repr(self) -> str:
        return _entry_lines(self.items(), lambda p: p.type())

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterDict should not be called.")
