"""Figs. 20-21 of Nguyen 2025: raw and normalised r-band blends."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.plots.nguyen import normalisation_figure  # noqa: E402
from galprior.store import BlendSet  # noqa: E402

# opened lazily: the histogram of the split is accumulated a chunk at a time
normalisation_figure(BlendSet.open(snakemake.input.blends)).savefig(snakemake.output.figure, dpi=150)
