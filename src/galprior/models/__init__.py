"""Generative source models: the Chianese et al. 2020 VAE (more to come).

``available_source_models`` maps the config name of a source model to its class.
"""

from galprior.models.vae import VAE, elbo

available_source_models = {"vae": VAE}

__all__ = ["VAE", "elbo", "available_source_models"]
