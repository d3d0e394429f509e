"""Shared fixtures of the Nguyen 2025 tests: the sample CatSim catalogue and small blend settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


SAMPLE_CATALOGUE = Path(__file__).resolve().parents[3] / "shared" / "data" / "catsim" / "sample_input_catalog.fits"


@pytest.fixture
def sample_catalogue_path() -> Path:
    if not SAMPLE_CATALOGUE.is_file():
        message = f"BTK's sample CatSim catalogue is absent ({SAMPLE_CATALOGUE})"
        if os.environ.get("CI"):
            pytest.fail(message + ", and CI is set: it must be there", pytrace=False)
        pytest.skip(message)
    return SAMPLE_CATALOGUE


@pytest.fixture
def settings():
    from galprior.data.blends import BlendSettings

    return BlendSettings(stamp_pixels=45, min_galaxies=1, max_galaxies=3, max_shift=2.0, max_mag=26.0,
                         mag_band="r", ellipticity_band="r", min_ellipticity=0.0, chunk_size=4, random_rotation=True)


