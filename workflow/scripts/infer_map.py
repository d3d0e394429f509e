"""MAP fits of every mock lens at every noise level."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.store import MockLensSet  # noqa: E402
from galprior.inference.map import MapConfig  # noqa: E402
from galprior.inference.products import load_source_model, map_fit_mocks, prior_config  # noqa: E402

source = load_source_model(Path(snakemake.input.weights).parent, snakemake.input.prior)
config = MapConfig(**snakemake.params.map, seed=snakemake.params.seed)
result = map_fit_mocks(MockLensSet.load(snakemake.input.mocks), source,
                       prior_config(snakemake.params.priors), config)
result.save(snakemake.output.map, seed=snakemake.params.seed, config=snakemake.params.map)
