"""The PROBES loader and the score galaxies on small FITS files written by the test in the published
format (<galaxy>_<band>.fits, and one file per galaxy with EXTNAME bands)."""

import numpy as np
import pytest
from astropy.io import fits

from galprior.data.probes import galaxy_name, load_probes, read_band_image, rejection_reason
from galprior.models.score.data import score_galaxies_from_probes


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
    images, names = load_probes(tmp_path, "g", 16, crop=None, normalisation="unit_peak", clip_level=5.5)
    assert names == ["a", "b"]
    assert images.shape == (2, 16, 16) and images.dtype == np.float32
    np.testing.assert_allclose(images.max(axis=(1, 2)), 1.0)
    expected = _galaxy(16, 1.0)
    np.testing.assert_allclose(images[0], expected / expected.max(), rtol=1e-5)   # the g HDU, not r
    # b was averaged 32 -> 16 and still peaks off-centre (shift 2 px -> 1 px)
    assert np.unravel_index(images[1].argmax(), (16, 16))[1] > 7
    r_images, _ = load_probes(tmp_path, "r", 16, crop=None, normalisation="unit_peak", clip_level=5.5)
    assert r_images[0].argmax() != images[0].argmax()


def test_smith2022_crop_and_upsampling_of_the_published_format(tmp_path, write_probes):
    write_probes(tmp_path / "probes", n_galaxies=4, size=48, n_extname=1)
    raw = read_band_image(tmp_path / "probes" / "PROBES_0000_g.fits", "g")
    images, names = load_probes(tmp_path / "probes", "g", 64, crop=32, normalisation="smith2022", clip_level=5.5)
    assert names == [f"PROBES_{i:04d}" for i in range(4)] and galaxy_name("x/PROBES_0001_r.fits") == "PROBES_0001"
    assert images.shape == (4, 64, 64)
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.max() == 1.0   # cores saturate at 5.5
    # the central 32 pixels of the 48, each spread over 2 x 2 output pixels, clipped and mapped to [-1, 1]
    centre = raw[8:40, 8:40]
    expected = 2 * np.clip(centre, 0, 5.5) / 5.5 - 1
    np.testing.assert_allclose(images[0][::2, ::2], expected, atol=1e-6)
    with pytest.raises(ValueError, match="smaller than adam.probes.crop = 64"):
        load_probes(tmp_path / "probes", "g", 16, crop=64, normalisation="smith2022", clip_level=5.5)


def test_unusable_cut_outs_are_dropped_by_name(tmp_path, caplog, write_probes):
    write_probes(tmp_path, n_galaxies=3, size=16, n_extname=0)
    outside = _galaxy(16, 4.0)
    outside[:, :8] = 0.0   # half the cut-out outside the survey footprint
    fits.PrimaryHDU(outside).writeto(tmp_path / "edge_g.fits")
    broken = _galaxy(16, 4.0)
    broken[3, 3] = np.nan
    fits.PrimaryHDU(broken).writeto(tmp_path / "nan_g.fits")
    assert "exactly zero" in rejection_reason(outside) and rejection_reason(broken) == "non-finite pixels"
    images, names = load_probes(tmp_path, "g", 16, crop=None, normalisation="smith2022", clip_level=5.5)
    assert "edge" not in names and "nan" not in names and len(images) == 3
    assert "edge_g.fits: dropped" in caplog.text and "nan_g.fits: dropped" in caplog.text


def test_the_score_galaxy_splits_are_disjoint_and_seeded(tmp_path, write_probes):
    write_probes(tmp_path, n_galaxies=9, size=24)
    options = dict(band="g", crop=16, clip_level=5.5, split_sizes={"val": 2, "test": 3}, source_size=16,
                   normalisation="smith2022")
    sets = score_galaxies_from_probes(tmp_path, seed=4, **options)
    assert {k: len(v) for k, v in sets.items()} == {"train": 4, "val": 2, "test": 3}
    rows = np.concatenate([s.source_index for s in sets.values()])
    assert sorted(rows.tolist()) == list(range(9))
    again = score_galaxies_from_probes(tmp_path, seed=4, **options)
    assert again["test"].attrs["names"] == sets["test"].attrs["names"]
    np.testing.assert_array_equal(again["test"].images, sets["test"].images)
    for split, galaxies in sets.items():
        galaxies.save(tmp_path / f"{split}.zarr")
    with pytest.raises(ValueError, match=r"adam.probes.split_sizes .*need 12, only 9"):
        score_galaxies_from_probes(tmp_path, seed=4, **{**options, "split_sizes": {"val": 6, "test": 6}})


def test_a_file_without_the_band_is_named(tmp_path):
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(_galaxy(8, 1.0), name="R")]).writeto(tmp_path / "c.fits")
    with pytest.raises(ValueError, match="c.fits: no image of band 'g'"):
        read_band_image(tmp_path / "c.fits", "g")
    with pytest.raises(ValueError, match="no image of band"):
        load_probes(tmp_path, "g", 8, crop=None, normalisation="unit_peak", clip_level=5.5)


def test_missing_folder_or_no_fits(tmp_path):
    with pytest.raises(FileNotFoundError, match="adam.probes.directory"):
        load_probes(tmp_path / "nowhere", "g", 8, crop=None, normalisation="unit_peak", clip_level=5.5)
    with pytest.raises(ValueError, match="no FITS files"):
        load_probes(tmp_path, "g", 8, crop=None, normalisation="unit_peak", clip_level=5.5)
