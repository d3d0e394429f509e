"""HMC/NUTS posterior samples of one mock lens system (the job's wildcard) at every noise level,
started at its MAPs."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)  # the threads the rule was given (rule_threads)

from galprior.store import MapResultSet, MockLensSet  # noqa: E402
from galprior.device import resolve_device  # noqa: E402
from galprior.inference.modes import hmc_config  # noqa: E402
from galprior.inference.mocks import sample_mocks  # noqa: E402
from galprior.lensing.priors import LensSourcePrior  # noqa: E402
from galprior.models.vae.source_model import load_source_model  # noqa: E402

systems = [int(snakemake.wildcards.system)]
source = load_source_model(Path(snakemake.input.weights).parent, snakemake.input.prior)
result = sample_mocks(MockLensSet.load(snakemake.input.mocks),
                      MapResultSet.load(snakemake.input.map), source,
                      LensSourcePrior.from_config(snakemake.params.priors),
                      hmc_config(snakemake.params.inference, seed=snakemake.params.seed), systems,
                      device=resolve_device(snakemake.params.device))
result.save(snakemake.output.posterior, seed=snakemake.params.seed, config=snakemake.params.inference)
