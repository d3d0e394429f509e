"""Unconditional samples of the score prior beside training galaxies; moments compared."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)

from galprior.device import resolve_device  # noqa: E402
from galprior.inference.sde.posterior import SdeSettings  # noqa: E402
from galprior.inference.sde.prior import sample_prior  # noqa: E402
from galprior.metrics.sde import moment_comparison  # noqa: E402
from galprior.models.registry import load_model  # noqa: E402
from galprior.data.score_normalisation import get_normalisation  # noqa: E402
from galprior.store import ScoreGalaxySet, ScorePriorSampleSet  # noqa: E402

options, settings = snakemake.params.options, SdeSettings(**snakemake.params.sde)
model = load_model(Path(snakemake.input.weights).parent, family="score")
n_steps = settings.n_steps(options["solver"], model.image_size**2, model.sde.sigma_min, model.sde.sigma_max)
samples = sample_prior(model, options["n_samples"], options["solver"], n_steps, snakemake.params.seed,
                       settings.max_batch, resolve_device(snakemake.params.device),
                       **settings.options(options["solver"]))
training = ScoreGalaxySet.open(snakemake.input.train).read("images", slice(0, options["n_samples"]))
brightness = get_normalisation(model.normalisation).to_brightness   # moments of the surface brightness
moment_comparison(brightness(samples), brightness(training)).to_csv(snakemake.output.moments, index=False)
ScorePriorSampleSet(samples=samples, training=training,
                    attrs={"solver": options["solver"], "n_steps": n_steps,
                           "normalisation": model.normalisation}).save(
    snakemake.output.samples, seed=snakemake.params.seed, config=options)
