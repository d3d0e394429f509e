"""galprior: deep generative galaxy priors for strong lensing and deblending.

Subpackages mirror the science:

- ``galprior.data``: galaxy sets (COSMOS, simulated), Zarr stores of every intermediate.
- ``galprior.lensing``: deflections, ray tracing, sources, PSF, noise, mock lenses.
- ``galprior.models``: VAE, Flow-VAE, score model, deblender.
- ``galprior.inference``: MAP, HMC, reverse-time SDE sampling.
- ``galprior.metrics``: recovery and morphology statistics.
- ``galprior.plots``: figures drawn from stored results (never recomputing them).
"""

__version__ = "0.1.0"
