"""Applying the trained deblender: reconstructions, ellipticities, flow-prior latents.

- :func:`reconstruct`: decode ``z = μ`` of an encoder (training 1 or 2) for normalised inputs.
- :func:`band_fractions`: the colour head's band-flux shares (beyond the report).
- :func:`reconstruction_ellipticity`: denormalise (exact inverse of eq. 9), take the
  ``ellipticity_band`` and measure eqs. 12-13, as the labels were measured.
- Beyond the report, two ways to use the latent flow (fitted to the training-1 latent
  means) in place of the N(0, I) prior the encoder was trained against. The amortised
  posterior ``q(z|x) = N(μ, σ²)`` was fitted as ``∝ L(x|z) N(z; 0, I)``, so the posterior
  under the flow prior is ``∝ q(z|x) p_flow(z) / N(z; 0, I)`` (a prior swap):
  :func:`flow_map_latents` maximises it by Adam from ``z = μ`` (MAP decoding) and
  :func:`flow_posterior_samples` draws from it by importance resampling of ``q`` draws.
  Both are decoded and measured like the plain reconstructions, to see whether the flow
  prior lessens the pull towards round shapes.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor

from galprior.data.normalisation import denormalise
from galprior.data.moments import moment_ellipticity
from galprior.models.deblender.network import DeblenderVAE, EllipticityRegressor, LatentFlow

logger = logging.getLogger(__name__)


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, start + size)


@torch.no_grad()
def decode(model: DeblenderVAE, z: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    """Decoder images (normalised units) of latents ``z``."""
    model.eval().to(device)
    out = [model.decode(torch.as_tensor(z[s], dtype=torch.float32, device=device)).cpu().numpy() for s in _chunks(len(z), batch_size)]
    return np.concatenate(out)


@torch.no_grad()
def reconstruct(model: DeblenderVAE, images: np.ndarray, batch_size: int, device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reconstructions from ``z = μ`` with μ and log σ² of the encoder; normalised units."""
    model.eval().to(device)
    recons, mus, log_vars = [], [], []
    for s in _chunks(len(images), batch_size):
        mu, log_var = model.encode(torch.as_tensor(images[s], dtype=torch.float32, device=device))
        recons.append(model.decode(mu).cpu().numpy())
        mus.append(mu.cpu().numpy())
        log_vars.append(log_var.cpu().numpy())
    return np.concatenate(recons), np.concatenate(mus), np.concatenate(log_vars)


@torch.no_grad()
def band_fractions(model: DeblenderVAE, mu: np.ndarray, aperture: np.ndarray, device: torch.device) -> np.ndarray | None:
    """The colour head's band-flux fractions ``F_b / Σ F`` for latent means ``mu`` and the
    inputs' aperture fluxes ``aperture`` (None without a head)."""
    if model.colour is None:
        return None
    model.eval().to(device)
    as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
    return model.band_fractions(as_tensor(mu), as_tensor(aperture)).cpu().numpy()


@torch.no_grad()
def predict_ellipticity(regressor: EllipticityRegressor, mu: np.ndarray, device: torch.device) -> np.ndarray:
    """Regressor (e1, e2) for latent means ``mu``."""
    regressor.eval().to(device)
    return regressor(torch.as_tensor(mu, dtype=torch.float32, device=device)).cpu().numpy()


def reconstruction_ellipticity(recon: np.ndarray, band_scale: np.ndarray, beta: float, band_index: int) -> np.ndarray:
    """Moment (e1, e2) of reconstructions (normalised, ``(N, B, H, W)``) in one band."""
    physical = denormalise(recon[:, band_index : band_index + 1], band_scale[band_index : band_index + 1], beta)
    return moment_ellipticity(physical[:, 0])


def _swapped_log_posterior(flow: LatentFlow, z: Tensor, mu: Tensor, log_var: Tensor) -> Tensor:
    log_q = -0.5 * (((z - mu) ** 2) / log_var.exp() + log_var).sum(-1)
    log_gauss_prior = -0.5 * (z**2).sum(-1)
    return log_q + flow.log_prob(z) - log_gauss_prior


def flow_map_latents(flow: LatentFlow, mu: np.ndarray, log_var: np.ndarray, steps: int, learning_rate: float, device: torch.device) -> np.ndarray:
    """MAP of ``q(z|x) p_flow(z) / N(z; 0, I)`` from ``z = μ`` by Adam (all galaxies at once)."""
    flow.eval().to(device)
    for p in flow.parameters():
        p.requires_grad_(False)
    mu_t = torch.as_tensor(mu, dtype=torch.float32, device=device)
    lv_t = torch.as_tensor(log_var, dtype=torch.float32, device=device)
    z = mu_t.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=learning_rate)
    for _ in range(steps):
        loss = -_swapped_log_posterior(flow, z, mu_t, lv_t).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return z.detach().cpu().numpy()


@torch.no_grad()
def flow_posterior_samples(flow: LatentFlow, mu: np.ndarray, log_var: np.ndarray, n_proposals: int, seed: int, device: torch.device,
                           generator: torch.Generator | None = None) -> np.ndarray:
    """One draw per galaxy from ``q p_flow / N(0, I)`` by importance resampling ``n_proposals`` draws of ``q``.

    The draws come from ``generator`` when given (successive groups of galaxies from one
    stream of random numbers), else from a generator seeded with ``seed``.
    """
    flow.eval().to(device)
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    mu_t = torch.as_tensor(mu, dtype=torch.float32)
    lv_t = torch.as_tensor(log_var, dtype=torch.float32)
    eps = torch.randn((n_proposals, *mu_t.shape), generator=gen)
    z = (mu_t + (0.5 * lv_t).exp() * eps).to(device)  # (K, N, D)
    log_w = flow.log_prob(z.reshape(-1, z.shape[-1])).reshape(z.shape[:2]) + 0.5 * (z**2).sum(-1)
    pick = torch.multinomial(torch.softmax(log_w, dim=0).T.cpu(), 1, generator=gen).squeeze(1)
    return z.cpu()[pick, torch.arange(z.shape[1])].numpy()
