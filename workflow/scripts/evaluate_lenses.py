"""Tables of lens-parameter recovery: per system, interval coverage, summary."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.store import MapResultSet, MockLensSet, PosteriorSampleSet  # noqa: E402
from galprior.inference.products import evaluate_lenses  # noqa: E402
from galprior.metrics.lens_recovery import recovery_summary  # noqa: E402

table, coverage = evaluate_lenses(MockLensSet.load(snakemake.input.mocks),
                                  MapResultSet.load(snakemake.input.map),
                                  PosteriorSampleSet.load(snakemake.input.posterior))
table.to_csv(snakemake.output.table, index=False)
coverage.to_csv(snakemake.output.coverage, index=False)
recovery_summary(table).to_csv(snakemake.output.summary, index=False)
