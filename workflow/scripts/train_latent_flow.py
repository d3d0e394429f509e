"""Fit the conditional latent MAF of Lanusse et al. 2021 on the encoded training set."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

from galprior.device import resolve_device  # noqa: E402
from galprior.models.flowvae.galsim_profile import model_metadata  # noqa: E402
from galprior.models.flowvae.products import train_latent_flow_on_galaxies, write_history  # noqa: E402
from galprior.store import GalaxySet, atomic_json_save  # noqa: E402

torch.set_num_threads(snakemake.threads)
train = GalaxySet.open(snakemake.input.train)  # opened lazily: galaxies streamed chunk by chunk
history, latents = train_latent_flow_on_galaxies(
    Path(snakemake.input.weights).parent, train, GalaxySet.open(snakemake.input.val),
    architecture=snakemake.params.architecture, training=snakemake.params.training,
    seed=snakemake.params.seed, checkpoint_dir=snakemake.params.checkpoint_dir,
    model_dir=Path(snakemake.output.weights).parent,
    device=resolve_device(snakemake.params.device))
write_history(history, snakemake.output.history)
latents.save(snakemake.output.latents, seed=snakemake.params.seed, config=snakemake.config)
atomic_json_save(model_metadata(float(train.read("pixel_scale", slice(0, 1))[0]), train.attrs["image_unit"]),
                 snakemake.output.galsim_model)
