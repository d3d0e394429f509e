"""Train the Lanusse et al. 2021 VAE (PSF-aware ResNet, PSF-convolved likelihood) on the lanusse splits."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

from galprior.device import resolve_device  # noqa: E402
from galprior.models.flowvae.products import train_flow_vae_on_galaxies, write_history  # noqa: E402
from galprior.store import GalaxySet  # noqa: E402

torch.set_num_threads(snakemake.threads)
history = train_flow_vae_on_galaxies(  # the stores opened lazily: galaxies streamed chunk by chunk
    GalaxySet.open(snakemake.input.train), GalaxySet.open(snakemake.input.val),
    image_size=snakemake.params.image_size, architecture=snakemake.params.architecture,
    training=snakemake.params.training, seed=snakemake.params.seed,
    checkpoint_dir=snakemake.params.checkpoint_dir,
    model_dir=Path(snakemake.output.weights).parent,
    device=resolve_device(snakemake.params.device))
write_history(history, snakemake.output.history)
