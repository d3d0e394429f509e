"""Figs. 11-12 of Nguyen 2025: deblending examples and regressor sticks."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.plots.nguyen import deblend_examples_figure, regressor_sticks_figure  # noqa: E402
from galprior.store import DeblendEvaluation  # noqa: E402

evaluation = DeblendEvaluation.load(snakemake.input.evaluation)
deblend_examples_figure(evaluation).savefig(snakemake.output.fig11, dpi=150)
regressor_sticks_figure(evaluation).savefig(snakemake.output.fig12, dpi=150)
