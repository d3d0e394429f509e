"""The physical part of the Flow-VAE of Lanusse et al. 2021: PSF, noise, and the loss terms.

Pure, batched torch functions (no module state):

- :func:`convolve_psf`: ``Pi_i * I_i`` of eq. (1)-(2), a linear (zero-padded) FFT
  convolution of each light profile with its own PSF image.
- :func:`fourier_log_likelihood`: eq. (5), Gaussian noise diagonal in Fourier space,
  ``-1/2 sum_k |F(x - Pi * g(z))_k|^2 / P_k``, with ``P_k = E|F(n)_k|^2`` the noise power
  spectrum of the stamp (unnormalised DFT, so white noise of variance ``s^2`` on ``N``
  pixels has ``P_k = N s^2``).
- :func:`pixel_log_likelihood`: eq. (4), the diagonal pixel-space alternative (the one
  the paper's results use, sec. 4.2.1).
- :func:`kl_per_dimension`, :func:`kl_to_standard_normal`: the KL term of eq. (9).
- :func:`free_bits_kl`: the free-bits penalty ``max(lambda, KL)`` of eq. (10), in its two
  readings (``KL_REDUCTIONS``: the summed KL as printed, or the authors' code's mean KL
  per latent dimension).
- :func:`total_variation`: ``TV(x) = ||grad x||_1`` (footnote 9), anisotropic forward
  differences.

Both likelihoods drop the normalisation constant, as the paper's ``+ cst``.
Units: images and light profiles in the image unit (e-/s per pixel); noise power in
the image unit squared times pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor


def pad_or_crop(image: Tensor, size: int) -> Tensor:
    """Centre ``(..., P, P)`` images on ``(..., size, size)`` (zero pad or crop).

    The pixel ``(P // 2, P // 2)`` lands on ``(size // 2, size // 2)``.
    """
    p = image.shape[-1]
    if p == size:
        return image
    if p > size:
        lo = p // 2 - size // 2
        return image[..., lo:lo + size, lo:lo + size]
    lo = size // 2 - p // 2
    out = image.new_zeros(*image.shape[:-2], size, size)
    out[..., lo:lo + p, lo:lo + p] = image
    return out


def convolve_psf(image: Tensor, psf: Tensor) -> Tensor:
    """Linear convolution of ``(B, H, W)`` light profiles with ``(B, P, P)`` PSF images.

    The PSF is centred on pixel ``(P // 2, P // 2)`` and sums to 1 (flux conserving).
    Both are zero-padded to twice the stamp side before the FFT, so nothing wraps
    around; the result is the central ``(H, W)`` (same grid as ``image``), i.e.
    ``out[y, x] = sum_{u, v} psf[u, v] image[y - u + P//2, x - v + P//2]``.
    """
    h, w = image.shape[-2:]
    if h != w:
        raise ValueError(f"convolve_psf needs square stamps, got {tuple(image.shape[-2:])}")
    m = 2 * h
    kernel = pad_or_crop(psf, m)
    kernel = torch.roll(kernel, shifts=(-(m // 2), -(m // 2)), dims=(-2, -1))
    padded = image.new_zeros(*image.shape[:-2], m, m)
    padded[..., :h, :w] = image
    out = torch.fft.irfft2(torch.fft.rfft2(padded) * torch.fft.rfft2(kernel), s=(m, m))
    return out[..., :h, :w]


def fourier_log_likelihood(residual: Tensor, noise_power: Tensor) -> Tensor:
    """Eq. (5): ``-1/2 sum_k |F(r)_k|^2 / P_k`` per image, without the constant.

    Args:
        residual: ``(B, H, W)`` data minus PSF-convolved model. Unit: image unit.
        noise_power: ``(B, H, W)`` or ``(H, W)`` noise power spectrum ``E|F(n)_k|^2``
            in numpy's unshifted FFT order. Unit: image unit^2 x pixels.
    """
    power = torch.fft.fft2(residual).abs().pow(2)
    return -0.5 * (power / noise_power).flatten(-2).sum(-1)


def pixel_log_likelihood(residual: Tensor, noise_variance: Tensor) -> Tensor:
    """Eq. (4) with a diagonal covariance: ``-1/2 sum_i r_i^2 / s_i^2`` per image.

    ``noise_variance`` is per image ``(B,)`` or per pixel ``(B, H, W)``.
    """
    if noise_variance.ndim == 1:
        noise_variance = noise_variance[:, None, None]
    return -0.5 * (residual.pow(2) / noise_variance).flatten(-2).sum(-1)


def kl_per_dimension(mean: Tensor, log_std: Tensor) -> Tensor:
    """``KL(N(mean, exp(2 log_std)) || N(0, 1))`` of each latent dimension, ``(B, D)``.

    Unit: nats (natural logarithm).
    """
    return 0.5 * (mean.pow(2) + (2 * log_std).exp() - 1.0 - 2 * log_std)


def kl_to_standard_normal(mean: Tensor, log_std: Tensor) -> Tensor:
    """Per-sample ``KL(N(mean, diag(exp(2 log_std))) || N(0, I))``, ``(B,)``. Unit: nats."""
    return kl_per_dimension(mean, log_std).sum(-1)


KL_REDUCTIONS = ("sum", "mean")
"""How eq. (10) reduces the KL over the latent dimensions (see :func:`free_bits_kl`)."""


def free_bits_kl(kl_dims: Tensor, free_bits: float, reduction: str) -> Tensor:
    """Eq. (10): the free-bits penalty ``max(lambda, KL)`` per sample, ``(B,)``.

    Below ``lambda`` the penalty is constant, so its gradient vanishes: the encoder may
    spend that much information on each galaxy for free.

    Args:
        kl_dims: ``(B, D)`` KL of each latent dimension (:func:`kl_per_dimension`). Unit: nats.
        free_bits: ``lambda``. Unit: nats (the paper says "bits" without a unit; the KL of
            its eq. 9 and of the authors' code is in nats).
        reduction: how the KL is reduced over the ``D`` dimensions before the maximum.

            - ``"sum"``: ``max(lambda, sum_d KL_d)``, eq. (10) as printed: ``lambda`` nats
              for the whole latent vector, the KL at weight 1 as in the ELBO (eq. 9).
            - ``"mean"``: ``max(lambda, (1/D) sum_d KL_d)``, what the authors' released
              code computes: galaxy2galaxy's ``ContinuousAutoencoderResidualVAE``
              inherits tensor2tensor's ``AutoencoderResidualVAE.bottleneck``, where
              ``kl = 0.5 * reduce_mean(expm1(log_var) + mu^2 - log_var, axis=-1)`` (the
              mean over latent dimensions), ``free_bits = z_size // 4`` (4 for the
              paper's 16 dimensions: Table 1's "Free-bits 4") and the loss is
              ``max(kl - free_bits, 0)``, the same gradient as ``max(lambda, kl)``. So
              ``lambda`` nats per dimension on average (``D * lambda`` in all), and above
              it the KL enters at weight ``1 / D``.
    """
    if reduction == "sum":
        kl = kl_dims.sum(-1)
    elif reduction == "mean":
        kl = kl_dims.mean(-1)
    else:
        raise ValueError(f"free bits: kl_reduction {reduction!r} is not one of {KL_REDUCTIONS}")
    return torch.clamp(kl, min=free_bits)


def total_variation(image: Tensor) -> Tensor:
    """``||grad x||_1`` per ``(..., H, W)`` image, with forward differences (footnote 9)."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().flatten(-2).sum(-1)
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().flatten(-2).sum(-1)
    return dx + dy


def noise_power_from_correlation(noise_variance: Tensor, correlation: Tensor | None,
                                 size: int) -> Tensor:
    """Noise power spectrum ``P_k = N * DFT(c)_k`` of a stationary noise on ``size^2`` pixels.

    ``c`` is the covariance at each pixel lag, ``noise_variance * correlation`` with
    ``correlation`` the normalised correlation function on a ``(2k+1, 2k+1)`` grid of
    lags centred on ``(k, k)`` (None: white noise), wrapped onto the periodic grid.
    For a circulant covariance ``C``, ``E|F(n)_k|^2 = N lambda_k(C)``.
    Returns ``(B, size, size)`` for ``(B,)`` variances.
    """
    variance = torch.as_tensor(noise_variance, dtype=torch.float64).reshape(-1)
    if correlation is None:
        return (variance * size * size)[:, None, None].expand(-1, size, size).clone()
    corr = pad_or_crop(torch.as_tensor(correlation, dtype=torch.float64), size)
    corr = torch.roll(corr, shifts=(-(size // 2), -(size // 2)), dims=(-2, -1))
    spectrum = torch.fft.fft2(corr).real.clamp_min(1e-12 * corr.abs().max())
    return variance[:, None, None] * size * size * spectrum


def crop_noise_power(noise_power: Tensor, size: int) -> Tensor:
    """Noise power spectrum of the central ``(size, size)`` crop of a stationary noise.

    The covariance at each lag is the inverse DFT of ``P / N``; the lags of the crop
    (``|l| < size / 2``) are re-wrapped on the smaller periodic grid. Exact for white
    noise and for correlation lengths well below ``size / 2``.
    """
    n = noise_power.shape[-1]
    if n == size:
        return noise_power
    cov = torch.fft.ifft2(noise_power.to(torch.float64)).real / (n * n)
    cov = torch.fft.fftshift(cov, dim=(-2, -1))  # zero lag at (n // 2, n // 2)
    cov = pad_or_crop(cov, size)
    cov = torch.roll(cov, shifts=(-(size // 2), -(size // 2)), dims=(-2, -1))
    floor = 1e-12 * cov.flatten(-2).abs().amax(-1)[..., None, None]
    spectrum = torch.fft.fft2(cov).real.clamp_min(0) + floor
    return (size * size * spectrum).to(noise_power.dtype)


def sample_noise(noise_power: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A Gaussian noise realisation with power spectrum ``noise_power`` ``(B, H, W)``.

    ``n = F^-1(sqrt(P / N) F(w))`` for white unit-variance ``w``, so ``E|F(n)_k|^2 = P_k``.
    """
    n_pix = noise_power.shape[-1] * noise_power.shape[-2]
    white = torch.randn(noise_power.shape, generator=generator, dtype=torch.float64)
    amplitude = (noise_power.to(torch.float64) / n_pix).sqrt()
    return torch.fft.ifft2(amplitude * torch.fft.fft2(white)).real.to(noise_power.dtype)
