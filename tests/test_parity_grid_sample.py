"""F.grid_sample and F.affine_grid against torch 2.13: values and gradients (to the image, to the grid,
to theta) in float64 with finite differences, every padding mode and align_corners, grid points far
outside [-1, 1], float32 values, the refusals in torch's words, and a small Spatial Transformer
(affine_grid + grid_sample + conv) trained two SGD steps beside torch's."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
from chainrule.compiler import CompileWarning
from chainrule.nn import functional as F
from oracle import check_op, train_beside_torch

SEED = 20260516
PADDINGS = ("zeros", "border", "reflection")
# (input shape, grid's (Ho, Wo)): non-square, a single row, a single pixel, more channels than points
SIZES = [((2, 3, 5, 6), (4, 7)), ((1, 2, 1, 4), (3, 3)), ((3, 1, 8, 8), (8, 8)), ((1, 4, 1, 1), (2, 2)),
         ((2, 5, 3, 2), (1, 5))]


def points(rng, n, h, w, spread=2.6):
    """Grid points in [-spread, spread]: inside the image, past its borders, several reflections away."""
    return rng.uniform(-spread, spread, (n, h, w, 2))


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", PADDINGS)
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_values_and_gradients_are_torchs(mode, padding_mode, align_corners):
    rng = np.random.default_rng(SEED)
    for shape, (ho, wo) in SIZES:
        x, g = rng.standard_normal(shape), points(rng, shape[0], ho, wo)
        check_op(lambda a, b: F.grid_sample(a, b, mode, padding_mode, align_corners),
                 lambda a, b: TF.grid_sample(a, b, mode, padding_mode, align_corners), [x, g])


def test_grid_sample_at_pixel_centres_borders_and_exact_integers_is_torchs():
    """Points on the pixel grid, on the borders and on the reflection lines (where a weight is exactly 0,
    or the clip's derivative switches) give torch's values and gradients."""
    x = np.random.default_rng(SEED + 1).standard_normal((1, 2, 4, 5))
    lines = np.array([-3.0, -1.0, -0.6, -0.5, 0.0, 0.2, 0.5, 1.0, 1.4, 3.0])
    g = np.stack(np.meshgrid(lines, lines[::-1]), -1)[None]
    for padding_mode in PADDINGS:
        for align_corners in (False, True):
            check_op(lambda a, b: F.grid_sample(a, b, "bilinear", padding_mode, align_corners),
                     lambda a, b: TF.grid_sample(a, b, "bilinear", padding_mode, align_corners), [x, g],
                     gradcheck=False)


@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_grid_sample_in_float32_is_torchs(padding_mode):
    rng = np.random.default_rng(SEED + 2)
    x, g = rng.standard_normal((4, 3, 16, 12)).astype(np.float32), points(rng, 4, 9, 10).astype(np.float32)
    for mode in ("bilinear", "nearest"):
        for ac in (False, True):
            xs, gs = cr.tensor(x, requires_grad=True), cr.tensor(g, requires_grad=True)
            xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
            y, yt = F.grid_sample(xs, gs, mode, padding_mode, ac), TF.grid_sample(xt, gt, mode, padding_mode, ac)
            assert y.dtype == cr.float32
            np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
            (y * y).sum().backward()
            (yt * yt).sum().backward()
            assert xs.grad.dtype == gs.grad.dtype == cr.float32
            np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(gs.grad.numpy(), gt.grad.numpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_and_its_theta_gradient_are_torchs(align_corners):
    rng = np.random.default_rng(SEED + 3)
    for size in [(2, 3, 5, 7), (1, 1, 1, 4), (3, 2, 6, 1), (1, 1, 1, 1)]:
        theta = rng.standard_normal((size[0], 2, 3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)     # unit-size grids with align_corners (both warn)
            check_op(lambda t: F.affine_grid(t, size, align_corners), lambda t: TF.affine_grid(t, size, align_corners),
                     [theta])
    f32 = rng.standard_normal((2, 2, 3)).astype(np.float32)
    got = F.affine_grid(cr.tensor(f32), cr.Size((2, 3, 4, 5)), align_corners)
    assert got.dtype == cr.float32
    np.testing.assert_allclose(got.numpy(), TF.affine_grid(torch.tensor(f32), (2, 3, 4, 5), align_corners).numpy(),
                               rtol=1e-6, atol=1e-6)


def test_affine_grid_feeding_grid_sample_differentiates_theta_as_torch():
    rng = np.random.default_rng(SEED + 4)
    x, theta = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 2, 3)) * 0.8
    for padding_mode in PADDINGS:
        check_op(lambda a, t: F.grid_sample(a, F.affine_grid(t, (2, 3, 4, 7), False), padding_mode=padding_mode,
                                            align_corners=False),
                 lambda a, t: TF.grid_sample(a, TF.affine_grid(t, (2, 3, 4, 7), False), padding_mode=padding_mode,
                                             align_corners=False), [x, theta])


def test_align_corners_none_warns_as_torch_and_means_false():
    x, g = np.ones((1, 1, 3, 3)), np.full((1, 1, 1, 2), 0.3)
    theta = np.array([[[1.0, 0, 0], [0, 1, 0]]])
    for lib, fn in ((cr, F), (torch, TF)):
        with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has changed to "
                                             "align_corners=False since 1.3.0"):
            fn.grid_sample(lib.tensor(x), lib.tensor(g))
        with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has changed"):
            fn.affine_grid(lib.tensor(theta), (1, 1, 2, 2))
        with pytest.warns(UserWarning, match="affine_grid behavior has changed for unit-size grids"):
            fn.affine_grid(lib.tensor(theta), (1, 1, 1, 2), align_corners=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert F.affine_grid(cr.tensor(theta), (1, 1, 2, 2)).tolist() == F.affine_grid(cr.tensor(theta), (1, 1, 2, 2),
                                                                                        False).tolist()


REFUSALS = [  # (input shape or dtype, grid, keywords): each refused by both libraries with the same words
    ((2, 3, 4, 5), (1, 6, 7, 2), {}, RuntimeError, "expected grid and input to have same batch size, but got input "
                                                    r"with sizes \[2, 3, 4, 5\] and grid with sizes \[1, 6, 7, 2\]"),
    ((2, 3, 4, 5), (2, 6, 7, 3), {}, RuntimeError, "expected grid to have size 2 in last dimension, but got grid "
                                                    r"with sizes \[2, 6, 7, 3\]"),
    ((2, 3, 0, 5), (2, 6, 7, 2), {}, RuntimeError, "expected input to have non-empty spatial dimensions, but input "
                                                    r"has sizes \[2, 3, 0, 5\] with dimension 2 being empty"),
    ((2, 3, 4, 5), (2, 6, 7, 2), {"mode": "cubic"}, ValueError, "expected mode to be 'bilinear', 'nearest' or "
                                                                "'bicubic', but got: 'cubic'"),
    ((2, 3, 4, 5), (2, 6, 7, 2), {"padding_mode": "wrap"}, ValueError, "expected padding_mode to be 'zeros', "
                                                                      "'border', or 'reflection', but got: 'wrap'"),
]


@pytest.mark.parametrize("xshape, gshape, kw, err, words", REFUSALS)
def test_grid_sample_refuses_in_torchs_words(xshape, gshape, kw, err, words):
    for lib, fn in ((cr, F), (torch, TF)):
        with pytest.raises(err, match=words):
            fn.grid_sample(lib.zeros(*xshape), lib.zeros(*gshape), align_corners=False, **kw)


def test_grid_sample_and_affine_grid_refuse_dtypes_and_what_chainrule_lacks_in_one_line():
    for lib, fn in ((cr, F), (torch, TF)):
        with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
            fn.grid_sample(lib.zeros(1, 1, 2, 2), lib.zeros(1, 1, 1, 2, dtype=lib.float64), align_corners=False)
        with pytest.raises(NotImplementedError, match="\"grid_sampler_2d_cpu_kernel_impl\" not implemented for 'Long'"):
            fn.grid_sample(lib.zeros(1, 1, 2, 2, dtype=lib.int64), lib.zeros(1, 1, 1, 2, dtype=lib.int64),
                           align_corners=False)
        with pytest.raises(ValueError, match="Expected theta to have floating point type, but got"):
            fn.affine_grid(lib.zeros(1, 2, 3, dtype=lib.int64), (1, 1, 2, 2), False)
        with pytest.raises(ValueError, match=r"Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                                             r"\(2, 3, 4, 5\)"):
            fn.affine_grid(lib.zeros(2, 3, 3), (2, 3, 4, 5), False)
        with pytest.raises(NotImplementedError, match="affine_grid only supports 4D and 5D sizes"):
            fn.affine_grid(lib.zeros(2, 2, 3), (2, 3, 4), False)
        with pytest.raises(ValueError, match=r"Expected non-zero, positive output size. Got \(2, 3, 0, 5\)"):
            fn.affine_grid(lib.zeros(2, 2, 3), (2, 3, 0, 5), False)
    for call in (lambda: F.grid_sample(cr.zeros(1, 1, 2, 2, 2), cr.zeros(1, 1, 1, 1, 3), align_corners=False),
                 lambda: F.grid_sample(cr.zeros(1, 1, 2, 2), cr.zeros(1, 1, 1, 2), "bicubic", align_corners=False),
                 lambda: F.affine_grid(cr.zeros(1, 3, 4), (1, 1, 2, 2, 2), False)):
        with pytest.raises(NotImplementedError, match="not supported in chainrule") as e:
            call()
        assert "\n" not in str(e.value)


def stn(lib):
    """A Spatial Transformer on 1 x 8 x 8 images: a localisation net gives theta, affine_grid and
    grid_sample warp the image, a conv and a linear layer classify it (PyTorch's STN tutorial, small)."""
    nn, fn = lib.nn, (F if lib is cr else TF)

    class STN(nn.Module):
        def __init__(self):
            super().__init__()
            self.loc = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 6))
            self.conv = nn.Conv2d(1, 3, 3, padding=1)
            self.fc = nn.Linear(3 * 8 * 8, 5)

        def forward(self, x):
            theta = self.loc(x).view(-1, 2, 3)
            grid = fn.affine_grid(theta, x.size(), align_corners=False)
            x = fn.grid_sample(x, grid, padding_mode="border", align_corners=False)
            return self.fc(fn.relu(self.conv(x)).flatten(1))

    return STN().double()


def test_a_spatial_transformer_trains_two_sgd_steps_as_torchs():
    rng = np.random.default_rng(SEED + 5)
    x, y = rng.standard_normal((6, 1, 8, 8)), rng.integers(0, 5, 6)
    models = [stn(cr), stn(torch)]
    with cr.no_grad():   # start near the identity map, as the tutorial does, but not exactly at it
        models[0].loc[3].weight.mul_(0.1)
        models[0].loc[3].bias.copy_(cr.tensor([1.0, 0, 0, 0, 1, 0]) + 0.05 * cr.tensor(rng.standard_normal(6)))
    models[1].load_state_dict({k: torch.tensor(v.numpy()) for k, v in models[0].state_dict().items()})
    opts = [cr.optim.SGD(models[0].parameters(), lr=0.1, momentum=0.9), torch.optim.SGD(models[1].parameters(), lr=0.1,
                                                                                        momentum=0.9)]
    train_beside_torch(models, opts, lambda lib, m: lib.nn.functional.cross_entropy(m(lib.tensor(x)), lib.tensor(y)),
                       2, atol=1e-13)
    assert np.abs(models[0].loc[3].bias.grad.numpy()).max() > 1e-4   # theta did learn through the sampler


def test_a_compiled_step_through_grid_sample_matches_eager():
    rng = np.random.default_rng(SEED + 6)
    x = cr.tensor(rng.standard_normal((3, 2, 6, 6)).astype(np.float32))
    losses = []
    for compiled in (False, True):
        cr.manual_seed(1)
        theta = cr.nn.Parameter(cr.tensor([[1.0, 0.1, 0.0], [-0.1, 0.9, 0.05]]).expand(3, 2, 3).clone())
        conv = cr.nn.Conv2d(2, 1, 3)
        opt = cr.optim.SGD([theta, *conv.parameters()], lr=0.1)

        def step():
            opt.zero_grad()
            warped = F.grid_sample(x, F.affine_grid(theta, x.shape, False), padding_mode="reflection",
                                   align_corners=False)
            loss = (conv(warped) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        run = cr.compile(step, fullgraph=True) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            losses.append([run().item() for _ in range(3)])
    assert losses[0] == losses[1]


def test_nan_and_infinite_grid_points_read_what_torch_reads():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    g = np.array([[[[np.nan, 0.0], [0.2, np.nan], [np.inf, 0.0], [-np.inf, 0.3], [0.1, -0.4]]]])
    for padding_mode in PADDINGS:
        for mode in ("bilinear", "nearest"):
            with warnings.catch_warnings():   # NumPy's "invalid value" (silenced in the rules, but pytest
                warnings.simplefilter("ignore", RuntimeWarning)   # resets the filters around each test)
                got = F.grid_sample(cr.tensor(x), cr.tensor(g), mode, padding_mode, False).numpy()
            want = TF.grid_sample(torch.tensor(x), torch.tensor(g), mode, padding_mode, False).numpy()
            np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{mode} {padding_mode}")
