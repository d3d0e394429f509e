"""Draw a few Chianese et al. 2020 mock lenses: source, lensed image, observations."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import MockLensSet  # noqa: E402
from galprior.plots.lenses import mock_lens_figure  # noqa: E402

figure = mock_lens_figure(MockLensSet.load(snakemake.input.mocks),
                          n_systems=snakemake.params.n_systems)
figure.savefig(snakemake.output.figure, dpi=150)
