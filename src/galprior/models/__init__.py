"""Generative models, one sub-package per model family, registered by name.

- ``vae``: the VAE source model of Chianese et al. 2020;
- ``score``: the score-based prior of Adam et al. 2022;
- ``registry``: save/load of any registered family under fixed file names;
- ``checkpoint`` and ``training``: the resumable training loop every family shares;
- ``batches``: the minibatches every loop streams from the stores' chunks.

Importing this package registers every family, so :func:`load_model` knows them all.
"""

from galprior.models import vae  # noqa: F401  (registers "vae")
from galprior.models import score  # noqa: F401  (registers "score")
from galprior.models import deblender  # noqa: F401  (registers "nguyen_vae", "nguyen_regressor", "nguyen_latent_flow")
from galprior.models import flowvae  # noqa: F401  (registers "flowvae", "latent_flow")
from galprior.models.registry import MODELS, load_model, register_model, save_model

__all__ = ["MODELS", "load_model", "register_model", "save_model"]
