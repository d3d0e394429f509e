"""Prepare the train/val/test splits of one galaxy product from one source."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.galaxies import prepare_galaxy_splits  # noqa: E402

params = snakemake.params
splits = prepare_galaxy_splits(
    source=snakemake.wildcards.source,
    product=snakemake.wildcards.product,
    split_sizes=params.split_sizes,
    seed=params.seed,
    cosmos_options=params.cosmos,
    simulated_options=params.simulated,
    product_options=params.product,
)
settings = {"split_sizes": params.split_sizes, "product": params.product,
            "source": params.cosmos if snakemake.wildcards.source == "cosmos" else params.simulated}
for split, galaxies in splits.items():
    galaxies.save(snakemake.output[split], seed=params.seed, config=settings)
