"""Tiny exact lens systems for the inference tests: 32 x 32 image, smooth 16 x 16 source."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from galprior.inference.model import ELLIPTICITY_SITE, render_model_image
from galprior.lensing.priors import ellipticity_from_shape
from galprior.lensing.simulator import LensSimulator
from galprior.models.vae.latent_prior import latent_prior_distribution

LATENT_DIM = 6


class TinyDecoder(nn.Module):
    """Random-weight decoder: z -> 4 x 4 map -> bilinear 16 x 16, times a Gaussian envelope.

    Smooth by construction (a random-weight convolutional VAE decoder gives
    pixel-scale noise, whose lensing likelihood is too rugged for a 1 % test).
    """

    def __init__(self, latent_dim: int = LATENT_DIM, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.linear = nn.Linear(latent_dim, 16)
        with torch.no_grad():
            self.linear.weight.copy_(0.5 * torch.randn(16, latent_dim, generator=gen))
            self.linear.bias.copy_(torch.randn(16, generator=gen))
        c = (torch.arange(16) + 0.5) / 16 - 0.5
        self.register_buffer("envelope", torch.exp(-(c[:, None] ** 2 + c[None] ** 2) / (2 * 0.18**2)))
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        grid = torch.sigmoid(self.linear(z)).reshape(-1, 1, 4, 4)
        up = nn.functional.interpolate(grid, size=(16, 16), mode="bilinear", align_corners=False)
        return up * self.envelope


TRUTH = {
    "einstein_radius": 1.5, "slope": 2.1, "axis_ratio": 0.75, "position_angle": 0.6,
    "x0": 0.03, "y0": -0.02, "gamma1": 0.03, "gamma2": -0.02,
    "intensity": 1.0, "scale": 1.6, "x_src": 0.05, "y_src": 0.03,
}


@pytest.fixture
def tiny_system():
    """(observation (1, 32, 32), truth dict, simulator, decoder, latent prior)."""
    torch.manual_seed(0)
    decoder = TinyDecoder()
    prior = latent_prior_distribution(np.zeros(LATENT_DIM), np.eye(LATENT_DIM))
    simulator = LensSimulator(32, 0.16)
    truth = {k: torch.tensor([v]) for k, v in TRUTH.items()}
    truth["latent"] = torch.tensor([[0.3, -0.5, 0.2, 0.8, -0.1, 0.4]])
    truth[ELLIPTICITY_SITE] = ellipticity_from_shape(truth["axis_ratio"], truth["position_angle"])  # the model's site
    with torch.no_grad():
        image = render_model_image(truth, simulator, decoder)
    return image, truth, simulator, decoder, prior


@pytest.fixture
def other_decoder():
    """A decoder of the same form as ``tiny_system``'s with other weights: a source model
    that cannot reproduce that system's source (misspecified)."""
    return TinyDecoder(seed=5)
