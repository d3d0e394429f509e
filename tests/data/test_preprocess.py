"""Crops, flux-conserving resampling, normalisation, the Chianese S/N and cuts."""

import numpy as np
import pytest

from galprior.data.preprocess import (RawStamp, block_mean, chianese_snr, chianese_stamp,
                                      crop_to_square, fit_psf, normalise_by_max,
                                      resample_area, resampled_noise_variance,
                                      select_chianese)


def test_crop_to_square_is_centred():
    image = np.arange(6 * 10).reshape(6, 10)
    out = crop_to_square(image)
    assert out.shape == (6, 6)
    np.testing.assert_array_equal(out, image[:, 2:8])


def test_resample_conserves_flux_and_shape():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(90, 90))
    out = resample_area(image, 64)
    assert out.shape == (64, 64)
    assert out.sum() == pytest.approx(image.sum(), rel=1e-12)


def test_resample_integer_factor_is_block_sum():
    image = np.random.default_rng(1).normal(size=(8, 8))
    expected = image.reshape(4, 2, 4, 2).sum(axis=(1, 3))
    np.testing.assert_allclose(resample_area(image, 4), expected, atol=1e-12)


def test_resampled_white_noise_variance_matches_monte_carlo():
    rng = np.random.default_rng(2)
    noise = rng.normal(size=(200, 90, 90))
    measured = np.mean([resample_area(n, 64).var() for n in noise])
    assert resampled_noise_variance(1.0, 90, 64) == pytest.approx(measured, rel=0.03)


def test_resampled_correlated_noise_variance_matches_monte_carlo():
    rng = np.random.default_rng(3)
    white = rng.normal(size=(300, 66, 66))
    field = (white[:, 1:-1, 1:-1] + white[:, 2:, 1:-1]) / np.sqrt(2)  # xi(dy=+-1) = 0.5
    xi = np.zeros((3, 3))
    xi[1, 1], xi[0, 1], xi[2, 1] = 1.0, 0.5, 0.5
    measured = np.mean([resample_area(f, 32).var() for f in field])
    assert resampled_noise_variance(1.0, 64, 32, xi) == pytest.approx(measured, rel=0.05)
    assert resampled_noise_variance(1.0, 64, 32, xi) > resampled_noise_variance(1.0, 64, 32)


def test_normalise_by_max():
    image = np.array([[1.0, 4.0], [2.0, -1.0]])
    out, peak = normalise_by_max(image)
    assert peak == 4.0 and out.max() == 1.0
    with pytest.raises(ValueError, match="maximum"):
        normalise_by_max(-np.ones((2, 2)))


def test_chianese_snr_by_hand():
    image = np.zeros((8, 8))
    image[0:4, 4:8] = 2.0  # one 4x4 block of mean 2
    image[4, 4] = 16.0  # one pixel: block mean 1
    assert block_mean(image, 4).shape == (2, 2)
    assert chianese_snr(image, noise_std=0.5) == pytest.approx(2.0 / 0.5)


def test_select_chianese_counts_each_galaxy_once():
    sizes = np.array([32, 64, 64, 64, 100])
    snr = np.array([np.nan, 10.0, 20.0, 60.0, 50.0])
    keep, counts = select_chianese(sizes, snr, min_stamp_size=64, snr_min=15, snr_max=50)
    np.testing.assert_array_equal(keep, [False, False, True, False, True])
    assert counts == {"stamp_too_small": 1, "snr_too_low": 1, "snr_too_high": 1, "kept": 2}


def test_fit_psf_keeps_centre_and_sum():
    psf = np.zeros((9, 9))
    psf[4, 4] = 3.0
    out = fit_psf(psf, 16)
    assert out.shape == (16, 16) and out.sum() == pytest.approx(1.0)
    assert out[8, 8] == pytest.approx(1.0)
    assert fit_psf(out, 4)[2, 2] == pytest.approx(1.0)


def test_chianese_stamp_scales_image_noise_and_truth_alike():
    rng = np.random.default_rng(4)
    y, x = np.indices((96, 128))
    truth = 5 * np.exp(-((y - 47.5) ** 2 + (x - 63.5) ** 2) / (2 * 6.0**2))
    psf = np.zeros((33, 33))
    psf[16, 16] = 1
    stamp = RawStamp(ident=7, image=truth + rng.normal(scale=0.1, size=truth.shape),
                     noiseless=truth, psf=psf, noise_variance=0.01, noise_correlation=None,
                     pixel_scale=0.03, mag=22.0, half_light_radius=0.2, flux_radius=0.2,
                     redshift=1.0)
    out, snr = chianese_stamp(stamp, output_size=64, psf_size=16)
    ratio = 96 / 64
    assert out.image.shape == (64, 64) and out.image.max() == pytest.approx(1.0)
    peak = resample_area(crop_to_square(stamp.image), 64).max()
    np.testing.assert_allclose(out.noiseless * peak,
                               resample_area(crop_to_square(truth), 64), rtol=1e-10)
    variance = 0.01 * 1.25**2  # each output pixel sums input weights (1, 0.5) per axis
    assert resampled_noise_variance(0.01, 96, 64) == pytest.approx(variance)
    assert out.noise_variance == pytest.approx(variance / peak**2, rel=1e-6)
    assert out.pixel_scale == pytest.approx(0.03 * ratio)
    assert out.psf.sum() == pytest.approx(1.0) and out.psf.shape == (16, 16)
    expected_snr = block_mean(resample_area(crop_to_square(stamp.image), 64)).max() \
        / np.sqrt(variance)
    assert snr == pytest.approx(expected_snr, rel=1e-6)
