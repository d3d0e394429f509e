"""HSM moments and statmorph statistics of one of the three samples (Lanusse et al. 2021 sec. 4.4)."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.metrics.morphology import measure_sample  # noqa: E402
from galprior.store import MorphologySampleSet, atomic_write  # noqa: E402

table = measure_sample(MorphologySampleSet.load(snakemake.input.samples),
                       snakemake.wildcards.sample, **snakemake.params.segmentation)
atomic_write(snakemake.output.table, lambda tmp: table.to_csv(tmp, index=False))
