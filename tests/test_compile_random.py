"""chainrule.compile and random numbers: dropout's mask and the samplers' tensors (randn, rand,
randint, randperm and their _like forms, with Python sizes; bernoulli, normal and multinomial of the
step's tensors) are drawn afresh at every replay, from the stream eager draws from, so that with one
seed compiled and eager steps agree bit for bit; any other draw makes the step run eagerly."""
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import CompileError, CompileWarning
from chainrule.nn import functional as F


def make_step(opt_cls, generator=None):
    cr.manual_seed(0)
    net = cr.nn.Sequential(cr.nn.Linear(20, 32), cr.nn.ReLU(), cr.nn.Dropout(0.3), cr.nn.Linear(32, 5))
    if generator is not None:  # the functional form, with a generator of its own
        net = cr.nn.Sequential(net[0], net[1], cr.nn.Identity(), net[3])
    opt = opt_cls(net.parameters(), lr=0.01)

    def step(x, y):
        opt.zero_grad()
        h = net[1](net[0](x))
        h = F.dropout(h, 0.3, generator=generator) if generator is not None else net[2](h)
        loss = F.cross_entropy(net[3](h), y)
        loss.backward()
        opt.step()
        return loss
    return net, step


def batches(n_steps, seed=1):
    rng = np.random.default_rng(seed)
    return [(cr.tensor(rng.standard_normal((8, 20)).astype(np.float32)), cr.tensor(rng.integers(0, 5, 8)))
            for _ in range(n_steps)]


def run(step, data, seed=7):
    cr.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        losses = [step(x, y).item() for x, y in data]
    return losses, cr.random.get_rng().bit_generator.state


def side_by_side(eager, compiled, data, seed):
    """Each function's losses over ``data`` from the default stream seeded with ``seed``, and the
    stream's state after them: [(losses, state) of eager, (losses, state) of compiled]."""
    out = []
    for f in (eager, compiled):
        cr.manual_seed(seed)
        out.append(([f(x).item() for x in data], cr.random.get_rng().bit_generator.state))
    return out


def test_dropout_replay_is_bit_identical_to_eager_for_50_steps():
    # RMSprop replays its own rule (no folded gemm), so every number must be eager's, bit for bit
    data = batches(50)
    net_e, eager = make_step(cr.optim.RMSprop)
    net_c, step = make_step(cr.optim.RMSprop)
    compiled = cr.compile(step, fullgraph=True)
    (le, state_e), (lc, state_c) = run(eager, data), run(compiled, data)
    assert compiled.stats == {"traces": 1, "replays": 49, "eager": 0}
    assert lc == le and len(set(le)) == 50
    assert state_c == state_e   # the same draws from the default stream, no more, no fewer
    for pe, pc in zip(net_e.parameters(), net_c.parameters()):
        np.testing.assert_array_equal(pc.data, pe.data)


def test_dropout_replay_with_sgd_folded_update_draws_the_same_masks():
    data = batches(50)
    net_e, eager = make_step(cr.optim.SGD)
    net_c, step = make_step(cr.optim.SGD)
    compiled = cr.compile(step)
    (le, state_e), (lc, state_c) = run(eager, data), run(compiled, data)
    assert compiled.stats["replays"] == 49 and state_c == state_e
    np.testing.assert_allclose(lc, le, rtol=1e-5)   # the folded gemm rounds differently, no more


def test_dropout_replay_draws_from_its_own_generator_as_it_is_at_each_call():
    data = batches(6)
    ge, gc = cr.Generator().manual_seed(3), cr.Generator().manual_seed(3)
    _, eager = make_step(cr.optim.RMSprop, ge)
    _, step = make_step(cr.optim.RMSprop, gc)
    compiled = cr.compile(step, fullgraph=True)
    default = cr.random.get_rng().bit_generator.state
    for i, (x, y) in enumerate(data):
        if i == 4:  # a reseeded generator holds a new NumPy Generator: the replay reads it afresh
            ge.manual_seed(11), gc.manual_seed(11)
        assert compiled(x, y).item() == eager(x, y).item()
    assert cr.random.get_rng().bit_generator.state == default   # the default stream was not touched
    assert compiled.stats == {"traces": 1, "replays": 5, "eager": 0}


def test_a_replay_that_falls_back_leaves_the_stream_as_eager_does():
    # the 4th call's loss is infinite: the replay gives up after drawing its mask and the call runs
    # eagerly, which must draw the same mask (the stream is put back first)
    def loss(x, y):
        return F.cross_entropy(F.dropout(x, 0.5), y)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((6, 4)).astype(np.float32) for _ in range(6)]
    xs[3][0, 0] = np.inf
    y = cr.tensor(rng.integers(0, 4, 6))
    compiled = cr.compile(loss)
    out = []
    for f in (loss, compiled):
        cr.manual_seed(5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)
            out.append(([f(cr.tensor(x), y).item() for x in xs], cr.random.get_rng().bit_generator.state))
    assert out[1][0][:3] == out[0][0][:3] and out[1][0][4:] == out[0][0][4:]
    assert not np.isfinite(out[1][0][3]) and out[1][1] == out[0][1]
    assert compiled.stats == {"traces": 1, "replays": 4, "eager": 1}


def make_vae_step():
    # a VAE's step: the reparameterisation's noise (randn_like), plus a random weighting (rand), a
    # random pick of rows (randint) and a shuffle (randperm): each drawn afresh by the replay
    cr.manual_seed(0)
    enc, dec = cr.nn.Linear(6, 4), cr.nn.Linear(2, 6)
    opt = cr.optim.RMSprop(list(enc.parameters()) + list(dec.parameters()), lr=1e-2)

    def step(x):
        opt.zero_grad()
        h = enc(x)
        mu, logvar = h[:, :2], h[:, 2:]
        z = mu + cr.randn_like(mu) * cr.exp(0.5 * logvar)
        rec = dec(z)[cr.randperm(x.shape[0])]
        w = cr.rand(x.shape[0], 1) + cr.randint(0, 3, (x.shape[0], 1))
        loss = (w * (rec - x[:, :]) ** 2).mean() - 0.5 * (1 + logvar - mu ** 2 - logvar.exp()).mean()
        loss.backward()
        opt.step()
        return loss
    return [enc, dec], step


def test_the_samplers_are_drawn_afresh_by_each_replay_from_eagers_stream():
    rng = np.random.default_rng(2)
    data = [cr.tensor(rng.standard_normal((8, 6)).astype(np.float32)) for _ in range(20)]
    mods_e, eager = make_vae_step()
    mods_c, step = make_vae_step()
    compiled = cr.compile(step, fullgraph=True)
    out = side_by_side(eager, compiled, data, 9)
    assert compiled.stats == {"traces": 1, "replays": 19, "eager": 0}
    assert out[1] == out[0] and len(set(out[0][0])) == 20   # bit for bit, the stream left alike
    for me, mc in zip(mods_e, mods_c):
        for pe, pc in zip(me.parameters(), mc.parameters()):
            np.testing.assert_array_equal(pc.data, pe.data)


def test_a_sampler_draws_from_its_own_generator_as_it_is_at_each_call():
    ge, gc = cr.Generator().manual_seed(4), cr.Generator().manual_seed(4)

    def body(x, g):
        return (x * cr.randn(3, 2, generator=g)).sum() + cr.rand_like(x, generator=g).sum()

    compiled = cr.compile(lambda x: body(x, gc), fullgraph=True)
    default = cr.random.get_rng().bit_generator.state
    for i in range(5):
        if i == 3:
            ge.manual_seed(12), gc.manual_seed(12)
        assert compiled(cr.ones(3, 2)).item() == body(cr.ones(3, 2), ge).item()
    assert cr.random.get_rng().bit_generator.state == default
    assert compiled.stats == {"traces": 1, "replays": 4, "eager": 0}


def make_rbm_step():
    # a restricted Boltzmann machine trained by contrastive divergence (CD-1), as PyTorch programs
    # write it: Gibbs sampling with bernoulli of the step's probabilities, the free energy's gap
    # as the loss
    cr.manual_seed(5)
    W = cr.nn.Parameter(cr.randn(12, 6) * 0.1)
    b, c = cr.nn.Parameter(cr.zeros(12)), cr.nn.Parameter(cr.zeros(6))
    opt = cr.optim.SGD([W, b, c], lr=0.05, momentum=0.5)

    def free_energy(v):
        return -(v @ b) - F.softplus(v @ W + c).sum(1)

    def step(v0):
        h0 = cr.bernoulli(cr.sigmoid(v0 @ W + c))
        v1 = (h0 @ W.t() + b).sigmoid().bernoulli()           # the Tensor method
        opt.zero_grad()
        loss = free_energy(v0).mean() - free_energy(v1.detach()).mean()
        loss.backward()
        opt.step()
        return loss
    return [W, b, c], step


def test_draws_from_the_steps_tensors_are_drawn_afresh_from_each_replays_arrays():
    rng = np.random.default_rng(6)
    data = [cr.tensor((rng.random((10, 12)) < 0.4).astype(np.float32)) for _ in range(20)]
    (pe, eager), (pc, step) = make_rbm_step(), make_rbm_step()
    compiled = cr.compile(step, fullgraph=True)
    out = side_by_side(eager, compiled, data, 11)
    assert compiled.stats == {"traces": 1, "replays": 19, "eager": 0}
    assert out[1] == out[0] and len(set(out[0][0])) == 20   # bit for bit, the stream left alike
    for a, b in zip(pe, pc):
        np.testing.assert_array_equal(b.data, a.data)


def test_normal_and_multinomial_of_the_steps_tensors_replay_with_eagers_numbers():
    # REINFORCE-like: actions drawn from the policy's probabilities, a noisy reward around a value
    def make():
        cr.manual_seed(2)
        net = cr.nn.Linear(4, 3).double()
        opt = cr.optim.Adam(net.parameters(), lr=1e-2)
        g = cr.Generator().manual_seed(8)

        def step(x):
            opt.zero_grad()
            logits = net(x)
            a = cr.multinomial(logits.softmax(-1).detach(), 1, generator=g)
            reward = cr.normal(logits.detach().mean(1, keepdim=True), logits.detach().std() + 0.1)
            loss = -(logits.log_softmax(-1).gather(1, a) * reward).mean()
            loss.backward()
            opt.step()
            return loss
        return step
    rng = np.random.default_rng(3)
    data = [cr.tensor(rng.standard_normal((5, 4))) for _ in range(8)]
    eager, compiled = make(), cr.compile(make(), fullgraph=True)
    out = side_by_side(eager, compiled, data, 4)
    assert out[1] == out[0] and compiled.stats == {"traces": 1, "replays": 7, "eager": 0}


def test_a_replay_whose_sample_the_front_refuses_runs_eagerly_into_its_error():
    f = cr.compile(lambda p: (cr.bernoulli(p) * p).sum())
    for _ in range(3):
        f(cr.full((2, 3), 0.5))
    with pytest.warns(CompileWarning, match=r"the replay met arguments the sampler refuses \(bernoulli"):
        with pytest.raises(RuntimeError, match=r"bernoulli: all elements of input must be in \[0, 1\]"):
            f(cr.full((2, 3), 1.5))
    assert f.stats == {"traces": 1, "replays": 2, "eager": 1}
    f(cr.full((2, 3), 0.25))
    assert f.stats["replays"] == 3


@pytest.mark.parametrize("body", [
    lambda x: (x * cr.ones(3, 2).bernoulli_(0.5)).sum(),   # an in-place fill
    lambda x: (x * cr.bernoulli(x.sigmoid(), generator=123)).sum(),   # a seed: a new stream each call
    lambda x: (x * cr.randn(3, 2, requires_grad=True)).sum(),
    lambda x: [cr.random.get_rng().random(), F.dropout(x, 0.5).sum()][1],  # the stream reached directly
])
def test_other_draws_run_eagerly_with_the_reason(body):
    with pytest.raises(CompileError, match="random numbers"):
        cr.compile(body, fullgraph=True)(cr.ones(3, 2))
    f = cr.compile(body)
    with pytest.warns(CompileWarning, match="random numbers"):
        f(cr.ones(3, 2))
    f(cr.ones(3, 2))
    assert f.stats == {"traces": 1, "replays": 0, "eager": 1}


def test_attention_dropout_is_a_dropout_draw_the_replay_repeats():
    # scaled_dot_product_attention's dropout_p (and so MultiheadAttention's and a Transformer layer's
    # dropout) draws dropout's mask: a compiled training step replays it with eager's numbers
    def make():
        cr.manual_seed(0)
        layer = cr.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.2, batch_first=True).double()
        opt = cr.optim.RMSprop(layer.parameters(), lr=1e-3)

        def step(x):
            opt.zero_grad()
            loss = (layer(x) ** 2).mean() + F.scaled_dot_product_attention(x, x, x, dropout_p=0.3).sum()
            loss.backward()
            opt.step()
            return loss
        return step

    eager, compiled = make(), cr.compile(make(), fullgraph=True)
    rng = np.random.default_rng(4)
    data = [cr.tensor(rng.standard_normal((2, 5, 8))) for _ in range(6)]
    out = side_by_side(eager, compiled, data, 21)
    assert out[1] == out[0]
    assert compiled.stats == {"traces": 1, "replays": 5, "eager": 0}
