"""Beyond Adam et al. 2022: fit the lens by MAP (Chianese VAE machinery), then sample the source."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)

from galprior.device import resolve_device  # noqa: E402
from galprior.inference.map import MapConfig  # noqa: E402
from galprior.inference.sde.posterior import SdeSettings, map_lens, sample_mocks  # noqa: E402
from galprior.lensing.priors import LensSourcePrior  # noqa: E402
from galprior.models.registry import load_model  # noqa: E402
from galprior.models.vae.source_model import load_source_model  # noqa: E402
from galprior.store import ScoreLensSet  # noqa: E402

device = resolve_device(snakemake.params.device)
mocks = ScoreLensSet.load(snakemake.input.mocks)
vae = load_source_model(Path(snakemake.input.vae_weights).parent, snakemake.input.latent_prior, device=device)
lens, source = map_lens(mocks, vae, LensSourcePrior.from_config(snakemake.params.priors),
                        MapConfig(**snakemake.params.map, seed=snakemake.params.seed), device=device)
model = load_model(Path(snakemake.input.weights).parent, family="score")
result = sample_mocks(model, mocks, SdeSettings(**snakemake.params.sde), snakemake.wildcards.solver,
                      snakemake.params.seed, lens="map", lens_parameters=lens, source_parameters=source,
                      device=device)
result.save(snakemake.output.posterior, seed=snakemake.params.seed,
            config={"sde": snakemake.params.sde, "map": snakemake.params.map})
