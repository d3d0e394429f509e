"""Apply the trained deblender to simulated validation blends or real DES cutouts."""

from pathlib import Path

import torch

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)

from galprior.device import resolve_device  # noqa: E402
from galprior.models.deblender.products import evaluate_real_des, evaluate_simulated  # noqa: E402
from galprior.store import BlendSet, DesCutoutSet  # noqa: E402

p = snakemake.params
models = {stage: Path(getattr(snakemake.input, stage)[0]).parent for stage in ("t1", "t2", "t3", "flow")}
device = resolve_device(p.device)
if snakemake.wildcards.data == "des_real":
    real = DesCutoutSet.load(snakemake.input.data)
    result = evaluate_real_des(real.images, real.e_im3shape, models, p.nguyen, p.model,
                               p.nguyen["blends"]["ellipticity_band"], p.seed, device)
else:
    # opened lazily: the blends are streamed a batch at a time
    result = evaluate_simulated(BlendSet.open(snakemake.input.data), models, p.nguyen, p.model, p.seed, device)
result.save(snakemake.output.evaluation, seed=p.seed, config=p.nguyen)
