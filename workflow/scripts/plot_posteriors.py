"""Corner plot of one sampled system at every S/N (Chianese Figs. 8-9)."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import MockLensSet, PosteriorSampleSet  # noqa: E402
from galprior.plots.inference import corner_figure  # noqa: E402

posterior = PosteriorSampleSet.load(snakemake.input.posterior)
row = posterior.attrs["systems"].index(int(snakemake.wildcards.system))
figure = corner_figure(MockLensSet.load(snakemake.input.mocks), posterior, row)
figure.savefig(snakemake.output.figure, dpi=130)
