"""E1 of issue 32: a well-specified control of the Chianese MAP search.

The mock sources ARE decoder outputs (z drawn from the VAE's latent prior), rendered by the
project's own simulator with lens and source parameters drawn from the SAME prior the
inference scores (the paper's lens priors; a scale prior that fits decoded galaxies,
``--scale``). Nothing is misspecified, so the truth is (up to noise) a mode of the posterior,
and every MAP that ends below the mode reached from the truth, or far from it in r_Ein, is
the search's fault.

Per system at the chosen noise level it prints the MAP's relative r_Ein error (paper
convention, eqs. 11-12), the log-posterior gap to the mode reached from the truth (true z
included) as Delta chi^2 / sqrt(2N), and the time; then the count within 1 % and 2 % and the
median |error|. ``--variant`` picks a search (:func:`galprior.inference.map` settings from
the config's ``chianese.map`` block with overrides), so variants run on identical mocks.

Run (after the quick default has trained the VAE):
``.venv/bin/python benchmarks/chianese_control.py --results results --threads 1``
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np
import torch

from galprior.config import load_config
from galprior.inference.map import MapConfig, constrained_numpy
from galprior.inference.mocks import map_fit_mocks, mode_from_truth, site_values
from galprior.inference.modes import map_config
from galprior.inference.potential import FlatPosterior
from galprior.lensing.mocks import render_mock_lenses
from galprior.lensing.priors import LensSourcePrior
from galprior.lensing.products import CHIANESE_CONVENTION, simulator_for
from galprior.lensing.simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES
from galprior.models.vae.source_model import load_source_model
from galprior.store import MockLensSet


def control_mocks(source, priors: LensSourcePrior, mocks_block: dict, n_systems: int, seed: int) -> tuple[MockLensSet, np.ndarray]:
    """Mocks whose sources are decoder outputs of latent-prior draws; returns them and the true z."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        mean, tril = source.latent_prior.loc, source.latent_prior.scale_tril
        eps = torch.randn((n_systems, len(mean)), generator=gen, dtype=mean.dtype)
        z = mean + eps @ tril.mT
        images = source.decoder(z)
    images = images.reshape(n_systems, *images.shape[-2:]).double().numpy()
    source_params = priors.sample_source(n_systems, rng)
    lens_params = priors.sample_lens(n_systems, rng)
    out = render_mock_lenses(images, lens_params, source_params, noise_sigma=tuple(mocks_block["noise_sigma"]),
                             n_pix=mocks_block["n_pix"], pixel_scale=mocks_block["pixel_scale"],
                             psf_sigma=mocks_block["psf_sigma"], seed=seed + 1,
                             parameter_convention=CHIANESE_CONVENTION)
    mocks = MockLensSet(
        observations=out["observations"].astype(np.float32), noiseless=out["noiseless"].astype(np.float32),
        sources=images.astype(np.float32), lens_parameters=out["lens_params"],
        source_parameters=out["source_params"], noise_sigma=out["noise_sigma"],
        snr=out["snr"], galaxy_index=np.arange(n_systems),
        attrs={"lens_parameter_names": list(LENS_PARAMETER_NAMES),
               "source_parameter_names": list(SOURCE_PARAMETER_NAMES),
               "pixel_scale": mocks_block["pixel_scale"], "psf_sigma": mocks_block["psf_sigma"],
               "parameter_convention": CHIANESE_CONVENTION,
               "source_plane_size": float(3.0 * source_params[:, 1].max())})
    return mocks, z.double().numpy()


def truth_mode(mocks: MockLensSet, level: int, source, priors: LensSourcePrior, z_true: np.ndarray,
               config: MapConfig, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Log posterior and r_Ein of the mode reached from the full truth (true z included)."""
    obs = torch.as_tensor(mocks.observations[:, level], dtype=torch.get_default_dtype())
    posterior = FlatPosterior(obs, float(mocks.noise_sigma[level]), simulator_for(mocks), source.decoder,
                              source.latent_prior, priors, include_jacobian=config.include_jacobian, seed=config.seed)
    start = posterior.to_theta(site_values(posterior, mocks.lens_parameters, mocks.source_parameters, z_true))
    _, free, theta = mode_from_truth(posterior, start, config.include_jacobian, iterations, config.hessian_floor)
    return free.numpy().astype(np.float64), constrained_numpy(posterior, theta.numpy())["einstein_radius"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--configfile", nargs="+", default=["config/config.yaml"],
                    help="the config files (later ones override) whose chianese.map block is the baseline")
    ap.add_argument("--truth-iterations", type=int, default=100,
                    help="L-BFGS iterations of each stage of the truth-started mode")
    ap.add_argument("--level", type=int, default=-1)
    ap.add_argument("--n-systems", type=int, default=8)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--scale", type=float, nargs=4, default=[2.5, 0.5, 1.0, None],
                    help="the s prior [mean sd low high] of mocks and inference (high 0: none)")
    ap.add_argument("--map", default="{}", help="JSON overrides of chianese.map, e.g. '{\"n_candidates\": 64}'")
    ap.add_argument("--no-truth", action="store_true", help="skip the truth-started mode")
    ap.add_argument("--mocks", default=None,
                    help="fit this mock store (e.g. the quick default's results/lenses/chianese_mocks.zarr) "
                         "with the config's priors instead of the control mocks")
    ap.add_argument("--galaxies", default=None,
                    help="mocks made by the workflow's recipe (chianese_mock_set) from this test galaxy store, "
                         "with the --scale prior and --fill-fraction, instead of decoder outputs")
    ap.add_argument("--fill-fraction", type=float, default=None,
                    help="with --galaxies: shrink each galaxy into this fraction of its stamp (default: not shrunk)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    config = load_config(*args.configfile)
    block = dict(config["priors"])
    if args.mocks is None:
        block["scale"] = [args.scale[0], args.scale[1], args.scale[2], args.scale[3] or None]
    priors = LensSourcePrior.from_config(block)
    source = load_source_model(f"{args.results}/models/vae", f"{args.results}/models/vae/latent_prior.npz")
    if args.galaxies is not None:
        from galprior.lensing.products import chianese_mock_set
        from galprior.store import GalaxySet

        options = {**config["chianese"]["mocks"], "n_systems": args.n_systems, "fill_fraction": args.fill_fraction}
        mocks, z_true = chianese_mock_set(GalaxySet.open(args.galaxies), prior=priors, seed=args.seed, **options), None
        args.no_truth = True
    elif args.mocks is None:
        mocks, z_true = control_mocks(source, priors, config["chianese"]["mocks"], args.n_systems, args.seed)
    else:
        mocks, z_true = MockLensSet.load(args.mocks), None
        args.no_truth = True
    level = range(mocks.observations.shape[1])[args.level]
    chianese = json.loads(json.dumps(config["chianese"]))
    chianese["map"].update(json.loads(args.map))
    map_cfg = map_config(chianese, seed=args.seed if args.mocks is None else config["seed"] + 4)  # infer_map's seed
    started = time.perf_counter()
    fits = map_fit_mocks(_one_level(mocks, level), source, priors, map_cfg)
    wall = (time.perf_counter() - started) / len(mocks)
    truth = mocks.lens_parameters[:, 0]
    err = 100 * (fits.lens_parameters[:, 0, 0] / truth - 1)
    map_lp = fits.log_posterior[:, 0].max(axis=1)
    restarts = fits.log_posterior[:, 0]  # (S, R): how far below the best each restart ended
    print("restart log posteriors below the best (nats):")
    for s in range(len(mocks)):
        print(f"  {s}: {np.array2string(np.sort(map_lp[s] - restarts[s]), precision=0)}")
    noise = np.sqrt(2 * mocks.observations[0, 0].size)
    if not args.no_truth:
        lp_truth, r_truth = truth_mode(mocks, level, source, priors, z_true, map_cfg, args.truth_iterations)
    else:
        lp_truth, r_truth = np.full(len(mocks), np.nan), np.full(len(mocks), np.nan)
    what = args.mocks or (f"recipe mocks of {args.galaxies} (fill {args.fill_fraction}, s prior {block['scale']})"
                          if args.galaxies else "E1 control")
    print(f"{what}, sigma {mocks.noise_sigma[level]:.4g}, S/N {np.round(mocks.snr[:, level]).tolist()}, "
          f"map overrides {args.map}, {wall:.1f} s per system")
    print("system  r_Ein  slope  q     |shear|  err MAP %  err truth-mode %  (truth-MAP) dchi2/sqrt(2N)  chi2_nu")
    for s in range(len(mocks)):
        lp = mocks.lens_parameters[s]
        print(f"{s:6d} {lp[0]:6.2f} {lp[1]:5.2f} {lp[2]:5.2f} {np.hypot(lp[6], lp[7]):6.3f} {err[s]:+9.2f} "
              f"{100 * (r_truth[s] / truth[s] - 1):+14.2f} {2 * (lp_truth[s] - map_lp[s]) / noise:+18.1f} "
              f"{fits.reduced_chi2[s, 0]:8.4f}")
    a = np.abs(err)
    print(f"within 1 %: {(a <= 1).sum()} of {len(a)}; within 2 %: {(a <= 2).sum()} of {len(a)}; "
          f"median |err| {np.median(a):.2f} %")


def _one_level(mocks: MockLensSet, level: int) -> MockLensSet:
    """The mocks at one noise level only."""
    return MockLensSet(observations=mocks.observations[:, level:level + 1], noiseless=mocks.noiseless,
                       sources=mocks.sources, lens_parameters=mocks.lens_parameters,
                       source_parameters=mocks.source_parameters, noise_sigma=mocks.noise_sigma[level:level + 1],
                       snr=mocks.snr[:, level:level + 1], galaxy_index=mocks.galaxy_index, attrs=mocks.attrs)


if __name__ == "__main__":
    main()
