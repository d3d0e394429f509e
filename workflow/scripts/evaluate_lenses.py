"""Tables of lens-parameter recovery: per system (with sampler diagnostics and flags),
interval coverage and summary over the posteriors that passed their diagnostics."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import MapResultSet, MockLensSet, PosteriorSampleSet  # noqa: E402
from galprior.metrics.lens_recovery import (evaluate_lenses, flag_posteriors,  # noqa: E402
                                            recovery_summary, trusted_coverage, trusted_posteriors)

posterior = PosteriorSampleSet.load(snakemake.input.posterior)
table, _ = evaluate_lenses(MockLensSet.load(snakemake.input.mocks),
                           MapResultSet.load(snakemake.input.map), posterior)
table = flag_posteriors(table, posterior, snakemake.params.diagnostics)
table.to_csv(snakemake.output.table, index=False)
trusted_coverage(table).to_csv(snakemake.output.coverage, index=False)
recovery_summary(trusted_posteriors(table)).to_csv(snakemake.output.summary, index=False)
