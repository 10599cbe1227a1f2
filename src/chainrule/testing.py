"""PyTorch's ``torch.testing.assert_close``: shape, dtype and values checked with PyTorch's default
tolerances per dtype and its message shape (an AssertionError)."""
from __future__ import annotations

import numpy as np

from chainrule.tensor import Size, Tensor

_TOLERANCES = {np.dtype(np.float16): (1e-3, 1e-5), np.dtype(np.float32): (1.3e-6, 1e-5),
               np.dtype(np.float64): (1e-7, 1e-7)}  # (rtol, atol); integers and bool: exact


def _as_array(x, kind: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, bool):
        return np.asarray(x)
    if isinstance(x, int):
        return np.asarray(x, np.int64)
    if isinstance(x, float):
        return np.asarray(x, np.float64)
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(x)} (the {kind})")


def _name(d: np.dtype) -> str:
    return "chainrule." + {"bool": "bool"}.get(d.name, d.name)


def _fmt(v) -> str:
    return repr(float(v)) if isinstance(v, (float, np.floating)) else repr(int(v))


def assert_close(actual, expected, *, allow_subclasses: bool = True, rtol=None, atol=None,
                 equal_nan: bool = False, check_device: bool = True, check_dtype: bool = True,
                 check_layout: bool = True, check_stride: bool = False, msg=None) -> None:
    """Raise AssertionError unless ``actual`` and ``expected`` (tensors, arrays, numbers, or lists /
    tuples / dicts of them) have the same shape and dtype and |actual - expected| <= atol + rtol *
    |expected| everywhere. The default tolerances are PyTorch's for the dtype (float32: rtol 1.3e-6,
    atol 1e-5; float64: 1e-7 both; float16: 1e-3, 1e-5; integers and bool: exact)."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'rtol' if rtol is None else 'atol'}.")
    _compare(actual, expected, rtol, atol, equal_nan, check_dtype, msg, ())


def _compare(actual, expected, rtol, atol, equal_nan, check_dtype, msg, where) -> None:
    if isinstance(expected, (list, tuple)) and not isinstance(expected, Size):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            _fail(f"The length of the sequences mismatch: {len(actual) if isinstance(actual, (list, tuple)) else actual!r} "
                  f"!= {len(expected)}", msg, where)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, check_dtype, msg, where + (i,))
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            _fail(f"The keys of the mappings do not match: {sorted(map(repr, actual))} != "
                  f"{sorted(map(repr, expected))}", msg, where)
        for k in expected:
            _compare(actual[k], expected[k], rtol, atol, equal_nan, check_dtype, msg, where + (k,))
        return
    scalars = not isinstance(expected, (Tensor, np.ndarray))
    a, e = _as_array(actual, "actual"), _as_array(expected, "expected")
    if a.shape != e.shape:
        _fail(f"The values for attribute 'shape' do not match: {Size(a.shape)} != {Size(e.shape)}.", msg, where)
    if check_dtype and a.dtype != e.dtype:
        _fail(f"The values for attribute 'dtype' do not match: {_name(a.dtype)} != {_name(e.dtype)}.", msg, where)
    if rtol is None:
        rtol, atol = _TOLERANCES.get(e.dtype if e.dtype.kind == "f" else a.dtype, (0.0, 0.0))
    common = np.result_type(a.dtype, e.dtype)
    common = common if common.kind == "f" else np.dtype(np.float64)
    af, ef = a.astype(common), e.astype(common)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(af - ef)
        ok = diff <= atol + rtol * np.abs(ef)
        if equal_nan:
            ok |= np.isnan(af) & np.isnan(ef)
        ok |= (af == ef)  # equal infinities
        if ok.all():
            return
        rel = diff / np.abs(ef)
        if a.dtype.kind != "f" and e.dtype.kind != "f":  # PyTorch reports an integer pair's in float32
            rel = rel.astype(np.float32)
    exact = rtol == 0 and atol == 0
    what = "equal" if exact else "close"
    if scalars or a.ndim == 0:
        lines = [f"Scalars are not {what}!", "", f"Expected {_fmt(e[()])} but got {_fmt(a[()])}.",
                 f"Absolute difference: {_fmt(diff[()].astype(a.dtype) if a.dtype.kind != 'f' else diff[()])}"
                 + ("" if exact else f" (up to {atol} allowed)"),
                 f"Relative difference: {_fmt(rel[()])}" + ("" if exact else f" (up to {rtol} allowed)")]
    else:
        bad = ~ok
        n = int(bad.sum())
        worst_abs = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(diff, nan=np.inf), -1)), a.shape)
        worst_rel = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(rel, nan=np.inf), -1)), a.shape)
        ad = diff[worst_abs] if a.dtype.kind == "f" else diff[worst_abs].astype(np.int64)
        lines = [f"Tensor-likes are not {what}!", "", f"Mismatched elements: {n} / {a.size} ({100 * n / a.size:.1f}%)",
                 f"Greatest absolute difference: {_fmt(ad)} at index {tuple(map(int, worst_abs))}"
                 + ("" if exact else f" (up to {atol} allowed)"),
                 f"Greatest relative difference: {_fmt(rel[worst_rel])} at index {tuple(map(int, worst_rel))}"
                 + ("" if exact else f" (up to {rtol} allowed)")]
    _fail("\n".join(lines), msg, where)


def _fail(text: str, msg, where) -> None:
    if msg is not None:
        text = msg(text) if callable(msg) else msg
    elif where:
        text += "\n\nThe failure occurred for item " + "".join(f"[{i!r}]" for i in where)
    raise AssertionError(text)
