"""The one Pyro model of a lensed image, used by every inference rule (MAP, HMC).

Chianese et al. 2020 sections 4-5: lens parameters (EPL + external shear, priors in
:mod:`galprior.lensing.priors`), source parameters (intensity, scale, position), a
latent vector ``z`` of the VAE source model drawn from the Gaussian latent prior, the
source image ``d = decoder(z)``, the lensed image from :class:`LensSimulator`, and a
Gaussian likelihood with the known pixel noise (their eq. 26):

    log p(x | params) = -sum_pixels (x - model)^2 / (2 sigma^2) + const.

A ``pyro.plate("systems")`` holds S independent systems (or systems x restarts), so a
single forward pass evaluates all of them.

Position angle: a uniform prior on [0, pi) with a sigmoid transform puts walls at 0
and pi that MAP and HMC cannot cross, although the angle is periodic. We therefore
sample a 2-vector ``position_angle_vector = (u, v)`` with density
``exp(-(r - 1)^2 / (2 w^2))`` (r = |(u, v)|, ring width ``w =`` :data:`RING_WIDTH`;
a standard normal site re-weighted by ``pyro.factor``), whose direction is uniform,
and set ``position_angle = atan2(v, u) / 2 mod pi`` (a deterministic site); the
direction is then uniform, and a second factor ``position_angle_prior`` multiplies in
the paper's prior (eq. 19, N(0, 1 rad) wrapped to [0, pi),
:meth:`LensSourcePrior.position_angle_distribution`), so that the prior on
position_angle is exactly that wrapped normal.

Why a thin ring: the angle is undefined at r = 0, where the model image jumps. With
a wide radial density (we first used ``r exp(-r^2 / 2)``, radial sd ~0.7 at r ~1.4)
the Laplace covariance at the MAP reaches the origin within one standard deviation,
and HMC trajectories that cross it diverge (log density drops by ~1e4 at high S/N):
NUTS then adapts a tiny step size and mixes slowly. With w = 0.1 crossing the origin
costs 50 nats of potential energy, which a trajectory never has.
"""

from __future__ import annotations

import math
from typing import Callable

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor

from galprior.lensing.simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES, LensSimulator

from galprior.lensing.priors import LensSourcePrior

__all__ = [
    "ANGLE_SITE",
    "LATENT_SITE",
    "sample_parameters",
    "render_model_image",
    "lens_model",
    "position_angle_from_vector",
    "as_pyro_latent_prior",
]

ANGLE_SITE = "position_angle_vector"
LATENT_SITE = "latent"
#: Radial width of the density of ``position_angle_vector`` (see the module docstring).
RING_WIDTH = 0.1
Decoder = Callable[[Tensor], Tensor]


def position_angle_from_vector(vector: Tensor) -> Tensor:
    """Position angle in [0, pi) of a (..., 2) vector (u, v): atan2(v, u) / 2. Unit: rad."""
    return torch.remainder(0.5 * torch.atan2(vector[..., 1], vector[..., 0]), math.pi)


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
    vector = pyro.sample(ANGLE_SITE, dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    radius = vector.norm(dim=-1)
    pyro.factor("position_angle_ring", 0.5 * radius**2 - 0.5 * ((radius - 1.0) / RING_WIDTH) ** 2)
    values["position_angle"] = pyro.deterministic("position_angle", position_angle_from_vector(vector))
    # the ring's direction is uniform in the angle: re-weight it to eq. 19 (N(0, 1) wrapped to [0, pi))
    pyro.factor("position_angle_prior", priors.position_angle_distribution().log_prob(values["position_angle"]))
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
