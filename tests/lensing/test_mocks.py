"""Mock-lens generation: priors, source preparation, renders and seeding."""

import numpy as np
import pytest

from galprior.lensing import LENS_PARAMETER_NAMES
from galprior.lensing.mocks import make_source, render_adam_mocks, render_mock_lenses


def test_prior_draws_are_physical(default_prior):
    p = default_prior.sample_lens(2000, np.random.default_rng(0))
    assert p.shape == (2000, len(LENS_PARAMETER_NAMES))
    assert (p[:, 0] > 0).all()
    assert ((p[:, 1] >= 1.2) & (p[:, 1] <= 2.8)).all()
    assert ((p[:, 2] > 0) & (p[:, 2] <= 1)).all()
    assert (np.abs(p[:, 6:]) <= 0.2).all()
    np.testing.assert_array_equal(p, default_prior.sample_lens(2000, np.random.default_rng(0)))
    assert (default_prior.sample_lens(5, np.random.default_rng(1), slope=2.0)[:, 1] == 2.0).all()


def test_make_source_denoises_and_scales(smooth_source):
    rng = np.random.default_rng(0)
    noisy = smooth_source + 0.05 * rng.normal(size=smooth_source.shape)
    img, scale = make_source(noisy, source_plane_size=2.0, fill_fraction=1 / 3)
    assert img.max() == 1.0 and img.min() >= 0
    assert np.abs(img - smooth_source / smooth_source.max()).mean() < np.abs(noisy - smooth_source).mean()
    # a galaxy twice as extended in the stamp gets half the scale
    _, scale_compact = make_source(smooth_source, 2.0, 1 / 3, denoise=False)
    c = (np.arange(64) + 0.5) / 64 - 0.5
    yy, xx = np.meshgrid(c, c, indexing="ij")
    _, s1 = make_source(np.exp(-0.5 * (xx**2 + yy**2) / 0.05**2), 2.0, 1 / 3, denoise=False)
    _, s2 = make_source(np.exp(-0.5 * (xx**2 + yy**2) / 0.1**2), 2.0, 1 / 3, denoise=False)
    assert abs(s1 / s2 - 2.0) < 0.15
    assert 0 < scale_compact < 10 and scale > 0


def test_render_mock_lenses_shapes_and_seed(smooth_source, default_prior):
    rng = np.random.default_rng(2)
    lp = default_prior.sample_lens(2, rng)
    src = np.stack([smooth_source] * 2)
    sp = np.array([[1.0, 1.5, 0.0, 0.0], [1.0, 1.5, 0.05, -0.05]])
    kw = dict(noise_sigma=(0.333, 0.1, 0.0333), n_pix=64, pixel_scale=0.16, psf_sigma=0.05)
    out = render_mock_lenses(src, lp, sp, **kw)
    assert out["noiseless"].shape == (2, 64, 64)
    assert out["observations"].shape == (2, 3, 64, 64)
    assert out["snr"].shape == (2, 3)
    assert (np.diff(out["snr"], axis=1) > 0).all()  # less noise, more S/N
    resid = out["observations"][:, 2] - out["noiseless"]
    assert abs(resid.std() - 0.0333) < 0.003
    again = render_mock_lenses(src, lp, sp, **kw)
    np.testing.assert_array_equal(out["observations"], again["observations"])


def test_render_adam_mocks(smooth_source, default_prior):
    lp = default_prior.sample_lens(2, np.random.default_rng(3))
    src = np.stack([smooth_source] * 2)
    sp = np.array([[2.0, 1.5, 0.0, 0.0], [1.0, 1.5, 0.05, -0.05]])
    out = render_adam_mocks(src, lp, sp, relative_noise=0.01, n_render=64, pool_factor=2,
                            field_of_view=6.4)
    assert out["noiseless"].shape == (2, 32, 32) and out["observations"].shape == (2, 32, 32)
    assert (out["lens_params"][:, 1] == 2.0).all()
    np.testing.assert_allclose(out["noise_sigma"], 0.01 * src.max(axis=(1, 2)) * sp[:, 0])
    assert abs(float(out["pixel_scale"]) - 0.2) < 1e-12


def test_fill_stamp_makes_the_galaxy_fill_the_central_third():
    """Chianese sec. 5.1: a circular Gaussian of any size comes out centred, with its
    90 %-flux diameter 2 sigma sqrt(2 ln 10) equal to a third of the stamp (measured by
    second moments, independent of the code's flux-radius estimate)."""
    from galprior.lensing.mocks import fill_stamp

    yy, xx = np.mgrid[:64, :64].astype(float)
    for sigma, centre in ((2.0, (30.0, 35.0)), (7.0, (31.5, 31.5))):
        image = np.exp(-((xx - centre[1]) ** 2 + (yy - centre[0]) ** 2) / (2 * sigma**2))
        out = fill_stamp(image, 1 / 3, denoise=False)
        assert out.max() == pytest.approx(1.0)
        total = out.sum()
        cy, cx = (yy * out).sum() / total, (xx * out).sum() / total
        assert abs(cy - 31.5) < 0.3 and abs(cx - 31.5) < 0.3
        measured = np.sqrt(((xx - cx) ** 2 * out).sum() / total)
        expected = 64 / 3 / 2 / np.sqrt(2 * np.log(10))
        assert measured == pytest.approx(expected, rel=0.05)


def test_fill_stamp_shrinks_without_aliasing():
    """A pattern at the Nyquist frequency of the input (period 2 pixels) cannot be shown
    on the coarser output grid: shrinking must average it away (a Gaussian prefilter
    attenuates it by exp(-pi^2 s^2 / 2) ~ 1e-3 at zoom 0.4), not alias it into ripples as
    point sampling does (the bilinear resampling alone leaves ripples of ~70 % of the peak)."""
    from galprior.lensing.mocks import fill_stamp

    yy, xx = np.mgrid[:64, :64].astype(float)
    smooth = np.exp(-((xx - 31.5) ** 2 + (yy - 31.5) ** 2) / (2 * 11.0**2))
    striped = smooth * (1 + 0.8 * np.cos(np.pi * xx))
    a, b = fill_stamp(smooth, 1 / 3, denoise=False), fill_stamp(striped, 1 / 3, denoise=False)
    assert np.abs(a - b).max() < 0.03


def test_showcase_order_puts_the_smoothest_then_the_most_structured_source_first():
    from galprior.lensing.products import showcase_order, substructure

    yy, xx = np.mgrid[:32, :32] - 15.5
    smooth = np.exp(-(xx**2 + yy**2) / (2 * 5.0**2))
    knotty = smooth * (1 + 0.8 * np.sin(xx * 1.5) * np.sin(yy * 1.5))
    medium = smooth * (1 + 0.2 * np.sin(xx * 0.9))
    sources = np.stack([medium, knotty, smooth])
    score = substructure(sources)
    assert score[2] < score[0] < score[1]
    assert showcase_order(sources).tolist() == [2, 1, 0]


class _Galaxies:
    """The three things chianese_mock_set reads from a GalaxySet."""

    def __init__(self, images):
        self.images, self.attrs = images, {"source": "test"}

    def __len__(self):
        return len(self.images)


def test_chianese_mocks_redraw_undetectable_systems(default_prior, defaults, smooth_source):
    """require_detection: no mock keeps an empty eq. 25 mask (S/N 0); a noise level at which
    nothing can be detected is refused with a clear error instead of looping."""
    from galprior.lensing.products import chianese_mock_set

    galaxies = _Galaxies(np.stack([smooth_source] * 3))
    options = {**defaults["chianese"]["mocks"], "n_systems": 3, "n_pix": 128, "pixel_scale": 0.08}
    mocks = chianese_mock_set(galaxies, **{**options, "noise_sigma": [0.333, 0.1]}, prior=default_prior, seed=3)
    assert (mocks.snr > 0).all()
    assert mocks.attrs["parameter_convention"] == "chianese2020"
    with pytest.raises(ValueError, match="no detectable draw"):
        chianese_mock_set(galaxies, **{**options, "noise_sigma": [50.0]}, prior=default_prior, seed=3,
                          max_redraws=2)
    kept = chianese_mock_set(galaxies, **{**options, "noise_sigma": [50.0], "require_detection": False},
                             prior=default_prior, seed=3)
    assert (kept.snr == 0).all()


def test_mock_sources_are_the_noiseless_truth_where_one_is_known():
    """A galaxy with a noiseless truth is used as it is (unit peak, no denoising, no floor),
    shrunk only when a fill fraction is given; without one, the noisy stamp is denoised."""
    from galprior.lensing.mocks import clean_source_image, fill_stamp, mock_source

    rows, cols = np.indices((32, 32))
    truth = 3.0 * np.exp(-((rows - 15.5) ** 2 + (cols - 15.5) ** 2) / (2 * 4.0**2))
    noisy = truth + np.random.default_rng(0).normal(0, 0.05, truth.shape)
    np.testing.assert_allclose(mock_source(noisy, truth, None), truth / truth.max(), atol=1e-12)
    np.testing.assert_allclose(mock_source(noisy, truth, 1 / 3), fill_stamp(truth, 1 / 3, denoise=False), atol=1e-12)
    np.testing.assert_allclose(mock_source(noisy, None, None), clean_source_image(noisy), atol=1e-12)
    assert mock_source(noisy, truth, None)[0, 0] < 1e-6 < clean_source_image(noisy)[:4, :4].max()
