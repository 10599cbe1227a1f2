"""Optimizer: parameter groups, per-parameter state, and state_dict, as in torch.optim.

An optimizer reads each parameter's gradient and updates ``p.data`` in place,
outside the graph. Each subclass's ``_update`` is its rule, written out as in
PyTorch's documentation.
"""
from __future__ import annotations

import copy

import numpy as np

from chainrule.tensor import Tensor


class Optimizer:
    """Base class. ``params``: an iterable of tensors, or of dicts ``{"params": [...], "lr": ...}``
    (parameter groups, each with its own hyper-parameters)."""

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        self.state = {}  # id(param) -> dict of buffers
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        ps = group["params"]
        group["params"] = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in group["params"]:
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: can only optimise tensors that require grad, "
                                f"got {type(p).__name__}")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown option(s) {sorted(unknown)} in a parameter group")
        self._check(group)
        self.param_groups.append(group)

    def _check(self, group: dict) -> None:
        if group["lr"] < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {group['lr']}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every gradient (None, PyTorch's default), or zero it in place with set_to_none=False."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or p._grad is None:
                    p.grad = None
                else:
                    p._grad = np.zeros_like(p._data)

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is None:
                    continue
                st = self.state.setdefault(id(p), {})
                self._update(p._data, np.asarray(p._grad), st, group)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict:
        """{"state": {index: buffers}, "param_groups": [hyper-parameters, "params": [indices]]}."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {index[k]: {n: (v.copy() if isinstance(v, np.ndarray) else v) for n, v in s.items()}
                 for k, s in self.state.items() if k in index}
        groups, i = [], 0
        for g in self.param_groups:
            d = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            d["params"] = list(range(i, i + len(g["params"])))
            i += len(g["params"])
            groups.append(d)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved state has "
                             f"{[len(g['params']) for g in groups]} parameters per group, this optimizer "
                             f"{[len(g['params']) for g in self.param_groups]}")
        params = self._params()
        for saved, g in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    g[k] = copy.deepcopy(v)
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[id(p)] = {n: (_like(p._data, v) if isinstance(v, (np.ndarray, list)) else v)
                                 for n, v in s.items()}


def _like(param: np.ndarray, value) -> np.ndarray:
    """``value`` as a buffer with the parameter's dtype and memory layout."""
    buf = np.empty_like(param)
    buf[...] = value
    return buf
