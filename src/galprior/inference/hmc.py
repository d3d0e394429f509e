"""Posterior sampling with NUTS / HMC started at the MAP with a Laplace mass matrix.

Chianese et al. 2020 run Pyro's NUTS (50 adaptation steps, 500 samples) for ~10 h
per system on a CPU. Most of that time is spent in long trajectories of an untuned
sampler: with the identity mass matrix, the ~80 parameters of very different posterior
widths need ~1e3 leapfrog steps per sample. Here the sampler starts at the mode and
its (inverse) mass matrix is the Laplace covariance there: the inverse of the Hessian
of the negative log posterior in the whitened unconstrained coordinates of
:class:`FlatPosterior` (exact double backward,
:func:`galprior.inference.optim.batched_hessian`). The mode is the MAP refined on the
sampled density (Jacobian included, :func:`refine_mode`) by L-BFGS in coordinates
whitened by the Hessian at the MAP (:func:`galprior.inference.optim.preconditioned_lbfgs`):
a Hessian taken away from the mode has negative eigenvalues and the wrong widths, and
the chain then spends its samples drifting to the mode. Plain L-BFGS does not get
there: on quick-default system 0 at sigma = 0.0333 its 200 iterations ended 60 nats
(Delta chi^2 = 120) below the mode, where the chain drifted for its whole run (min ESS
44 of 200 samples); from the mode reached by one whitened round, the Laplace matrix
alone gives min ESS 55 for 200 samples and 77-100 for 400 (r_Ein, q and the position
angle of a nearly round lens, q = 0.95, mix slowest). The Hessian is symmetrised and its
eigenvalues replaced by ``max(|lambda|, hessian_floor)`` (whitened prior scale is 1, so
a floor of ~0.1-1 never makes a direction wider than the prior) to make it positive
definite.

Optionally (``metric_samples`` > 0) a pilot run with the Laplace matrix comes first,
and the main run uses the pilot's sample covariance shrunk towards the Laplace matrix
(:func:`shrunk_covariance`; Stan's windowed adaptation with one window and the Laplace
matrix, not the identity, as the shrinkage target). It helps where the curvature at the
mode misses a width (a posterior against a prior bound), but a pilot of ~100
correlated samples in ~80 dimensions is a noisy covariance (its eigenvalues relative to
the Laplace matrix spread from 0.1 to 4 by sampling noise alone): measured at the mode
above, 100 pilot + 200 samples gave min ESS 19 against 55 without the pilot. Off by
default.

The posterior is evaluated in float64 (``HmcConfig.dtype``): in float32 the rounding
of a 256^2-pixel log likelihood gives leapfrog energy errors of order 1 that do not
shrink with the step size.

Pyro 1.9 has no argument for an initial dense mass matrix; :class:`_LaplaceMixin`
sets ``mass_matrix_adapter.inverse_mass_matrix`` right after the kernel's own
adapter initialisation and re-runs the step-size search with it. Mass-matrix
adaptation is off by default (the Laplace matrix is kept); step-size adaptation
(dual averaging) runs during the warm-up.

Samplers are picked by name from :data:`SAMPLERS` (``"nuts"`` or ``"hmc"``, the
latter with a jittered trajectory length of up to pi, half a period of the whitened
Gaussian: antithetic proposals in the directions the metric gets right, and long
enough for those that are up to ~2x wider). Measured on a quick-default system at the
highest S/N (500 samples): NUTS 31 gradients per sample and min ESS 124; HMC with a
length of pi/2, 7 gradients per sample and min ESS 28; with pi, 17 and 223. Chains run one
after another, the first from the MAP, the others from Laplace draws around it.
Gradient evaluations are counted by wrapping the potential function.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from pyro.infer.mcmc import HMC, MCMC, NUTS
from pyro.ops.stats import effective_sample_size, split_gelman_rubin
from torch import Tensor

from galprior.progress import progress_bar

from .map import NegativeLogPosterior
from .optim import LbfgsConfig, batched_hessian, preconditioned_lbfgs, regularised_inverse
from .potential import FlatPosterior

__all__ = [
    "HmcConfig",
    "PosteriorResult",
    "SAMPLERS",
    "laplace_hessian",
    "refine_mode",
    "sample_posterior",
    "shrunk_covariance",
    "chain_diagnostics",
]

log = logging.getLogger(__name__)

SITE = "theta"


@dataclass(frozen=True)
class HmcConfig:
    """Settings of :func:`sample_posterior` (the paper: NUTS, 50 warm-up, 500 samples)."""

    sampler: str
    num_warmup: int
    num_samples: int
    num_chains: int
    target_accept_prob: float
    max_tree_depth: int
    trajectory_length: float  # HMC only, in Laplace-whitened units: half a period
    trajectory_jitter: float  # HMC only: lengths drawn from [(1 - jitter) * length, length]
    hessian_floor: float
    adapt_mass_matrix: bool
    refine_iterations: int  # L-BFGS iterations from the MAP to the mode (0: off)
    metric_samples: int  # pilot samples with the Laplace matrix that re-estimate it (0: off)
    metric_prior_weight: float  # pseudo-samples of the Laplace matrix in that estimate
    dtype: str  # precision of the posterior (see galprior.inference.mocks.sample_mocks)
    seed: int


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
        theta = params[SITE]
        if not torch.isfinite(theta).all():  # a diverging trajectory: reject, do not evaluate
            return (0.0 * torch.nan_to_num(theta, nan=0.0, posinf=0.0, neginf=0.0)).sum() + math.inf
        return -self.posterior.log_prob(theta[None], include_jacobian=True)[0]


def laplace_hessian(posterior: FlatPosterior, theta: Tensor) -> Tensor:
    """Hessian (D, D) of -log posterior (with Jacobian) at theta (D,) of one system."""
    return batched_hessian(NegativeLogPosterior(posterior, True), theta.detach()[None])[0]


def refine_mode(posterior: FlatPosterior, theta: Tensor, iterations: int, hessian_floor: float,
                max_rounds: int = 4, tolerance: float = 1.0) -> Tensor:
    """Mode (D,) of one system's sampled density (Jacobian included) from theta (D,):
    rounds of Hessian-preconditioned L-BFGS (:func:`galprior.inference.optim.preconditioned_lbfgs`,
    ``iterations`` each, a fresh Hessian each) until a round gains less than ``tolerance``
    nats, at most ``max_rounds``. One round is not always enough: far from the mode the
    Hessian of the start is a poor preconditioner (quick default, system 0 at sigma =
    0.0333 from the workflow's MAP: the first round stopped 59 iterations in with a
    gradient of 29 after gaining 692 nats)."""
    if iterations == 0:
        return theta

    result = preconditioned_lbfgs(NegativeLogPosterior(posterior, True), theta[None],
                                  LbfgsConfig(max_iter=iterations, grad_tol=1e-3), hessian_floor,
                                  rounds=max_rounds, tolerance=tolerance)
    log.info("mode: %d preconditioned L-BFGS iterations raised the log density by %.1f (max |gradient| %.3g)",
             result.n_iter, float(result.trace[0][0] - result.value[0]), float(result.grad.abs().max()))
    return result.x[0]


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
    """HMC with an initial dense inverse mass matrix and a jittered trajectory length.

    Every iteration integrates for a length drawn uniformly from
    ``[(1 - jitter) * trajectory_length, trajectory_length]``: with one fixed length, the
    directions whose width is a simple fraction of the metric's (half of it, for a length
    of pi) come back to where they started and never mix.
    """

    def __init__(self, *args, trajectory_jitter: float = 0.0, max_steps: int = 64, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.trajectory_jitter, self.max_steps = trajectory_jitter, max_steps

    @property
    def num_steps(self) -> int:
        """Leapfrog steps of the next trajectory, at most ``max_steps`` (as NUTS's tree depth bounds it)."""
        length = self.trajectory_length * (1.0 - self.trajectory_jitter * float(torch.rand(())))
        return min(self.max_steps, max(1, int(length / self.step_size)))


def _make_nuts(potential, inverse_mass_matrix: Tensor, config: HmcConfig):
    return LaplaceNUTS(potential_fn=potential, full_mass=True, adapt_mass_matrix=config.adapt_mass_matrix,
                       target_accept_prob=config.target_accept_prob, max_tree_depth=config.max_tree_depth,
                       inverse_mass_matrix=inverse_mass_matrix)


def _make_hmc(potential, inverse_mass_matrix: Tensor, config: HmcConfig):
    return LaplaceHMC(potential_fn=potential, full_mass=True, adapt_mass_matrix=config.adapt_mass_matrix,
                      target_accept_prob=config.target_accept_prob, trajectory_length=config.trajectory_length,
                      trajectory_jitter=config.trajectory_jitter, max_steps=2**config.max_tree_depth,
                      inverse_mass_matrix=inverse_mass_matrix)


def _make_pyro_nuts(potential, inverse_mass_matrix: Tensor, config: HmcConfig):
    """Pyro's NUTS as Chianese et al. ran it: identity start, diagonal mass-matrix and step-size
    adaptation during the warm-up (``inverse_mass_matrix`` is ignored)."""
    return NUTS(potential_fn=potential, full_mass=False, adapt_mass_matrix=True,
                target_accept_prob=config.target_accept_prob, max_tree_depth=config.max_tree_depth)


#: Registry of samplers, picked by ``HmcConfig.sampler``. ``pyro_nuts`` (the ``paper``
#: inference mode) uses no Laplace matrix, mode refinement or pilot run.
SAMPLERS = {"nuts": _make_nuts, "hmc": _make_hmc, "pyro_nuts": _make_pyro_nuts}


def shrunk_covariance(samples: Tensor, laplace: Tensor, prior_weight: float) -> Tensor:
    """Sample covariance of samples (N, D), shrunk towards the Laplace covariance (D, D).

    ``(N * S + k * C_laplace) / (N + k)`` with k = ``prior_weight``: with a few hundred
    correlated samples in ~80 dimensions the sample covariance alone is noisy, the
    Laplace matrix alone misses the widths that the curvature at the mode does not see
    (a posterior against a prior bound, non-Gaussian tails).
    """
    centred = samples - samples.mean(0)
    sample_cov = centred.T @ centred / max(len(samples) - 1, 1)
    n = len(samples)
    cov = (n * sample_cov + prior_weight * laplace) / (n + prior_weight)
    return 0.5 * (cov + cov.T)


def _mcmc(potential: _CountingPotential, start: Tensor, inverse_mass_matrix: Tensor, config: HmcConfig,
          num_samples: int) -> tuple[MCMC, Any, list[int], int]:
    """Run warm-up + samples; returns the MCMC, its kernel, calls after each sample, calls after warm-up."""
    kernel = SAMPLERS[config.sampler](potential, inverse_mass_matrix, config)
    counts: list[int] = []
    warmup_calls = [potential.calls]

    # Pyro's own bar on a terminal; in a job's log (no terminal) its carriage-return redraws
    # would fill the file, so it is off and galprior's bar logs a line every 30 s instead
    terminal = sys.stderr.isatty()
    bar = None if terminal else progress_bar(total=config.num_warmup + num_samples,
                                             desc="HMC warm-up + samples", unit="it")

    def hook(kernel_, samples, stage, i):
        if stage == "Sample":
            counts.append(potential.calls)
        else:
            warmup_calls[0] = potential.calls
        if bar is not None:
            bar.update(1)

    mcmc = MCMC(kernel, num_samples=num_samples, warmup_steps=config.num_warmup,
                initial_params={SITE: start.detach().clone()}, hook_fn=hook, disable_progbar=not terminal,
                num_chains=1)
    try:
        mcmc.run()
    finally:
        if bar is not None:
            bar.close()
    return mcmc, kernel, counts, warmup_calls[0]


def _run_chain(posterior: FlatPosterior, start: Tensor, inverse_mass_matrix: Tensor,
               config: HmcConfig, chain: int) -> tuple[np.ndarray, np.ndarray, int, float]:
    """One chain: samples (N, D), gradient evaluations per sample (N,), divergences, step size.

    With ``config.metric_samples`` > 0 a pilot run with the Laplace matrix comes first;
    its samples give the mass matrix of the main run (:func:`shrunk_covariance`).
    """
    potential = _CountingPotential(posterior)
    if config.metric_samples:
        pilot, _, _, _ = _mcmc(potential, start, inverse_mass_matrix, config, config.metric_samples)
        pilot_samples = pilot.get_samples()[SITE].detach()
        inverse_mass_matrix = shrunk_covariance(pilot_samples, inverse_mass_matrix, config.metric_prior_weight)
        start = pilot_samples[-1]
    mcmc, kernel, counts, warmup_calls = _mcmc(potential, start, inverse_mass_matrix, config, config.num_samples)
    samples = mcmc.get_samples()[SITE].detach().cpu().numpy()
    # the kernel's record of divergent transitions, which MCMC keeps per chain; its public
    # MCMC.diagnostics() would also compute split R-hat, which Pyro refuses below 4 samples
    divergences = len(mcmc._diagnostics[0]["divergences"])
    evals = np.diff(np.asarray([warmup_calls] + counts))
    log.info("chain %d: %d samples, %.1f gradient evaluations per sample (%d before sampling), %d divergences, "
             "step size %.3g", chain, len(samples), float(np.mean(evals)), warmup_calls, divergences,
             kernel.step_size)
    return samples, evals.astype(np.int64), divergences, float(kernel.step_size)


def sample_posterior(posterior: FlatPosterior, theta_map: Tensor, config: HmcConfig) -> PosteriorResult:
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
    theta_map = torch.as_tensor(theta_map, dtype=posterior.dtype)
    if config.sampler == "pyro_nuts":  # the paper: from the MAP, Pyro's own adaptation
        inverse_mass = torch.eye(len(theta_map), dtype=theta_map.dtype, device=theta_map.device)
    else:
        theta_map = refine_mode(posterior, theta_map, config.refine_iterations, config.hessian_floor)
        inverse_mass = regularised_inverse(laplace_hessian(posterior, theta_map), config.hessian_floor)
        log.info("Laplace Hessian in %.1f s", time.perf_counter() - t0)
    gen = torch.Generator().manual_seed(config.seed)
    chol = torch.linalg.cholesky(inverse_mass.double()).to(theta_map.dtype)
    out = []
    torch.manual_seed(config.seed)
    for chain in range(config.num_chains):
        start = theta_map if chain == 0 else theta_map + chol @ torch.randn(len(theta_map), generator=gen, dtype=chol.dtype).to(chol.device)
        out.append(_run_chain(posterior, start, inverse_mass, config, chain))
    return PosteriorResult(
        theta=np.stack([o[0] for o in out]),
        grad_evals=np.stack([o[1] for o in out]),
        divergences=np.asarray([o[2] for o in out], dtype=np.int64),
        step_size=np.asarray([o[3] for o in out]),
        wall_time=time.perf_counter() - t0,
        inverse_mass_matrix=inverse_mass.cpu().numpy(),
    )


def chain_diagnostics(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split R-hat and effective sample size (summed over chains) of samples (C, N, P) -> (P,), (P,).

    Both are NaN (undefined) below 4 samples per chain: split R-hat needs two halves of at
    least 2 samples."""
    if np.shape(samples)[1] < 4:
        return np.full(np.shape(samples)[-1], np.nan), np.full(np.shape(samples)[-1], np.nan)
    x = torch.as_tensor(samples, dtype=torch.float64)
    ess = effective_sample_size(x, chain_dim=0, sample_dim=1).numpy()
    r_hat = split_gelman_rubin(x, chain_dim=0, sample_dim=1).numpy()
    # a chain half without variance (e.g. a stuck chain, or a parameter fixed by the model)
    # makes R-hat 0/0 or x/0: undefined, stored as NaN rather than inf
    r_hat = np.where(np.isfinite(r_hat), r_hat, np.nan)
    return r_hat, ess
