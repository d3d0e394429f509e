"""A VAE trained on the simulated default runs MAP on mocks made from real COSMOS galaxies."""

from pathlib import Path

import numpy as np
import pytest
import torch

from galprior.data.galaxies import prepare_galaxy_splits
from galprior.inference.mocks import map_fit_mocks, sample_mocks
from galprior.lensing.products import chianese_mock_set
from galprior.models import load_model
from galprior.models.vae.latent_prior import fit_latent_prior_with_meta, save_latent_prior
from galprior.models.vae.products import train_vae_on_galaxies
from galprior.models.vae.source_model import load_source_model

EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "cosmos_example"
COSMOS = {"directory": str(EXAMPLE),
          "catalogue_file": "real_galaxy_catalog_26_extension_example.fits",
          "mag_column": "MAG", "redshift_column": "ZPHOT", "hlr_column": None,
          "exclusion_level": "none"}


@pytest.mark.shared_data
def test_simulated_vae_fits_mocks_of_real_cosmos_sources(tmp_path, defaults, default_prior, map_config,
                                                          hmc_config):
    vae = defaults["chianese"]["vae"]
    loose = {"min_stamp_size": 0, "snr_min": 0.0, "snr_max": 1e9}
    simulated = prepare_galaxy_splits("simulated", "chianese",
                                      {"train": 24, "val": 8, "test": 1}, seed=0,
                                      simulated_options={"batch_size": 40},
                                      product_options=loose)
    model_dir = tmp_path / "vae"
    train_vae_on_galaxies(simulated["train"], simulated["val"],
                          architecture={**vae["architecture"], "base_width": 4, "latent_dim": 8},
                          training={**vae["training"], "epochs": 2, "batch_size": 8},
                          seed=0, checkpoint_dir=tmp_path / "ckpt", model_dir=model_dir)
    prior = fit_latent_prior_with_meta(load_model(model_dir), simulated["train"].images)
    save_latent_prior(tmp_path / "prior.npz", prior.mean, prior.covariance, prior.meta)

    real = prepare_galaxy_splits("cosmos", "chianese", {"train": None, "val": 1, "test": 2},
                                 seed=0, cosmos_options=COSMOS)["test"]
    assert real.attrs["source"] == "cosmos"
    mocks = chianese_mock_set(real, n_systems=2, noise_sigma=[0.1, 0.03], n_pix=48,
                              pixel_scale=0.16, psf_sigma=0.1,
                              fill_fraction=1 / 3, require_detection=True, prior=default_prior, seed=1)
    source = load_source_model(model_dir, tmp_path / "prior.npz")
    fits = map_fit_mocks(mocks, source, default_prior,
                         map_config(n_restarts=2, n_candidates=4, screen_steps=10, screen_factor=2,
                                    n_steps_lens=15, n_steps_all=15))
    assert fits.lens_parameters.shape == (2, 2, 8)
    assert np.isfinite(fits.log_posterior).all() and np.isfinite(fits.reduced_chi2).all()
    # the optimisation made progress on every restart: in the screen (on its own grid), and
    # from the first step after it to the end
    screen, rest = fits.loss_trace[..., :10], fits.loss_trace[..., 10:]
    assert (screen[..., -1] <= screen[..., 0]).all() and (rest[..., -1] <= rest[..., 0]).all()

    # HMC runs in float64 on a copy of the source model; the float32 original is untouched
    samples = sample_mocks(mocks, fits, source, default_prior,
                           hmc_config(num_warmup=3, num_samples=4, metric_samples=3, refine_iterations=5), [1])
    assert samples.samples.shape[:4] == (1, 2, 1, 4)
    assert np.isfinite(samples.samples).all()
    assert source.dtype == torch.float32
