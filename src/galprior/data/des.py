"""Real DES data as the report used it (sec. 3.1.3): per-band FITS cutouts and an im3shape catalogue.

The report selected DES SV ``im3shape`` galaxies (Jarvis et al. 2016) with valid (e1, e2)
and ``snr_w > 20``, matched to the gold catalogue for RA/Dec, and downloaded cutouts in
g r i z Y from the DES DR1 coadds through the NOIRLab Astro Data Lab cutout service,
cropped to 45 × 45 pixels around the brightest (centre) galaxy.

This loader reads that product from disk (no download): a FITS table with the
im3shape columns (identifier, ``ra``, ``dec``, ``e1``, ``e2``, ``snr_w``; names from the
config) and one FITS image per galaxy and band, ``cutout_pattern`` formatted with
``id`` and ``band`` (default ``{id}_{band}.fits``), each with a celestial WCS.

**The sign of e2.** im3shape ellipticities are in sky coordinates (x towards east,
y towards north). A cutout displayed with north up has east to the *left* (the WCS
pixel-to-sky matrix has a negative determinant), so x flips: ``e1`` keeps its sign and
``e2`` changes it (the report negates e2 when drawing ellipses, sec. 3.1.3). The loader
reads the determinant of each cutout's WCS and negates e2 only when it is negative,
so labels are in the pixel frame the networks and the moments use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

logger = logging.getLogger(__name__)

DES_BANDS = ("g", "r", "i", "z", "Y")


@dataclass(frozen=True)
class Im3shapeColumns:
    """Column names of the im3shape catalogue (config ``nguyen.des.real``)."""

    id: str
    ra: str
    dec: str
    e1: str
    e2: str
    snr: str


def read_im3shape_catalogue(path: str | Path, columns: Im3shapeColumns, snr_min: float) -> Table:
    """The catalogue rows with finite ``|e| < 1`` and ``snr > snr_min`` (the report: 20)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nguyen.des.real.catalogue: im3shape catalogue not found: {path}")
    table = Table.read(path)
    needed = [columns.id, columns.ra, columns.dec, columns.e1, columns.e2, columns.snr]
    missing = [c for c in needed if c not in table.colnames]
    if missing:
        raise ValueError(f"{path}: im3shape catalogue lacks columns {missing} (has {table.colnames})")
    e1 = np.asarray(table[columns.e1], dtype=float)
    e2 = np.asarray(table[columns.e2], dtype=float)
    snr = np.asarray(table[columns.snr], dtype=float)
    valid = np.isfinite(e1) & np.isfinite(e2) & (np.hypot(e1, e2) < 1)
    keep = valid & (snr > snr_min)
    logger.info("%s: %d rows, %d with valid e, %d also with %s > %g", path, len(table), valid.sum(), keep.sum(), columns.snr, snr_min)
    return table[keep]


def centre_crop(image: np.ndarray, size: int, source: str) -> np.ndarray:
    """The central ``size`` × ``size`` pixels of ``image``."""
    h, w = image.shape
    if h < size or w < size:
        raise ValueError(f"{source}: cutout is {h}x{w}, smaller than the {size}x{size} stamp")
    top, left = (h - size) // 2, (w - size) // 2
    return image[top : top + size, left : left + size]


def e2_pixel_sign(header: fits.Header) -> float:
    """``-1`` when the WCS flips handedness (east left, north up: det < 0), else ``+1``."""
    matrix = WCS(header).celestial.pixel_scale_matrix
    return -1.0 if np.linalg.det(matrix) < 0 else 1.0


def load_des_cutouts(
    directory: str | Path, catalogue: Table, columns: Im3shapeColumns, cutout_pattern: str,
    stamp_pixels: int, bands: tuple[str, ...] = DES_BANDS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images ``(N, 5, S, S)`` (g r i z Y), pixel-frame (e1, e2) ``(N, 2)`` and ids of the galaxies.

    Galaxies missing a band's file are skipped with a warning.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"nguyen.des.real.cutouts: cutout folder not found: {directory}")
    images, ellipticities, ids = [], [], []
    for row in catalogue:
        ident = row[columns.id]
        paths = [directory / cutout_pattern.format(id=ident, band=band) for band in bands]
        absent = [p.name for p in paths if not p.is_file()]
        if absent:
            logger.warning("galaxy %s: missing cutouts %s; skipped", ident, absent)
            continue
        stamp, sign = [], None
        for p in paths:
            with fits.open(p) as hdul:
                hdu = next(h for h in hdul if h.data is not None)
                stamp.append(centre_crop(np.asarray(hdu.data, dtype=np.float64), stamp_pixels, str(p)))
                if sign is None:
                    sign = e2_pixel_sign(hdu.header)
        images.append(np.stack(stamp))
        ellipticities.append([row[columns.e1], sign * row[columns.e2]])
        ids.append(ident)
    if not images:
        raise ValueError(f"no galaxy of the catalogue has cutouts in all bands {bands} under {directory}")
    logger.info("loaded %d DES galaxies from %s", len(images), directory)
    return np.stack(images).astype(np.float32), np.asarray(ellipticities, dtype=np.float32), np.asarray(ids)


def prepare_des_real(real: dict, stamp_pixels: int):
    """The :class:`~galprior.store.DesCutoutSet` of the config block ``nguyen.des.real``."""
    from galprior.store import DesCutoutSet

    columns = Im3shapeColumns(**real["columns"])
    catalogue = read_im3shape_catalogue(real["catalogue"], columns, real["snr_min"])
    images, e, ids = load_des_cutouts(real["cutouts"], catalogue, columns, real["cutout_pattern"], stamp_pixels)
    return DesCutoutSet(images=images, e_im3shape=e, ident=ids.astype(np.int64),
                        attrs={"bands": list(DES_BANDS), "catalogue": str(real["catalogue"]),
                               "cutouts": str(real["cutouts"]), "snr_min": real["snr_min"]})
