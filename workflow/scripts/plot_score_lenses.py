"""Draw a few Adam et al. 2022 mock lenses: sources and pooled observations."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import ScoreLensSet  # noqa: E402
from galprior.plots.lenses import score_lens_figure  # noqa: E402

mocks = ScoreLensSet.load(snakemake.input.mocks)
figure = score_lens_figure(mocks.observations, mocks.sources, mocks.attrs["pixel_scale"],
                           n_systems=snakemake.params.n_systems)
figure.savefig(snakemake.output.figure, dpi=150)
