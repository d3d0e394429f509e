"""PROBES galaxy images (Stone et al. 2021; Adam et al. 2022 sec. 3 train on 2,059 of them).

PROBES cannot be downloaded by this workflow; point ``adam.probes.directory`` at a local
copy. The published images are the DESI Legacy Imaging Surveys cut-outs of the PROBES
galaxies as Smith et al. 2022 fetched them (github.com/Smith42/astroddpm,
``data/probes/get_probes.sh``: ``legacysurvey.org/viewer/fits-cutout``, layer ls-dr9,
512 x 512 pixels of 0.262", bands g, r, z, pixel unit nanomaggies): one FITS file per galaxy
and band, ``<galaxy>_<band>.fits``, the image in the primary HDU. The band
(``adam.probes.band``, paper: g) is found in each file either

* in the file name, ``<galaxy>_<band>.fits`` (then the first image HDU is used), or
* as an image HDU whose ``EXTNAME`` (or ``FILTER``/``BAND`` header keyword) equals the
  band, case-insensitive (one file per galaxy holding every band, ``<galaxy>.fits``);

a file holding neither raises ``ValueError`` naming it. Files of other bands
(``<galaxy>_r.fits`` when the band is g) are skipped; ``*.fits.gz`` and ``*.fit`` are read too.

Preparation of one galaxy (:func:`probes_galaxy`), after Smith et al.'s
``preprocess.py`` and data loader:

1. a galaxy whose image holds a non-finite pixel or more than 30 % pixels exactly zero
   (outside the survey footprint) is dropped, with a log line naming it (their
   ``check_for_corruption``);
2. the central ``crop`` x ``crop`` pixels are kept (``adam.probes.crop``; theirs: 256 of
   the 512, the paper's "256x256 pixels");
3. the crop is resampled to ``adam.source_size`` keeping surface brightness
   (:func:`galprior.data.preprocess.resample_mean`; nothing to do at the paper's 256);
4. it is normalised by ``adam.normalisation``
   (:func:`galprior.data.score_normalisation.normalise_image`; paper: ``smith2022``, clip
   at ``adam.probes.clip_level`` = 5.5 nanomaggies).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from astropy.io import fits
from galprior.progress import progress_bar

from galprior.data.score_normalisation import normalise_image

__all__ = ["find_probes_files", "galaxy_name", "read_band_image", "rejection_reason", "probes_galaxy",
           "load_probes"]

logger = logging.getLogger(__name__)

_SUFFIXES = (".fits", ".fits.gz", ".fit")
#: most pixels exactly zero allowed (Smith et al.: a third of them)
MAX_ZERO_FRACTION = 0.3


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def galaxy_name(path: str | Path) -> str:
    """The galaxy of a PROBES file: the stem without its ``_<band>`` suffix."""
    return re.sub(r"_[A-Za-z]$", "", _stem(Path(path)))


def find_probes_files(directory: str | Path, band: str) -> list[Path]:
    """FITS files of ``directory`` that may hold ``band`` (other bands' files are skipped), sorted."""
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
    """The 2-D image of ``band`` in one galaxy's FITS file (float64, as stored: non-finite
    pixels are kept for :func:`rejection_reason`)."""
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
    return data


def rejection_reason(image: np.ndarray) -> str | None:
    """Why a cut-out is unusable (Smith et al.'s ``check_for_corruption``), or None."""
    if not np.isfinite(image).all():
        return "non-finite pixels"
    zeros = float(np.mean(image == 0))
    if zeros > MAX_ZERO_FRACTION:
        return f"{100 * zeros:.0f} % of the pixels are exactly zero (outside the survey footprint)"
    return None


def _central_crop(image: np.ndarray, crop: int | None, path: Path) -> np.ndarray:
    height, width = image.shape
    side = min(height, width) if crop is None else crop
    if side > min(height, width):
        raise ValueError(f"{path}: image of {height}x{width} pixels is smaller than adam.probes.crop = {crop}")
    top, left = (height - side) // 2, (width - side) // 2
    return image[top:top + side, left:left + side]


def probes_galaxy(image: np.ndarray, *, crop: int | None, size: int, normalisation: str,
                  clip_level: float, path: str | Path = "<image>") -> np.ndarray:
    """One cut-out (H, W) as the prior learns it: central crop, resampled to (size, size)
    keeping surface brightness, normalised (steps 2-4 of the module docstring); float32."""
    from galprior.data.preprocess import resample_mean

    square = _central_crop(np.asarray(image, dtype=np.float64), crop, Path(path))
    return normalise_image(resample_mean(square, size), normalisation, clip_level)


def load_probes(directory: str | Path, band: str, size: int, *, crop: int | None, normalisation: str,
                clip_level: float) -> tuple[np.ndarray, list[str]]:
    """Every usable galaxy of ``band`` prepared by :func:`probes_galaxy`, in file order.

    Returns images (N, size, size) float32 in the prior's units and the galaxy names.
    Memory: the prepared images only (one cut-out is read at a time).
    """
    images, names = [], []
    for path in progress_bar(find_probes_files(directory, band), desc="reading PROBES", leave=False):
        raw = read_band_image(path, band)
        reason = rejection_reason(raw)
        if reason is None and normalisation == "unit_peak" and not (raw > 0).any():
            reason = "no positive pixel"
        if reason is not None:
            logger.warning("%s: dropped (%s)", path, reason)
            continue
        images.append(probes_galaxy(raw, crop=crop, size=size, normalisation=normalisation,
                                    clip_level=clip_level, path=path))
        names.append(galaxy_name(path))
    if not images:
        raise ValueError(f"adam.probes.directory: no usable galaxy of band {band!r} in {directory}")
    logger.info("read %d PROBES galaxies (band %s) from %s at %dx%d, %s", len(images), band, directory,
                size, size, normalisation)
    return np.asarray(images, dtype=np.float32), names
