"""PROBES galaxy images (Stone et al. 2021; Adam et al. 2022 sec. 3 train on 2,059 of them).

PROBES cannot be downloaded by this workflow; point ``adam.probes.directory`` at a local
copy. Expected layout: one FITS file per galaxy in that folder (``*.fits``, ``*.fits.gz``
or ``*.fit``). The band (``adam.probes.band``, paper: g) is found in each file either

* as an image HDU whose ``EXTNAME`` (or ``FILTER``/``BAND`` header keyword) equals the
  band, case-insensitive, or
* in the file name, ``<galaxy>_<band>.fits`` (then the first image HDU is used);

a file holding neither raises ``ValueError`` naming it. Files of other bands
(``<galaxy>_r.fits`` when the band is g) are skipped.

Normalisation: Adam et al. use "the scheme of Smith et al. 2022 sec. 3.1", which is not
in the paper's text we work from; we resize each image to ``size`` x ``size`` (area
averaging, ``skimage.transform.resize`` with anti-aliasing), clip negative pixels to
zero and divide by the peak, which is the normalisation of our mock sources (unit peak).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from astropy.io import fits

__all__ = ["find_probes_files", "read_band_image", "load_probes"]

logger = logging.getLogger(__name__)

_SUFFIXES = (".fits", ".fits.gz", ".fit")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def find_probes_files(directory: str | Path, band: str) -> list[Path]:
    """FITS files of ``directory`` that may hold ``band`` (other bands' files are skipped)."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"adam.probes.directory: {directory} is not a folder")
    files = sorted(p for p in directory.iterdir() if p.name.lower().endswith(_SUFFIXES))
    if not files:
        raise ValueError(f"adam.probes.directory: no FITS files (*.fits, *.fits.gz, *.fit) in {directory}")
    out = []
    for path in files:
        match = re.search(r"_([A-Za-z])$", _stem(path))
        if match and match.group(1).lower() != band.lower():
            continue
        out.append(path)
    if not out:
        raise ValueError(f"adam.probes: no file of band {band!r} in {directory}")
    return out


def read_band_image(path: str | Path, band: str) -> np.ndarray:
    """The 2-D image of ``band`` in one galaxy's FITS file (float64)."""
    path = Path(path)
    by_name = re.search(r"_([A-Za-z])$", _stem(path))
    with fits.open(path) as hdus:
        images = [h for h in hdus if getattr(h, "data", None) is not None and np.ndim(h.data) >= 2]
        for hdu in images:
            labels = {str(hdu.header.get(k, "")).strip().lower() for k in ("EXTNAME", "FILTER", "BAND")}
            if band.lower() in labels:
                return _squeeze(hdu.data, path)
        if by_name and by_name.group(1).lower() == band.lower() and images:
            return _squeeze(images[0].data, path)
    raise ValueError(f"{path}: no image of band {band!r} (no HDU with EXTNAME/FILTER/BAND = {band!r} "
                     f"and the file name does not end in _{band}.fits)")


def _squeeze(data: np.ndarray, path: Path) -> np.ndarray:
    data = np.squeeze(np.asarray(data, dtype=np.float64))
    if data.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D image, got shape {data.shape}")
    if not np.isfinite(data).all():
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    return data


def load_probes(directory: str | Path, band: str, size: int) -> tuple[np.ndarray, list[str]]:
    """Every galaxy of ``band``, resized to (size, size), clipped at 0, unit peak.

    Returns images (N, size, size) float32 and the galaxy names (file stems).
    """
    from skimage.transform import resize

    images, names = [], []
    for path in find_probes_files(directory, band):
        image = read_band_image(path, band)
        if image.shape != (size, size):
            image = resize(image, (size, size), order=1, anti_aliasing=True, preserve_range=True)
        image = np.clip(image, 0.0, None)
        peak = image.max()
        if peak <= 0:
            logger.warning("%s: no positive pixel in band %s, skipped", path, band)
            continue
        images.append(image / peak)
        names.append(re.sub(r"_[A-Za-z]$", "", _stem(path)))
    logger.info("read %d PROBES galaxies (band %s) from %s", len(images), band, directory)
    return np.asarray(images, dtype=np.float32), names
