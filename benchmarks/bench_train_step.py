"""One training step (forward, softmax cross-entropy, backward, SGD update) of the lecture's
MLP([3072, 100, 100, 10]) in float32: chainrule, a hand-written NumPy step, and PyTorch CPU,
all on one thread, at several batch sizes.

    python benchmarks/bench_train_step.py
"""
import _common  # noqa: F401  (one BLAS thread, set before NumPy loads)
import sys

import numpy as np

import chainrule as cr
from chainrule.nn import functional as F

try:
    import torch
    torch.set_num_threads(1)
except ImportError:
    torch = None

SIZES = [3072, 100, 100, 10]
LR = 1e-3


def softmax_loss(s, y):
    """Softmax cross-entropy of scores s (N, C) and its gradient dL/ds, by hand."""
    z = s - s.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(y)
    ds = np.exp(logp)
    ds[np.arange(n), y] -= 1
    return -logp[np.arange(n), y].mean(), ds / n


class NumpyMLP:
    """The course-code way: explicit affine / ReLU / softmax-loss forward and backward, np.dot."""

    def __init__(self, state):
        # chainrule/PyTorch store W as (out, in); keep the same layout so the numbers are comparable
        self.p = {k: v.copy() for k, v in state.items()}

    def step(self, X, y):
        p = self.p
        W1, b1, W2, b2, W3, b3 = (p[k] for k in ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"))
        h1 = np.dot(X, W1.T) + b1            # (N, 3072) @ (3072, 100)
        r1 = np.maximum(h1, 0)
        h2 = np.dot(r1, W2.T) + b2
        r2 = np.maximum(h2, 0)
        s = np.dot(r2, W3.T) + b3            # (N, 10)
        loss, ds = softmax_loss(s, y)
        dW3, db3 = np.dot(ds.T, r2), ds.sum(0)
        dh2 = np.dot(ds, W3) * (h2 > 0)
        dW2, db2 = np.dot(dh2.T, r1), dh2.sum(0)
        dh1 = np.dot(dh2, W2) * (h1 > 0)
        dW1, db1 = np.dot(dh1.T, X), dh1.sum(0)
        for w, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2), (W3, dW3), (b3, db3)):
            w -= LR * g
        return loss


class NumpyMLPCourseLayout:
    """The same step with the course code's layout, W of shape (in, out): X.dot(W), dW = X^T dY."""

    def __init__(self, state):
        self.p = {k: (v.T.copy() if v.ndim == 2 else v.copy()) for k, v in state.items()}

    def step(self, X, y):
        p = self.p
        W1, b1, W2, b2, W3, b3 = (p[k] for k in ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"))
        h1 = np.dot(X, W1) + b1
        r1 = np.maximum(h1, 0)
        h2 = np.dot(r1, W2) + b2
        r2 = np.maximum(h2, 0)
        s = np.dot(r2, W3) + b3
        loss, ds = softmax_loss(s, y)
        dW3, db3 = np.dot(r2.T, ds), ds.sum(0)
        dh2 = np.dot(ds, W3.T) * (h2 > 0)
        dW2, db2 = np.dot(r1.T, dh2), dh2.sum(0)
        dh1 = np.dot(dh2, W2.T) * (h1 > 0)
        dW1, db1 = np.dot(X.T, dh1), dh1.sum(0)
        for w, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2), (W3, dW3), (b3, db3)):
            w -= LR * g
        return loss


def main(batches=(1, 16, 64, 256, 1024)):
    rng = np.random.default_rng(0)
    cr.manual_seed(0)
    net = cr.nn.MLP(SIZES)
    opt = cr.optim.SGD(net.parameters(), lr=LR)
    state = {k: np.array(v) for k, v in net.state_dict().items()}  # state_dict holds Tensors, as torch's
    ref = NumpyMLP(state)
    ref2 = NumpyMLPCourseLayout(state)
    if torch:
        tnet = torch.nn.Sequential(torch.nn.Linear(3072, 100), torch.nn.ReLU(), torch.nn.Linear(100, 100),
                                   torch.nn.ReLU(), torch.nn.Linear(100, 10))
        tnet.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        topt = torch.optim.SGD(tnet.parameters(), lr=LR)
    rows = []
    for n in batches:
        X = rng.standard_normal((n, 3072)).astype(np.float32)
        y = rng.integers(0, 10, n)
        Xc, yc = cr.tensor(X), cr.tensor(y)

        def cr_step():
            opt.zero_grad()
            loss = F.cross_entropy(net(Xc), yc)
            loss.backward()
            opt.step()

        t_np = _common.best_time(lambda: ref.step(X, y))
        t_np2 = _common.best_time(lambda: ref2.step(X, y))
        t_cr = _common.best_time(cr_step)
        row = [n, f"{t_np * 1e3:.3f}", f"{t_np2 * 1e3:.3f}", f"{t_cr * 1e3:.3f}", f"{t_cr / t_np:.2f}x",
               f"{t_cr / t_np2:.2f}x"]
        if torch:
            Xt, yt = torch.tensor(X), torch.tensor(y)

            def t_step():
                topt.zero_grad()
                loss = torch.nn.functional.cross_entropy(tnet(Xt), yt)
                loss.backward()
                topt.step()

            t_t = _common.best_time(t_step)
            row += [f"{t_t * 1e3:.3f}", f"{t_cr / t_t:.2f}x"]
        rows.append(row)
    headers = ["batch", "NumPy (out,in) ms", "NumPy (in,out) ms", "chainrule ms", "chainrule / NumPy (out,in)",
               "chainrule / NumPy (in,out)"] + \
        (["PyTorch ms", "chainrule / PyTorch"] if torch else [])
    print(_common.table(headers, rows))


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (1, 16, 64, 256, 1024))
