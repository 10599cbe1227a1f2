"""The update rules, each as PyTorch documents it (w: weights, g: gradient, in place on w)."""
from __future__ import annotations

import numpy as np

from chainrule.optim.optimizer import Optimizer, _arr
from chainrule.utils._arrays import wrap


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay.

    g <- g + weight_decay w; with momentum: b <- momentum b + (1 - dampening) g (b = g at the
    first step), g <- g + momentum b if nesterov else b; then w <- w - lr g.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False, foreach=None,
                 differentiable: bool = False, fused=None):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _update(self, w, g, state, group):
        wd, mom = group["weight_decay"], group["momentum"]
        if wd:
            g = g + wd * w
        if mom:
            if state.get("momentum_buffer") is None:
                buf = self._buffer(state, "momentum_buffer", w)   # the parameter's layout
                buf[...] = g
            else:
                buf = _arr(state["momentum_buffer"])
                buf *= mom
                buf += (1 - group["dampening"]) * g
            g = g + mom * buf if group["nesterov"] else buf
        w -= group["lr"] * g


class Adam(Optimizer):
    """Adam: m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
    w <- w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps); weight decay adds wd w to g."""

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False, fused=None,
                 decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay or self.decoupled))

    def _update(self, w, g, state, group):
        lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
        if wd:
            if group.get("decoupled_weight_decay", self.decoupled):
                w *= 1 - lr * wd
            else:
                g = g + wd * w
        t = self._step(state)
        m, v = self._buffer(state, "exp_avg", w), self._buffer(state, "exp_avg_sq", w)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        if group["amsgrad"]:
            vmax = self._buffer(state, "max_exp_avg_sq", w)
            np.maximum(vmax, v, out=vmax)
            v = vmax
        denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + group["eps"]
        w -= (lr / (1 - b1 ** t)) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: w <- w (1 - lr wd) before the Adam step (default wd 0.01)."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False, foreach=None,
                 capturable: bool = False, differentiable: bool = False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused)


class RMSprop(Optimizer):
    """RMSprop: s <- alpha s + (1 - alpha) g^2, w <- w - lr g / (sqrt(s) + eps)
    (centered: s - mean(g)^2 under the root; momentum: a buffer of g / (...))."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach=None, maximize: bool = False, differentiable: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _update(self, w, g, state, group):
        alpha, wd, mom = group["alpha"], group["weight_decay"], group["momentum"]
        if wd:
            g = g + wd * w
        self._step(state)
        s = self._buffer(state, "square_avg", w)
        if mom:
            self._buffer(state, "momentum_buffer", w)
        if group["centered"]:
            self._buffer(state, "grad_avg", w)
        s *= alpha
        s += (1 - alpha) * g * g
        if group["centered"]:
            ga = _arr(state["grad_avg"])
            ga *= alpha
            ga += (1 - alpha) * g
            avg = np.sqrt(s - ga * ga) + group["eps"]
        else:
            avg = np.sqrt(s) + group["eps"]
        if mom:
            buf = _arr(state["momentum_buffer"])
            buf *= mom
            buf += g / avg
            w -= group["lr"] * buf
        else:
            w -= group["lr"] * g / avg


class Adagrad(Optimizer):
    """Adagrad: s <- s + g^2, w <- w - lr_t g / (sqrt(s) + eps), lr_t = lr / (1 + (t - 1) lr_decay)."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, fused=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))
        for group in self.param_groups:   # PyTorch creates Adagrad's state with the optimizer
            for p in group["params"]:
                self._init_state(self.state[p], _arr(p), group)

    def _init_state(self, state, w, group):
        if "sum" not in state:
            state["step"] = wrap(np.zeros((), np.float32))
            self._buffer(state, "sum", w, group["initial_accumulator_value"])

    def _update(self, w, g, state, group):
        self._init_state(state, w, group)      # a group added later
        step = self._step(state)
        if group["weight_decay"]:
            g = g + group["weight_decay"] * w
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        s = _arr(state["sum"])
        s += g * g
        w -= clr * g / (np.sqrt(s) + group["eps"])


class Adadelta(Optimizer):
    """Adadelta: v <- rho v + (1 - rho) g^2, d = sqrt(u + eps) / sqrt(v + eps) g,
    u <- rho u + (1 - rho) d^2, w <- w - lr d (default lr 1.0, as PyTorch)."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach=None, *, capturable: bool = False, maximize: bool = False, differentiable: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      capturable=capturable, maximize=maximize, differentiable=differentiable))

    def _update(self, w, g, state, group):
        rho, eps, wd = group["rho"], group["eps"], group["weight_decay"]
        if wd:
            g = g + wd * w
        self._step(state)
        v, u = self._buffer(state, "square_avg", w), self._buffer(state, "acc_delta", w)
        v *= rho
        v += (1 - rho) * g * g
        d = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u *= rho
        u += (1 - rho) * d * d
        w -= group["lr"] * d


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm): m <- b1 m + (1 - b1) g, n <- max(b2 n, |g| + eps),
    w <- w - lr / (1 - b1^t) * m / n."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 foreach=None, *, maximize: bool = False, differentiable: bool = False, capturable: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _update(self, w, g, state, group):
        (b1, b2), wd = group["betas"], group["weight_decay"]
        if wd:
            g = g + wd * w
        t = self._step(state)
        m, n = self._buffer(state, "exp_avg", w), self._buffer(state, "exp_inf", w)
        m += (1 - b1) * (g - m)
        n *= b2
        np.maximum(n, np.abs(g) + group["eps"], out=n)
        w -= (group["lr"] / (1 - b1 ** t)) * m / n


class _AdamFamily(Optimizer):
    """NAdam and RAdam: Adam's moments, with PyTorch's optional decoupled weight decay."""

    def __init__(self, params, defaults):
        super().__init__(params, dict(defaults, betas=tuple(defaults["betas"])))

    def _moments(self, w, g, state, group):
        """Apply the weight decay, count the step and update m and v; returns (g, t, m, v)."""
        lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
        if wd:
            if group["decoupled_weight_decay"]:
                w *= 1 - lr * wd
            else:
                g = g + wd * w
        t = self._step(state)
        m, v = self._buffer(state, "exp_avg", w), self._buffer(state, "exp_avg_sq", w)
        m += (1 - b1) * (g - m)
        v *= b2
        v += (1 - b2) * g * g
        return g, t, m, v


class NAdam(_AdamFamily):
    """NAdam (Adam with Nesterov momentum): mu_t = b1 (1 - 0.5 * 0.96^(t psi)), and
    w <- w - lr (1 - mu_t) / (1 - prod mu) g / d - lr mu_(t+1) / (1 - prod mu * mu_(t+1)) m / d,
    d = sqrt(v / (1 - b2^t)) + eps (psi: momentum_decay)."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      foreach=foreach, maximize=maximize, capturable=capturable,
                                      differentiable=differentiable))

    def _update(self, w, g, state, group):
        if "mu_product" not in state:  # PyTorch keeps the running product as a 0-d float32 tensor
            state.setdefault("step", wrap(np.zeros((), np.float32)))
            state["mu_product"] = wrap(np.ones((), np.float32))
        lr, (b1, b2), psi = group["lr"], group["betas"], group["momentum_decay"]
        g, t, m, v = self._moments(w, g, state, group)
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        prod = _arr(state["mu_product"])
        prod *= mu
        prod_now = float(prod)
        d = np.sqrt(v / (1 - b2 ** t)) + group["eps"]
        w -= (lr * (1 - mu) / (1 - prod_now)) * g / d
        w -= (lr * mu_next / (1 - prod_now * mu_next)) * m / d


class RAdam(_AdamFamily):
    """RAdam (rectified Adam): with rho_inf = 2 / (1 - b2) - 1 and rho_t = rho_inf - 2 t b2^t / (1 - b2^t),
    w <- w - lr m / (1 - b1^t) * r_t sqrt(1 - b2^t) / (sqrt(v) + eps) once rho_t > 5, else
    w <- w - lr m / (1 - b1^t) (r_t: the variance rectification)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, foreach=foreach,
                                      maximize=maximize, capturable=capturable, differentiable=differentiable))

    def _update(self, w, g, state, group):
        lr, (b1, b2) = group["lr"], group["betas"]
        g, t, m, v = self._moments(w, g, state, group)
        bc2 = 1 - b2 ** t
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / bc2
        step = m / (1 - b1 ** t) * lr
        if rho_t > 5:
            rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            step = step * (np.sqrt(bc2) / (np.sqrt(v) + group["eps"])) * rect
        w -= step
