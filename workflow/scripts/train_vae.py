"""Train the Chianese et al. 2020 VAE on the train/val galaxy splits."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)  # the threads the rule was given (rule_threads)

from galprior.store import GalaxySet  # noqa: E402
from galprior.device import resolve_device  # noqa: E402
from galprior.models.vae.products import train_vae_on_galaxies  # noqa: E402

history = train_vae_on_galaxies(
    GalaxySet.open(snakemake.input.train),  # streamed: only the images are read, chunk by chunk
    GalaxySet.open(snakemake.input.val),
    architecture=snakemake.params.architecture,
    training=snakemake.params.training,
    seed=snakemake.params.seed,
    checkpoint_dir=snakemake.params.checkpoint_dir,
    model_dir=Path(snakemake.output.weights).parent,
    device=resolve_device(snakemake.params.device),
)
history.to_csv(snakemake.output.history, index=False)
