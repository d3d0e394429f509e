"""Sampling the Flow-VAE: latents from the conditional flow, light profiles, observations.

- :func:`sample_light_profiles`: ``z ~ p(z | y)`` from the latent flow, then the
  decoder: noise-free, PSF-deconvolved profiles (Fig. 1 bottom row).
- :func:`observe`: a profile as a given galaxy's instrument would see it, convolved
  with that galaxy's PSF plus a noise draw with its noise power spectrum (Fig. 1
  middle row; sec. 4.4 "drawn with the same PSF and matching noise").
- :func:`reconstruct`: the VAE's reconstruction of observed stamps (posterior mean),
  for Fig. 5.

All draws are reproducible from ``seed`` (the global torch RNG is forked).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from galprior.models.flowvae import likelihood as lk
from galprior.models.flowvae.flow import LatentFlow
from galprior.models.flowvae.network import FlowVAE


@torch.no_grad()
def sample_latents(flow: LatentFlow, conditions: np.ndarray, seed: int,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """One latent per row of ``conditions`` ``(N, 3)`` (mag, hlr in arcsec, redshift)."""
    flow.eval().to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        y = torch.as_tensor(np.asarray(conditions, np.float32), device=device)
        return flow.sample(y).cpu().numpy()


@torch.no_grad()
def decode_latents(vae: FlowVAE, latents: np.ndarray, batch_size: int = 256,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Light profiles ``(N, S, S)`` (e-/s per pixel) decoded from ``(N, latent_dim)``, batched."""
    vae.eval().to(device)
    z = torch.as_tensor(np.asarray(latents, np.float32))
    out = [vae.decode(z[i:i + batch_size].to(device)).cpu()
           for i in range(0, len(z), batch_size)]
    if not out:
        return np.zeros((0, vae.image_size, vae.image_size), np.float32)
    return torch.cat(out).numpy()


def sample_light_profiles(vae: FlowVAE, flow: LatentFlow, conditions: np.ndarray, seed: int,
                          device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """``(profiles (N, S, S), latents (N, d))`` conditioned on each row of ``conditions``."""
    latents = sample_latents(flow, conditions, seed, device)
    return decode_latents(vae, latents, device=device), latents


@torch.no_grad()
def observe(profiles: np.ndarray, psf: np.ndarray, noise_power: np.ndarray,
            seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, noiseless)`` observations of profiles with each galaxy's PSF and noise."""
    convolved = lk.convolve_psf(torch.as_tensor(np.asarray(profiles, np.float64)),
                                torch.as_tensor(np.asarray(psf, np.float64)))
    generator = torch.Generator().manual_seed(seed)
    noise = lk.sample_noise(torch.as_tensor(np.asarray(noise_power, np.float64)), generator)
    return (convolved + noise).float().numpy(), convolved.float().numpy()


@torch.no_grad()
def reconstruct(vae: FlowVAE, images: Tensor, psf: Tensor,
                device: torch.device | str = "cpu", batch_size: int = 256) -> np.ndarray:
    """Deconvolved profiles ``g(E[z | x])`` of observed ``(N, S, S)`` stamps."""
    vae.eval().to(device)
    out = []
    for i in range(0, len(images), batch_size):
        mean, _ = vae.encode(images[i:i + batch_size].to(device), psf[i:i + batch_size].to(device))
        out.append(vae.decode(mean).cpu())
    return torch.cat(out).numpy()
