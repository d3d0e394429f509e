"""Render the Chianese et al. 2020 mock lenses from the test galaxies."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import GalaxySet  # noqa: E402
from galprior.lensing.priors import LensSourcePrior  # noqa: E402
from galprior.lensing.products import chianese_mock_set  # noqa: E402

options = snakemake.params.options
priors = snakemake.params.priors
mocks = chianese_mock_set(GalaxySet.open(snakemake.input.test), prior=LensSourcePrior.from_config(priors),
                         seed=snakemake.params.seed, **options)
mocks.save(snakemake.output.mocks, seed=snakemake.params.seed,
           config={"mocks": options, "priors": priors})
