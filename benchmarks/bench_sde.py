"""Benchmark: reverse-time SDE posterior sampling of lensed sources (Adam et al. 2022).

Adam et al. 2022 draw 320 posterior samples of a 256^2 source in < 1 h on 80 V100s with
Euler-Maruyama and N = 8000 steps (Technique 2, p(N) = 0.99). This script measures, in
one run, on the mocks and the trained score model of a workflow run:

* Euler-Maruyama (the paper's solver) with N from Technique 2 at our dimension
  (``adam.sde.probability`` of the schema) or ``--em-steps``: posterior samples per
  minute, median chi^2_nu per system;
* the faster solvers (Heun, Karras et al. 2022 Alg. 2; predictor-corrector, Song et al.
  2021 Alg. 2; the linearly implicit Euler-Maruyama, beyond the paper) on a ladder of step
  counts: the fewest steps whose median chi^2_nu is within ``--chi2-tolerance`` of EM's
  for every system AND whose posterior mean lies within Monte-Carlo error of EM's (RMS
  difference of the two means < 2 sqrt(2 / n) x the RMS EM posterior std, n samples
  each), and the ratio of network score evaluations to EM's. Goal: <= 1/8.

The cost is counted, per posterior sample, as network evaluations and as applications of
A and of A^T apart (an explicit solver's likelihood score is one A and one A^T per network
evaluation; the implicit solver adds its conjugate-gradient iterations), with the wall
time, so that the ratio to EM is not flattered by moving work into the operator.

Run after the workflow (quick default):
``.venv/bin/python benchmarks/bench_sde.py --threads 2 --model results/models/score
--mocks results/lenses/score_mocks.zarr``
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from galprior.config import schema_defaults
from galprior.inference.sde.posterior import (SamplingCost, SdeSettings, sample_sources, score_simulator,
                                              truth_sources)
from galprior.lensing.operator import LensingOperator
from galprior.metrics.sde import reduced_chi2
from galprior.models.registry import load_model
from galprior.store import ScoreLensSet


def _run(model, mocks, systems, solver, n_steps, n_samples, settings, seed):
    sim = score_simulator(mocks)
    cost = SamplingCost()
    started = time.perf_counter()
    samples, _, taken = sample_sources(model, sim, mocks.lens_parameters[systems], mocks.source_parameters[systems],
                                mocks.observations[systems], mocks.noise_sigma[systems], solver, n_steps,
                                n_samples, settings.max_batch, seed, cost=cost, **settings.options(solver))
    seconds = time.perf_counter() - started
    size = model.image_size
    chi2 = []
    for k, s in enumerate(systems):
        op = LensingOperator(sim, torch.as_tensor(mocks.lens_parameters[[s] * n_samples], dtype=torch.float32),
                             torch.as_tensor(mocks.source_parameters[[s] * n_samples], dtype=torch.float32),
                             (size, size))
        with torch.no_grad():
            images = op(torch.as_tensor(samples[k])).numpy()
        chi2.append(float(np.median(reduced_chi2(mocks.observations[s], images, mocks.noise_sigma[s]))))
    return samples, np.array(chi2), seconds, taken, cost


def main() -> None:
    defaults = schema_defaults()["adam"]["sde"]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained score model folder (results/models/score)")
    parser.add_argument("--mocks", required=True, help="ScoreLensSet (results/lenses/score_mocks.zarr)")
    parser.add_argument("--systems", type=int, nargs="+", default=None, help="mock systems (default: all)")
    parser.add_argument("--n-samples", type=int, default=defaults["n_samples"])
    parser.add_argument("--em-steps", type=int, default=None, help="default: Technique 2")
    parser.add_argument("--ladder", type=int, nargs="+", default=[10, 15, 20, 30, 40, 60, 80, 120],
                        help="requested steps (refined where the likelihood step would be unstable)")
    parser.add_argument("--solvers", nargs="+", default=["imex_euler_maruyama", "heun", "predictor_corrector"])
    parser.add_argument("--churn", type=float, default=None, help="Heun S_churn (default: the schema's)")
    parser.add_argument("--chi2-tolerance", type=float, default=0.03)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    model = load_model(args.model, family="score")
    mocks = ScoreLensSet.load(args.mocks)
    systems = np.array(args.systems if args.systems is not None else range(len(mocks.observations)))
    heun = {**defaults["heun"], **({"churn": args.churn} if args.churn is not None else {})}
    settings = SdeSettings(**{**defaults, "heun": heun,
                              "steps": {**defaults["steps"], "euler_maruyama": args.em_steps}})
    n_dim = model.image_size**2
    em_steps = settings.n_steps("euler_maruyama", n_dim, model.sde.sigma_min, model.sde.sigma_max)
    n = args.n_samples
    print(f"score model: {model.image_size}^2 sources, sigma in [{model.sde.sigma_min:g}, "
          f"{model.sde.sigma_max:.3g}]; {len(systems)} systems x {n} samples; {args.threads} thread(s)")

    em, em_chi2, em_seconds, em_steps, em_cost = _run(model, mocks, systems, "euler_maruyama", em_steps, n,
                                                      settings, args.seed)
    em_operator = em_cost.forward + em_cost.adjoint
    total = len(systems) * n
    print(f"\nEuler-Maruyama, N = {em_steps} (Technique 2, p = {settings.probability}): "
          f"{total / em_seconds * 60:.1f} posterior samples per minute ({em_seconds:.1f} s for {total}); "
          f"per sample {em_cost.network:.0f} network evaluations, {em_cost.forward:.0f} A + "
          f"{em_cost.adjoint:.0f} A^T; median chi2_nu per system {np.round(em_chi2, 3).tolist()}")
    em_mean = em.mean(1)
    em_std = np.sqrt((em.std(1, ddof=1) ** 2).mean(axis=(1, 2)))
    limit = 2 * np.sqrt(2.0 / n)
    truth = truth_sources(mocks, model.image_size)[systems]
    print(f"  RMS error of the EM posterior mean against the truth: "
          f"{np.round(np.sqrt(((em_mean - truth) ** 2).mean(axis=(1, 2))).astype(float), 4).tolist()}")

    for solver in args.solvers:
        seen = set()
        print(f"\n{solver}: steps, network evaluations (ratio to EM), A + A^T applications (ratio to EM), "
              f"seconds (ratio to EM), median chi2_nu, mean shift / (MC limit {limit:.2f})")
        found = None
        for requested in args.ladder:
            samples, chi2, seconds, steps, cost = _run(model, mocks, systems, solver, requested, n, settings,
                                                       args.seed + 1)
            if steps in seen:  # the stability refinement gave a grid already tried
                continue
            seen.add(steps)
            evals, operator = cost.network, cost.forward + cost.adjoint
            work = (f"  {steps:5d} {evals:6.0f} ({evals / em_cost.network:.3f}) {cost.forward:6.0f} + "
                    f"{cost.adjoint:<6.0f} ({operator / em_operator:.3f}) {seconds:7.1f} ({seconds / em_seconds:.3f})")
            if not np.isfinite(samples).all():
                print(f"{work}  diverged")
                continue
            shift = (np.sqrt(((samples.mean(1) - em_mean) ** 2).mean(axis=(1, 2))) / em_std).astype(float)
            ok = bool(np.all(np.abs(chi2 - em_chi2) <= args.chi2_tolerance) and np.all(shift <= limit))
            print(f"{work}  {np.round(chi2, 3).tolist()}  {np.round(shift, 2).tolist()}  "
                  f"{'matches EM' if ok else ''}")
            if ok and found is None:
                found = (steps, evals, seconds)
                break
        if found:
            print(f"  -> fewest steps matching EM-{em_steps}: {found[0]} ({found[1]:.0f} network evaluations, "
                  f"{found[1] / em_cost.network:.3f} of EM's, goal <= 0.125; wall time {found[2] / em_seconds:.3f} "
                  f"of EM's)")
        else:
            print(f"  -> no step count of the ladder matches EM-{em_steps}")


if __name__ == "__main__":
    main()
