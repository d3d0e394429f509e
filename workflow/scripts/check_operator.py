"""App. A's checks of A A^T ~ 1 for the true lens of every Adam mock system."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)

from galprior.metrics.sde import operator_check_table  # noqa: E402
from galprior.store import ScoreLensSet  # noqa: E402

operator_check_table(ScoreLensSet.load(snakemake.input.mocks)).to_csv(snakemake.output.table, index=False)
