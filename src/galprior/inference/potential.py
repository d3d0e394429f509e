"""The posterior of :func:`lens_model` as a function of one flat, whitened vector.

Why: MAP (Adam on many systems x restarts at once) and HMC (Pyro's NUTS with a
dense mass matrix) both want a single well-scaled unconstrained coordinate vector
``theta`` per system, and MAP wants the log posterior of every batch element
separately. :class:`FlatPosterior` provides this on top of the ONE Pyro model:

* each latent site is mapped to the real line by Pyro's ``biject_to(support)``
  (sigmoid for the uniform / truncated priors, log for the log-normal ones, identity
  for normals and the latent ``z``, the disk map of the lens ellipticity);
* each unconstrained coordinate is whitened, ``u = loc + scale * theta``, with the
  mean and standard deviation of ``n_whiten`` prior draws, so that every coordinate of
  ``theta`` has prior scale ~1 (this is the "gradient scaling" of the optimiser and a
  good starting point for the step sizes of HMC);
* ``log_prob(theta)`` runs the Pyro model conditioned on the constrained values and
  sums, per system, every sample site's log density (observation and any
  ``pyro.factor`` included), plus optionally the log |Jacobian| of
  ``biject_to`` (needed for sampling; left out, it gives the MAP of the parameters
  themselves, as Pyro's ``AutoDelta`` does). The whitening Jacobian is a constant and
  omitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample
from torch import Tensor
from torch.distributions import biject_to

from galprior.lensing.simulator import LensSimulator

from .model import Decoder, lens_model, sample_parameters
from galprior.lensing.priors import LensSourcePrior

__all__ = ["Site", "FlatPosterior"]


@dataclass(frozen=True)
class Site:
    """One latent sample site of the model and its place in ``theta``."""

    name: str
    event_shape: tuple[int, ...]
    start: int
    stop: int
    transform: torch.distributions.Transform


def _prior_trace(priors: LensSourcePrior, latent_prior: dist.Distribution, n: int) -> poutine.Trace:
    def prior_only():
        with pyro.plate("systems", n, dim=-1):
            sample_parameters(priors, latent_prior)

    return poutine.trace(prior_only).get_trace()


def _is_random(node: dict) -> bool:
    """A sample site with a density: not a plate, not a deterministic site."""
    return node["type"] == "sample" and not site_is_subsample(node) and not node["infer"].get("_deterministic")


def _latent_sites(trace: poutine.Trace) -> list[Site]:
    sites, start = [], 0
    for name, node in trace.nodes.items():
        if not _is_random(node) or node["is_observed"]:
            continue
        shape = tuple(node["fn"].event_shape)
        size = int(np.prod(shape)) if shape else 1
        sites.append(Site(name, shape, start, start + size, biject_to(node["fn"].support)))
        start += size
    return sites


def _check_observation(observation: Tensor, simulator: LensSimulator) -> None:
    """Refuse an observation that is not a floating (B, H, W) batch of the simulator's images."""
    if not isinstance(observation, Tensor) or not observation.is_floating_point():
        raise ValueError(f"observation has dtype {getattr(observation, 'dtype', type(observation))}; "
                         "expected a floating-point tensor (float32 or float64)")
    size = getattr(simulator, "n_pix", None)
    pool = getattr(simulator, "pool_factor", 1) or 1
    expected = None if size is None else size // pool
    if observation.ndim != 3 or (expected is not None and tuple(observation.shape[1:]) != (expected, expected)):
        raise ValueError(f"observation has shape {tuple(observation.shape)}; expected (B, H, W) = "
                         f"(B, {expected}, {expected}), the simulator's images")


class FlatPosterior:
    """Log posterior of ``lens_model`` for B systems as a function of theta (B, D).

    Parameters
    ----------
    observation: (B, H, W) images (repeat a system for several restarts). Unit: flux.
    noise_sigma: scalar or (B,) pixel noise std. Unit: flux.
    simulator, decoder, latent_prior, priors: as for :func:`lens_model`.
    n_whiten: prior draws used for the whitening.
    include_jacobian: add log |d constrained / d unconstrained| (True for sampling).
    """

    def __init__(
        self,
        observation: Tensor,
        noise_sigma: Tensor | float,
        simulator: LensSimulator,
        decoder: Decoder,
        latent_prior: dist.Distribution,
        priors: LensSourcePrior,
        n_whiten: int = 4096,
        include_jacobian: bool = True,
        seed: int = 0,
    ) -> None:
        _check_observation(observation, simulator)
        self.observation = observation
        self.dtype = observation.dtype
        self.device = observation.device
        self.noise_sigma = torch.as_tensor(noise_sigma, dtype=observation.dtype, device=observation.device).expand(observation.shape[0])
        self.simulator, self.decoder = simulator, decoder
        self.latent_prior, self.priors = latent_prior, priors
        self.include_jacobian = include_jacobian
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            trace = _prior_trace(priors, latent_prior, n_whiten)
        self.sites = _latent_sites(trace)
        u = self._unconstrain({s.name: trace.nodes[s.name]["value"] for s in self.sites})
        self.loc, self.scale = u.mean(0).detach(), u.std(0).detach().clamp_min(1e-12)

    @property
    def dim(self) -> int:
        """Length D of theta."""
        return self.sites[-1].stop

    @property
    def batch_size(self) -> int:
        return self.observation.shape[0]

    def _unconstrain(self, values: dict[str, Tensor]) -> Tensor:
        cols = []
        for s in self.sites:
            u = s.transform.inv(values[s.name].to(device=self.device, dtype=self.dtype))
            cols.append(u.reshape(u.shape[0], -1) if s.event_shape else u[:, None])
        return torch.cat(cols, dim=-1)

    def to_theta(self, values: dict[str, Tensor]) -> Tensor:
        """Whitened theta (B, D) of constrained values (dict of (B,) / (B, *event))."""
        return (self._unconstrain(values) - self.loc) / self.scale

    def constrain(self, theta: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """Constrained site values and the log |Jacobian| (B,) of theta (B, D)."""
        u = self.loc + self.scale * theta
        values, log_jac = {}, torch.zeros(theta.shape[0], dtype=theta.dtype, device=theta.device)
        for s in self.sites:
            us = u[:, s.start:s.stop].reshape((u.shape[0],) + s.event_shape)
            x = s.transform(us)
            values[s.name] = x
            lj = s.transform.log_abs_det_jacobian(us, x)
            log_jac = log_jac + (lj.reshape(u.shape[0], -1).sum(-1) if lj.ndim > 1 else lj)
        return values, log_jac

    def prior_draws(self, n: int) -> Tensor:
        """Whitened theta (n, D) of n prior draws."""
        trace = _prior_trace(self.priors, self.latent_prior, n)
        return self.to_theta({s.name: trace.nodes[s.name]["value"] for s in self.sites}).detach()

    def trace(self, theta: Tensor) -> poutine.Trace:
        """Trace of the model conditioned on theta (B, D), B = ``batch_size``."""
        values, _ = self.constrain(theta)
        model = poutine.condition(lens_model, data=values)
        return poutine.trace(model).get_trace(
            self.observation, self.noise_sigma, self.simulator, self.decoder, self.latent_prior, self.priors
        )

    def log_prob(self, theta: Tensor, include_jacobian: bool | None = None) -> Tensor:
        """Log posterior (up to a constant) of every system, shape (B,)."""
        prior, likelihood = self.log_prob_parts(theta, include_jacobian)
        return prior + likelihood

    def log_prob_parts(self, theta: Tensor, include_jacobian: bool | None = None) -> tuple[Tensor, Tensor]:
        """Log prior (with the log |Jacobian| where included) and log likelihood of every
        system, each (B,): their sum is :meth:`log_prob`; a tempered posterior weighs the
        second (:func:`galprior.inference.map.fit_map`'s ``anneal``)."""
        values, log_jac = self.constrain(theta)
        model = poutine.condition(lens_model, data=values)
        trace = poutine.trace(model).get_trace(
            self.observation, self.noise_sigma, self.simulator, self.decoder, self.latent_prior, self.priors
        )
        prior = torch.zeros(theta.shape[0], dtype=theta.dtype, device=theta.device)
        likelihood = torch.zeros_like(prior)
        for node in trace.nodes.values():
            if _is_random(node):
                term = node["fn"].log_prob(node["value"]).to(theta.dtype)
                if node["is_observed"]:
                    likelihood = likelihood + term
                else:
                    prior = prior + term
        use_jac = self.include_jacobian if include_jacobian is None else include_jacobian
        return (prior + log_jac if use_jac else prior), likelihood

    def model_image(self, theta: Tensor) -> Tensor:
        """Noise-free model images (B, H, W) at theta (B, D)."""
        return self.trace(theta).nodes["_RETURN"]["value"]

    def coarsened(self, factor: int) -> "FlatPosterior":
        """The posterior of the same systems observed on a ``factor`` times coarser grid
        (:meth:`LensSimulator.coarsened`): the observation averaged over ``factor x factor``
        blocks, whose noise is ``sigma / factor``; same prior and whitening. About
        ``factor^2`` times cheaper to evaluate; for first optimisation stages."""
        from galprior.lensing.func.instrument import avg_pool

        if factor == 1:
            return self
        return self._replaced(simulator=self.simulator.coarsened(factor),
                              observation=avg_pool(self.observation, factor),
                              noise_sigma=self.noise_sigma / factor)

    def _replaced(self, **attributes) -> "FlatPosterior":
        """A copy sharing everything (whitening, prior, decoder) but ``attributes``."""
        new = object.__new__(FlatPosterior)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(attributes)
        return new

    def subset(self, index: Tensor | slice) -> "FlatPosterior":
        """A posterior of the systems ``index`` sharing the whitening."""
        return self._replaced(observation=self.observation[index], noise_sigma=self.noise_sigma[index])
