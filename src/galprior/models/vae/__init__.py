"""The VAE source model of Chianese et al. 2020: network, training, latent prior,
reconstructions, and the frozen source model used by the lens inference."""

from galprior.models.vae.network import VAE, elbo

__all__ = ["VAE", "elbo"]
