"""Shape functions (PyTorch's signatures): reshape, permute/transpose, flatten, squeeze/unsqueeze,
expand, indexing, cat/stack, pad. The gradient rules are in :mod:`chainrule.rules.shape`."""
from __future__ import annotations

import warnings

import numpy as np

from chainrule.core import DtypeError, ShapeError, TensorBase, make
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, promote
from chainrule.rules.shape import Concatenate, Expand, Getitem, Pad, Permute, Reshape, Slot, Stack


def index_inputs(index) -> tuple:
    """An index split into a template and the index arrays as tensors: each tensor, list or ndarray
    in ``index`` becomes a :class:`~chainrule.rules.shape.Slot` naming its place among the tensors
    (lists and ndarrays are copied into new tensors, as PyTorch copies them). The tensors are inputs of
    the op, so that changing an index in place after the op is caught by the version check."""
    tensors = []

    def one(i):
        if isinstance(i, TensorBase):
            tensors.append(i)
        elif isinstance(i, (list, np.ndarray)):
            tensors.append(make(np.array(i)))
        else:
            return i
        return Slot(len(tensors) - 1)

    template = tuple(one(i) for i in index) if isinstance(index, tuple) else one(index)
    return template, tuple(tensors)


# ----------------------------------------------------------------------------- functions
def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def reshape(x, *shape):
    """x with a new shape of the same size (one entry may be -1)."""
    x = as_tensor(x)
    shape = _shape_arg(shape)
    known = int(np.prod([s for s in shape if s != -1]))
    size = x._data.size
    if shape.count(-1) > 1 or (-1 not in shape and known != size) or \
            (-1 in shape and (known == 0 or size % known)):
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} ({size} elements) "
                         f"into shape {shape}")
    return Reshape.apply(x, shape=shape)


def permute(x, *axes, dims=None):
    """x with its axes reordered (PyTorch's permute, NumPy's transpose with axes)."""
    x = as_tensor(x)
    axes = _shape_arg(axes if dims is None else (dims,))
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ShapeError(f"permute: {axes} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Permute.apply(x, axes=tuple(a % x.ndim for a in axes))


def transpose(x, dim0=None, dim1=None):
    """Swap axes ``dim0`` and ``dim1`` (PyTorch); with no axes, reverse them all (``x.T``)."""
    x = as_tensor(x)
    if dim0 is None and dim1 is None:
        return Permute.apply(x, axes=tuple(range(x.ndim))[::-1])
    if dim0 is None or dim1 is None:
        raise ShapeError("transpose: give both axes to swap, or none to reverse all")
    axes = list(range(x.ndim))
    if x.ndim == 0:
        args.dim(dim0, 0, "transpose"), args.dim(dim1, 0, "transpose")
        return Permute.apply(x, axes=())
    i, j = args.dim(dim0, x.ndim, "transpose"), args.dim(dim1, x.ndim, "transpose")
    axes[i], axes[j] = axes[j], axes[i]
    return Permute.apply(x, axes=tuple(axes))


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """Merge axes start_dim..end_dim into one (Flatten layers use start_dim=1)."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = args.dim(start_dim, x.ndim, "flatten"), args.dim(end_dim, x.ndim, "flatten")
    if s > e:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:]
    return Reshape.apply(x, shape=shape)


def squeeze(x, dim=None, *, axis=None):
    """Drop axes of length 1 (all of them, or the one(s) named; as in PyTorch, a named axis whose
    length is not 1 is left alone)."""
    x = as_tensor(x)
    dim = axis if dim is None else dim
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        axes = {args.dim(a, x.ndim, "squeeze") for a in ((dim,) if isinstance(dim, (int, np.integer)) else dim)}
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return Reshape.apply(x, shape=shape)


def unsqueeze(x, dim: int | None = None, *, axis: int | None = None):
    """Insert an axis of length 1 at ``dim`` (``axis`` is an alias)."""
    x = as_tensor(x)
    dim = axis if dim is None else dim
    if dim is None:
        raise TypeError("unsqueeze() missing required argument 'dim'")
    a = args.new_dim(dim, x.ndim, "unsqueeze")
    return Reshape.apply(x, shape=x.shape[:a] + (1,) + x.shape[a:])


def expand(x, *shape):
    """Broadcast x to ``shape`` (-1 keeps a length) without copying."""
    x = as_tensor(x)
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: shape {shape} has fewer dimensions than the tensor's {x.shape}")
    full = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    try:
        if np.broadcast_shapes(x.shape, full) != full:
            raise ValueError
    except ValueError:
        raise ShapeError(f"expand: a tensor of shape {x.shape} cannot be expanded to {shape}") from None
    return Expand.apply(x, shape=full)


def getitem(x, index):
    """x[index]: basic slicing, integer arrays and boolean masks."""
    x = as_tensor(x)
    template, idx = index_inputs(index)
    try:
        return Getitem.apply(x, *idx, index=template)
    except IndexError as e:
        raise IndexError(f"index into a tensor of shape {x.shape}: {e}") from None


def _check_join(tensors, op):
    if isinstance(tensors, TensorBase) or not len(tensors):
        raise ShapeError(f"{op}: expects a non-empty list of tensors")


def concatenate(tensors, dim: int = 0, *, axis: int | None = None, out=None):
    """Join tensors along an existing axis ``dim`` (``axis`` is an alias); the other axes must agree."""
    axis = dim if axis is None else axis
    _check_join(tensors, "concatenate")
    args.no_out("cat", out)
    ts = promote(*tensors)
    ref = ts[0].shape
    if not ref:
        raise ShapeError("concatenate: 0-d tensors cannot be concatenated; use stack")
    a = args.dim(axis, len(ref), "concatenate")
    for i, t in enumerate(ts):
        if t.ndim != len(ref) or t.shape[:a] + t.shape[a + 1:] != ref[:a] + ref[a + 1:]:
            raise ShapeError(f"concatenate: tensor {i} has shape {t.shape}, which does not match "
                             f"{ref} outside axis {a}")
    return Concatenate.apply(*ts, axis=a)


cat = concatenate


def stack(tensors, dim: int = 0, *, axis: int | None = None, out=None):
    """Stack tensors of one shape along a new axis ``dim`` (``axis`` is an alias)."""
    axis = dim if axis is None else axis
    _check_join(tensors, "stack")
    args.no_out("stack", out)
    ts = promote(*tensors)
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ShapeError(f"stack: tensor {i} has shape {t.shape}, tensor 0 has {ts[0].shape}")
    return Stack.apply(*ts, axis=args.new_dim(axis, ts[0].ndim, "stack"))


def pad(x, pad_width, value: float = 0.0):
    """Pad with a constant; ``pad_width`` as in NumPy: an int, (before, after) or one pair per axis."""
    x = as_tensor(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64).reshape(-1, 2) if np.ndim(pad_width)
                         else np.full((1, 2), int(pad_width)), (x.ndim, 2))
    if (pw < 0).any():
        raise ShapeError(f"pad: pad widths must be >= 0, got {pad_width}")
    return Pad.apply(x, pad_width=tuple(map(tuple, pw.tolist())), value=value)


def narrow(input, dim: int, start: int, length: int):  # noqa: A002
    """The ``length`` elements from ``start`` along ``dim`` (a view in PyTorch, a slice here)."""
    x = as_tensor(input)
    d = args.dim(dim, x.ndim, "narrow")
    n = x.shape[d]
    s = int(start) + n if int(start) < 0 else int(start)
    if not 0 <= s <= n or length < 0 or s + length > n:
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return getitem(x, (slice(None),) * d + (slice(s, s + int(length)),))


def split(tensor, split_size_or_sections, dim: int = 0):
    """Pieces along ``dim``: of ``split_size`` each (the last one smaller), or of the given sizes."""
    x = as_tensor(tensor)
    d = args.dim(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [min(step, n - i) for i in range(0, n, step)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                               f"size at dimension {d}), but got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(x, d, start, s))
        start += s
    return tuple(out)


def chunk(input, chunks: int, dim: int = 0):  # noqa: A002
    """``chunks`` pieces along ``dim`` of ceil(n / chunks) elements each (fewer pieces when they run out)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    x = as_tensor(input)
    n = x.shape[args.dim(dim, x.ndim, "chunk")]
    return split(x, max(1, -(-n // chunks)), dim)


def unbind(input, dim: int = 0):  # noqa: A002
    """The slices along ``dim``, as a tuple (the axis removed)."""
    x = as_tensor(input)
    d = args.dim(dim, x.ndim, "unbind")
    return tuple(getitem(x, (slice(None),) * d + (i,)) for i in range(x.shape[d]))


def movedim(input, source, destination):  # noqa: A002
    """``input`` with the axes ``source`` moved to the positions ``destination`` (ints or tuples)."""
    x = as_tensor(input)
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
                           f"contain the same number of dims as destination ({list(dst)} dims)")
    src = [args.dim(s, x.ndim, "movedim") for s in src]
    dst = [args.dim(s, x.ndim, "movedim") for s in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError("movedim: repeated dim in source or destination")
    order = [a for a in range(x.ndim) if a not in src]
    for d, a in sorted(zip(dst, src)):
        order.insert(d, a)
    return Permute.apply(x, axes=tuple(order))


def swapaxes(input, axis0: int, axis1: int):  # noqa: A002
    """Swap two axes (PyTorch's alias of transpose)."""
    return transpose(input, axis0, axis1)


moveaxis, swapdims = movedim, swapaxes


def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids from N 0-d or 1-D tensors of one dtype: N tensors of shape (n0, n1, ...)
    ("ij", the default) or with the first two axes swapped ("xy", as NumPy's); views by expand, so
    gradients flow back to the inputs. Without ``indexing`` PyTorch warns that it will be required.

    Example:
        >>> import chainrule as cr
        >>> xs, ys = cr.meshgrid(cr.tensor([1, 2, 3]), cr.tensor([4, 5]), indexing="ij")
        >>> xs.shape, ys[0].tolist()
        ((3, 2), [4, 5])
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    ts = [as_tensor(t) for t in tensors]
    if any(t.ndim > 1 for t in ts):
        raise ShapeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got shapes "
                         f"{[t.shape for t in ts]}")
    if len({t.dtype for t in ts}) > 1:
        raise DtypeError("meshgrid expects all tensors to have the same dtype")
    ts = [t.reshape(1) if t.ndim == 0 else t for t in ts]
    axes = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(ts)
    for t, a in zip(ts, axes):
        shape[a] = t.shape[0]
    out = []
    for t, a in zip(ts, axes):
        view = [1] * len(ts)
        view[a] = -1
        out.append(t.reshape(*view).expand(*shape))
    return tuple(out)


def is_tensor(obj) -> bool:
    """True for a chainrule tensor (PyTorch's torch.is_tensor)."""
    return isinstance(obj, TensorBase)


def numel(input) -> int:  # noqa: A002
    """The number of elements of ``input``."""
    return int(as_tensor(input)._data.size)


def broadcast_shapes(*shapes) -> tuple:
    """The shape that tensors of ``shapes`` broadcast to (NumPy's and PyTorch's rule), a tuple like ``x.shape``."""
    shapes = [(int(s),) if isinstance(s, (int, np.integer)) else tuple(int(n) for n in s) for s in shapes]
    try:
        out = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"broadcast_shapes: shapes {shapes} do not broadcast (trailing axes must be equal "
                         f"or 1)") from None
    return tuple(out)


def broadcast_tensors(*tensors) -> tuple:
    """The tensors expanded to their common shape (views: the gradient of each sums back)."""
    ts = [as_tensor(t) for t in tensors]
    shape = tuple(broadcast_shapes(*(t.shape for t in ts)))
    return tuple(t if t.shape == shape else t.expand(*shape) for t in ts)
