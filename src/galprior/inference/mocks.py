"""Workflow products of the lens inference: MAP and HMC runs over a mock-lens store.

These functions connect the stores (``galprior.store``) to the inference
machinery: they build one :class:`~galprior.inference.potential.FlatPosterior` per
noise level (MAP: all systems x restarts in one batch) or per system (HMC), run it,
and pack the results into ``MapResultSet`` / ``PosteriorSampleSet``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Sequence

import numpy as np
import torch
from galprior.progress import progress_bar

from galprior.inference.hmc import HmcConfig, chain_diagnostics, sample_posterior
from galprior.inference.map import (MapConfig, constrained_numpy, fit_map_adaptive, NegativeLogPosterior,
                                    repeat_for_restarts)
from galprior.inference.model import ELLIPTICITY_SITE, LATENT_SITE
from galprior.inference.optim import LbfgsConfig, batched_lbfgs, preconditioned_lbfgs
from galprior.inference.potential import FlatPosterior
from galprior.lensing.priors import LensSourcePrior, ellipticity_from_shape
from galprior.lensing.products import simulator_for, source_plane_image
from galprior.lensing.simulator import LENS_PARAMETER_NAMES, LensSimulator, SOURCE_PARAMETER_NAMES
from galprior.metrics.lens_recovery import (CIRCULAR, ELLIPTICITY_COLUMNS, circular_mean, nearest_turn,
                                            reduced_chi2, with_ellipticity)
from galprior.models.vae.source_model import SourceModel
from galprior.store import MapResultSet, MockLensSet, PosteriorSampleSet

logger = logging.getLogger(__name__)


def parameter_matrix(values: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """Stack named constrained values (..., ) into (..., len(names))."""
    return np.stack([np.asarray(values[n], np.float64) for n in names], axis=-1)


def _fit_chunk(mocks: MockLensSet, level: int, systems: np.ndarray, simulator: LensSimulator,
               source: SourceModel, priors: LensSourcePrior, config: MapConfig,
               plane_size: float, plane_pixels: int, device: torch.device) -> dict[str, np.ndarray]:
    """MAP of some systems at one noise level: every array of ``MapResultSet`` but the
    truth, with the systems on the first axis."""
    n_sys = len(systems)
    sigma = torch.full((n_sys,), float(mocks.noise_sigma[level]), device=device)
    obs = torch.as_tensor(mocks.observations[systems, level], dtype=torch.get_default_dtype(), device=device)
    obs_r, sigma_r = repeat_for_restarts(obs, sigma, config.n_restarts)
    posterior = FlatPosterior(obs_r, sigma_r, simulator, source.decoder, source.latent_prior,
                              priors, include_jacobian=config.include_jacobian, seed=config.seed)
    result, tried = fit_map_adaptive(posterior, n_sys, config,
                                     lambda theta: constrained_numpy(posterior, theta)["einstein_radius"])
    best = result.best_theta
    values = constrained_numpy(posterior, best)
    index = torch.as_tensor(np.arange(n_sys) * config.n_restarts, device=device)
    best_t = torch.as_tensor(best, dtype=torch.get_default_dtype(), device=device)
    with torch.no_grad():
        model = posterior.subset(index).model_image(best_t).cpu().numpy()
        decoded = source.decoder(torch.as_tensor(values["latent"], dtype=best_t.dtype, device=device)).cpu()
    source_params = parameter_matrix(values, SOURCE_PARAMETER_NAMES)
    return {
        "lens_parameters": parameter_matrix(values, LENS_PARAMETER_NAMES),
        "source_parameters": source_params,
        "latents": np.asarray(values["latent"], np.float64),
        "log_posterior": result.log_posterior,
        "best_restart": result.best.astype(np.int64),
        "restarts_tried": tried,
        "loss_trace": np.moveaxis(result.loss_trace, 0, -1).astype(np.float32),
        "reduced_chi2": reduced_chi2(mocks.observations[systems, level], model,
                                     mocks.noise_sigma[level], n_parameters=best.shape[-1]),
        "model_images": model.astype(np.float32),
        "source_plane": source_plane_image(decoded.reshape(n_sys, *decoded.shape[-2:]).numpy(),
                                           source_params, plane_size, plane_pixels),
    }


def map_fit_mocks(mocks: MockLensSet, source: SourceModel, priors: LensSourcePrior,
                  config: MapConfig, device: torch.device | str = "cpu") -> MapResultSet:
    """MAP of every system at every noise level (best of ``config.n_restarts``), on ``device``."""
    device = torch.device(device)
    source = source.to(device=device)
    simulator = simulator_for(mocks, device=device)
    n_sys, n_lev = mocks.observations.shape[:2]
    plane_size, plane_pixels = mocks.attrs["source_plane_size"], mocks.sources.shape[-1]
    per_level = []
    chunk = max(1, config.max_batch // config.n_restarts)
    for level in range(n_lev):
        started = time.perf_counter()
        parts = [_fit_chunk(mocks, level, np.arange(n_sys)[i:i + chunk], simulator, source,
                            priors, config, plane_size, plane_pixels, device)
                 for i in range(0, n_sys, chunk)]
        merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        merged["wall_time"] = np.full(n_sys, (time.perf_counter() - started) / n_sys)
        per_level.append(merged)
        logger.info("noise level %d (sigma %.3g): median reduced chi2 %.3f, %.1f s per system",
                    level, mocks.noise_sigma[level], float(np.median(merged["reduced_chi2"])),
                    merged["wall_time"][0])

    stacked = {key: np.stack([item[key] for item in per_level], axis=1) for key in per_level[0]}
    return MapResultSet(
        **stacked,
        source_plane_truth=source_plane_image(mocks.sources, mocks.source_parameters,
                                              plane_size, plane_pixels),
        attrs={"source_plane_size": plane_size,
               "parameter_convention": mocks.attrs["parameter_convention"],  # r_Ein of eqs. 11-12
               "lens_parameter_names": list(LENS_PARAMETER_NAMES),
               "source_parameter_names": list(SOURCE_PARAMETER_NAMES),
               "map_config": dataclasses.asdict(config),
               "noise_sigma": mocks.noise_sigma.tolist()},
    )


def _min_defined(values: np.ndarray) -> float:
    """Smallest non-NaN value, NaN when none is defined (for the log)."""
    defined = values[~np.isnan(values)]
    return float(defined.min()) if defined.size else float("nan")


def tree_depth_hits(grad_evals: np.ndarray, config: HmcConfig) -> np.ndarray:
    """Samples per chain whose trajectory reached the sampler's step cap: (..., C, N) -> (..., C).

    One leapfrog step costs one gradient evaluation. NUTS doubles its tree up to
    ``max_tree_depth`` times, ``2**max_tree_depth - 1`` steps in all: a sample that took
    that many stopped at the cap, not because the trajectory turned (Stan's "max
    treedepth" warning). The jittered HMC caps its steps at ``2**max_tree_depth``.
    """
    cap = 2 ** config.max_tree_depth - (1 if config.sampler == "nuts" else 0)
    return (np.asarray(grad_evals) >= cap).sum(axis=-1).astype(np.int64)


def r_hat_method(n_chains: int) -> str:
    """How :func:`~galprior.inference.hmc.chain_diagnostics` computes R-hat for ``n_chains``."""
    base = ("split R-hat (Gelman et al. 2013, BDA3 eq. 11.4; pyro.ops.stats.split_gelman_rubin): "
            "every chain cut in two halves")
    if n_chains == 1:
        return base + "; ONE chain, so it compares its two halves only (stationarity, not mixing)"
    return base + f"; {n_chains} chains, {2 * n_chains} half-chains"


def unwrapped_for_diagnostics(samples: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Samples (C, N, P) with every circular column (:data:`~galprior.metrics.lens_recovery.CIRCULAR`:
    the position angle, period pi) unwrapped around its circular mean over all chains.

    R-hat and the ESS are statistics of a real-valued series. Taken on raw angles in [0, pi),
    a posterior that straddles 0 = pi (a lens whose major axis is near the x axis, or a
    nearly round one) counts every crossing as a jump of ~pi: the split halves disagree and
    the autocorrelation is that of the wrap-around, not of the chain. Unwrapped around the
    circular mean into [mean - pi/2, mean + pi/2) the series is the angle's own.
    """
    out = np.array(samples, dtype=np.float64, copy=True)
    for name, period in CIRCULAR.items():
        if name in names:
            j = list(names).index(name)
            centre = circular_mean(out[..., j].reshape(-1), period)
            out[..., j] = nearest_turn(out[..., j], centre, period)
    return out


def sample_mocks(mocks: MockLensSet, map_result: MapResultSet, source: SourceModel,
                 priors: LensSourcePrior, config: HmcConfig, systems: list[int],
                 device: torch.device | str = "cpu") -> PosteriorSampleSet:
    """HMC/NUTS posterior samples of the chosen systems at every noise level.

    Everything (simulator, decoder, observation) runs in ``config.dtype``: in float32
    the rounding of a 256^2-pixel log likelihood gives leapfrog energy errors of order
    1 that do not shrink with the step size, and NUTS answers with tiny steps.
    """
    dtype = getattr(torch, config.dtype)
    device = torch.device(device)
    source = source.to(dtype, device)
    simulator = simulator_for(mocks, dtype, device)
    names = LENS_PARAMETER_NAMES + SOURCE_PARAMETER_NAMES + tuple(
        f"latent_{i}" for i in range(source.latent_dim)) + ELLIPTICITY_COLUMNS
    n_lev = mocks.observations.shape[1]
    results = {}
    jobs = [(s, level) for s in systems for level in range(n_lev)]
    for s, level in progress_bar(jobs, desc="HMC systems x noise levels"):
        obs = torch.as_tensor(mocks.observations[s, level][None], dtype=dtype, device=device)
        posterior = FlatPosterior(obs, float(mocks.noise_sigma[level]), simulator, source.decoder,
                                  source.latent_prior, priors, seed=config.seed)
        out = sample_posterior(posterior, map_start(posterior, map_result, s, level), config)
        n_chains, n_samples = out.theta.shape[:2]
        values = constrained_numpy(posterior, out.theta.reshape(-1, out.theta.shape[-1]))
        lens = parameter_matrix(values, LENS_PARAMETER_NAMES)
        physical = np.concatenate(
            [lens, parameter_matrix(values, SOURCE_PARAMETER_NAMES), np.asarray(values["latent"], np.float64),
             with_ellipticity(lens, LENS_PARAMETER_NAMES)[..., len(LENS_PARAMETER_NAMES):]], axis=-1,
        ).reshape(n_chains, n_samples, -1)
        r_hat, ess = chain_diagnostics(unwrapped_for_diagnostics(physical, names))
        results[s, level] = (physical, r_hat, ess, out)
        logger.info("system %d level %d: %.0f s, %.1f gradients/sample, min ESS %.0f, "
                    "divergences %s", s, level, out.wall_time, out.grad_evals.mean(),
                    _min_defined(ess[:len(LENS_PARAMETER_NAMES)]), out.divergences.tolist())

    def grid(fn, dtype=np.float64):
        return np.asarray([[fn(results[s, level]) for level in range(n_lev)] for s in systems],
                          dtype=dtype)

    return PosteriorSampleSet(
        samples=grid(lambda r: r[0], np.float32),
        r_hat=grid(lambda r: r[1]),  # NaN where undefined: missing, not a converged 1.0
        ess=grid(lambda r: r[2]),
        divergences=grid(lambda r: r[3].divergences, np.int64),
        tree_depth_hits=grid(lambda r: tree_depth_hits(r[3].grad_evals, config), np.int64),
        grad_evals=grid(lambda r: r[3].grad_evals, np.int64),
        step_size=grid(lambda r: r[3].step_size),
        wall_time=grid(lambda r: r[3].wall_time),
        attrs={"parameter_names": list(names), "hmc_config": dataclasses.asdict(config),
               "parameter_convention": mocks.attrs["parameter_convention"],
               "noise_sigma": mocks.noise_sigma.tolist(), "systems": list(systems),
               "r_hat_method": r_hat_method(config.num_chains)},
    )


def site_values(posterior: FlatPosterior, lens_parameters: np.ndarray, source_parameters: np.ndarray,
                 latents: np.ndarray) -> dict[str, torch.Tensor]:
    """Site values of ``posterior`` (the model's parametrisation: q and phi as the ellipticity
    vector, :func:`galprior.lensing.priors.ellipticity_from_shape`) from lens (B, 8) and source (B, 4) parameter rows in
    ``LENS_PARAMETER_NAMES`` / ``SOURCE_PARAMETER_NAMES`` order and latents (B, D)."""
    def col(matrix: np.ndarray, j: int) -> torch.Tensor:
        return torch.as_tensor(matrix[:, j], dtype=posterior.dtype, device=posterior.device)

    values = {name: col(lens_parameters, j) for j, name in enumerate(LENS_PARAMETER_NAMES)
              if name not in ("axis_ratio", "position_angle")}
    values[ELLIPTICITY_SITE] = ellipticity_from_shape(col(lens_parameters, LENS_PARAMETER_NAMES.index("axis_ratio")),
                                                      col(lens_parameters, LENS_PARAMETER_NAMES.index("position_angle")))
    values.update({name: col(source_parameters, j) for j, name in enumerate(SOURCE_PARAMETER_NAMES)})
    values[LATENT_SITE] = torch.as_tensor(latents, dtype=posterior.dtype, device=posterior.device)
    return values


def map_start(posterior: FlatPosterior, map_result: MapResultSet, system: int, level: int) -> torch.Tensor:
    """The MAP of one system and level as theta (D,) of ``posterior``, from its parameter
    values. The MAP's own theta is in the whitening of the MAP's posterior, drawn with the
    MAP's seed; read in another whitening it is another point, so the store keeps only
    parameter values (layout 3). Read as is (layout 2 stored it), the HMC's mode search
    from it gained 16 / 80 / 721 nats (system 0) and 23 / 280 / 2,619 (system 3) at sigma =
    0.333 / 0.1 / 0.0333 in the quick default's DAG of 8596a19; from the MAP's values
    0.3-6.6 nats (DAG of 7ddde82)."""
    values = site_values(posterior, map_result.lens_parameters[system, level][None],
                         map_result.source_parameters[system, level][None],
                         map_result.latents[system, level][None])
    return posterior.to_theta(values)[0]


def mode_from_truth(posterior: FlatPosterior, start: torch.Tensor, include_jacobian: bool,
                    iterations: int = 300, hessian_floor: float = 0.5,
                    rounds: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two stages from ``start`` (B, D), e.g. the truth with z at the prior mean: the source
    parameters and z with the lens held (the best source for that lens), then everything.
    Each stage is ``iterations`` of L-BFGS (from the truth with z at the prior mean the
    start is thousands of nats from a mode) and then ``rounds`` rounds of Hessian-whitened
    L-BFGS (:func:`galprior.inference.optim.preconditioned_lbfgs`), which plain L-BFGS
    alone does not replace at high S/N. Returns the log posterior after each stage (B,),
    (B,) and the final theta."""
    objective = NegativeLogPosterior(posterior, include_jacobian)
    free = torch.zeros(posterior.dim, dtype=torch.bool, device=start.device)
    for site in posterior.sites:
        free[site.start:site.stop] = site.name not in LENS_PARAMETER_NAMES + (ELLIPTICITY_SITE,)

    def source_only(sub: torch.Tensor) -> torch.Tensor:
        full = start.clone()
        full[:, free] = sub
        return objective(full)

    lbfgs = LbfgsConfig(max_iter=iterations)

    def optimise(fn, x):
        return preconditioned_lbfgs(fn, batched_lbfgs(fn, x, lbfgs).x, lbfgs, hessian_floor, rounds)

    held = optimise(source_only, start[:, free])
    theta = start.clone()
    theta[:, free] = held.x
    result = optimise(objective, theta)
    return -held.value, -result.value, result.x


def truth_started_optimum(mocks: MockLensSet, level: int, source: SourceModel, priors: LensSourcePrior,
                          config: MapConfig, iterations: int = 300,
                          device: torch.device | str = "cpu", latents: np.ndarray | None = None,
                          source_parameters: np.ndarray | None = None,
                          dtype: torch.dtype = torch.float32) -> dict[str, np.ndarray]:
    """The posterior mode reached from the TRUTH of every mock at one noise level: is a
    MAP's error a missed mode, or the best the source model can do (misspecification)?

    Start: the true lens and source parameters, z at the prior mean (or the given
    ``latents`` (S, D) and ``source_parameters`` (S, 4), e.g. the encoder's z of each mock's
    galaxy and the scale its shrunk stamp calls for: E5 of issue 32). Stage 1: L-BFGS of
    the source parameters and z with the lens held at the truth (the best source the VAE
    can give the true lens); stage 2: L-BFGS of everything from there
    (:func:`mode_from_truth`). Chianese et al. 2020 sec. 5.3 blame their ~1 % biases on
    the VAE's "blurred and hazy reconstructions"; this measures that directly. Read, per
    system, with N pixels (Delta chi^2 = 2 Delta log p):

    * ``2 (free - fixed_lens)`` much above ``sqrt(2 N)``: the source model cannot fit the
      true lens; moving the lens buys a better fit, so the posterior mode is biased;
    * ``2 (free - map)`` above ``sqrt(2 N)``: the MAP missed a better mode (optimisation).

    ``dtype``: the precision of the whole computation (float64: E5 of issue 32). Log
    posteriors are those of :func:`galprior.inference.map.fit_map` with
    ``config.include_jacobian`` (comparable with ``MapResultSet.log_posterior``).
    Returns ``log_posterior_fixed_lens``, ``log_posterior`` (S,) and ``lens_parameters`` (S, 8)
    of the free optimum.
    """
    device = torch.device(device)
    source = source.to(dtype=dtype, device=device)
    obs = torch.as_tensor(mocks.observations[:, level], dtype=dtype, device=device)
    posterior = FlatPosterior(obs, float(mocks.noise_sigma[level]), simulator_for(mocks, dtype=dtype, device=device),
                              source.decoder, source.latent_prior, priors,
                              include_jacobian=config.include_jacobian, seed=config.seed)
    if latents is None:
        latents = np.tile(source.latent_prior.loc.detach().cpu().numpy(), (len(mocks), 1))
    source_parameters = mocks.source_parameters if source_parameters is None else source_parameters
    start = posterior.to_theta(site_values(posterior, mocks.lens_parameters, source_parameters, latents))
    held, free, theta = mode_from_truth(posterior, start, config.include_jacobian, iterations,
                                        config.hessian_floor)
    values = constrained_numpy(posterior, theta.cpu().numpy())
    return {"log_posterior_fixed_lens": held.cpu().numpy().astype(np.float64),
            "log_posterior": free.cpu().numpy().astype(np.float64),
            "lens_parameters": parameter_matrix(values, LENS_PARAMETER_NAMES)}
