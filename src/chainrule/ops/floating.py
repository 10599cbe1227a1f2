"""Functions about floating-point values (PyTorch's signatures): their classes as bool tensors (isnan,
isinf, isfinite, isposinf, isneginf, signbit, isreal), NaN handling (nan_to_num, nansum, nanmean, fmax,
fmin), copysign, heaviside and float_power. The rules are in :mod:`chainrule.rules.floating`.

The predicates carry no gradient and are ops (like the comparisons), so a compiled step repeats them
on each call's data:

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, float("nan"), float("inf")])
    >>> cr.isfinite(x), cr.nansum(x), cr.nan_to_num(x, posinf=9.0)
    (tensor([ True, False, False]), tensor(inf), tensor([1., 0., 9.]))
"""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, TensorBase, no_grad
from chainrule.ops import args, reduce
from chainrule.ops.convert import as_tensor, promote
from chainrule.ops.elementwise import compare, div, indicate, pow
from chainrule.ops.transcendental import real_binary
from chainrule.rules.floating import Copysign, FMax, FMin, Heaviside, NanToNum, NanZero


def _indicator(np_fn, name: str, doc: str):
    def op(input, *, out=None):  # noqa: A002 - torch's keywords
        args.no_out(name, out)
        return indicate(np_fn, input)  # an op outside any graph: a compiled step repeats it

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc + " as a bool tensor (no gradient)."
    return op


isnan = _indicator(np.isnan, "isnan", "Where each element is NaN,")
isinf = _indicator(np.isinf, "isinf", "Where each element is +inf or -inf,")
isfinite = _indicator(np.isfinite, "isfinite", "Where each element is neither NaN nor infinite,")
isposinf = _indicator(np.isposinf, "isposinf", "Where each element is +inf,")
isneginf = _indicator(np.isneginf, "isneginf", "Where each element is -inf,")
signbit = _indicator(np.signbit, "signbit", "Where each element's sign bit is set (also -0.0),")
isreal = _indicator(np.isreal, "isreal", "Where each element is real (everywhere: chainrule's tensors are real),")


def _number(op: str, name: str, value):
    if value is not None and not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}(): argument '{name}' must be float, not {type(value).__name__}")


def nan_to_num(input, nan: float = 0.0, posinf=None, neginf=None, *, out=None):  # noqa: A002
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (None: the dtype's largest and
    smallest numbers); integer and bool tensors come back unchanged. The gradient is 1 where the
    element is finite and 0 where it was replaced, as PyTorch's.

    Args:
        input (Tensor): any dtype.
        nan (float, 0.0), posinf (float, None), neginf (float, None): the replacements.
    """
    args.no_out("nan_to_num", out)
    for name, value in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        _number("nan_to_num", name, value)
    return NanToNum.apply(as_tensor(input), nan=float(nan), posinf=posinf, neginf=neginf)


def _nan_reduction(op: str, input, dim, keepdim, axis, keepdims):  # noqa: A002
    x = as_tensor(input)
    dim, keepdim = args.alias(op, dim, keepdim, axis, keepdims)
    return x, args.dims(dim, x.ndim, op), keepdim


def nansum(input, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):  # noqa: A002
    """The sum treating NaN as 0, of all elements or over ``dim`` (an int or a tuple); integer and bool
    inputs sum as int64 (``dtype``: cast after the NaNs are zeroed). The gradient is 0 at NaN positions, as PyTorch's."""
    x, dims, keepdim = _nan_reduction("nansum", input, dim, keepdim, axis, keepdims)
    if x._data.dtype.kind == "f":
        x = NanZero.apply(x)  # before the cast to ``dtype``, as PyTorch (NaN never becomes an integer)
    return reduce.sum(x if dtype is None else as_tensor(x, dtypes.as_dtype(dtype)), dims, keepdim)


def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):  # noqa: A002
    """The mean of the elements that are not NaN, of all elements or over ``dim``; NaN where all are.
    Float tensors only, as PyTorch. The gradient is 0 at NaN positions."""
    x, dims, keepdim = _nan_reduction("nanmean", input, dim, keepdim, axis, keepdims)
    if x._data.dtype.kind != "f":
        raise DtypeError(f"nanmean(): expected input to have floating point or complex dtype but got "
                         f"{dtypes.type_name(x._data.dtype)}")
    if dtype is not None:
        x = as_tensor(x, dtypes.as_dtype(dtype))
    count = reduce.sum(compare(np.equal, x, x), dims, keepdim)  # x == x: False at NaN only
    return div(reduce.sum(NanZero.apply(x), dims, keepdim), count)


copysign = real_binary(Copysign, "copysign", "|input| with the sign of other (also of -0.0), with broadcasting.")


def _nan_ignoring(rule, name: str, doc: str):
    def op(input, other, *, out=None):  # noqa: A002
        args.no_out(name, out)
        return rule.apply(*promote(input, other))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


fmax = _nan_ignoring(FMax, "fmax", "Elementwise max ignoring NaN (NaN only where both are), with broadcasting; "
                                   "integer tensors stay integers.")
fmin = _nan_ignoring(FMin, "fmin", "Elementwise min ignoring NaN (NaN only where both are), with broadcasting; "
                                   "integer tensors stay integers.")


def heaviside(input, values, *, out=None):  # noqa: A002
    """The step function: 0 where input < 0, ``values`` where input == 0, 1 where input > 0; no gradient.
    ``values`` (a tensor, broadcast against input) must have input's dtype, as PyTorch."""
    args.no_out("heaviside", out)
    x, v = as_tensor(input), values
    if not isinstance(v, TensorBase):
        raise TypeError(f"heaviside(): argument 'values' (position 2) must be Tensor, not {type(v).__name__}")
    if v._data.dtype != x._data.dtype:
        raise DtypeError("heaviside is not yet implemented for tensors with different dtypes.")
    with no_grad():
        return Heaviside.apply(x, v)


def float_power(input, exponent, *, out=None):  # noqa: A002
    """input ** exponent computed in float64 (the result is float64 whatever the inputs, as PyTorch);
    the gradient is pow's, cast back to each input's dtype."""
    args.no_out("float_power", out)
    return pow(as_tensor(input, dtypes.float64), as_tensor(exponent, dtypes.float64))
