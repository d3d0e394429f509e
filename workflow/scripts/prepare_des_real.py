"""Read real DES cutouts and the im3shape catalogue (Nguyen 2025 sec. 3.1.3) into a store."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.des import prepare_des_real  # noqa: E402

prepare_des_real(snakemake.params.real, snakemake.params.stamp_pixels).save(snakemake.output.cutouts, config=snakemake.params.real)
