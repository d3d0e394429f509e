"""Draw Figs. 1 and 4-9 of Lanusse et al. 2021 and the training curves from stored results."""

import pandas as pd

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.plots import lanusse as plots  # noqa: E402
from galprior.store import LatentSampleSet, MorphologySampleSet  # noqa: E402

inp, out, n = snakemake.input, snakemake.output, snakemake.params.n_examples
samples = MorphologySampleSet.load(inp.samples)
morphology, summary = pd.read_csv(inp.morphology), pd.read_csv(inp.summary)
figures = {
    "fig_training": lambda: plots.training_curves(pd.read_csv(inp.vae_history),
                                                  pd.read_csv(inp.flow_history)),
    "fig1": lambda: plots.fig1_samples(samples, n),
    "fig4": lambda: plots.fig4_latents(LatentSampleSet.load(inp.latents)),
    "fig5": lambda: plots.fig5_reconstructions(samples, n),
    "fig6": lambda: plots.fig6_second_moments(morphology, summary),
    "fig7": lambda: plots.fig7_conditioning(pd.read_csv(inp.conditioning)),
    "fig8": lambda: plots.fig8_mid(morphology),
    "fig9": lambda: plots.fig9_gini_m20_id(morphology),
}
for key, draw in figures.items():
    draw().savefig(out[key], dpi=130)
