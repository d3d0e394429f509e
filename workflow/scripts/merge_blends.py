"""Join the blend shards of one survey into train/val stores with the eq. 9 constants."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.data.blends import merge_blend_shards  # noqa: E402
from galprior.store import BlendSet  # noqa: E402

train, val = merge_blend_shards([BlendSet.load(p) for p in snakemake.input.train],
                                [BlendSet.load(p) for p in snakemake.input.val])
train.save(snakemake.output.train, seed=train.attrs.get("seed"))
val.save(snakemake.output.val, seed=val.attrs.get("seed"))
