"""Benchmark: MAP fit and NUTS/HMC sampling of one lens system at the paper's 256^2.

Chianese et al. 2020: ~20 min per MAP (1e4 Adam steps) and ~10 h for 500 NUTS
samples on a CPU. Setup here: 256 x 256 pixels of 0.04 arcsec, PSF 0.05 arcsec,
a VAE of the paper's size (64 x 64 source, 64 latents, base width 64). Without
``--checkpoint`` the VAE has UNTRAINED (random) weights: fine for timing, but its
sources are noise-like, which makes the MAP landscape harder than for real galaxies.
The truth is rendered from the same decoder (exact model), with Gaussian noise.

Prints: MAP time per system, success (|r_Ein error| < 1 %), Laplace Hessian time,
sampling time, gradient evaluations per sample, min ESS, max R-hat, divergences.

Run: ``.venv/bin/python benchmarks/bench_inference.py [--threads 2] [--restarts 8]
[--steps-lens 200] [--steps-all 300] [--warmup 50] [--samples 500] [--sampler nuts]``
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np
import torch

from galprior.inference.hmc import HmcConfig, chain_diagnostics, sample_posterior
from galprior.inference.map import MapConfig, constrained_numpy, fit_map, repeat_for_restarts
from galprior.inference.model import ANGLE_SITE, render_model_image
from galprior.inference.potential import FlatPosterior
from galprior.lensing.simulator import LensSimulator
from galprior.models.latent_prior import latent_prior_distribution
from galprior.models.vae import VAE

log = logging.getLogger("bench_inference")


def load_decoder(checkpoint: str | None) -> VAE:
    """The paper-size VAE: from a checkpoint if given, else random weights."""
    if checkpoint:
        from galprior.models.checkpoint import load_model  # noqa: PLC0415  (API owned by models/)

        vae = load_model(checkpoint)
    else:
        vae = VAE(image_size=64, latent_dim=64, base_width=64)
    vae.eval()
    for p in vae.parameters():
        p.requires_grad_(False)
    return vae


def make_system(vae: VAE, sim: LensSimulator, sigma: float, seed: int) -> tuple[torch.Tensor, dict]:
    gen = torch.Generator().manual_seed(seed)
    truth = {"einstein_radius": 1.5, "slope": 2.1, "axis_ratio": 0.75, "position_angle": 0.6, "x0": 0.03,
             "y0": -0.02, "gamma1": 0.03, "gamma2": -0.02, "intensity": 1.0, "scale": 1.6, "x_src": 0.05,
             "y_src": 0.03}
    truth = {k: torch.tensor([v]) for k, v in truth.items()}
    truth["latent"] = torch.randn(1, vae.latent_dim, generator=gen)
    truth[ANGLE_SITE] = torch.tensor([[math.cos(1.2), math.sin(1.2)]])
    with torch.no_grad():
        image = render_model_image(truth, sim, vae.decode)
    return image + sigma * torch.randn(image.shape, generator=gen), truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--sigma", type=float, default=0.1)
    ap.add_argument("--restarts", type=int, default=8)
    ap.add_argument("--steps-lens", type=int, default=200)
    ap.add_argument("--steps-all", type=int, default=300)
    ap.add_argument("--sampler", default="nuts")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    vae = load_decoder(args.checkpoint)
    sim = LensSimulator(256, 0.04, psf_sigma=0.05)
    prior = latent_prior_distribution(np.zeros(vae.latent_dim), 9.0 * np.eye(vae.latent_dim))
    obs, truth = make_system(vae, sim, args.sigma, args.seed)
    log.info("VAE: %s", "checkpoint " + args.checkpoint if args.checkpoint else "UNTRAINED random weights")

    post1 = FlatPosterior(obs, args.sigma, sim, vae.decode, prior)
    t0 = time.perf_counter()
    with torch.no_grad():
        lp_truth = post1.log_prob(post1.to_theta(truth), include_jacobian=False)
    log.info("one log-density evaluation (no grad): %.3f s", time.perf_counter() - t0)

    o, s = repeat_for_restarts(obs, torch.tensor([args.sigma]), args.restarts)
    post = FlatPosterior(o, s, sim, vae.decode, prior)
    cfg = MapConfig(n_restarts=args.restarts, n_steps_lens=args.steps_lens, n_steps_all=args.steps_all, seed=args.seed)
    t0 = time.perf_counter()
    res = fit_map(post, 1, cfg)
    t_map = time.perf_counter() - t0
    best = constrained_numpy(post, res.theta)
    r_ein = best["einstein_radius"][0]
    ok = np.abs(r_ein - 1.5) / 1.5 < 0.01
    log.info("MAP: %.1f s for %d restarts x %d steps (paper: ~20 min for 1e4 steps)", t_map, args.restarts,
             args.steps_lens + args.steps_all)
    log.info("MAP r_Ein per restart %s; success (<1%%) %d/%d; best log post %.1f vs truth %.1f",
             np.array2string(r_ein, precision=4), ok.sum(), ok.size, res.log_posterior.max(), float(lp_truth))

    if args.samples > 0:
        hcfg = HmcConfig(sampler=args.sampler, num_warmup=args.warmup, num_samples=args.samples, seed=args.seed)
        out = sample_posterior(post1, torch.as_tensor(res.best_theta[0]), hcfg)
        flat = out.theta
        r_hat, ess = chain_diagnostics(flat)
        phys = constrained_numpy(post1, flat[0])
        lens_ess = {k: float(chain_diagnostics(phys[k][None, :, None])[1][0]) for k in ("einstein_radius", "slope", "axis_ratio")}
        log.info("%s: %d warm-up + %d samples in %.1f s (paper: ~10 h); %.1f gradient evaluations per sample; "
                 "min ESS %.1f (theta), lens ESS %s; max R-hat %.3f; divergences %s; step size %s",
                 args.sampler, args.warmup, args.samples, out.wall_time, out.grad_evals.mean(), ess.min(), lens_ess,
                 r_hat.max(), out.divergences.tolist(), out.step_size.tolist())


if __name__ == "__main__":
    main()
