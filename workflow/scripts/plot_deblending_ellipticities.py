"""Figs. 15-18 of Nguyen 2025: ellipticities against the truth and their distributions."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.plots.nguyen import ellipticity_distribution_figure, ellipticity_scatter_figure  # noqa: E402
from galprior.store import DeblendEvaluation  # noqa: E402

evaluation = DeblendEvaluation.load(snakemake.input.evaluation)
title = f"{evaluation.attrs['survey'].upper()} ({evaluation.attrs['data']}), {evaluation.attrs['model_survey'].upper()}-trained networks"
ellipticity_scatter_figure(evaluation, title).savefig(snakemake.output.scatter, dpi=150)
ellipticity_distribution_figure(evaluation, title).savefig(snakemake.output.distribution, dpi=150)
