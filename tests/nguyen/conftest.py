"""Shared fixtures of the Nguyen 2025 tests: the sample CatSim catalogue and small blend settings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

DES_BANDS = ("g", "r", "i", "z", "Y")

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


def _header(east_left: bool, n: int) -> fits.Header:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [70.0, -50.0]
    wcs.wcs.crpix = [(n + 1) / 2, (n + 1) / 2]
    scale = 0.263 / 3600
    wcs.wcs.cdelt = [-scale if east_left else scale, scale]
    return wcs.to_header()


def _galaxy(n: int, e1_sky: float, e2_sky: float, east_left: bool) -> np.ndarray:
    """An elliptical Gaussian whose sky-frame distortion is (e1_sky, e2_sky)."""
    y, x = np.mgrid[0:n, 0:n] - (n - 1) / 2
    if east_left:
        x = -x  # sky x (east) points to decreasing pixel x
    e = np.hypot(e1_sky, e2_sky)
    theta = 0.5 * np.arctan2(e2_sky, e1_sky)
    a2, b2 = 9.0 * (1 + e), 9.0 * (1 - e)  # (a²-b²)/(a²+b²) = e
    u, v = np.cos(theta) * x + np.sin(theta) * y, -np.sin(theta) * x + np.cos(theta) * y
    return np.exp(-0.5 * (u**2 / a2 + v**2 / b2))


def _write_des_files(tmp_path, east_left: bool):
    """A small im3shape catalogue and per-band cutouts (elliptical Gaussians) under ``tmp_path``."""
    rows = [(11, 70.0, -50.0, 0.3, 0.2, 35.0), (12, 70.1, -50.1, -0.1, 0.4, 25.0),
            (13, 70.2, -50.2, 0.2, 0.1, 12.0), (14, 70.3, -50.3, np.nan, 0.1, 50.0),
            (15, 70.4, -50.4, 0.1, -0.2, 40.0)]
    table = Table(rows=rows, names=["coadd_objects_id", "ra", "dec", "e1", "e2", "snr_w"])
    table.write(tmp_path / "im3shape.fits")
    cutouts = tmp_path / "cutouts"
    cutouts.mkdir()
    for ident, _, _, e1, e2, _ in rows:
        if ident == 15:
            continue  # no cutouts at all: skipped
        for band in DES_BANDS:
            image = _galaxy(61, e1, e2, east_left) if np.isfinite(e1) else np.zeros((61, 61))
            fits.PrimaryHDU(image, header=_header(east_left, 61)).writeto(cutouts / f"{ident}_{band}.fits")
    return tmp_path / "im3shape.fits", cutouts


@pytest.fixture
def write_des_files():
    """``write(tmp_path, east_left)`` -> (catalogue path, cutout folder) of a small real-DES-format set."""
    return _write_des_files
