"""Benchmark: MAP fit and HMC/NUTS sampling of one lens system at the paper's 256^2.

Chianese et al. 2020 report ~20 min per MAP (1e4 Adam steps) and ~10 h for 500 NUTS
samples on a CPU. This script measures, in one run and on one system:

* OUR MAP (batched Adam restarts + L-BFGS polish) and the time per Adam step, from
  which a 1e4-step Adam MAP (the paper's) is extrapolated;
* OUR sampler (L-BFGS mode, Laplace mass matrix, float64, HMC or NUTS): time for the
  warm-up + ``--samples`` samples, gradient evaluations per sample, minimum ESS over
  the lens parameters and over every parameter, R-hat, divergences;
* the PEER: Pyro's NUTS as the paper ran it (started at the same MAP, diagonal mass
  matrix adaptation, tree depth 10), for ``--peer-seconds`` of warm-up: its seconds
  and gradient evaluations per iteration. The ratio of its time per iteration to our
  time per effective sample is printed (a lower bound on the speed-up: the peer's
  iterations are not independent either).

System: with ``--mocks`` (a ``MockLensSet`` of the workflow, e.g.
``results/lenses/chianese_mocks.zarr``) one of its systems (``--system``, ``--level``):
sources are galaxies, not decoder outputs. Otherwise a system rendered from the decoder
itself (exact model). ``--checkpoint`` is a trained model directory (weights and
``latent_prior.npz``, e.g. ``results/models/vae``); without it the VAE is the paper's
size with RANDOM weights (timing only: its sources are noise-like).

Run: ``.venv/bin/python benchmarks/bench_inference.py --checkpoint results/models/vae
--mocks results/lenses/chianese_mocks.zarr --system 2 --level 2``
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch
from pyro.infer.mcmc import MCMC, NUTS

from galprior.config import schema_defaults
from galprior.device import resolve_device
from galprior.inference.hmc import SITE, HmcConfig, chain_diagnostics, sample_posterior
from galprior.inference.map import MapConfig, constrained_numpy, fit_map, repeat_for_restarts
from galprior.inference.model import render_model_image
from galprior.inference.potential import FlatPosterior
from galprior.lensing.priors import LensSourcePrior
from galprior.lensing.products import simulator_for
from galprior.lensing.simulator import LENS_PARAMETER_NAMES, LensSimulator
from galprior.models.vae import VAE
from galprior.models.vae.latent_prior import latent_prior_distribution
from galprior.models.vae.source_model import SourceModel, load_source_model
from galprior.store import MockLensSet

# every default of this script is the workflow's (the schema): one home per default
DEFAULTS = schema_defaults()
MAP, HMC = DEFAULTS["chianese"]["map"], DEFAULTS["chianese"]["hmc"]
PRIOR = LensSourcePrior.from_config(DEFAULTS["priors"])

log = logging.getLogger("bench_inference")

TRUTH = {"einstein_radius": 1.5, "slope": 2.1, "axis_ratio": 0.75, "position_angle": 0.6, "x0": 0.03,
         "y0": -0.02, "gamma1": 0.03, "gamma2": -0.02, "intensity": 1.0, "scale": 1.6, "x_src": 0.05,
         "y_src": 0.03}


def source_model(checkpoint: str | None) -> SourceModel:
    """Trained model and fitted latent prior, or the paper-size VAE with random weights."""
    if checkpoint:
        return load_source_model(checkpoint, f"{checkpoint}/latent_prior.npz")
    vae = VAE(**{**DEFAULTS["chianese"]["vae"]["architecture"], "base_width": 64}).eval()
    for p in vae.parameters():
        p.requires_grad_(False)
    dim = vae.latent_dim
    prior = latent_prior_distribution(np.zeros(dim), 9.0 * np.eye(dim))
    return SourceModel(vae=vae, latent_prior=prior)


def decoder_system(source: SourceModel, sigma: float, seed: int,
                   device: torch.device) -> tuple[torch.Tensor, LensSimulator, np.ndarray]:
    """Observation (1, 256, 256) rendered from the decoder, simulator and true lens parameters."""
    sim = LensSimulator(256, 0.04, psf_sigma=0.05).to(device)
    gen = torch.Generator().manual_seed(seed)
    truth = {k: torch.tensor([v], device=device) for k, v in TRUTH.items()}
    truth["latent"] = source.latent_prior.loc[None] + (
        source.latent_prior.scale_tril @ torch.randn(source.latent_dim, generator=gen).to(device))[None] / 3.0
    with torch.no_grad():
        image = render_model_image(truth, sim, source.decoder)
    return image + sigma * torch.randn(image.shape, generator=gen).to(device), sim, np.array(
        [TRUTH[n] for n in LENS_PARAMETER_NAMES])


def time_map(obs: torch.Tensor, sigma: float, sim: LensSimulator, source: SourceModel,
             args: argparse.Namespace) -> tuple[torch.Tensor, float, float]:
    """Our MAP of one system: best theta (D,), seconds, seconds per Adam step."""
    o, s = repeat_for_restarts(obs, torch.tensor([sigma]), args.restarts)
    post = FlatPosterior(o, s, sim, source.decoder, source.latent_prior, PRIOR,
                         include_jacobian=MAP["include_jacobian"])
    t0 = time.perf_counter()
    fit_map(post, 1, MapConfig(**{**MAP, "n_restarts": args.restarts, "n_steps_lens": 0, "n_steps_all": 20,
                                  "lbfgs_iterations": 0, "seed": args.seed}))
    per_step = (time.perf_counter() - t0) / 20
    cfg = MapConfig(**{**MAP, "n_restarts": args.restarts, "n_steps_lens": args.steps_lens,
                       "n_steps_all": args.steps_all, "lbfgs_iterations": args.lbfgs, "seed": args.seed})
    t0 = time.perf_counter()
    res = fit_map(post, 1, cfg)
    return torch.as_tensor(res.best_theta[0], device=obs.device), time.perf_counter() - t0, per_step


def run_peer(posterior: FlatPosterior, theta: torch.Tensor, seconds: float) -> tuple[float, float, int]:
    """Pyro NUTS as in the paper (diagonal adaptation, depth 10) for ``seconds`` of warm-up:
    seconds per iteration, gradient evaluations per iteration, iterations done."""
    calls = [0]

    def potential(params):
        calls[0] += 1
        return -posterior.log_prob(params[SITE][None], include_jacobian=True)[0]

    stamps: list[tuple[float, int]] = []
    t0 = time.perf_counter()

    class Budget(Exception):
        pass

    def hook(kernel, samples, stage, i):
        stamps.append((time.perf_counter() - t0, calls[0]))
        if stamps[-1][0] > seconds:
            raise Budget

    kernel = NUTS(potential_fn=potential, max_tree_depth=10)
    mcmc = MCMC(kernel, num_samples=1, warmup_steps=10**6, initial_params={SITE: theta.clone()}, hook_fn=hook,
                disable_progbar=True)
    try:
        mcmc.run()
    except Budget:
        pass
    if not stamps:
        return float("nan"), float("nan"), 0
    elapsed, grads = stamps[-1]
    return elapsed / len(stamps), grads / len(stamps), len(stamps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint", default=None, help="trained model directory (e.g. results/models/vae)")
    ap.add_argument("--mocks", default=None, help="MockLensSet store to take the system from")
    ap.add_argument("--system", type=int, default=0)
    ap.add_argument("--level", type=int, default=-1, help="noise level of the mock store (-1: the highest S/N)")
    ap.add_argument("--sigma", type=float, default=0.1, help="noise of the decoder-rendered system")
    ap.add_argument("--device", default=DEFAULTS["device"], choices=["auto", "cpu", "cuda"])
    ap.add_argument("--restarts", type=int, default=MAP["n_restarts"])
    ap.add_argument("--steps-lens", type=int, default=MAP["n_steps_lens"])
    ap.add_argument("--steps-all", type=int, default=MAP["n_steps_all"])
    ap.add_argument("--lbfgs", type=int, default=MAP["lbfgs_iterations"])
    ap.add_argument("--sampler", default=HMC["sampler"], choices=["hmc", "nuts"])
    ap.add_argument("--dtype", default=HMC["dtype"], choices=["float32", "float64"])
    ap.add_argument("--warmup", type=int, default=HMC["num_warmup"])
    ap.add_argument("--samples", type=int, default=HMC["num_samples"])
    ap.add_argument("--metric-samples", type=int, default=HMC["metric_samples"],
                    help="pilot samples that re-estimate the mass matrix")
    ap.add_argument("--peer-seconds", type=float, default=180.0, help="warm-up budget of the paper-style NUTS (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    source = source_model(args.checkpoint).to(device=device)
    log.info("VAE: %s", f"checkpoint {args.checkpoint}" if args.checkpoint else "UNTRAINED random weights")
    if args.mocks:
        mocks = MockLensSet.load(args.mocks)
        level = args.level % mocks.observations.shape[1]
        sigma = float(mocks.noise_sigma[level])
        obs = torch.as_tensor(mocks.observations[args.system, level][None], dtype=torch.float32, device=device)
        sim, truth = simulator_for(mocks, device=device), mocks.lens_parameters[args.system]
        log.info("system %d of %s at sigma %.3g (S/N %.1f)", args.system, args.mocks, sigma,
                 mocks.snr[args.system, level])
    else:
        obs, sim, truth = decoder_system(source, args.sigma, args.seed, device)
        sigma = args.sigma

    theta_map, t_map, t_step = time_map(obs, sigma, sim, source, args)
    post32 = FlatPosterior(obs, sigma, sim, source.decoder, source.latent_prior, PRIOR)
    r_map = constrained_numpy(post32, theta_map.cpu().numpy()[None])["einstein_radius"][0]
    log.info("MAP: %.1f s for %d restarts x (%d + %d Adam + %d L-BFGS); r_Ein %.4f (truth %.4f, %+.2f %%)",
             t_map, args.restarts, args.steps_lens, args.steps_all, args.lbfgs, r_map, truth[0],
             100 * (r_map / truth[0] - 1))

    dtype = getattr(torch, args.dtype)
    src = source.to(dtype)
    sim_d = sim.to(dtype)
    post = FlatPosterior(obs.to(dtype), sigma, sim_d, src.decoder, src.latent_prior, PRIOR)
    options = {k: v for k, v in HMC.items() if k != "systems"}
    cfg = HmcConfig(**{**options, "sampler": args.sampler, "num_warmup": args.warmup,
                       "num_samples": args.samples, "seed": args.seed,
                       "metric_samples": args.metric_samples, "dtype": args.dtype})
    out = sample_posterior(post, theta_map.to(dtype=dtype, device=device), cfg)
    values = constrained_numpy(post, out.theta[0])
    lens = np.stack([values[n] for n in LENS_PARAMETER_NAMES], -1)[None]
    _, ess_lens = chain_diagnostics(lens)
    r_hat, ess_all = chain_diagnostics(out.theta)
    per_sample = out.wall_time / args.samples
    log.info("%s: %d warm-up + %d samples in %.1f s; %.1f gradient evaluations per sample; divergences %s",
             args.sampler, args.warmup, args.samples, out.wall_time, out.grad_evals.mean(), out.divergences.tolist())
    log.info("min ESS: %.0f over the lens parameters (%s), %.0f over all %d parameters; split R-hat max %.3f",
             ess_lens.min(), LENS_PARAMETER_NAMES[int(ess_lens.argmin())], ess_all.min(), out.theta.shape[-1],
             r_hat.max())

    print("\n== bench_inference ==")
    print(f"MAP: {t_map:.1f} s per system (goal <= 120 s); paper-style 1e4 Adam steps here: "
          f"{1e4 * t_step / args.restarts:.0f} s (ratio {1e4 * t_step / args.restarts / t_map:.1f}x)")
    print(f"{args.sampler}: {out.wall_time:.0f} s for {args.samples} samples (goal <= 600 s), "
          f"min ESS {ess_lens.min():.0f} lens / {ess_all.min():.0f} all (goal >= 100), "
          f"{out.wall_time / ess_all.min():.2f} s per effective sample")
    if args.peer_seconds > 0:
        t_it, g_it, n_it = run_peer(post, theta_map.to(dtype=dtype, device=device), args.peer_seconds)
        print(f"peer (Pyro NUTS as in the paper): {n_it} warm-up iterations in {args.peer_seconds:.0f} s, "
              f"{t_it:.2f} s and {g_it:.0f} gradients per iteration; ours {per_sample:.2f} s and "
              f"{out.grad_evals.mean():.1f} per sample: {t_it / per_sample:.1f}x faster per iteration, "
              f"{t_it / (out.wall_time / ess_all.min()):.1f}x per effective sample vs one peer iteration")


if __name__ == "__main__":
    main()
