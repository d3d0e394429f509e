"""Instrument response: Gaussian PSF, FFT convolution, pixel pooling, Gaussian noise.

Why our own code: batched torch versions with autograd, sharing one FFT of the kernel
across the batch; scipy's ``fftconvolve`` is numpy-only and caustics convolves one
image at a time.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["gaussian_psf", "fft_convolve", "avg_pool", "add_gaussian_noise"]


def gaussian_psf(
    sigma: float = 0.05,
    pixel_scale: float = 0.04,
    size: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """Pixel-centre-sampled circular Gaussian kernel normalised to unit sum.

    Parameters
    ----------
    sigma: standard deviation. Unit: arcsec.
    pixel_scale: pixel side. Unit: arcsec.
    size: odd kernel side in pixels; default ``2 * ceil(4 sigma / pixel_scale) + 1``.

    Returns
    -------
    Kernel of shape (size, size). Unit: unitless (sums to one).
    """
    if sigma <= 0:
        raise ValueError(f"psf sigma must be > 0, got {sigma}")
    if size is None:
        size = 2 * math.ceil(4.0 * sigma / pixel_scale) + 1
    c = (torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2) * pixel_scale
    g = torch.exp(-0.5 * (c / sigma) ** 2)
    k = g[:, None] * g[None, :]
    return (k / k.sum()).to(dtype)


def fft_convolve(image: Tensor, kernel: Tensor) -> Tensor:
    """Linear (zero-padded) convolution, 'same' output like ``scipy.signal.fftconvolve``.

    Parameters
    ----------
    image: shape (..., H, W).
    kernel: shape (kh, kw) or broadcastable (..., kh, kw).

    Returns
    -------
    Convolved image, shape (..., H, W), centred as scipy's ``mode='same'``.
    """
    h, w = image.shape[-2:]
    kh, kw = kernel.shape[-2:]
    fh, fw = h + kh - 1, w + kw - 1
    spec = torch.fft.rfft2(image, s=(fh, fw)) * torch.fft.rfft2(kernel, s=(fh, fw))
    full = torch.fft.irfft2(spec, s=(fh, fw))
    r0, c0 = (kh - 1) // 2, (kw - 1) // 2
    return full[..., r0 : r0 + h, c0 : c0 + w]


def avg_pool(image: Tensor, factor: int) -> Tensor:
    """Mean over non-overlapping factor x factor blocks, shape (..., H/f, W/f)."""
    if factor == 1:
        return image
    h, w = image.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"image shape {(h, w)} is not divisible by pooling factor {factor}")
    lead = image.shape[:-2]
    out = torch.nn.functional.avg_pool2d(image.reshape(-1, 1, h, w), factor)
    return out.reshape(*lead, h // factor, w // factor)


def add_gaussian_noise(
    image: Tensor,
    sigma: Tensor | float,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> Tensor:
    """image + sigma * N(0, 1) per pixel.

    Parameters
    ----------
    sigma: noise standard deviation, scalar or broadcastable (e.g. (B, 1, 1)).
        Unit: flux (same as the image).
    generator: torch random generator (on the image's device); or
    seed: used to make one if ``generator`` is None.
    """
    if generator is None and seed is not None:
        generator = torch.Generator(device=image.device).manual_seed(seed)
    noise = torch.randn(image.shape, generator=generator, dtype=image.dtype, device=image.device)
    return image + sigma * noise
