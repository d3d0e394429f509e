"""Train the score prior of Adam et al. 2022 (DSM, VE SDE, NCSN++) on the score galaxies."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)

from galprior.device import resolve_device  # noqa: E402
from galprior.models.score.products import train_score_prior  # noqa: E402
from galprior.store import ScoreGalaxySet  # noqa: E402

options = snakemake.params.score_model
# the training split is streamed from its store (a shuffle buffer at a time), the few
# validation images are read
train, val = ScoreGalaxySet.open(snakemake.input.train), ScoreGalaxySet.open(snakemake.input.val)
history = train_score_prior(train.array("images"),
                            val.read("images", slice(0, options["training"]["n_validation"])),
                            sigma_min=options["sigma_min"], sigma_max=options["sigma_max"],
                            architecture=options["architecture"], training=options["training"],
                            normalisation=train.attrs["normalisation"], seed=snakemake.params.seed,
                            checkpoint_dir=snakemake.params.checkpoint_dir,
                            model_dir=Path(snakemake.output.weights).parent,
                            device=resolve_device(snakemake.params.device))
history.to_csv(snakemake.output.history, index=False)
