"""Download, verify and unpack GalSim's COSMOS sample named by the output folder (23.5 or 25.2)."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.download import download_cosmos  # noqa: E402

download_cosmos(snakemake.output[0])
