"""The trained VAE and its latent prior as one frozen source model for lens inference.

The Pyro lens model (:mod:`galprior.inference.model`) needs the decoder ``g(z)`` and the
latent prior ``p(z)`` (Chianese et al. 2020 sec. 4: a normal fitted to the encoded
training set, covariance x 9); :class:`SourceModel` holds both, frozen, in one precision
and on one device.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

import pyro.distributions as dist
import torch

from galprior.models.registry import load_model
from galprior.models.vae.latent_prior import latent_prior_distribution, load_latent_prior

__all__ = ["SourceModel", "load_source_model"]


@dataclasses.dataclass
class SourceModel:
    """A frozen VAE (eval mode) and its latent prior, as the Pyro model needs them."""

    vae: Any
    latent_prior: Any

    @property
    def decoder(self) -> Any:
        return self.vae.decode

    @property
    def latent_dim(self) -> int:
        return self.vae.latent_dim

    @property
    def dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> "SourceModel":
        """A copy in another floating-point precision and/or on another device (the original
        is left as it is); ``self`` when nothing changes."""
        dtype = dtype or self.dtype
        device = torch.device(device) if device is not None else self.device
        if dtype == self.dtype and device == self.device:
            return self
        prior = self.latent_prior
        return SourceModel(
            vae=copy.deepcopy(self.vae).to(device=device, dtype=dtype),
            latent_prior=dist.MultivariateNormal(prior.loc.to(device=device, dtype=dtype),
                                                 scale_tril=prior.scale_tril.to(device=device, dtype=dtype)))


def load_source_model(model_dir: str | os.PathLike, prior_path: str | os.PathLike,
                      device: torch.device | str = "cpu") -> SourceModel:
    """The trained VAE (weights frozen, eval mode) and the fitted latent prior (float32)."""
    vae = load_model(Path(model_dir), family="vae")
    for p in vae.parameters():
        p.requires_grad_(False)
    prior = load_latent_prior(prior_path)
    return SourceModel(vae=vae, latent_prior=latent_prior_distribution(prior.mean, prior.covariance)).to(device=device)
