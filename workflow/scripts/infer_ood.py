"""Adam et al. 2022 Fig. 2: posterior samples of a non-galaxy source at rising noise."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)

from galprior.device import resolve_device  # noqa: E402
from galprior.inference.sde.ood import ood_experiment  # noqa: E402
from galprior.inference.sde.posterior import SdeSettings  # noqa: E402
from galprior.models.registry import load_model  # noqa: E402
from galprior.store import ScoreLensSet  # noqa: E402

options = snakemake.params.ood
model = load_model(Path(snakemake.input.weights).parent, family="score")
result = ood_experiment(model, ScoreLensSet.load(snakemake.input.mocks), options["system"], options["glyph"],
                        options["noise_levels"], SdeSettings(**snakemake.params.sde), options["solver"],
                        options["n_samples"], snakemake.params.seed, device=resolve_device(snakemake.params.device))
result.save(snakemake.output.ood, seed=snakemake.params.seed, config=options)
