"""Join the per-system HMC posterior stores into one (rule merge_posteriors)."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import PosteriorSampleSet  # noqa: E402

PosteriorSampleSet.concatenate([PosteriorSampleSet.load(p) for p in snakemake.input.parts]).save(
    snakemake.output.posterior, seed=snakemake.params.seed, config=snakemake.params.inference)
