"""Issue 33: is the SDE posterior calibrated when the prior is right?

The per-pixel coverage of ``pixel_coverage.csv`` mixes two causes of a too-narrow posterior:
the sampler (the likelihood term's approximation, the solver) and the prior's fit to the true
galaxy. This script takes the second away: the truths are drawn from the score prior itself
(``prior_samples.zarr``, Euler-Maruyama samples of the same network), placed behind the
quick mocks' lenses (``--per-lens`` galaxies per lens, scaled as ``lensing.products.
adam_mock_set`` does, the same noise recipe), and sampled with the chosen solver and
likelihood form. A calibrated sampler then gives the coverage of ``metrics.sde.
expected_coverage`` (0.623 / 0.899 at 1 / 2 std for 8 samples). ``--truths mock`` repeats the
quick mocks' own galaxies instead (new noise per copy): what is left there is the prior's.

Per system it prints the 1- and 2-std coverage, chi2_nu of the samples and of the truth
against the data (a posterior sample fits about as well as the truth), and the posterior
mean's source flux over the truth's; then the means over systems.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/adam_calibration.py --results results
--solver euler_maruyama --covariance tweedie [--truths prior] [--per-lens 4] [--steps N]``
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch

from galprior.config import schema_defaults
from galprior.inference.sde.posterior import SdeSettings, sample_mocks
from galprior.lensing.mocks import render_adam_mocks, source_scale
from galprior.lensing.operator import LensingOperator
from galprior.lensing.products import score_simulator
from galprior.metrics.sde import pixel_coverage
from galprior.models.registry import load_model
from galprior.store import ScoreLensSet, ScorePriorSampleSet

DEFAULTS = schema_defaults()


def calibration_mocks(mocks: ScoreLensSet, truths: np.ndarray, per_lens: int, seed: int) -> ScoreLensSet:
    """``truths`` (S, M, M) behind the mocks' lenses (``per_lens`` each), with the mocks' recipe."""
    mock_cfg = DEFAULTS["adam"]["mocks"]
    lens = np.repeat(mocks.lens_parameters, per_lens, axis=0)
    source = np.repeat(mocks.source_parameters, per_lens, axis=0).copy()
    source[:, 1] = [source_scale(t, mocks.attrs["source_plane_size"], mock_cfg["fill_fraction"]) for t in truths]
    out = render_adam_mocks(truths, lens, source, relative_noise=mocks.attrs["relative_noise"],
                            noise_reference=mocks.attrs["noise_reference"],
                            n_render=mocks.observations.shape[-1] * int(mocks.attrs["pool_factor"]),
                            pool_factor=int(mocks.attrs["pool_factor"]),
                            field_of_view=mocks.attrs["render_pixel_scale"] * mocks.observations.shape[-1]
                            * int(mocks.attrs["pool_factor"]), seed=seed)
    return ScoreLensSet(observations=out["observations"].astype(np.float32),
                        noiseless=out["noiseless"].astype(np.float32), sources=truths.astype(np.float32),
                        lens_parameters=out["lens_params"], source_parameters=out["source_params"],
                        noise_sigma=out["noise_sigma"], galaxy_index=np.arange(len(truths)),
                        attrs=dict(mocks.attrs))


def chi2_nu(mocks: ScoreLensSet, k: int, sources: np.ndarray) -> float:
    """Mean chi2_nu of ``sources`` (N, M, M) against system k's data."""
    sim = score_simulator(mocks, dtype=torch.float64)
    n = len(sources)
    op = LensingOperator(sim, torch.as_tensor(mocks.lens_parameters[[k] * n]),
                         torch.as_tensor(mocks.source_parameters[[k] * n]), sources.shape[-2:])
    with torch.no_grad():
        model = op.forward(torch.as_tensor(sources, dtype=torch.float64)).numpy()
    return float(((mocks.observations[k] - model) ** 2).mean() / mocks.noise_sigma[k] ** 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--solver", default="euler_maruyama")
    ap.add_argument("--covariance", default=DEFAULTS["adam"]["sde"]["likelihood"]["covariance"],
                    choices=["identity", "exact", "tweedie"])
    ap.add_argument("--truths", default="prior", choices=["prior", "mock"])
    ap.add_argument("--per-lens", type=int, default=4)
    ap.add_argument("--steps", type=int, default=None, help="solver steps (default: the config's)")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)

    mocks = ScoreLensSet.load(f"{args.results}/lenses/score_mocks.zarr")
    n = len(mocks.observations) * args.per_lens
    if args.truths == "prior":
        pool = ScorePriorSampleSet.load(f"{args.results}/models/score/prior_samples.zarr").samples
        truths = pool[np.random.default_rng(args.seed).choice(len(pool), n, replace=False)]
    else:
        truths = np.repeat(mocks.sources, args.per_lens, axis=0)
    test = calibration_mocks(mocks, np.asarray(truths, np.float32), args.per_lens, seed=args.seed + 6)

    sde = copy.deepcopy(DEFAULTS["adam"]["sde"])
    sde["likelihood"] = {"covariance": args.covariance}
    if args.steps:
        sde["steps"][args.solver] = args.steps
    model = load_model(f"{args.results}/models/score", family="score")
    result = sample_mocks(model, test, SdeSettings(**sde), args.solver, DEFAULTS["seed"])
    rows = []
    for k in range(n):
        cov = pixel_coverage(result.samples[k], test.sources[k])
        rows.append((cov[0]["coverage"], cov[1]["coverage"], chi2_nu(test, k, result.samples[k]),
                     chi2_nu(test, k, test.sources[[k]]), result.samples[k].mean(0).sum() / test.sources[k].sum()))
        print(f"system {k:2d} (lens {k // args.per_lens}): coverage 1 std {rows[-1][0]:.2f}, 2 std {rows[-1][1]:.2f}; "
              f"chi2_nu samples {rows[-1][2]:.3f}, truth {rows[-1][3]:.3f}; mean flux / truth {rows[-1][4]:.3f}",
              flush=True)
    r = np.array(rows)
    print(f"{args.solver}, {args.covariance}, {args.truths} truths, {n} systems x {result.samples.shape[1]} samples: "
          f"coverage 1 std {r[:, 0].mean():.3f} (calibrated {cov[0]['expected']:.3f}), 2 std {r[:, 1].mean():.3f} "
          f"({cov[1]['expected']:.3f}); per lens 1 std {np.round(r[:, 0].reshape(-1, args.per_lens).mean(1), 2)}; "
          f"chi2_nu samples - truth {np.mean(r[:, 2] - r[:, 3]):+.3f}; flux ratio {np.median(r[:, 4]):.3f} (median)")


if __name__ == "__main__":
    main()
