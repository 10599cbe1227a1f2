"""PyTorch parity: elementwise math and predicates (isnan... signbit, nan_to_num, nansum, nanmean, the
trigonometric and hyperbolic functions, atan2, hypot, sinc, deg2rad, rad2deg, logit, copysign,
heaviside, fmax, fmin, float_power, and PyTorch's aliases of existing ops), each as the same snippet in
chainrule and in torch 2.13: values, dtypes, float64 gradients (and a gradcheck), edges and refusals."""
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.compiler import CompileWarning
from oracle import check_op
from test_parity_ops2 import pair, same   # the same values in both libraries; their comparison

INF, NAN = float("inf"), float("nan")
RNG = np.random.default_rng(20261129)
SPECIAL = [1.5, -2.0, 0.0, -0.0, NAN, INF, -INF, 3e38]


def both(name, *args, **kw):
    """chainrule's and torch's function ``name`` on the same arguments (tensors given as pairs)."""
    c = getattr(cr, name)(*[a[0] if isinstance(a, tuple) else a for a in args], **kw)
    t = getattr(torch, name)(*[a[1] if isinstance(a, tuple) else a for a in args], **kw)
    return c, t


def refused(exc, match, cr_call, torch_call):
    """Both libraries refuse, with an exception of the same type whose words match."""
    with pytest.raises(exc, match=match):
        cr_call()
    with pytest.raises(exc, match=match):
        torch_call()


# ----------------------------------------------------------------------------- predicates
PREDICATES = ["isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit", "isreal"]


@pytest.mark.parametrize("name", PREDICATES)
@pytest.mark.parametrize("values, dtype", [(SPECIAL, "float64"), (SPECIAL, "float32"), ([[1, -2], [0, 7]], "int64"),
                                           ([True, False], "bool"), (-0.0, "float32")])
def test_predicates_are_torchs_bool_tensors_without_a_graph(name, values, dtype):
    grad = dtype.startswith("float")
    c, t = pair(values, dtype, grad=grad)
    cv, tv = both(name, (c, t))
    same(cv, tv)
    assert cv.dtype == cr.bool and not cv.requires_grad and cv.grad_fn is None
    same(getattr(c, name)(), getattr(t, name)())


def test_predicates_refuse_out_as_the_repo_does():
    c, t = pair([1.0, NAN], grad=False)
    refused(TypeError, "out", lambda: cr.isnan(c, out=cr.empty(2)), lambda: torch.isnan(t, out=torch.empty(2)))


def test_a_compiled_step_replays_isnan_and_isfinite_on_each_calls_data():
    def body(x):
        finite = cr.isfinite(x)
        return cr.where(finite, x, 0.0).sum() * 2 + cr.isnan(x).sum() + x.signbit().sum() + cr.nansum(x)

    xs = [[1.0, 2.0, 3.0], [NAN, -1.0, 4.0], [INF, NAN, -0.5], [-INF, 5.0, NAN]]
    compiled = cr.compile(body, fullgraph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        got = [compiled(cr.tensor(x)).item() for x in xs]
    assert got == [body(cr.tensor(x)).item() for x in xs]
    assert got[1] == 2 * 3.0 + 1 + 1 + 3.0  # the NaN of call 2 counted: not the trace's all-False mask
    assert compiled.stats == {"traces": 1, "replays": 3, "eager": 0}


@pytest.mark.parametrize("body", [
    lambda x: cr.nanmean(x) + cr.nan_to_num(x, posinf=2.0, neginf=-3.0).sum(),
    lambda x: cr.heaviside(x, cr.tensor(0.5, dtype=x.dtype)).sum() + cr.fmax(x, x.flip(0)).nansum(),
    lambda x: cr.nansum(cr.atan2(x, x.flip(0)) + cr.copysign(x.abs(), x.flip(0)) + cr.logit(x.sigmoid(), 0.3)),
], ids=["nanmean-nan_to_num", "heaviside-fmax", "atan2-copysign-logit"])
def test_the_other_new_ops_replay_in_a_compiled_step(body):
    xs = [[1.0, 2.0, 3.0], [NAN, -1.0, 4.0], [INF, NAN, -0.5], [-INF, 0.0, NAN]]
    compiled = cr.compile(body, fullgraph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        got = [compiled(cr.tensor(x)).item() for x in xs]
    np.testing.assert_array_equal(got, [body(cr.tensor(x)).item() for x in xs])
    assert compiled.stats == {"traces": 1, "replays": 3, "eager": 0}


# ----------------------------------------------------------------------------- nan_to_num, nansum, nanmean
@pytest.mark.parametrize("kw", [{}, {"nan": 2.0, "posinf": 3.0}, {"nan": -1.0, "posinf": 1e9, "neginf": -7.0}])
def test_nan_to_num_values_and_gradient(kw):
    """The gradient is 1 where finite, 0 where replaced (also where posinf keeps inf)."""
    x = np.array([[1.5, NAN, INF], [-INF, -0.25, 0.0]])
    check_op(lambda a: cr.nan_to_num(a, **kw), lambda a: torch.nan_to_num(a, **kw), [x], gradcheck=False)
    check_op(lambda a: a.nan_to_num(**kw), lambda a: a.nan_to_num(**kw), [RNG.standard_normal((3, 2))])
    c, t = pair(x, grad=True)
    same(cr.nan_to_num(c, posinf=INF), torch.nan_to_num(t, posinf=INF))
    cr.nan_to_num(c, posinf=INF).sum().backward()
    torch.nan_to_num(t, posinf=INF).sum().backward()
    same(c, t, grad=True)


@pytest.mark.parametrize("values, dtype", [(SPECIAL, "float32"), ([3, -1], "int64"), ([True, False], "bool")])
def test_nan_to_num_dtypes(values, dtype):
    c, t = pair(values, dtype, grad=False)
    same(*both("nan_to_num", (c, t), 1.5))
    same(*both("nan_to_num", (c, t)))


def test_nan_to_num_refuses_a_replacement_that_is_not_a_number():
    c, t = pair([NAN], grad=False)
    refused(TypeError, "argument 'nan' must be float, not str", lambda: cr.nan_to_num(c, nan="a"),
            lambda: torch.nan_to_num(t, nan="a"))


NAN_ROWS = np.array([[[1.0, NAN, 3.0], [NAN, NAN, NAN]], [[0.5, -2.0, INF], [4.0, NAN, -1.0]]])


@pytest.mark.parametrize("name", ["nansum", "nanmean"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (2, False), (-1, True), ((0, 2), True), ((1,), False)])
def test_nansum_nanmean_values_and_gradients(name, dim, keepdim):
    """0 gradient at NaN; an all-NaN row of nanmean is NaN with NaN gradients, as torch's."""
    args = () if dim is None else (dim, keepdim)
    check_op(lambda a: getattr(cr, name)(a, *args), lambda a: getattr(torch, name)(a, *args), [NAN_ROWS],
             gradcheck=False)
    x = RNG.standard_normal((2, 3, 4))
    x[0, 1, 2] = x[1, 0, 0] = NAN
    check_op(lambda a: getattr(a, name)(*args), lambda a: getattr(a, name)(*args), [x])


def test_nansum_nanmean_dtypes_and_refusals():
    c, t = pair([[1, 2], [3, 4]], "int64", grad=False)
    same(*both("nansum", (c, t)))
    same(cr.nansum(c, 1, dtype=cr.float32), torch.nansum(t, 1, dtype=torch.float32))
    same(*both("nansum", pair([True, True, False], "bool", grad=False)))
    f32 = pair([[1.0, NAN], [2.0, 3.0]], "float32", grad=False)
    same(f32[0].nanmean(dtype=cr.float64), f32[1].nanmean(dtype=torch.float64))
    same(f32[0].nansum(dtype=cr.int64), f32[1].nansum(dtype=torch.int64))
    same(cr.nanmean(f32[0], axis=0, keepdims=True), torch.nanmean(f32[1], 0, keepdim=True))
    refused(RuntimeError, "nanmean\\(\\): expected input to have floating point or complex dtype but got Long",
            lambda: cr.nanmean(c), lambda: torch.nanmean(t))
    refused(IndexError, "Dimension out of range", lambda: cr.nansum(f32[0], 2), lambda: torch.nansum(f32[1], 2))


# ----------------------------------------------------------------------------- trigonometric and hyperbolic
SHAPES = [(), (5,), (3, 4), (1, 4)]
UNIT = lambda s: RNG.uniform(-0.9, 0.9, s)  # noqa: E731 - the domain of asin, acos, atanh
ANY = lambda s: RNG.standard_normal(s) * 2  # noqa: E731
ABOVE_ONE = lambda s: RNG.uniform(1.1, 4.0, s)  # noqa: E731
UNARY = [("tan", lambda s: RNG.uniform(-1.4, 1.4, s)), ("asin", UNIT), ("acos", UNIT), ("atan", ANY),
         ("sinh", ANY), ("cosh", ANY), ("asinh", ANY), ("acosh", ABOVE_ONE), ("atanh", UNIT), ("sinc", ANY),
         ("deg2rad", ANY), ("rad2deg", ANY), ("logit", lambda s: RNG.uniform(0.05, 0.95, s))]


@pytest.mark.parametrize("name, draw", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary_values_and_gradients(name, draw, shape):
    check_op(getattr(cr, name), getattr(torch, name), [draw(shape)])


@pytest.mark.parametrize("name, draw", UNARY, ids=[u[0] for u in UNARY])
def test_unary_float32_integers_and_methods(name, draw):
    c, t = pair(draw((3, 4)), "float32", grad=False)
    same(getattr(c, name)(), getattr(t, name)())
    same(*both(name, pair([[0, 1], [-1, 2]], "int64", grad=False)))  # integers become float32, as torch's
    same(*both(name, pair([True, False], "bool", grad=False)))


@pytest.mark.parametrize("name", ["asin", "acos", "atan", "asinh", "acosh", "atanh"])
def test_arc_aliases_are_the_same_functions(name):
    arc = "arc" + name[1:]
    assert getattr(cr, arc) is getattr(cr, name)
    assert getattr(cr.Tensor, arc) is getattr(cr.Tensor, name)


@pytest.mark.parametrize("name, values", [("asin", [1.0, -1.0, 2.0, 0.0]), ("acos", [1.0, -1.0, 1.5]),
                                          ("acosh", [1.0, 0.5, 2.0]), ("atanh", [1.0, -1.0, 2.0, 0.5]),
                                          ("tan", [0.0, 1.5707963]), ("sinc", [0.0, 1.0, -2.0, 1e-9, NAN]),
                                          ("logit", [0.0, 1.0, -0.5, 1.5, 0.5])])
def test_unary_edges_values_and_gradients(name, values):
    """inf at the ends of a domain, NaN outside it, sinc's 1 and slope 0 at 0, logit's NaN slope outside [0, 1]."""
    c, t = pair(values)
    cv, tv = both(name, (c, t))
    same(cv, tv)
    cv.sum().backward()
    tv.sum().backward()
    same(c, t, grad=True)


@pytest.mark.parametrize("eps", [0.2, 1e-6, 0.0])
def test_logit_with_eps_clamps_and_zeroes_the_gradient_outside(eps):
    c, t = pair([0.1, 0.2, 0.5, 0.8, 0.9, -1.0, 2.0, 0.0, 1.0])
    cv, tv = cr.logit(c, eps), torch.logit(t, eps)
    same(cv, tv)
    cv.sum().backward()
    tv.sum().backward()
    same(c, t, grad=True)
    check_op(lambda a: a.logit(0.3), lambda a: a.logit(0.3), [RNG.uniform(0.35, 0.65, (3, 4))])


def test_unary_refuses_what_is_not_a_tensor():
    refused(TypeError, "NoneType", lambda: cr.tan(None), lambda: torch.tan(None))


# ----------------------------------------------------------------------------- binary
BINARY = [("atan2", ANY, ANY), ("hypot", ANY, ANY), ("copysign", ANY, ANY), ("fmax", ANY, ANY),
          ("fmin", ANY, ANY), ("float_power", lambda s: RNG.uniform(0.5, 2.0, s), ANY)]
PAIRS = [((), ()), ((5,), (5,)), ((3, 4), (1, 4)), ((1, 4), (3, 4)), ((3, 4), ()), ((2, 1, 4), (3, 1))]


@pytest.mark.parametrize("name, da, db", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("sa, sb", PAIRS, ids=str)
def test_binary_values_and_gradients_with_broadcasting(name, da, db, sa, sb):
    check_op(getattr(cr, name), getattr(torch, name), [da(sa), db(sb)])
    check_op(lambda a, b: getattr(a, name)(b), lambda a, b: getattr(a, name)(b), [da(sa), db(sb)])


@pytest.mark.parametrize("name, a, b", [
    ("atan2", [0.0, 0.0, -0.0, 1.0, 0.0, NAN], [0.0, -1.0, -1.0, 0.0, -0.0, 1.0]),
    ("hypot", [0.0, 3.0, INF, NAN], [0.0, -4.0, NAN, 1.0]),
    ("copysign", [1.0, -2.0, 0.0, -0.0, 3.0, NAN], [-1.0, -1.0, -1.0, 1.0, -0.0, -1.0]),
    ("fmax", [1.0, 2.0, NAN, NAN, 3.0, -0.0], [1.0, 1.0, 2.0, NAN, NAN, 0.0]),
    ("fmin", [1.0, 2.0, NAN, NAN, 3.0, -0.0], [1.0, 1.0, 2.0, NAN, NAN, 0.0]),
    ("float_power", [0.0, 0.0, -1.0, 2.0, -8.0], [2.0, 0.0, 2.0, -1.0, 1 / 3]),
])
def test_binary_edges_values_and_gradients(name, a, b):
    """atan2's 0 slope at (0, 0), hypot's NaN there, copysign of zeros, fmax/fmin's NaN and ties."""
    (ca, ta), (cb, tb) = pair(a), pair(b)
    cv, tv = both(name, (ca, ta), (cb, tb))
    same(cv, tv)
    np.testing.assert_array_equal(np.signbit(cv.detach().numpy()), np.signbit(tv.detach().numpy()))
    cv.backward(cr.ones_like(cv))
    tv.backward(torch.ones_like(tv))
    same(ca, ta, grad=True)
    same(cb, tb, grad=True)


@pytest.mark.parametrize("name", ["atan2", "copysign", "fmax", "fmin", "float_power"])
def test_binary_dtypes_of_integers_and_mixes(name):
    ints, floats = pair([[1, -2], [0, 3]], "int64", grad=False), pair([0.5, -1.5], "float32", grad=False)
    same(*both(name, ints, ints))        # float32 (atan2, copysign), int64 (fmax, fmin), float64 (float_power)
    same(*both(name, ints, floats))
    same(*both(name, floats, 2.0 if name in ("copysign", "float_power") else floats))
    same(*both(name, pair([True, False], "bool", grad=False), pair([False, False], "bool", grad=False)))


def test_float_power_is_float64_with_the_gradient_in_the_inputs_dtype():
    c, t = pair([1.0, 2.0, 3.0], "float32")
    cv, tv = c.float_power(2), t.float_power(2)
    same(cv, tv)
    cv.sum().backward()
    tv.sum().backward()
    same(c, t, grad=True)


def test_binary_refusals_in_torchs_words():
    (ci, ti), (cf, tf) = pair([1, 2], "int64", grad=False), pair([1.0, 2.0], "float32", grad=False)
    refused(NotImplementedError, "\"hypot_cpu\" not implemented for 'Long'", lambda: cr.hypot(ci, ci),
            lambda: torch.hypot(ti, ti))
    short, tshort = pair([1.0, 2.0, 3.0], "float32", grad=False)
    for name in ("atan2", "hypot", "copysign", "fmax", "fmin", "float_power"):
        refused(RuntimeError, "(do not broadcast|must match the size)", lambda: getattr(cr, name)(cf, short),
                lambda: getattr(torch, name)(tf, tshort))


# ----------------------------------------------------------------------------- heaviside
@pytest.mark.parametrize("values, dtype", [([-1.5, 0.0, -0.0, 2.0, NAN, INF], "float64"),
                                           ([[-1, 0], [3, 0]], "int64"), ([True, False], "bool")])
def test_heaviside_values_and_no_gradient(values, dtype):
    grad = dtype == "float64"
    c, t = pair(values, dtype, grad=grad)
    w = np.asarray([0.5] if dtype != "bool" else [True], dtype)
    cw, tw = cr.tensor(w), torch.tensor(w)
    cv, tv = both("heaviside", (c, t), (cw, tw))
    same(cv, tv)
    same(c.heaviside(cw), t.heaviside(tw))
    assert not cv.requires_grad
    if grad:
        with pytest.raises(RuntimeError, match="derivative for aten::heaviside is not implemented"):
            tv.sum().backward()


def test_heaviside_refuses_values_of_another_dtype():
    (c, t), (cw, tw) = pair([1.0], "float32", grad=False), pair([1.0], "float64", grad=False)
    refused(RuntimeError, "heaviside is not yet implemented for tensors with different dtypes",
            lambda: cr.heaviside(c, cw), lambda: torch.heaviside(t, tw))
    refused(TypeError, "argument 'values' \\(position 2\\) must be Tensor, not float", lambda: cr.heaviside(c, 0.5),
            lambda: torch.heaviside(t, 0.5))


# ----------------------------------------------------------------------------- aliases of existing ops
@pytest.mark.parametrize("alias, name", [("absolute", "abs"), ("multiply", "mul"), ("subtract", "sub"),
                                         ("divide", "div"), ("negative", "neg"), ("sgn", "sign"), ("concat", "cat")])
def test_aliases_are_the_existing_functions(alias, name):
    assert getattr(cr, alias) is getattr(cr, name)


def test_aliases_behave_as_torchs():
    a, b = pair(RNG.standard_normal((3, 4)), grad=False), pair(RNG.standard_normal(4) + 3, grad=False)
    same(*both("subtract", a, b, alpha=2))
    same(*both("divide", a, b, rounding_mode="floor"))
    same(*both("true_divide", a, b))
    same(*both("true_divide", pair([1, 2], "int64", grad=False), 2))
    same(*both("multiply", a, b))
    same(*both("absolute", a))
    same(*both("negative", pair([1, -2], "int64", grad=False)))
    same(*both("sgn", pair([True, False], "bool", grad=False)))
    same(cr.concat([a[0], b[0][None].expand(3, 4)], 1), torch.concat([a[1], b[1][None].expand(3, 4)], 1))
    for name in ("absolute", "negative", "sgn"):
        same(getattr(a[0], name)(), getattr(a[1], name)())
    same(a[0].true_divide(b[0]), a[1].true_divide(b[1]))
    check_op(lambda x, y: cr.true_divide(x, y), torch.true_divide, [RNG.standard_normal((3, 4)),
                                                                    RNG.standard_normal(4) + 3])
    refused(TypeError, "rounding_mode", lambda: cr.true_divide(a[0], b[0], rounding_mode="floor"),
            lambda: torch.true_divide(a[1], b[1], rounding_mode="floor"))


def test_negating_or_subtracting_a_bool_tensor_is_refused_in_pytorchs_words():
    # PyTorch points a mask's inversion to ~ and logical_not; NumPy's TypeError said much the same in
    # another type, which `except RuntimeError` would miss
    cases = [(lambda m, f: -m, "neg"), (lambda m, f: m.neg(), "neg"), (lambda m, f: m - m, "two bools"),
             (lambda m, f: 1 - m, "rsub"), (lambda m, f: m - 1, "sub int"), (lambda m, f: f - m, "float - bool"),
             (lambda m, f: f.clone().sub_(m), "sub_")]
    for fn, what in cases:
        with pytest.raises(RuntimeError) as theirs:
            fn(torch.tensor([True, False]), torch.tensor([1.0, 2.0]))
        with pytest.raises(RuntimeError) as ours:
            fn(cr.tensor([True, False]), cr.tensor([1.0, 2.0]))
        assert str(ours.value) == str(theirs.value), what
    assert (~cr.tensor([True, False])).tolist() == [False, True]      # what the message points to
    for lib in (torch, cr):   # a bool squared is an int64, as ** 2: True * True would stay True
        m = lib.tensor([True, False])
        assert (m.square() + m.square()).tolist() == [2, 0] and str(m.square().dtype).endswith("int64")
        with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
            m.square_()
    assert (cr.tensor([3, 1]) - cr.tensor([1, 1])).tolist() == [2, 0]  # integers still subtract


def test_rounding_abs_frac_relu_and_plus_of_a_bool_tensor_are_refused_in_pytorchs_words():
    # they returned the mask (or, for frac, zeros): PyTorch has no kernel for a bool there
    cases = {"abs": lambda m: m.abs(), "abs()": lambda m: abs(m), "abs_": lambda m: m.abs_(),
             "floor": lambda m: m.floor(), "floor_": lambda m: m.floor_(), "ceil": lambda m: m.ceil(),
             "round": lambda m: m.round(), "round_": lambda m: m.round_(), "trunc": lambda m: m.trunc(),
             "fix": lambda m: m.fix(), "frac": lambda m: m.frac(), "relu": lambda m: m.relu(),
             "relu_": lambda m: m.relu_(), "F.relu": "relu", "+": lambda m: +m, "positive": lambda m: m.positive(),
             "round decimals": lambda m: m.round(decimals=1)}
    for what, fn in cases.items():
        if fn == "relu":
            theirs_fn, ours_fn = (lambda m: torch.nn.functional.relu(m)), (lambda m: cr.nn.functional.relu(m))
        else:
            theirs_fn = ours_fn = fn
        with pytest.raises((RuntimeError, NotImplementedError)) as theirs:
            theirs_fn(torch.tensor([True, False]))
        with pytest.raises((RuntimeError, NotImplementedError)) as ours:
            ours_fn(cr.tensor([True, False]))
        assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value)), what
    for name in ("abs", "floor", "ceil", "round", "trunc", "fix", "positive"):  # integers are kept, as torch's
        same(*both(name, pair([3, -2], "int64", grad=False)))
    refused(NotImplementedError, "\"frac_cpu\" not implemented for 'Long'", lambda: cr.frac(cr.tensor([3, -2])),
            lambda: torch.frac(torch.tensor([3, -2])))
    f = pair([1.5, -2.0], "float32")
    assert cr.positive(f[0]) is f[0] and (+f[0]) is f[0]


@pytest.mark.parametrize("decimals", [0, 1, 2, 3, -1, -2])
def test_round_with_decimals_is_torchs(decimals):
    rng = np.random.default_rng(20261130)
    x = rng.standard_normal(200) * 10.0 ** rng.integers(-2, 4, 200)
    x[:4] = [0.125, 2.5, -0.35, 1234.5678]
    for dtype in ("float32", "float64"):
        a = pair(x, dtype)
        c, t = both("round", a, decimals=decimals)
        same(c, t)
        same(a[0].round(decimals=decimals), a[1].round(decimals=decimals))
    refused(NotImplementedError, "\"round_cpu\" not implemented for 'Long'",  # without decimals, kept
            lambda: cr.round(cr.tensor([17, -25]), decimals=-1), lambda: torch.round(torch.tensor([17, -25]), decimals=-1))
    a = pair(x[:6], "float64")
    for lib, v in zip((cr, torch), a):
        lib.round(v * 3.0, decimals=decimals).sum().backward()
    same(*a, grad=True)   # zeros, as torch's


def test_dtypes_pytorch_refuses_are_refused_in_its_words():
    # each gave a number where PyTorch refuses: randn_like of an integer tensor drew truncated normals
    B, L, I = ([True, False, True], "bool"), ([3, -2, 0], "int64"), ([3, -2, 0], "int32")
    cases = [("argmax", B, {}, RuntimeError), ("argmin", B, {"dim": 0}, RuntimeError),
             ("median", B, {}, NotImplementedError), ("nanmedian", B, {"dim": 0}, NotImplementedError),
             ("randn_like", L, {}, NotImplementedError), ("randn_like", B, {}, NotImplementedError),
             ("rand_like", I, {}, NotImplementedError), ("bernoulli", B, {}, NotImplementedError),
             ("bernoulli", L, {}, NotImplementedError), ("cov", B, {}, RuntimeError),
             ("corrcoef", B, {}, RuntimeError), ("norm", L, {}, RuntimeError), ("norm", B, {}, RuntimeError)]
    for name, (values, dtype), kw, exc in cases:
        with pytest.raises(exc) as theirs:
            getattr(torch, name)(torch.tensor(np.array(values, dtype)), **kw)
        with pytest.raises(exc) as ours:
            getattr(cr, name)(cr.tensor(np.array(values, dtype)), **kw)
        assert str(ours.value) == str(theirs.value), (name, dtype)
    with pytest.raises(RuntimeError, match="Input shapes should be of type ints"):
        cr.broadcast_shapes(cr.tensor([1, 2]))
    # what PyTorch allows stays: a float dtype asked for, or a median of integers
    same(cr.rand_like(cr.tensor([1, 2]), dtype=cr.float64) * 0, torch.rand_like(torch.tensor([1, 2]), dtype=torch.float64) * 0)
    same(*both("median", pair([3, 1, 2], "int64", grad=False)))
    same(*both("argmax", pair([3, 1, 7], "int64", grad=False)))


def test_all_and_any_of_uint8_are_uint8_as_pytorchs():
    for name in ("all", "any"):
        for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
            same(*both(name, pair([[3, 0], [1, 2]], "uint8", grad=False), **kw))
            same(*both(name, pair([[3, 0], [1, 2]], "int64", grad=False), **kw))   # bool, as before
        a = pair([[3, 0], [1, 2]], "uint8", grad=False)
        same(getattr(a[0], name)(), getattr(a[1], name)())


def test_integer_powers_with_negative_tensor_exponents_and_bool_powers_are_torchs():
    # NumPy refuses an integer to a negative integer power (ValueError); PyTorch truncates 1 / a^|b|:
    # 1 for a = 1, +-1 for a = -1, else 0 (also for a = 0)
    a, b = [0, 2, -1, -1, 1, 3, -3], [-1, -1, -3, -2, -5, 2, 3]
    for da, db in (("int64", "int64"), ("int32", "int64"), ("int32", "int32"), ("uint8", "int64")):
        x, y = pair(np.abs(a) if da == "uint8" else a, da, grad=False), pair(b, db, grad=False)
        same(*both("pow", x, y))
        same(x[0] ** y[0], x[1] ** y[1])
    same(*both("pow", 2, pair([-1, 0, 3], "int64", grad=False)))
    m = pair([True, False], "bool", grad=False)
    for e in (True, False, 2, pair([2, -1], "int64", grad=False)):   # bool ** True stays bool, as torch's
        same(*both("pow", m, e))
    for e in (-1, -2):   # a negative Python exponent of an integer tensor: PyTorch's RuntimeError
        refused(RuntimeError, "Integers to negative integer powers are not allowed", lambda: cr.tensor([2, 3]) ** e,
                lambda: torch.tensor([2, 3]) ** e)
        refused(RuntimeError, "Integers to negative integer powers are not allowed", lambda: cr.tensor([2, 3]).pow(e),
                lambda: torch.tensor([2, 3]).pow(e))
    same(cr.tensor([2.0, 4.0]) ** -1, torch.tensor([2.0, 4.0]) ** -1)


def test_fmod_and_remainder_take_a_bool_operand_as_pytorch():
    # they subtracted, which refuses bools: PyTorch computes in the promoted dtype, and refuses two bools
    m = pair([True, False, True], "bool", grad=False)
    for name in ("fmod", "remainder"):
        for other in (pair([2, -3, 1], "int64", grad=False), pair([0.75, 2.0, -0.5], "float32", grad=False), 2, 0.75):
            same(*both(name, m, other))
        refused(NotImplementedError, f'"{name}_cpu" not implemented for \'Bool\'', lambda: getattr(cr, name)(m[0], m[0]),
                lambda: getattr(torch, name)(m[1], m[1]))
        refused(NotImplementedError, f'"{name}_cpu" not implemented for \'Bool\'', lambda: getattr(cr, name)(m[0], True),
                lambda: getattr(torch, name)(m[1], True))
    same(m[0] % 2, m[1] % 2)


def test_clamp_promotes_as_pytorch_and_refuses_a_bool_bound_of_bools():
    # an integer tensor clamped by 0.5 stayed integer (0 where PyTorch gives 0.5); a bool by 0, bool
    ints = pair([1, 5, -3], "int64", grad=False)
    for name in ("clamp", "clip"):
        for args in ((0.5,), (0, 2.5), (None, 2.5), (-1, 2), (2,)):
            same(*both(name, ints, *args))
            same(*both(name, pair([1, 5, -3], "int32", grad=False), *args))
        for args in ((0,), (0.5,), (None, 0)):
            same(*both(name, pair([True, False], "bool", grad=False), *args))
        for args, kernel in (((True,), "clamp_min_scalar_cpu"), ((None, True), "clamp_max_scalar_cpu"),
                             ((True, True), "clamp_scalar_cpu")):
            refused(NotImplementedError, f"\"{kernel}\" not implemented for 'Bool'",
                    lambda: getattr(cr, name)(cr.tensor([True, False]), *args),
                    lambda: getattr(torch, name)(torch.tensor([True, False]), *args))
    same(cr.tensor([1, 5]).clamp(0.5), torch.tensor([1, 5]).clamp(0.5))


@pytest.mark.parametrize("bounds", ["lo", "hi", "both", "crossed", "scalar-hi"])
def test_clamp_by_tensors_is_torchs_with_its_gradients(bounds):
    # clamp(x, min=tensor) raised NumPy's "given a Tensor that requires grad"; PyTorch's clamp.Tensor:
    # NaN from x or a bound propagates; d/dx where lo <= x <= hi, d/dlo where x < lo (and lo < hi),
    # d/dhi where x > hi (or hi < lo)
    rng = np.random.default_rng(20261130)
    x = rng.standard_normal((4, 5)).round(1)
    lo, hi = rng.standard_normal(5).round(1) - 0.5, rng.standard_normal((4, 1)).round(1) + 0.5
    x[0, 0], x[1, 1], lo[2], x[2, 3] = np.nan, lo[1], np.nan, hi[2, 0]   # NaNs, and ties with each bound
    if bounds == "crossed":   # lo above hi in some rows: the result is hi there
        lo = np.where(np.isnan(lo), np.nan, float(np.median(hi)))
    pick = {"lo": (lo, None), "hi": (None, hi), "both": (lo, hi), "crossed": (lo, hi), "scalar-hi": (lo, 0.3)}[bounds]
    ours = [pair(x)]
    args_c, args_t = [], []
    for b in pick:
        if isinstance(b, np.ndarray):
            p = pair(b)
            args_c.append(p[0]); args_t.append(p[1]); ours.append(p)
        else:
            args_c.append(b); args_t.append(b)
    if bounds == "scalar-hi":
        with pytest.raises(TypeError):    # PyTorch takes both bounds as tensors or both as numbers
            torch.clamp(ours[0][1], *args_t)
        args_t[1] = torch.tensor(0.3, dtype=torch.float64)
    c, t = cr.clamp(ours[0][0], *args_c), torch.clamp(ours[0][1], *args_t)
    same(c, t)
    if t.shape == ours[0][1].shape:   # PyTorch's backward fails when a bound widens the shape
        c.sum().backward(), t.sum().backward()
        for p in ours:
            same(*p, grad=True)
    assert cr.tensor(x).clamp(min=cr.tensor(lo)).shape == (4, 5)
    if bounds in ("both", "crossed"):   # finite differences and torch, away from ties and NaNs
        r = np.random.default_rng(7)
        xs, los, his = r.standard_normal((4, 5)), r.standard_normal((4, 5)) - 0.5, r.standard_normal((4, 5)) + 0.5
        if bounds == "crossed":
            los, his = his + 0.25, los
        check_op(lambda a, b, h: cr.clamp(a, b, h), lambda a, b, h: torch.clamp(a, b, h), [xs, los, his])
        check_op(lambda a, b: cr.clamp(a, min=b), lambda a, b: torch.clamp(a, min=b), [xs, los])
        check_op(lambda a, h: a.clamp(max=h), lambda a, h: a.clamp(max=h), [xs, his])


NESTED_INDICES = {
    "lists": lambda L: [[0, 1], [2, 2]], "int and slice": lambda L: [0, slice(None)], "int and None": lambda L: [1, None],
    "ellipsis": lambda L: [Ellipsis, 1], "tensors": lambda L: [L.tensor([0, 2]), L.tensor([3, 1])],
    "range and list": lambda L: [range(2), [1, 3]], "ndarray inside": lambda L: [np.array([0, 1]), 2],
    "empty": lambda L: [], "32 lists (an array)": lambda L: [[0]] * 32, "plain ints": lambda L: [2, 0, 2],
    "bools": lambda L: [True, False, True],
}


@pytest.mark.parametrize("name", list(NESTED_INDICES))
def test_a_list_index_holding_sequences_is_a_tuple_as_in_pytorch(name):
    # PyTorch keeps old NumPy's rule: a list of fewer than 32 items holding a sequence, tensor, slice,
    # Ellipsis or None indexes as a tuple (x[[rows, cols]] is x[rows, cols]); NumPy's array reading
    # gave another shape silently. An empty list is an empty integer index.
    a = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    got = {}
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        cr.tensor(a)[NESTED_INDICES[name](cr)]
        z = cr.tensor(a)
        z[NESTED_INDICES[name](cr)] = 0.0
    as_tuple = name not in ("empty", "32 lists (an array)", "plain ints", "bools")
    assert [str(w.message).startswith("Using a non-tuple sequence") for w in said] == [True] * 2 * as_tuple, said
    assert all(w.filename == __file__ for w in said)      # the warning points at the indexing line
    for lib in (cr, torch):
        x = lib.tensor(a, requires_grad=True)
        y = x[NESTED_INDICES[name](lib)]
        (y * lib.tensor(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)))).sum().backward()
        z = lib.tensor(a.copy())
        z[NESTED_INDICES[name](lib)] = -1.0
        got[lib] = (tuple(y.shape), y.detach().numpy(), x.grad.numpy(), z.numpy())
    assert got[cr][0] == got[torch][0]
    for ours, theirs in zip(got[cr][1:], got[torch][1:]):
        np.testing.assert_array_equal(ours, theirs)


UNIT = "acos arccos asin arcsin atanh arctanh erf erfc logit".split()                  # inputs in (0, 1)
POSITIVE = "acosh arccosh log10 log1p log2 rsqrt reciprocal".split()                 # inputs above 1
PLAIN = "absolute arcsinh asinh arctan atan cosh deg2rad exp2 expm1 fix frac negative rad2deg sgn sinc sinh tan".split()
WITH_OTHER = ("arctan2 atan2 copysign divide eq float_power floor_divide fmod ge greater greater_equal gt heaviside hypot "
              "le less less_equal lt multiply ne not_equal remainder subtract true_divide xlogy").split()
BITS = "bitwise_and bitwise_or bitwise_xor logical_and logical_or logical_xor".split()


@pytest.mark.parametrize("name", UNIT + POSITIVE + PLAIN + WITH_OTHER + BITS + ["bitwise_not", "logical_not", "cumsum",
                                                                                  "cumprod", "addmm", "addmv", "addr",
                                                                                  "baddbmm", "addbmm"])
def test_each_in_place_form_is_torchs(name):
    # x.f_(...) existed for a third of PyTorch's methods; the others raised AttributeError
    rng = np.random.default_rng(20261130)
    v = rng.uniform(0.1, 0.9, (3, 4)) if name in UNIT else rng.uniform(1.5, 4.0, (3, 4)) if name in POSITIVE else \
        rng.standard_normal((3, 4)) * 2
    w = rng.uniform(0.5, 2.0, (3, 4))
    args = {"cumsum": (1,), "cumprod": (0,), "addmm": ("m34", "m44"), "addmv": None, "addr": None, "baddbmm": None,
            "addbmm": None}.get(name, ("w",) if name in WITH_OTHER else ())
    dtype = "int64" if name in BITS + ["bitwise_not"] else "bool" if name == "logical_not" else "float64"
    if dtype != "float64":
        v, w = rng.integers(0, 7, (3, 4)), rng.integers(0, 7, (3, 4))
        args = ("w",) if name in BITS else ()
    shapes = {"addmv": ((3,), ("m34", "v4")), "addr": ((3, 4), ("v3", "v4")), "baddbmm": ((2, 3, 4), ("b23", "b34")),
              "addbmm": ((3, 4), ("b23", "b34"))}
    if name in shapes:
        shape, args = shapes[name]
        v = rng.standard_normal(shape)
    extra = {"m34": rng.standard_normal((3, 4)), "m44": rng.standard_normal((4, 4)), "v4": rng.standard_normal(4),
             "v3": rng.standard_normal(3), "b23": rng.standard_normal((2, 3, 2)), "b34": rng.standard_normal((2, 2, 4)), "w": w}
    results = []
    for lib in (cr, torch):
        x = lib.tensor(np.asarray(v, dtype))
        a = [lib.tensor(np.asarray(extra[k], dtype)) if isinstance(k, str) else k for k in args]
        before = x._version
        out = getattr(x, name + "_")(*a)
        assert out is x and x._version == before + 1, name
        results.append(x)
    same(*results)
    if dtype == "float64":     # a leaf that requires grad refuses, in PyTorch's words
        refused(RuntimeError, "a leaf Variable that requires grad is being used in an in-place operation",
                lambda: getattr(cr.tensor(v, requires_grad=True), name + "_")(
                    *[cr.tensor(extra[k]) if isinstance(k, str) else k for k in args]),
                lambda: getattr(torch.tensor(v, requires_grad=True), name + "_")(
                    *[torch.tensor(extra[k]) if isinstance(k, str) else k for k in args]))


def test_an_in_place_form_refuses_a_result_its_tensor_cannot_hold():
    for call in (lambda L: L.tensor([4, 9]).rsqrt_(), lambda L: L.tensor([4, 9]).divide_(L.tensor([2, 2])),
                 lambda L: L.tensor([1, 2]).exp2_()):
        with pytest.raises(RuntimeError) as theirs:
            call(torch)
        with pytest.raises(RuntimeError) as ours:
            call(cr)
        assert str(ours.value).split(": ", 1)[-1] == str(theirs.value), str(theirs.value)
    x = cr.tensor([1.0, -2.0], requires_grad=True) * 1   # a non-leaf: recorded, the gradient flows through
    x.tan_().sum().backward()


@pytest.mark.parametrize("shape, dim, size, step", [((10,), 0, 3, 2), ((10,), 0, 3, 1), ((2, 3, 7), -1, 2, 3),
                                                    ((5, 4), 0, 5, 1), ((6, 2), 0, 2, 2), ((4,), 0, 0, 1)], ids=str)
def test_tensor_unfold_slides_windows_as_pytorch(shape, dim, size, step):
    # Tensor.unfold (sliding windows: the axis becomes the window index, a new last axis the place in
    # the window) was missing; overlapping windows add their gradients
    x = np.random.default_rng(20261130).standard_normal(shape)
    check_op(lambda t: t.unfold(dim, size, step), lambda t: t.unfold(dim, size, step), [x])


def test_tensor_unfold_refuses_what_pytorch_refuses():
    x = np.arange(10.0)
    for args, exc, words in (((0, 11, 1), RuntimeError, "maximum size for tensor at dimension 0 is 10 but size is 11"),
                             ((0, 3, 0), RuntimeError, "step is 0 but must be > 0"),
                             ((1, 2, 1), IndexError, "Dimension out of range")):
        refused(exc, words, lambda: cr.tensor(x).unfold(*args), lambda: torch.tensor(x).unfold(*args))
    same(cr.tensor(3.0).unfold(0, 1, 1), torch.tensor(3.0).unfold(0, 1, 1))


def test_random_fills_draw_their_laws_and_refuse_as_pytorch():
    # exponential_, geometric_, cauchy_, log_normal_ and random_ were missing (torch's gumbel_softmax
    # draws its noise as -empty_like(x).exponential_().log())
    cr.manual_seed(20261130)
    n = 200_000
    e = cr.empty(n, dtype=cr.float64).exponential_(2.0).numpy()
    g = cr.empty(n).geometric_(0.25).numpy()
    c = cr.empty(n, dtype=cr.float64).cauchy_(1.0, 2.0).numpy()
    ln = cr.empty(n, dtype=cr.float64).log_normal_(0.5, 0.25).numpy()
    assert abs(e.mean() - 0.5) < 0.01 and e.min() >= 0
    assert abs(g.mean() - 4.0) < 0.05 and g.min() == 1 and np.all(g == np.round(g))
    assert abs(np.median(c) - 1.0) < 0.03 and abs(np.percentile(c, 75) - 3.0) < 0.06   # median + sigma
    assert abs(np.log(ln).mean() - 0.5) < 0.01 and abs(np.log(ln).std() - 0.25) < 0.01
    r = cr.zeros(n, dtype=cr.int64).random_(2, 5).numpy()
    assert set(np.unique(r)) == {2, 3, 4}
    assert set(np.unique(cr.zeros(1000).random_(3).numpy())) == {0.0, 1.0, 2.0}
    f = cr.zeros(n).random_().numpy()
    assert f.max() <= 2 ** 24 and f.max() > 2 ** 23 and np.all(f == np.round(f))
    assert cr.zeros(5, dtype=cr.bool).random_().dtype == cr.bool
    cr.manual_seed(3)
    a = cr.empty(4).exponential_()
    cr.manual_seed(3)
    assert np.array_equal(a.numpy(), cr.empty(4).exponential_().numpy())
    for call, exc in ((lambda L: L.zeros(3).exponential_(0.0), RuntimeError), (lambda L: L.zeros(3).geometric_(1.5), RuntimeError),
                      (lambda L: L.zeros(3).cauchy_(0.0, -1.0), RuntimeError), (lambda L: L.zeros(3).log_normal_(1.0, 0.0), RuntimeError),
                      (lambda L: L.zeros(3).random_(5, 2), RuntimeError),
                      (lambda L: L.zeros(3, dtype=L.int64).exponential_(), RuntimeError),
                      (lambda L: L.zeros(3, dtype=L.int64).log_normal_(), NotImplementedError)):
        with pytest.raises(exc) as theirs:
            call(torch)
        with pytest.raises(exc) as ours:
            call(cr)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        cr.zeros(3, requires_grad=True).exponential_()


def test_masked_scatter_index_put_and_fill_diagonal_are_torchs():
    rng = np.random.default_rng(20261130)
    m = rng.random((3, 4)) > 0.5
    check_op(lambda x, s: x.masked_scatter(cr.tensor(m), s), lambda x, s: x.masked_scatter(torch.tensor(m), s),
             [rng.standard_normal((3, 4)), rng.standard_normal(15)])
    check_op(lambda x, s: x.masked_scatter(cr.tensor(m[0]), s), lambda x, s: x.masked_scatter(torch.tensor(m[0]), s),
             [rng.standard_normal((3, 4)), rng.standard_normal((2, 7))])            # a broadcast mask
    rows, cols = [0, 0, 2, 1], [1, 1, 3, 0]
    for accumulate in (False, True):
        idx = lambda L: (L.tensor(rows[1:] if not accumulate else rows), L.tensor(cols[1:] if not accumulate else cols))
        n = 3 if not accumulate else 4
        check_op(lambda x, v: x.index_put(idx(cr), v, accumulate=accumulate),
                 lambda x, v: x.index_put(idx(torch), v, accumulate=accumulate), [rng.standard_normal((3, 4)), rng.standard_normal(n)])
        a, b = cr.zeros(3, 4), torch.zeros(3, 4)
        assert a.index_put_(idx(cr), cr.ones(n), accumulate=accumulate) is a
        same(a, b.index_put_(idx(torch), torch.ones(n), accumulate=accumulate))
    for shape, wrap in (((3, 3), False), ((5, 3), True), ((5, 3), False), ((3, 5), False), ((2, 2, 2), False)):
        same(cr.zeros(*shape).fill_diagonal_(7.0, wrap=wrap), torch.zeros(*shape).fill_diagonal_(7.0, wrap=wrap))
    check_op(lambda x: (x * 1).fill_diagonal_(0.5), lambda x: (x * 1).fill_diagonal_(0.5), [rng.standard_normal((4, 3))])
    for call, words in ((lambda L: L.zeros(3).fill_diagonal_(1), "dimensions must larger than 1"),
                        (lambda L: L.zeros(2, 3, 2).fill_diagonal_(1), "all dimensions of input must be of equal length"),
                        (lambda L: L.zeros(2, 3).masked_scatter(L.tensor([True, True, True]), L.zeros(2)),
                         "Number of elements of source < number of ones in mask"),
                        (lambda L: L.zeros(2).masked_scatter(L.tensor([1, 0]), L.zeros(2)), "only supports boolean masks"),
                        (lambda L: L.zeros(2).masked_scatter(L.tensor([True, False]), L.zeros(2, dtype=L.float64)),
                         "expected self and source to have same dtypes")):
        refused(RuntimeError, words, lambda: call(cr), lambda: call(torch))


def test_the_arrays_facts_have_pytorchs_names():
    for lib in (cr, torch):
        x = lib.zeros(3, 4)
        facts = (x.stride(), x.t().stride(), x.stride(1), x[:, 1:].storage_offset(), x.itemsize, x.nbytes, x.get_device(),
                 x.is_signed(), lib.zeros(2, dtype=lib.uint8).is_signed(), x.is_complex(), x.is_same_size(lib.ones(3, 4)),
                 x.is_cpu, x.is_sparse, x.is_quantized, x.is_inference(), lib.tensor([2.0]).is_nonzero())
        if lib is cr:
            ours = facts
    assert ours == facts
    a = cr.zeros(4)
    assert a.data_ptr() == a.numpy().__array_interface__["data"][0] and a[1:].data_ptr() == a.data_ptr() + 4


@pytest.mark.parametrize("case", ["unique_consecutive", "sum_to_size", "split_with_sizes", "gcd_lcm", "ldexp_frexp",
                                  "logaddexp2", "renorm"])
def test_more_of_pytorchs_functions(case):
    rng = np.random.default_rng(20261130)
    if case == "unique_consecutive":
        for v, kw in (([1, 1, 2, 2, 3, 1, 1], {}), ([[1, 1], [1, 1], [2, 3], [2, 3], [1, 1]], {"dim": 0}),
                      ([[1, 2, 2], [1, 3, 3]], {"dim": 1}), ([[1, 1], [2, 2]], {}), ([], {})):
            for ret in ((False, False), (True, False), (False, True), (True, True)):
                named = dict(kw, return_inverse=ret[0], return_counts=ret[1])
                c, t = cr.unique_consecutive(cr.tensor(v), **named), torch.unique_consecutive(torch.tensor(v), **named)
                for a, b in zip(c if isinstance(c, tuple) else (c,), t if isinstance(t, tuple) else (t,)):
                    same(a, b)
    elif case == "sum_to_size":
        for size in ((4,), (1, 4), (3, 1), (2, 1, 1), (2, 3, 4)):
            check_op(lambda x: x.sum_to_size(*size), lambda x: x.sum_to_size(*size), [rng.standard_normal((2, 3, 4))])
        refused(RuntimeError, "is not expandable to size", lambda: cr.ones(3).sum_to_size(2), lambda: torch.ones(3).sum_to_size(2))
    elif case == "split_with_sizes":
        for c, t in zip(cr.arange(12).reshape(3, 4).split_with_sizes([1, 3], 1), torch.arange(12).reshape(3, 4).split_with_sizes([1, 3], 1)):
            same(c, t)
    elif case == "gcd_lcm":
        a, b = pair([12, -8, 0, 0, 7], "int64", grad=False), pair([18, 6, 0, -5, 3], "int64", grad=False)
        same(*both("gcd", a, b)), same(*both("lcm", a, b))
        x = cr.tensor([12, 9])
        assert x.gcd_(cr.tensor([8, 6])) is x and x.tolist() == [4, 3]
        refused(NotImplementedError, "gcd_cpu. not implemented for 'Float'", lambda: cr.gcd(cr.tensor([1.0]), cr.tensor([2.0])),
                lambda: torch.gcd(torch.tensor([1.0]), torch.tensor([2.0])))
    elif case == "ldexp_frexp":
        same(*both("ldexp", pair([1, 2], "int64", grad=False), pair([3, -1], "int64", grad=False)))
        # torch's gradient takes 2^other in the exponent's dtype: 0 for an int64 -1; with float exponents it is right
        check_op(lambda x: cr.ldexp(x, cr.tensor([3.0, -1.0, 0.0])), lambda x: torch.ldexp(x, torch.tensor([3.0, -1.0, 0.0])),
                 [rng.standard_normal(3)])
        x = cr.tensor([0.5, -1.2], dtype=cr.float64, requires_grad=True)
        cr.ldexp(x, cr.tensor([3, -1])).sum().backward()
        assert x.grad.tolist() == [8.0, 0.5]
        v = pair([8.0, -0.75, 0.0, 0.3, float("inf"), float("nan"), 1e-310], "float64", grad=False)
        (cm, ce), (tm, te) = both("frexp", v)
        same(cm, tm), same(ce, te)
        check_op(lambda x: cr.frexp(x).mantissa, lambda x: torch.frexp(x).mantissa, [rng.standard_normal(5) * 10])
        refused(RuntimeError, "only supports floating-point dtypes", lambda: cr.frexp(cr.tensor([1])), lambda: torch.frexp(torch.tensor([1])))
    elif case == "logaddexp2":
        check_op(cr.logaddexp2, torch.logaddexp2, [rng.standard_normal((3, 4)) * 30, rng.standard_normal(4) * 30])
    else:
        for p, dim, maxnorm in ((2, 0, 1.0), (1, 1, 0.7), (3.0, -1, 2.0)):
            check_op(lambda x: x.renorm(p, dim, maxnorm), lambda x: x.renorm(p, dim, maxnorm), [rng.standard_normal((3, 4, 2))])
        for args, words in (((0, 0, 1.0), "non-positive-norm not supported"),):
            refused(RuntimeError, words, lambda: cr.ones(2, 3).renorm(*args), lambda: torch.ones(2, 3).renorm(*args))
        refused(RuntimeError, "renorm: input needs at least 2 dimensions", lambda: cr.ones(3).renorm(2, 0, 1.0),
                lambda: torch.ones(3).renorm(2, 0, 1.0))


@pytest.mark.parametrize("name, args, src_shape", [
    ("select_scatter", (0, 1), (4, 2)), ("select_scatter", (2, -1), (3, 4)), ("slice_scatter", (1, 0, 4, 2), (3, 2, 2)),
    ("slice_scatter", (0, 1, None, 1), (2, 4, 2)), ("diagonal_scatter", (0, 0, 1), (2, 3)), ("diagonal_scatter", (1, 0, 1), (2, 3)),
    ("diagonal_scatter", (-1, 1, 2), (3, 2)), ("diagonal_scatter", (0, 2, 0), (4, 2))], ids=str)
def test_scatter_into_a_part_is_torchs(name, args, src_shape):
    # select_scatter, slice_scatter and diagonal_scatter (the functional forms of writing a part) were missing
    rng = np.random.default_rng(20261130)
    check_op(lambda x, s: getattr(cr, name)(x, s, *args), lambda x, s: getattr(torch, name)(x, s, *args),
             [rng.standard_normal((3, 4, 2)), rng.standard_normal(src_shape)])


def test_scatter_into_a_part_refuses_a_wrong_size_in_pytorchs_words():
    for call in (lambda L: L.select_scatter(L.zeros(3, 4), L.ones(3), 0, 1),
                 lambda L: L.slice_scatter(L.zeros(3, 4), L.ones(3, 3), 1, 0, 4, 2),
                 lambda L: L.diagonal_scatter(L.zeros(3, 4), L.ones(4), 1)):
        with pytest.raises(RuntimeError) as theirs:
            call(torch)
        with pytest.raises(RuntimeError) as ours:
            call(cr)
        assert str(ours.value) == str(theirs.value)
    same(cr.arange(10).narrow_copy(0, 2, 3), torch.arange(10).narrow_copy(0, 2, 3))


def test_rand_in_float32_stays_below_one(monkeypatch):
    # a float64 draw above 1 - 2^-25 rounded to 1.0 in float32 (about 3 in 10^8 elements), outside [0, 1)
    import chainrule.random as crandom

    class Top:
        def random(self, shape):
            return np.full(shape, 1 - 1e-12)
    monkeypatch.setattr(crandom, "_rng", Top())
    for t in (cr.rand(4), cr.rand_like(cr.zeros(3)), cr.rand(2, dtype=cr.float16)):
        assert (t.numpy() < 1).all() and t.numpy().max() == np.nextafter(t.numpy().dtype.type(1), t.numpy().dtype.type(0))
    assert (cr.rand(3, dtype=cr.float64).numpy() == 1 - 1e-12).all()


def test_all_and_any_replay_in_a_compiled_step():
    # they were NumPy outside the ops: fullgraph refused the step (a mask made from the data)
    lin = cr.nn.Linear(4, 3)

    def f(x):
        keep = (x > 0).all(dim=1, keepdim=True)
        return cr.where(keep, lin(x), 0.0).sum() + x.isnan().any().float()

    g = cr.compile(f, fullgraph=True)
    for i in range(4):
        x = cr.tensor(np.random.default_rng(i).standard_normal((5, 4)), dtype=cr.float32)
        x[i] = x[i].abs()
        assert float(g(x)) == float(f(x))
