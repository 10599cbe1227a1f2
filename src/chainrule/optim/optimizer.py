"""Optimizer: parameter groups, per-parameter state, and state_dict, as in torch.optim.

An optimizer reads each parameter's gradient and updates the parameter's array in place,
outside the graph. ``opt.state[p]`` holds the parameter's buffers as Tensors (``step`` a 0-d
float32 Tensor, as PyTorch keeps it). Each subclass's ``_update`` is its rule on arrays, written
out as in PyTorch's documentation.
"""
from __future__ import annotations

import copy

import numpy as np

from chainrule.autograd import enable_grad
from chainrule.tensor import Tensor
from chainrule.utils._arrays import array_of as _arr, as_array as _as_array, wrap as _tensor


class _Required:
    """The default of a hyper-parameter that has none (PyTorch's ``required``)."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class. ``params``: an iterable of tensors, or of dicts ``{"params": [...], "lr": ...}``
    (parameter groups, each with its own hyper-parameters; other keys are kept, as in PyTorch).

    Example:
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter(cr.ones(2))
        >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> w.grad = cr.ones(2)
        >>> opt.step(lambda: 3.0)
        3.0
        >>> opt.state[w]["momentum_buffer"]
        tensor([1., 1.])
        >>> opt.state_dict()["param_groups"][0]["params"]
        [0]
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(f"params argument given to the optimizer should be an iterable of Tensors or "
                            f"dicts, but got {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        self.state = _State()  # parameter -> dict of buffers (Tensors)
        for g in groups:
            self.add_param_group(g)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {g[k]}" for k in sorted(g) if k != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones take the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{type(self).__name__}.add_param_group: param_group must be a dict, got "
                            f"{type(param_group).__name__}")
        group = dict(param_group)
        ps = group["params"]
        if isinstance(ps, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs; please use a list instead")
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        named = [p for p in ps if isinstance(p, tuple)]       # model.named_parameters(), as PyTorch 2.x takes
        group["params"] = [p[1] if isinstance(p, tuple) else p for p in ps]
        if named:
            if len(named) != len(ps):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            group["param_names"] = [n for n, _ in named]
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: optimizer can only optimize Tensors, but one of the "
                                f"params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor")
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"{type(self).__name__}: parameter group didn't specify a value of required "
                                 f"optimization parameter {k}")
            group.setdefault(k, v)
        if group.get("differentiable"):
            raise NotImplementedError(f"{type(self).__name__}: differentiable=True is not supported; "
                                      f"chainrule's optimizers update arrays outside the graph")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in group["params"]}) != len(group["params"]) or \
                any(id(p) in seen for p in group["params"]):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        self._check(group)
        self.param_groups.append(group)

    def _check(self, group: dict) -> None:
        """PyTorch's checks of the hyper-parameters (ValueError, as PyTorch)."""
        name = type(self).__name__
        for k in ("lr", "eps", "weight_decay", "momentum", "alpha", "lr_decay"):
            v = group.get(k)
            if isinstance(v, Tensor):
                v = v.item()
            if v is not None and v < 0:
                what = {"lr": "learning rate", "eps": "epsilon value"}.get(k, f"{k} value")
                raise ValueError(f"{name}: Invalid {what}: {v} (must be >= 0)")
        for i, b in enumerate(group.get("betas", ())):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{name}: Invalid beta parameter at index {i}: {b} (must be in [0, 1))")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every gradient (None, PyTorch's default), or zero it in place with set_to_none=False."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or p._grad is None:
                    p.grad = None
                else:
                    p._grad = np.zeros_like(_arr(p))

    def step(self, closure=None):
        """Update every parameter that has a gradient; with ``closure`` (a function that zeroes the
        gradients, computes the loss, calls backward and returns the loss) call it first, with
        gradients enabled, and return its loss (None without a closure)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is None:
                    continue
                g = np.asarray(p._grad)
                if group.get("maximize"):
                    g = -g
                self._update(_arr(p), g, self.state[p], group)
        return loss

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    @staticmethod
    def _step(state: dict) -> int:
        """Count one more step in ``state["step"]`` (a 0-d float32 Tensor, as PyTorch) and return it."""
        if "step" not in state:
            state["step"] = _tensor(np.zeros((), np.float32))
        s = _arr(state["step"])
        s += 1
        return int(s)

    @staticmethod
    def _buffer(state: dict, name: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """The array of buffer ``name`` (created filled with ``fill``, in the parameter's layout)."""
        if name not in state:
            buf = np.empty_like(like)
            buf.fill(fill)
            state[name] = _tensor(buf)
        return _arr(state[name])

    # ------------------------------------------------------------------ state
    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict:
        """PyTorch's structure: ``{"state": {index: {name: Tensor}}, "param_groups": [{..., "params":
        [indices]}]}``; the buffers are the optimizer's own Tensors (copy them to keep a snapshot)."""
        index = {}
        groups = []
        for g in self.param_groups:
            d = {k: v for k, v in g.items() if k != "params"}
            for p in g["params"]:
                index.setdefault(id(p), len(index))
            d["params"] = [index[id(p)] for p in g["params"]]
            groups.append(d)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and buffers; buffers may be chainrule Tensors, NumPy arrays, torch
        tensors or numbers, and take the dtype and layout of their parameter (``step`` stays float32)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{type(self).__name__}.load_state_dict: loaded state dict has a different number "
                             f"of parameter groups ({len(groups)}, this optimizer {len(self.param_groups)})")
        if any(len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: loaded state dict contains a parameter "
                             f"group that doesn't match the size of optimizer's group (saved "
                             f"{[len(g['params']) for g in groups]} parameters per group, this optimizer "
                             f"{[len(g['params']) for g in self.param_groups]})")
        by_index = {}
        for saved, g in zip(groups, self.param_groups):
            by_index.update(zip(saved["params"], g["params"]))
        new_groups = []
        for saved, g in zip(groups, self.param_groups):
            d = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            d["params"] = g["params"]
            new_groups.append(d)
        state = _State()
        for i, bufs in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                continue
            state[p] = {n: _load_buffer(n, v, _arr(p)) for n, v in bufs.items()}
        self.param_groups[:] = new_groups
        self.state = state


class _State(dict):
    """``opt.state``: parameter -> dict of buffers; a parameter not seen yet reads as an empty dict
    (PyTorch's defaultdict(dict))."""

    def __missing__(self, key):
        self[key] = value = {}
        return value


def _load_buffer(name: str, v, param: np.ndarray):
    """A saved buffer as a Tensor: ``step`` as a 0-d float32, an array in the parameter's dtype and layout."""
    if v is None or isinstance(v, (bool, str)):
        return v
    a = _as_array(v)
    if name == "step" or a.ndim == 0:
        return _tensor(np.array(a, dtype=np.float32 if name == "step" else a.dtype))
    buf = np.empty_like(param)
    if a.shape != buf.shape:
        raise ValueError(f"Optimizer.load_state_dict: buffer {name!r} has shape {a.shape}, its parameter "
                         f"{param.shape}")
    buf[...] = a
    return _tensor(buf)
