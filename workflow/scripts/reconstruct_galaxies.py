"""Reconstruct test galaxies with the VAE, plainly and through the rotation test."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.store import GalaxySet  # noqa: E402
from galprior.models.checkpoint import load_model  # noqa: E402
from galprior.models.products import reconstruction_set  # noqa: E402

model = load_model(Path(snakemake.input.weights).parent)
result = reconstruction_set(model, GalaxySet.load(snakemake.input.test),
                            n_galaxies=snakemake.params.n_galaxies)
result.save(snakemake.output.reconstructions, config={"n_galaxies": snakemake.params.n_galaxies})
