"""Signal-to-noise ratio of an observed lensed image (Chianese et al. 2020 eqs. 24-25).

Why our own code: a few lines of batched torch next to the simulator.

Eq. 25: the mask m selects the pixels where the OBSERVED image (noise included),
convolved with a circular Gaussian G of standard deviation ``mask_sigma = 0.16`` arcsec
(four 0.04" pixels), exceeds the noise level:

    m_ij = 1 if (G * I_obs)_ij > sigma_noise, else 0.

Eq. 24 (O'Riordan et al. 2019):

    S/N = sum_ij m_ij I_obs,ij / (sigma_noise sqrt(sum_ij m_ij)),

the summed masked flux over the noise of that sum. An empty mask gives S/N = 0 (the
paper does not say; 0/0 is undefined). The Gaussian is sampled on the pixel grid and
normalised to unit sum (:func:`galprior.lensing.func.instrument.gaussian_psf`); the
convolution is zero-padded (:func:`galprior.lensing.func.instrument.fft_convolve`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .instrument import fft_convolve, gaussian_psf

__all__ = ["snr_mask", "signal_to_noise", "masked_signal_to_noise"]


def snr_mask(observation: Tensor, sigma_noise: Tensor | float, pixel_scale: float,
             mask_sigma: float = 0.16) -> Tensor:
    """Eq. 25: boolean mask m of shape (..., H, W), (G * I_obs) > sigma_noise.

    Parameters
    ----------
    observation: observed image I_obs (with its noise), shape (..., H, W). Unit: flux.
    sigma_noise: noise level, scalar or broadcastable to (..., 1, 1). Unit: flux.
    pixel_scale: Unit: arcsec.
    mask_sigma: standard deviation of the Gaussian G. Unit: arcsec (paper 0.16).
    """
    kernel = gaussian_psf(mask_sigma, pixel_scale, dtype=observation.dtype, device=observation.device)
    return fft_convolve(observation, kernel) > sigma_noise


def masked_signal_to_noise(observation: Tensor, mask: Tensor, sigma_noise: Tensor | float) -> Tensor:
    """Eq. 24 for a given mask: sum(m I_obs) / (sigma sqrt(sum m)), shape (...); 0 if the
    mask is empty. ``sigma_noise``: scalar or broadcastable to (...)."""
    sigma = torch.as_tensor(sigma_noise, dtype=observation.dtype, device=observation.device)
    m = mask.to(observation.dtype)
    n = m.sum(dim=(-2, -1))
    signal = (observation * m).sum(dim=(-2, -1))
    return torch.where(n > 0, signal / (sigma * n.clamp_min(1.0).sqrt()), torch.zeros_like(signal))


def signal_to_noise(observation: Tensor, sigma_noise: Tensor | float, pixel_scale: float,
                    mask_sigma: float = 0.16) -> Tensor:
    """Eqs. 24-25: S/N of observed images (..., H, W) -> (...).

    ``sigma_noise``: scalar or broadcastable to the leading shape (...).
    """
    sigma = torch.as_tensor(sigma_noise, dtype=observation.dtype, device=observation.device)
    mask = snr_mask(observation, sigma[..., None, None] if sigma.ndim else sigma, pixel_scale, mask_sigma)
    return masked_signal_to_noise(observation, mask, sigma_noise)
