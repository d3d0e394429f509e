"""Real COSMOS galaxies (the 100-galaxy example samples) through both products, the samples'
cuts (GalSim's exclusion levels, Chianese et al. 2020's fit cut), the parametric twins, and
errors that say what happened."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from galprior.data.cosmos import iter_cosmos_stamps, viable_sersic_mask
from galprior.data.galaxies import prepare_galaxy_splits

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
EXAMPLE = SHARED / "cosmos_example"
CATALOGUE = "real_galaxy_catalog_26_extension_example.fits"
OPTIONS = {"catalogue_file": CATALOGUE, "mag_column": "MAG", "redshift_column": "ZPHOT",
           "hlr_column": None, "exclusion_level": "none"}

needs_example = pytest.mark.shared_data


def example_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cosmos"
    shutil.copytree(EXAMPLE, target)
    target.chmod(0o755)  # copytree keeps the read-only modes of shared/
    for path in target.iterdir():
        path.chmod(0o644)
    return target


def _area_resampling_matrix(n: int, n_out: int) -> np.ndarray:
    """(n_out, n) flux-conserving area resampling, edges aligned: each input pixel cut into
    ``n_out`` equal sub-pixels, each output pixel the sum over its ``n`` sub-pixels (an
    implementation independent of galprior's overlap matrix)."""
    sub = np.repeat(np.eye(n), n_out, axis=0)  # (n * n_out, n): sub-pixel -> its pixel
    return sub.reshape(n_out, n, n).sum(axis=1) / n_out


def chianese_cuts_reference(directory: Path, catalogue_file: str, n_noise: int = 24,
                            margin: float = 0.05) -> tuple[set[int], set[int]]:
    """IDENTs that Chianese et al. 2020 sec. 2.2 keeps, computed without galprior: stamps of
    at least 64 pixels, cropped square, resampled to 64 x 64, whose S/N (brightest 4 x 4
    block mean over the per-pixel noise sd) is in [15, 50]. The resampled noise variance is
    measured on ``n_noise`` fields of GalSim's correlated COSMOS noise (the catalogue's own
    noise model) resampled the same way. Returns the sure keeps and the galaxies whose S/N
    lies within ``margin`` of a cut (the noise estimate cannot decide them)."""
    import galsim

    catalogue = galsim.RealGalaxyCatalog(catalogue_file, dir=str(directory))
    table = fits.getdata(directory / catalogue_file)
    rng = galsim.BaseDeviate(1234)
    sure, unsure = set(), set()
    with fits.open(directory / "real_galaxy_images_extension.fits") as images:
        for row in table:
            image = np.asarray(images[int(row["GAL_HDU"])].data, np.float64)
            side = min(image.shape)
            if side < 64:
                continue
            top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
            a = _area_resampling_matrix(side, 64)
            stamp = a @ image[top:top + side, left:left + side] @ a.T
            noise = catalogue.getNoise(int(np.flatnonzero(table["IDENT"] == row["IDENT"])[0]), rng=rng)
            variances = []
            for _ in range(n_noise):
                field = galsim.ImageD(side, side, scale=0.03)
                field.addNoise(noise)
                variances.append(np.var(a @ field.array @ a.T))
            snr = stamp.reshape(16, 4, 16, 4).mean(axis=(1, 3)).max() / np.sqrt(np.mean(variances))
            if min(abs(snr / 15 - 1), abs(snr / 50 - 1)) < margin:
                unsure.add(int(row["IDENT"]))
            elif 15 <= snr <= 50:
                sure.add(int(row["IDENT"]))
    return sure, unsure


@needs_example
def test_chianese_product_of_the_example():
    sets = prepare_galaxy_splits("cosmos", "chianese", {"train": None, "val": 2, "test": 2},
                                 seed=0, cosmos_options={"directory": str(EXAMPLE), **OPTIONS})
    kept = {int(i) for s in sets.values() for i in s.properties.ident}
    sure, unsure = chianese_cuts_reference(EXAMPLE, CATALOGUE)
    assert len(kept) == sum(len(s) for s in sets.values())
    assert sure <= kept <= sure | unsure, (sorted(kept), sorted(sure), sorted(unsure))
    assert len(sure) >= 4  # enough real galaxies for every split
    for galaxy_set in sets.values():
        assert galaxy_set.images.shape[1:] == (64, 64)
        assert galaxy_set.psf.shape[1:] == (32, 32)
        assert galaxy_set.images.dtype == np.float32
        assert np.all(np.isfinite(galaxy_set.images))
        np.testing.assert_allclose(galaxy_set.images.max(axis=(1, 2)), 1.0, rtol=1e-6)
        np.testing.assert_allclose(galaxy_set.psf.sum(axis=(1, 2)), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(galaxy_set.noiseless, galaxy_set.images)
        assert galaxy_set.attrs["noiseless_is_truth"] is False
        assert np.all(galaxy_set.pixel_scale >= 0.03)
        assert np.all(galaxy_set.noise_variance > 0)
        props = galaxy_set.properties
        assert props.ident.dtype == np.int64
        assert np.all((props.mag > 19) & (props.mag < 27))
        np.testing.assert_allclose(props.half_light_radius, props.flux_radius)


@needs_example
def test_lanusse_product_of_the_example():
    sets = prepare_galaxy_splits("cosmos", "lanusse", {"train": None, "val": 10, "test": 10},
                                 seed=0, cosmos_options={"directory": str(EXAMPLE), **OPTIONS})
    assert sum(len(s) for s in sets.values()) == 100
    train = sets["train"]
    assert train.images.shape[1:] == (128, 128) and train.psf.shape[1:] == (64, 64)
    np.testing.assert_allclose(train.pixel_scale, 0.03)
    np.testing.assert_allclose(train.psf.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    assert np.argmax(train.psf[0]) == np.ravel_multi_index((32, 32), (64, 64))
    # the noise padding leaves the border with the catalogue noise level
    border = np.concatenate([train.images[:, :8].reshape(len(train), -1),
                             train.images[:, -8:].reshape(len(train), -1)], axis=1)
    ratio = border.var(axis=1) / train.noise_variance
    assert 0.5 < np.median(ratio) < 2.0
    # the rendered flux of bright galaxies is the catalogue flux (zeropoint 25.94)
    bright = (train.properties.mag < 23).to_numpy()
    mag = 25.94 - 2.5 * np.log10(train.images[bright].sum(axis=(1, 2)))
    assert bright.sum() >= 5
    assert np.median(np.abs(mag - train.properties.mag[bright])) < 0.2


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere does not exist: .*galsim_download_cosmos"):
        next(iter_cosmos_stamps(tmp_path / "nowhere", **OPTIONS))


@needs_example
def test_missing_catalogue_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_catalogue.fits"):
        next(iter_cosmos_stamps(EXAMPLE, **{**OPTIONS, "catalogue_file": "no_such_catalogue.fits"}))


@needs_example
def test_corrupted_catalogue(tmp_path):
    directory = example_copy(tmp_path)
    (directory / CATALOGUE).write_bytes(b"SIMPLE  = garbage" * 100)
    with pytest.raises(OSError, match=CATALOGUE):
        next(iter_cosmos_stamps(directory, **OPTIONS))


@needs_example
def test_truncated_image_file(tmp_path):
    directory = example_copy(tmp_path)
    images = directory / "real_galaxy_images_extension.fits"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(OSError, match="real_galaxy_images_extension.fits"):
        for _ in iter_cosmos_stamps(directory, **OPTIONS):
            pass


@needs_example
def test_nan_image_names_the_galaxy(tmp_path):
    directory = example_copy(tmp_path)
    images = directory / "real_galaxy_images_extension.fits"
    with fits.open(images) as hdus:
        hdus[3].data[5, 5] = np.nan
        hdus.writeto(images, overwrite=True)
    ident = int(fits.getdata(directory / CATALOGUE)["IDENT"][3])
    with pytest.raises(ValueError, match=f"IDENT={ident} in .*real_galaxy_images_extension"):
        for _ in iter_cosmos_stamps(directory, **OPTIONS):
            pass


@needs_example
def test_viable_sersic_cut_needs_the_fit_columns():
    with pytest.raises(KeyError, match="real_galaxy_catalog_26_extension_example_fits.fits "
                                       r"lacks the column\(s\) \['fit_status', 'sersicfit'\]"):
        next(iter_cosmos_stamps(EXAMPLE, **{**OPTIONS, "exclusion_level": "viable_sersic"}))


@needs_example
def test_galsim_level_without_its_selection_file_names_it():
    with pytest.raises(FileNotFoundError,
                       match="real_galaxy_catalog_26_extension_example_selection.fits"):
        next(iter_cosmos_stamps(EXAMPLE, **{**OPTIONS, "exclusion_level": "marginal"}))


def test_viable_sersic_mask(tmp_path):
    status = np.array([[1, 0, 0, 0, 1], [1, 0, 0, 0, 5], [0, 0, 0, 0, 0], [0, 0, 0, 0, 4],
                       [1, 0, 0, 0, 1], [1, 0, 0, 0, 2], [1, 0, 0, 0, 3]])
    sersic = np.zeros((7, 8))
    sersic[:, :2] = [[0.1, 10], [0.1, 10], [0.1, 10], [0.1, 10], [0.0, 10], [0.1, -1],
                     [0.1, np.nan]]
    table = fits.BinTableHDU.from_columns([
        fits.Column("fit_status", "5J", array=status),
        fits.Column("sersicfit", "8D", array=sersic),
    ]).data
    # failed Sersic fits (status 5, 0) and non-positive or NaN intensity or radius go;
    # a failed bulge+disk fit (row 3) alone does not
    np.testing.assert_array_equal(viable_sersic_mask(table, tmp_path / "x.fits"),
                                  [True, False, False, True, False, False, False])
