"""Loss curves of the score model (DSM, eq. 3)."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import pandas as pd  # noqa: E402

from galprior.plots.adam import training_figure  # noqa: E402

training_figure(pd.read_csv(snakemake.input.history)).savefig(snakemake.output.figure, dpi=150)
