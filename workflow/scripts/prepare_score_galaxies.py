"""The galaxies of the score prior (Adam et al. 2022 sec. 3): PROBES or a galaxy product, at
adam.source_size in the prior's units, one store per split."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.models.score.data import score_galaxies_from_probes, score_galaxies_from_product  # noqa: E402
from galprior.store import GalaxySet  # noqa: E402

params = snakemake.params
options = dict(source_size=params.source_size, normalisation=params.normalisation)
if params.training_product == "probes":
    probes = params.probes
    sets = score_galaxies_from_probes(probes["directory"], band=probes["band"], crop=probes["crop"],
                                      clip_level=probes["clip_level"], split_sizes=probes["split_sizes"],
                                      seed=params.seed, **options)
else:
    # opened lazily: only the stamps and the identifiers are read
    sets = {split: score_galaxies_from_product(GalaxySet.open(snakemake.input[split]), split, **options)
            for split in ("train", "val", "test")}
for split, galaxies in sets.items():
    galaxies.save(snakemake.output[split], seed=params.seed,
                  config={"training_product": params.training_product, "probes": params.probes, **options})
