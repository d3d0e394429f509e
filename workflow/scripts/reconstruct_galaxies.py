"""Reconstruct test galaxies with the VAE, plainly and through the rotation test."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import GalaxySet  # noqa: E402
from galprior.models import load_model  # noqa: E402
from galprior.models.vae.products import reconstruction_set  # noqa: E402

model = load_model(Path(snakemake.input.weights).parent)
params = {"n_galaxies": snakemake.params.n_galaxies, "angles": tuple(snakemake.params.angles),
          "seed": snakemake.params.seed}
result = reconstruction_set(model, GalaxySet.open(snakemake.input.test), **params)
result.save(snakemake.output.reconstructions, seed=snakemake.params.seed, config=params)
