"""Draw the parametric and Flow-VAE twins of the test galaxies (Lanusse et al. 2021 sec. 4.4)."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

from galprior.device import resolve_device  # noqa: E402
from galprior.models.flowvae.products import make_morphology_samples  # noqa: E402
from galprior.store import GalaxySet  # noqa: E402

torch.set_num_threads(snakemake.threads)
samples = make_morphology_samples(
    Path(snakemake.input.vae).parent, Path(snakemake.input.flow).parent,
    GalaxySet.open(snakemake.input.test), seed=snakemake.params.seed,
    device=resolve_device(snakemake.params.device))
samples.save(snakemake.output.samples, seed=snakemake.params.seed, config=snakemake.config)
