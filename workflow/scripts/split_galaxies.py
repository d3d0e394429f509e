"""Join the galaxy shards of one source and product and split them into train/val/test."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.galaxies import split_galaxy_shards  # noqa: E402
from galprior.store import GalaxySet  # noqa: E402

params = snakemake.params
shards = [GalaxySet.load(path) for path in snakemake.input.shards]
for split, galaxies in split_galaxy_shards(shards, params.split_sizes, params.seed).items():
    galaxies.save(snakemake.output[split], seed=params.seed,
                  config={"split_sizes": params.split_sizes})
