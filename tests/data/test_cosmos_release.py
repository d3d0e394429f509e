"""GalSim's COSMOS release format: each paper's sample cut, the Lanusse parametric twins,
and errors of the drawing that are not reported as damaged files.

Data: GalSim's own 100-galaxy example catalogues of the 23.5 release (no images) and the
25.2-format copy of the 100 example galaxies (images, PSFs, and GalSim-format ``_fits``
and ``_selection`` files whose fit and selection columns are the 23.5 example's rows);
see ``../shared/data/README.md``.
"""

import shutil
from pathlib import Path

import galsim
import numpy as np
import pytest
from astropy.io import fits

from galprior.config import SELECTION_LEVELS
from galprior.data.cosmos import (EXCLUSION_COLUMNS, catalogue_properties, iter_cosmos_stamps,
                                  parametric_catalogue, parametric_stamp, sample_mask)
from galprior.data.galaxies import prepare_galaxy_shard

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
EXAMPLE_23_5 = SHARED / "cosmos_23.5_example"
CATALOGUE_23_5 = "real_galaxy_catalog_23.5_example.fits"
EXAMPLE_25_2 = SHARED / "cosmos_example"
CATALOGUE_25_2 = "real_galaxy_catalog_25.2_format.fits"
RELEASES = [pytest.param(EXAMPLE_23_5, CATALOGUE_23_5, "23.5", id="23.5-example"),
            pytest.param(EXAMPLE_25_2, CATALOGUE_25_2, "25.2", id="25.2-format")]
LANUSSE = {"directory": str(EXAMPLE_25_2), "catalogue_file": CATALOGUE_25_2,
           "exclusion_level": "marginal", "mag_column": "mag_auto", "hlr_column": None}
HST_PSF = galsim.Airy(lam=814.0, diam=2.4, obscuration=0.33, scale_unit=galsim.arcsec)

shared_data = pytest.mark.shared_data


def table(directory: Path, catalogue: str, kind: str) -> np.ndarray:
    name = catalogue if kind == "main" else catalogue.replace(".fits", f"_{kind}.fits")
    return fits.getdata(directory / name)


def writable_copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "cosmos"
    shutil.copytree(source, target, copy_function=shutil.copyfile)
    target.chmod(0o755)  # copytree keeps the read-only mode of shared/
    return target


def galsim_marginal_by_hand(directory: Path, catalogue: str, release: str) -> np.ndarray:
    """GalSim's 'marginal' cut written out from its documented rules (galaxy_sample.py
    ``_apply_exclusion``, ``COSMOSCatalog`` thresholds per release), from the columns."""
    fit, sel, main = (table(directory, catalogue, kind) for kind in ("fits", "selection", "main"))
    sn_limit, cut_ratio = (20.0, 0.2) if release == "23.5" else (12.0, 0.8)
    peak = np.where(sel["peak_image_pixel_count"] == 0, 1e-5, sel["peak_image_pixel_count"])
    stamp = ((sel["sn_ellip_gauss"] >= sn_limit)
             & ((sel["min_mask_dist_pixels"] > 11)
                | (sel["average_mask_adjacent_pixel_count"] / peak < cut_ratio))
             & (main["stamp_flux"] > 0))
    sersic_ok = (fit["fit_status"][:, 4] > 0) & (fit["fit_status"][:, 4] < 5)
    bulge_ok = (fit["fit_status"][:, 0] > 0) & (fit["fit_status"][:, 0] < 5)
    shape = (fit["sersicfit"][:, 2] < 5) | (fit["hlr"][:, 0] < 1)
    return stamp & sersic_ok & bulge_ok & shape & (np.abs(sel["dmag"]) < 0.8)


# -- Lanusse et al. 2021: GalSim's own exclusion_level ------------------------------------
@shared_data
@pytest.mark.parametrize("directory, catalogue, release", RELEASES)
def test_marginal_sample_is_galsims_cut(directory, catalogue, release):
    mask = sample_mask(directory, catalogue, "marginal", table(directory, catalogue, "fits"))
    assert mask.sum() == 96  # of 100, as galsim.COSMOSCatalog(..., 'marginal')
    np.testing.assert_array_equal(np.flatnonzero(~mask), [5, 29, 55, 66])
    np.testing.assert_array_equal(mask, galsim_marginal_by_hand(directory, catalogue, release))


@shared_data
@pytest.mark.parametrize("directory, catalogue, release", RELEASES)
@pytest.mark.parametrize("level", ["none", "bad_stamp", "bad_fits", "marginal"])
def test_every_galsim_level_is_cosmoscatalog_orig_index(directory, catalogue, release, level):
    mask = sample_mask(directory, catalogue, level, table(directory, catalogue, "fits"))
    kept = galsim.COSMOSCatalog(catalogue, dir=str(directory), exclusion_level=level).orig_index
    np.testing.assert_array_equal(np.flatnonzero(mask), kept)


@shared_data
def test_the_reader_applies_the_configured_cut():
    """What iter_cosmos_stamps reads: the keep mask of catalogue_properties."""
    scales = np.full(100, 0.03)
    for level, kept in (("marginal", 96), ("bad_stamp", 97), ("none", 100)):
        _, keep = catalogue_properties(EXAMPLE_25_2, CATALOGUE_25_2, mag_column="mag_auto",
                                       flux_radius_column="flux_radius",
                                       redshift_column="zphot", hlr_column="hlr",
                                       flux_radius_in_pixels=True, exclusion_level=level,
                                       pixel_scale=scales)
        assert keep.sum() == kept, level


def test_start_up_check_knows_which_levels_read_the_selection_file():
    assert set(SELECTION_LEVELS) == {level for level, needs in EXCLUSION_COLUMNS.items()
                                     if "selection" in needs}


# -- Chianese et al. 2020 sec. 2.2: the Sersic-fit cut ------------------------------------
def stated_rule(fit) -> np.ndarray:
    """The cut as the docstring states it, from the FITS columns."""
    status, sersic = fit["fit_status"][:, 4], fit["sersicfit"]
    with np.errstate(invalid="ignore"):
        return (status >= 1) & (status <= 4) & (sersic[:, 0] > 0) & (sersic[:, 1] > 0)


@shared_data
@pytest.mark.parametrize("directory, catalogue, release", RELEASES)
def test_viable_sersic_cut_is_the_releases_flag(directory, catalogue, release):
    fit = table(directory, catalogue, "fits")
    mask = sample_mask(directory, catalogue, "viable_sersic", fit)
    np.testing.assert_array_equal(mask, stated_rule(fit))
    np.testing.assert_array_equal(mask, fit["viable_sersic"] == 1)


@shared_data
def test_viable_sersic_cut_keeps_exactly_the_stated_galaxies(tmp_path):
    """On a copy of the 25.2-format example whose fits failed or went unphysical for some
    galaxies, the chianese reader reads exactly the galaxies the rule keeps."""
    directory = writable_copy(EXAMPLE_25_2, tmp_path)
    fits_file = directory / CATALOGUE_25_2.replace(".fits", "_fits.fits")
    with fits.open(fits_file) as hdus:
        fit = hdus[1].data
        fit["fit_status"][3, 4] = 0        # Sersic fit failed
        fit["fit_status"][7, 4] = 5        # Sersic fit failed
        fit["fit_status"][9, 0] = 0        # bulge+disk fit failed: kept (not the Sersic fit)
        fit["sersicfit"][11, 1] = -2.0     # negative half-light radius
        fit["sersicfit"][13, 0] = 0.0      # zero intensity
        fit["sersicfit"][17, 1] = np.nan   # no radius
        hdus.writeto(fits_file, overwrite=True)
    fit = fits.getdata(fits_file)
    expected = set(fit["IDENT"][stated_rule(fit)])
    assert len(expected) == 95
    read = {stamp.ident for batch in iter_cosmos_stamps(
        directory, catalogue_file=CATALOGUE_25_2, exclusion_level="viable_sersic",
        mag_column="MAG", hlr_column=None) for stamp in batch}
    assert read == expected


# -- Lanusse et al. 2021 sec. 4.4: parametric twins ---------------------------------------
@shared_data
def test_parametric_twins_of_the_23_5_example_are_the_release_fits():
    twins = parametric_catalogue(EXAMPLE_23_5, CATALOGUE_23_5)
    fit = table(EXAMPLE_23_5, CATALOGUE_23_5, "fits")
    rows = np.flatnonzero(sample_mask(EXAMPLE_23_5, CATALOGUE_23_5, "marginal", fit))
    flux = np.array([parametric_stamp(twins, i, HST_PSF, 256, 0.03).sum() for i in rows])
    assert np.all(np.isfinite(flux)) and np.all(flux > 0)
    # the flux is the release's fit flux (counts/s of a 1 s HST exposure), less the light
    # of the largest galaxies beyond the 7.7" stamp
    fit_flux = np.where(fit["use_bulgefit"][rows] == 1,
                        fit["flux"][rows, 1] + fit["flux"][rows, 2], fit["flux"][rows, 0])
    ratio = flux / fit_flux
    assert np.all(ratio <= 1.001) and np.all(ratio > 0.7)
    assert 0.98 < np.median(ratio) <= 1.0
    # ... and the catalogue magnitude at the COSMOS zeropoint 25.94
    mag = 25.94 - 2.5 * np.log10(flux)
    assert np.median(np.abs(mag - fit["mag_auto"][rows])) < 0.15


@shared_data
def test_a_sersic_twin_is_the_catalogue_profile_convolved_with_the_psf():
    twins = parametric_catalogue(EXAMPLE_23_5, CATALOGUE_23_5)
    fit = table(EXAMPLE_23_5, CATALOGUE_23_5, "fits")
    for i in np.flatnonzero(fit["use_bulgefit"] == 0)[:3]:
        sersic = fit["sersicfit"][i]
        n = float(int(np.clip(sersic[2], 0.3, 6.0) / 0.05 + 0.5)) * 0.05  # GalSim's sersic_prec
        galaxy = galsim.Sersic(n, half_light_radius=fit["hlr"][i, 0], flux=fit["flux"][i, 0])
        galaxy = galaxy.shear(q=sersic[3], beta=sersic[7] * galsim.radians)
        expected = galsim.Convolve(galaxy, HST_PSF).drawImage(nx=64, ny=64, scale=0.03,
                                                              method="no_pixel").array
        unconvolved = galaxy.drawImage(nx=64, ny=64, scale=0.03, method="no_pixel").array
        drawn = parametric_stamp(twins, int(i), HST_PSF, 64, 0.03)
        np.testing.assert_allclose(drawn, expected, rtol=0, atol=1e-4 * expected.max())
        assert np.abs(drawn - unconvolved).max() > 0.05 * unconvolved.max()  # the PSF shows


@shared_data
def test_lanusse_product_of_the_25_2_format_has_its_parametric_twins():
    shard = prepare_galaxy_shard("cosmos", "lanusse", {"train": 4, "val": 1, "test": 1},
                                 seed=0, cosmos_options=LANUSSE,
                                 product_options={"stamp_size": 32, "psf_size": 16})
    assert len(shard) == 6
    kept = set(table(EXAMPLE_25_2, CATALOGUE_25_2, "main")["IDENT"][
        sample_mask(EXAMPLE_25_2, CATALOGUE_25_2, "marginal",
                    table(EXAMPLE_25_2, CATALOGUE_25_2, "fits"))])
    assert set(shard.properties["ident"]) <= kept
    assert np.all(np.isfinite(shard.parametric)) and np.all(shard.parametric.sum((1, 2)) > 0)


# -- errors say what happened -------------------------------------------------------------
@shared_data
@pytest.mark.parametrize("error", [TypeError, ValueError])
def test_an_error_of_the_drawing_is_not_reported_as_a_damaged_file(monkeypatch, error):
    def broken(self, *args, **kwargs):
        raise error("makeGalaxy() got an unexpected keyword argument 'area'")

    monkeypatch.setattr(galsim.COSMOSCatalog, "makeGalaxy", broken)
    with pytest.raises(error, match="unexpected keyword argument 'area'") as caught:
        next(iter_cosmos_stamps(stamp_size=32, psf_size=16, max_galaxies=2, **LANUSSE))
    assert "corrupted" not in str(caught.value)


@shared_data
def test_a_truncated_image_file_is_reported_as_such_when_rendering(tmp_path):
    directory = writable_copy(EXAMPLE_25_2, tmp_path)
    images = directory / "real_galaxy_images_extension.fits"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(OSError, match="real_galaxy_images_extension.fits.*truncated or corrupted"):
        for _ in iter_cosmos_stamps(stamp_size=32, psf_size=16,
                                    **{**LANUSSE, "directory": directory}):
            pass
