"""Diagnosis: is a MAP's lens error a missed mode or the source model's misspecification?

For every mock system at one noise level (default: the highest S/N) this script compares
the workflow's MAP (``results/inference/chianese_map.zarr``) with the posterior mode
reached from the TRUTH (:func:`galprior.inference.mocks.truth_started_optimum`): first the
best VAE source for the true lens, then everything free. It prints, per system, the
log-posterior gaps as Delta chi^2 = 2 Delta log p against the noise scale sqrt(2 N) of a
chi^2 over N pixels, and the relative r_Ein errors (paper convention, eqs. 11-12) and
those of lenstronomy's intermediate-axis theta_E = sqrt(q) r_Ein, which the image fixes
more directly (the paper's r_Ein also carries the error of q):

* ``free - fixed``: what moving the lens away from the truth buys (>> sqrt(2N):
  the source model cannot fit the true lens, so even the exact MAP is biased);
* ``free - MAP``: how far the workflow's MAP is below the mode found from the truth
  (> sqrt(2N): the MAP missed a better mode; < 0: it found a better one).

Run (after the quick default workflow):
``.venv/bin/python benchmarks/diagnose_map_modes.py --results results``
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from galprior.config import schema_defaults
from galprior.inference.mocks import truth_started_optimum
from galprior.inference.modes import map_config
from galprior.lensing.priors import LensSourcePrior
from galprior.lensing.simulator import intermediate_axis_einstein_radius
from galprior.models.vae.source_model import load_source_model
from galprior.store import MapResultSet, MockLensSet

DEFAULTS = schema_defaults()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="results", help="the workflow's output folder")
    ap.add_argument("--level", type=int, default=-1, help="noise level (default: the last, highest S/N)")
    ap.add_argument("--iterations", type=int, default=300, help="L-BFGS iterations of each stage")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    mocks = MockLensSet.load(f"{args.results}/lenses/chianese_mocks.zarr")
    fits = MapResultSet.load(f"{args.results}/inference/chianese_map.zarr")
    source = load_source_model(f"{args.results}/models/vae", f"{args.results}/models/vae/latent_prior.npz")
    level = range(mocks.observations.shape[1])[args.level]
    config = map_config(DEFAULTS["chianese"], seed=args.seed)
    oracle = truth_started_optimum(mocks, level, source, LensSourcePrior.from_config(DEFAULTS["priors"]),
                                   config, iterations=args.iterations)
    n_pix = mocks.observations[0, 0].size
    noise = np.sqrt(2 * n_pix)
    truth = mocks.lens_parameters[:, 0]
    map_lp = fits.log_posterior[:, level].max(axis=1)
    err_map = 100 * (fits.lens_parameters[:, level, 0] / truth - 1)
    err_free = 100 * (oracle["lens_parameters"][:, 0] / truth - 1)
    theta_e = intermediate_axis_einstein_radius(mocks.lens_parameters)
    err_map_te = 100 * (intermediate_axis_einstein_radius(fits.lens_parameters[:, level]) / theta_e - 1)
    err_free_te = 100 * (intermediate_axis_einstein_radius(oracle["lens_parameters"]) / theta_e - 1)
    print(f"\nnoise sigma {mocks.noise_sigma[level]:.4g}; Delta chi^2 in units of sqrt(2N) = {noise:.0f}")
    print("system  S/N  free-fixed  free-MAP  r_Ein err MAP  r_Ein err from truth  theta_E err MAP  "
          "theta_E err from truth")
    for s in range(len(mocks)):
        print(f"{s:6d} {mocks.snr[s, level]:5.0f} "
              f"{2 * (oracle['log_posterior'][s] - oracle['log_posterior_fixed_lens'][s]) / noise:11.1f} "
              f"{2 * (oracle['log_posterior'][s] - map_lp[s]) / noise:9.1f} {err_map[s]:+13.2f} % {err_free[s]:+17.2f} %"
              f" {err_map_te[s]:+15.2f} % {err_free_te[s]:+19.2f} %")
    within = lambda e: int((np.abs(e) <= 2).sum())  # noqa: E731
    for name, a, b in (("r_Ein", err_map, err_free), ("theta_E", err_map_te, err_free_te)):
        print(f"{name} within 2 %: MAP {within(a)} of {len(truth)}, mode from the truth {within(b)} of {len(truth)}")


if __name__ == "__main__":
    main()
