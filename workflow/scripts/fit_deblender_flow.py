"""Fit the latent normalizing flow on the training-1 latent means (beyond Nguyen 2025)."""

from pathlib import Path

import torch

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)

from galprior.device import resolve_device  # noqa: E402
from galprior.models.deblender.products import train_flow_stage  # noqa: E402
from galprior.store import BlendSet  # noqa: E402

# the splits opened lazily: only the arrays a stage uses are read, a few chunks at a time
history = train_flow_stage(
    BlendSet.open(snakemake.input.train), BlendSet.open(snakemake.input.val), Path(snakemake.input.t1[0]).parent,
    snakemake.params.nguyen, snakemake.params.seed, checkpoint_dir=snakemake.params.checkpoint_dir,
    model_dir=Path(snakemake.output.weights).parent, device=resolve_device(snakemake.params.device),
)
history.to_csv(snakemake.output.history, index=False)
