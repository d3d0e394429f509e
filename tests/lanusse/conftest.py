"""Tiny Flow-VAE settings and galaxies for the Lanusse et al. 2021 tests."""

import numpy as np
import pytest

from galprior.config import schema_defaults
from galprior.data.preprocess import noise_power_spectrum
from galprior.data.simulated import simulate_batch


@pytest.fixture(scope="session")
def defaults():
    return schema_defaults()["lanusse"]


@pytest.fixture
def tiny_architecture(defaults):
    return {**defaults["vae"]["architecture"], "n_stages": 2, "input_depth": 4, "max_depth": 8,
            "latent_dim": 4}


@pytest.fixture(scope="session")
def simulated_stamps():
    """12 simulated 32^2 galaxies with PSF, noise power spectrum and conditions."""
    stamps = simulate_batch(3, 0, 12, stamp_size=32, psf_size=16)
    images = np.stack([s.image for s in stamps]).astype(np.float32)
    psf = np.stack([s.psf for s in stamps]).astype(np.float32)
    power = np.stack([noise_power_spectrum(s.noise_variance, None, s.image.shape)
                      for s in stamps]).astype(np.float32)
    conditions = np.array([[s.mag, s.half_light_radius, s.redshift] for s in stamps])
    return images, psf, power, conditions, stamps
