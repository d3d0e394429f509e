"""Draw the MAP fit of one mock system at every noise level (Chianese Figs. 6-7)."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import MapResultSet, MockLensSet  # noqa: E402
from galprior.plots.inference import fit_figure  # noqa: E402

figure = fit_figure(MockLensSet.load(snakemake.input.mocks),
                    MapResultSet.load(snakemake.input.map), int(snakemake.wildcards.system))
figure.savefig(snakemake.output.figure, dpi=130)
