"""LensSimulator: image vs lenstronomy ray shooting, gradients, batching, validation."""

import math

import numpy as np
import pytest
import torch
from lenstronomy.LensModel.lens_model import LensModel
from scipy.ndimage import map_coordinates

from galprior.lensing import LENS_PARAMETER_NAMES, LensSimulator
from galprior.lensing.func import pixel_grid


def test_pixel_grid_convention():
    x, y = pixel_grid(4, 0.5)
    assert torch.allclose(x[0], torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=torch.float64))
    assert torch.allclose(y[:, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=torch.float64))
    x, _ = pixel_grid()
    assert x.shape == (256, 256) and math.isclose(float(x[0, 1] - x[0, 0]), 0.04)


def test_image_matches_lenstronomy_ray_shooting(smooth_source):
    lens = [1.4, 2.1, 0.6, 0.5, 0.05, -0.04, 0.03, -0.02]
    sp = [1.3, 1.6, 0.06, 0.03]
    sim = LensSimulator(n_pix=128, pixel_scale=0.06, dtype=torch.float64)
    ours = sim(torch.tensor([lens]), torch.tensor(smooth_source)[None], torch.tensor([sp]))[0].numpy()
    r, g, q, phi, x0, y0, g1, g2 = lens
    e1, e2 = (1 - q) / (1 + q) * math.cos(2 * phi), (1 - q) / (1 + q) * math.sin(2 * phi)
    x, y = (t.numpy() for t in pixel_grid(128, 0.06))
    bx, by = LensModel(["EPL", "SHEAR"]).ray_shooting(
        x, y, [dict(theta_E=r, gamma=g, e1=e1, e2=e2, center_x=x0, center_y=y0), dict(gamma1=g1, gamma2=g2)]
    )
    col = (bx - sp[2]) / sp[1] * 64 + 31.5
    row = (by - sp[3]) / sp[1] * 64 + 31.5
    ref = sp[0] * map_coordinates(smooth_source, [row, col], order=1, mode="grid-constant", cval=0.0)
    assert ref.max() > 0.5  # the source is actually lensed into the field
    # deflections agree to ~1e-10 arcsec; the residual is interpolation round-off
    assert np.abs(ours - ref).max() < 2e-6


def _small_sim(**kw):
    return LensSimulator(n_pix=8, pixel_scale=0.45, dtype=torch.float64, epl_n_terms=80, **kw)


def _small_inputs():
    gen = torch.Generator().manual_seed(3)
    lens = torch.tensor([[1.2, 2.2, 0.55, 0.4, 0.07, -0.05, 0.04, -0.03]], dtype=torch.float64)
    src = torch.rand(1, 6, 6, generator=gen, dtype=torch.float64)
    sp = torch.tensor([[1.1, 2.9, 0.08, -0.06]], dtype=torch.float64)
    return lens, src, sp


def test_gradcheck_lens_source_parameters_and_pixels():
    lens, src, sp = _small_inputs()
    sim = _small_sim()
    assert torch.autograd.gradcheck(
        lambda lp, s, p: sim(lp, s, p, validate=False),
        (lens.requires_grad_(), src.requires_grad_(), sp.requires_grad_()),
    )


def test_gradcheck_with_psf_and_pooling():
    lens, src, sp = _small_inputs()
    sim = _small_sim(psf_sigma=0.5, pool_factor=2)
    assert torch.autograd.gradcheck(lambda lp, s: sim(lp, s, sp, validate=False),
                                    (lens.requires_grad_(), src.requires_grad_()))


def test_batched_equals_per_system(lens_batch, smooth_source):
    sim = LensSimulator(n_pix=32, pixel_scale=0.15, psf_sigma=0.1, pool_factor=2, dtype=torch.float64)
    src = torch.tensor(smooth_source).expand(3, -1, -1) * torch.tensor([1.0, 0.5, 2.0])[:, None, None]
    sp = torch.tensor([[1.0, 1.6, 0.0, 0.0], [2.0, 1.2, 0.1, -0.1], [0.5, 2.0, -0.05, 0.02]], dtype=torch.float64)
    batch = sim(lens_batch, src, sp)
    assert batch.shape == (3, 16, 16)
    for i in range(3):
        single = sim(lens_batch[i : i + 1], src[i : i + 1], sp[i : i + 1])
        torch.testing.assert_close(batch[i], single[0], rtol=0, atol=1e-10)


def test_dict_parameters_equal_tensor(lens_batch, smooth_source):
    sim = LensSimulator(n_pix=16, pixel_scale=0.3, dtype=torch.float64)
    src = torch.tensor(smooth_source)[None]
    a = sim(lens_batch[:1], src, torch.tensor([[1.0, 1.6, 0.0, 0.0]]))
    d = {n: lens_batch[:1, i] for i, n in enumerate(LENS_PARAMETER_NAMES)}
    b = sim(d, src, dict(intensity=1.0, scale=1.6, x_src=0.0, y_src=0.0))
    torch.testing.assert_close(a, b)


def test_float32_render():
    lens, src, sp = _small_inputs()
    sim32 = LensSimulator(n_pix=8, pixel_scale=0.45, dtype=torch.float32)
    img = sim32(lens.float(), src.float(), sp.float())
    assert img.dtype == torch.float32
    torch.testing.assert_close(img.double(), _small_sim()(lens, src, sp), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "column, value, name",
    [(2, 0.0, "axis_ratio"), (2, 1.2, "axis_ratio"), (2, -0.3, "axis_ratio"), (0, 0.0, "einstein_radius"),
     (0, -1.0, "einstein_radius"), (1, 3.5, "slope"), (4, float("nan"), "x0"), (7, float("inf"), "gamma2")],
)
def test_bad_lens_parameters_raise(column, value, name):
    lens, src, sp = _small_inputs()
    lens[0, column] = value
    with pytest.raises(ValueError, match=name) as info:
        _small_sim()(lens, src, sp)
    assert str(value) in str(info.value)


@pytest.mark.parametrize("column, value, name", [(1, 0.0, "scale"), (1, -2.0, "scale"), (0, float("nan"), "intensity"),
                                                 (3, float("inf"), "y_src")])
def test_bad_source_parameters_raise(column, value, name):
    lens, src, sp = _small_inputs()
    sp[0, column] = value
    with pytest.raises(ValueError, match=name):
        _small_sim()(lens, src, sp)


def test_nonfinite_source_pixels_raise_and_validation_is_skippable():
    lens, src, sp = _small_inputs()
    src[0, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="source pixels"):
        _small_sim()(lens, src, sp)
    out = _small_sim()(lens, src, sp, validate=False)  # no check, NaN propagates
    assert torch.isnan(out).any()


def test_coarsened_simulator_approximates_the_block_average(lens_batch, smooth_source):
    """The coarse grid's pixel centres are the centres of 2 x 2 blocks of the fine grid, and
    its image is close to the block average of the fine image (a smooth source and PSF: it
    samples at the block centre instead of averaging the block)."""
    from galprior.lensing.func import avg_pool

    fine = LensSimulator(n_pix=128, pixel_scale=0.04, psf_sigma=0.08, dtype=torch.float64)
    coarse = fine.coarsened(2)
    assert torch.allclose(coarse.theta_x, avg_pool(fine.theta_x[None], 2)[0])
    assert torch.allclose(coarse.theta_y, avg_pool(fine.theta_y[None], 2)[0])
    source = torch.tensor(smooth_source)[None].expand(3, -1, -1)
    sp = torch.tensor([[1.0, 1.6, 0.06, 0.03]] * 3, dtype=torch.float64)
    pooled = avg_pool(fine(lens_batch, source, sp), 2)
    image = coarse(lens_batch, source, sp)
    assert image.shape == pooled.shape == (3, 64, 64)
    assert float((image - pooled).norm() / pooled.norm()) < 0.05
    with pytest.raises(ValueError, match="cannot coarsen"):
        LensSimulator(n_pix=30, pixel_scale=0.04).coarsened(4)
