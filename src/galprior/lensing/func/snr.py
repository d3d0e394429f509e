"""Signal-to-noise ratio of a lensed image (Chianese et al. 2020 eqs. 24-25).

Why our own code: a few lines of batched torch next to the simulator.

Definition used (the paper's text could not be retrieved while writing this; this
is the brief's reading of eqs. 24-25): the mask M is the set of pixels where the
*noiseless* observation convolved with a circular Gaussian of
``mask_sigma = 0.16`` arcsec exceeds the noise level ``sigma_noise``, and

    S/N = sqrt( sum_{ij in M} I_ij^2 ) / sigma_noise

with I the noiseless observation (not the blurred one).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .instrument import fft_convolve, gaussian_psf

__all__ = ["snr_mask", "signal_to_noise"]


def snr_mask(image: Tensor, sigma_noise: Tensor | float, pixel_scale: float, mask_sigma: float = 0.16) -> Tensor:
    """Boolean mask M of shape (..., H, W): blurred noiseless image > sigma_noise.

    Parameters
    ----------
    image: noiseless observation, shape (..., H, W). Unit: flux.
    sigma_noise: noise level, scalar or broadcastable to (..., 1, 1). Unit: flux.
    pixel_scale: Unit: arcsec.
    mask_sigma: blur for the mask. Unit: arcsec.
    """
    kernel = gaussian_psf(mask_sigma, pixel_scale, dtype=image.dtype, device=image.device)
    return fft_convolve(image, kernel) > sigma_noise


def signal_to_noise(
    image: Tensor, sigma_noise: Tensor | float, pixel_scale: float, mask_sigma: float = 0.16
) -> Tensor:
    """S/N = sqrt(sum over M of I^2) / sigma_noise, shape (...)."""
    sigma = torch.as_tensor(sigma_noise, dtype=image.dtype, device=image.device)
    mask = snr_mask(image, sigma[..., None, None] if sigma.ndim else sigma, pixel_scale, mask_sigma)
    power = (image.square() * mask).sum(dim=(-2, -1))
    return power.sqrt() / sigma
