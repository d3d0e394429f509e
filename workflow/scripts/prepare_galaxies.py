"""Prepare one shard of a galaxy product from one source (galaxies passing the cuts)."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.galaxies import prepare_galaxy_shard  # noqa: E402

params, wildcards = snakemake.params, snakemake.wildcards
shard = prepare_galaxy_shard(
    source=wildcards.source,
    product=wildcards.product,
    split_sizes=params.split_sizes,
    seed=params.seed,
    shard=int(wildcards.shard),
    n_shards=params.n_shards,
    cosmos_options=params.cosmos,
    simulated_options=params.simulated,
    product_options=params.product,
)
settings = {"split_sizes": params.split_sizes, "product": params.product,
            "source": params.cosmos if wildcards.source == "cosmos" else params.simulated}
shard.save(snakemake.output.shard, seed=params.seed, config=settings)
