"""HMC/NUTS posterior samples of the chosen mock lenses, started at their MAP."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.store import MapResultSet, MockLensSet  # noqa: E402
from galprior.inference.hmc import HmcConfig  # noqa: E402
from galprior.inference.products import load_source_model, prior_config, sample_mocks  # noqa: E402

options = dict(snakemake.params.hmc)
systems = options.pop("systems")
source = load_source_model(Path(snakemake.input.weights).parent, snakemake.input.prior)
result = sample_mocks(MockLensSet.load(snakemake.input.mocks),
                      MapResultSet.load(snakemake.input.map), source,
                      prior_config(snakemake.params.priors),
                      HmcConfig(**options, seed=snakemake.params.seed), systems)
result.save(snakemake.output.posterior, seed=snakemake.params.seed, config=snakemake.params.hmc)
