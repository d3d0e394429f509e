"""EPL and external-shear deflections against lenstronomy (an independent code)."""

import math

import numpy as np
import pytest
import torch
from lenstronomy.LensModel.lens_model import LensModel

from galprior.lensing import EPL
from galprior.lensing.func import epl as epl_module
from galprior.lensing.func import build_epl_table, epl_angular_series, epl_deflection, epl_n_terms, shear_deflection


def _grid() -> tuple[np.ndarray, np.ndarray]:
    xs = np.linspace(-3.01, 3.03, 41)
    x, y = np.meshgrid(xs, xs)
    near = np.array([[1e-4, 3e-4], [-2e-4, 1e-5], [1e-3, -2e-3], [0.02, 0.01]])
    return np.concatenate([x.ravel(), near[:, 0]]), np.concatenate([y.ravel(), near[:, 1]])


def _t(v):
    return torch.as_tensor(v, dtype=torch.float64)


@pytest.mark.parametrize("q", [0.2, 0.5, 0.8, 1.0])
@pytest.mark.parametrize("slope", [1.3, 1.7, 2.0, 2.4, 2.8])
def test_epl_plus_shear_matches_lenstronomy(q, slope):
    x, y = _grid()
    model = LensModel(["EPL", "SHEAR"])
    for phi, (x0, y0), (g1, g2) in [(0.0, (0.0, 0.0), (0.0, 0.0)), (0.7, (0.11, -0.07), (0.03, -0.05)),
                                     (2.3, (-0.2, 0.15), (-0.04, 0.02))]:
        e1, e2 = (1 - q) / (1 + q) * math.cos(2 * phi), (1 - q) / (1 + q) * math.sin(2 * phi)
        kw = [dict(theta_E=1.3, gamma=slope, e1=e1, e2=e2, center_x=x0, center_y=y0), dict(gamma1=g1, gamma2=g2)]
        ax, ay = model.alpha(x, y, kw)
        bx, by = epl_deflection(_t(x), _t(y), _t(1.3), _t(slope), _t(q), _t(phi), _t(x0), _t(y0))
        sx, sy = shear_deflection(_t(x), _t(y), _t(g1), _t(g2))
        assert np.abs((bx + sx).numpy() - ax).max() < 1e-6
        assert np.abs((by + sy).numpy() - ay).max() < 1e-6


@pytest.mark.parametrize("q", [0.3, 0.9])
def test_sie_is_slope_two(q):
    x, y = _grid()
    phi = 1.1
    e1, e2 = (1 - q) / (1 + q) * math.cos(2 * phi), (1 - q) / (1 + q) * math.sin(2 * phi)
    ax, ay = LensModel(["SIE"]).alpha(x, y, [dict(theta_E=1.5, e1=e1, e2=e2, center_x=0.1, center_y=0.2)])
    bx, by = epl_deflection(_t(x), _t(y), _t(1.5), _t(2.0), _t(q), _t(phi), _t(0.1), _t(0.2))
    assert np.abs(bx.numpy() - ax).max() < 1e-6 and np.abs(by.numpy() - ay).max() < 1e-6


def test_shear_matches_lenstronomy():
    x, y = _grid()
    ax, ay = LensModel(["SHEAR"]).alpha(x, y, [dict(gamma1=0.07, gamma2=-0.03)])
    bx, by = shear_deflection(_t(x), _t(y), _t(0.07), _t(-0.03))
    assert np.abs(bx.numpy() - ax).max() < 1e-12 and np.abs(by.numpy() - ay).max() < 1e-12


def test_circular_case_is_exact_and_finite():
    """q = 1: one term, deflection of the circular power law r_E^(t) r^(1-t) radially."""
    x, y = _t([0.3, -1.2, 2.0]), _t([0.4, 0.5, -0.1])
    slope = 2.4
    ax, ay = epl_deflection(x, y, _t(1.2), _t(slope), _t(1.0), _t(0.3))
    r = torch.hypot(x, y)
    mag = 1.2 ** (slope - 1) * r ** (2 - slope)
    torch.testing.assert_close(ax, mag * x / r)
    torch.testing.assert_close(ay, mag * y / r)
    assert epl_n_terms(1.0) == 0


def test_series_truncation_bound():
    """The chosen term count meets its bound against a 4x longer series (q = 0.2)."""
    q, t = 0.2, 1.6
    f = (1 - q) / (1 + q)
    eta = torch.linspace(-math.pi, math.pi, 721, dtype=torch.float64)
    w = -f * torch.polar(torch.ones_like(eta), 2 * eta)
    n = epl_n_terms(q, torch.float64)
    ref = epl_angular_series(w, _t(t), 4 * n)
    assert (epl_angular_series(w, _t(t), n) - ref).abs().max() < 1e-9
    n32 = epl_n_terms(q, torch.float32)
    assert n32 < n
    assert (epl_angular_series(w, _t(t), n32) - ref).abs().max() < 1e-6


def test_float32_close_to_float64():
    x, y = _grid()
    args = (1.3, 2.2, 0.4, 0.8, 0.05, 0.02)
    a64 = epl_deflection(_t(x), _t(y), *map(_t, args))
    f32 = lambda v: torch.as_tensor(v, dtype=torch.float32)  # noqa: E731
    a32 = epl_deflection(f32(x), f32(y), *map(f32, args))
    assert a32[0].dtype == torch.float32
    far = np.hypot(x, y) > 0.05
    for a, b in zip(a32, a64):
        assert (a.double() - b).abs()[far].max() < 1e-5


def test_batched_class_matches_single():
    x, y = np.meshgrid(np.linspace(-2, 2, 9), np.linspace(-2, 2, 9) + 0.013)
    x, y = _t(x), _t(y)
    p = _t([[1.2, 1.9, 0.5, 0.3, 0.1, 0.0], [1.6, 2.3, 0.9, -1.0, -0.1, 0.2]])
    ax, ay = EPL().deflection(x, y, *p.T)
    assert ax.shape == (2, 9, 9)
    for i in range(2):
        sx, sy = epl_deflection(x, y, *p[i])
        torch.testing.assert_close(ax[i], sx, rtol=0, atol=1e-10)
        torch.testing.assert_close(ay[i], sy, rtol=0, atol=1e-10)


def test_gradcheck_epl_parameters():
    x = _t([[0.3, -1.1, 1.7], [0.9, 0.2, -0.6]])
    y = _t([[0.5, 0.8, -0.4], [-1.3, 0.05, 1.0]])
    for q0 in (0.45, 1.0):
        params = _t([1.3, 2.2, q0, 0.6, 0.05, -0.02]).requires_grad_()

        def fn(p):
            ax, ay = epl_deflection(x, y, *p, n_terms=80)
            return torch.stack([ax, ay])

        assert torch.autograd.gradcheck(fn, (params,))


def test_table_interpolation_error():
    """Measure the Appendix-A table against the exact series (numbers in func/epl.py)."""
    table = build_epl_table()
    gen = torch.Generator().manual_seed(0)
    n = 20000
    eta = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    q = 0.2 + 0.8 * torch.rand(n, generator=gen, dtype=torch.float64)
    g = 1.2 + 1.6 * torch.rand(n, generator=gen, dtype=torch.float64)
    approx = table.angular(eta[None], q[None], g[None])[0]
    f = (1 - q) / (1 + q)
    unit = torch.polar(torch.ones_like(eta), eta)
    exact = unit * epl_angular_series(-f * unit * unit, g - 1, epl_n_terms(0.2))
    err = (approx - exact).abs()
    assert err.max() < 3e-3
    assert err.median() < 5e-5
    # the full deflection through the table agrees to the same order
    xx, yy = _t([[0.7, -1.3]]), _t([[0.4, 0.9]])
    exact_a = epl_deflection(xx, yy, _t(1.0), _t(2.1), _t(0.6), _t(0.2))
    table_a = epl_deflection(xx, yy, _t(1.0), _t(2.1), _t(0.6), _t(0.2), table=table)
    assert max((a - b).abs().max() for a, b in zip(exact_a, table_a)) < 5e-3


# --- gradients of the series: one-pass derivatives against plain autograd ---------------

def _reference_series(w, t, n_terms=None):
    """2F1(1, t/2; 2 - t/2; w) summed term by term with explicit powers (autograd only).
    n_terms None: lens by lens (leading dimension) with the count the module picks for
    that lens's |w| = f (float64)."""
    if n_terms is None:
        rows = []
        for i in range(w.shape[0]):
            f = float(w[i].detach().abs().max())
            count = epl_n_terms((1 - f) / (1 + f), torch.float64) + epl_module._DERIVATIVE_TERMS
            rows.append(_reference_series(w[i], t[i] if t.ndim == w.ndim else t, count))
        return torch.stack(rows)
    total = torch.zeros(torch.broadcast_shapes(w.shape, t.shape), dtype=w.dtype)
    coeff, power = torch.ones_like(t), torch.ones_like(w)
    for k in range(n_terms + 1):
        if k > 0:
            coeff = coeff * (t + (2 * k - 2)) / ((2 * k + 2) - t)
            power = power * w
        total = total + coeff * power
    return total


def _series_inputs(t_shape):
    gen = torch.Generator().manual_seed(3)
    f = _t([0.62, 0.25]).reshape(2, 1, 1)
    eta = torch.rand(2, 3, 4, generator=gen, dtype=torch.float64) * 2 * math.pi
    w = (-f * torch.polar(torch.ones_like(eta), 2 * eta)).requires_grad_()
    t = (0.6 + 1.2 * torch.rand(t_shape, generator=gen, dtype=torch.float64)).requires_grad_()
    return w, t


@pytest.mark.parametrize("block", [16384, 5])
@pytest.mark.parametrize("t_shape", [(2, 1, 1), (1, 3, 1), (2, 3, 4), ()])
def test_angular_series_gradcheck(monkeypatch, block, t_shape):
    """First and second derivatives in w (complex) and t (real, broadcast) by finite differences."""
    monkeypatch.setattr(epl_module, "_BLOCK_ELEMENTS", block)  # 5: many row and pixel blocks
    w, t = _series_inputs(t_shape)
    fn = lambda w_, t_: epl_angular_series(w_, t_, 25)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (w, t))
    assert torch.autograd.gradgradcheck(fn, (w, t))
    torch.testing.assert_close(fn(w, t), _reference_series(w, t, 25), rtol=0, atol=1e-14)


def test_angular_series_only_needed_derivatives():
    """w alone, t alone, or neither requiring grad gives the same values and gradients."""
    w, t = _series_inputs((2, 1, 1))
    weights = torch.randn(2, 3, 4, dtype=torch.complex128, generator=torch.Generator().manual_seed(1))
    ref_w, ref_t = torch.autograd.grad(_reference_series(w, t, 30), (w, t), weights)
    (gw,) = torch.autograd.grad(epl_angular_series(w, t.detach(), 30), (w,), weights)
    (gt,) = torch.autograd.grad(epl_angular_series(w.detach(), t, 30), (t,), weights)
    torch.testing.assert_close(gw, ref_w, rtol=0, atol=1e-13)
    torch.testing.assert_close(gt, ref_t, rtol=0, atol=1e-13)
    with torch.no_grad():
        torch.testing.assert_close(epl_angular_series(w, t, 30), _reference_series(w, t, 30), rtol=0, atol=1e-14)


def _lens_batch():
    xs = torch.linspace(-2.1, 2.3, 7, dtype=torch.float64)
    y, x = torch.meshgrid(xs + 0.017, xs, indexing="ij")
    params = _t([[1.3, 1.6, 0.8], [2.1, 2.45, 1.7], [0.3, 0.75, 1.0], [0.4, -1.2, 2.5],
                 [0.05, -0.1, 0.2], [-0.02, 0.15, 0.0]])  # r_E, slope, q, phi, x0, y0 by lens
    return x, y, params


def _weighted_deflection(x, y, params):
    p = params.reshape(6, 3, 1, 1)
    ax, ay = epl_deflection(x, y, *p)
    gen = torch.Generator().manual_seed(7)
    return (torch.randn(ax.shape, generator=gen, dtype=torch.float64) * ax).sum() + (
        torch.randn(ay.shape, generator=gen, dtype=torch.float64) * ay).sum()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_per_lens_series_length_is_as_accurate_as_a_long_series(dtype):
    """Each lens summed with its own count (q = 0.3, 0.75 and exactly 1 in one batch):
    deflection and its gradient in every lens parameter (q of the round lens included,
    where H alone needs no term) agree with 120 terms for every lens."""
    x, y, params = _lens_batch()
    x, y, params = x.to(dtype), y.to(dtype), params.to(dtype)

    def deflection_and_gradient(n_terms):
        p = params.clone().requires_grad_()
        ax, ay = epl_deflection(x, y, *p.reshape(6, 3, 1, 1), n_terms=n_terms)
        (grad,) = torch.autograd.grad((ax * x + ay * y.exp()).sum(), p)
        return torch.stack([ax, ay]).detach(), grad

    (a, g), (a_ref, g_ref) = deflection_and_gradient(None), deflection_and_gradient(120)
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    assert (a - a_ref).abs().max() < tol * a_ref.abs().max()
    assert (g - g_ref).abs().max() < tol * g_ref.abs().max()
    assert g_ref[2, 2].abs() > 1e-2  # the round lens's q matters


def test_deflection_gradients_match_plain_series(monkeypatch):
    """Gradient and Hessian in all lens parameters: one-pass series vs plain autograd series."""
    x, y, params = _lens_batch()
    loss = lambda p: _weighted_deflection(x, y, p)  # noqa: E731
    fast = params.clone().requires_grad_()
    (grad_fast,) = torch.autograd.grad(loss(fast), fast)
    hess_fast = torch.autograd.functional.hessian(loss, params)
    monkeypatch.setattr(epl_module, "epl_angular_series", _reference_series)
    slow = params.clone().requires_grad_()
    (grad_slow,) = torch.autograd.grad(loss(slow), slow)
    hess_slow = torch.autograd.functional.hessian(loss, params)
    inert = torch.zeros_like(params, dtype=torch.bool)
    inert[3, 2] = True  # the position angle of the round (q = 1) lens
    assert (grad_slow.abs() > 1e-3).eq(~inert).all()  # every other parameter matters
    torch.testing.assert_close(grad_fast, grad_slow, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(hess_fast, hess_slow, rtol=1e-10, atol=1e-10)

