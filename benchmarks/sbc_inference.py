"""Simulation-based calibration (Talts et al. 2018) of the lens inference on a small problem.

For each of ``--n-sims`` data sets: draw every parameter from the prior of the workflow
(``priors`` block, eqs. 14-23, and a 2-d latent N(0, I)), render a small lensed image
(48^2 pixels of 0.2", no PSF) of a smooth analytic source (an elliptical Gaussian whose
two axis lengths are set by the latents), add noise, fit the MAP and sample the posterior
with the mode's sampler (``--mode``, :mod:`galprior.inference.modes`), and record the
rank of the true value among ``--thin`` thinned posterior draws for r_Ein, slope, q,
the lens centre, the shear and the position angle (circular: ranked after unwrapping the
draws around the truth). If the sampler targets the right posterior, every rank is
uniform on {0, ..., thin}; the script prints a chi^2 test of the rank histogram per
parameter (10 bins) and the number of data sets it rests on.

Not a test: 100 data sets take about 1.5-2.5 h on one CPU thread (60-100 s each). Run:
``.venv/bin/python benchmarks/sbc_inference.py --threads 2 --n-sims 100 --ranks-csv sbc.csv``
(with ``--ranks-csv`` a killed run resumes where it stopped). On two cores, two processes
of one thread each, ``--shard 0/2`` and ``--shard 1/2`` on the same CSV, share the data
sets; a last run without ``--shard`` finds them all done and prints the tests.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os

import numpy as np
import torch
from scipy import stats
from torch import nn
from tqdm.auto import tqdm

from galprior.config import schema_defaults
from galprior.inference.hmc import sample_posterior
from galprior.inference.map import constrained_numpy, fit_map, repeat_for_restarts
from galprior.inference.modes import MODES, hmc_config, map_config
from galprior.inference.potential import FlatPosterior
from galprior.lensing.priors import LensSourcePrior
from galprior.lensing.simulator import LensSimulator
from galprior.metrics.lens_recovery import CIRCULAR, nearest_turn
from galprior.models.vae.latent_prior import latent_prior_distribution

DEFAULTS = schema_defaults()
PRIOR = LensSourcePrior.from_config(DEFAULTS["priors"])
RANKED = ("einstein_radius", "slope", "axis_ratio", "x0", "y0", "gamma1", "gamma2", "position_angle")
log = logging.getLogger("sbc_inference")


class GaussianSource(nn.Module):
    """z (B, 2) -> elliptical Gaussian on 16 x 16 with axis lengths 0.15 exp(0.3 z) of the stamp."""

    def __init__(self) -> None:
        super().__init__()
        c = (torch.arange(16, dtype=torch.float64) + 0.5) / 16 - 0.5
        self.register_buffer("x", c[None, None, :])
        self.register_buffer("y", c[None, :, None])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a, b = (0.15 * torch.exp(0.3 * z)).unbind(-1)
        x, y = self.x.to(z.dtype), self.y.to(z.dtype)
        return torch.exp(-0.5 * (x**2 / a[:, None, None] ** 2 + y**2 / b[:, None, None] ** 2))


def one_simulation(index: int, args: argparse.Namespace, simulator, decoder, latent) -> dict[str, float]:
    """Rank of the truth of every parameter in ``RANKED`` for one prior draw."""
    torch.manual_seed(args.seed + index)
    dummy = torch.zeros(1, 48, 48, dtype=torch.float64)
    draw = FlatPosterior(dummy, args.sigma, simulator, decoder, latent, PRIOR, seed=args.seed + index)
    theta_true = draw.prior_draws(1)
    with torch.no_grad():
        clean = draw.model_image(theta_true)
    obs = clean + args.sigma * torch.randn(clean.shape, dtype=clean.dtype)
    chianese = {**DEFAULTS["chianese"], "inference": args.mode}
    chianese["map"] = {**chianese["map"], "n_restarts": 4, "n_steps_lens": 100, "n_steps_all": 100,
                       "lbfgs_iterations": 100}
    chianese["hmc"] = {**chianese["hmc"], "num_warmup": 50, "num_samples": args.samples, "metric_samples": 100}
    chianese["paper_inference"] = {**chianese["paper_inference"], "adam_steps": 400, "num_samples": args.samples}
    mcfg = map_config(chianese, seed=index)
    o, s = repeat_for_restarts(obs, torch.tensor([args.sigma], dtype=obs.dtype), mcfg.n_restarts)
    post_map = FlatPosterior(o, s, simulator, decoder, latent, PRIOR, include_jacobian=mcfg.include_jacobian,
                             seed=args.seed + index)
    fit = fit_map(post_map, 1, mcfg)
    posterior = FlatPosterior(obs, args.sigma, simulator, decoder, latent, PRIOR, seed=args.seed + index)
    # the same whitening in both posteriors (same seed), so the MAP's theta is valid here
    result = sample_posterior(posterior, torch.as_tensor(fit.best_theta[0]), hmc_config(chianese, seed=index))
    draws = constrained_numpy(posterior, result.theta.reshape(-1, result.theta.shape[-1]))
    truth = constrained_numpy(draw, theta_true.numpy())
    keep = np.linspace(0, len(draws["einstein_radius"]) - 1, args.thin).round().astype(int)
    ranks = {}
    for name in RANKED:
        x, t = np.asarray(draws[name])[keep], float(np.asarray(truth[name])[0])
        if name in CIRCULAR:
            x = nearest_turn(x, t, CIRCULAR[name])
        ranks[name] = int((x < t).sum())
    return ranks


def _read_ranks(path: str | None) -> dict[int, dict[str, int]]:
    """Ranks already in ``path`` (``simulation`` and one column per parameter), by data set."""
    if not path or not os.path.exists(path):
        return {}
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in ("simulation", *RANKED) if rows and c not in rows[0]]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing; expected simulation, {', '.join(RANKED)}")
    return {int(row["simulation"]): {name: int(row[name]) for name in RANKED} for row in rows}


def _append_ranks(path: str, index: int, ranks: dict[str, int]) -> None:
    new = not os.path.exists(path)
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["simulation", *RANKED])
        writer.writerow([index, *(ranks[name] for name in RANKED)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-sims", type=int, default=100)
    ap.add_argument("--mode", default=DEFAULTS["chianese"]["inference"], choices=MODES)
    ap.add_argument("--samples", type=int, default=400, help="posterior samples per data set")
    ap.add_argument("--thin", type=int, default=49, help="draws kept for the rank (ranks 0..thin)")
    ap.add_argument("--sigma", type=float, default=0.05, help="pixel noise (source peak ~ iota ~ 1)")
    ap.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    ap.add_argument("--ranks-csv", default=None,
                    help="append each data set's ranks to this CSV as it is done; data sets already "
                         "in it are skipped (a killed run resumes where it stopped)")
    ap.add_argument("--shard", default="0/1",
                    help="K/N: run only the data sets i with i %% N == K (several processes, one CSV)")
    args = ap.parse_args()
    try:
        shard, n_shards = (int(v) for v in args.shard.split("/"))
        if not 0 <= shard < n_shards:
            raise ValueError
    except ValueError:
        ap.error(f"--shard {args.shard!r}: expected K/N with 0 <= K < N, e.g. 0/2")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    simulator = LensSimulator(48, 0.2, dtype=torch.float64, parameter_convention="chianese2020")
    latent = latent_prior_distribution(np.zeros(2), np.eye(2))
    latent = type(latent)(latent.loc.double(), latent.covariance_matrix.double())
    decoder = GaussianSource()
    done = _read_ranks(args.ranks_csv)
    for i in tqdm(range(args.n_sims), desc="simulations"):
        if i in done or i % n_shards != shard:
            continue
        try:
            done[i] = one_simulation(i, args, simulator, decoder, latent)
        except (ValueError, RuntimeError) as err:  # a failed fit is reported, not hidden
            log.warning("simulation %d failed: %s", i, err)
            continue
        if args.ranks_csv:
            _append_ranks(args.ranks_csv, i, done[i])
    done.update(_read_ranks(args.ranks_csv))  # what other shards wrote meanwhile
    ranks = {name: [done[i][name] for i in sorted(done) if i < args.n_sims] for name in RANKED}
    print(f"\n== SBC, mode {args.mode}: ranks of the truth among {args.thin} draws ==")
    print("parameter          n   chi2 (9 dof)   p-value   histogram (10 bins)")
    for name, r in ranks.items():
        counts, _ = np.histogram(r, bins=10, range=(-0.5, args.thin + 0.5))
        chi2 = stats.chisquare(counts)
        print(f"{name:16s} {len(r):4d} {chi2.statistic:12.1f} {chi2.pvalue:9.3f}   {counts.tolist()}")


if __name__ == "__main__":
    main()
