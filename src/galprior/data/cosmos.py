"""Real HST/ACS COSMOS galaxies from a GalSim COSMOS directory, as :class:`RawStamp` records.

The directory is one that ``galsim_download_cosmos -s 23.5`` or ``-s 25.2`` writes (or
rule ``download_cosmos``): the F814W < 23.5 sample (``real_galaxy_catalog_23.5.fits``,
56,062 galaxies, Chianese et al. 2020 sec. 2.2) or the F814W < 25.2 sample
(``real_galaxy_catalog_25.2.fits``, Lanusse et al. 2021 sec. 4.1), each with its
``_fits`` (parametric fits) and ``_selection`` (quality columns) catalogues beside it;
or any catalogue in the same ``RealGalaxyCatalog`` format (e.g. the 100-galaxy examples
in ``shared/data``). Images, PSFs and noise correlation are read with
``galsim.RealGalaxyCatalog``, the property columns with astropy.

Two kinds of stamps are produced (:func:`load_cosmos_stamps`):

* ``stamp_size=None``: the archive postage stamps as stored (variable size, native
  0.03"/pixel), with their PSF drawn from the catalogue PSF image and the noise
  correlation function of the catalogue noise file; used by the Chianese product.
* ``stamp_size=n``: each galaxy re-rendered by GalSim on an (n, n) stamp as
  ``Convolve(RealGalaxy, RealGalaxy.original_psf)`` with ``method='no_pixel'`` and the
  original image padded with its own correlated noise (``noise_pad_size``), i.e. the
  observed galaxy on a larger stamp (Lanusse et al. 2021 sec. 4.1), with its parametric
  twin (:func:`parametric_stamp`).

Sample cut (``exclusion_level``, :func:`sample_mask`), one value per sample:

* GalSim's own levels ``none``, ``bad_stamp``, ``bad_fits``, ``marginal``: the rows that
  ``galsim.COSMOSCatalog(catalogue_file, dir=directory, exclusion_level=level)`` keeps
  (its ``orig_index``), i.e. GalSim applies its cuts itself (S/N, masking, positive
  stamp flux, fit status, Sersic n vs. size, ``dmag``; ``galsim/galaxy_sample.py``
  ``_apply_exclusion``). Lanusse et al. 2021 sec. 4.1: "the default quality cut of
  ``exclusion_level='marginal'``" (81,500 of the 25.2 sample).
* ``viable_sersic``: Chianese et al. 2020 sec. 2.2, "we discard the small number of
  galaxies for which the Sersic fits failed or gave unphysical parameters"
  (:func:`viable_sersic_mask`). The paper names no column; we read it as the release's
  own definition of a usable Sersic fit, the flag ``viable_sersic`` that GalSim's
  catalogue script computed: the Sersic fit's status ``fit_status[:, 4]`` is a success
  (1..4; 0 and 5 are failures, as in ``_apply_exclusion``) and its intensity at the
  half-light radius ``sersicfit[:, 0]`` and half-light radius ``sersicfit[:, 1]`` are
  positive (finite). It is recomputed here from ``fit_status`` and ``sersicfit`` (present
  in every release's ``_fits`` file). The paper is silent on other parameters: bounds on
  the Sersic index or axis ratio (GalSim clips n to [0.3, 6]) are not applied.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import galsim
import numpy as np
from astropy.io import fits
from galprior.progress import progress_bar

from galprior.data.preprocess import RawStamp, check_finite

logger = logging.getLogger(__name__)

DOWNLOAD_HINT = ("download GalSim's COSMOS sample with `galsim_download_cosmos -s 23.5` or "
                 "`-s 25.2` (or galaxies.cosmos.<product>.download: true), or point "
                 "galaxies.cosmos.<product>.directory at a GalSim COSMOS directory")

#: GalSim's ``COSMOSCatalog`` exclusion levels (applied by GalSim itself).
GALSIM_EXCLUSION_LEVELS = ("none", "bad_stamp", "bad_fits", "marginal")
#: Every value of ``exclusion_level``: GalSim's levels and Chianese et al. 2020's fit cut.
EXCLUSION_LEVELS = (*GALSIM_EXCLUSION_LEVELS, "viable_sersic")
#: Columns of ``RealGalaxyCatalog`` that the reader uses (GalSim's names, case-insensitive).
REAL_COLUMNS = ("IDENT", "GAL_FILENAME", "PSF_FILENAME", "GAL_HDU", "PSF_HDU", "PIXEL_SCALE",
                "NOISE_VARIANCE")
#: Columns that each GalSim exclusion level reads, per catalogue (``_fits``, ``_selection``,
#: the main one), from ``_apply_exclusion`` in ``galsim/galaxy_sample.py``.
EXCLUSION_COLUMNS = {
    "bad_stamp": {"selection": ("sn_ellip_gauss", "min_mask_dist_pixels",
                                "average_mask_adjacent_pixel_count", "peak_image_pixel_count"),
                  "main": ("stamp_flux",)},
    "bad_fits": {"fits": ("fit_status",)},
    "marginal": {"fits": ("fit_status", "hlr", "sersicfit"),
                 "selection": ("dmag", "sn_ellip_gauss", "min_mask_dist_pixels",
                               "average_mask_adjacent_pixel_count", "peak_image_pixel_count"),
                 "main": ("stamp_flux",)},
    "viable_sersic": {"fits": ("fit_status", "sersicfit")},
}
PARAMETRIC_COLUMNS = ("bulgefit", "sersicfit", "use_bulgefit", "viable_sersic", "hlr", "flux")


def fits_catalogue_name(catalogue_file: str) -> str:
    """Name of the parametric-fit catalogue beside ``catalogue_file`` (GalSim's rule)."""
    return catalogue_file.replace(".fits", "_fits.fits")


def selection_catalogue_name(catalogue_file: str) -> str:
    """Name of the selection catalogue beside ``catalogue_file`` (GalSim's rule)."""
    return catalogue_file.replace(".fits", "_selection.fits")


def read_table(path: Path) -> fits.FITS_rec:
    """First table HDU of a FITS file.

    Raises:
        FileNotFoundError: no such file (with the download hint).
        OSError: astropy cannot read the file as FITS (a truncated or corrupted file), or
            its HDU 1 is missing or holds no table; the message names the file.
    """
    if not path.is_file():
        raise FileNotFoundError(f"COSMOS catalogue file {path} does not exist: {DOWNLOAD_HINT}")
    try:
        with fits.open(path, memmap=False) as hdus:
            n_hdus = len(hdus)
            is_table = n_hdus > 1 and isinstance(hdus[1], (fits.BinTableHDU, fits.TableHDU))
            data = hdus[1].data if is_table else None
            table = None if data is None else data.copy()
    except (OSError, ValueError) as err:  # astropy's errors of an unreadable FITS file
        raise OSError(f"cannot read the COSMOS catalogue {path} as a FITS table: {err}; "
                      f"the file may be truncated or corrupted, {DOWNLOAD_HINT}") from err
    if table is None:
        raise OSError(f"{path} has no table (with rows) in HDU 1 ({n_hdus} HDU(s)): it is "
                      "not a GalSim COSMOS catalogue")
    return table


def require_columns(table: fits.FITS_rec, path: Path, names: tuple[str, ...], why: str) -> None:
    """KeyError naming ``path``, the missing columns and ``why`` they are needed."""
    held = {c.lower() for c in table.columns.names}
    missing = [name for name in names if name.lower() not in held]
    if missing:
        raise KeyError(f"{path} lacks the column(s) {missing} that {why} needs; it has "
                       f"{list(table.columns.names)}")


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


def viable_sersic_mask(fits_table: fits.FITS_rec, path: Path) -> np.ndarray:
    """True for galaxies whose Sersic fit succeeded and has physical parameters.

    Chianese et al. 2020 sec. 2.2 (see the module docstring for the reading):
    ``fit_status[:, 4]`` in 1..4 and ``sersicfit[:, 0] > 0`` (intensity at the
    half-light radius) and ``sersicfit[:, 1] > 0`` (half-light radius), the definition
    of the release's ``viable_sersic`` flag. ``path`` names the catalogue in errors.
    """
    require_columns(fits_table, path, EXCLUSION_COLUMNS["viable_sersic"]["fits"],
                    "exclusion_level 'viable_sersic' (Chianese et al. 2020 sec. 2.2)")
    status = np.asarray(column([(path, fits_table)], "fit_status"))[:, 4]
    sersic = np.asarray(column([(path, fits_table)], "sersicfit"), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (status >= 1) & (status <= 4) & (sersic[:, 0] > 0) & (sersic[:, 1] > 0)


def galsim_exclusion_mask(directory: Path, catalogue_file: str, exclusion_level: str,
                          n_rows: int) -> np.ndarray:
    """True for the rows ``galsim.COSMOSCatalog(..., exclusion_level=...)`` keeps.

    GalSim applies its own cuts (its ``orig_index``); the files and columns a level reads
    are checked first, so that a missing one is named here. GalSim takes the thresholds
    of the bad-stamp cuts from the sample in the file name ('23.5': S/N >= 20, mask ratio
    0.2; '25.2' or any other name: S/N >= 12, mask ratio 0.8).
    """
    needs = EXCLUSION_COLUMNS.get(exclusion_level, {})
    files = {"main": catalogue_file, "fits": fits_catalogue_name(catalogue_file),
             "selection": selection_catalogue_name(catalogue_file)}
    for kind in needs:
        path = directory / files[kind]
        if not path.is_file():
            others = [level for level in EXCLUSION_LEVELS
                      if kind not in EXCLUSION_COLUMNS.get(level, {})]
            raise FileNotFoundError(
                f"exclusion_level {exclusion_level!r} needs {path}, which GalSim's COSMOS "
                f"releases ship beside {catalogue_file}; for a catalogue without it, use "
                f"one of the levels {others}")
    for kind, names in needs.items():
        path = directory / files[kind]
        require_columns(read_table(path), path, names,
                        f"GalSim's exclusion_level {exclusion_level!r}")
    catalog = galsim.COSMOSCatalog(catalogue_file, dir=str(directory),
                                   exclusion_level=exclusion_level)
    mask = np.zeros(n_rows, dtype=bool)
    mask[np.asarray(catalog.orig_index, dtype=np.int64)] = True
    return mask


def sample_mask(directory: Path, catalogue_file: str, exclusion_level: str,
                fits_table: fits.FITS_rec) -> np.ndarray:
    """True for the catalogue rows the sample keeps under ``exclusion_level``.

    ``none``, ``bad_stamp``, ``bad_fits``, ``marginal``: GalSim's own cut
    (:func:`galsim_exclusion_mask`); ``viable_sersic``: Chianese et al. 2020 sec. 2.2
    (:func:`viable_sersic_mask`).
    """
    if exclusion_level not in EXCLUSION_LEVELS:
        raise ValueError(f"exclusion_level {exclusion_level!r} is none of {EXCLUSION_LEVELS}")
    if exclusion_level == "none":
        return np.ones(len(fits_table), dtype=bool)
    if exclusion_level == "viable_sersic":
        return viable_sersic_mask(fits_table, directory / fits_catalogue_name(catalogue_file))
    return galsim_exclusion_mask(directory, catalogue_file, exclusion_level, len(fits_table))


def open_catalogue(directory: str | Path, catalogue_file: str) -> galsim.RealGalaxyCatalog:
    """``galsim.RealGalaxyCatalog`` of ``directory/catalogue_file`` with clear errors.

    Raises FileNotFoundError (directory or file), OSError (an unreadable FITS file) or
    KeyError (a column of :data:`REAL_COLUMNS` missing), each naming the file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"COSMOS directory {directory} does not exist: {DOWNLOAD_HINT}")
    path = directory / catalogue_file
    require_columns(read_table(path), path, REAL_COLUMNS, "galsim.RealGalaxyCatalog")
    return galsim.RealGalaxyCatalog(catalogue_file, dir=str(directory))


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
                         exclusion_level: str, pixel_scale: np.ndarray,
                         ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Property columns (mag, half_light_radius, flux_radius, redshift; arcsec) and the
    sample cut (:func:`sample_mask` of ``exclusion_level``).

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
        hlr = hlr[:, 0] if hlr.ndim == 2 else hlr  # release 'hlr': (sersic, bulge, disk)
    props = {"ident": column(tables, "IDENT").astype(np.int64),
             "mag": column(tables, mag_column).astype(np.float64),
             "half_light_radius": hlr, "flux_radius": flux_radius,
             "redshift": column(tables, redshift_column).astype(np.float64)}
    keep = sample_mask(directory, catalogue_file, exclusion_level, fit)
    return props, keep


def read_galaxy_files(catalogue: galsim.RealGalaxyCatalog, index: int, ident: int) -> None:
    """Read the galaxy image, PSF image and noise file of row ``index`` (GalSim caches them).

    The only file I/O of a stamp, so that only an error of reading these FITS files
    becomes "the file may be truncated or corrupted": astropy raises OSError for an
    unreadable file, IndexError for an HDU past the end of a cut-short file and
    ValueError for data shorter than its header says. Errors of the drawing that follows
    (a bad call, GalSim's own errors) propagate unchanged.
    """
    try:
        catalogue.getGalImage(index)
        catalogue.getPSFImage(index)
        catalogue.getNoiseProperties(index)
    except (OSError, ValueError, IndexError) as err:
        noise = None if catalogue.noise_file_name is None else catalogue.noise_file_name[index]
        raise OSError(f"cannot read galaxy IDENT={ident} (HDU {catalogue.gal_hdu[index]}) "
                      f"from {catalogue.gal_file_name[index]}, its PSF (HDU "
                      f"{catalogue.psf_hdu[index]}) from {catalogue.psf_file_name[index]} or "
                      f"its noise file {noise}: {type(err).__name__}: {err}; the file may be "
                      "truncated or corrupted") from err


def archive_stamp(catalogue: galsim.RealGalaxyCatalog, index: int, psf_size: int,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Archive galaxy stamp and its PSF drawn on (psf_size, psf_size), centred on pixel psf_size // 2."""
    image = catalogue.getGalImage(index).array
    psf = catalogue.getPSF(index).drawImage(
        nx=psf_size, ny=psf_size, scale=float(catalogue.pixel_scale[index]),
        method="no_pixel", use_true_center=False).array
    return image, psf


def parametric_catalogue(directory: Path, catalogue_file: str) -> galsim.COSMOSCatalog | None:
    """GalSim's parametric fits of every catalogue row (``COSMOSCatalog``, no exclusion,
    so that its index is the catalogue row).

    None (with a warning) when the ``_fits`` catalogue lacks the release's fit columns
    (:data:`PARAMETRIC_COLUMNS`), as in the 26-extension example.
    """
    fit = read_table(directory / fits_catalogue_name(catalogue_file))
    names = {c.lower() for c in fit.columns.names}
    if not all(c in names for c in PARAMETRIC_COLUMNS):
        logger.warning("%s lacks the parametric-fit columns %s: no parametric twins",
                       fits_catalogue_name(catalogue_file), PARAMETRIC_COLUMNS)
        return None
    return galsim.COSMOSCatalog(catalogue_file, dir=str(directory), exclusion_level="none",
                                use_real=False)


def parametric_stamp(fits_catalogue: galsim.COSMOSCatalog, index: int, psf: galsim.GSObject,
                     stamp_size: int, scale: float) -> np.ndarray:
    """Best parametric fit of row ``index`` convolved with ``psf``, drawn like
    :func:`rendered_stamp`. Unit: e-/s per pixel (HST, the unit of the COSMOS images).

    The fit is GalSim's choice, Sersic or bulge + disk (``use_bulgefit``), the
    "parametric" sample of Lanusse et al. 2021 sec. 4.4. Flux: ``COSMOSCatalog`` sets
    ``orig_exptime=1`` s and ``orig_area`` to the HST effective area, and
    ``makeGalaxy`` rescales by ``exptime / orig_exptime`` and ``area / orig_area`` only
    when the catalogue was built with ``exptime`` or ``area`` (GalSim 2.8 ``makeGalaxy``
    takes neither); left at None, the profile's flux is the release's ``flux`` column
    (Sersic ``flux[0]``, or bulge ``flux[1]`` + disk ``flux[2]``): counts per second of
    a 1 s HST exposure, as the COSMOS images (zeropoint 25.94).
    """
    galaxy = fits_catalogue.makeGalaxy(index, gal_type="parametric")
    return galsim.Convolve(galaxy, psf).drawImage(
        nx=stamp_size, ny=stamp_size, scale=scale, method="no_pixel").array


def rendered_stamp(catalogue: galsim.RealGalaxyCatalog, index: int, stamp_size: int,
                   psf_size: int, seed: int,
                   fits_catalogue: galsim.COSMOSCatalog | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Galaxy re-rendered on (stamp_size, stamp_size) with its own PSF, noise padded.

    ``Convolve(RealGalaxy, original_psf)`` drawn with ``method='no_pixel'`` at the native
    pixel scale; the original image is padded with its correlated noise over
    ``stamp_size`` pixels (seeded by ``seed``), as in Lanusse et al. (2021) sec. 4.1.
    With ``fits_catalogue``, also its parametric twin (:func:`parametric_stamp`) with the
    same PSF.
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


def iter_cosmos_stamps(directory: str | Path, *, catalogue_file: str, exclusion_level: str,
                       mag_column: str, stamp_size: int | None = None, psf_size: int = 64,
                       flux_radius_column: str = "flux_radius",
                       redshift_column: str = "zphot", hlr_column: str | None = "hlr",
                       flux_radius_in_pixels: bool = True, max_galaxies: int | None = None,
                       batch_size: int = 500, seed: int = 0, shard: int = 0,
                       n_shards: int = 1) -> Iterator[list[RawStamp]]:
    """Batches of COSMOS :class:`RawStamp` records in a seeded random catalogue order.

    Args:
        directory: GalSim COSMOS directory.
        catalogue_file: ``RealGalaxyCatalog`` file name inside ``directory``.
        exclusion_level: the sample cut (:func:`sample_mask`): GalSim's 'none',
            'bad_stamp', 'bad_fits', 'marginal', or 'viable_sersic' (Chianese et al. 2020).
        mag_column, flux_radius_column, redshift_column, hlr_column: catalogue columns
            (case-insensitive; searched in the ``_fits`` catalogue, then the main one).
            ``hlr_column=None``: use the flux radius as the half-light radius.
        stamp_size: None for the archive stamps; n to re-render on (n, n) (Lanusse).
        psf_size: side of the native PSF image. Unit: pixels.
        flux_radius_in_pixels: the flux-radius column is in pixels (SExtractor).
        max_galaxies: read at most this many catalogue rows (after the cut); None: all.
        batch_size: galaxies per yielded batch.
        seed: order of the catalogue and the noise padding.
        shard, n_shards: read only every ``n_shards``-th galaxy of that order, from
            ``shard`` on (independent jobs; the union of the shards is the whole set).

    Raises:
        FileNotFoundError: missing directory or catalogue (with the download command).
        OSError: an unreadable or corrupted FITS file, named.
        KeyError: a column that a setting needs is missing, naming the file.
        ValueError: a NaN/inf image, naming the IDENT and file.
    """
    directory = Path(directory).expanduser()
    catalogue = open_catalogue(directory, catalogue_file)
    scales = np.asarray(catalogue.pixel_scale, dtype=np.float64)
    props, keep = catalogue_properties(
        directory, catalogue_file, mag_column=mag_column,
        flux_radius_column=flux_radius_column, redshift_column=redshift_column,
        hlr_column=hlr_column, flux_radius_in_pixels=flux_radius_in_pixels,
        exclusion_level=exclusion_level, pixel_scale=scales)
    logger.info("COSMOS %s: %d galaxies, %d kept by exclusion_level %r",
                directory / catalogue_file, len(keep), int(keep.sum()), exclusion_level)
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
    """One catalogue row as a :class:`RawStamp` (archive or re-rendered stamp).

    Reading its files (:func:`read_galaxy_files`) is separate from drawing: an error
    of the drawing is not reported as a damaged file.
    """
    gal_file = str(catalogue.gal_file_name[index])
    ident = int(props["ident"][index])
    read_galaxy_files(catalogue, index, ident)
    parametric = None
    if stamp_size is None:
        image, psf = archive_stamp(catalogue, index, psf_size)
    else:
        image, psf, parametric = rendered_stamp(catalogue, index, stamp_size, psf_size,
                                                seed, fits_catalogue)
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
    for batch in progress_bar(iter_cosmos_stamps(directory, **options), desc="COSMOS stamps",
                      unit="batch"):
        stamps.extend(batch)
    return stamps
