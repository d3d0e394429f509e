"""Fixtures shared by every test: the configuration defaults, read from the schema (their one
home), and one local run of the CI preset per session (the workflow and reliability tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from galprior.config import schema_defaults
from galprior.data.des import DES_BANDS


@pytest.fixture(scope="session")
def defaults() -> dict:
    """The default configuration (every default of workflow/schemas/config.schema.yaml)."""
    return schema_defaults()


@pytest.fixture(scope="session")
def default_prior(defaults):
    """The lens and source prior of the default configuration."""
    from galprior.lensing.priors import LensSourcePrior

    return LensSourcePrior.from_config(defaults["priors"])


@pytest.fixture(scope="session")
def map_config(defaults):
    """``map_config(**changes)``: the default MAP settings with some changed."""
    from galprior.inference.map import MapConfig

    return lambda **changes: MapConfig(**{**defaults["chianese"]["map"], "seed": 0, **changes})


@pytest.fixture(scope="session")
def hmc_config(defaults):
    """``hmc_config(**changes)``: the default HMC settings with some changed."""
    from galprior.inference.hmc import HmcConfig

    options = {k: v for k, v in defaults["chianese"]["hmc"].items() if k != "systems"}
    return lambda **changes: HmcConfig(**{**options, "seed": 0, **changes})


REPO = Path(__file__).resolve().parents[1]
# Small real data sets (../shared/data beside the checkout, see its README): CI lays them
# there; a user's fresh clone has none.
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_runtest_setup(item):
    """Tests marked ``shared_data`` skip when ../shared/data is missing, and fail instead when
    the ``CI`` variable is set (where the folder must be: a skip would hide a lost test)."""
    if item.get_closest_marker("shared_data") is None or SHARED_DATA.is_dir():
        return
    message = f"{item.nodeid} needs the real data sets at {SHARED_DATA} (see its README)"
    if os.environ.get("CI"):
        pytest.fail(message + ", and CI is set: they must be there", pytrace=False)
    pytest.skip(message + "; a fresh clone has none")

CI_PRESET = REPO / "config" / "presets" / "ci.yaml"
CI_RUN_TIMEOUT = 1800  # s; the CI preset takes a few minutes on 2 cores


@pytest.fixture(scope="session")
def snakemake_command() -> list[str]:
    """The venv's snakemake on this checkout's Snakefile: append options and targets."""
    return [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(REPO / "Snakefile")]


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory, snakemake_command) -> Path:
    """Working directory of a finished local run of the CI preset (the whole DAG).

    Read it, never write to it: the tests of a session share it.
    """
    workdir = tmp_path_factory.mktemp("ci_run")
    command = [*snakemake_command, "--cores", "2", "--directory", str(workdir),
               "--configfile", str(CI_PRESET)]
    result = subprocess.run(command, cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=CI_RUN_TIMEOUT)
    (workdir.parent / "ci_run.log").write_text(result.stdout)
    if result.returncode != 0:
        pytest.fail(f"the CI preset failed locally (exit {result.returncode}):\n"
                    f"{result.stdout[-6000:]}", pytrace=False)
    return workdir


def _paper_inputs(workdir: Path) -> None:
    import yaml

    preset = yaml.safe_load((REPO / "config" / "presets" / "paper.yaml").read_text())
    nguyen, probes = preset["nguyen"], preset["adam"]["probes"]
    for name in (nguyen["catalogue"]["file"], nguyen["des"]["real"]["catalogue"],
                 f"{probes['directory']}/PROBES_0000_{probes.get('band', 'g')}.fits"):
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).touch()
    (workdir / nguyen["des"]["real"]["cutouts"]).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def paper_inputs():
    """``paper_inputs(workdir)``: empty stand-ins, under ``workdir``, for the user's own inputs
    that the paper preset names and the workflow cannot download (CatSim catalogue, real DES
    catalogue and cutouts, a PROBES file); a dry run (``snakemake -n``) only needs them to
    exist. (The COSMOS samples are downloaded by the workflow.)"""
    return _paper_inputs


# -- small files in the published formats of the real inputs (written by the tests) ---------

def probes_galaxy_image(size: int, peak: float, rng: np.random.Generator, background: float = 0.02) -> np.ndarray:
    """A Legacy-Surveys-like cut-out in nanomaggies: an inclined exponential disc with a bulge
    (peak above the 5.5 clip of Smith et al.), sky noise, at a random centre offset."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2 - rng.uniform(-2, 2, size=2)[:, None, None]
    q, angle = rng.uniform(0.4, 1.0), rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = (-xx * np.sin(angle) + yy * np.cos(angle)) / q
    r = np.hypot(u, v)
    image = peak * (0.7 * np.exp(-r / (size / 10)) + 0.3 * np.exp(-(r / (size / 40)) ** 0.5 * 3))
    return (image + background * rng.normal(size=image.shape)).astype(np.float32)


def write_probes_folder(folder, n_galaxies: int, size: int, seed: int = 0, n_extname: int = 2):
    """PROBES cut-outs in the published format written by the tests: <galaxy>_<band>.fits (g and r,
    image in the primary HDU, as Smith et al.'s get_probes.sh fetches them), and the last
    ``n_extname`` galaxies as one file <galaxy>.fits with one HDU per band (EXTNAME = band)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n_galaxies):
        name = f"PROBES_{i:04d}"
        g, r = (probes_galaxy_image(size, rng.uniform(3, 30), rng) for _ in range(2))
        if i >= n_galaxies - n_extname:
            fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(g, name="G"), fits.ImageHDU(r, name="R")]).writeto(
                folder / f"{name}.fits")
        else:
            fits.PrimaryHDU(g).writeto(folder / f"{name}_g.fits")
            fits.PrimaryHDU(r).writeto(folder / f"{name}_r.fits")
    return folder


@pytest.fixture(scope="session")
def write_probes():
    """:func:`write_probes_folder`, for tests."""
    return write_probes_folder


def _header(east_left: bool, n: int) -> fits.Header:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [70.0, -50.0]
    wcs.wcs.crpix = [(n + 1) / 2, (n + 1) / 2]
    scale = 0.263 / 3600
    wcs.wcs.cdelt = [-scale if east_left else scale, scale]
    return wcs.to_header()


def _galaxy(n: int, e1_sky: float, e2_sky: float, header: fits.Header) -> np.ndarray:
    """An elliptical Gaussian whose distortion on the sky is (e1_sky, e2_sky), in the frame
    x = east, y = north (im3shape's), drawn on the pixels of ``header``'s WCS: each pixel's
    sky position comes from astropy, so no pixel-frame convention of the loader is assumed."""
    wcs = WCS(header)
    y, x = np.mgrid[0:n, 0:n].astype(float)
    ra, dec = wcs.pixel_to_world_values(x, y)
    ra0, dec0 = wcs.pixel_to_world_values((n - 1) / 2, (n - 1) / 2)
    scale = 0.263 / 3600  # degrees per pixel
    east = (ra - ra0) * np.cos(np.radians(dec0)) / scale
    north = (dec - dec0) / scale
    e = np.hypot(e1_sky, e2_sky)
    theta = 0.5 * np.arctan2(e2_sky, e1_sky)
    a2, b2 = 9.0 * (1 + e), 9.0 * (1 - e)  # (a²-b²)/(a²+b²) = e
    u = np.cos(theta) * east + np.sin(theta) * north
    v = -np.sin(theta) * east + np.cos(theta) * north
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
            header = _header(east_left, 61)
            image = _galaxy(61, e1, e2, header) if np.isfinite(e1) else np.zeros((61, 61))
            fits.PrimaryHDU(image, header=header).writeto(cutouts / f"{ident}_{band}.fits")
    return tmp_path / "im3shape.fits", cutouts


@pytest.fixture(scope="session")
def write_des_files():
    """``write(tmp_path, east_left)`` -> (catalogue path, cutout folder) of a small real-DES-format set."""
    return _write_des_files
