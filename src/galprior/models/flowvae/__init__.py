"""Flow-VAE of Lanusse et al. 2021: a PSF-aware ResNet VAE and a conditional latent flow.

- :mod:`.likelihood`: PSF convolution, the Fourier-space (eq. 5) and pixel-space (eq. 4)
  likelihoods, free bits (eq. 10), Total Variation, noise power spectra;
- :mod:`.network`: the VAE (:class:`FlowVAE`, registered as ``"flowvae"``);
- :mod:`.flow`: the conditional MAF (:class:`LatentFlow`, registered as ``"latent_flow"``);
- :mod:`.training`: the two fits; :mod:`.sampling`: draws and observations;
- :mod:`.galsim_profile`: the trained model as GalSim light profiles.
"""

from galprior.models.flowvae.flow import LatentFlow
from galprior.models.flowvae.network import FlowVAE

__all__ = ["FlowVAE", "LatentFlow"]
