"""Shape functions (PyTorch's signatures): reshape, permute/transpose, flatten, squeeze/unsqueeze,
expand, indexing, cat/stack, pad. The gradient rules are in :mod:`chainrule.rules.shape`."""
from __future__ import annotations

import warnings

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, ShapeError, TensorBase, make
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, promote
from chainrule.rules.shape import Concatenate, Expand, Getitem, Pad, Permute, Reshape, Slot, Stack, Windows


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
            a = np.array(i)
            tensors.append(make(a.astype(np.int64) if a.size == 0 and a.dtype.kind == "f" else a))  # [] indexes nothing
        else:
            return i
        return Slot(len(tensors) - 1)

    index = _as_tuple(index)
    template = tuple(one(i) for i in index) if isinstance(index, tuple) else one(index)
    return template, tuple(tensors)


def _as_tuple(index):
    """PyTorch's rule (old NumPy's): a list of fewer than 32 items holding a tensor, a sequence, a slice,
    Ellipsis or None is a tuple of indices, so that ``x[[rows, cols]]`` is ``x[rows, cols]``; other
    lists are one integer or boolean index array. PyTorch 2.13 warns that it will read such a list as
    one index array; so does chainrule, in its words."""
    if isinstance(index, list) and len(index) < 32 and any(
            i is None or i is Ellipsis or isinstance(i, (TensorBase, list, tuple, range, np.ndarray, slice)) for i in index):
        warnings.warn("Using a non-tuple sequence for multidimensional indexing is deprecated (PyTorch will read it "
                      "as one index tensor); use x[tuple(seq)] instead of x[seq]", UserWarning, stacklevel=5)
        return tuple(index)
    return index


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


def unfold(input, dimension: int, size: int, step: int):  # noqa: A002
    """Tensor.unfold: the windows of ``size`` elements along ``dimension``, one every ``step``; that
    axis becomes the window's number and a new last axis holds each window (a copy here, a view in
    PyTorch)."""
    x = as_tensor(input)
    scalar = x.ndim == 0   # PyTorch: a 0-d tensor's one window of one element, shape (1,)
    if scalar:
        x = reshape(x, 1)
    d = args.dim(dimension, x.ndim, "unfold")
    size, step = int(size), int(step)
    if size > x.shape[d]:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {x.shape[d]} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    out = Windows.apply(x, axis=d, size=size, step=step)
    return reshape(out, -1) if scalar else out


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
    for s in shapes:
        if isinstance(s, TensorBase):
            raise RuntimeError(f"Input shapes should be of type ints, a tuple of ints, or a list of ints, got {s}")
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


# ----------------------------------------------------------------------------- stacks and splits (NumPy's names)
def _tensor_list(tensors, op: str) -> list:
    """The non-empty sequence of tensors a stacking function takes, as PyTorch refuses what it is not."""
    if isinstance(tensors, TensorBase):
        raise TypeError(f"{op}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor")
    if not len(tensors):
        raise ShapeError(f"{op} expects a non-empty TensorList")
    return list(promote(*tensors))


def _atleast(x, n: int):
    """One tensor with at least ``n`` dims: a 0-d one as (1,)*n, a 1-D (k,) as (1, k) or (1, k, 1),
    a 2-D (m, k) as (m, k, 1), as NumPy and PyTorch lay them out."""
    x = as_tensor(x)
    if x.ndim >= n:
        return x
    shape = {0: (1,) * n, 1: ((1,) + x.shape + (1,))[:n] if n == 3 else (1,) + x.shape, 2: x.shape + (1,)}[x.ndim]
    return Reshape.apply(x, shape=shape)


def _atleast_all(tensors, n: int):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(_atleast(t, n) for t in tensors[0])
    if len(tensors) == 1:
        return _atleast(tensors[0], n)
    return tuple(_atleast(t, n) for t in tensors)


def atleast_1d(*tensors):
    """Each tensor with at least one dim (a 0-d one as shape (1,)); one tensor in, one out; several
    (or a list), a tuple."""
    return _atleast_all(tensors, 1)


def atleast_2d(*tensors):
    """Each tensor with at least two dims: 0-d as (1, 1), (k,) as (1, k)."""
    return _atleast_all(tensors, 2)


def atleast_3d(*tensors):
    """Each tensor with at least three dims: 0-d as (1, 1, 1), (k,) as (1, k, 1), (m, k) as (m, k, 1)."""
    return _atleast_all(tensors, 3)


def hstack(tensors, *, out=None):
    """The tensors joined column-wise: along dim 1, or dim 0 for 1-D ones (0-d ones count as (1,)).

    Example:
        >>> import chainrule as cr
        >>> cr.hstack([cr.tensor([1, 2]), cr.tensor([3])]).tolist()
        [1, 2, 3]
    """
    args.no_out("hstack", out)
    ts = [_atleast(t, 1) for t in _tensor_list(tensors, "hstack")]
    return concatenate(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors, *, out=None):
    """The tensors joined row-wise, along dim 0 of their :func:`atleast_2d` forms."""
    args.no_out("vstack", out)
    return concatenate([_atleast(t, 2) for t in _tensor_list(tensors, "vstack")], 0)


def dstack(tensors, *, out=None):
    """The tensors joined depth-wise, along dim 2 of their :func:`atleast_3d` forms."""
    args.no_out("dstack", out)
    return concatenate([_atleast(t, 3) for t in _tensor_list(tensors, "dstack")], 2)


def column_stack(tensors, *, out=None):
    """The tensors as columns side by side: 0-d and 1-D ones as (n, 1) columns, then joined along dim 1."""
    args.no_out("column_stack", out)
    ts = _tensor_list(tensors, "column_stack")
    return concatenate([Reshape.apply(t, shape=(t.numel(), 1)) if t.ndim <= 1 else t for t in ts], 1)


def broadcast_to(input, size):  # noqa: A002
    """``input`` expanded to ``size`` (PyTorch's expand: -1 keeps a length, new dims lead), with torch's
    refusals in its words. A view in PyTorch; here the gradient sums back over the broadcast axes."""
    x = as_tensor(input)
    shape = _shape_arg((size,))
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand(size={list(shape)}): the number of sizes provided ({len(shape)}) must be "
                         f"greater or equal to the number of dimensions in the tensor ({x.ndim})")
    full = []
    for i, s in enumerate(shape):
        if i < lead:
            if s < 0:
                raise ShapeError(f"The expanded size of the tensor ({s}) isn't allowed in a leading, "
                                 f"non-existing dimension {i}")
            full.append(s)
            continue
        n = x.shape[i - lead]
        if s == -1:
            s = n
        elif n != 1 and s != n:
            raise ShapeError(f"The expanded size of the tensor ({s}) must match the existing size ({n}) at "
                             f"non-singleton dimension {i}.  Target sizes: {list(shape)}.  Tensor sizes: "
                             f"{list(x.shape)}")
        full.append(s)
    return Expand.apply(x, shape=tuple(full))


def ravel(input):  # noqa: A002
    """``input`` as a 1-D tensor (a 0-d one as (1,))."""
    x = as_tensor(input)
    return Reshape.apply(x, shape=(x.numel(),))


def unflatten(input, dim: int, sizes):  # noqa: A002
    """Dim ``dim`` of ``input`` split into dims of ``sizes`` (one of them may be -1), as torch.unflatten.

    Example:
        >>> import chainrule as cr
        >>> cr.unflatten(cr.zeros(2, 6), 1, (3, -1)).shape
        (2, 3, 2)
    """
    x = as_tensor(input)
    d = args.dim(dim, x.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise ShapeError("unflatten: sizes must be non-empty")
    n = x.shape[d] if x.ndim else 1
    known = int(np.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1:
        raise ShapeError("unflatten: only one dimension can be inferred")
    if -1 in sizes:
        if known == 0 or n % known:
            raise ShapeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim "
                             f"{dim} ({n}) in the input tensor")
        sizes = tuple(n // known if s == -1 else s for s in sizes)
    elif known != n:
        raise ShapeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
                         f"({n}) in the input tensor")
    return Reshape.apply(x, shape=x.shape[:d] + sizes + x.shape[d + 1:])


def _split_points(sections, n: int, op: str) -> list:
    """tensor_split's boundaries: ``sections`` equal parts (the first n % sections one longer) or the
    given indices (clipped to [0, n], as slices clip)."""
    if isinstance(sections, TensorBase):
        a = sections._data
        if a.ndim > 1:
            raise ShapeError(f"{op} expected tensor_indices_or_sections to be a zero-dimensional or "
                             f"one-dimensional tensor, but got a tensor with {a.ndim} dims")
        if a.dtype != np.int64:
            raise DtypeError(f"{op} expected tensor_indices_or_sections to have dtype of long, but got "
                             f"{dtypes.type_name(a.dtype)}")
        sections = a.item() if a.ndim == 0 else a.tolist()
    if isinstance(sections, (int, np.integer)) and not isinstance(sections, bool):
        k = int(sections)
        if k <= 0:
            raise ShapeError(f"number of sections must be larger than 0, got {k}")
        size, extra = divmod(n, k)
        return [i * size + min(i, extra) for i in range(1, k)]
    if not isinstance(sections, (list, tuple)) or not all(isinstance(i, (int, np.integer)) for i in sections):
        raise TypeError(f"{op}(): indices_or_sections must be an int, a list of ints or an int64 tensor, "
                        f"got {sections!r}")
    return [int(i) for i in sections]


def _split_at(x, points: list, d: int) -> tuple:
    n = x.shape[d]
    bounds = [0] + [min(max(p + n if p < 0 else p, 0), n) for p in points] + [n]
    lead = (slice(None),) * d
    return tuple(getitem(x, lead + (slice(a, max(a, b)),)) for a, b in zip(bounds, bounds[1:]))


def tensor_split(input, indices_or_sections, dim: int = 0):  # noqa: A002
    """``input`` cut along ``dim`` into ``indices_or_sections`` near-equal parts (an int: the first
    n % k parts one element longer) or at the given indices (a list or a 0-d/1-D int64 tensor), as
    torch.tensor_split. A tuple of tensors; each has its gradient.

    Example:
        >>> import chainrule as cr
        >>> [p.tolist() for p in cr.tensor_split(cr.arange(7), 3)]
        [[0, 1, 2], [3, 4], [5, 6]]
    """
    x = as_tensor(input)
    if x.ndim == 0:
        raise ShapeError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    d = args.dim(dim, x.ndim, "tensor_split")
    return _split_at(x, _split_points(indices_or_sections, x.shape[d], "tensor_split"), d)


def _numpy_split(input, indices_or_sections, d: int, need: int, op: str):  # noqa: A002
    x = as_tensor(input)
    if x.ndim < need:
        raise ShapeError(f"torch.{op} requires a tensor with at least {need} dimension, but got a tensor "
                         f"with {x.ndim} dimensions!")
    d = 0 if op == "hsplit" and x.ndim == 1 else d
    if isinstance(indices_or_sections, (int, np.integer)):
        k, n = int(indices_or_sections), x.shape[d]
        if k == 0 or n % k:
            raise ShapeError(f"torch.{op} attempted to split along dimension {d}, but the size of the dimension "
                             f"{n} is not divisible by the split_size {k}!")
    return tensor_split(x, indices_or_sections, d)


def hsplit(input, indices_or_sections):  # noqa: A002
    """:func:`tensor_split` along dim 1 (dim 0 of a 1-D tensor); an int must divide that length."""
    return _numpy_split(input, indices_or_sections, 1, 1, "hsplit")


def vsplit(input, indices_or_sections):  # noqa: A002
    """:func:`tensor_split` along dim 0 of a tensor of at least 2 dims; an int must divide that length."""
    return _numpy_split(input, indices_or_sections, 0, 2, "vsplit")


def dsplit(input, indices_or_sections):  # noqa: A002
    """:func:`tensor_split` along dim 2 of a tensor of at least 3 dims; an int must divide that length."""
    return _numpy_split(input, indices_or_sections, 2, 3, "dsplit")


def cartesian_prod(*tensors):
    """The cartesian product of 1-D tensors of one dtype: an (n0 * n1 * ..., k) tensor of every
    combination, in itertools.product's order (one tensor: itself). Built from meshgrid and stack, so
    gradients flow back.

    Example:
        >>> import chainrule as cr
        >>> cr.cartesian_prod(cr.tensor([1, 2]), cr.tensor([3, 4])).tolist()
        [[1, 3], [1, 4], [2, 3], [2, 4]]
    """
    if not tensors:
        raise ShapeError("meshgrid expects a non-empty TensorList")
    ts = [as_tensor(t) for t in tensors]
    for t in ts:
        if t.ndim != 1:
            raise ShapeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(ts) == 1:
        return ts[0]
    grids = meshgrid(*ts, indexing="ij")
    return stack([Reshape.apply(g, shape=(g.numel(),)) for g in grids], 1)
