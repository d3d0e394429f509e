"""Draw the MAP loss traces of every system, restart and noise level."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import MapResultSet  # noqa: E402
from galprior.plots.inference import loss_trace_figure  # noqa: E402

loss_trace_figure(MapResultSet.load(snakemake.input.map)).savefig(snakemake.output.figure,
                                                                   dpi=130)
