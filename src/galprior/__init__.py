"""galprior: deep generative galaxy priors for strong lensing and deblending.

Subpackages mirror the science, shared layers first (imports only run downwards):

- ``galprior.config``, ``galprior.device``: configuration checks and schema defaults; cpu/cuda.
- ``galprior.store``: the Zarr stores of every intermediate, one layout module per system (torch-free).
- ``galprior.data``: galaxy sets (COSMOS, simulated), BTK/DES blends, PROBES.
- ``galprior.lensing``: deflections, ray tracing, sources, PSF, noise, the lens prior, mock lenses.
- ``galprior.models``: one sub-package per model family (VAE, score model, deblender, Flow-VAE),
  a registry, and the resumable training loop they share.
- ``galprior.inference``: MAP and HMC of lenses, reverse-time SDE sampling.
- ``galprior.metrics``: recovery, deblending and morphology statistics.
- ``galprior.plots``: figures drawn from stored results (never recomputing them).
"""

__version__ = "0.1.0"
