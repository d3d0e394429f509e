"""Figs. 22-23 of Nguyen 2025: loss curves of the three trainings and the latent flow."""

import pandas as pd

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.plots.nguyen import loss_figure  # noqa: E402

titles = {"t1": "training 1 (VAE)", "t2": "training 2 (encoder)", "t3": "training 3 (regressor)", "flow": "latent flow"}
histories = {titles[s]: pd.read_csv(p) for s, p in zip(snakemake.params.stages, snakemake.input.histories)}
loss_figure(histories).savefig(snakemake.output.figure, dpi=150)
