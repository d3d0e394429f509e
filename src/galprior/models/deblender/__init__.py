"""The VAE deblender of Nguyen 2025: β-VAE, deblending encoder, ellipticity regressor, latent flow.

``network`` holds the registered families (``nguyen_vae``, ``nguyen_regressor``,
``nguyen_latent_flow``), ``training`` the three training stages and the flow fit,
``evaluation`` reconstructions, ellipticities and the flow-prior latents, ``products``
what the workflow rules call.
"""

from galprior.models.deblender.network import DeblenderVAE, EllipticityRegressor, LatentFlow

__all__ = ["DeblenderVAE", "EllipticityRegressor", "LatentFlow"]
