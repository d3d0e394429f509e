"""The one Pyro model of a lensed image, used by every inference rule (MAP, HMC).

Chianese et al. 2020 sections 4-5: lens parameters (EPL + external shear, priors in
:mod:`galprior.lensing.priors`), source parameters (intensity, scale, position), a
latent vector ``z`` of the VAE source model drawn from the Gaussian latent prior, the
source image ``d = decoder(z)``, the lensed image from :class:`LensSimulator`, and a
Gaussian likelihood with the known pixel noise (their eq. 26):

    log p(x | params) = -sum_pixels (x - model)^2 / (2 sigma^2) + const.

A ``pyro.plate("systems")`` holds S independent systems (or systems x restarts), so a
single forward pass evaluates all of them.

Lens shape: the axis ratio q and the position angle phi are sampled as ONE 2-vector,
the ellipticity ``lens_ellipticity = sqrt(1 - q) (cos 2 phi, sin 2 phi)``
(:class:`galprior.lensing.priors.LensEllipticity`, whose density is exactly the
paper's p(q) p(phi), eqs. 19-20); ``axis_ratio`` and ``position_angle`` are
deterministic sites of it. Why:

* phi is periodic (period pi). A uniform or normal prior on [0, pi) with a sigmoid
  transform puts walls at 0 and pi that MAP and HMC cannot cross.
* Near q = 1, (q, phi) are polar coordinates around their origin: phi becomes
  undefined and the posterior a curved ridge that ends at the bound q = 1. HMC on the
  nearly round lens of system 0 (q = 0.98) mixed slowest in q, phi, r_Ein and the
  shear. In e the image is smooth through q = 1.

Before this we sampled a unit "ring" vector for phi and q on its own; the ring still
had the polar singularity at q = 1.
"""

from __future__ import annotations

from typing import Callable

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor

from galprior.lensing.simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES, LensSimulator

from galprior.lensing.priors import LensSourcePrior, shape_from_ellipticity

__all__ = [
    "ELLIPTICITY_SITE",
    "LATENT_SITE",
    "sample_parameters",
    "with_lens_shape",
    "render_model_image",
    "lens_model",
    "as_pyro_latent_prior",
]

ELLIPTICITY_SITE = "lens_ellipticity"
LATENT_SITE = "latent"
Decoder = Callable[[Tensor], Tensor]


def with_lens_shape(values: dict[str, Tensor]) -> dict[str, Tensor]:
    """``values`` (site values) with ``axis_ratio`` and ``position_angle`` of its ellipticity."""
    q, phi = shape_from_ellipticity(values[ELLIPTICITY_SITE])
    return {**values, "axis_ratio": q, "position_angle": phi}


def as_pyro_latent_prior(latent_prior: torch.distributions.Distribution) -> dist.Distribution:
    """The latent prior as a Pyro distribution (a torch ``MultivariateNormal`` is converted)."""
    if isinstance(latent_prior, dist.torch_distribution.TorchDistributionMixin):
        return latent_prior
    if isinstance(latent_prior, torch.distributions.MultivariateNormal):
        return dist.MultivariateNormal(latent_prior.loc, scale_tril=latent_prior.scale_tril)
    raise TypeError(f"unsupported latent prior {type(latent_prior).__name__}")


def sample_parameters(priors: LensSourcePrior, latent_prior: dist.Distribution) -> dict[str, Tensor]:
    """Sample every latent site (call inside the systems plate). Returns constrained values."""
    values = {name: pyro.sample(name, d) for name, d in priors.lens_distributions().items()}
    q, phi = shape_from_ellipticity(pyro.sample(ELLIPTICITY_SITE, priors.ellipticity_distribution()))
    values["axis_ratio"] = pyro.deterministic("axis_ratio", q)
    values["position_angle"] = pyro.deterministic("position_angle", phi)
    if priors.fixed_slope is not None:
        values["slope"] = torch.full_like(values["einstein_radius"], priors.fixed_slope)
    values.update({name: pyro.sample(name, d) for name, d in priors.source_distributions().items()})
    values[LATENT_SITE] = pyro.sample(LATENT_SITE, as_pyro_latent_prior(latent_prior))
    return values


def render_model_image(values: dict[str, Tensor], simulator: LensSimulator, decoder: Decoder) -> Tensor:
    """Noise-free model image (B, H, W) of constrained parameter values (B,) / latent (B, D)."""
    dtype = simulator.theta_x.dtype
    lens = torch.stack([values[n].to(dtype) for n in LENS_PARAMETER_NAMES], dim=-1)
    source_params = torch.stack([values[n].to(dtype) for n in SOURCE_PARAMETER_NAMES], dim=-1)
    source = decoder(values[LATENT_SITE])
    if source.ndim == 4:
        source = source[:, 0]
    return simulator(lens, source.to(dtype), source_params, validate=False)


def lens_model(
    observation: Tensor,
    noise_sigma: Tensor | float,
    simulator: LensSimulator,
    decoder: Decoder,
    latent_prior: dist.Distribution,
    priors: LensSourcePrior,
) -> Tensor:
    """Pyro model of S lensed images.

    Parameters
    ----------
    observation: (S, H, W) observed images. Unit: image flux.
    noise_sigma: per-pixel Gaussian noise standard deviation, scalar or (S,). Unit: image flux.
    simulator: renders (S, H, W) images from lens, source image and source parameters.
    decoder: z (S, D) -> source images (S, 1, h, w) or (S, h, w), e.g. ``VAE.decode``.
    latent_prior: distribution of z with event shape (D,) (``latent_prior_distribution``).
    priors: numbers of the lens and source priors.

    Returns the model image (S, H, W).
    """
    n_systems = observation.shape[0]
    sigma = torch.as_tensor(noise_sigma, dtype=observation.dtype).expand(n_systems)
    with pyro.plate("systems", n_systems, dim=-1):
        values = sample_parameters(priors, latent_prior)
        image = render_model_image(values, simulator, decoder)
        # no argument validation: a system whose image is not finite gets a NaN log density
        # (which the optimisers and samplers reject) instead of failing the whole batch
        pyro.sample("obs", dist.Normal(image, sigma[:, None, None], validate_args=False).to_event(2),
                    obs=observation)
    return image
