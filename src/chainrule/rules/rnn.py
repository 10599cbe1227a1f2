"""Recurrent layers as fused rules over a whole sequence: Elman RNN, LSTM and GRU, PyTorch's gates.

The input's part of every gate, gx_t = x_t W_ih^T + b_ih, is one matrix product over all steps,
made before the rule (a Linear over (T*N, I)); each rule then runs the recurrence on ndarrays and
its backward is backpropagation through time in one node: a loop over the steps in reverse, then
one product for dL/dW_hh = sum_t dA_t^T h_{t-1}. A cell (one step) is the same rule with T = 1.
Inputs are time-major: gx (T, N, G*H), h0 (N, H), W_hh (G*H, H), b_hh (G*H,); ``reverse`` runs
from the last step to the first (the backward direction of a bidirectional layer).
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * a)  # = 1 / (1 + e^-a), without overflow warnings


def _order(t: int, reverse: bool):
    return range(t - 1, -1, -1) if reverse else range(t)


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

    def forward(self, gx, h0, w_hh, b_hh, nonlinearity="tanh", reverse=False):
        out = np.empty(gx.shape, dtype=np.result_type(gx, h0))
        h = h0
        for t in _order(gx.shape[0], reverse):
            a = gx[t] + h @ w_hh.T + b_hh  # (N, H) @ (H, H)
            h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
            out[t] = h
        self.out, self.h0, self.w, self.tanh, self.reverse = out, h0, w_hh, nonlinearity == "tanh", reverse
        return out

    def backward(self, grad):
        out, w = self.out, self.w
        da = np.empty_like(grad)
        dh = np.zeros_like(grad[0])
        for t in _order(grad.shape[0], not self.reverse):
            d = grad[t] + dh
            da[t] = d * (1 - out[t] * out[t]) if self.tanh else d * (out[t] > 0)
            dh = da[t] @ w
        hprev = _previous(out, self.h0, self.reverse)
        flat = da.reshape(-1, da.shape[-1])
        return da, dh, flat.T @ hprev.reshape(flat.shape[0], -1), flat.sum(axis=0)


class LSTM(Function):
    """PyTorch's LSTM step with gates (i, f, g, o) = (sigma, sigma, tanh, sigma)(gx_t + h W_hh^T + b_hh):
    c_t = f c_{t-1} + i g, h_t = o tanh(c_t). Backward: dc = g_c + dc_next + g_h o (1 - tanh^2 c_t),
    di = dc g, df = dc c_{t-1}, dg = dc i, do = g_h tanh c_t, each times its activation's derivative;
    dc_{t-1} = dc f, dh_{t-1} = dA W_hh. Output (T + 1, N, H): h_1..h_T in run order, then the last c.

    Every gate is one tanh: sigma(a) = (1 + tanh(a / 2)) / 2, so the forward scales the pre-activations
    once (inputs and W_hh) and runs one tanh over all four gates per step.
    """

    saves_output = True
    saved_inputs = (1, 2, 3)

    def forward(self, gx, h0, c0, w_hh, b_hh, reverse=False):
        t_len, n, g4 = gx.shape
        hd = g4 // 4
        dt = np.result_type(gx, h0)
        half = np.full(g4, 0.5, dt)
        half[2 * hd:3 * hd] = 1  # tanh(a / 2) for the sigmoid gates, tanh(a) for g
        shift = half.copy()
        shift[2 * hd:3 * hd] = 0
        gs = (gx + b_hh) * half  # (T, N, 4H): every step's input part and bias, scaled, in one pass
        ws = (w_hh * half[:, None]).T  # (H, 4H)
        acts = np.empty(gx.shape, dt)
        cs = np.empty((t_len, n, hd), dt)
        out = np.empty((t_len + 1, n, hd), dt)
        h, c = h0, c0
        for t in _order(t_len, reverse):
            act = acts[t]
            np.tanh(gs[t] + h @ ws, out=act)
            act *= half
            act += shift  # (i, f, g, o)
            c = np.multiply(act[:, hd:2 * hd], c, out=cs[t])
            c += act[:, :hd] * act[:, 2 * hd:3 * hd]
            h = np.multiply(act[:, 3 * hd:], np.tanh(c), out=out[t])
        out[t_len] = c
        self.out, self.acts, self.cs, self.h0, self.c0, self.w, self.reverse = out, acts, cs, h0, c0, w_hh, reverse
        return out

    def backward(self, grad):
        acts, cs, w = self.acts, self.cs, self.w
        t_len, n, hd = cs.shape
        i, f, g, o = (acts[..., k * hd:(k + 1) * hd] for k in range(4))
        tc = np.tanh(cs)
        cprev = _previous(cs, self.c0, self.reverse)
        # the local factors, for all steps at once: dA_{i,f,g} = dc * fac3, dA_o = dh * fac_o, and
        # dh's share of dc is dh * o (1 - tanh^2 c)
        fac3 = np.empty((t_len, n, 3, hd), grad.dtype)
        fac3[:, :, 0] = g * i * (1 - i)
        fac3[:, :, 1] = cprev * f * (1 - f)
        fac3[:, :, 2] = i * (1 - g * g)
        fac_o = tc * o * (1 - o)
        dc_dh = o * (1 - tc * tc)
        last = 0 if self.reverse else t_len - 1
        gh_all = grad[:t_len]
        da = np.empty(acts.shape, grad.dtype)
        da3 = da.reshape(t_len, n, 4, hd)
        dh = np.zeros((n, hd), grad.dtype)
        dc = grad[t_len].copy()  # dL/dc of the last step
        for t in _order(t_len, not self.reverse):
            gh = gh_all[t] + dh if t != last else gh_all[t]
            dc += gh * dc_dh[t]
            np.multiply(dc[:, None, :], fac3[t], out=da3[t, :, :3])
            np.multiply(gh, fac_o[t], out=da3[t, :, 3])
            dc *= f[t]
            dh = da[t] @ w  # (N, 4H) @ (4H, H)
        hprev = _previous(self.out[:t_len], self.h0, self.reverse)
        flat = da.reshape(-1, 4 * hd)
        return da, dh, dc, flat.T @ hprev.reshape(-1, hd), flat.sum(axis=0)


class GRU(Function):
    """PyTorch's GRU step: r, z = sigma(gx_{r,z} + h W_{hr,hz}^T + b_{hr,hz}),
    n = tanh(gx_n + r (h W_hn^T + b_hn)), h_t = (1 - z) n + z h_{t-1}. Backward: dn = dh (1 - z),
    dz = dh (h_{t-1} - n), dr = dn (1 - n^2) (h W_hn^T + b_hn), through each activation's derivative;
    dh_{t-1} = dh z + dA_h W_hh with dA_h = (dr', dz', dn (1 - n^2) r). Output: every h_t, (T, N, H)."""

    saves_output = True
    saved_inputs = (1, 2)

    def forward(self, gx, h0, w_hh, b_hh, reverse=False):
        t_len, n, g3 = gx.shape
        hd = g3 // 3
        out = np.empty((t_len, n, hd), dtype=np.result_type(gx, h0))
        acts = np.empty(gx.shape, dtype=out.dtype)
        hn = np.empty_like(out)
        h = h0
        for t in _order(t_len, reverse):
            ah = h @ w_hh.T + b_hh  # (N, 3H)
            act = acts[t]
            act[:, :2 * hd] = _sigmoid(gx[t, :, :2 * hd] + ah[:, :2 * hd])
            hn[t] = ah[:, 2 * hd:]
            act[:, 2 * hd:] = np.tanh(gx[t, :, 2 * hd:] + act[:, :hd] * hn[t])
            z = act[:, hd:2 * hd]
            h = (1 - z) * act[:, 2 * hd:] + z * h
            out[t] = h
        self.out, self.acts, self.hn, self.h0, self.w, self.reverse = out, acts, hn, h0, w_hh, reverse
        return out

    def backward(self, grad):
        out, acts, w = self.out, self.acts, self.w
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
        flat = dah.reshape(-1, dah.shape[-1])
        return dgx, dh, flat.T @ hprev.reshape(flat.shape[0], -1), flat.sum(axis=0)
