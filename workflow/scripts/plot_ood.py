"""Adam et al. 2022 Fig. 2: out-of-distribution source at rising noise."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.plots.adam import fig2_ood  # noqa: E402
from galprior.store import OodSampleSet  # noqa: E402

fig2_ood(OodSampleSet.load(snakemake.input.ood)).savefig(snakemake.output.figure, dpi=150)
