"""Prior samples beside training galaxies, with their moment quartiles."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import pandas as pd  # noqa: E402

from galprior.plots.adam import prior_samples_figure  # noqa: E402
from galprior.store import ScorePriorSampleSet  # noqa: E402

store = ScorePriorSampleSet.load(snakemake.input.samples)
prior_samples_figure(store.samples, store.training, pd.read_csv(snakemake.input.moments)).savefig(
    snakemake.output.figure, dpi=150)
