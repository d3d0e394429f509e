"""Benchmark: galaxies per second through the GalSim-profile class, batched vs one call each.

``GenerativeGalaxyModel.sample`` draws all galaxies of a catalogue with one latent-flow
call and batched decoder calls (batched); the peer is the galsim_hub pattern users
complained about, one ``sample`` call per galaxy (same model, same run, same threads).
Each galaxy is then drawn as GalSim would in an image simulation: convolved with a
PSF and drawn on a stamp, so the rates include GalSim's own work.

Run: ``.venv/bin/python benchmarks/bench_galsim_profile.py [--threads 2] [--n 200]``
with a trained model folder (``--model-dir results/models --name lanusse``), or
without one: a freshly initialised network of the quick-default architecture (the
speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import logging
import time

import galsim
import numpy as np
import torch

from galprior.config import schema_defaults
from galprior.models.flowvae import FlowVAE, LatentFlow
from galprior.models.flowvae.galsim_profile import GenerativeGalaxyModel

log = logging.getLogger("bench_galsim_profile")


def untrained_model(pixel_scale: float = 0.03) -> GenerativeGalaxyModel:
    """The quick-default architecture (from the schema), randomly initialised."""
    lanusse = schema_defaults()["lanusse"]
    torch.manual_seed(0)
    vae = FlowVAE(image_size=lanusse["image_size"], **lanusse["vae"]["architecture"])
    flow = LatentFlow(latent_dim=vae.latent_dim, n_conditions=3, seed=0,
                      **lanusse["flow"]["architecture"])
    flow.set_standardisation(torch.randn(100, vae.latent_dim),
                             torch.tensor([[23.5, 0.3, 0.8]]) + 0.3 * torch.randn(100, 3))
    return GenerativeGalaxyModel(vae, flow, pixel_scale)


def catalogue(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"mag": rng.uniform(21, 25, n), "half_light_radius": rng.uniform(0.1, 0.6, n),
            "redshift": rng.uniform(0.2, 2.0, n)}


def draw_all(profiles, psf: galsim.GSObject, size: int = 64) -> float:
    return sum(galsim.Convolve(p, psf).drawImage(nx=size, ny=size, scale=0.03,
                                                 method="no_pixel").array.sum()
               for p in profiles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=200, help="galaxies per timing")
    parser.add_argument("--model-dir", default=None, help="folder holding the model folder")
    parser.add_argument("--name", default="lanusse", help="model folder name")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    model = (GenerativeGalaxyModel.load(args.name, args.model_dir) if args.model_dir
             else untrained_model())
    cat = catalogue(args.n)
    psf = galsim.Gaussian(fwhm=0.1)
    model.sample(catalogue(4), seed=0)  # warm-up

    rates = {}
    for label, run in (
            ("batched (one call)", lambda: model.sample(cat, seed=1)),
            ("one call per galaxy", lambda: [model.sample({k: v[i:i + 1] for k, v in cat.items()},
                                                          seed=i)[0] for i in range(args.n)])):
        t0 = time.perf_counter()
        profiles = run()
        t_sample = time.perf_counter() - t0
        draw_all(profiles, psf)
        t_total = time.perf_counter() - t0
        rates[label] = (args.n / t_sample, args.n / t_total)
        log.info("%-22s %8.1f galaxies/s sampled, %8.1f galaxies/s sampled + drawn",
                 label, *rates[label])
    batched, single = rates["batched (one call)"], rates["one call per galaxy"]
    log.info("batched / per-galaxy: %.1fx (sampling), %.1fx (sampling + drawing); "
             "%d threads, %d galaxies of %d^2", batched[0] / single[0], batched[1] / single[1],
             args.threads, args.n, model.vae.image_size)


if __name__ == "__main__":
    main()
