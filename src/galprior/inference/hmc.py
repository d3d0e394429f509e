"""Posterior sampling with NUTS / HMC started at the MAP with a Laplace mass matrix.

Chianese et al. 2020 run Pyro's NUTS (50 adaptation steps, 500 samples) for ~10 h
per system on a CPU. Most of that time is spent in long trajectories of an untuned
sampler: with the identity mass matrix, the ~80 parameters of very different posterior
widths need ~1e3 leapfrog steps per sample. Here the sampler starts at the MAP and
its (inverse) mass matrix is the Laplace covariance: the inverse of the Hessian of the
negative log posterior in the whitened unconstrained coordinates of
:class:`FlatPosterior` (``torch.autograd.functional.hessian``, exact double
backward). The Hessian is symmetrised and its eigenvalues replaced by
``max(|lambda|, hessian_floor)`` (whitened prior scale is 1, so a floor of ~0.1-1
never makes a direction narrower than the prior) to make it positive definite.

Pyro 1.9 has no argument for an initial dense mass matrix; :class:`_LaplaceMixin`
sets ``mass_matrix_adapter.inverse_mass_matrix`` right after the kernel's own
adapter initialisation and re-runs the step-size search with it. Mass-matrix
adaptation is off by default (the Laplace matrix is kept); step-size adaptation
(dual averaging) runs during the warm-up.

Samplers are picked by name from :data:`SAMPLERS` (``"nuts"`` or ``"hmc"``, the
latter with a fixed trajectory length, default pi/2: a quarter period of the
Laplace-whitened Gaussian, i.e. nearly independent proposals). Chains run one
after another, the first from the MAP, the others from Laplace draws around it.
Gradient evaluations are counted by wrapping the potential function.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from pyro.infer.mcmc import HMC, MCMC, NUTS
from pyro.ops.stats import effective_sample_size, split_gelman_rubin
from torch import Tensor

from .potential import FlatPosterior

__all__ = [
    "HmcConfig",
    "PosteriorResult",
    "SAMPLERS",
    "laplace_hessian",
    "regularised_inverse",
    "sample_posterior",
    "chain_diagnostics",
]

log = logging.getLogger(__name__)

SITE = "theta"


@dataclass(frozen=True)
class HmcConfig:
    """Settings of :func:`sample_posterior` (the paper: NUTS, 50 warm-up, 500 samples)."""

    sampler: str = "nuts"
    num_warmup: int = 50
    num_samples: int = 500
    num_chains: int = 1
    target_accept_prob: float = 0.8
    max_tree_depth: int = 6
    trajectory_length: float = math.pi / 2  # HMC only, in Laplace-whitened units
    hessian_floor: float = 0.5
    adapt_mass_matrix: bool = False
    seed: int = 0


@dataclass
class PosteriorResult:
    """Samples of one system: theta (C, N, D), per-chain counts and diagnostics."""

    theta: np.ndarray
    grad_evals: np.ndarray  # (C, N) potential-gradient evaluations per sample
    divergences: np.ndarray  # (C,) divergent transitions after warm-up
    step_size: np.ndarray  # (C,) step size after adaptation
    wall_time: float  # seconds, all chains
    inverse_mass_matrix: np.ndarray = field(repr=False)  # (D, D) Laplace covariance used


class _CountingPotential:
    """-log posterior of one system as a function of {"theta": (D,)}, counting calls."""

    def __init__(self, posterior: FlatPosterior) -> None:
        self.posterior, self.calls = posterior, 0

    def __call__(self, params: dict[str, Tensor]) -> Tensor:
        self.calls += 1
        return -self.posterior.log_prob(params[SITE][None], include_jacobian=True)[0]


def laplace_hessian(posterior: FlatPosterior, theta: Tensor) -> Tensor:
    """Hessian (D, D) of -log posterior (with Jacobian) at theta (D,) of one system."""
    def neg_log_post(t: Tensor) -> Tensor:
        return -posterior.log_prob(t[None], include_jacobian=True)[0]

    hessian = torch.autograd.functional.hessian(neg_log_post, theta.detach().clone())
    return 0.5 * (hessian + hessian.T)


def regularised_inverse(hessian: Tensor, floor: float) -> Tensor:
    """Inverse of the Hessian with eigenvalues max(|lambda|, floor): an SPD covariance."""
    eigval, eigvec = torch.linalg.eigh(hessian.double())
    eigval = eigval.abs().clamp_min(floor)
    cov = (eigvec / eigval) @ eigvec.T
    return (0.5 * (cov + cov.T)).to(hessian.dtype)


class _LaplaceMixin:
    """Kernel mixin: after the adapter is initialised, install a given dense inverse mass matrix."""

    def __init__(self, *args, inverse_mass_matrix: Tensor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._laplace_inverse_mass_matrix = inverse_mass_matrix

    def _initialize_adapter(self) -> None:
        super()._initialize_adapter()
        self.mass_matrix_adapter.inverse_mass_matrix = {(SITE,): self._laplace_inverse_mass_matrix}
        if self._adapter.adapt_step_size:
            self._adapter.reset_step_size_adaptation(self._initial_params)


class LaplaceNUTS(_LaplaceMixin, NUTS):
    """NUTS with an initial dense inverse mass matrix."""


class LaplaceHMC(_LaplaceMixin, HMC):
    """HMC (fixed trajectory length) with an initial dense inverse mass matrix."""


def _make_nuts(potential, inverse_mass_matrix: Tensor, config: HmcConfig):
    return LaplaceNUTS(potential_fn=potential, full_mass=True, adapt_mass_matrix=config.adapt_mass_matrix,
                       target_accept_prob=config.target_accept_prob, max_tree_depth=config.max_tree_depth,
                       inverse_mass_matrix=inverse_mass_matrix)


def _make_hmc(potential, inverse_mass_matrix: Tensor, config: HmcConfig):
    return LaplaceHMC(potential_fn=potential, full_mass=True, adapt_mass_matrix=config.adapt_mass_matrix,
                      target_accept_prob=config.target_accept_prob, trajectory_length=config.trajectory_length,
                      inverse_mass_matrix=inverse_mass_matrix)


#: Registry of samplers, picked by ``HmcConfig.sampler``.
SAMPLERS = {"nuts": _make_nuts, "hmc": _make_hmc}


def _run_chain(posterior: FlatPosterior, start: Tensor, inverse_mass_matrix: Tensor,
               config: HmcConfig, chain: int) -> tuple[np.ndarray, np.ndarray, int, float]:
    """One chain: samples (N, D), gradient evaluations per sample (N,), divergences, step size."""
    potential = _CountingPotential(posterior)
    kernel = SAMPLERS[config.sampler](potential, inverse_mass_matrix, config)
    counts: list[int] = []
    warmup_calls = [0]

    def hook(kernel_, samples, stage, i):
        if stage == "Sample":
            counts.append(potential.calls)
        else:
            warmup_calls[0] = potential.calls

    mcmc = MCMC(kernel, num_samples=config.num_samples, warmup_steps=config.num_warmup,
                initial_params={SITE: start.detach().clone()}, hook_fn=hook, disable_progbar=False,
                num_chains=1)
    mcmc.run()
    samples = mcmc.get_samples()[SITE].detach().numpy()
    divergences = len(mcmc.diagnostics()["divergences"]["chain 0"])
    evals = np.diff(np.asarray([warmup_calls[0]] + counts))
    log.info("chain %d: %d samples, %.1f gradient evaluations per sample, %d divergences, step size %.3g",
             chain, len(samples), float(np.mean(evals)), divergences, kernel.step_size)
    return samples, evals.astype(np.int64), divergences, float(kernel.step_size)


def sample_posterior(posterior: FlatPosterior, theta_map: Tensor, config: HmcConfig = HmcConfig()) -> PosteriorResult:
    """NUTS/HMC samples of one system's posterior started at its MAP.

    Parameters
    ----------
    posterior: a :class:`FlatPosterior` of ONE system (batch size 1).
    theta_map: (D,) whitened MAP (e.g. ``MapResult.best_theta[s]``).
    config: sampler settings.
    """
    if posterior.batch_size != 1:
        raise ValueError(f"sample_posterior needs a posterior of one system, got {posterior.batch_size}")
    if config.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {config.sampler!r}; available: {sorted(SAMPLERS)}")
    t0 = time.perf_counter()
    theta_map = torch.as_tensor(theta_map, dtype=torch.get_default_dtype())
    inverse_mass = regularised_inverse(laplace_hessian(posterior, theta_map), config.hessian_floor)
    log.info("Laplace Hessian in %.1f s", time.perf_counter() - t0)
    gen = torch.Generator().manual_seed(config.seed)
    chol = torch.linalg.cholesky(inverse_mass.double()).to(theta_map.dtype)
    out = []
    torch.manual_seed(config.seed)
    for chain in range(config.num_chains):
        start = theta_map if chain == 0 else theta_map + chol @ torch.randn(len(theta_map), generator=gen)
        out.append(_run_chain(posterior, start, inverse_mass, config, chain))
    return PosteriorResult(
        theta=np.stack([o[0] for o in out]),
        grad_evals=np.stack([o[1] for o in out]),
        divergences=np.asarray([o[2] for o in out], dtype=np.int64),
        step_size=np.asarray([o[3] for o in out]),
        wall_time=time.perf_counter() - t0,
        inverse_mass_matrix=inverse_mass.numpy(),
    )


def chain_diagnostics(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split R-hat and effective sample size (summed over chains) of samples (C, N, P) -> (P,), (P,)."""
    x = torch.as_tensor(samples, dtype=torch.float64)
    ess = effective_sample_size(x, chain_dim=0, sample_dim=1).numpy()
    r_hat = split_gelman_rubin(x, chain_dim=0, sample_dim=1).numpy()
    return r_hat, ess
