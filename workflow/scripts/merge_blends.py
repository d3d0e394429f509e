"""Join the blend shards of one survey into train/val stores with the eq. 9 constants."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.blends import merge_blend_stores  # noqa: E402
from galprior.store import BlendSet  # noqa: E402

# shard by shard, a chunk at a time: memory does not grow with the split
merge_blend_stores([BlendSet.open(p) for p in snakemake.input.train], [BlendSet.open(p) for p in snakemake.input.val],
                   snakemake.output.train, snakemake.output.val)
