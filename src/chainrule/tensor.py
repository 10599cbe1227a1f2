"""Tensor: an ndarray, its gradient, and the node of the graph it came from.

A Tensor is the core's tensor record (:class:`chainrule.core.TensorBase`: the ndarray ``_data``,
``requires_grad``, the gradient, ``_ctx``, the :class:`~chainrule.core.Function` that produced it,
None for a leaf) with PyTorch's operators and methods, all defined here in the class. They call
the front's functions in :mod:`chainrule.ops`; nothing here computes a gradient.

As in PyTorch, ``t.data`` is a Tensor that shares the array and requires no grad, ``t.numpy()``
(and ``np.asarray(t)``) is the array, refused on a tensor that requires grad.
"""
from __future__ import annotations

import numpy as np

from chainrule import devices, dtypes, ops
from chainrule import random as _random
from chainrule._format import tensor_repr
from chainrule.core import ShapeError, TensorBase, backward, make, set_tensor_class
from chainrule.core import register_hook as _register_hook
from chainrule.ops import args as _args
from chainrule.ops import inplace as _inplace
from chainrule.ops.convert import array_of
from chainrule.ops.elementwise import add2, alpha_first, mul2, sub2
from chainrule.ops.shape import _shape_arg

_ops = ops
_device = devices


class Size(tuple):
    """A tensor's shape, as ``x.size()`` returns it: a tuple (``numel()`` gives the product)."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self) -> str:
        return f"chainrule.Size({list(self)})"

    def __format__(self, spec: str) -> str:
        # inside f-strings (every error message) a shape reads as a plain tuple: "shape (2, 3)"
        return tuple.__repr__(self).__format__(spec)


class Tensor(TensorBase):
    """An n-dimensional array that records the ops applied to it.

    Args:
        data (array-like): numbers, nested lists, an ndarray or a Tensor.
        dtype (dtype, None): float32 for Python floats unless given; float ndarrays keep theirs.
        requires_grad (bool, False): track ops on this tensor so backward() fills ``.grad``.
        name (str, None): a label used by drawings and narrations.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor(-2.0, requires_grad=True); y = cr.tensor(5.0, requires_grad=True)
        >>> z = cr.tensor(-4.0, requires_grad=True)
        >>> f = (x + y) * z
        >>> f.backward()
        >>> f.item(), x.grad.item(), y.grad.item(), z.grad.item()
        (-12.0, -4.0, -4.0, 3.0)
    """

    __slots__ = ()
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operators

    def __init__(self, data, dtype=None, requires_grad: bool = False, name: str | None = None,
                 device=None):
        if device is not None:
            _device.check(device)
        arr = array_of(data, dtype)
        if requires_grad and arr.dtype.kind != "f":
            raise RuntimeError(f"Only Tensors of floating point dtype can require gradients (got "
                               f"{arr.dtype}); pass dtype=chainrule.float32 or float64")
        self._data = arr
        self._grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self.name = name
        self._vc = None

    # ------------------------------------------------------------------ gradient
    @property
    def grad(self):
        """dL/d(this tensor) after backward(), as a Tensor of the same shape and dtype, or None."""
        g = self._grad
        return None if g is None else make(np.asarray(g))

    @grad.setter
    def grad(self, value):
        if value is None:
            self._grad = None
            return
        g = value._data if isinstance(value, Tensor) else np.asarray(value)
        if g.shape != self._data.shape:
            raise ShapeError(f"grad of shape {g.shape} assigned to a tensor of shape {self.shape}")
        self._grad = g.astype(self._data.dtype, copy=False)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's ``.grad`` after backward (PyTorch's switch; chainrule keeps
        every intermediate gradient anyway, for drawings: see docs/pytorch.md)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._ctx is not None:
            self._retains = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` each time this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle whose ``remove()`` unregisters it (PyTorch's)."""
        return _register_hook(self, hook)

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf tensor after ``retain_grad()`` (False for leaves, as in PyTorch)."""
        return self._ctx is not None and getattr(self, "_retains", False)

    # ------------------------------------------------------------------ the array
    @property
    def data(self) -> "Tensor":
        """This tensor's values as a Tensor outside the graph: it shares the array, requires no grad
        and has its own version (an in-place change through it is not seen by the graph, as in
        PyTorch). Assigning a Tensor or an array replaces the array."""
        return make(self._data)

    @data.setter
    def data(self, value) -> None:
        self._data = value._data if isinstance(value, TensorBase) else np.asarray(value)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets ``.grad`` to None)."""
        self._grad = None

    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None, *,
                 grad=None) -> None:
        """Backpropagate from this tensor; see :func:`chainrule.autograd.backward`.

        ``gradient`` (alias ``grad``) is dL/d(this tensor), needed unless it has one element.
        ``create_graph`` (higher-order gradients) and ``inputs`` are not supported.
        """
        if create_graph or inputs is not None:
            raise NotImplementedError("backward: create_graph=True and inputs= are not supported; "
                                      "chainrule's backward rules compute on NumPy arrays")
        backward(self, gradient if grad is None else grad, bool(retain_graph))

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (shares memory and version, requires no grad)."""
        t = make(self._data)
        if self._vc is None:
            self._vc = [0]
        t._vc = self._vc
        return t

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph in place (it becomes a leaf that requires no grad)."""
        self._ctx, self.requires_grad = None, False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place (only on leaves, and only float tensors can require grad)."""
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, got "
                               f"{dtypes.type_name(self.dtype)}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to "
                               "use a computed variable in a subgraph that doesn't require differentiation "
                               "use var_no_grad = var.detach().")
        self.requires_grad = bool(requires_grad)
        return self

    @property
    def _version(self) -> int:
        """How many in-place ops changed this tensor's array (PyTorch's version counter)."""
        vc = self._vc
        return 0 if vc is None else vc[0]

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        """The Function that produced this tensor (None for a leaf)."""
        return self._ctx

    # ------------------------------------------------------------------ array facts
    @property
    def shape(self) -> tuple:
        """The shape, a plain tuple (``size()`` gives it as a Size, printed like PyTorch's)."""
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def size(self, dim: int | None = None):
        """The shape as a tuple (PyTorch's ``x.size()``), or the length of axis ``dim`` as an int.

        For the number of elements use :meth:`numel` (NumPy's ``.size``).
        """
        if dim is None:
            return Size(self._data.shape)
        nd = self._data.ndim
        if nd == 0:
            raise _args.dim_error("size", dim, 0)
        return self._data.shape[_args.dim(dim, nd, "size")]

    def numel(self) -> int:
        """The number of elements."""
        return self._data.size

    nelement = numel

    def dim(self) -> int:
        """The number of dimensions (``ndim``)."""
        return self._data.ndim

    ndimension = dim

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        """Iterate over axis 0 (each item a tensor in the graph, as PyTorch's unbind)."""
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self._data)))

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return self._data.item().__format__(spec)
        return object.__format__(self, spec)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ShapeError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self._data.item()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The underlying ndarray (shared, not copied); refused, as in PyTorch, on a tensor that
        requires grad (call ``.detach().numpy()``)."""
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        return self._data

    def tolist(self):
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        a = self._data
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy ufuncs: ``ndarray (op) Tensor`` runs the Tensor's operator (in the graph); another ufunc
        on a tensor that requires grad raises (NumPy would drop the graph), on other tensors it computes
        on the arrays and returns a Tensor, as PyTorch does."""
        if method == "__call__" and not kwargs and len(inputs) == 2:
            op = _REFLECTED.get(ufunc)
            if op is not None:
                a, b = inputs
                return getattr(b, op[1])(a) if isinstance(b, Tensor) and not isinstance(a, Tensor) \
                    else getattr(a, op[0])(b)
        _refuse_grad(ufunc, inputs)
        arrays = tuple(x._data if isinstance(x, Tensor) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(x._data if isinstance(x, Tensor) else x for x in kwargs["out"])
        out = getattr(ufunc, method)(*arrays, **kwargs)
        if isinstance(out, tuple):
            return tuple(make(o) if isinstance(o, np.ndarray) else o for o in out)
        return make(out) if isinstance(out, np.ndarray) else out

    def __array_function__(self, func, types, args, kwargs):
        """NumPy functions (``np.dot``, ``np.concatenate``...): refused on a tensor that requires grad
        (NumPy would drop the graph); on other tensors they run on the arrays."""
        if func not in _SHAPE_ONLY:  # np.shape and friends read no values: nothing to refuse
            _refuse_grad(func, args, kwargs.values())
        return func(*_arrays(args), **dict(zip(kwargs, _arrays(kwargs.values()))))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous "
                               f"(shape {self.shape}); use .any() or .all()")
        return bool(self._data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iu":
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return tensor_repr(self)

    # ------------------------------------------------------------------ dtype and device
    def astype(self, dtype) -> "Tensor":
        """A copy in another dtype; the gradient flows back cast to this tensor's dtype."""
        return _ops.cast(self, dtype)

    def float(self) -> "Tensor": return self.to(dtypes.float32)
    def double(self) -> "Tensor": return self.to(dtypes.float64)
    def half(self) -> "Tensor": return self.to(dtypes.float16)
    def long(self) -> "Tensor": return self.to(dtypes.int64)
    def int(self) -> "Tensor": return self.to(dtypes.int32)
    def short(self) -> "Tensor": return self.to(dtypes.int16)
    def char(self) -> "Tensor": return self.to(dtypes.int8)
    def byte(self) -> "Tensor": return self.to(dtypes.uint8)
    def bool(self) -> "Tensor": return self.to(dtypes.bool_)

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    @property
    def device(self):
        """Always the CPU: chainrule computes with NumPy."""
        return _device.CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def to(self, *args, dtype=None, device=None, copy: bool = False, non_blocking: bool = False):
        """This tensor in another dtype (``to(chainrule.float64)``, ``to(other_tensor)``) or on a device
        (``to("cpu")``; chainrule runs on the CPU only). Returns ``self`` when nothing changes."""
        for a in args:
            if isinstance(a, Tensor):
                dtype = a._data.dtype
            elif _device.is_device(a) or isinstance(a, int) and not isinstance(a, bool):
                device = a
            elif a is not None:
                dtype = a
        if device is not None:
            _device.check(device)
        if dtype is None or dtypes.as_dtype(dtype) == self._data.dtype:
            return _ops.cast(self, self._data.dtype) if copy else self
        return _ops.cast(self, dtype)

    def cpu(self) -> "Tensor":
        return self

    def cuda(self, device=None, non_blocking: bool = False) -> "Tensor":
        """Always raises: chainrule runs on the CPU (the one device error, as ``to("cuda")``)."""
        _device.check("cuda" if device is None else device)

    def type(self, dtype=None):
        """With no argument, PyTorch's type name ('chainrule.FloatTensor'); else ``to(dtype)``."""
        if dtype is None:
            return "chainrule." + dtypes.torch_name(self._data.dtype)
        return self.to(dtype)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other._data.dtype)

    def element_size(self) -> int:
        return self._data.itemsize

    # ------------------------------------------------------------------ the array's facts, PyTorch's names
    itemsize = property(lambda self: self._data.itemsize, doc="Bytes per element.")
    nbytes = property(lambda self: self._data.nbytes, doc="Bytes of all elements.")

    def stride(self, dim=None):
        """Steps between neighbours along each dim, in elements (of the array: a copy here may be a view
        in PyTorch, whose strides then differ)."""
        steps = tuple(s // self._data.itemsize for s in self._data.strides)
        return steps if dim is None else steps[_ops.args.dim(dim, self.ndim, "stride")]

    def storage_offset(self) -> int:
        """Elements from the start of the base array this one views (0 for an array of its own)."""
        base = self._data
        while isinstance(base.base, np.ndarray):
            base = base.base
        return (self._data.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // self._data.itemsize

    def data_ptr(self) -> int:
        """The address of the first element."""
        return self._data.__array_interface__["data"][0]

    def get_device(self) -> int: return -1   # PyTorch's number for the CPU
    def is_signed(self) -> bool: return self._data.dtype.kind in "if"
    def is_complex(self) -> bool: return False
    def is_same_size(self, other) -> bool: return self.shape == other.shape
    def is_nonzero(self) -> bool: return _ops.is_nonzero(self)
    is_cpu = property(lambda self: True, doc="Always True: chainrule computes on the CPU.")
    is_sparse = is_quantized = is_meta = is_mkldnn = is_nested = property(lambda self: False)
    def is_inference(self) -> bool: return False
    def is_pinned(self) -> bool: return False

    # ------------------------------------------------------------------ operators
    # the hottest operators are the front's functions themselves (one Python call less per op)
    __add__ = add2
    __sub__ = sub2
    __mul__ = mul2

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __radd__(self, other):
        return _ops.elementwise.add2(other, self)

    def __rsub__(self, other):
        return _ops.elementwise.sub2(other, self)

    def __rmul__(self, other):
        return _ops.elementwise.mul2(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return _ops.positive(self)

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def __setitem__(self, index, value):
        _inplace.setitem(self, index, value)

    # in-place operators and methods (ops/inplace.py: the array is changed, the version bumped)
    def __iadd__(self, other): return _inplace.apply_(self, "add_", _ops.add, other)
    def __isub__(self, other): return _inplace.apply_(self, "sub_", _ops.sub, other)
    def __imul__(self, other): return _inplace.apply_(self, "mul_", _ops.mul, other)
    def __itruediv__(self, other): return _inplace.apply_(self, "div_", _ops.div, other)
    def __imatmul__(self, other): return _inplace.apply_(self, "matmul_", _ops.matmul, other)
    def __ipow__(self, other): return _inplace.apply_(self, "pow_", _ops.pow, other)

    def add_(self, other, *rest, alpha=1):
        other, alpha = alpha_first("add_", other, rest, alpha)
        return _inplace.apply_(self, "add_", _ops.add, other if alpha == 1 else other * alpha)

    def sub_(self, other, *rest, alpha=1):
        other, alpha = alpha_first("sub_", other, rest, alpha)
        return _inplace.apply_(self, "sub_", _ops.sub, other if alpha == 1 else other * alpha)

    def mul_(self, other): return _inplace.apply_(self, "mul_", _ops.mul, other)
    def div_(self, other): return _inplace.apply_(self, "div_", _ops.div, other)
    def pow_(self, exponent): return _inplace.apply_(self, "pow_", _ops.pow, exponent)
    def neg_(self): return _inplace.apply_(self, "neg_", _ops.neg)
    def exp_(self): return _inplace.apply_(self, "exp_", _ops.exp)
    def log_(self): return _inplace.apply_(self, "log_", _ops.log)
    def sqrt_(self): return _inplace.apply_(self, "sqrt_", _ops.sqrt)
    def square_(self): return _inplace.apply_(self, "square_", _ops.square)
    def addcmul(self, tensor1, tensor2, *, value=1): return _ops.addcmul(self, tensor1, tensor2, value=value)
    def addcdiv(self, tensor1, tensor2, *, value=1): return _ops.addcdiv(self, tensor1, tensor2, value=value)

    def addcmul_(self, tensor1, tensor2, *, value=1):
        return _inplace.apply_(self, "addcmul_", lambda old, a, b: _ops.addcmul(old, a, b, value=value), tensor1, tensor2)

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        return _inplace.apply_(self, "addcdiv_", lambda old, a, b: _ops.addcdiv(old, a, b, value=value), tensor1, tensor2)

    def lerp_(self, end, weight): return _inplace.apply_(self, "lerp_", _ops.lerp, end, weight)
    def abs_(self): return _inplace.apply_(self, "abs_", _ops.abs)
    def tanh_(self): return _inplace.apply_(self, "tanh_", _ops.tanh)
    def sigmoid_(self): return _inplace.apply_(self, "sigmoid_", _ops.sigmoid)
    def relu_(self): return _inplace.apply_(self, "relu_", _ops.relu)

    # in-place shape changes: the tensor becomes a view of its own memory in the new shape
    def unsqueeze_(self, dim): return _inplace.reshape_(self, "unsqueeze_", _ops.unsqueeze, dim)
    def squeeze_(self, dim=None): return _inplace.reshape_(self, "squeeze_", _ops.squeeze, dim)
    def t_(self): return _inplace.reshape_(self, "t_", _ops.linalg.t)
    def transpose_(self, dim0, dim1): return _inplace.reshape_(self, "transpose_", _ops.transpose, dim0, dim1)

    swapdims_ = swapaxes_ = transpose_

    def clamp_(self, min=None, max=None):  # noqa: A002
        return _inplace.apply_(self, "clamp_", _ops.clip, min, max)

    clip_ = clamp_

    def copy_(self, src, non_blocking: bool = False):
        """Copy ``src`` (broadcast, cast to this tensor's dtype) into this tensor; the gradient flows to src."""
        src = src if isinstance(src, Tensor) else Tensor(src)
        if src._data.dtype != self._data.dtype:
            src = _ops.cast(src, self._data.dtype) if self._data.dtype.kind == "f" else \
                make(src._data.astype(self._data.dtype))
        keep = make(np.zeros(self._data.shape, bool))
        return _inplace.apply_(self, "copy_", lambda old, s: _ops.where(keep, old, s), src)

    def masked_fill_(self, mask, value):
        """Set the elements where ``mask`` is True to ``value`` (a number or a 0-d tensor)."""
        mask = mask if isinstance(mask, Tensor) else make(np.asarray(mask))
        if mask._data.dtype != np.bool_:
            raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                               f"{dtypes.type_name(mask._data.dtype)}")
        return _inplace.apply_(self, "masked_fill_", lambda old, v: _ops.where(mask, v, old), value)

    def masked_scatter(self, mask, source): return _ops.masked_scatter(self, mask, source)

    def masked_scatter_(self, mask, source):
        return _inplace.apply_(self, "masked_scatter_", lambda old, s: _ops.masked_scatter(old, mask, s), source)

    def index_put_(self, indices, values, accumulate=False):
        return _inplace.index_put_(self, indices, values, accumulate)

    def index_put(self, indices, values, accumulate=False):
        return _inplace.index_put_(_ops.clone(self), indices, values, accumulate)

    def fill_diagonal_(self, fill_value, wrap=False):
        """The main diagonal set to ``fill_value`` (every dim of equal length beyond 2-D; a tall matrix's
        diagonal restarts after a gap row when ``wrap``, as NumPy's fill_diagonal)."""
        if self.ndim < 2:
            raise RuntimeError("dimensions must larger than 1")
        if self.ndim > 2 and len(set(self.shape)) > 1:
            raise RuntimeError("all dimensions of input must be of equal length")
        on = np.zeros(self.shape, bool)
        np.fill_diagonal(on, True, wrap=bool(wrap))
        return self.masked_fill_(make(on), fill_value)

    def zero_(self): return _inplace.fill_(self, "zero_", 0)

    def fill_(self, value):
        return _inplace.fill_(self, "fill_", value._data if isinstance(value, Tensor) else value)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None):
        return _inplace.fill_(self, "uniform_", _random.resolve(generator).uniform(a, b, self._data.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None):
        return _inplace.fill_(self, "normal_", _random.resolve(generator).normal(mean, std, self._data.shape))

    def bernoulli_(self, p=0.5, *, generator=None):
        return _inplace.fill_(self, "bernoulli_", _ops.sampling.bernoulli_(self, p, generator=generator))

    def exponential_(self, lambd=1.0, *, generator=None):
        return _inplace.fill_(self, "exponential_", _ops.sampling.exponential_(self, lambd, generator=generator))

    def geometric_(self, p, *, generator=None):
        return _inplace.fill_(self, "geometric_", _ops.sampling.geometric_(self, p, generator=generator))

    def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
        return _inplace.fill_(self, "cauchy_", _ops.sampling.cauchy_(self, median, sigma, generator=generator))

    def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
        return _inplace.fill_(self, "log_normal_", _ops.sampling.log_normal_(self, mean, std, generator=generator))

    def random_(self, *bounds, generator=None, **named):
        """x.random_(), x.random_(to), x.random_(from, to) (also ``from=``/``to=`` by name)."""
        if len(bounds) == 2:
            frm, to = bounds
        elif bounds:                  # random_(to), or random_(from, to=...)
            frm, to = (bounds[0], named["to"]) if "to" in named else (0, bounds[0])
        else:
            frm, to = named.get("from", 0), named.get("to")
        return _inplace.fill_(self, "random_", _ops.sampling.random_(self, frm, to, generator=generator))

    def bernoulli(self, p=None, *, generator=None): return _ops.sampling.bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        return _ops.sampling.multinomial(self, num_samples, replacement, generator=generator)

    # comparisons: plain boolean tensors, outside the graph
    def __lt__(self, other):
        return _ops.compare(np.less, self, other)

    def __le__(self, other):
        return _ops.compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _ops.compare(np.greater, self, other)

    def __ge__(self, other):
        return _ops.compare(np.greater_equal, self, other)

    def __eq__(self, other):
        return _ops.compare(np.equal, self, other)

    def __ne__(self, other):
        return _ops.compare(np.not_equal, self, other)

    # floor division and remainder, as Python's // and % (and PyTorch's)
    def __floordiv__(self, other): return _ops.floor_divide(self, other)
    def __rfloordiv__(self, other): return _ops.floor_divide(other, self)
    def __mod__(self, other): return _ops.remainder(self, other)
    def __rmod__(self, other): return _ops.remainder(other, self)
    def floor_divide(self, other): return _ops.floor_divide(self, other)
    def remainder(self, other): return _ops.remainder(self, other)
    def fmod(self, other): return _ops.fmod(self, other)

    # bitwise operators: bool masks (and integers), outside the graph
    def __and__(self, other): return _ops.bitwise_and(self, other)
    def __rand__(self, other): return _ops.bitwise_and(other, self)
    def __or__(self, other): return _ops.bitwise_or(self, other)
    def __ror__(self, other): return _ops.bitwise_or(other, self)
    def __xor__(self, other): return _ops.bitwise_xor(self, other)
    def __rxor__(self, other): return _ops.bitwise_xor(other, self)
    def __invert__(self): return _ops.bitwise_not(self)
    def __iand__(self, other): return _inplace.fill_(self, "bitwise_and_", _ops.bitwise_and(self, other)._data)
    def __ior__(self, other): return _inplace.fill_(self, "bitwise_or_", _ops.bitwise_or(self, other)._data)
    def __ixor__(self, other): return _inplace.fill_(self, "bitwise_xor_", _ops.bitwise_xor(self, other)._data)
    bitwise_and, bitwise_or, bitwise_xor, bitwise_not = __and__, __or__, __xor__, __invert__
    def logical_and(self, other): return _ops.logical_and(self, other)
    def logical_or(self, other): return _ops.logical_or(self, other)
    def logical_xor(self, other): return _ops.logical_xor(self, other)
    def logical_not(self): return _ops.logical_not(self)
    def square(self): return _ops.square(self)
    def masked_select(self, mask): return _ops.masked_select(self, mask)
    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        return _ops.repeat_interleave(self, repeats, dim)

    def scatter(self, dim, index, src=None, value=None, *, reduce=None):
        return _ops.scatter(self, dim, index, src, value, reduce=reduce)

    def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
        """In-place scatter (``zeros(n, C).scatter_(1, y[:, None], 1)``); the gradient flows as scatter's."""
        return _inplace.apply_(self, "scatter_", lambda old, s: _ops.scatter(old, dim, index, s, value, reduce=reduce),
                               src)

    # in-place forms of the index writes (GNN message passing: out.index_add_(0, dst, messages))
    def index_add_(self, dim, index, source, *, alpha=1):
        return _inplace.apply_(self, "index_add_", lambda old, s: _ops.index_add(old, dim, index, s, alpha=alpha),
                               source)

    def index_copy_(self, dim, index, source):
        return _inplace.apply_(self, "index_copy_", lambda old, s: _ops.index_copy(old, dim, index, s), source)

    def index_fill_(self, dim, index, value):
        return _inplace.apply_(self, "index_fill_", lambda old: _ops.index_fill(old, dim, index, value))

    def scatter_add_(self, dim, index, src):
        return _inplace.apply_(self, "scatter_add_", lambda old, s: _ops.scatter_add(old, dim, index, s), src)

    def scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
        return _inplace.apply_(self, "scatter_reduce_", lambda old, s: _ops.scatter_reduce(
            old, dim, index, s, reduce, include_self=include_self), src)

    def tril_(self, diagonal=0): return _inplace.apply_(self, "tril_", _ops.tril, diagonal)
    def triu_(self, diagonal=0): return _inplace.apply_(self, "triu_", _ops.triu, diagonal)
    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        return _inplace.apply_(self, "nan_to_num_", _ops.nan_to_num, nan, posinf, neginf)
    def sign_(self): return _inplace.apply_(self, "sign_", _ops.sign)
    def floor_(self): return _inplace.apply_(self, "floor_", _ops.floor)
    def ceil_(self): return _inplace.apply_(self, "ceil_", _ops.ceil)
    def round_(self, *, decimals=0): return _inplace.apply_(self, "round_", _ops.round, decimals=decimals)
    def trunc_(self): return _inplace.apply_(self, "trunc_", _ops.trunc)
    def sin_(self): return _inplace.apply_(self, "sin_", _ops.sin)
    def cos_(self): return _inplace.apply_(self, "cos_", _ops.cos)
    def clamp_min_(self, min): return _inplace.apply_(self, "clamp_min_", _ops.clamp_min, min)  # noqa: A002
    def clamp_max_(self, max): return _inplace.apply_(self, "clamp_max_", _ops.clamp_max, max)  # noqa: A002

    # ---- ops added for PyTorch parity (linear algebra, distances and reductions)
    def mv(self, vec): return _ops.mv(self, vec)
    def addmm(self, mat1, mat2, *, beta=1, alpha=1): return _ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)
    def addmv(self, mat, vec, *, beta=1, alpha=1): return _ops.addmv(self, mat, vec, beta=beta, alpha=alpha)
    def addr(self, vec1, vec2, *, beta=1, alpha=1): return _ops.addr(self, vec1, vec2, beta=beta, alpha=alpha)
    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _ops.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)
    def addbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _ops.addbmm(self, batch1, batch2, beta=beta, alpha=alpha)
    def ger(self, vec2): return _ops.ger(self, vec2)
    def inner(self, other): return _ops.inner(self, other)
    def vdot(self, other): return _ops.vdot(self, other)
    def cross(self, other, dim=None): return _ops.cross(self, other, dim)
    def dist(self, other, p=2): return _ops.dist(self, other, p)
    def aminmax(self, *, dim=None, keepdim=False): return _ops.aminmax(self, dim=dim, keepdim=keepdim)
    def cummax(self, dim): return _ops.cummax(self, dim)
    def cummin(self, dim): return _ops.cummin(self, dim)
    def logcumsumexp(self, dim): return _ops.logcumsumexp(self, dim)
    def kthvalue(self, k, dim=-1, keepdim=False): return _ops.kthvalue(self, k, dim, keepdim)
    def mode(self, dim=-1, keepdim=False): return _ops.mode(self, dim, keepdim)
    def cov(self, *, correction=1, fweights=None, aweights=None):
        return _ops.cov(self, correction=correction, fweights=fweights, aweights=aweights)
    def corrcoef(self): return _ops.corrcoef(self)
    def inverse(self): return _ops.inverse(self)
    def det(self): return _ops.det(self)
    def logdet(self): return _ops.logdet(self)
    def slogdet(self): return _ops.slogdet(self)
    def matrix_power(self, n): return _ops.matrix_power(self, n)
    def svd(self, some=True, compute_uv=True): return _ops.svd(self, some, compute_uv)
    def cholesky(self, upper=False): return _ops.cholesky(self, upper)
    def cholesky_solve(self, input2, upper=False): return _ops.cholesky_solve(self, input2, upper)
    def cholesky_inverse(self, upper=False): return _ops.cholesky_inverse(self, upper)
    def qr(self, some=True): return _ops.qr(self, some)
    def pinverse(self, rcond=1e-15): return _ops.pinverse(self, rcond)

    # ------------------------------------------------------------------ methods (PyTorch names)
    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)
    def abs(self): return _ops.abs(self)
    def neg(self): return _ops.neg(self)
    def sin(self): return _ops.sin(self)
    def cos(self): return _ops.cos(self)
    def tanh(self): return _ops.tanh(self)
    def sigmoid(self): return _ops.sigmoid(self)
    def relu(self): return _ops.relu(self)
    def clip(self, min=None, max=None): return _ops.clip(self, min, max)
    clamp = clip
    def maximum(self, other): return _ops.maximum(self, other)
    def minimum(self, other): return _ops.minimum(self, other)

    def add(self, other, *rest, alpha=1, out=None): return _ops.elementwise.add(self, other, *rest, alpha=alpha, out=out)
    def sub(self, other, *rest, alpha=1, out=None): return _ops.elementwise.sub(self, other, *rest, alpha=alpha, out=out)
    def mul(self, other, *, out=None): return _ops.elementwise.mul(self, other, out=out)
    def div(self, other, *, rounding_mode=None, out=None):
        return _ops.elementwise.div(self, other, rounding_mode=rounding_mode, out=out)
    subtract, multiply, divide = sub, mul, div
    def pow(self, exponent): return _ops.pow(self, exponent)

    def sum(self, dim=None, keepdim=False, **kw):
        return _ops.sum(self, dim, keepdim, **kw) if kw else _ops.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False, **kw): return _ops.mean(self, dim, keepdim, **kw)
    def var(self, dim=None, *args, **kw): return _ops.var(self, dim, *args, **kw)
    def std(self, dim=None, *args, **kw): return _ops.reduce.std(self, dim, *args, **kw)
    def max(self, dim=None, keepdim=False, **kw): return _ops.max(self, dim, keepdim, **kw)
    def min(self, dim=None, keepdim=False, **kw): return _ops.min(self, dim, keepdim, **kw)
    def amax(self, dim=(), keepdim=False, **kw): return _ops.amax(self, dim, keepdim, **kw)
    def amin(self, dim=(), keepdim=False, **kw): return _ops.amin(self, dim, keepdim, **kw)
    def argmax(self, dim=None, keepdim=False, *, axis=None): return _ops.argmax(self, dim, keepdim, axis=axis)
    def argmin(self, dim=None, keepdim=False, *, axis=None): return _ops.argmin(self, dim, keepdim, axis=axis)
    def logsumexp(self, dim=None, keepdim=False, **kw): return _ops.logsumexp(self, dim, keepdim, **kw)
    def softmax(self, dim=-1, **kw): return _ops.softmax(self, dim, **kw)
    def log_softmax(self, dim=-1, **kw): return _ops.log_softmax(self, dim, **kw)

    def matmul(self, other, *, out=None): return _ops.linalg.matmul(self, other, out=out)
    def mm(self, other): return _ops.linalg.mm(self, other)
    def dot(self, other): return _ops.linalg.dot(self, other)
    def bmm(self, other): return _ops.linalg.bmm(self, other)
    def t(self): return _ops.linalg.t(self)

    def reshape(self, *shape): return _ops.reshape(self, *shape)
    def view(self, *shape):
        """``reshape`` (NumPy copies only when it must; chainrule has no strides to refuse a view)."""
        if len(shape) == 1 and not isinstance(shape[0], (tuple, list, Size)) and \
                not isinstance(shape[0], (int, np.integer)):
            return self.to(shape[0])  # view(dtype)
        return _ops.reshape(self, *shape)
    def view_as(self, other): return _ops.reshape(self, other.shape)
    def reshape_as(self, other): return _ops.reshape(self, other.shape)
    def expand_as(self, other): return _ops.expand(self, other.shape)
    def contiguous(self, memory_format=None): return self
    def is_contiguous(self, memory_format=None) -> bool: return bool(self._data.flags.c_contiguous)
    def transpose(self, *dims, **kw): return _ops.transpose(self, *dims, **kw)
    def permute(self, *dims, **kw): return _ops.permute(self, *dims, **kw)
    def flatten(self, start_dim=0, end_dim=-1): return _ops.flatten(self, start_dim, end_dim)
    def ravel(self): return _ops.reshape(self, -1)
    def squeeze(self, dim=None, **kw): return _ops.squeeze(self, dim, **kw)
    def unsqueeze(self, dim=None, **kw): return _ops.unsqueeze(self, dim, **kw)
    def expand(self, *shape): return _ops.expand(self, *shape)

    # ---- ops added for PyTorch parity (shape and index)
    def broadcast_to(self, size): return _ops.broadcast_to(self, size)
    def unflatten(self, dim, sizes): return _ops.unflatten(self, dim, sizes)
    def tensor_split(self, indices_or_sections, dim=0): return _ops.tensor_split(self, indices_or_sections, dim)
    def hsplit(self, indices_or_sections): return _ops.hsplit(self, indices_or_sections)
    def vsplit(self, indices_or_sections): return _ops.vsplit(self, indices_or_sections)
    def dsplit(self, indices_or_sections): return _ops.dsplit(self, indices_or_sections)
    def diff(self, n=1, dim=-1, prepend=None, append=None): return _ops.diff(self, n, dim, prepend, append)
    def rot90(self, k=1, dims=(0, 1)): return _ops.rot90(self, k, dims)
    def fliplr(self): return _ops.fliplr(self)
    def flipud(self): return _ops.flipud(self)
    def take(self, index): return _ops.take(self, index)
    def take_along_dim(self, indices, dim=None): return _ops.take_along_dim(self, indices, dim)
    def select(self, dim, index): return _ops.select(self, dim, index)
    def diagflat(self, offset=0): return _ops.diagflat(self, offset)
    def count_nonzero(self, dim=None): return _ops.count_nonzero(self, dim)
    def kron(self, other): return _ops.kron(self, other)
    def index_add(self, dim, index, source, *, alpha=1): return _ops.index_add(self, dim, index, source, alpha=alpha)
    def index_copy(self, dim, index, source): return _ops.index_copy(self, dim, index, source)
    def index_fill(self, dim, index, value): return _ops.index_fill(self, dim, index, value)
    def scatter_reduce(self, dim, index, src, reduce, *, include_self=True):
        return _ops.scatter_reduce(self, dim, index, src, reduce, include_self=include_self)

    # ------------------------------------------------------------------ new tensors like this one
    def _like(self, data, dtype, requires_grad, device):
        if device is not None:
            _device.check(device)
        d = self._data.dtype if dtype is None else dtypes.as_dtype(dtype)
        return Tensor(np.asarray(data, dtype=d), requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self._like(np.zeros(_shape_arg(size)), dtype, requires_grad, device)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self._like(np.ones(_shape_arg(size)), dtype, requires_grad, device)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self._like(np.zeros(_shape_arg(size)), dtype, requires_grad, device)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        return self._like(np.full(_shape_arg((size,)), fill_value), dtype, requires_grad, device)

    def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
        data = data._data if isinstance(data, Tensor) else data
        return self._like(np.array(data), dtype, requires_grad, device)

    @property
    def T(self):
        """The transpose: axes reversed (for a matrix, rows and columns swapped)."""
        return _ops.transpose(self)

    @property
    def mT(self):
        """The last two axes swapped (a batch of matrices, each transposed); mH is the same for real tensors."""
        if self.ndim < 2:
            raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor.")
        return _ops.transpose(self, -2, -1)

    mH = mT

    @property
    def H(self):
        """The transpose of a matrix (its conjugate, for chainrule's real tensors)."""
        if self.ndim not in (0, 2):
            raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor.")
        return _ops.transpose(self)

    # ---- ops added for PyTorch parity (elementwise math and predicates)
    def isnan(self): return _ops.isnan(self)
    def isinf(self): return _ops.isinf(self)
    def isfinite(self): return _ops.isfinite(self)
    def isposinf(self): return _ops.isposinf(self)
    def isneginf(self): return _ops.isneginf(self)
    def signbit(self): return _ops.signbit(self)
    def isreal(self): return _ops.isreal(self)
    def nan_to_num(self, nan=0.0, posinf=None, neginf=None): return _ops.nan_to_num(self, nan, posinf, neginf)
    def nansum(self, dim=None, keepdim=False, *, dtype=None): return _ops.nansum(self, dim, keepdim, dtype=dtype)
    def nanmean(self, dim=None, keepdim=False, *, dtype=None): return _ops.nanmean(self, dim, keepdim, dtype=dtype)
    def tan(self): return _ops.tan(self)
    def asin(self): return _ops.asin(self)
    def acos(self): return _ops.acos(self)
    def atan(self): return _ops.atan(self)
    def sinh(self): return _ops.sinh(self)
    def cosh(self): return _ops.cosh(self)
    def asinh(self): return _ops.asinh(self)
    def acosh(self): return _ops.acosh(self)
    def atanh(self): return _ops.atanh(self)
    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh
    def atan2(self, other): return _ops.atan2(self, other)
    arctan2 = atan2
    def hypot(self, other): return _ops.hypot(self, other)
    def sinc(self): return _ops.sinc(self)
    def deg2rad(self): return _ops.deg2rad(self)
    def rad2deg(self): return _ops.rad2deg(self)
    def logit(self, eps=None): return _ops.logit(self, eps)
    def copysign(self, other): return _ops.copysign(self, other)
    def heaviside(self, values): return _ops.heaviside(self, values)
    def fmax(self, other): return _ops.fmax(self, other)
    def fmin(self, other): return _ops.fmin(self, other)
    def float_power(self, exponent): return _ops.float_power(self, exponent)
    absolute, negative = abs, neg
    def sgn(self): return _ops.sgn(self)
    def true_divide(self, other): return _ops.true_divide(self, other)

    # ---- ops added for PyTorch parity (index, misc)
    def sort(self, dim=-1, descending=False, stable=False): return _ops.sort(self, dim, descending, stable)
    def topk(self, k, dim=-1, largest=True, sorted=True): return _ops.topk(self, k, dim, largest, sorted)
    def median(self, dim=None, keepdim=False): return _ops.median(self, dim, keepdim)
    def nanmedian(self, dim=None, keepdim=False): return _ops.nanmedian(self, dim, keepdim)
    def quantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return _ops.quantile(self, q, dim, keepdim, interpolation=interpolation)
    def nanquantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return _ops.nanquantile(self, q, dim, keepdim, interpolation=interpolation)
    def gather(self, dim, index): return _ops.gather(self, dim, index)
    def scatter_add(self, dim, index, src): return _ops.scatter_add(self, dim, index, src)
    def index_select(self, dim, index): return _ops.index_select(self, dim, index)
    def masked_fill(self, mask, value): return _ops.masked_fill(self, mask, value)
    def repeat(self, *sizes): return _ops.repeat(self, *sizes)
    def tile(self, *dims): return _ops.tile(self, dims[0] if len(dims) == 1 else dims)
    def clone(self, *, memory_format=None): return _ops.clone(self)
    def flip(self, *dims): return _ops.flip(self, dims[0] if len(dims) == 1 else dims)
    def roll(self, shifts, dims=None): return _ops.roll(self, shifts, dims)
    def cumsum(self, dim, *, dtype=None): return _ops.cumsum(self, dim, dtype=dtype)
    def log1p(self): return _ops.log1p(self)
    def expm1(self): return _ops.expm1(self)
    def erf(self): return _ops.erf(self)
    def erfc(self): return _ops.erfc(self)
    def logaddexp(self, other): return _ops.logaddexp(self, other)
    def xlogy(self, other): return _ops.xlogy(self, other)
    def norm(self, p="fro", dim=None, keepdim=False, dtype=None): return _ops.norm(self, p, dim, keepdim, dtype)
    def all(self, dim=None, keepdim=False): return _ops.all(self, dim, keepdim)
    def any(self, dim=None, keepdim=False): return _ops.any(self, dim, keepdim)
    def outer(self, vec2): return _ops.outer(self, vec2)
    def log10(self): return _ops.log10(self)
    def log2(self): return _ops.log2(self)
    def exp2(self): return _ops.exp2(self)
    def rsqrt(self): return _ops.rsqrt(self)
    def reciprocal(self): return _ops.reciprocal(self)
    def sign(self): return _ops.sign(self)
    def trunc(self): return _ops.trunc(self)
    fix = trunc
    def floor(self): return _ops.floor(self)
    def ceil(self): return _ops.ceil(self)
    def round(self, *, decimals=0): return _ops.round(self, decimals=decimals)
    def positive(self): return _ops.positive(self)
    def frac(self): return _ops.frac(self)
    def lerp(self, end, weight): return _ops.lerp(self, end, weight)
    def clamp_min(self, min): return _ops.clamp_min(self, min)  # noqa: A002
    def clamp_max(self, max): return _ops.clamp_max(self, max)  # noqa: A002
    def prod(self, dim=None, keepdim=False, *, dtype=None): return _ops.prod(self, dim, keepdim, dtype=dtype)
    def cumprod(self, dim, *, dtype=None): return _ops.cumprod(self, dim, dtype=dtype)
    def eq(self, other): return _ops.eq(self, other)
    def ne(self, other): return _ops.ne(self, other)
    def lt(self, other): return _ops.lt(self, other)
    def le(self, other): return _ops.le(self, other)
    def gt(self, other): return _ops.gt(self, other)
    def ge(self, other): return _ops.ge(self, other)
    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne
    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _ops.isclose(self, other, rtol, atol, equal_nan)
    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _ops.allclose(self, other, rtol, atol, equal_nan)
    def equal(self, other): return _ops.equal(self, other)
    def tril(self, diagonal=0): return _ops.tril(self, diagonal)
    def triu(self, diagonal=0): return _ops.triu(self, diagonal)
    def diagonal(self, offset=0, dim1=0, dim2=1): return _ops.diagonal(self, offset, dim1, dim2)
    def diag(self, diagonal=0): return _ops.diag(self, diagonal)
    def diag_embed(self, offset=0): return _ops.diag_embed(self, offset)
    def trace(self): return _ops.trace(self)
    def argsort(self, dim=-1, descending=False, stable=False): return _ops.argsort(self, dim, descending, stable)
    def msort(self): return _ops.msort(self)
    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
        return _ops.unique(self, sorted, return_inverse, return_counts, dim)
    def nonzero(self, *, as_tuple=False): return _ops.nonzero(self, as_tuple=as_tuple)
    def argwhere(self): return _ops.argwhere(self)
    def bincount(self, weights=None, minlength=0): return _ops.bincount(self, weights, minlength)
    def histc(self, bins=100, min=0, max=0): return _ops.histc(self, bins, min, max)  # noqa: A002
    def histogram(self, bins=100, **kw): return _ops.histogram(self, bins, **kw)
    def where(self, condition, other): return _ops.where(condition, self, other)
    def split(self, split_size, dim=0): return _ops.split(self, split_size, dim)
    def chunk(self, chunks, dim=0): return _ops.chunk(self, chunks, dim)
    def unbind(self, dim=0): return _ops.unbind(self, dim)
    def narrow(self, dim, start, length): return _ops.narrow(self, dim, start, length)
    def unfold(self, dimension, size, step): return _ops.shape.unfold(self, dimension, size, step)
    def split_with_sizes(self, split_sizes, dim=0): return _ops.split(self, list(split_sizes), dim)
    def select_scatter(self, src, dim, index): return _ops.select_scatter(self, src, dim, index)
    def slice_scatter(self, src, dim=0, start=None, end=None, step=1): return _ops.slice_scatter(self, src, dim, start, end, step)
    def diagonal_scatter(self, src, offset=0, dim1=0, dim2=1): return _ops.diagonal_scatter(self, src, offset, dim1, dim2)
    def narrow_copy(self, dim, start, length): return _ops.clone(_ops.narrow(self, dim, start, length))
    def gcd(self, other): return _ops.gcd(self, other)
    def lcm(self, other): return _ops.lcm(self, other)
    def ldexp(self, other): return _ops.ldexp(self, other)
    def frexp(self): return _ops.frexp(self)
    def logaddexp2(self, other): return _ops.logaddexp2(self, other)
    def renorm(self, p, dim, maxnorm): return _ops.renorm(self, p, dim, maxnorm)

    def unique_consecutive(self, return_inverse=False, return_counts=False, dim=None):
        return _ops.unique_consecutive(self, return_inverse, return_counts, dim)

    def sum_to_size(self, *size):
        """This tensor summed down to ``size``, a shape it broadcasts from (PyTorch's sum_to_size)."""
        size = _ops.shape._shape_arg(size)
        try:
            if np.broadcast_shapes(size, self.shape) != self.shape:
                raise ValueError
        except ValueError:
            raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(self.shape)}}}.") from None
        lead = self.ndim - len(size)
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(size) if n == 1 and self.shape[lead + i] != 1)
        out = _ops.sum(self, axes, True) if axes else self
        return out.reshape(size) if out.shape != tuple(size) else out
    def movedim(self, source, destination): return _ops.movedim(self, source, destination)
    moveaxis = movedim
    def swapaxes(self, axis0, axis1): return _ops.swapaxes(self, axis0, axis1)
    swapdims = swapaxes


# PyTorch's in-place forms ``x.f_(...)`` of these methods ``x.f(...)``: f's result written into x by the
# rules of every in-place op (:func:`chainrule.ops.inplace.apply_`: the leaf error, the version, the
# node replaced, a result x's dtype cannot hold refused)
_IN_PLACE_FORMS = (
    "absolute acos acosh arccos arccosh arcsin arcsinh arctan arctan2 arctanh asin asinh atan atan2 atanh cosh "
    "deg2rad erf erfc exp2 expm1 fix frac log10 log1p log2 logit negative rad2deg reciprocal rsqrt sgn sinc sinh "
    "tan copysign divide float_power floor_divide fmod heaviside hypot multiply remainder subtract true_divide xlogy "
    "eq ne lt le gt ge greater greater_equal less less_equal not_equal bitwise_and bitwise_or bitwise_xor "
    "bitwise_not logical_and logical_or logical_xor logical_not cumsum cumprod addmm addmv addr baddbmm addbmm "
    "gcd lcm ldexp renorm").split()


def _in_place_form(name: str):
    out_of_place = getattr(Tensor, name)

    def method(self, *args, **kwargs):
        return _inplace.apply_(self, name + "_", out_of_place, *args, **kwargs)
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"``x.{name}(...)`` written into x in place."
    return method


for _name in _IN_PLACE_FORMS:
    setattr(Tensor, _name + "_", _in_place_form(_name))


_REFLECTED = {np.add: ("__add__", "__radd__"), np.subtract: ("__sub__", "__rsub__"),
              np.multiply: ("__mul__", "__rmul__"), np.true_divide: ("__truediv__", "__rtruediv__"),
              np.power: ("__pow__", "__rpow__"), np.matmul: ("__matmul__", "__rmatmul__"),
              np.less: ("__lt__", "__gt__"), np.less_equal: ("__le__", "__ge__"),
              np.greater: ("__gt__", "__lt__"), np.greater_equal: ("__ge__", "__le__"),
              np.equal: ("__eq__", "__eq__"), np.not_equal: ("__ne__", "__ne__")}


_SHAPE_ONLY = {np.shape, np.ndim, np.size}


def _refuse_grad(fn, *groups) -> None:
    """One clear error when a NumPy function meets a tensor that requires grad."""
    for group in groups:
        for x in group:
            items = x if isinstance(x, (list, tuple)) else (x,)
            if any(isinstance(i, Tensor) and i.requires_grad for i in items):
                name = getattr(fn, "__name__", str(fn))
                raise RuntimeError(f"numpy.{name}() was given a Tensor that requires grad: NumPy cannot "
                                   f"record the graph. Use chainrule's op (x.exp(), x @ w, cr.cat...) to "
                                   f"keep the gradient, or call .detach() first to leave the graph")


def _arrays(values) -> list:
    """Tensors (also inside lists and tuples) replaced by their arrays."""
    out = []
    for x in values:
        if isinstance(x, Tensor):
            x = x._data
        elif isinstance(x, (list, tuple)) and any(isinstance(i, Tensor) for i in x):
            x = type(x)(i._data if isinstance(i, Tensor) else i for i in x)
        out.append(x)
    return out


set_tensor_class(Tensor)
