"""Fit the latent prior: normal of the encoded training means, scaled covariance."""

from pathlib import Path

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.store import GalaxySet  # noqa: E402
from galprior.models import load_model  # noqa: E402
from galprior.models.vae.latent_prior import fit_latent_prior_with_meta, save_latent_prior  # noqa: E402

model = load_model(Path(snakemake.input.weights).parent)
prior = fit_latent_prior_with_meta(model, GalaxySet.open(snakemake.input.train),
                                   covariance_scale=snakemake.params.covariance_scale)
save_latent_prior(snakemake.output.prior, prior.mean, prior.covariance, prior.meta)
