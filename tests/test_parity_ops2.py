"""PyTorch parity II of the ops: the numerics left from the first comparison (issue 20) and the math,
shape, sampling and autograd names of issue 17, each as the same snippet in chainrule and in torch
(values, float64 gradients, dtypes, errors), with a float64 gradcheck for every differentiable op."""
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.nn import functional as F
from oracle import check_op

INF, NAN = float("inf"), float("nan")


def pair(values, dtype="float64", grad=True):
    """The same values as a chainrule and a torch tensor."""
    a = np.asarray(values, dtype=dtype)
    return (cr.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad))


def same(c, t, grad=False):
    """chainrule tensor == torch tensor: shape, dtype, values (NaN in the same places)."""
    c, t = (c.grad, t.grad) if grad else (c, t)
    t = t.detach()
    assert c.shape == tuple(t.shape)
    assert str(c.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(c.detach().numpy(), t.numpy(), rtol=1e-7 if t.dtype == torch.float64 else 1e-6,
                               atol=1e-12, equal_nan=True)


# ----------------------------------------------------------------------------- numerics (issue 20)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("rows", [[[INF, 0.0]], [[INF, 0.0], [1.0, 2.0]], [[-INF, -INF], [0.0, -INF]],
                                  [[NAN, 1.0]]], ids=["inf", "inf+finite", "-inf", "nan"])
def test_softmax_of_infinities_is_torchs(fn, rows):
    c, t = pair(rows, grad=False)
    same(getattr(cr, fn)(c, 1), getattr(torch, fn)(t, 1))


CASES = [([1.0, 2.0, 4.0], None, 3), ([1.0, 2.0, 3.0], None, 5), ([[1.0, 2.0], [3.0, 5.0]], 1, 3),
         ([[1.0, 2.0], [3.0, 5.0]], 1, 2), ([[1.0, 2.0], [3.0, 5.0]], (0, 1), 6), ([2.0, 2.0, 2.0], None, 1),
         ([[3.0, 3.0], [1.0, 2.0]], 1, 1), ([[3.0, 3.0], [1.0, 2.0]], 0, 0)]


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("values, dim, correction", CASES)
def test_var_std_gradients_at_the_edges_are_torchs(fn, values, dim, correction):
    """A correction of N or more (inf, and an inf gradient), a constant slice (std's gradient 0)."""
    c, t = pair(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns on degrees of freedom <= 0
        tv = getattr(t, fn)(dim, correction=correction)
        tv.sum().backward()
    cv = getattr(c, fn)(dim, correction=correction)
    cv.sum().backward()
    same(cv, tv)
    same(c, t, grad=True)


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, True), ((0, 2), False)])
def test_var_std_rules_pass_gradcheck(fn, dim, keepdim):
    x = np.random.default_rng(3).standard_normal((3, 4, 2))
    check_op(lambda a: getattr(a, fn)(dim, keepdim=keepdim, correction=0),
             lambda a: getattr(a, fn)(dim, keepdim=keepdim, correction=0), [x])
    check_op(lambda a: getattr(cr, fn)(a, dim, keepdim=keepdim), lambda a: getattr(torch, fn)(a, dim, keepdim=keepdim), [x])


def test_var_std_keep_float32_and_refuse_integers():
    c, t = pair([1.0, 2.0, 4.0], "float32", grad=False)
    same(c.var(), t.var())
    same(cr.std(c, 0, keepdim=True), torch.std(t, 0, keepdim=True))
    with pytest.raises(RuntimeError, match="floating"):
        cr.tensor([1, 2]).var()


def test_cross_entropy_with_every_target_ignored_is_nan_with_a_zero_gradient():
    x = np.random.default_rng(0).standard_normal((3, 4))
    c, t = pair(x)
    cl = F.cross_entropy(c, cr.tensor([-100, -100, -100]))
    tl = torch.nn.functional.cross_entropy(t, torch.tensor([-100, -100, -100]))
    cl.backward()
    tl.backward()
    same(cl, tl)
    same(c, t, grad=True)
    assert (c.grad.numpy() == 0).all()


@pytest.mark.parametrize("fn, dim", [("amax", 0), ("amax", 1), ("amax", ()), ("amin", 0), ("max", None),
                                     ("min", None)])
def test_a_nan_in_a_slice_gives_torchs_gradients(fn, dim):
    """amax/amin: NaN gradients over a slice holding NaN (PyTorch's); max()/min(): to the NaN entry."""
    c, t = pair([[1.0, NAN, 0.5], [2.0, 3.0, 0.5]])
    cv = getattr(c, fn)() if dim is None else getattr(c, fn)(dim)
    tv = getattr(t, fn)() if dim is None else getattr(t, fn)(dim)
    cv.sum().backward()
    tv.sum().backward()
    same(cv, tv)
    same(c, t, grad=True)


# ----------------------------------------------------------------------------- math and shape names
def _rng(seed=0):
    return np.random.default_rng(seed)


POS = np.abs(_rng(1).standard_normal((3, 4))) + 0.5
ANY = _rng(2).standard_normal((3, 4)) * 2
WITH_ZEROS = np.array([[1.5, 0.0, 2.0, -1.0], [0.0, 0.0, 3.0, 2.0], [1.0, 2.0, -0.5, 0.7]])

DIFFERENTIABLE = [  # (name, chainrule fn, torch fn, inputs)
    ("log10", cr.log10, torch.log10, [POS]), ("log2", lambda x: x.log2(), lambda x: x.log2(), [POS]),
    ("exp2", cr.exp2, torch.exp2, [ANY]), ("rsqrt", lambda x: x.rsqrt(), lambda x: x.rsqrt(), [POS]),
    ("reciprocal", cr.reciprocal, torch.reciprocal, [POS]), ("frac", cr.frac, torch.frac, [ANY]),
    ("lerp", lambda a, b, w: cr.lerp(a, b, w), torch.lerp, [ANY, POS, POS[0]]),
    ("lerp-scalar", lambda a, b: a.lerp(b, 0.3), lambda a, b: a.lerp(b, 0.3), [ANY, POS]),
    ("clamp_min", lambda x: x.clamp_min(0.1), lambda x: x.clamp_min(0.1), [ANY]),
    ("clamp_max", lambda x: cr.clamp_max(x, 0.1), lambda x: torch.clamp_max(x, 0.1), [ANY]),
    ("prod", lambda x: x.prod(), lambda x: x.prod(), [ANY]),
    ("prod-dim", lambda x: cr.prod(x, 1, keepdim=True), lambda x: torch.prod(x, 1, keepdim=True), [ANY]),
    ("prod-zeros", lambda x: x.prod(0), lambda x: x.prod(0), [WITH_ZEROS]),
    ("cumprod", lambda x: x.cumprod(1), lambda x: x.cumprod(1), [ANY]),
    ("cumprod-zeros", lambda x: cr.cumprod(x, 1), lambda x: torch.cumprod(x, 1), [WITH_ZEROS]),
    ("tril", lambda x: x.tril(), lambda x: x.tril(), [ANY]), ("triu", lambda x: cr.triu(x, 1), lambda x: torch.triu(x, 1), [ANY]),
    ("diagonal", lambda x: x.diagonal(-1), lambda x: x.diagonal(-1), [ANY]),
    ("diagonal-3d", lambda x: cr.diagonal(x, 1, 2, 0), lambda x: torch.diagonal(x, 1, 2, 0), [_rng(3).standard_normal((3, 2, 4))]),
    ("diag-1d", lambda x: cr.diag(x, 1), lambda x: torch.diag(x, 1), [ANY[0]]),
    ("diag-2d", lambda x: x.diag(), lambda x: x.diag(), [ANY]), ("trace", cr.trace, torch.trace, [ANY]),
    ("msort", cr.msort, torch.msort, [ANY]),
    ("split", lambda x: cr.cat(x.split([1, 3], 1)[::-1], 1), lambda x: torch.cat(x.split([1, 3], 1)[::-1], 1), [ANY]),
    ("chunk", lambda x: x.chunk(3, 1)[1], lambda x: x.chunk(3, 1)[1], [ANY]),
    ("unbind", lambda x: cr.unbind(x, 1)[2] * 2, lambda x: torch.unbind(x, 1)[2] * 2, [ANY]),
    ("narrow", lambda x: x.narrow(1, -3, 2), lambda x: x.narrow(1, -3, 2), [ANY]),
    ("movedim", lambda x: cr.movedim(x, (0, 1), (2, 0)), lambda x: torch.movedim(x, (0, 1), (2, 0)),
     [_rng(4).standard_normal((2, 3, 4))]),
    ("swapaxes", lambda x: x.swapaxes(0, 1), lambda x: x.swapaxes(0, 1), [ANY]),
    ("roll-flat", lambda x: cr.roll(x, 5), lambda x: torch.roll(x, 5), [ANY]),
    ("roll-dims", lambda x: x.roll((1, -2), (0, -1)), lambda x: x.roll((1, -2), (0, -1)), [ANY]),
]


@pytest.mark.parametrize("name, cfn, tfn, inputs", DIFFERENTIABLE, ids=[c[0] for c in DIFFERENTIABLE])
def test_new_differentiable_ops_match_torch_and_pass_gradcheck(name, cfn, tfn, inputs):
    check_op(cfn, tfn, inputs)


@pytest.mark.parametrize("fn", ["sign", "trunc"])
def test_sign_and_trunc_have_zero_gradients(fn):
    c, t = pair(ANY)
    getattr(c, fn)().sum().backward()
    getattr(t, fn)().sum().backward()
    same(c, t, grad=True)
    same(getattr(cr, fn)(cr.tensor([-2, 0, 3])), getattr(torch, fn)(torch.tensor([-2, 0, 3])))


def test_integer_inputs_keep_torchs_dtypes():
    ci, ti = cr.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 4]])
    for f in ("prod", "trace"):
        same(getattr(ci, f)(), getattr(ti, f)())
    same(ci.cumprod(0), ti.cumprod(0))
    same(cr.tril(ci), torch.tril(ti))
    same(cr.reciprocal(ci), torch.reciprocal(ti))
    same(cr.rsqrt(ci), torch.rsqrt(ti))


NO_GRAD = [  # (name, fn taking the module (cr or torch) and a tensor)
    ("eq", lambda m, x: m.eq(x, 1.0)), ("ne", lambda m, x: x.ne(x.flip(0))), ("lt", lambda m, x: m.lt(x, 0.5)),
    ("le", lambda m, x: x.le(0.5)), ("gt", lambda m, x: m.gt(x, x.T.T * 0.5)), ("ge", lambda m, x: x.ge(0)),
    ("isclose", lambda m, x: m.isclose(x, x + 1e-6)), ("isclose-nan", lambda m, x: (x / 0 * 0).isclose(x / 0 * 0, equal_nan=True)),
    ("argsort", lambda m, x: m.argsort(x, 1, descending=True)), ("argsort-0", lambda m, x: x.argsort(0)),
    ("unique", lambda m, x: m.unique(m.round(x), return_inverse=True, return_counts=True)),
    ("unique-dim", lambda m, x: m.unique(m.cat([x, x]), dim=0)),
    ("nonzero", lambda m, x: m.nonzero(x > 0)), ("nonzero-tuple", lambda m, x: (x > 0).nonzero(as_tuple=True)),
    ("where1", lambda m, x: m.where(x > 0)), ("argwhere", lambda m, x: m.argwhere(x > 0)),
    ("bincount", lambda m, x: m.bincount(m.tensor([0, 3, 3, 1]), minlength=6)),
    ("bincount-w", lambda m, x: m.tensor([0, 3, 3, 1]).bincount(x[0])),
    ("histc", lambda m, x: m.histc(x, bins=5)), ("histc-range", lambda m, x: x.histc(4, min=-1, max=1)),
    ("histogram", lambda m, x: tuple(m.histogram(x, 5))), ("histogram-w", lambda m, x: tuple(x.histogram(3, range=(-1.0, 1.0), weight=x.abs(), density=True))),
]


@pytest.mark.parametrize("name, fn", NO_GRAD, ids=[c[0] for c in NO_GRAD])
def test_counting_and_comparisons_match_torch(name, fn):
    c, t = pair(ANY, grad=False)
    r, tr = fn(cr, c), fn(torch, t)
    if isinstance(tr, tuple):
        assert isinstance(r, tuple) and len(r) == len(tr)
        for a, b in zip(r, tr):
            same(a, b)
    else:
        same(r, tr)


def test_allclose_equal_and_shape_errors_match_torch():
    c, t = pair(ANY, grad=False)
    assert cr.allclose(c, c + 1e-9) is torch.allclose(t, t + 1e-9) is True
    assert c.allclose(c + 1) is t.allclose(t + 1) is False
    assert cr.equal(c, c.clone()) and not cr.equal(c, c[:2]) and not c.equal(c + 1)
    for fn, err in [(lambda m: m.tril(m.ones(3)), RuntimeError), (lambda m: m.diagonal(m.ones(2, 2), 0, 1, 1), RuntimeError),
                    (lambda m: m.ones(3, 4).narrow(1, 2, 3), (IndexError, RuntimeError)),
                    (lambda m: m.ones(3, 4).split([1, 2], 1), RuntimeError), (lambda m: m.ones(3).chunk(0), RuntimeError),
                    (lambda m: m.ones(3).unbind(1), IndexError), (lambda m: m.bincount(m.tensor([-1, 2])), RuntimeError)]:
        with pytest.raises(err):
            fn(torch)
        with pytest.raises(err):
            fn(cr)


def test_roll_refuses_misaligned_shifts_as_torch():
    x, t = cr.zeros(2, 3), torch.zeros(2, 3)
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        torch.roll(t, (1, 2), 0)
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        cr.roll(x, (1, 2), 0)
    with pytest.raises(IndexError):
        x.roll(1, 2)


def test_chunk_and_split_give_torchs_pieces():
    c, t = pair(np.arange(7.0), grad=False)
    for args in [(3,), (4,), (7,), (8,)]:
        assert [p.shape for p in c.chunk(*args)] == [tuple(p.shape) for p in t.chunk(*args)]
        assert [p.shape for p in c.split(*args)] == [tuple(p.shape) for p in t.split(*args)]


# ----------------------------------------------------------------------------- functional
Q = _rng(5).standard_normal((2, 3, 4))
K = _rng(6).standard_normal((2, 5, 4))
V = _rng(7).standard_normal((2, 5, 3))
BOOL_MASK = _rng(8).random((3, 5)) > 0.3
BOOL_MASK[:, 0] = True

FUNCTIONAL = [
    ("softplus", lambda x: F.softplus(x), lambda x: torch.nn.functional.softplus(x), [ANY]),
    ("softplus-beta", lambda x: F.softplus(x * 10, beta=2, threshold=5), lambda x: torch.nn.functional.softplus(x * 10, beta=2, threshold=5), [ANY]),
    ("mish", F.mish, torch.nn.functional.mish, [ANY]),
    ("normalize", lambda x: F.normalize(x, dim=0), lambda x: torch.nn.functional.normalize(x, dim=0), [ANY]),
    ("normalize-p1", lambda x: F.normalize(x, p=1), lambda x: torch.nn.functional.normalize(x, p=1), [ANY]),
    ("cosine", F.cosine_similarity, torch.nn.functional.cosine_similarity, [ANY, POS]),
    ("cosine-bcast", lambda a, b: F.cosine_similarity(a, b, dim=-1), lambda a, b: torch.nn.functional.cosine_similarity(a, b, dim=-1), [ANY, POS[:1]]),
    ("sdpa", F.scaled_dot_product_attention, torch.nn.functional.scaled_dot_product_attention, [Q, K, V]),
    ("sdpa-causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3),
     lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3), [Q, K, V]),
    ("sdpa-bool", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, cr.tensor(BOOL_MASK)),
     lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, torch.tensor(BOOL_MASK)), [Q, K, V]),
    ("sdpa-float", lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m),
     lambda q, k, v, m: torch.nn.functional.scaled_dot_product_attention(q, k, v, m), [Q, K, V, _rng(9).standard_normal((3, 5))]),
]


@pytest.mark.parametrize("name, cfn, tfn, inputs", FUNCTIONAL, ids=[c[0] for c in FUNCTIONAL])
def test_functional_matches_torch_and_passes_gradcheck(name, cfn, tfn, inputs):
    check_op(cfn, tfn, inputs)


def test_sdpa_dropout_is_reproducible_per_generator_and_passes_gradcheck():
    def attend(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4, generator=cr.Generator().manual_seed(3))

    qkv = [cr.tensor(a, requires_grad=True) for a in (Q, K, V)]
    a, b = attend(*qkv), attend(*qkv)
    assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    plain = F.scaled_dot_product_attention(*qkv)
    assert not np.allclose(a.detach().numpy(), plain.detach().numpy())
    assert cr.gradcheck(attend, *qkv)


def test_sdpa_errors_match_torch():
    for m in (torch, cr):
        q = m.ones(2, 3, 4)
        with pytest.raises(RuntimeError):
            m.nn.functional.scaled_dot_product_attention(q, q, q, m.ones(3, 3), is_causal=True)
        with pytest.raises(RuntimeError):
            m.nn.functional.scaled_dot_product_attention(q, m.ones(2, 3, 5), q)


# ----------------------------------------------------------------------------- legacy constructors
@pytest.mark.parametrize("name", ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor"])
def test_legacy_constructors_and_type_strings_match_torch(name):
    c, t = getattr(cr, name)([1, 0, 2]), getattr(torch, name)([1, 0, 2])
    same(c, t)
    assert c.type() == t.type().replace("torch.", "chainrule.")
    assert getattr(cr, name)(2, 3).shape == tuple(getattr(torch, name)(2, 3).shape)
    assert isinstance(c, getattr(cr, name)) and isinstance(t, getattr(torch, name))
    assert not isinstance(c, cr.HalfTensor)
    x, tx = cr.tensor([1.5, -2.0]), torch.tensor([1.5, -2.0])
    same(x.type("torch." + name), tx.type("torch." + name))
    same(x.type(getattr(cr, name)), tx.type(getattr(torch, name)))


# ----------------------------------------------------------------------------- sampling and generators
def test_a_generator_repeats_its_stream_and_restores_its_state():
    g = cr.Generator().manual_seed(7)
    assert g.initial_seed() == 7
    draws = [lambda: cr.rand(3, generator=g), lambda: cr.randn(2, 2, generator=g),
             lambda: cr.randint(0, 10, (4,), generator=g), lambda: cr.randperm(6, generator=g),
             lambda: cr.multinomial(cr.tensor([0.2, 0.3, 0.5]), 2, generator=g),
             lambda: cr.bernoulli(cr.full((5,), 0.5), generator=g), lambda: cr.normal(0.0, 1.0, (3,), generator=g),
             lambda: cr.ones(4).uniform_(generator=g), lambda: cr.ones(4).normal_(generator=g),
             lambda: cr.ones(4).bernoulli_(0.3, generator=g),
             lambda: F.dropout(cr.ones(6), 0.5, generator=g)]
    first = [d().tolist() for d in draws]
    g.manual_seed(7)
    assert [d().tolist() for d in draws] == first
    state = g.get_state()
    assert state.dtype == np.uint8
    after = [d().tolist() for d in draws]
    g.set_state(state)
    assert [d().tolist() for d in draws] == after
    other = cr.Generator().manual_seed(8)
    assert cr.rand(5, generator=other).tolist() != cr.rand(5, generator=cr.Generator().manual_seed(7)).tolist()
    s = cr.Generator().seed()
    assert isinstance(s, int)
    with pytest.raises(RuntimeError, match="get_state"):
        g.set_state(cr.tensor([1, 2, 3], dtype=cr.int64).to(np.uint8))


@pytest.mark.parametrize("replacement", [False, True])
def test_multinomial_draws_torchs_shapes_and_frequencies(replacement):
    w = [[0.1, 0.0, 0.6, 0.3], [1.0, 1.0, 1.0, 1.0]]
    c, t = cr.tensor(w), torch.tensor(w)
    g = cr.Generator().manual_seed(0)
    k = 3 if not replacement else 6
    r, tr = c.multinomial(k, replacement, generator=g), t.multinomial(k, replacement)
    assert r.shape == tuple(tr.shape) and r.dtype == np.int64
    if not replacement:
        assert all(len(set(row)) == k for row in r.tolist()) and 1 not in r[0].tolist()
    many = cr.multinomial(c[0], 20000, True, generator=g).numpy()
    np.testing.assert_allclose(np.bincount(many, minlength=4) / 20000, [0.1, 0.0, 0.6, 0.3], atol=0.015)
    assert cr.multinomial(c[0], 2, generator=g).shape == (2,)
    assert sorted(cr.multinomial(cr.tensor([1.0, 0.0, 0.0]), 3, generator=g).tolist()) == [0, 1, 2]
    assert cr.multinomial(cr.tensor([1.0, 0.0, 0.0]), 2, generator=g).tolist()[0] == 0


@pytest.mark.parametrize("call", [lambda m: m.multinomial(m.tensor([0.5, 0.5]), 3),
                                  lambda m: m.multinomial(m.tensor([-1.0, 2.0]), 1),
                                  lambda m: m.multinomial(m.tensor([0.0, 0.0]), 1, True),
                                  lambda m: m.bernoulli(m.tensor([1.5])),
                                  lambda m: m.normal(m.zeros(2), -1.0)])
def test_sampling_errors_match_torch(call):
    with pytest.raises(RuntimeError) as te:
        call(torch)
    with pytest.raises(RuntimeError) as ce:
        call(cr)
    assert len(str(ce.value).splitlines()) == 1


def test_bernoulli_and_normal_overloads_give_torchs_shapes_and_dtypes():
    g = cr.Generator().manual_seed(1)
    p, tp = cr.full((3, 4), 0.25, dtype=cr.float64), torch.full((3, 4), 0.25, dtype=torch.float64)
    for r, tr in [(cr.bernoulli(p, generator=g), torch.bernoulli(tp)), (p.bernoulli(generator=g), tp.bernoulli()),
                  (cr.bernoulli(p, 0.9, generator=g), torch.bernoulli(tp, 0.9)),
                  (cr.normal(p, 2.0, generator=g), torch.normal(tp, 2.0)), (cr.normal(1.0, p, generator=g), torch.normal(1.0, tp)),
                  (cr.normal(p, p, generator=g), torch.normal(tp, tp)), (cr.normal(2.0, 3.0, (5, 2), generator=g), torch.normal(2.0, 3.0, (5, 2)))]:
        assert r.shape == tuple(tr.shape) and str(r.dtype) == str(tr.dtype).replace("torch.", "")
        assert not r.requires_grad
    big = cr.normal(cr.full((40000,), 2.0), 3.0, generator=g).numpy()
    assert abs(big.mean() - 2.0) < 0.06 and abs(big.std() - 3.0) < 0.06
    assert abs(cr.bernoulli(cr.full((40000,), 0.3), generator=g).numpy().mean() - 0.3) < 0.015


# ----------------------------------------------------------------------------- autograd tools
def test_register_hook_replaces_the_gradient_as_in_torch():
    results = []
    for m in (cr, torch):
        x = m.tensor([1.0, 2.0, 3.0], dtype=m.float64, requires_grad=True)
        seen = []
        hx = x.register_hook(lambda g: seen.append(g.tolist()) or g * 2)  # a leaf used twice: one call
        y = x * x
        y.register_hook(lambda g: g + 1)
        y.retain_grad()
        (y.sum() + x.sum()).backward()
        results.append((x.grad.tolist(), y.grad.tolist(), seen))
        hx.remove()
        x.grad = None
        (x * 3).sum().backward()
        results.append(x.grad.tolist())
        z = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        w = z * 1
        w.register_hook(lambda g: None)
        results.append(m.autograd.grad((w * w).sum(), z)[0].tolist())
        with pytest.raises(RuntimeError):
            m.tensor([1.0]).register_hook(lambda g: g)
    assert results[:3] == results[3:]


def test_grad_mode_managers_work_as_context_managers_and_decorators():
    for m in (cr, torch):
        x = m.tensor([1.0], requires_grad=True)
        with m.inference_mode():
            assert not (x * 2).requires_grad
        with m.inference_mode(False):
            assert (x * 2).requires_grad
        with m.set_grad_enabled(False):
            assert not (x * 2).requires_grad
        assert (x * 2).requires_grad
        m.set_grad_enabled(False)
        assert not (x * 2).requires_grad
        m.set_grad_enabled(True)

        @m.no_grad()
        def off():
            return (x * 2).requires_grad

        @m.inference_mode()
        def off2():
            return (x * 2).requires_grad

        @m.set_grad_enabled(False)
        def off3():
            with m.enable_grad():
                inner = (x * 2).requires_grad
            return inner, (x * 2).requires_grad

        assert (x * 2).requires_grad and not off() and not off2() and off3() == (True, False)
        assert m.is_grad_enabled()


def test_autograd_gradcheck_takes_torchs_signature():
    xs = (cr.randn(3, dtype=cr.float64, requires_grad=True, generator=cr.Generator().manual_seed(0)),
          cr.randn(3, dtype=cr.float64, requires_grad=True, generator=cr.Generator().manual_seed(1)))
    assert cr.autograd.gradcheck(lambda a, b: (a * b, (a + b).exp()), xs, eps=1e-6, atol=1e-5, rtol=1e-3)
    assert cr.autograd.gradcheck(lambda a: a.log1p().sum(), xs[0].abs().detach().requires_grad_())

    class Wrong(cr.autograd.Function):
        def forward(self, x):
            return x * 2

        def backward(self, grad):
            return grad * 3

    assert cr.autograd.gradcheck(Wrong.apply, xs[:1], raise_exception=False) is False
    with pytest.raises(RuntimeError, match="gradcheck failed"):
        cr.autograd.gradcheck(Wrong.apply, xs[:1])
    with pytest.raises(NotImplementedError) as e:
        cr.autograd.gradgradcheck(lambda a: a * a, xs[:1])
    assert len(str(e.value).splitlines()) == 1


CLOSE = [([1.0, 2.0, 3.0], [1.0, 2.5, 3.0], "float32"), ([1.0, 2.0], [1.0, 2.0 + 1e-6], "float64"),
         ([1, 2], [1, 3], "int64"), (1.0, 2.0, "float32"), ([[1.0, NAN]], [[1.0, NAN]], "float64")]


@pytest.mark.parametrize("a, b, dtype", CLOSE)
def test_assert_close_has_torchs_defaults_and_message(a, b, dtype):
    def outcome(m):
        try:
            m.testing.assert_close(m.tensor(a, dtype=getattr(m, dtype)), m.tensor(b, dtype=getattr(m, dtype)))
            return "ok"
        except AssertionError as e:
            return str(e)

    assert outcome(cr) == outcome(torch)


def test_assert_close_checks_dtype_shape_scalars_and_nesting():
    def outcome(m, *args, **kw):
        try:
            m.testing.assert_close(*args, **kw)
            return "ok"
        except (AssertionError, ValueError) as e:
            return type(e).__name__ + ": " + str(e).replace("torch.", "chainrule.")

    cases = [lambda m: (m.tensor([1.0]), m.tensor([1.0], dtype=m.float64)), lambda m: (1.0, 1.0 + 1e-8),
             lambda m: ([1.0, 2.0], [1.0, 2.1]), lambda m: (m.tensor([1.0]), m.tensor([1.5])),
             lambda m: ({"a": m.tensor([1.0])}, {"a": m.tensor([1.0 + 1e-3])})]
    for case in cases:
        assert outcome(cr, *case(cr)) == outcome(torch, *case(torch))
    assert outcome(cr, cr.tensor([1.0]), cr.tensor([1.5]), rtol=0.5, atol=0.0) == "ok"
    assert outcome(cr, cr.ones(2), cr.ones(3)).startswith("AssertionError: The values for attribute 'shape'")
    assert outcome(cr, cr.ones(2), cr.ones(2), rtol=1e-3).startswith("ValueError: Both 'rtol' and 'atol'")
