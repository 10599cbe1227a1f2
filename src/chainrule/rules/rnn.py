"""Recurrent layers as fused rules over a whole sequence: Elman RNN, LSTM and GRU, PyTorch's gates.

Each rule runs the recurrence on ndarrays, and its backward is backpropagation through time in one
node: a loop over the steps in reverse, then one product for dL/dW_hh = sum_t dA_t^T h_{t-1}. A cell
(one step) is the same rule with T = 1. RNN and GRU take the input's part of every gate,
gx_t = x_t W_ih^T + b_ih, made before the rule by one product over all steps (a Linear over (T*N, I));
the LSTM makes that product itself, transposed for its (4H, N) steps. Inputs are time-major: (T, N, .),
h0 (N, H), W_hh (G*H, H), b_hh (G*H,); ``reverse`` runs from the last step to the first (the backward
direction of a bidirectional layer). ``batch_sizes`` (a packed batch's, one count a step, sorted
longest sample first) advances only the first batch_sizes[t] samples at step t: the others keep
their state, so each sample's last state is its own, and in reverse each starts at its own end.
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * a)  # = 1 / (1 + e^-a), without overflow warnings


def _order(t: int, reverse: bool):
    return range(t - 1, -1, -1) if reverse else range(t)


def _hold(h: np.ndarray, hprev: np.ndarray, batch_sizes, t: int) -> None:
    """Samples past batch_sizes[t] (ended, or not begun in reverse) keep their state: h_t = h_{t-1}."""
    if batch_sizes is not None and batch_sizes[t] < h.shape[0]:
        h[batch_sizes[t]:] = hprev[batch_sizes[t]:]


def _pass_on(da: np.ndarray, dh: np.ndarray, g: np.ndarray, batch_sizes, t: int, *more) -> None:
    """The backward of _hold: a held sample's gradient g goes to h_{t-1} unchanged, none to its gates."""
    if batch_sizes is not None and batch_sizes[t] < g.shape[0]:
        b = batch_sizes[t]
        for a in (da,) + more:
            a[b:] = 0
        dh[b:] = g[b:]


def _previous(out_h: np.ndarray, h0: np.ndarray, reverse: bool) -> np.ndarray:
    """h_{t-1} for every step (T, N, H): h0 first, then the outputs, in the direction of the run."""
    if reverse:
        return np.concatenate([out_h[1:], h0[None]])
    return np.concatenate([h0[None], out_h[:-1]])


class RNN(Function):
    """h_t = act(gx_t + h_{t-1} W_hh^T + b_hh), act tanh or relu; with a_t the pre-activation,
    dL/da_t = (g_t + dL/dh_t from step t+1) * act'(a_t) (1 - h_t^2 for tanh, [h_t > 0] for relu),
    dL/dh_{t-1} = dL/da_t W_hh, dL/dgx_t = dL/db_hh summand = dL/da_t. Output: every h_t, (T, N, H)."""

    saves_output = True
    saved_inputs = (1, 2)

    def forward(self, gx, h0, w_hh, b_hh, nonlinearity="tanh", reverse=False, batch_sizes=None):
        out = np.empty(gx.shape, dtype=np.result_type(gx, h0))
        wt = np.ascontiguousarray(w_hh.T)  # (H, H): BLAS runs h @ W^T slower on the transposed view
        h = h0
        for t in _order(gx.shape[0], reverse):
            a = gx[t] + h @ wt + b_hh  # (N, H) @ (H, H)
            hn = np.tanh(a, out=out[t]) if nonlinearity == "tanh" else np.maximum(a, 0, out=out[t])
            _hold(hn, h, batch_sizes, t)
            h = hn
        self.out, self.h0, self.w, self.tanh, self.reverse = out, h0, w_hh, nonlinearity == "tanh", reverse
        self.batch_sizes = batch_sizes
        return out

    def backward(self, grad):
        out, w, sizes = self.out, self.w, self.batch_sizes
        da = np.empty_like(grad)
        dh = np.zeros_like(grad[0])
        for t in _order(grad.shape[0], not self.reverse):
            d = grad[t] + dh
            da[t] = d * (1 - out[t] * out[t]) if self.tanh else d * (out[t] > 0)
            dh = da[t] @ w
            _pass_on(da[t], dh, d, sizes, t)
        hprev = _previous(out, self.h0, self.reverse)
        flat = da.reshape(-1, da.shape[-1])
        return da, dh, flat.T @ hprev.reshape(flat.shape[0], -1), flat.sum(axis=0)


class LSTM(Function):
    """PyTorch's LSTM over a whole sequence, the input's products included: gates (i, f, g, o) =
    (sigma, sigma, tanh, sigma)(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), c_t = f c_{t-1} + i g,
    m_t = o tanh(c_t), and h_t = m_t (h_t = m_t W_hr^T with a projection). Backward: g_m = g_h (g_h W_hr with one),
    dc = g_c + dc_next + g_m o (1 - tanh^2 c_t), then dA_i = dc g i (1 - i), dA_f = dc c_{t-1} f (1 - f),
    dA_g = dc i (1 - g^2), dA_o = g_m tanh(c_t) o (1 - o); dc_{t-1} = dc f, dh_{t-1} = dA W_hh; after the
    loop dx = dA W_ih, dW_ih = sum_t dA^T x, dW_hh = sum_t dA^T h_{t-1}, db_ih = db_hh = sum_t dA and
    dW_hr = sum_t g_h^T m_t, one product each.

    Inputs: x (T, N, I), h0 (N, P) and c0 (N, H), W_ih (4H, I), W_hh (4H, P), b_ih and b_hh (4H,), and
    W_hr (P, H) for a projection (P = H without). Output (T + 1, N, H): h_1..h_T, then the last c; with
    W_hr, whose h and c differ in width, the same flattened: (T N P + N H,).
    The steps run on transposed (feature, sample) arrays, (4H, N) a step: OpenBLAS multiplies
    (4H, H) @ (H, N) faster than (N, H) @ (H, 4H). Every gate is one tanh: sigma(a) = (1 + tanh(a / 2)) / 2,
    with the sigmoid gates' rows of W_hh (and of W_ih or of the input's part) halved once, so a step
    runs one tanh over all four gates.
    """

    saved_inputs = (0, 3, 4, 7)  # x and the weights; the states and outputs it keeps are its own copies

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr=None, reverse=False, batch_sizes=None):
        t_len, n, _ = x.shape
        hd, pd = w_hh.shape[0] // 4, w_hh.shape[1]
        dt = np.result_type(x, h0)
        half = np.full((4 * hd, 1), 0.5, dt)
        half[2 * hd:3 * hd] = 1  # tanh(a / 2) for the gates i, f, o, tanh(a) for g
        wh = w_hh * half
        xt = x.reshape(t_len * n, -1).T
        if w_ih.size < xt.shape[1] * 4 * hd:  # halve the smaller: W_ih, or the input's part
            gs = (w_ih * half) @ xt
        else:
            gs = w_ih @ xt
            gs *= half
        gs = gs.reshape(4 * hd, t_len, n)  # (4H, I) @ (I, T N): every step's input part at once
        gs += ((b_ih + b_hh) * half[:, 0])[:, None, None]
        acts = np.empty((t_len, 4 * hd, n), dt)
        hs = np.empty((t_len + 1, pd, n), dt)  # h0 and every h_t, transposed; h0's slot is the first
        cs = np.empty((t_len + 1, hd, n), dt)  # (the last, running in reverse); so for c
        tcs = np.empty((t_len, hd, n), dt)
        ms = None if w_hr is None else np.empty((t_len, hd, n), dt)  # o tanh(c) before the projection
        first = t_len if reverse else 0
        hs[first] = h0.T
        cs[first] = c0.T
        for t in _order(t_len, reverse):
            p, q = (t + 1, t) if reverse else (t, t + 1)  # the slots of h_{t-1} and h_t
            a = acts[t]
            np.matmul(wh, hs[p], out=a)  # (4H, P) @ (P, N)
            a += gs[:, t]
            np.tanh(a, out=a)
            for s in (a[:2 * hd], a[3 * hd:]):  # i, f and o
                s *= 0.5
                s += 0.5
            c = np.multiply(a[hd:2 * hd], cs[p], out=cs[q])
            c += a[:hd] * a[2 * hd:3 * hd]
            m = np.multiply(a[3 * hd:], np.tanh(c, out=tcs[t]), out=hs[q] if ms is None else ms[t])
            if ms is not None:
                np.matmul(w_hr, m, out=hs[q])  # (P, H) @ (H, N)
            if batch_sizes is not None and batch_sizes[t] < n:  # the other samples keep their state
                b = batch_sizes[t]
                hs[q, :, b:] = hs[p, :, b:]
                cs[q, :, b:] = cs[p, :, b:]
        hs_run = (hs[:t_len] if reverse else hs[1:]).transpose(0, 2, 1)  # (T, N, P)
        c_last = cs[0 if reverse else t_len].T
        if ms is None:
            out = np.empty((t_len + 1, n, hd), dt)
            out[:t_len], out[t_len] = hs_run, c_last
        else:
            out = np.concatenate([hs_run.reshape(-1), c_last.reshape(-1)])
        self.x, self.acts, self.hs, self.cs, self.tcs, self.ms = x, acts, hs, cs, tcs, ms
        self.w_ih, self.w_hh, self.w_hr = w_ih, w_hh, w_hr
        self.reverse, self.batch_sizes = reverse, batch_sizes
        return out

    def backward(self, grad):
        acts, hs, cs, tcs, ms = self.acts, self.hs, self.cs, self.tcs, self.ms
        w_hr, sizes = self.w_hr, self.batch_sizes
        t_len, g4, n = acts.shape
        hd, pd = g4 // 4, hs.shape[1]
        if ms is not None:  # the flattened (h_1..h_T, last c) as two arrays
            grad = grad[:t_len * n * pd].reshape(t_len, n, pd), grad[t_len * n * pd:].reshape(n, hd)
        else:
            grad = grad[:t_len], grad[t_len]
        rev = self.reverse
        i, f, g, o = acts[:, :hd], acts[:, hd:2 * hd], acts[:, 2 * hd:3 * hd], acts[:, 3 * hd:]
        cprev = cs[1:] if rev else cs[:t_len]
        # every step's local factors at once: dA_(i,f,g) = dc * fac, dA_o = g_m * fac_o, dc += g_m * dc_dh
        fac = np.empty((t_len, 3 * hd, n), acts.dtype)
        np.multiply(i, 1 - i, out=fac[:, :hd])  # sigma' = s (1 - s)
        fac[:, :hd] *= g
        np.multiply(f, 1 - f, out=fac[:, hd:2 * hd])
        fac[:, hd:2 * hd] *= cprev
        np.multiply(i, 1 - g * g, out=fac[:, 2 * hd:])
        fac_o = o * (1 - o)
        fac_o *= tcs
        dc_dh = 1 - tcs * tcs
        dc_dh *= o
        # (P, 4H): contiguous for a sequence (BLAS runs it faster than the transposed view), a view for a cell
        wht = np.ascontiguousarray(self.w_hh.T) if t_len > 1 else self.w_hh.T
        whr_t = None if ms is None else np.ascontiguousarray(w_hr.T)  # (H, P)
        ghs = None if ms is None else np.empty((t_len, pd, n), acts.dtype)  # g_h of every step, for dW_hr
        gh_all = grad[0].transpose(0, 2, 1)
        da = np.empty_like(acts)
        dc = grad[1].T.copy()
        dh = None
        for t in _order(t_len, not rev):
            gh = gh_all[t] if dh is None else gh_all[t] + dh
            gm = gh if ms is None else whr_t @ gh  # (H, P) @ (P, N)
            b = n if sizes is None else sizes[t]
            keep = dc[:, b:].copy() if b < n else None
            dc += gm * dc_dh[t]
            np.multiply(dc, fac[t].reshape(3, hd, n), out=da[t, :3 * hd].reshape(3, hd, n))
            np.multiply(gm, fac_o[t], out=da[t, 3 * hd:])
            dc *= f[t]
            if b < n:  # a held state passes its gradient on unchanged
                da[t, :, b:] = 0
                dc[:, b:] = keep
            dh = wht @ da[t]  # (P, 4H) @ (4H, N)
            if ghs is not None:
                ghs[t] = gh
                ghs[t, :, b:] = 0
            if b < n:
                dh[:, b:] = gh[:, b:]
        flat = da.transpose(1, 0, 2).reshape(g4, -1)  # (4H, T N)
        hprev = (hs[1:] if rev else hs[:t_len]).transpose(1, 0, 2).reshape(pd, -1)
        nx = self.needs_input_grad
        dx = (flat.T @ self.w_ih).reshape(self.x.shape) if nx[0] else None
        dw_ih = flat @ self.x.reshape(t_len * n, -1) if nx[3] else None
        dw_hh = flat @ hprev.T if nx[4] else None
        db = flat @ np.ones(flat.shape[1], flat.dtype) if nx[5] or nx[6] else None  # a GEMV sums faster than sum()
        grads = (dx, dh.T, dc.T, dw_ih, dw_hh, db, db)
        if ms is not None:
            grads += (ghs.transpose(1, 0, 2).reshape(pd, -1) @ ms.transpose(1, 0, 2).reshape(hd, -1).T,)
        return grads


class GRU(Function):
    """PyTorch's GRU step: r, z = sigma(gx_{r,z} + h W_{hr,hz}^T + b_{hr,hz}),
    n = tanh(gx_n + r (h W_hn^T + b_hn)), h_t = (1 - z) n + z h_{t-1}. Backward: dn = dh (1 - z),
    dz = dh (h_{t-1} - n), dr = dn (1 - n^2) (h W_hn^T + b_hn), through each activation's derivative;
    dh_{t-1} = dh z + dA_h W_hh with dA_h = (dr', dz', dn (1 - n^2) r). Output: every h_t, (T, N, H)."""

    saves_output = True
    saved_inputs = (1, 2)

    def forward(self, gx, h0, w_hh, b_hh, reverse=False, batch_sizes=None):
        t_len, n, g3 = gx.shape
        hd = g3 // 3
        out = np.empty((t_len, n, hd), dtype=np.result_type(gx, h0))
        acts = np.empty(gx.shape, dtype=out.dtype)
        hn = np.empty_like(out)
        wt = np.ascontiguousarray(w_hh.T)  # (H, 3H)
        h = h0
        for t in _order(t_len, reverse):
            ah = h @ wt + b_hh  # (N, 3H)
            act = acts[t]
            act[:, :2 * hd] = _sigmoid(gx[t, :, :2 * hd] + ah[:, :2 * hd])
            hn[t] = ah[:, 2 * hd:]
            act[:, 2 * hd:] = np.tanh(gx[t, :, 2 * hd:] + act[:, :hd] * hn[t])
            z = act[:, hd:2 * hd]
            out[t] = (1 - z) * act[:, 2 * hd:] + z * h
            _hold(out[t], h, batch_sizes, t)
            h = out[t]
        self.out, self.acts, self.hn, self.h0, self.w, self.reverse = out, acts, hn, h0, w_hh, reverse
        self.batch_sizes = batch_sizes
        return out

    def backward(self, grad):
        out, acts, w, sizes = self.out, self.acts, self.w, self.batch_sizes
        hd = out.shape[-1]
        hprev = _previous(out, self.h0, self.reverse)
        dgx = np.empty(acts.shape, dtype=grad.dtype)
        dah = np.empty_like(dgx)
        dh = np.zeros_like(grad[0])
        for t in _order(grad.shape[0], not self.reverse):
            r, z, nn_ = acts[t, :, :hd], acts[t, :, hd:2 * hd], acts[t, :, 2 * hd:]
            g = grad[t] + dh
            dan = g * (1 - z) * (1 - nn_ * nn_)
            d = dgx[t]
            d[:, :hd] = dan * self.hn[t] * r * (1 - r)
            d[:, hd:2 * hd] = g * (hprev[t] - nn_) * z * (1 - z)
            d[:, 2 * hd:] = dan
            e = dah[t]
            e[:, :2 * hd] = d[:, :2 * hd]
            e[:, 2 * hd:] = dan * r
            dh = g * z + e @ w  # (N, 3H) @ (3H, H)
            _pass_on(d, dh, g, sizes, t, e)
        flat = dah.reshape(-1, dah.shape[-1])
        return dgx, dh, flat.T @ hprev.reshape(flat.shape[0], -1), flat.sum(axis=0)
