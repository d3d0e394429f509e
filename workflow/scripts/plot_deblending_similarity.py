"""Fig. 13 of Nguyen 2025: SSIM and cosine similarity after trainings 1 and 2."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.plots.nguyen import similarity_figure  # noqa: E402
from galprior.store import DeblendEvaluation  # noqa: E402

evaluations = {name: DeblendEvaluation.load(p) for name, p in zip(snakemake.params.data, snakemake.input.evaluations)}
similarity_figure(evaluations).savefig(snakemake.output.figure, dpi=150)
