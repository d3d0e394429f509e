"""Draw the VAE's training and validation ELBO per epoch."""

import pandas as pd

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.plots.vae import loss_curves  # noqa: E402

loss_curves(pd.read_csv(snakemake.input.history)).savefig(snakemake.output.figure, dpi=150)
