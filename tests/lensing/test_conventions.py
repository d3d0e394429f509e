"""The Einstein-radius convention of Chianese et al. 2020 eqs. 11-12 (major axis) against
lenstronomy's theta_E (intermediate axis), and the source scale of eq. 17."""

import math

import numpy as np
import pytest
import torch
from lenstronomy.LensModel.lens_model import LensModel
from lenstronomy.Util.param_util import phi_q2_ellipticity

from galprior.lensing import LensSimulator
from galprior.lensing.func import lenstronomy_einstein_radius, paper_einstein_radius
from galprior.lensing.simulator import intermediate_axis_einstein_radius


@pytest.mark.parametrize("q, slope", [(0.5, 2.0), (0.7, 1.6), (0.35, 2.4)])
def test_paper_einstein_radius_is_the_major_axis_of_the_kappa_contour(q, slope):
    """Eq. 11: kappa = (3 - gamma)/2 exactly at rho = r_Ein, i.e. at distance r_Ein along the
    major axis and q r_Ein along the minor axis. lenstronomy's kappa with
    theta_E = sqrt(q) r_Ein gives that value there (and not with theta_E = r_Ein)."""
    r_ein, phi = 1.4, 0.3
    theta_e = float(lenstronomy_einstein_radius(torch.tensor(r_ein), torch.tensor(q)))
    assert theta_e == pytest.approx(math.sqrt(q) * r_ein)
    e1, e2 = phi_q2_ellipticity(phi, q)
    model = LensModel(["EPL"])
    major = np.array([math.cos(phi), math.sin(phi)])
    minor = np.array([-math.sin(phi), math.cos(phi)])
    for point in (r_ein * major, q * r_ein * minor):
        kw = [{"theta_E": theta_e, "gamma": slope, "e1": e1, "e2": e2, "center_x": 0.0, "center_y": 0.0}]
        assert float(model.kappa(point[0], point[1], kw)) == pytest.approx((3 - slope) / 2, rel=1e-6)
        kw[0]["theta_E"] = r_ein
        assert float(model.kappa(point[0], point[1], kw)) != pytest.approx((3 - slope) / 2, rel=1e-2)
    assert float(paper_einstein_radius(torch.tensor(theta_e), torch.tensor(q))) == pytest.approx(r_ein)


def test_simulator_in_the_paper_convention_is_lenstronomy_with_converted_theta_e():
    """Deflections of the chianese2020 simulator equal lenstronomy's EPL + shear with
    theta_E = sqrt(q) r_Ein on an elliptical lens (q = 0.55), to 1e-9 arcsec."""
    r_ein, slope, q, phi, x0, y0, g1, g2 = 1.3, 2.2, 0.55, 0.7, 0.05, -0.1, 0.03, -0.02
    sim = LensSimulator(32, 0.1, dtype=torch.float64, parameter_convention="chianese2020")
    lens = torch.tensor([[r_ein, slope, q, phi, x0, y0, g1, g2]], dtype=torch.float64)
    ax, ay = sim.deflection(lens)
    e1, e2 = phi_q2_ellipticity(phi, q)
    model = LensModel(["EPL", "SHEAR"])
    kw = [{"theta_E": math.sqrt(q) * r_ein, "gamma": slope, "e1": e1, "e2": e2, "center_x": x0, "center_y": y0},
          {"gamma1": g1, "gamma2": g2, "ra_0": 0.0, "dec_0": 0.0}]
    rx, ry = model.alpha(sim.theta_x.numpy().ravel(), sim.theta_y.numpy().ravel(), kw)
    np.testing.assert_allclose(ax[0].numpy().ravel(), rx, atol=1e-9)
    np.testing.assert_allclose(ay[0].numpy().ravel(), ry, atol=1e-9)


def test_eq17_scale_maps_the_stamp_onto_minus_s_to_s():
    """A one-pixel-wide stamp edge lands at |beta - beta_src| = s (not s / 2): the source
    square of the chianese2020 convention has side 2 s."""
    from galprior.lensing.products import source_plane_image

    stamp = np.zeros((1, 8, 8), np.float32)
    stamp[0, :, 7] = 1.0  # last column: centre at (7.5 / 8 - 1/2) * side = 0.4375 side
    s = 2.0
    plane = source_plane_image(stamp, np.array([[1.0, s, 0.0, 0.0]]), size=8.0, n_pix=80)
    columns = np.nonzero(plane[0].max(axis=0) > 0.99)[0]
    x = (columns + 0.5) * 0.1 - 4.0
    assert x.mean() == pytest.approx(0.4375 * 2 * s, abs=0.06)


def test_intermediate_axis_einstein_radius_reads_r_ein_and_q_columns_of_a_parameter_table():
    """The tables' helper converts each row of a (..., 8) lens-parameter array in
    LENS_PARAMETER_NAMES order: theta_E = sqrt(q) r_Ein, so q = 0.64 gives 0.8 r_Ein and the
    other columns (slope 2.9, say) play no part."""
    rows = np.array([[[2.0, 2.9, 0.64, 0.3, 0.1, -0.1, 0.02, 0.01],
                      [1.5, 1.3, 1.00, 2.0, 0.0, 0.00, 0.00, 0.00]]])
    assert intermediate_axis_einstein_radius(rows) == pytest.approx(np.array([[1.6, 1.5]]), rel=1e-12)
