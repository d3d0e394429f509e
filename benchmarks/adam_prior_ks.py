"""Issue 33: what stops the quick score prior's samples from matching its training galaxies?

``prior_moments.csv`` compares the flux, size and ellipticity of unconditional prior samples
with the training galaxies by two-sample KS statistics (the goal: <= 0.15 each). This script
separates the three things that set those statistics, on one trained score model:

* the sample count: under the null (samples drawn from the training distribution) the KS
  statistic of n samples against the training set is ~0.87 / sqrt(n) at its median, so 16
  samples (the quick default before) cannot show 0.15 even for a perfect prior; the
  training set's own first n galaxies against the rest give the floor directly;
* the reverse-time solver and its number of steps (the quick default: Heun, probability-flow
  ODE, 30 steps; the paper: Euler-Maruyama with Technique 2's N);
* the network (how long it was trained): run this on models of several training lengths.

Per (solver, steps) it prints the KS statistics, the medians, and the fraction of samples
whose border (the outer 4 pixels) carries an RMS above 5 % of the peak -- noise the solver
left, which inflates unweighted sizes and rounds them.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/adam_prior_ks.py --model results/models/score
--galaxies results/galaxies/score/train.zarr [--runs heun:30 heun:100 euler_maruyama:0]``
(steps 0: Technique 2 with ``adam.sde.probability``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import ks_2samp

from galprior.config import schema_defaults
from galprior.data.score_normalisation import get_normalisation
from galprior.inference.sde.posterior import SdeSettings
from galprior.inference.sde.prior import sample_prior
from galprior.metrics.sde import image_moments
from galprior.models.registry import load_model
from galprior.store import ScoreGalaxySet

DEFAULTS = schema_defaults()


def noisy_fraction(images: np.ndarray, border: int = 4, level: float = 0.05) -> float:
    """Fraction of images whose outer ``border`` pixels have an RMS above ``level`` of the peak."""
    mask = np.ones(images.shape[1:], bool)
    mask[border:-border, border:-border] = False
    rms = np.sqrt((images[:, mask] ** 2).mean(1))
    peak = np.abs(images).reshape(len(images), -1).max(1)
    return float((rms > level * peak).mean())


def ks_row(a, b) -> str:
    return " ".join(f"{q} {ks_2samp(a[q], b[q]).statistic:.3f} ({np.median(a[q]):.3g})" for q in a.columns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="results/models/score")
    ap.add_argument("--galaxies", default="results/galaxies/score/train.zarr")
    ap.add_argument("--n-samples", type=int, default=256)
    ap.add_argument("--runs", nargs="+", default=["heun:30", "heun:100", "euler_maruyama:0"],
                    help="solver:steps pairs (steps 0: Technique 2)")
    ap.add_argument("--seed", type=int, default=DEFAULTS["seed"] + 21)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(Path(args.model), family="score")
    settings = SdeSettings(**DEFAULTS["adam"]["sde"])
    brightness = get_normalisation(model.normalisation).to_brightness
    train = ScoreGalaxySet.open(args.galaxies)
    n_train = train.array("images").shape[0]
    reference = brightness(train.read("images", slice(0, n_train)))
    ref_moments = image_moments(reference)
    n = args.n_samples
    print(f"model {args.model} ({model.image_size}^2, sigma [{model.sde.sigma_min:g}, {model.sde.sigma_max:.3g}]); "
          f"{n} samples against {n_train} training galaxies; training medians: "
          + " ".join(f"{q} {np.median(ref_moments[q]):.3g}" for q in ref_moments.columns))
    print(f"null floor (training galaxies 0..{n} against the rest): "
          f"{ks_row(image_moments(reference[:n]), image_moments(reference[n:]))}; "
          f"0.87/sqrt(n) = {0.87 / np.sqrt(n):.3f}")
    for run in args.runs:
        solver, steps = run.split(":")
        steps = int(steps) or settings.n_steps(solver, model.image_size**2, model.sde.sigma_min, model.sde.sigma_max)
        started = time.perf_counter()
        samples = brightness(sample_prior(model, n, solver, steps, args.seed, settings.max_batch,
                                          **settings.options(solver)))
        wall = time.perf_counter() - started
        print(f"{solver} {steps} steps ({wall:.0f} s): KS {ks_row(image_moments(samples), ref_moments)}; "
              f"noisy border {noisy_fraction(samples):.2f} (training {noisy_fraction(reference):.2f})")


if __name__ == "__main__":
    main()
