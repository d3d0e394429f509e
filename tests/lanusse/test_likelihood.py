"""The physical part of the Flow-VAE: PSF convolution against GalSim, the Fourier-space
likelihood against pixel-space computations, free bits and TV against hand computations."""

import galsim
import numpy as np
import pytest
import torch

from galprior.data.preprocess import noise_power_spectrum
from galprior.models.flowvae import likelihood as lk


def _draw(profile, n, scale):
    return profile.drawImage(nx=n, ny=n, scale=scale, method="no_pixel",
                             use_true_center=False).array


@pytest.mark.parametrize("psf_offset", [(0.0, 0.0), (0.06, -0.03)])
def test_psf_convolution_matches_galsim(psf_offset):
    scale, n, p = 0.03, 48, 25
    galaxy = galsim.Gaussian(sigma=0.12, flux=3.0).shear(g1=0.3, g2=-0.1).shift(0.05, 0.02)
    psf = galsim.Gaussian(sigma=0.07).shift(*psf_offset)  # an off-centre PSF tests orientation
    psf_image = _draw(psf, p, scale)
    ours = lk.convolve_psf(torch.tensor(_draw(galaxy, n, scale))[None],
                           torch.tensor(psf_image / psf_image.sum())[None])[0].numpy()
    accurate = galsim.GSParams(folding_threshold=1e-6, maxk_threshold=1e-7)
    reference = _draw(galsim.Convolve(galaxy, psf, gsparams=accurate), n, scale)
    # the stamp edge lacks the light of the galaxy's tail outside the stamp: compare inside
    np.testing.assert_allclose(ours[6:-6, 6:-6], reference[6:-6, 6:-6],
                               atol=1e-5 * reference.max())
    assert ours.sum() == pytest.approx(reference.sum(), rel=1e-4)


def test_fourier_likelihood_equals_pixel_likelihood_for_white_noise():
    rng = np.random.default_rng(1)
    residual = rng.normal(size=(3, 16, 16)) * 0.5
    variance = np.array([0.2, 1.0, 3.0])
    power = np.stack([noise_power_spectrum(v, None, (16, 16)) for v in variance])
    fourier = lk.fourier_log_likelihood(torch.tensor(residual), torch.tensor(power)).numpy()
    pixel = -0.5 * (residual**2).sum(axis=(1, 2)) / variance  # eq. 4 by hand
    np.testing.assert_allclose(fourier, pixel, rtol=1e-10)
    np.testing.assert_allclose(
        lk.pixel_log_likelihood(torch.tensor(residual), torch.tensor(variance)).numpy(), pixel)


def test_fourier_likelihood_equals_dense_covariance_for_correlated_noise():
    """Eq. 5 with the stored power spectrum = -1/2 r^T C^-1 r with C the circulant covariance."""
    n, variance = 8, 0.7
    corr = np.array([[0.02, 0.05, 0.02], [0.15, 1.0, 0.15], [0.02, 0.05, 0.02]])
    cov = np.zeros((n * n, n * n))
    for i in range(n * n):
        yi, xi = divmod(i, n)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                j = ((yi + dy) % n) * n + (xi + dx) % n
                cov[i, j] += variance * corr[dy + 1, dx + 1]
    residual = np.random.default_rng(2).normal(size=(n, n))
    dense = -0.5 * residual.ravel() @ np.linalg.solve(cov, residual.ravel())
    power = noise_power_spectrum(variance, corr, (n, n))
    fourier = lk.fourier_log_likelihood(torch.tensor(residual)[None], torch.tensor(power)[None])
    assert fourier.item() == pytest.approx(dense, rel=1e-9)


def test_sampled_noise_has_the_requested_power_spectrum():
    corr = np.array([[0.0, 0.2, 0.0], [0.3, 1.0, 0.3], [0.0, 0.2, 0.0]])
    power = torch.tensor(noise_power_spectrum(2.0, corr, (16, 16)))
    noise = lk.sample_noise(power.expand(4000, 16, 16).clone(), torch.Generator().manual_seed(0))
    empirical = torch.fft.fft2(noise).abs().pow(2).mean(0)
    assert (empirical / power).mean().item() == pytest.approx(1.0, abs=0.01)
    assert noise.var().item() == pytest.approx(2.0, rel=0.02)


def test_crop_noise_power_is_exact_for_white_noise_and_keeps_the_variance():
    white = torch.tensor(noise_power_spectrum(0.3, None, (32, 32)))[None]
    np.testing.assert_allclose(lk.crop_noise_power(white, 16).numpy(),
                               noise_power_spectrum(0.3, None, (16, 16))[None], rtol=1e-9)
    corr = np.array([[0.0, 0.1, 0.0], [0.15, 1.0, 0.15], [0.0, 0.1, 0.0]])
    full = torch.tensor(noise_power_spectrum(0.3, corr, (32, 32)))[None]
    np.testing.assert_allclose(lk.crop_noise_power(full, 16).numpy(),
                               noise_power_spectrum(0.3, corr, (16, 16))[None], rtol=1e-9)


def test_free_bits_against_hand_computation():
    kl = torch.tensor([[0.5, 0.0], [3.0, 0.99], [2.0, 1.5], [7.0, 0.25]], requires_grad=True)
    penalty = lk.free_bits_kl(kl, 4.0, "sum")  # eq. 10 as printed: max(4, KL_1 + KL_2)
    assert penalty.tolist() == [4.0, 4.0, 4.0, 7.25]
    penalty.sum().backward()
    assert kl.grad.tolist() == [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]


def test_free_bits_per_dimension_is_the_authors_code():
    """tensor2tensor's VAE bottleneck (galaxy2galaxy's Flow-VAE): kl = mean over dimensions,
    loss = max(kl - z_size // 4, 0). The "mean" reading has that gradient and differs from
    it by the constant lambda."""
    torch.manual_seed(0)
    mean, log_std = 3 * torch.randn(64, 16), torch.randn(64, 16)
    log_var = 2 * log_std
    t2t = torch.clamp(0.5 * (torch.expm1(log_var) + mean**2 - log_var).mean(-1) - 16 // 4, min=0)
    ours = lk.free_bits_kl(lk.kl_per_dimension(mean, log_std), 4.0, "mean")
    torch.testing.assert_close(ours, t2t + 4.0)
    assert 0 < int((t2t == 0).sum()) < 64  # both sides of the threshold are exercised
    # lambda per dimension on average = D lambda for the whole vector, at weight 1 / D
    summed = lk.free_bits_kl(lk.kl_per_dimension(mean, log_std), 16 * 4.0, "sum")
    torch.testing.assert_close(ours, summed / 16)
    kl = lk.kl_per_dimension(mean, log_std).requires_grad_()
    lk.free_bits_kl(kl, 4.0, "mean").sum().backward()
    above = kl.detach().mean(-1) > 4.0
    assert torch.all(kl.grad[above] == 1 / 16) and torch.all(kl.grad[~above] == 0)
    with pytest.raises(ValueError, match="kl_reduction 'max' is not one of"):
        lk.free_bits_kl(kl, 4.0, "max")


def test_kl_matches_torch_distributions():
    mean, log_std = torch.randn(5, 3), 0.3 * torch.randn(5, 3)
    q = torch.distributions.Normal(mean, log_std.exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(lk.kl_to_standard_normal(mean, log_std), expected)


def test_total_variation_by_hand():
    image = torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    # x differences: |1| + |2| + 0 + 0 = 3; y differences: |2| + |1| + |-1| = 4
    assert lk.total_variation(image).item() == 7.0


def test_dihedral_augmentation_keeps_the_likelihood_of_the_transformed_model():
    """Flipping / transposing stamp, PSF and noise power together is a symmetry of the
    observation model: the Fourier likelihood of the transformed model under the
    transformed data equals the original one, for an off-centre even-sided PSF and
    anisotropic correlated noise (a wrong PSF recentring or noise-power transform fails)."""
    from galprior.models.augment import apply_dihedral, random_dihedral
    from galprior.models.flowvae.training import dihedral_augment

    rng = np.random.default_rng(0)
    n, s, p = 16, 24, 10
    model = torch.tensor(rng.gamma(2.0, 1.0, size=(n, s, s)))
    psf = torch.zeros(n, p, p, dtype=torch.float64)
    psf[:, 1:, 1:] = torch.tensor(rng.uniform(size=(n, p - 1, p - 1))) ** 4  # lopsided, row / column 0 empty
    psf /= psf.sum((-2, -1), keepdim=True)
    kernel = np.zeros((s, s))
    kernel[:3, :2] = rng.normal(size=(3, 2))  # anisotropic: P(k1, k2) differs from P(-k1, k2) and P(k2, k1)
    power = torch.tensor(np.abs(np.fft.fft2(kernel)) ** 2 + 0.1).expand(n, s, s).contiguous()
    observed = lk.convolve_psf(model, psf) + lk.sample_noise(power, torch.Generator().manual_seed(1))
    before = lk.fourier_log_likelihood(observed - lk.convolve_psf(model, psf), power)

    obs_t, psf_t, power_t = dihedral_augment(observed, psf, power, torch.Generator().manual_seed(5))
    element = random_dihedral(n, torch.Generator().manual_seed(5))
    assert 0 < int(element.sum()) < 3 * n  # a mixture of transformed and untouched axes
    after = lk.fourier_log_likelihood(obs_t - lk.convolve_psf(apply_dihedral(model, element), psf_t), power_t)
    torch.testing.assert_close(after, before, rtol=1e-9, atol=1e-9)
    # the PSF must be recentred: without the roll the model is one pixel off
    unrolled = apply_dihedral(psf, element, "image")
    flipped = element[0] | element[1]
    off = lk.fourier_log_likelihood(obs_t - lk.convolve_psf(apply_dihedral(model, element), unrolled), power_t)
    assert torch.all(off[flipped] < before[flipped] - 1.0)
