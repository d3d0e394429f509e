"""Train the score prior of Adam et al. 2022 (DSM, VE SDE) on galaxy stamps or PROBES."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)

from galprior.device import resolve_device  # noqa: E402
from galprior.models.score.products import train_score_prior_on_galaxies  # noqa: E402
from galprior.store import GalaxySet  # noqa: E402

options = snakemake.params.score_model
history = train_score_prior_on_galaxies(  # the stores opened lazily: images streamed chunk by chunk
    GalaxySet.open(snakemake.input.train), GalaxySet.open(snakemake.input.val),
    source_size=snakemake.params.source_size, probes=snakemake.params.probes,
    sigma_min=options["sigma_min"], architecture=options["architecture"], training=options["training"],
    seed=snakemake.params.seed, checkpoint_dir=snakemake.params.checkpoint_dir,
    model_dir=Path(snakemake.output.weights).parent, device=resolve_device(snakemake.params.device))
history.to_csv(snakemake.output.history, index=False)
