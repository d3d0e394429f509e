"""The scorecard: each headline number of the systems that ran, ours beside the paper's."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.metrics.scorecard import scorecard  # noqa: E402

scorecard(snakemake.params.tables_dir, snakemake.params.systems).to_csv(snakemake.output.scorecard,
                                                                         index=False)
