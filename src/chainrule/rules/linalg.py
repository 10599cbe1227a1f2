"""Products: for Y = X W, dL/dX = dL/dY W^T and dL/dW = X^T dL/dY (matmul, linear, outer, einsum)."""
from __future__ import annotations

import numpy as np

from chainrule.core import ALL, Function, sum_rows


def _mm(a, b):
    # np.dot is much faster than @ for 2-D operands with an inner dimension of 1
    # (an outer product, e.g. the weight gradient at batch size 1)
    return np.dot(a, b) if a.ndim == 2 and b.ndim == 2 else np.matmul(a, b)


class Matmul(Function):
    """a @ b (NumPy's matmul, batched and with 1-D operands); d/da = g b^T, d/db = a^T g."""

    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return _mm(a, b)

    def backward(self, grad):
        a, b = self.a, self.b
        na, nb = self.needs_input_grad
        # view 1-D operands as a row (a) and a column (b), as matmul does
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1 and b.ndim == 1:
            g = grad.reshape(1, 1)
        elif a.ndim == 1:
            g = np.expand_dims(grad, -2)
        elif b.ndim == 1:
            g = np.expand_dims(grad, -1)
        else:
            g = grad
        ga = gb = None
        if na:
            ga = _mm(g, np.swapaxes(b2, -1, -2))  # (.., N, M) @ (.., M, K) -> (.., N, K)
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if nb:
            gb = _mm(np.swapaxes(a2, -1, -2), g)  # (.., K, N) @ (.., N, M) -> (.., K, M)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb

    def local(self, i):
        return ("{g} @ {1}^T",) if i == 0 else ("{0}^T @ {g}",)


class Linear(Function):
    """y = x W^T + b (PyTorch's layout: W is (out, in)); dL/dx = g W, dL/dW = g^T x, dL/db = sum_n g.

    In the lecture's notation Y = X W' with W' = W^T of shape (in, out):
    dL/dX = dL/dY W'^T and dL/dW' = X^T dL/dY.
    """

    saved_inputs = (0, 1)

    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        y = np.dot(x, w.T)  # (N, in) @ (in, out) -> (N, out)
        if b is not None:
            y += b
        return y

    def backward(self, grad):
        nx, nw = self.needs_input_grad[:2]
        gx = np.dot(grad, self.w) if nx else None     # (N, out) @ (out, in) -> (N, in)
        gw = None
        if nw:
            if self.w.flags.f_contiguous:
                # nn.Linear's layout: W^T is a C-contiguous (in, out) array, as the course code keeps
                # W, so dW^T = X^T dY is computed in that layout (the fast one for OpenBLAS)
                gw = np.dot(self.x.T, grad).T               # (in, N) @ (N, out) -> (in, out) -> (out, in)
            elif grad.shape[0] == 1:
                gw = grad.T * self.x  # an outer product; BLAS is ~8x slower at an inner dimension of 1
            else:
                gw = np.dot(grad.T, self.x)                 # (out, N) @ (N, in) -> (out, in)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        gb = sum_rows(grad) if self.needs_input_grad[2] else None
        return gx, gw, gb

    def local(self, i):
        return ("{g} @ {1}", "{g}^T @ {0}", "{g} summed over the batch")[i:i + 1]


class Outer(Function):
    """y_ij = a_i b_j; dL/da_i = sum_j g_ij b_j, dL/db_j = sum_i g_ij a_i."""

    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.outer(a, b)

    def backward(self, grad):
        na, nb = self.needs_input_grad
        return (grad @ self.b if na else None), (self.a @ grad if nb else None)


def _optimize(arrays) -> bool:
    """Let NumPy plan the contraction (BLAS, pairwise order) unless it is small: the plan costs ~50 us."""
    return len(arrays) > 2 or sum(a.size for a in arrays) > 4096


class Einsum(Function):
    """Einstein summation. The gradient of operand k is itself an einsum: the upstream gradient
    (output subscripts) times the other operands, summed to operand k's subscripts; letters that
    appear only in operand k are broadcast, and a repeated letter (a diagonal) is written back on
    the diagonal."""

    saved_inputs = ALL

    def forward(self, *arrays, subs, out):
        self.arrays, self.subs, self.res = arrays, subs, out
        spec = ",".join(subs) + "->" + out
        return np.einsum(spec, *arrays, optimize=_optimize(arrays))

    def backward(self, grad):
        sizes = {}
        for s, a in zip(self.subs, self.arrays):
            for c, n in zip(s, a.shape):
                sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]
        grads = []
        for k, (s, a) in enumerate(zip(self.subs, self.arrays)):
            if not self.needs_input_grad[k]:
                grads.append(None)
                continue
            others = [(self.res, grad)] + [(t, b) for j, (t, b) in enumerate(zip(self.subs, self.arrays))
                                           if j != k]
            have = set("".join(t for t, _ in others))
            target = "".join(dict.fromkeys(s))  # s with repeats dropped, order kept
            present = "".join(c for c in target if c in have)
            spec = ",".join(t for t, _ in others) + "->" + present
            g = np.einsum(spec, *[b for _, b in others], optimize=_optimize([b for _, b in others]))
            if present != target:  # letters only operand k has: the gradient is constant along them
                g = g.reshape([sizes[c] if c in present else 1 for c in target])
                g = np.broadcast_to(g, [sizes[c] if c in present else a.shape[s.index(c)] for c in target])
            if target != s:  # a repeated letter: the gradient lives on the diagonal
                full = np.zeros(a.shape, grad.dtype)
                np.einsum(s + "->" + target, full)[...] = g
                g = full
            grads.append(g)
        return tuple(grads)



# ----------------------------------------------------------------------------- cross product, inverse,
# determinant and solve (torch.cross, torch.linalg)
class Cross(Function):
    """y = a x b along ``dim`` (3-vectors); dL/da = b x g, dL/db = g x a (the cross product is
    antisymmetric: g . (a x b) = a . (b x g) = b . (g x a))."""

    saved_inputs = (0, 1)

    def forward(self, a, b, *, dim):
        self.a, self.b, self.dim = a, b, dim
        return np.cross(a, b, axis=dim)

    def backward(self, grad):
        na, nb = self.needs_input_grad
        d = self.dim
        return (np.cross(self.b, grad, axis=d) if na else None), (np.cross(grad, self.a, axis=d) if nb else None)


def _mT(a):
    return np.swapaxes(a, -1, -2)


class Inv(Function):
    """Y = A^-1 of each (..., n, n) matrix; dL/dA = -Y^T G Y^T (the front refuses a singular A)."""

    saves_output = True

    def forward(self, a):
        self.y = np.linalg.inv(a)
        return self.y

    def backward(self, grad):
        yt = _mT(self.y)
        return -(yt @ grad @ yt)


def _inv_t(a):
    """A^-T of each matrix, NaN for a singular one (its gradient is not finite)."""
    try:
        return _mT(np.linalg.inv(a))
    except np.linalg.LinAlgError:
        out = np.full(a.shape, np.nan, a.dtype)
        flat, res = a.reshape((-1,) + a.shape[-2:]), out.reshape((-1,) + a.shape[-2:])
        for i, m in enumerate(flat):
            try:
                res[i] = np.linalg.inv(m).T
            except np.linalg.LinAlgError:
                pass
        return out


class Det(Function):
    """det A of each (..., n, n) matrix; dL/dA = g det(A) A^-T (the cofactors), 0 where det A = 0,
    as PyTorch."""

    saved_inputs, saves_output = (0,), True

    def forward(self, a):
        self.a = a
        self.out = np.asarray(np.linalg.det(a), a.dtype)
        return self.out

    def backward(self, grad):
        s = (grad * self.out)[..., None, None]
        singular = self.out == 0
        if not singular.any():
            return s * _inv_t(self.a)
        safe = np.where(singular[..., None, None], np.eye(self.a.shape[-1], dtype=self.a.dtype), self.a)
        return np.where(singular[..., None, None], np.zeros((), grad.dtype), s * _inv_t(safe))


class Slogdet(Function):
    """log |det A| of each (..., n, n) matrix (or, with ``sign``, the sign of det A, which has no
    gradient); d log|det A| / dA = A^-T (not finite for a singular A)."""

    saved_inputs = (0,)

    def forward(self, a, *, sign=False):
        self.a = a
        s, logabs = np.linalg.slogdet(a)
        return np.asarray(s if sign else logabs, a.dtype)

    def backward(self, grad):
        return grad[..., None, None] * _inv_t(self.a)


class Solve(Function):
    """X = A^-1 B for (..., n, n) A and (..., n, k) B; dL/dB = A^-T G, dL/dA = -dL/dB X^T."""

    saved_inputs, saves_output = (0,), True

    def forward(self, a, b):
        self.a = a
        self.x = np.linalg.solve(a, b)
        return self.x

    def backward(self, grad):
        gb = np.linalg.solve(_mT(self.a), grad)
        ga = -(gb @ _mT(self.x)) if self.needs_input_grad[0] else None
        return ga, gb
