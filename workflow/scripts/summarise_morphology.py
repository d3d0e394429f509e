"""Morphology summary per sample, energy-distance comparisons, and the Fig. 7 pairs."""

import pandas as pd

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.metrics.morphology import (conditioning_numbers, conditioning_table,  # noqa: E402
                                         morphology_summary)
from galprior.store import MorphologySampleSet, atomic_write  # noqa: E402
from galprior.data.simulated import ZEROPOINT_F814W  # noqa: E402

tables = {name: pd.read_csv(path) for name, path in zip(snakemake.params.samples,
                                                         snakemake.input.tables)}
measurements = pd.concat([t.assign(sample=name, galaxy=range(len(t)))
                          for name, t in tables.items()], ignore_index=True)
options = snakemake.params.options
summary, tests = morphology_summary(measurements, seed=snakemake.params.seed,
                                    **{k: options[k] for k in ("n_bootstrap", "n_permutations",
                                                               "alpha", "power", "confidence")})
properties = MorphologySampleSet.load(snakemake.input.samples).properties
conditioning = conditioning_table(tables["cosmos"], tables["flowvae"], properties,
                                  ZEROPOINT_F814W)
for key, value in conditioning_numbers(conditioning).items():  # Fig. 7 numbers
    summary.loc[summary["sample"] == "flowvae", key] = value
for frame, path in ((measurements, snakemake.output.morphology), (summary, snakemake.output.summary),
                    (tests, snakemake.output.tests), (conditioning, snakemake.output.conditioning)):
    atomic_write(path, lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
