"""Draw a gallery of test-split galaxies (observed, noiseless, PSF)."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import GalaxySet  # noqa: E402
from galprior.plots.galaxies import galaxy_gallery  # noqa: E402

galaxies = GalaxySet.open(snakemake.input.test)
title = (f"{galaxies.attrs['source']} galaxies, {galaxies.attrs['product']} product "
         f"({galaxies.attrs['band']})")
figure = galaxy_gallery(galaxies, n_galaxies=snakemake.params.n_galaxies, title=title)
figure.savefig(snakemake.output.figure, dpi=150)
