"""Prepare the train/val/test splits of one galaxy product from one source."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.galaxies import prepare_galaxy_splits  # noqa: E402

options = snakemake.params.galaxies
product = snakemake.wildcards.product
splits = prepare_galaxy_splits(
    source=snakemake.wildcards.source,
    product=product,
    split_sizes=options["split_sizes"][product],
    seed=snakemake.params.seed,
    cosmos_options=options["cosmos"],
    simulated_options=options["simulated"],
    product_options=options[product],
)
for split, galaxies in splits.items():
    galaxies.save(snakemake.output[split], seed=snakemake.params.seed, config=options)
