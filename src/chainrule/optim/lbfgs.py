"""L-BFGS as torch.optim.LBFGS: a quasi-Newton step from the last ``history_size`` gradient
differences (the two-loop recursion), with a fixed step or a strong-Wolfe line search.

One parameter group; ``step(closure)`` calls the closure (which zeroes the gradients, computes the
loss, calls backward and returns the loss) up to ``max_eval`` times. All parameters are seen as one
flat vector x, with gradient g:

    d = -H g, H applied by the two-loop recursion over the pairs s = x_(k+1) - x_k,
    y = g_(k+1) - g_k kept while y.s > 1e-10 (H_0 = y.s / y.y of the newest pair);
    x <- x + t d, t = lr (at the very first iteration min(1, 1 / |g|_1) lr), or from the line search.
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import enable_grad
from chainrule.optim.optimizer import Optimizer, _arr
from chainrule.utils._arrays import as_array, wrap


def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clipped to
    ``bounds`` (default: between x1 and x2); their midpoint if the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2
    d2 = np.sqrt(d2_square)
    if x1 <= x2:
        m = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        m = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(m, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step t along d meeting the strong Wolfe conditions (sufficient decrease f(t) <= f + c1 t g.d,
    curvature |g(t).d| <= c2 |g.d|): bracket, then zoom with cubic interpolation (Nocedal and Wright,
    algorithms 3.5 and 3.6). ``evaluate(t)`` returns (loss, flat gradient) at x + t d.
    Returns (loss, gradient, t, evaluations)."""
    d_norm = np.abs(d).max()
    f_new, g_new = evaluate(t)
    evals, ls_iter = 1, 0
    gtd_new = g_new @ d
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    while ls_iter < max_ls:                       # bracketing
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            br, br_f, br_g, br_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            br, br_f, br_g, br_gtd, done = [t], [f_new], [g_new], [gtd_new], True
            break
        if gtd_new >= 0:
            br, br_f, br_g, br_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new @ d
        ls_iter += 1
    if ls_iter == max_ls:
        br, br_f, br_g, br_gtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]
    insuf_progress = False
    low, high = (0, 1) if br_f[0] <= br_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:          # zoom
        if abs(br[1] - br[0]) * d_norm < tolerance_change:
            break
        t = _cubic_min(br[0], br_f[0], br_gtd[0], br[1], br_f[1], br_gtd[1])
        eps = 0.1 * (max(br) - min(br))
        if min(max(br) - t, t - min(br)) < eps:   # too close to an end: move away from it
            if insuf_progress or t >= max(br) or t <= min(br):
                t = max(br) - eps if abs(t - max(br)) < abs(t - min(br)) else min(br) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new @ d
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= br_f[low]:
            br[high], br_f[high], br_g[high], br_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if br_f[0] <= br_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (br[high] - br[low]) >= 0:
                br[high], br_f[high], br_g[high], br_gtd[high] = br[low], br_f[low], br_g[low], br_gtd[low]
            br[low], br_f[low], br_g[low], br_gtd[low] = t, f_new, g_new, gtd_new
    return br_f[low], br_g[low], br[low], evals


class LBFGS(Optimizer):
    """torch.optim.LBFGS: its arguments, defaults, stopping rules and state (kept under the first
    parameter). ``line_search_fn``: None (a fixed step) or "strong_wolfe"."""

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval=None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100, line_search_fn=None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn not in (None, "strong_wolfe"):
            raise RuntimeError("LBFGS: only 'strong_wolfe' is supported as line_search_fn")
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    # --------------------------------------------------------------- the parameters as one vector
    def _flat_grad(self) -> np.ndarray:
        ps = self.param_groups[0]["params"]
        return np.concatenate([np.zeros(p.numel(), _arr(p).dtype) if p._grad is None
                               else np.asarray(p._grad).reshape(-1) for p in ps])

    def _add(self, t: float, d: np.ndarray) -> None:
        """x <- x + t d, parameter by parameter."""
        i = 0
        for p in self.param_groups[0]["params"]:
            w = _arr(p)
            w += (t * d[i:i + w.size]).reshape(w.shape).astype(w.dtype, copy=False)
            i += w.size

    def _evaluate(self, closure):
        with enable_grad():
            loss = float(closure())
        return loss, self._flat_grad()

    def step(self, closure):
        """Up to ``max_iter`` L-BFGS iterations; returns the loss the first closure call gave."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that computes the loss and its gradients")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change, history = group["tolerance_grad"], group["tolerance_change"], group["history_size"]
        state = self.state[group["params"][0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if np.abs(g).max() <= tol_grad:
            return orig_loss
        d, prev_g = (None if state.get(k) is None else _arr(state[k]) for k in ("d", "prev_flat_grad"))
        t, h_diag, prev_loss = state.get("t"), state.get("H_diag"), state.get("prev_loss")
        old_dirs = [_arr(v) for v in state.get("old_dirs", [])]
        old_stps = [_arr(v) for v in state.get("old_stps", [])]
        ro = list(state.get("ro", []))
        n_iter, opt_cond = 0, False
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, old_dirs, old_stps, ro, h_diag = -g, [], [], [], 1.0
            else:
                y, s = g - prev_g, d * t
                ys = float(y @ s)
                if ys > 1e-10:                    # keep the pair only where the curvature is positive
                    if len(old_dirs) == history:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                q, al = -g, [0.0] * len(old_dirs)
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(old_stps[i] @ q) * ro[i]
                    q = q - al[i] * old_dirs[i]
                d = q * h_diag
                for i in range(len(old_dirs)):
                    d = d + (al[i] - float(old_dirs[i] @ d) * ro[i]) * old_stps[i]
            prev_g, prev_loss = g.copy(), loss
            t = (min(1.0, 1.0 / float(np.abs(g).sum())) if state["n_iter"] == 1 else 1.0) * lr
            gtd = float(g @ d)
            if gtd > -tol_change:                 # not a descent direction
                break
            if group["line_search_fn"] == "strong_wolfe":
                x0 = [_arr(p).copy() for p in group["params"]]

                def at(step):                     # loss and gradient at x0 + step d, x put back after
                    self._add(step, d)
                    out = self._evaluate(closure)
                    for p, w in zip(group["params"], x0):
                        _arr(p)[...] = w
                    return out
                loss, g, t, ls_evals = _strong_wolfe(at, t, d, loss, g, gtd, tolerance_change=tol_change)
                self._add(t, d)
                opt_cond = np.abs(g).max() <= tol_grad
            else:
                self._add(t, d)
                ls_evals = 0
                if n_iter != max_iter:
                    loss, g = self._evaluate(closure)
                    opt_cond = np.abs(g).max() <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals
            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tol_change or abs(loss - prev_loss) < tol_change:
                break
        state.update(d=wrap(d), t=t, old_dirs=[wrap(v) for v in old_dirs], old_stps=[wrap(v) for v in old_stps],
                     ro=ro, H_diag=h_diag, prev_flat_grad=wrap(prev_g), prev_loss=prev_loss)
        return orig_loss

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the hyper-parameters and the history (vectors as arrays, numbers as they are)."""
        super().load_state_dict({**state_dict, "state": {}})
        p = self.param_groups[0]["params"][0]
        for s in state_dict["state"].values():
            self.state[p] = {k: _restored(k, v) for k, v in s.items()}


def _restored(name: str, v):
    """One saved entry of LBFGS's state: vectors (and lists of them) as fresh arrays, numbers as floats."""
    if v is None:
        return None
    if name in ("old_dirs", "old_stps"):
        return [wrap(np.array(as_array(x))) for x in v]
    if name in ("d", "prev_flat_grad"):
        return wrap(np.array(as_array(v)))
    if name in ("t", "H_diag", "prev_loss"):
        return float(as_array(v))
    return v
