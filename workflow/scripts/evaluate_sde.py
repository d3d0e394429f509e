"""chi2_nu, posterior mean/std/residual-SNR maps, std against magnification and per-pixel coverage
of every run."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)

from galprior.metrics.sde import evaluate_sde_runs  # noqa: E402
from galprior.store import ScoreLensSet, SdePosteriorSet  # noqa: E402

runs = {Path(p).name.removeprefix("sde_").removesuffix(".zarr"): SdePosteriorSet.load(p)
        for p in snakemake.input.posteriors}
evaluation, summary, std_mag, coverage = evaluate_sde_runs(ScoreLensSet.load(snakemake.input.mocks), runs,
                                                 n_model_images=snakemake.params.n_model_images)
evaluation.save(snakemake.output.evaluation)
summary.to_csv(snakemake.output.summary, index=False)
std_mag.to_csv(snakemake.output.std_magnification, index=False)
coverage.to_csv(snakemake.output.pixel_coverage, index=False)
