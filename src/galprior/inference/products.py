"""Workflow products of the lens inference: MAP and HMC runs over a mock-lens store.

These functions connect the stores (``galprior.data.store``) to the inference
machinery: they build one :class:`~galprior.inference.potential.FlatPosterior` per
noise level (MAP: all systems x restarts in one batch) or per system (HMC), run it,
and pack the results into ``MapResultSet`` / ``PosteriorSampleSet``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyro.distributions as dist
import torch
from tqdm import tqdm

from galprior.data.store import MapResultSet, MockLensSet, PosteriorSampleSet
from galprior.inference.hmc import HmcConfig, chain_diagnostics, sample_posterior
from galprior.inference.map import MapConfig, constrained_numpy, fit_map, repeat_for_restarts
from galprior.inference.model import as_pyro_latent_prior
from galprior.inference.potential import FlatPosterior
from galprior.inference.priors import PriorConfig
from galprior.lensing.func.raytrace import pixel_grid
from galprior.lensing.func.source import source_brightness
from galprior.lensing.simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES, LensSimulator
from galprior.metrics.lens_recovery import interval_coverage, recovery_table, reduced_chi2
from galprior.models.checkpoint import load_model
from galprior.models.latent_prior import latent_prior_distribution, load_latent_prior

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SourceModel:
    """A frozen VAE (eval mode) and its latent prior, as the Pyro model needs them."""

    vae: Any
    latent_prior: Any

    @property
    def decoder(self) -> Any:
        return self.vae.decode

    @property
    def latent_dim(self) -> int:
        return self.vae.latent_dim

    @property
    def dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype

    def to(self, dtype: torch.dtype) -> "SourceModel":
        """A copy in another floating-point precision (the original is left as it is)."""
        if dtype == self.dtype:
            return self
        prior = self.latent_prior
        return SourceModel(vae=copy.deepcopy(self.vae).to(dtype),
                           latent_prior=dist.MultivariateNormal(prior.loc.to(dtype),
                                                                scale_tril=prior.scale_tril.to(dtype)))


def load_source_model(model_dir: str | os.PathLike, prior_path: str | os.PathLike,
                      dtype: torch.dtype = torch.float32) -> SourceModel:
    """The trained VAE (weights frozen, eval mode) and the fitted latent prior, in ``dtype``."""
    vae = load_model(Path(model_dir))
    for p in vae.parameters():
        p.requires_grad_(False)
    prior = load_latent_prior(prior_path)
    latent = as_pyro_latent_prior(latent_prior_distribution(prior.mean, prior.covariance))
    return SourceModel(vae=vae, latent_prior=latent).to(dtype)


def prior_config(options: dict[str, Any]) -> PriorConfig:
    """A :class:`PriorConfig` from the config's ``inference.priors`` (lists -> tuples)."""
    return PriorConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})


def simulator_for(mocks: MockLensSet, dtype: torch.dtype = torch.float32) -> LensSimulator:
    """The simulator that rendered the mocks (grid, pixel scale, PSF), computing in ``dtype``."""
    return LensSimulator(mocks.noiseless.shape[-1], mocks.attrs["pixel_scale"],
                         psf_sigma=mocks.attrs["psf_sigma"], dtype=dtype)


def parameter_matrix(values: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """Stack named constrained values (..., ) into (..., len(names))."""
    return np.stack([np.asarray(values[n], np.float64) for n in names], axis=-1)


def source_plane_image(images: np.ndarray, source_params: np.ndarray, size: float,
                       n_pix: int) -> np.ndarray:
    """Sources (B, M, M) placed by their parameters (B, 4) on a source-plane grid.

    The grid has ``n_pix`` pixels per side over ``size`` arcsec, centred on the axis,
    so that true and fitted sources can be compared pixel by pixel (Chianese Figs. 6-7).
    """
    images_t = torch.as_tensor(images, dtype=torch.get_default_dtype())
    params = torch.as_tensor(source_params, dtype=images_t.dtype)
    x, y = pixel_grid(n_pix, size / n_pix, dtype=images_t.dtype)
    batch = images_t.shape[0]
    with torch.no_grad():
        out = source_brightness(x.expand(batch, -1, -1), y.expand(batch, -1, -1), images_t,
                                *params.unbind(-1))
    return out.numpy().astype(np.float32)


def _fit_chunk(mocks: MockLensSet, level: int, systems: np.ndarray, simulator: LensSimulator,
               source: SourceModel, priors: PriorConfig, config: MapConfig,
               plane_size: float, plane_pixels: int) -> dict[str, np.ndarray]:
    """MAP of some systems at one noise level: every array of ``MapResultSet`` but the
    truth, with the systems on the first axis."""
    n_sys = len(systems)
    sigma = torch.full((n_sys,), float(mocks.noise_sigma[level]))
    obs = torch.as_tensor(mocks.observations[systems, level], dtype=torch.get_default_dtype())
    obs_r, sigma_r = repeat_for_restarts(obs, sigma, config.n_restarts)
    posterior = FlatPosterior(obs_r, sigma_r, simulator, source.decoder, source.latent_prior,
                              priors, include_jacobian=config.include_jacobian, seed=config.seed)
    result = fit_map(posterior, n_sys, config)
    best = result.best_theta
    values = constrained_numpy(posterior, best)
    index = torch.as_tensor(np.arange(n_sys) * config.n_restarts)
    best_t = torch.as_tensor(best, dtype=torch.get_default_dtype())
    with torch.no_grad():
        model = posterior.subset(index).model_image(best_t).numpy()
        decoded = source.decoder(torch.as_tensor(values["latent"], dtype=best_t.dtype))
    source_params = parameter_matrix(values, SOURCE_PARAMETER_NAMES)
    return {
        "lens_parameters": parameter_matrix(values, LENS_PARAMETER_NAMES),
        "source_parameters": source_params,
        "latents": np.asarray(values["latent"], np.float64),
        "theta": best.astype(np.float64),
        "log_posterior": result.log_posterior,
        "best_restart": result.best.astype(np.int64),
        "loss_trace": np.moveaxis(result.loss_trace, 0, -1).astype(np.float32),
        "reduced_chi2": reduced_chi2(mocks.observations[systems, level], model,
                                     mocks.noise_sigma[level], n_parameters=best.shape[-1]),
        "model_images": model.astype(np.float32),
        "source_plane": source_plane_image(decoded.reshape(n_sys, *decoded.shape[-2:]).numpy(),
                                           source_params, plane_size, plane_pixels),
    }


def map_fit_mocks(mocks: MockLensSet, source: SourceModel, priors: PriorConfig,
                  config: MapConfig) -> MapResultSet:
    """MAP of every system at every noise level (best of ``config.n_restarts``)."""
    simulator = simulator_for(mocks)
    n_sys, n_lev = mocks.observations.shape[:2]
    plane_size, plane_pixels = mocks.attrs["source_plane_size"], mocks.sources.shape[-1]
    per_level = []
    chunk = max(1, config.max_batch // config.n_restarts)
    for level in range(n_lev):
        started = time.perf_counter()
        parts = [_fit_chunk(mocks, level, np.arange(n_sys)[i:i + chunk], simulator, source,
                            priors, config, plane_size, plane_pixels)
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
               "lens_parameter_names": list(LENS_PARAMETER_NAMES),
               "source_parameter_names": list(SOURCE_PARAMETER_NAMES),
               "map_config": dataclasses.asdict(config),
               "noise_sigma": mocks.noise_sigma.tolist()},
    )


def sample_mocks(mocks: MockLensSet, map_result: MapResultSet, source: SourceModel,
                 priors: PriorConfig, config: HmcConfig, systems: list[int]) -> PosteriorSampleSet:
    """HMC/NUTS posterior samples of the chosen systems at every noise level.

    Everything (simulator, decoder, observation) runs in ``config.dtype``: in float32
    the rounding of a 256^2-pixel log likelihood gives leapfrog energy errors of order
    1 that do not shrink with the step size, and NUTS answers with tiny steps.
    """
    dtype = getattr(torch, config.dtype)
    source = source.to(dtype)
    simulator = simulator_for(mocks, dtype)
    names = LENS_PARAMETER_NAMES + SOURCE_PARAMETER_NAMES + tuple(
        f"latent_{i}" for i in range(source.latent_dim))
    n_lev = mocks.observations.shape[1]
    results = {}
    jobs = [(s, level) for s in systems for level in range(n_lev)]
    for s, level in tqdm(jobs, desc="HMC systems x noise levels"):
        obs = torch.as_tensor(mocks.observations[s, level][None], dtype=dtype)
        posterior = FlatPosterior(obs, float(mocks.noise_sigma[level]), simulator, source.decoder,
                                  source.latent_prior, priors, seed=config.seed)
        out = sample_posterior(posterior, torch.as_tensor(map_result.theta[s, level], dtype=dtype), config)
        n_chains, n_samples = out.theta.shape[:2]
        values = constrained_numpy(posterior, out.theta.reshape(-1, out.theta.shape[-1]))
        physical = np.concatenate(
            [parameter_matrix(values, LENS_PARAMETER_NAMES + SOURCE_PARAMETER_NAMES),
             np.asarray(values["latent"], np.float64)], axis=-1,
        ).reshape(n_chains, n_samples, -1)
        r_hat, ess = chain_diagnostics(physical)
        results[s, level] = (physical, r_hat, ess, out)
        logger.info("system %d level %d: %.0f s, %.1f gradients/sample, min ESS %.0f, "
                    "divergences %s", s, level, out.wall_time, out.grad_evals.mean(),
                    ess[:len(LENS_PARAMETER_NAMES)].min(), out.divergences.tolist())

    def grid(fn, dtype=np.float64):
        return np.asarray([[fn(results[s, level]) for level in range(n_lev)] for s in systems],
                          dtype=dtype)

    return PosteriorSampleSet(
        samples=grid(lambda r: r[0], np.float32),
        r_hat=np.nan_to_num(grid(lambda r: r[1]), nan=1.0),
        ess=np.nan_to_num(grid(lambda r: r[2]), nan=0.0),
        divergences=grid(lambda r: r[3].divergences, np.int64),
        grad_evals=grid(lambda r: r[3].grad_evals, np.int64),
        step_size=grid(lambda r: r[3].step_size),
        wall_time=grid(lambda r: r[3].wall_time),
        attrs={"parameter_names": list(names), "hmc_config": dataclasses.asdict(config),
               "noise_sigma": mocks.noise_sigma.tolist(), "systems": list(systems)},
    )


def evaluate_lenses(mocks: MockLensSet, map_result: MapResultSet,
                    posterior: PosteriorSampleSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per system / noise level / lens parameter table, and 68/95 % interval coverage.

    Every system has its truth, MAP, relative error and reduced chi^2; the systems
    that were sampled also have posterior mean, 16/50/84 % quantiles and interval hits.
    """
    names = list(LENS_PARAMETER_NAMES)
    table = recovery_table(mocks.lens_parameters, map_result.lens_parameters, None, names,
                           mocks.noise_sigma, chi2=map_result.reduced_chi2)
    systems = posterior.attrs["systems"]
    s, lev, c, n, p = posterior.samples.shape
    flat = posterior.samples[..., :len(names)].reshape(s, lev, c * n, len(names))
    sampled = recovery_table(mocks.lens_parameters[systems],
                             map_result.lens_parameters[systems], flat, names, mocks.noise_sigma)
    sampled["system"] = np.asarray(systems)[sampled["system"].to_numpy()]
    extra = sampled.drop(columns=["truth", "map", "map_rel_error"])
    table = table.merge(extra, on=["system", "noise_sigma", "parameter"], how="left")
    level = {float(sigma): i for i, sigma in enumerate(mocks.noise_sigma)}
    table["snr"] = mocks.snr[table["system"].to_numpy(),
                             [level[float(x)] for x in table["noise_sigma"]]]
    coverage = interval_coverage(sampled)
    return table, coverage
