"""Join the galaxy shards of one source and product and split them into train/val/test."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.galaxies import split_galaxy_stores  # noqa: E402
from galprior.store import GalaxySet  # noqa: E402

params = snakemake.params
# shard by shard, a chunk at a time: memory does not grow with the galaxy set
split_galaxy_stores([GalaxySet.open(path) for path in snakemake.input.shards], params.split_sizes, params.seed,
                    outputs={split: snakemake.output[split] for split in params.split_sizes},
                    config={"split_sizes": params.split_sizes})
