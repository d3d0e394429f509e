"""CatSim-format galaxy catalogues for BlendingToolKit: the real file, or one drawn here.

BlendingToolKit's :class:`btk.catalog.CatsimCatalog` wants one row per galaxy with the
bulge + disk (+ AGN) description of the LSST CatSim catalogue (Connolly et al. 2014):
``ra, dec`` (deg), ``redshift``, ``fluxnorm_{bulge,disk,agn}``, semi-axes ``a_b, b_b,
a_d, b_d`` (half-light, arcsec), position angles ``pa_bulge, pa_disk`` (deg, equal when
both components are present: BTK asserts it) and AB magnitudes ``<band>_ab``.

The full CatSim "OneDegSq" catalogue (Nguyen 2025, sec. 3.1.2) cannot be downloaded
here, so :func:`draw_catsim_catalogue` draws a catalogue in the same format from the
documented distributions below; :func:`read_catsim_catalogue` reads a real one
(tested on BTK's 100-galaxy ``sample_input_catalog.fits``). The distributions are
stand-ins, chosen and documented here because the report gives none:

- **i-band magnitude**: number counts ``dN/dm ∝ 10^(0.31 m)`` between the configured
  limits (the LSST Science Book's i-band slope, sec. 3.7.2).
- **redshift**: ``p(z) ∝ z² exp[-(z/z0)^1.5]`` with ``z0 = 0.0417 i - 0.744``
  (LSST Science Book eq. 3.8), truncated to 0 < z < 6 as CatSim.
- **colours**: ``u-g, g-r, r-i, i-z, z-y`` normal with the medians and spreads of BTK's
  sample CatSim catalogue (0.12 ± 0.62, 0.20 ± 0.48, 0.22 ± 0.33, 0.18 ± 0.23,
  0.15 ± 0.17).
- **components**: 70 % pure disks, 1 % pure bulges, the rest bulge + disk with bulge
  fraction log-uniform in [0.01, 0.5] (the sample catalogue: 70/100 disk-only, median
  bulge fraction 0.04 in composites). No AGN.
- **sizes**: disk half-light radius ``sqrt(a_d b_d)`` log-normal with
  ``log10 r = 0.649 - 0.0487 i`` and 0.31 dex scatter (a least-squares fit to the sample
  catalogue), clipped to [0.05, 3] arcsec; bulge radius half the disk's (sample median
  0.52).
- **shapes**: intrinsic ellipticity ``|g| = (a-b)/(a+b)`` of disks from a normal of
  width 0.26 per component (LSST shape noise, Chang et al. 2013) folded and clipped at
  0.8; bulges rounder, axis ratio uniform in [0.6, 1]; position angle uniform.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

logger = logging.getLogger(__name__)

LSST_BANDS = ("u", "g", "r", "i", "z", "y")
REQUIRED_COLUMNS = (
    "ra",
    "dec",
    "redshift",
    "fluxnorm_bulge",
    "fluxnorm_disk",
    "fluxnorm_agn",
    "a_b",
    "b_b",
    "a_d",
    "b_d",
    "pa_bulge",
    "pa_disk",
) + tuple(f"{b}_ab" for b in LSST_BANDS)

# Colour offsets (median, spread) from BTK's sample CatSim catalogue: (u-g, g-r, r-i, i-z, z-y).
_COLOUR_MEDIANS = np.array([0.12, 0.20, 0.22, 0.18, 0.15])
_COLOUR_SPREADS = np.array([0.62, 0.48, 0.33, 0.23, 0.17])
_COUNT_SLOPE = 0.31
_SIZE_INTERCEPT, _SIZE_SLOPE, _SIZE_SCATTER_DEX = 0.649, -0.0487, 0.31
_SHAPE_NOISE = 0.26


def _sample_magnitudes(n: int, mag_min: float, mag_max: float, rng: np.random.Generator) -> np.ndarray:
    """Inverse-CDF draws from ``dN/dm ∝ 10^(a m)`` on ``[mag_min, mag_max]``."""
    a = _COUNT_SLOPE * np.log(10.0)
    u = rng.uniform(size=n)
    lo, hi = np.exp(a * mag_min), np.exp(a * mag_max)
    return np.log(lo + u * (hi - lo)) / a


def _sample_redshifts(i_mag: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``p(z) ∝ z² exp(-(z/z0)^1.5)``: ``(z/z0)^1.5`` is Gamma(2, 1) distributed."""
    z0 = np.clip(0.0417 * i_mag - 0.744, 0.05, None)
    z = z0 * rng.gamma(2.0, 1.0, size=len(i_mag)) ** (1.0 / 1.5)
    return np.clip(z, 1e-3, 6.0)


def _axes_from_ellipticity(radius: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Semi-axes ``a, b`` with ``sqrt(a b) = radius`` and ``(a - b)/(a + b) = g``."""
    q = (1.0 - g) / (1.0 + g)
    return radius / np.sqrt(q), radius * np.sqrt(q)


def draw_catsim_catalogue(n_galaxies: int, i_mag_min: float, i_mag_max: float, seed: int) -> Table:
    """A CatSim-format catalogue of ``n_galaxies`` drawn from the module's distributions.

    Args:
        n_galaxies: number of rows.
        i_mag_min, i_mag_max: i-band AB magnitude limits of the number counts.
        seed: seed of the NumPy generator (the catalogue is a pure function of it).

    Returns:
        An astropy table with every column of :data:`REQUIRED_COLUMNS` plus ``galtileid``.
    """
    if n_galaxies < 1:
        raise ValueError(f"nguyen.catalogue.n_galaxies must be >= 1, got {n_galaxies}")
    if not i_mag_min < i_mag_max:
        raise ValueError(f"nguyen.catalogue: need i_mag_min < i_mag_max, got {i_mag_min}, {i_mag_max}")
    rng = np.random.default_rng(seed)
    n = n_galaxies
    i_mag = _sample_magnitudes(n, i_mag_min, i_mag_max, rng)
    colours = _COLOUR_MEDIANS + _COLOUR_SPREADS * rng.standard_normal((n, 5))
    # u = g + (u-g), g = r + (g-r), r = i + (r-i); z = i - (i-z), y = z - (z-y)
    r_mag = i_mag + colours[:, 2]
    g_mag = r_mag + colours[:, 1]
    u_mag = g_mag + colours[:, 0]
    z_mag = i_mag - colours[:, 3]
    y_mag = z_mag - colours[:, 4]

    kind = rng.uniform(size=n)
    disk_only, bulge_only = kind < 0.70, kind >= 0.99
    bulge_fraction = 10 ** rng.uniform(np.log10(0.01), np.log10(0.5), size=n)
    bulge_fraction = np.where(disk_only, 0.0, np.where(bulge_only, 1.0, bulge_fraction))

    log_r = _SIZE_INTERCEPT + _SIZE_SLOPE * i_mag + _SIZE_SCATTER_DEX * rng.standard_normal(n)
    r_disk = np.clip(10**log_r, 0.05, 3.0)
    g_disk = np.clip(np.abs(_SHAPE_NOISE * rng.standard_normal(n)), 0.0, 0.8)
    a_d, b_d = _axes_from_ellipticity(r_disk, g_disk)
    q_bulge = rng.uniform(0.6, 1.0, size=n)
    r_bulge = 0.5 * r_disk
    a_b, b_b = r_bulge / np.sqrt(q_bulge), r_bulge * np.sqrt(q_bulge)
    pa = rng.uniform(0.0, 360.0, size=n)

    has_disk, has_bulge = bulge_fraction < 1.0, bulge_fraction > 0.0
    table = Table()
    table["galtileid"] = np.arange(n, dtype=np.int64)
    table["ra"] = rng.uniform(0.0, 1.0, size=n)
    table["dec"] = rng.uniform(0.0, 1.0, size=n)
    table["redshift"] = _sample_redshifts(i_mag, rng)
    table["fluxnorm_bulge"] = bulge_fraction
    table["fluxnorm_disk"] = 1.0 - bulge_fraction
    table["fluxnorm_agn"] = np.zeros(n)
    table["a_b"] = np.where(has_bulge, a_b, 0.0)
    table["b_b"] = np.where(has_bulge, b_b, 0.0)
    table["a_d"] = np.where(has_disk, a_d, 0.0)
    table["b_d"] = np.where(has_disk, b_d, 0.0)
    table["pa_bulge"] = np.where(has_bulge, pa, 0.0)
    table["pa_disk"] = np.where(has_disk, pa, 0.0)
    for band, mag in zip(LSST_BANDS, (u_mag, g_mag, r_mag, i_mag, z_mag, y_mag)):
        table[f"{band}_ab"] = mag
    logger.info("drew a CatSim-format catalogue of %d galaxies (i in [%.1f, %.1f])", n, i_mag_min, i_mag_max)
    return table


def check_catsim_columns(table: Table, source: str) -> None:
    """Raise ``ValueError`` naming ``source`` and the missing columns when any is absent."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.colnames]
    if missing:
        raise ValueError(f"{source}: not a CatSim catalogue, missing columns {missing}")


def read_catsim_catalogue(path: str | Path) -> Table:
    """Read a CatSim catalogue (FITS or whitespace ASCII, as BTK's ``from_file``) and check it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nguyen.catalogue.file: CatSim catalogue not found: {path}")
    fmt = "fits" if path.suffix.lower() in (".fits", ".fit") else "ascii.basic"
    table = Table.read(path, format=fmt)
    check_catsim_columns(table, str(path))
    logger.info("read %d galaxies from %s", len(table), path)
    return table


def add_des_y_band(table: Table) -> Table:
    """Add the ``Y_ab`` column BTK's DES survey needs, copied from LSST's ``y_ab``.

    CatSim has no DES magnitudes. DES Y (0.95-1.06 µm) and LSST y (0.91-1.08 µm) cover
    nearly the same wavelengths, so the galaxy's AB magnitude is taken as the same; the
    difference (a few hundredths of a magnitude for smooth galaxy spectra) is far below
    the DES Y-band noise. g, r, i, z share their names with LSST's and are used as they are.
    """
    if "y_ab" not in table.colnames:
        raise ValueError("catalogue has no 'y_ab' column to derive DES 'Y_ab' from")
    table = table.copy(copy_data=False)
    table["Y_ab"] = table["y_ab"]
    return table


def load_catalogue(source: str, file: str | None, n_galaxies: int, i_mag_min: float, i_mag_max: float, seed: int) -> Table:
    """The catalogue named by the config block ``nguyen.catalogue``: ``embedded`` or ``file``."""
    if source == "embedded":
        return draw_catsim_catalogue(n_galaxies, i_mag_min, i_mag_max, seed)
    if source == "file":
        if not file:
            raise ValueError("nguyen.catalogue.source is 'file' but nguyen.catalogue.file is empty")
        return read_catsim_catalogue(file)
    raise ValueError(f"nguyen.catalogue.source must be 'embedded' or 'file', got {source!r}")
