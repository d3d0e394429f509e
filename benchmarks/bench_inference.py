"""Benchmark: the two inference modes (``paper`` and ``galprior``) on the same mock lenses, in one run.

Chianese et al. 2020 report ~20 min per MAP (1e4 Adam steps) and ~10 h for 50 + 500
NUTS samples on a CPU. For each mode of :mod:`galprior.inference.modes` this script
runs the workflow's own functions (``map_fit_mocks``, ``sample_mocks``) on the systems
of a ``MockLensSet`` (by default every system of the quick default's
``results/lenses/chianese_mocks.zarr``) and prints

* per system and noise level: MAP seconds (goal for ``galprior``: <= 10 s), the MAP's
  relative r_Ein error (paper convention, eqs. 11-12; goal: within 2 % at the highest
  S/N for at least 7 of 8 systems), the error of lenstronomy's theta_E = sqrt(q) r_Ein
  (the intermediate-axis radius, which the image constrains directly: the paper's
  r_Ein also carries the error of q) and the restarts it took;
* for every sampled posterior (``--sample``): wall time of warm-up + samples, the
  minimum ESS over the 8 lens parameters (goal: >= 100 in <= 5 min) and the parameter
  that has it;
* the ratio paper / galprior of the median MAP time and of the time per effective sample.

The paper mode's numbers default to the paper's (schema ``chianese.paper_inference``:
1e4 Adam steps, 50 + 500 NUTS); ``--paper-adam-steps`` and ``--paper-samples`` shorten it
(the printout says so), e.g. to time it on a laptop, and ``--paper-sample`` picks the
posteriors it samples (none: ``--paper-sample`` with no rows).

``--config config/config.yaml`` runs the quick default's settings (as the workflow); without
it the schema's (fuller) ones.

Run (after the quick default workflow):
``.venv/bin/python benchmarks/bench_inference.py --threads 2 --config config/config.yaml
--checkpoint results/models/vae --mocks results/lenses/chianese_mocks.zarr --sample 0 1``
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from galprior.config import load_config
from galprior.device import resolve_device
from galprior.inference.mocks import map_fit_mocks, sample_mocks
from galprior.inference.modes import MODES, hmc_config, map_config
from galprior.lensing.priors import LensSourcePrior
from galprior.lensing.simulator import LENS_PARAMETER_NAMES, intermediate_axis_einstein_radius
from galprior.models.vae.source_model import load_source_model
from galprior.store import MockLensSet

log = logging.getLogger("bench_inference")


def run_mode(mode: str, mocks: MockLensSet, source, args: argparse.Namespace, device) -> dict:
    """MAP of every system and level, then the sampled posteriors, in ``mode``."""
    chianese = {**args.config["chianese"], "inference": mode}
    paper = dict(chianese["paper_inference"])
    if args.paper_adam_steps:
        paper["adam_steps"] = args.paper_adam_steps
    if args.paper_samples:
        paper["num_samples"] = args.paper_samples
    chianese["paper_inference"] = paper
    prior = LensSourcePrior.from_config(args.config["priors"])
    fits = map_fit_mocks(mocks, source, prior, map_config(chianese, seed=args.seed), device=device)
    out = {"fits": fits, "paper": paper}
    rows = args.sample if mode == "galprior" or args.paper_sample is None else args.paper_sample
    if rows:
        out["posterior"] = sample_mocks(mocks, fits, source, prior, hmc_config(chianese, seed=args.seed),
                                        list(rows), device=device)
    return out


def report(mode: str, result: dict, mocks: MockLensSet) -> tuple[float, float]:
    """Print the mode's table; return the median MAP seconds and seconds per effective sample."""
    fits = result["fits"]
    truth = mocks.lens_parameters[:, 0]
    err = fits.lens_parameters[..., 0] / truth[:, None] - 1
    theta_e = intermediate_axis_einstein_radius
    err_theta_e = theta_e(fits.lens_parameters) / theta_e(mocks.lens_parameters)[:, None] - 1
    note = ""
    if mode == "paper":
        note = f" (Adam {result['paper']['adam_steps']} steps, NUTS {result['paper']['num_warmup']} + " \
               f"{result['paper']['num_samples']})"
    print(f"\n== mode {mode}{note} ==")
    print("system  sigma    S/N   MAP s  restarts  r_Ein error  theta_E error")
    for s in range(len(mocks)):
        for level, sigma in enumerate(mocks.noise_sigma):
            print(f"{s:6d} {sigma:6.4f} {mocks.snr[s, level]:6.0f} {fits.wall_time[s, level]:7.1f} "
                  f"{fits.restarts_tried[s, level]:9d} {100 * err[s, level]:+10.2f} % {100 * err_theta_e[s, level]:+12.2f} %")
    for name, e in (("r_Ein", err), ("theta_E", err_theta_e)):
        top = np.abs(e[:, -1])
        print(f"highest S/N, {name}: median |error| {100 * np.median(top):.2f} %, {int((top <= 0.02).sum())} of "
              f"{len(top)} within 2 %")
    print(f"median MAP {np.median(fits.wall_time):.1f} s per system and level")
    per_eff = float("nan")
    if "posterior" in result:
        post = result["posterior"]
        lens = slice(0, len(LENS_PARAMETER_NAMES))
        print("posterior  system  sigma   wall s  min ESS (lens)  slowest          gradients/sample  "
              "ESS >= 100 in <= 5 min")
        rates = []
        for row, s in enumerate(post.attrs["systems"]):
            for level, sigma in enumerate(mocks.noise_sigma):
                values = np.asarray(post.ess[row, level, lens], dtype=float)
                if np.isnan(values).all():
                    # a chain that never moved (too few steps to accept one) has no ESS: count it as 0
                    ess, slowest = 0.0, "(chain did not move)"
                else:
                    ess = float(np.nanmin(values))
                    slowest = LENS_PARAMETER_NAMES[int(np.nanargmin(values))]
                wall = float(post.wall_time[row, level])
                rates.append(wall / max(ess, 1e-9))
                print(f"{'':10s} {s:6d} {sigma:6.4f} {wall:8.1f} {ess:15.0f}  {slowest:16s}"
                      f"{post.grad_evals[row, level].mean():17.1f}  {'yes' if ess >= 100 and wall <= 300 else 'no'}")
        per_eff = float(np.median(rates))
    return float(np.median(fits.wall_time)), per_eff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--config", nargs="*", default=[],
                    help="config files over the schema, as --configfile (e.g. config/config.yaml for the "
                         "quick default's settings; none: the schema's)")
    ap.add_argument("--checkpoint", required=True, help="trained model directory (e.g. results/models/vae)")
    ap.add_argument("--mocks", required=True, help="MockLensSet store (e.g. results/lenses/chianese_mocks.zarr)")
    ap.add_argument("--systems", type=int, nargs="*", default=None, help="systems to fit (default: all)")
    ap.add_argument("--sample", type=int, nargs="*", default=[], help="rows of --systems to sample")
    ap.add_argument("--paper-sample", type=int, nargs="*", default=None,
                    help="rows to sample in the paper mode (default: --sample; the paper's NUTS from an identity "
                         "mass matrix takes hours per posterior on a CPU)")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--paper-adam-steps", type=int, default=None, help="shorten the paper mode's 1e4 Adam steps")
    ap.add_argument("--paper-samples", type=int, default=None, help="shorten the paper mode's 500 NUTS samples")
    ap.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="default: the config's")
    ap.add_argument("--seed", type=int, default=None, help="default: the config's")
    args = ap.parse_args()
    args.config = load_config(*args.config)
    args.device = args.config["device"] if args.device is None else args.device
    args.seed = args.config["seed"] if args.seed is None else args.seed
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    source = load_source_model(args.checkpoint, f"{args.checkpoint}/latent_prior.npz")
    mocks = MockLensSet.load(args.mocks)
    if args.systems is not None:
        mocks = mocks.subset(np.asarray(args.systems))
    summary = {mode: report(mode, run_mode(mode, mocks, source, args, device), mocks) for mode in args.modes}
    if len(summary) == 2:
        (t_p, e_p), (t_g, e_g) = summary["paper"], summary["galprior"]
        print(f"\npaper / galprior: MAP {t_p / t_g:.1f}x the time; seconds per effective sample "
              f"{e_p / e_g:.1f}x (same machine, same run)")


if __name__ == "__main__":
    main()
