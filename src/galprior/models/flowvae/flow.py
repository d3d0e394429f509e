"""Conditional latent normalizing flow of Lanusse et al. 2021 (sec. 3.3 and 4.2.2).

A conditional masked autoregressive flow (MAF, eq. 13-15) models the aggregate
posterior ``p(z | y)`` of the trained VAE's latents given the conditions ``y`` =
(``mag``, ``hlr``, ``z_phot``). Built from ``zuko`` (a maintained flow library), not
hand-written:

- ``n_transforms`` (8) :class:`zuko.flows.MaskedAutoregressiveTransform` stages, each a
  masked MLP with two hidden layers of ``hidden_features`` (256) giving a shift and a
  scale, conditioned on ``y`` (the MADE of Germain et al. 2015 with context inputs);
- between stages the feature order alternates between a random shuffle and a reversal
  (expressed through each stage's autoregressive ``order``);
- the scales are clipped: zuko's ``MonotonicAffineTransform`` soft-clips the log scale
  to ``|log s| < |log(slope)|`` (``slope`` = 1e-3, i.e. ``|log s| < 6.9``);
- the conditions are standardised (mean 0, std 1, from the training set), as in the
  paper; we also standardise the latents (our choice: the free-bits VAE leaves them
  with unequal scales), and undo it when sampling.

Training: Adam, base learning rate 1e-3 with square-root decay (sec. 4.2.2), see
:func:`galprior.models.flowvae.training.fit_latent_flow`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
import zuko

from galprior.models.registry import register_model

CONDITION_COLUMNS = ("mag", "half_light_radius", "redshift")
"""GalaxySet property columns used as conditions: mag_auto, hlr (arcsec), zphot."""


def stage_orders(features: int, n_transforms: int, seed: int) -> list[Tensor]:
    """Autoregressive order of each stage: alternate a random shuffle and a reversal."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.arange(features)
    orders = [order]
    for i in range(1, n_transforms):
        if i % 2 == 1:
            order = order[torch.randperm(features, generator=generator)]
        else:
            order = torch.flip(order, dims=[0])
        orders.append(order)
    return orders


@register_model("latent_flow")
class LatentFlow(nn.Module):
    """Conditional MAF ``p(z | y)`` on the VAE latents.

    Args:
        latent_dim: dimension of ``z``.
        n_conditions: dimension of ``y`` (3: mag, hlr, z_phot).
        n_transforms: MAF stages (paper: 8).
        hidden_features: width of the two masked hidden layers (paper: 256).
        seed: seed of the random shuffles between stages.
    """

    def __init__(self, latent_dim: int, n_conditions: int, n_transforms: int,
                 hidden_features: int, seed: int) -> None:
        super().__init__()
        self.hyperparameters: dict[str, Any] = dict(
            latent_dim=latent_dim, n_conditions=n_conditions, n_transforms=n_transforms,
            hidden_features=hidden_features, seed=seed)
        transforms = [
            zuko.flows.MaskedAutoregressiveTransform(
                features=latent_dim, context=n_conditions, order=order,
                hidden_features=(hidden_features, hidden_features))
            for order in stage_orders(latent_dim, n_transforms, seed)]
        base = zuko.flows.UnconditionalDistribution(
            zuko.distributions.DiagNormal, torch.zeros(latent_dim), torch.ones(latent_dim),
            buffer=True)
        self.flow = zuko.flows.Flow(transforms, base)
        for name, dim in (("latent", latent_dim), ("condition", n_conditions)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))

    def set_standardisation(self, latents: Tensor, conditions: Tensor) -> None:
        """Store the means and standard deviations of the training latents and conditions."""
        self.latent_mean.copy_(latents.mean(0))
        self.latent_std.copy_(latents.std(0).clamp_min(1e-6))
        self.condition_mean.copy_(conditions.mean(0))
        self.condition_std.copy_(conditions.std(0).clamp_min(1e-6))

    def _context(self, conditions: Tensor) -> Tensor:
        return (conditions - self.condition_mean) / self.condition_std

    def log_prob(self, latents: Tensor, conditions: Tensor) -> Tensor:
        """``log p(z | y)`` per row (eq. 12 with the standardisation's Jacobian)."""
        standard = (latents - self.latent_mean) / self.latent_std
        return (self.flow(self._context(conditions)).log_prob(standard)
                - self.latent_std.log().sum())

    @torch.no_grad()
    def sample(self, conditions: Tensor) -> Tensor:
        """One latent per row of ``conditions`` ``(B, n_conditions)``: ``(B, latent_dim)``."""
        standard = self.flow(self._context(conditions)).sample()
        return self.latent_mean + self.latent_std * standard

    def forward(self, latents: Tensor, conditions: Tensor) -> Tensor:
        return self.log_prob(latents, conditions)
