"""Draw one shard of BTK blends (Nguyen 2025 sec. 3.1.2) and write it as a BlendSet."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.blends import prepare_blend_shard  # noqa: E402

w = snakemake.wildcards
shard = prepare_blend_shard(snakemake.params.nguyen, w.survey, w.split, int(w.shard), snakemake.params.seed)
shard.save(snakemake.output.shard, seed=snakemake.params.seed, config=snakemake.params.nguyen)
