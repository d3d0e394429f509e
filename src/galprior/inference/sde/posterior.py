"""Posterior samples of the pixelated sources of the mock lenses (Adam et al. 2022 sec. 2.2).

The score of the posterior at diffusion time t is (eq. 5 with the convolved likelihood,
eq. 19)

    grad log p_t(x | y) = s_theta(x, t) + A^T (y - A x) / (sigma_N^2 + sigma(t)^2),

and the reverse-time SDE (eq. 4) is integrated by one of ``solvers.SOLVERS`` for many
samples of many systems in one batch (``max_batch`` (system, sample) pairs at a time). The
solvers get the network's score and the likelihood apart (``solvers.solve``), so that the
linearly implicit solver can treat the likelihood implicitly; the network evaluations and
the applications of A and A^T are counted (:class:`SamplingCost`).

Units. The prior learns images x in its own units, and A acts on surface brightness
s = scale x + offset (:mod:`galprior.data.score_normalisation`; ``unit_peak``: s = x). The
data and their noise are written in the prior's units (:func:`data_in_prior_units`),

    y' = (y - offset A 1) / scale,    sigma_N' = sigma_N / scale,

so that y' = A x + eta', and eq. 19 holds as printed: N(y' | A x_t, (sigma_N'^2 + sigma(t)^2) 1),
i.e. N(y | A s_t, sigma_N^2 + scale^2 sigma(t)^2) for the brightness (A A^T ~ 1, app. A).
The samples are stored as surface brightness, like the mocks' sources.

Two modes of the lens:

* **known** (the paper): A is built from the true SIE + shear parameters and source grid;
* **map** (beyond the paper): the lens comes from a MAP fit of the same observation with
  the Chianese et al. machinery (:func:`galprior.inference.map.fit_map`: VAE source,
  EPL + shear with the slope fixed at the mocks' value, restarts, Adam then L-BFGS), and
  the source is sampled given that lens. The source grid takes the MAP's ``scale`` and
  position with intensity 1: the prior's galaxies are in its own brightness unit, and the
  VAE's intensity is tied to its own (different) normalisation. The lens uncertainty is not
  propagated (a single MAP lens): the comparison with the known-lens posterior shows
  what that costs.

N for Euler-Maruyama comes from Technique 2 of Song & Ermon (app. B) at our dimension
n = source_size^2 unless ``steps.euler_maruyama`` is set; the store records it and p(N).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from galprior.progress import progress_bar

from galprior.data.score_normalisation import Normalisation, get_normalisation
from galprior.lensing.operator import LensingOperator, largest_eigenvalue, normal_spectrum
from galprior.lensing.simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES, LensSimulator
from galprior.lensing.products import score_simulator, truth_sources
from galprior.models.score.network import ScoreUNet
from galprior.models.score.sde import technique2_probability, technique2_steps
from galprior.store import ScoreLensSet, SdePosteriorSet

from .likelihood import ConvolvedLikelihood
from .solvers import LIKELIHOOD_SPLIT_SOLVERS, SOLVERS, score_evaluations, solve, steps_taken

__all__ = ["SdeSettings", "likelihood_covariance", "PosteriorScore", "SamplingCost", "score_simulator", "data_in_prior_units",
           "sample_sources", "sample_mocks", "map_lens", "truth_sources"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SdeSettings:
    """The config's ``adam.sde`` block (defaults in the schema only)."""

    n_samples: int
    probability: float
    solvers: list[str]
    steps: dict[str, Any]
    map_lens_solver: str
    heun: dict[str, float]
    predictor_corrector: dict[str, float]
    imex_euler_maruyama: dict[str, Any]
    max_batch: int
    likelihood: dict[str, Any]  # covariance: identity (eq. 19) | exact
    stability_refinement: bool = True

    def __post_init__(self) -> None:
        unknown = [s for s in [*self.solvers, self.map_lens_solver] if s not in SOLVERS]
        if unknown:
            raise ValueError(f"adam.sde names unknown solvers {unknown}; expected {sorted(SOLVERS)}")

    def options(self, solver: str) -> dict[str, Any]:
        """Solver-specific options (Heun's rho and churn, the corrector's snr, the implicit
        solver's CG settings, kappa and prior step)."""
        return dict({"heun": self.heun, "predictor_corrector": self.predictor_corrector,
                     "imex_euler_maruyama": self.imex_euler_maruyama}.get(solver, {}))

    def n_steps(self, solver: str, n_dim: int, sigma_min: float, sigma_max: float) -> int:
        """Steps of ``solver``: ``steps[solver]``, or Technique 2 (``probability``) when null."""
        steps = self.steps.get(solver)
        return int(steps) if steps else technique2_steps(n_dim, sigma_min, sigma_max, self.probability)


class PosteriorScore:
    """The two terms of grad log p_t(x | y) = s_theta(x, t) + convolved-likelihood score
    (eq. 5 and 19), kept apart; :func:`solvers.solve` adds them for the explicit solvers.

    ``prior`` is the network's term alone (``network_count`` counts its calls, one per
    batch), ``likelihood`` the :class:`ConvolvedLikelihood` (which counts A and A^T).
    """

    def __init__(self, model: ScoreUNet, operator, observation: Tensor, sigma_noise: Tensor,
                 covariance: str = "identity", spectrum: tuple[Tensor, Tensor, Tensor] | None = None):
        self.model = model
        sigma_data = getattr(model, "sigma_data", None)
        self.likelihood = ConvolvedLikelihood(operator, observation, sigma_noise, covariance, spectrum,
                                              data_variance=sigma_data**2 if sigma_data else None)
        self.network_count = 0

    def prior(self, x: Tensor, t: Tensor) -> Tensor:
        """s_theta(x, t)."""
        self.network_count += 1
        with torch.no_grad():
            return self.model.score(x, t)


@dataclass
class SamplingCost:
    """Work per posterior sample, averaged over the batches of :func:`sample_sources`:
    network score evaluations, applications of A and of A^T (a batch call counts once for
    each of its samples)."""

    network: float = 0.0
    forward: float = 0.0
    adjoint: float = 0.0
    samples: int = 0

    def add(self, score: PosteriorScore, n_samples: int) -> None:
        """Add the counts of one batch of ``n_samples`` samples."""
        total = self.samples + n_samples
        for name, count in (("network", score.network_count), ("forward", score.likelihood.forward_count),
                            ("adjoint", score.likelihood.adjoint_count)):
            setattr(self, name, (getattr(self, name) * self.samples + count * n_samples) / total)
        self.samples = total


def data_in_prior_units(operator, observations: Tensor, noise_sigma: Tensor,
                        normalisation: Normalisation) -> tuple[Tensor, Tensor]:
    """(y', sigma_N') = ((y - offset A 1) / scale, sigma_N / scale) for a batch (module
    docstring): the data as A would make them from the prior's x. Unit: prior unit."""
    if normalisation.offset:
        with torch.no_grad():
            ones = torch.ones((operator.batch_size, *operator.source_shape), dtype=observations.dtype,
                              device=observations.device)
            observations = observations - normalisation.offset * operator.forward(ones)
    return observations / normalisation.scale, noise_sigma / normalisation.scale


def likelihood_covariance(likelihood: dict[str, Any] | None) -> str:
    """The likelihood form every solver samples with: ``identity`` (eq. 19), ``exact`` or
    ``tweedie`` (the explicit solvers through the score, the implicit one through its step)."""
    return (likelihood or {}).get("covariance", "identity")


def sample_sources(model: ScoreUNet, simulator: LensSimulator, lens_parameters: np.ndarray,
                   source_parameters: np.ndarray, observations: np.ndarray, noise_sigma: np.ndarray,
                   solver: str, n_steps: int, n_samples: int, max_batch: int, seed: int,
                   device: torch.device | str = "cpu", cost: SamplingCost | None = None,
                   stability_refinement: bool = True, likelihood: dict[str, Any] | None = None,
                   **options) -> tuple[np.ndarray, np.ndarray, int]:
    """``n_samples`` posterior samples of each of S systems.

    With ``stability_refinement`` (beyond the paper), the largest eigenvalue of A^T A of each
    batch (power iteration) is passed to an explicit solver as ``stiffness``, which refines its
    grid where the likelihood step would be unstable (``solvers`` module docstring); the
    implicit solver needs none. Without it every solver takes exactly ``n_steps`` (the paper's
    N uniform Euler-Maruyama steps). With
    ``cost``, the network evaluations and operator applications per sample are added to it.
    ``likelihood``: the :class:`ConvolvedLikelihood` settings (``covariance``: ``identity``,
    eq. 19; ``exact`` or ``tweedie``, beyond the paper, for every solver, with the spectrum
    of A^T A of each lens computed once here).

    ``observations`` and ``noise_sigma`` are in the image's brightness unit; the sampling runs
    in the prior's units (:func:`data_in_prior_units`). Returns samples (S, n_samples, M, M)
    float32 as surface brightness, the wall time per system (S,) in s, and the largest number
    of steps taken by a batch.
    """
    model = model.to(device).eval()
    normalisation = get_normalisation(model.normalisation)
    size = model.image_size
    n_sys = len(observations)
    pairs = np.repeat(np.arange(n_sys), n_samples)
    dtype = simulator.theta_x.dtype
    samples = np.empty((n_sys * n_samples, size, size), np.float32)
    wall = np.zeros(n_sys)
    generator = torch.Generator().manual_seed(seed)
    chunks = range(0, len(pairs), max_batch)
    taken = 0
    spectra = None
    covariance = likelihood_covariance(likelihood)
    if covariance != "identity":
        # A^T A of each lens once, shared by its samples (likelihood module docstring)
        parts = [normal_spectrum(LensingOperator(
            simulator, torch.as_tensor(lens_parameters[[s]], dtype=dtype, device=device),
            torch.as_tensor(source_parameters[[s]], dtype=dtype, device=device), (size, size)))
            for s in progress_bar(range(n_sys), desc="spectra of A^T A", leave=False)]
        spectra = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
    for start in progress_bar(chunks, desc=f"{solver} ({n_steps} steps)", leave=False):
        idx = pairs[start:start + max_batch]
        started = time.perf_counter()
        op = LensingOperator(simulator, torch.as_tensor(lens_parameters[idx], dtype=dtype, device=device),
                             torch.as_tensor(source_parameters[idx], dtype=dtype, device=device),
                             (size, size))
        y, sigma_n = data_in_prior_units(op, torch.as_tensor(observations[idx], dtype=dtype, device=device),
                                         torch.as_tensor(noise_sigma[idx], dtype=dtype, device=device),
                                         normalisation)
        score = PosteriorScore(model, op, y, sigma_n, covariance,
                               (*spectra, torch.as_tensor(idx, device=device)) if spectra else None)
        # the implicit solver needs no stability refinement: skip the power iteration
        refine = stability_refinement and solver not in LIKELIHOOD_SPLIT_SOLVERS
        stiffness = float(largest_eigenvalue(op).max()) if refine else None
        noise = float(sigma_n.min())
        taken = max(taken, steps_taken(solver, model.sde, n_steps, stiffness, noise, **options))
        x = solve(solver, score.prior, model.sde, (len(idx), size, size), n_steps, generator=generator,
                  dtype=dtype, device=device, progress=len(chunks) == 1, likelihood=score.likelihood,
                  stiffness=stiffness, noise_sigma=noise, **options)
        if cost is not None:
            cost.add(score, len(idx))
        samples[start:start + len(idx)] = normalisation.to_brightness(x).cpu().numpy()
        np.add.at(wall, idx, (time.perf_counter() - started) / len(idx))  # each pair's share
    return samples.reshape(n_sys, n_samples, size, size), wall, taken


def map_lens(mocks: ScoreLensSet, source_model, priors, map_config,
             device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Lens (S, 8) and source-grid (S, 4) parameters from a MAP fit of each observation.

    The Chianese et al. MAP (VAE source, restarts, Adam + L-BFGS) on the Adam mocks'
    simulator; the slope is fixed at the mocks' slope. The source grid keeps the MAP's
    scale and position, with intensity 1 (see the module docstring).
    """
    from galprior.inference.map import constrained_numpy, fit_map, repeat_for_restarts
    from galprior.inference.mocks import parameter_matrix
    from galprior.inference.potential import FlatPosterior

    slope = float(mocks.lens_parameters[0, 1])
    priors = dataclasses.replace(priors, fixed_slope=slope)
    sim = score_simulator(mocks, device=device)
    obs = torch.as_tensor(mocks.observations, dtype=torch.float32, device=device)
    sigma = torch.as_tensor(mocks.noise_sigma, dtype=torch.float32, device=device)
    obs_r, sigma_r = repeat_for_restarts(obs, sigma, map_config.n_restarts)
    posterior = FlatPosterior(obs_r, sigma_r, sim, source_model.decoder, source_model.latent_prior,
                              priors, include_jacobian=map_config.include_jacobian, seed=map_config.seed)
    result = fit_map(posterior, len(obs), map_config)
    values = constrained_numpy(posterior, result.best_theta)
    lens = parameter_matrix(values, LENS_PARAMETER_NAMES)
    source = parameter_matrix(values, SOURCE_PARAMETER_NAMES)
    source[:, 0] = 1.0
    err = np.abs(lens[:, 0] / mocks.lens_parameters[:, 0] - 1)
    logger.info("MAP lens: Einstein radius errors %s %%", np.round(100 * err, 2).tolist())
    return lens, source


def sample_mocks(model: ScoreUNet, mocks: ScoreLensSet, settings: SdeSettings, solver: str, seed: int,
                 lens: str = "known", lens_parameters: np.ndarray | None = None,
                 source_parameters: np.ndarray | None = None,
                 device: torch.device | str = "cpu") -> SdePosteriorSet:
    """Posterior samples of every mock system with ``solver``; the lens is the truth
    (``lens='known'``) or the given MAP parameters (``lens='map'``)."""
    if lens == "known":
        lens_parameters, source_parameters = mocks.lens_parameters, mocks.source_parameters
    elif lens_parameters is None or source_parameters is None:
        raise ValueError(f"lens={lens!r} needs lens_parameters and source_parameters")
    sde = model.sde
    n_dim = model.image_size**2
    n_steps = settings.n_steps(solver, n_dim, sde.sigma_min, sde.sigma_max)
    p_n = float(technique2_probability(n_steps, n_dim, sde.sigma_min, sde.sigma_max))
    logger.info("%s, %s lens: %d steps (Technique-2 p(N) = %.3f at n = %d), %d samples x %d systems",
                solver, lens, n_steps, p_n, n_dim, settings.n_samples, len(mocks.observations))
    cost = SamplingCost()
    samples, wall, taken = sample_sources(
        model, score_simulator(mocks, device=device), np.asarray(lens_parameters), np.asarray(source_parameters),
        mocks.observations, mocks.noise_sigma, solver, n_steps, settings.n_samples, settings.max_batch,
        seed, device=device, cost=cost, stability_refinement=settings.stability_refinement,
        likelihood=settings.likelihood, **settings.options(solver))
    if taken != n_steps:
        logger.info("%s took %d steps (%d requested) to keep the likelihood step stable", solver, taken, n_steps)
    requested, n_steps = n_steps, taken
    p_n = float(technique2_probability(n_steps, n_dim, sde.sigma_min, sde.sigma_max))
    return SdePosteriorSet(
        samples=samples, lens_parameters=np.asarray(lens_parameters, np.float64),
        source_parameters=np.asarray(source_parameters, np.float64), wall_time=wall,
        attrs={"solver": solver, "n_steps": n_steps, "n_steps_requested": requested,
               "score_evaluations": score_evaluations(solver, n_steps),
               "network_evaluations": cost.network, "forward_applications": cost.forward,
               "adjoint_applications": cost.adjoint,
               "lens": lens, "technique2_probability": p_n, "n_dim": n_dim,
               "sigma_min": sde.sigma_min, "sigma_max": sde.sigma_max,
               "solver_options": settings.options(solver),
               "likelihood_covariance": likelihood_covariance(settings.likelihood),
               "lens_parameter_names": list(LENS_PARAMETER_NAMES),
               "source_parameter_names": list(SOURCE_PARAMETER_NAMES)})
