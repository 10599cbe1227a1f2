"""Recurrent layers: RNN, LSTM, GRU and their cells, with PyTorch's gate order, parameter names
(``weight_ih_l0``, ``bias_hh_l1_reverse``...), shapes and initialisation, so state_dicts move between
chainrule and PyTorch. Each direction of each layer is one fused node (chainrule.rules.rnn)."""
from __future__ import annotations

import math

import numpy as np

from chainrule import ops
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.nn.utils.rnn import PackedSequence, packed_rows, padded_from_packed
from chainrule.ops.convert import as_tensor
from chainrule.rules import rnn as _rnn
from chainrule.tensor import Tensor
from chainrule.utils._arrays import as_array

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _zeros(shape, dtype) -> Tensor:
    return Tensor._make(np.zeros(shape, dtype), False, None)


def _run(mode: str, x: Tensor, h0: Tensor, c0, w_ih, w_hh, b_ih, b_hh, reverse: bool, batch_sizes=None,
         w_hr=None):
    """One direction of one layer over a time-major sequence x (T, N, I): (outputs (T, N, H), h_n, c_n).
    With ``batch_sizes`` (a packed batch's) sample j takes part in step t while j < batch_sizes[t];
    ``w_hr`` is an LSTM's projection (P, H)."""
    t_len, n, i = x.shape
    last = 0 if reverse else t_len - 1
    if mode == "LSTM":  # one node, the input's product included
        if b_ih is None:
            b_ih = b_hh = _zeros(w_ih.shape[0], x._data.dtype)
        proj = () if w_hr is None else (w_hr,)
        y = _rnn.LSTM.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, *proj, reverse=reverse, batch_sizes=batch_sizes)
        if w_hr is not None:  # (T N P + N H,): every h_t, then the last c, flattened
            split = t_len * n * w_hr.shape[0]
            y, c_n = y[:split].reshape(t_len, n, w_hr.shape[0]), y[split:].reshape(n, -1)
            return y, y[last], c_n
        return y[:t_len], y[last], y[t_len]  # (T + 1, N, H): every h_t, then the last c
    g = w_ih.shape[0]
    gx = F.linear(x.reshape(t_len * n, i), w_ih, b_ih).reshape(t_len, n, g)  # every step's input part at once
    if b_hh is None:
        b_hh = _zeros(g, gx._data.dtype)
    if mode == "GRU":
        y = _rnn.GRU.apply(gx, h0, w_hh, b_hh, reverse=reverse, batch_sizes=batch_sizes)
    else:
        y = _rnn.RNN.apply(gx, h0, w_hh, b_hh, nonlinearity="tanh" if mode == "RNN_TANH" else "relu",
                           reverse=reverse, batch_sizes=batch_sizes)
    return y, y[last], None


class RNNBase(Module):
    """The shared part of RNN, LSTM and GRU: parameters per layer and direction, and the forward loop.

    Args:
        input_size (int), hidden_size (int), num_layers (int, 1).
        bias (bool, True): ``bias_ih_l*`` and ``bias_hh_l*``.
        batch_first (bool, False): input and output are (N, T, *) instead of (T, N, *).
        dropout (float, 0.0): dropout on the outputs of every layer but the last, in training.
        bidirectional (bool, False): a second direction per layer, run from the last step back; the
            outputs are concatenated (2 * hidden_size) and the states stacked (layer, direction).
        proj_size (int, 0): an LSTM's projection of h to this width, ``weight_hr_l*`` (proj_size, hidden_size):
            h_t = (o * tanh(c_t)) W_hr^T; h_0, h_n and the outputs are then proj_size wide.
        dtype (dtype, float32).

    Every parameter starts U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as in PyTorch.
    """

    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if proj_size < 0 or proj_size != int(proj_size):
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable projections, "
                             f"got {proj_size}")
        if proj_size and self.mode != "LSTM":
            raise ValueError(f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size has to be smaller than hidden_size, got {proj_size} and "
                             f"{hidden_size}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in range [0, 1], got {dropout}")
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(f"{name}: hidden_size and num_layers must be positive, got {hidden_size} and "
                             f"{num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        dirs = 2 if bidirectional else 1
        g = _GATES[self.mode] * hidden_size
        dt = dtype or np.float32
        out = proj_size or hidden_size  # the width of h
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else out * dirs
            for suffix in ("", "_reverse")[:dirs]:
                setattr(self, f"weight_ih_l{layer}{suffix}", Parameter(np.empty((g, n_in), dt)))
                setattr(self, f"weight_hh_l{layer}{suffix}", Parameter(np.empty((g, out), dt)))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", Parameter(np.empty(g, dt)))
                    setattr(self, f"bias_hh_l{layer}{suffix}", Parameter(np.empty(g, dt)))
                if proj_size:
                    setattr(self, f"weight_hr_l{layer}{suffix}", Parameter(np.empty((proj_size, hidden_size), dt)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer: int, suffix: str):
        get = self._parameters.get
        return (get(f"weight_ih_l{layer}{suffix}"), get(f"weight_hh_l{layer}{suffix}"),
                get(f"bias_ih_l{layer}{suffix}"), get(f"bias_hh_l{layer}{suffix}"))

    def _projection(self, layer: int, suffix: str):
        return self._parameters.get(f"weight_hr_l{layer}{suffix}")

    def _state(self, hx, n: int, unbatched: bool, dtype, what: str) -> Tensor:
        dirs = 2 if self.bidirectional else 1
        want = (self.num_layers * dirs, n, self.proj_size if what == "h_0" and self.proj_size else self.hidden_size)
        if hx is None:
            return _zeros(want, dtype)
        h = as_tensor(hx, dtype)
        if unbatched:
            h = h.unsqueeze(1)
        if h.shape != want:
            raise ValueError(f"{type(self).__name__}: expected {what} of shape "
                             f"{want[:1] + want[2:] if unbatched else want}, got {tuple(hx.shape)}")
        return h

    def forward(self, input, hx=None):  # noqa: A002
        name = type(self).__name__
        packed = input if isinstance(input, PackedSequence) else None
        sizes = None
        if packed is not None:  # run on the padded (T, N, I) grid, sample j in step t while j < batch_sizes[t]
            if packed.data.ndim != 2:
                raise ValueError(f"{name}: expected packed data of shape (steps, features), got "
                                 f"{tuple(packed.data.shape)}")
            sizes = as_array(packed.batch_sizes)
            x = padded_from_packed(as_tensor(packed.data), sizes)
            sizes = tuple(sizes.tolist())
        else:
            x = as_tensor(input)
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: expected a 2-d (unbatched) or 3-d input, got shape {x.shape}")
        if x._data.dtype.kind != "f":
            raise TypeError(f"{name}: input must be float, got dtype {x.dtype}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first and packed is None:
            x = x.transpose(0, 1)
        if x.shape[2] != self.input_size:
            raise ValueError(f"{name}: input has {x.shape[2]} features, expected input_size={self.input_size}")
        dt = self.weight_ih_l0._data.dtype
        if x._data.dtype != dt:
            x = as_tensor(x, dt)
        n = x.shape[1]
        lstm = self.mode == "LSTM"
        if lstm and hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"{name}: hx must be a tuple (h_0, c_0)")
        h0 = self._state(hx[0] if lstm and hx is not None else hx, n, unbatched, dt, "h_0")
        c0 = self._state(hx[1] if hx is not None else None, n, unbatched, dt, "c_0") if lstm else None
        if packed is not None and packed.sorted_indices is not None:  # the given states follow the sorting
            order = as_array(packed.sorted_indices)
            h0, c0 = h0[:, order], (c0[:, order] if lstm else None)
        dirs = 2 if self.bidirectional else 1
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:dirs]):
                k = layer * dirs + d
                out, hn, cn = _run(self.mode, x, h0[k], c0[k] if lstm else None, *self._weights(layer, suffix),
                                   reverse=d == 1, batch_sizes=sizes, w_hr=self._projection(layer, suffix))
                outs.append(out)
                hs.append(hn)
                cs.append(cn)
            x = outs[0] if dirs == 1 else ops.cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout)
        h_n = ops.stack(hs, 0)
        c_n = ops.stack(cs, 0) if lstm else None
        if packed is not None:
            x = x.reshape(-1, x.shape[2])[packed_rows(np.asarray(sizes), n)]
            x = PackedSequence(x, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
            if packed.unsorted_indices is not None:  # each sample's last states back in the caller's order
                order = as_array(packed.unsorted_indices)
                h_n, c_n = h_n[:, order], (c_n[:, order] if lstm else None)
        elif unbatched:
            x, h_n = x.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        elif self.batch_first:
            x = x.transpose(0, 1)
        return (x, (h_n, c_n)) if lstm else (x, h_n)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """An Elman RNN, h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu
    (``nonlinearity``). Arguments as :class:`RNNBase`.

    Shape: input (T, N, input_size) (or (N, T, .) with batch_first, or unbatched (T, input_size)),
    h_0 (num_layers * directions, N, hidden_size) -> (output (T, N, directions * hidden_size), h_n).
    Every layer also takes a :class:`~chainrule.nn.utils.rnn.PackedSequence` (batch_first then plays no
    part) and returns its output as one, with each sequence's h_n taken at its own last step.

    Example:
        >>> import chainrule as cr
        >>> out, h = cr.nn.RNN(10, 20, 2)(cr.randn(5, 3, 10))
        >>> out.shape, h.shape
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, *args, nonlinearity: str = "tanh", **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; choose 'tanh' or 'relu'")
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(*args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """A long short-term memory layer with PyTorch's gates (input, forget, cell, output) stacked in that
    order in ``weight_ih_l*`` (4 hidden_size, .). Returns (output, (h_n, c_n)); hx is (h_0, c_0).

    Example:
        >>> import chainrule as cr
        >>> out, (h, c) = cr.nn.LSTM(10, 20, batch_first=True)(cr.randn(3, 5, 10))
        >>> out.shape, c.shape
        ((3, 5, 20), (1, 3, 20))
    """

    mode = "LSTM"


class GRU(RNNBase):
    """A gated recurrent unit layer with PyTorch's gates (reset, update, new) in ``weight_ih_l*``
    (3 hidden_size, .). Returns (output, h_n)."""

    mode = "GRU"


class RNNCellBase(Module):
    """One step of a recurrent layer: ``weight_ih`` (G hidden, input), ``weight_hh`` (G hidden, hidden),
    ``bias_ih`` and ``bias_hh``, as in PyTorch."""

    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        g = _GATES[self.mode] * hidden_size
        dt = dtype or np.float32
        self.weight_ih = Parameter(np.empty((g, input_size), dt))
        self.weight_hh = Parameter(np.empty((g, hidden_size), dt))
        self.bias_ih = Parameter(np.empty(g, dt)) if bias else None
        self.bias_hh = Parameter(np.empty(g, dt)) if bias else None
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _step(self, input, hx, cx):  # noqa: A002
        name = type(self).__name__
        x = as_tensor(input)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input (N, {self.input_size}) or ({self.input_size},), got "
                             f"shape {x.shape}")
        dt = self.weight_ih._data.dtype
        unbatched = x.ndim == 1
        x = as_tensor(x, dt).reshape(1, -1) if unbatched else as_tensor(x, dt)
        want = (x.shape[0], self.hidden_size)
        states = []
        for s, what in ((hx, "hx"), (cx, "cx")):
            if s is None:
                states.append(_zeros(want, dt))
                continue
            s = as_tensor(s, dt)
            s = s.reshape(1, -1) if unbatched else s
            if s.shape != want:
                raise ValueError(f"{name}: expected {what} of shape {want}, got {s.shape}")
            states.append(s)
        out = _run(self.mode, x.unsqueeze(0), states[0], states[1], self.weight_ih, self.weight_hh,
                   self.bias_ih, self.bias_hh, False)
        h, c = out[1], out[2]
        if unbatched:
            h = h.reshape(-1)
            c = None if c is None else c.reshape(-1)
        return h, c

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu. forward(input, hx=None) -> h'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; choose 'tanh' or 'relu'")
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002
        return self._step(input, hx, None)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step (one fused node): forward(input, (h, c)=None) -> (h', c')."""

    mode = "LSTM"

    def forward(self, input, hx=None):  # noqa: A002
        h, c = (None, None) if hx is None else hx
        return self._step(input, h, c)


class GRUCell(RNNCellBase):
    """One GRU step: forward(input, hx=None) -> h'."""

    mode = "GRU"

    def forward(self, input, hx=None):  # noqa: A002
        return self._step(input, hx, None)[0]
