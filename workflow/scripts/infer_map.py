"""MAP fits of every mock lens at every noise level."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)  # the threads the rule was given (rule_threads)

from galprior.store import MockLensSet  # noqa: E402
from galprior.device import resolve_device  # noqa: E402
from galprior.inference.modes import map_config  # noqa: E402
from galprior.inference.mocks import map_fit_mocks  # noqa: E402
from galprior.lensing.priors import LensSourcePrior  # noqa: E402
from galprior.models.vae.source_model import load_source_model  # noqa: E402

source = load_source_model(Path(snakemake.input.weights).parent, snakemake.input.prior)
config = map_config(snakemake.params.inference, seed=snakemake.params.seed)
result = map_fit_mocks(MockLensSet.load(snakemake.input.mocks), source,
                       LensSourcePrior.from_config(snakemake.params.priors), config,
                       device=resolve_device(snakemake.params.device))
result.save(snakemake.output.map, seed=snakemake.params.seed, config=snakemake.params.inference)
