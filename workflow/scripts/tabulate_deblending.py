"""Write deblending_metrics.csv and the table of the figures' numbers (Nguyen 2025)."""

import pandas as pd

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.metrics.deblending import deblending_metrics, figure_numbers  # noqa: E402
from galprior.store import DeblendEvaluation  # noqa: E402

evaluations = {name: DeblendEvaluation.load(p) for name, p in zip(snakemake.params.data, snakemake.input.evaluations)}
histories = {name: pd.read_csv(p) for name, p in zip(snakemake.params.histories, snakemake.input.histories)}
deblending_metrics(evaluations).to_csv(snakemake.output.metrics, index=False, float_format="%.5g")
figure_numbers(evaluations, histories).to_csv(snakemake.output.figure_numbers, index=False, float_format="%.5g")
