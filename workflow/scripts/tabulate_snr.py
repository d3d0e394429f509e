"""Write the S/N of every mock system and noise level (Table 1 analogue) as CSV."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import MockLensSet  # noqa: E402
from galprior.metrics.snr import snr_table  # noqa: E402

snr_table(MockLensSet.load(snakemake.input.mocks)).to_csv(snakemake.output.table, index=False)
