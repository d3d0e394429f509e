"""Real HST/ACS COSMOS galaxies from a GalSim COSMOS directory, as :class:`RawStamp` records.

The directory is the one ``galsim_download_cosmos -s 25.2`` writes (the F814W < 25.2
sample, ``real_galaxy_catalog_25.2.fits`` and its ``_fits`` parametric-fit catalogue),
or any catalogue in the same ``RealGalaxyCatalog`` format (e.g. the 100-galaxy example
in ``shared/data/cosmos_example``). It is read with ``galsim.RealGalaxyCatalog`` (images,
PSFs, noise correlation) and astropy (the property columns).

Two kinds of stamps are produced (:func:`load_cosmos_stamps`):

* ``stamp_size=None``: the archive postage stamps as stored (variable size, native
  0.03"/pixel), with their PSF drawn from the catalogue PSF image and the noise
  correlation function of the catalogue noise file; used by the Chianese product.
* ``stamp_size=n``: each galaxy re-rendered by GalSim on an (n, n) stamp as
  ``Convolve(RealGalaxy, RealGalaxy.original_psf)`` with ``method='no_pixel'`` and the
  original image padded with its own correlated noise (``noise_pad_size``), i.e. the
  observed galaxy on a larger stamp (Lanusse et al. 2021).

Catalogue cut (``fit_quality_cut``): drop galaxies whose parametric fits failed or are
unphysical, as GalSim's ``COSMOSCatalog`` does (``_apply_exclusion`` in
``galsim/galaxy_sample.py``): ``fit_status`` of the Sérsic fit (column 4) and of the
bulge+disk fit (column 0) must be in 1..4, ``viable_sersic`` must be 1, and the Sérsic
half-light radius ``hlr[:, 0]`` must be positive and finite. The columns exist only in
the 25.2 ``_fits`` catalogue; the cut raises a clear error when they are absent.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import galsim
import numpy as np
from astropy.io import fits
from tqdm import tqdm

from galprior.data.preprocess import RawStamp, check_finite

logger = logging.getLogger(__name__)

DOWNLOAD_HINT = ("download the COSMOS F814W<25.2 sample with `galsim_download_cosmos -s 25.2` "
                 "(or point the option cosmos.directory at a GalSim COSMOS directory)")

FIT_COLUMNS = ("fit_status", "viable_sersic", "hlr")


def fits_catalogue_name(catalogue_file: str) -> str:
    """Name of the parametric-fit catalogue beside ``catalogue_file`` (GalSim's rule)."""
    return catalogue_file.replace(".fits", "_fits.fits")


def read_table(path: Path) -> fits.FITS_rec:
    """First table HDU of a FITS file; OSError naming the file if it is missing or corrupted."""
    if not path.is_file():
        raise FileNotFoundError(f"COSMOS catalogue file {path} does not exist: {DOWNLOAD_HINT}")
    try:
        with fits.open(path, memmap=False) as hdus:
            table = hdus[1].data
            if table is None or not hasattr(table, "columns"):
                raise OSError("HDU 1 holds no table")
            return table.copy()
    except (OSError, ValueError, IndexError, TypeError) as err:
        raise OSError(f"cannot read the COSMOS catalogue {path} as a FITS table: {err}; "
                      f"the file may be truncated or corrupted, {DOWNLOAD_HINT}") from err


def column(tables: list[tuple[Path, fits.FITS_rec]], name: str) -> np.ndarray:
    """Column ``name`` (case-insensitive) from the first table that holds it.

    Raises KeyError naming the files and the columns they do hold.
    """
    for _, table in tables:
        names = {c.lower(): c for c in table.columns.names}
        if name.lower() in names:
            return np.asarray(table[names[name.lower()]])
    held = {str(path.name): list(table.columns.names) for path, table in tables}
    raise KeyError(f"column {name!r} is in none of the COSMOS catalogues {held}")


def fit_quality_mask(fits_table: fits.FITS_rec, path: Path) -> np.ndarray:
    """True for galaxies whose Sérsic and bulge+disk fits succeeded and are physical.

    See the module docstring; ``path`` names the catalogue in error messages.
    """
    missing = [c for c in FIT_COLUMNS if c not in fits_table.columns.names]
    if missing:
        raise KeyError(f"fit_quality_cut needs columns {missing} that {path} lacks "
                       "(the example sample has no parametric fits): set the option "
                       "fit_quality_cut to false for this catalogue")
    status = np.asarray(fits_table["fit_status"])
    sersic_ok = (status[:, 4] > 0) & (status[:, 4] < 5)
    bulge_ok = (status[:, 0] > 0) & (status[:, 0] < 5)
    hlr = np.asarray(fits_table["hlr"])[:, 0]
    return (sersic_ok & bulge_ok & (np.asarray(fits_table["viable_sersic"]) == 1)
            & np.isfinite(hlr) & (hlr > 0))


def open_catalogue(directory: str | Path, catalogue_file: str) -> galsim.RealGalaxyCatalog:
    """``galsim.RealGalaxyCatalog`` of ``directory/catalogue_file`` with clear errors."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"COSMOS directory {directory} does not exist: {DOWNLOAD_HINT}")
    path = directory / catalogue_file
    read_table(path)  # FileNotFoundError / OSError naming the file
    try:
        return galsim.RealGalaxyCatalog(catalogue_file, dir=str(directory))
    except Exception as err:  # GalSim raises several types for a malformed catalogue
        raise OSError(f"galsim.RealGalaxyCatalog cannot read {path}: {err}") from err


_CORRELATIONS: dict[tuple[str, float], np.ndarray] = {}


def noise_correlation(catalogue: galsim.RealGalaxyCatalog, index: int,
                      half_width: int = 4) -> np.ndarray | None:
    """Normalised noise correlation xi(dy, dx) / xi(0, 0) at pixel lags |d| <= half_width.

    Cached per noise file and pixel scale (one file serves the whole 25.2 sample).
    """
    if catalogue.noise_file_name is None:
        return None
    key = (str(catalogue.noise_file_name[index]), float(catalogue.pixel_scale[index]))
    if key not in _CORRELATIONS:
        n = 2 * half_width + 1
        xi = catalogue.getNoise(index).drawImage(galsim.ImageD(n, n, scale=key[1])).array
        _CORRELATIONS[key] = xi / xi[half_width, half_width]
    return _CORRELATIONS[key]


def catalogue_properties(directory: Path, catalogue_file: str, *, mag_column: str,
                         flux_radius_column: str, redshift_column: str,
                         hlr_column: str | None, flux_radius_in_pixels: bool,
                         fit_quality_cut: bool, pixel_scale: np.ndarray,
                         ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Property columns (mag, half_light_radius, flux_radius, redshift; arcsec) and the fit cut.

    Columns are looked up case-insensitively in the parametric-fit catalogue, then the
    main catalogue. ``hlr_column=None`` uses the flux radius as the half-light radius.
    """
    main_path = directory / catalogue_file
    fits_path = directory / fits_catalogue_name(catalogue_file)
    main, fit = read_table(main_path), read_table(fits_path)
    if len(fit) != len(main) or not np.array_equal(column([(fits_path, fit)], "IDENT"),
                                                   column([(main_path, main)], "IDENT")):
        raise ValueError(f"{fits_path} and {main_path} do not list the same IDENTs in the "
                         "same order")
    tables = [(fits_path, fit), (main_path, main)]
    flux_radius = column(tables, flux_radius_column).astype(np.float64)
    if flux_radius_in_pixels:
        flux_radius = flux_radius * pixel_scale
    if hlr_column is None:
        hlr = flux_radius.copy()
    else:
        hlr = column(tables, hlr_column).astype(np.float64)
        hlr = hlr[:, 0] if hlr.ndim == 2 else hlr  # 25.2 'hlr': (sersic, bulge, disk)
    props = {"ident": column(tables, "IDENT").astype(np.int64),
             "mag": column(tables, mag_column).astype(np.float64),
             "half_light_radius": hlr, "flux_radius": flux_radius,
             "redshift": column(tables, redshift_column).astype(np.float64)}
    keep = fit_quality_mask(fit, fits_path) if fit_quality_cut else np.ones(len(main), bool)
    return props, keep


def archive_stamp(catalogue: galsim.RealGalaxyCatalog, index: int, psf_size: int,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Archive galaxy stamp and its PSF drawn on (psf_size, psf_size), centred on pixel psf_size // 2."""
    image = catalogue.getGalImage(index).array
    psf = catalogue.getPSF(index).drawImage(
        nx=psf_size, ny=psf_size, scale=float(catalogue.pixel_scale[index]),
        method="no_pixel", use_true_center=False).array
    return image, psf


PARAMETRIC_COLUMNS = ("bulgefit", "sersicfit", "use_bulgefit")


def parametric_catalogue(directory: Path, catalogue_file: str) -> galsim.COSMOSCatalog | None:
    """GalSim's parametric fits of every catalogue row (``COSMOSCatalog``, no exclusion).

    None (with a warning) when the ``_fits`` catalogue lacks the 25.2 fit columns
    (``bulgefit``, ``sersicfit``, ``use_bulgefit``), as in the 100-galaxy example.
    """
    fit = read_table(directory / fits_catalogue_name(catalogue_file))
    names = {c.lower() for c in fit.columns.names}
    if not all(c in names for c in PARAMETRIC_COLUMNS):
        logger.warning("%s lacks the parametric-fit columns %s: no parametric baseline",
                       fits_catalogue_name(catalogue_file), PARAMETRIC_COLUMNS)
        return None
    return galsim.COSMOSCatalog(catalogue_file, dir=str(directory), exclusion_level="none")


def parametric_stamp(fits_catalogue: galsim.COSMOSCatalog, index: int, psf: galsim.GSObject,
                     stamp_size: int, scale: float) -> np.ndarray:
    """Best parametric fit (Sersic or bulge+disk, GalSim's choice) of row ``index``,
    convolved with ``psf`` and drawn like :func:`rendered_stamp`, in e-/s (HST area, 1 s)."""
    galaxy = fits_catalogue.makeGalaxy(index, gal_type="parametric",
                                       area=galsim.COSMOSCatalog.hst_eff_area, exptime=1.0)
    return galsim.Convolve(galaxy, psf).drawImage(
        nx=stamp_size, ny=stamp_size, scale=scale, method="no_pixel").array


def rendered_stamp(catalogue: galsim.RealGalaxyCatalog, index: int, stamp_size: int,
                   psf_size: int, seed: int,
                   fits_catalogue: galsim.COSMOSCatalog | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Galaxy re-rendered on (stamp_size, stamp_size) with its own PSF, noise padded.

    ``Convolve(RealGalaxy, original_psf)`` drawn with ``method='no_pixel'`` at the native
    pixel scale; the original image is padded with its correlated noise over
    ``stamp_size`` pixels (seeded by ``seed``), as in Lanusse et al. (2021).
    """
    scale = float(catalogue.pixel_scale[index])
    galaxy = galsim.RealGalaxy(catalogue, index=index, rng=galsim.BaseDeviate(seed),
                               noise_pad_size=stamp_size * scale * np.sqrt(2))
    image = galsim.Convolve(galaxy, galaxy.original_psf).drawImage(
        nx=stamp_size, ny=stamp_size, scale=scale, method="no_pixel").array
    psf = galaxy.original_psf.drawImage(nx=psf_size, ny=psf_size, scale=scale,
                                        method="no_pixel", use_true_center=False).array
    parametric = None
    if fits_catalogue is not None:
        parametric = parametric_stamp(fits_catalogue, index, galaxy.original_psf,
                                      stamp_size, scale)
    return image, psf, parametric


def iter_cosmos_stamps(directory: str | Path, *,
                       catalogue_file: str = "real_galaxy_catalog_25.2.fits",
                       stamp_size: int | None = None, psf_size: int = 64,
                       mag_column: str = "MAG", flux_radius_column: str = "flux_radius",
                       redshift_column: str = "zphot", hlr_column: str | None = "hlr",
                       flux_radius_in_pixels: bool = True, fit_quality_cut: bool = True,
                       max_galaxies: int | None = None, batch_size: int = 500,
                       seed: int = 0, shard: int = 0,
                       n_shards: int = 1) -> Iterator[list[RawStamp]]:
    """Batches of COSMOS :class:`RawStamp` records in a seeded random catalogue order.

    Args:
        directory: GalSim COSMOS directory.
        catalogue_file: ``RealGalaxyCatalog`` file name inside ``directory``.
        stamp_size: None for the archive stamps; n to re-render on (n, n) (Lanusse).
        psf_size: side of the native PSF image. Unit: pixels.
        mag_column, flux_radius_column, redshift_column, hlr_column: catalogue columns
            (case-insensitive; searched in the ``_fits`` catalogue, then the main one).
            ``hlr_column=None``: use the flux radius as the half-light radius.
        flux_radius_in_pixels: the flux-radius column is in pixels (SExtractor).
        fit_quality_cut: drop failed or unphysical parametric fits (needs the 25.2 columns).
        max_galaxies: read at most this many catalogue rows (after the cut); None: all.
        batch_size: galaxies per yielded batch.
        seed: order of the catalogue and the noise padding.
        shard, n_shards: read only every ``n_shards``-th galaxy of that order, from
            ``shard`` on (independent jobs; the union of the shards is the whole set).

    Raises:
        FileNotFoundError: missing directory or catalogue (with the download command).
        OSError: an unreadable or corrupted FITS file, named.
        ValueError: a NaN/inf image, naming the IDENT and file.
    """
    directory = Path(directory)
    catalogue = open_catalogue(directory, catalogue_file)
    scales = np.asarray(catalogue.pixel_scale, dtype=np.float64)
    props, keep = catalogue_properties(
        directory, catalogue_file, mag_column=mag_column,
        flux_radius_column=flux_radius_column, redshift_column=redshift_column,
        hlr_column=hlr_column, flux_radius_in_pixels=flux_radius_in_pixels,
        fit_quality_cut=fit_quality_cut, pixel_scale=scales)
    counts = Counter(catalogue=len(keep), fit_quality=int((~keep).sum()))
    logger.info("COSMOS %s: %d galaxies, %d dropped by the fit-quality cut",
                directory / catalogue_file, len(keep), counts["fit_quality"])
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.flatnonzero(keep))
    if max_galaxies is not None:
        order = order[:max_galaxies]
    noise_seeds = rng.integers(1, 2**31 - 1, size=len(order))
    order, noise_seeds = order[shard::n_shards], noise_seeds[shard::n_shards]
    fits_catalogue = None if stamp_size is None else parametric_catalogue(directory,
                                                                          catalogue_file)
    for start in range(0, len(order), batch_size):
        batch = []
        for index, noise_seed in zip(order[start:start + batch_size],
                                     noise_seeds[start:start + batch_size]):
            batch.append(read_stamp(catalogue, int(index), props, stamp_size=stamp_size,
                                    psf_size=psf_size, seed=int(noise_seed),
                                    fits_catalogue=fits_catalogue))
        yield batch


def read_stamp(catalogue: galsim.RealGalaxyCatalog, index: int,
               props: dict[str, np.ndarray], *, stamp_size: int | None, psf_size: int,
               seed: int, fits_catalogue: galsim.COSMOSCatalog | None = None) -> RawStamp:
    """One catalogue row as a :class:`RawStamp` (archive or re-rendered stamp)."""
    gal_file = str(catalogue.gal_file_name[index])
    ident = int(props["ident"][index])
    try:
        parametric = None
        if stamp_size is None:
            image, psf = archive_stamp(catalogue, index, psf_size)
        else:
            image, psf, parametric = rendered_stamp(catalogue, index, stamp_size, psf_size,
                                                    seed, fits_catalogue)
    except (OSError, ValueError, IndexError, TypeError, KeyError) as err:
        raise OSError(f"cannot read galaxy IDENT={ident} (HDU {catalogue.gal_hdu[index]}) "
                      f"from {gal_file} or its PSF {catalogue.psf_file_name[index]}: {err}; "
                      f"the file may be truncated or corrupted") from err
    stamp = RawStamp(
        ident=ident, image=np.asarray(image, dtype=np.float64), noiseless=None,
        psf=np.asarray(psf, dtype=np.float64), noise_variance=float(catalogue.variance[index]),
        noise_correlation=noise_correlation(catalogue, index),
        pixel_scale=float(catalogue.pixel_scale[index]), mag=float(props["mag"][index]),
        half_light_radius=float(props["half_light_radius"][index]),
        flux_radius=float(props["flux_radius"][index]),
        redshift=float(props["redshift"][index]), source_file=gal_file,
        parametric=None if parametric is None else np.asarray(parametric, np.float64))
    check_finite(stamp)
    stamp.psf = stamp.psf / stamp.psf.sum()
    return stamp


def load_cosmos_stamps(directory: str | Path, **options) -> list[RawStamp]:
    """All COSMOS stamps of :func:`iter_cosmos_stamps` (same options) in one list."""
    stamps: list[RawStamp] = []
    for batch in tqdm(iter_cosmos_stamps(directory, **options), desc="COSMOS stamps",
                      unit="batch"):
        stamps.extend(batch)
    return stamps
