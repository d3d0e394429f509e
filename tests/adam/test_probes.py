"""The PROBES loader on small FITS files written by the test."""

import numpy as np
import pytest
from astropy.io import fits

from galprior.data.probes import load_probes, read_band_image


def _galaxy(size, peak, shift=0.0):
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    return peak * np.exp(-((xx - shift) ** 2 + 2 * yy**2) / (size / 4) ** 2)


def test_bands_from_extension_names_and_from_file_names(tmp_path):
    # galaxy a: one file, one HDU per band (EXTNAME)
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(_galaxy(16, 5.0), name="G"), fits.ImageHDU(_galaxy(16, 9.0, 3), name="R")]
    fits.HDUList(hdus).writeto(tmp_path / "a.fits")
    # galaxy b: one file per band
    fits.PrimaryHDU(_galaxy(32, 2.0, 2)).writeto(tmp_path / "b_g.fits")
    fits.PrimaryHDU(_galaxy(32, 7.0)).writeto(tmp_path / "b_r.fits")
    images, names = load_probes(tmp_path, "g", 16)
    assert names == ["a", "b"]
    assert images.shape == (2, 16, 16) and images.dtype == np.float32
    np.testing.assert_allclose(images.max(axis=(1, 2)), 1.0)
    expected = _galaxy(16, 1.0)
    np.testing.assert_allclose(images[0], expected / expected.max(), rtol=1e-5)   # the g HDU, not r
    # b was resized 32 -> 16 and still peaks off-centre (shift 2 px -> 1 px)
    assert np.unravel_index(images[1].argmax(), (16, 16))[1] > 7
    r_images, _ = load_probes(tmp_path, "r", 16)
    assert r_images[0].argmax() != images[0].argmax()


def test_a_file_without_the_band_is_named(tmp_path):
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(_galaxy(8, 1.0), name="R")]).writeto(tmp_path / "c.fits")
    with pytest.raises(ValueError, match="c.fits: no image of band 'g'"):
        read_band_image(tmp_path / "c.fits", "g")
    with pytest.raises(ValueError, match="no image of band"):
        load_probes(tmp_path, "g", 8)


def test_missing_folder_or_no_fits(tmp_path):
    with pytest.raises(FileNotFoundError, match="adam.probes.directory"):
        load_probes(tmp_path / "nowhere", "g", 8)
    with pytest.raises(ValueError, match="no FITS files"):
        load_probes(tmp_path, "g", 8)
