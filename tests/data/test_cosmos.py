"""Real COSMOS galaxies (the 100-galaxy example sample) through both products, and errors."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from galprior.data.cosmos import fit_quality_mask, iter_cosmos_stamps
from galprior.data.galaxies import prepare_galaxy_splits

EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "cosmos_example"
CATALOGUE = "real_galaxy_catalog_26_extension_example.fits"
OPTIONS = {"catalogue_file": CATALOGUE, "mag_column": "MAG", "redshift_column": "ZPHOT",
           "hlr_column": None, "fit_quality_cut": False}

needs_example = pytest.mark.shared_data


def example_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cosmos"
    shutil.copytree(EXAMPLE, target)
    target.chmod(0o755)  # copytree keeps the read-only modes of shared/
    for path in target.iterdir():
        path.chmod(0o644)
    return target


@needs_example
def test_chianese_product_of_the_example():
    sets = prepare_galaxy_splits("cosmos", "chianese", {"train": None, "val": 2, "test": 2},
                                 seed=0, cosmos_options={"directory": str(EXAMPLE), **OPTIONS})
    n = sum(len(s) for s in sets.values())
    assert n == 7  # 82 stamps < 64 px, 10 with S/N < 15, 1 with S/N > 50
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
    with pytest.raises(FileNotFoundError, match="galsim_download_cosmos -s 25.2"):
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
def test_fit_quality_cut_needs_the_fit_columns():
    with pytest.raises(KeyError, match="fit_quality_cut"):
        next(iter_cosmos_stamps(EXAMPLE, **{**OPTIONS, "fit_quality_cut": True}))


def test_fit_quality_mask(tmp_path):
    status = np.array([[1, 0, 0, 0, 1], [1, 0, 0, 0, 5], [0, 0, 0, 0, 2], [2, 0, 0, 0, 3],
                       [1, 0, 0, 0, 1]])
    table = fits.BinTableHDU.from_columns([
        fits.Column("fit_status", "5J", array=status),
        fits.Column("viable_sersic", "J", array=np.array([1, 1, 1, 0, 1])),
        fits.Column("hlr", "3D", array=np.array([[0.3, 0, 0]] * 4 + [[np.nan, 0, 0]])),
    ]).data
    np.testing.assert_array_equal(fit_quality_mask(table, tmp_path / "x.fits"),
                                  [True, False, False, False, False])
