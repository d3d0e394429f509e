"""Draw test reconstructions (Chianese Fig. 2) and the rotation test (Fig. 3)."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import ReconstructionSet  # noqa: E402
from galprior.plots.vae import reconstruction_figure, rotation_figure  # noqa: E402

result = ReconstructionSet.load(snakemake.input.reconstructions)
n = snakemake.params.n_galaxies
reconstruction_figure(result, n).savefig(snakemake.output.fig2, dpi=150)
rotation_figure(result, 0).savefig(snakemake.output.fig3, dpi=150)
