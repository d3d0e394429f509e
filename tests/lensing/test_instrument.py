"""PSF convolution, pooling, noise and S/N against independent computations."""

import numpy as np
import torch
from scipy.signal import fftconvolve

from galprior.lensing.func import add_gaussian_noise, avg_pool, fft_convolve, gaussian_psf, signal_to_noise, snr_mask


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


def test_snr_hand_computation():
    """A single bright pixel: blurred by 0.16'' it exceeds sigma in a small disc."""
    pix = 0.08
    img = torch.zeros(9, 9, dtype=torch.float64)
    img[4, 4] = 2.0
    img[4, 5] = 1.0
    sigma = 0.05
    kernel = gaussian_psf(0.16, pix).numpy()
    blurred = fftconvolve(img.numpy(), kernel, mode="same")
    mask = blurred > sigma
    expected = np.sqrt((img.numpy()[mask] ** 2).sum()) / sigma
    assert mask.sum() > 2 and not mask.all()
    assert np.array_equal(snr_mask(img, sigma, pix).numpy(), mask)
    assert abs(float(signal_to_noise(img, sigma, pix)) - expected) < 1e-10
    assert abs(expected - np.sqrt(5.0) / sigma) < 1e-10  # both bright pixels are in M
    # batched over noise levels: (1, L, H, W) image and (L,) sigmas
    snr = signal_to_noise(img[None, None].expand(1, 2, -1, -1), torch.tensor([sigma, 2 * sigma], dtype=torch.float64), pix)
    assert snr.shape == (1, 2) and abs(float(snr[0, 0]) - expected) < 1e-10
