"""Adam et al. 2022 Figs. 1 and 3 (reference run) and the known- against MAP-lens posteriors."""

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.plots.adam import fig1_posterior, fig3_gallery, lens_mode_figure  # noqa: E402
from galprior.store import ScoreLensSet, SdeEvaluationSet, SdePosteriorSet  # noqa: E402

evaluation = SdeEvaluationSet.load(snakemake.input.evaluation)
mocks = ScoreLensSet.load(snakemake.input.mocks)
reference = SdePosteriorSet.load(snakemake.input.posteriors[0])
for system, path in enumerate(snakemake.output.fig1):
    fig1_posterior(evaluation, reference.samples[system], system, 0, mocks.noise_sigma[system]).savefig(path, dpi=130)
fig3_gallery(evaluation, reference.samples[0], 0, 0).savefig(snakemake.output.fig3, dpi=130)
lens_mode_figure(evaluation, list(range(len(evaluation.attrs["runs"])))).savefig(snakemake.output.lens_modes,
                                                                                 dpi=130)
