"""The real-DES loader (im3shape catalogue + per-band FITS cutouts) on files made here."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from galprior.data.des import Im3shapeColumns, load_des_cutouts, read_im3shape_catalogue
from galprior.data.moments import moment_ellipticity

COLUMNS = Im3shapeColumns(id="coadd_objects_id", ra="ra", dec="dec", e1="e1", e2="e2", snr="snr_w")


@pytest.mark.parametrize("east_left", [True, False])
def test_loader_cuts_crops_and_puts_e_in_the_pixel_frame(tmp_path, east_left, write_des_files):
    catalogue_path, cutouts = write_des_files(tmp_path, east_left)
    catalogue = read_im3shape_catalogue(catalogue_path, COLUMNS, snr_min=20)
    assert list(catalogue["coadd_objects_id"]) == [11, 12, 15]  # snr cut and invalid e removed
    images, e, ids = load_des_cutouts(cutouts, catalogue, COLUMNS, "{id}_{band}.fits", 45)
    assert images.shape == (2, 5, 45, 45) and list(ids) == [11, 12]
    # the labels are the ellipticities measured in pixel coordinates on the images
    np.testing.assert_allclose(moment_ellipticity(images[:, 1]), e, atol=0.02)
    sign = -1 if east_left else 1
    np.testing.assert_allclose(e, [[0.3, sign * 0.2], [-0.1, sign * 0.4]], atol=1e-6)


def test_loader_errors(tmp_path, write_des_files):
    Table({"ra": [1.0], "dec": [2.0]}).write(tmp_path / "bad.fits")
    with pytest.raises(ValueError, match="lacks columns"):
        read_im3shape_catalogue(tmp_path / "bad.fits", COLUMNS, 20)
    with pytest.raises(FileNotFoundError, match="nguyen.des.real"):
        read_im3shape_catalogue(tmp_path / "absent.fits", COLUMNS, 20)
    catalogue_path, cutouts = write_des_files(tmp_path, True)
    catalogue = read_im3shape_catalogue(catalogue_path, COLUMNS, 20)
    with pytest.raises(ValueError, match="smaller than"):
        load_des_cutouts(cutouts, catalogue, COLUMNS, "{id}_{band}.fits", 71)
