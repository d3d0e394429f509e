"""Posterior samples of the Adam et al. 2022 mock sources with the true lens (one solver)."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)

from galprior.device import resolve_device  # noqa: E402
from galprior.inference.sde.posterior import SdeSettings, sample_mocks  # noqa: E402
from galprior.models.registry import load_model  # noqa: E402
from galprior.store import ScoreLensSet  # noqa: E402

model = load_model(Path(snakemake.input.weights).parent, family="score")
result = sample_mocks(model, ScoreLensSet.load(snakemake.input.mocks), SdeSettings(**snakemake.params.sde),
                      snakemake.wildcards.solver, snakemake.params.seed, lens="known",
                      device=resolve_device(snakemake.params.device))
result.save(snakemake.output.posterior, seed=snakemake.params.seed, config=snakemake.params.sde)
