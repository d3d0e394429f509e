"""PSF convolution, pooling, noise and S/N against independent computations."""

import numpy as np
import pytest
import torch
from scipy.signal import fftconvolve

from galprior.lensing.func import add_gaussian_noise, avg_pool, fft_convolve, gaussian_psf, signal_to_noise, snr_mask
from galprior.lensing.func.snr import masked_signal_to_noise


def test_gaussian_psf_normalised_and_centred():
    k = gaussian_psf(0.05, 0.04)
    assert k.shape == (11, 11)
    assert abs(float(k.sum()) - 1) < 1e-12
    assert k.argmax() == 5 * 11 + 5


def test_fft_convolve_matches_scipy():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(3, 20, 17))
    for kernel in (gaussian_psf(0.05, 0.04).numpy(), rng.normal(size=(4, 6))):
        ours = fft_convolve(torch.tensor(img), torch.tensor(kernel)).numpy()
        ref = np.stack([fftconvolve(im, kernel, mode="same") for im in img])
        assert np.abs(ours - ref).max() < 1e-12


def test_avg_pool_matches_reshape_mean():
    rng = np.random.default_rng(1)
    img = rng.normal(size=(2, 3, 12, 8))
    ours = avg_pool(torch.tensor(img), 4).numpy()
    ref = img.reshape(2, 3, 3, 4, 2, 4).mean(axis=(3, 5))
    assert np.abs(ours - ref).max() < 1e-14


def test_noise_is_seeded_and_scaled():
    img = torch.zeros(4, 64, 64, dtype=torch.float64)
    a = add_gaussian_noise(img, 0.3, seed=5)
    b = add_gaussian_noise(img, 0.3, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
    assert abs(float(a.std()) - 0.3) < 0.01
    assert not torch.equal(a, add_gaussian_noise(img, 0.3, seed=6))


def test_snr_eq24_on_a_hand_made_image_and_mask():
    """Chianese eq. 24 on a mask written by hand: sum(m I) / (sigma sqrt(sum m))."""
    img = torch.zeros(6, 6, dtype=torch.float64)
    img[2, 2], img[2, 3], img[3, 2], img[0, 0] = 3.0, 1.0, -0.5, 7.0
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[2:4, 2:4] = True  # 4 pixels holding 3 + 1 - 0.5 + 0 = 3.5; the 7 outside is ignored
    sigma = 0.25
    assert float(masked_signal_to_noise(img, mask, sigma)) == pytest.approx(3.5 / (0.25 * 2.0), abs=1e-12)
    assert float(masked_signal_to_noise(img, torch.zeros_like(mask), sigma)) == 0.0  # empty mask


def test_snr_eq25_mask_from_the_blurred_observation():
    """Eq. 25: the mask thresholds G(0.16") * I_obs at sigma; eq. 24 then sums I_obs in it."""
    pix = 0.04
    img = torch.zeros(15, 15, dtype=torch.float64)
    img[7, 7], img[7, 8] = 2.0, 1.0
    img[0, 14] = -0.3  # a negative noise pixel far away: below threshold
    sigma = 0.01
    kernel = gaussian_psf(0.16, pix).numpy()  # 4 pixels sd, unit sum
    blurred = fftconvolve(img.numpy(), kernel, mode="same")
    mask = blurred > sigma
    assert 2 < mask.sum() < mask.size
    expected = img.numpy()[mask].sum() / (sigma * np.sqrt(mask.sum()))
    assert np.array_equal(snr_mask(img, sigma, pix).numpy(), mask)
    assert float(signal_to_noise(img, sigma, pix)) == pytest.approx(expected, rel=1e-12)
    assert float(signal_to_noise(img, sigma, pix)) == pytest.approx(3.0 / (sigma * np.sqrt(mask.sum())), rel=1e-12)
    # batched over noise levels: (1, L, H, W) observations and (L,) sigmas
    snr = signal_to_noise(img[None, None].expand(1, 2, -1, -1), torch.tensor([sigma, 2 * sigma], dtype=torch.float64), pix)
    assert snr.shape == (1, 2) and float(snr[0, 0]) == pytest.approx(expected, rel=1e-12)
    assert float(snr[0, 1]) < float(snr[0, 0])
