r"""Deflection of the elliptical power-law (EPL / SPLE) lens, as pure torch functions.

Why our own code: the inference loop needs the deflection batched over lens systems,
in float32 *and* float64, differentiable by autograd in every parameter, and fast on a
CPU. lenstronomy's ``EPL`` is numpy + ``scipy.special.hyp2f1`` (no autograd, no
batching); caustics' ``EPL`` is torch but uses a fixed 18-term series (inaccurate
for q < 0.5: its error grows like ((1-q)/(1+q))^18) and is slower than this code
(see ``benchmarks/bench_lensing.py``).

Physics (Tessore & Metcalf 2015, A&A 580, A79; Chianese et al. 2020 section 3):
the convergence is

.. math:: \kappa = \frac{3-\gamma}{2}\left(\frac{r_{\rm Ein}}{\sqrt{q x^2 + y^2/q}}\right)^{\gamma-1}

in the frame aligned with the major axis, i.e. exactly lenstronomy's ``EPL`` with
``theta_E = einstein_radius`` (the "intermediate-axis" normalisation: the critical
radius of Tessore & Metcalf is ``b = r_Ein * sqrt(q)``), ``t = gamma - 1``,
``e1 = (1-q)/(1+q) cos 2 phi``, ``e2 = (1-q)/(1+q) sin 2 phi``. With ``Z = q x + i y``,
``R = |Z|`` and ``f = (1-q)/(1+q)``,

.. math:: \alpha^* \!=\! \frac{2 b}{1+q}\left(\frac{b}{R}\right)^{t-1} \frac{Z}{R}\,
          {}_2F_1\!\left(1, \tfrac{t}{2}; 2-\tfrac{t}{2}; -f\,\tfrac{Z}{Z^*}\right)

(written as ``alpha_x + i alpha_y`` in the rotated frame). The hypergeometric
function on the unit circle is the power series ``H(w) = sum_k a_k w^k`` with
``w = -f Z/Z^*`` (``|w| = f``), ``a_0 = 1`` and
``a_k = a_{k-1} (2k - 2 + t) / (2k + 2 - t)`` (Tessore & Metcalf eq. 29). For
``t < 2`` (slope < 3) every ``|a_k| <= 1`` so the truncation error after ``N`` terms
is bounded by ``f^(N+1) / (1 - f)``. We evaluate the series with Horner's rule
(see below for its gradients) and choose the number of terms for each lens of the
batch from its own ``f`` (``|w| = f`` on a whole row of pixels): ``N`` is the smallest
integer with ``f^(N+1)/(1-f) <= tol``, ``tol = 1e-11`` (float64) or ``1e-7``
(float32) (a host-side maximum of ``|w|`` per lens; the count is not differentiated, the
result is). Lenses with the same count are summed together. Taking one count for the
whole batch, from its flattest lens, cost every lens of a MAP batch (restarts spread
over the prior, q down to ~0.2) that lens's 20-40 terms where a lens at q = 0.8 needs 7:
for 16 lenses with q spread over [0.2, 1] every lens took 42 terms, and now takes 16.5 on
average (44 at most, with the two for the derivatives); the forward + backward pass takes
86 ms instead of 114 ms (float32, one thread, ``benchmarks/bench_epl.py --rev 4e57302``;
gradients equal to 3e-7 relative). At q = 1, f = 0 and the series is its first
term (the circular power law) exactly. For q >= 0.2 this gives 65 terms in float64
(bound 1e-11) and 42 in float32; for q = 0.7 it gives 14 and 9. (Since ``a_k`` is
positive, non-increasing in k and increasing in t for 0 < t <= 2, the bound
``a_{N+1}(t_max) f^(N+1)/(1-f)`` with the batch's largest slope is also rigorous and
needs fewer terms, 37 instead of 42 in float32 at slope 2.5, but it saved only ~3 % of
the forward + backward time and made the float64 deflection ~3x less accurate in
practice, so it is not used.) Measured agreement
with lenstronomy 1.14 (scipy hyp2f1) in float64 over q in {0.2, 0.5, 0.8, 1}, gamma in
{1.3, 1.7, 2.0, 2.4, 2.8}, three position angles, an off-centre lens and a 6 x 6 arcsec
grid with points 1e-4 arcsec from the centre: max |Delta alpha| = 8.8e-11 arcsec beyond
0.01 arcsec of the centre and 2.7e-9 arcsec closer in (gamma = 2.8, where the radial
factor (b/R)^(t-1) magnifies the series' error).

Gradients of the series (:class:`_AngularSeries`): autograd through a Horner loop keeps
every partial sum and, the coefficients being per lens (B, 1, 1) against pixels
(B, H, W), reduces over all pixels once per term in the backward pass. Instead one
forward pass runs three Horner recurrences side by side, for ``H``, for the holomorphic
derivative ``dH/dw = sum_k k a_k w^(k-1)`` and for ``dH/dt = sum_k a_k'(t) w^k`` with
``a_k' = a_{k-1}' r_k + a_{k-1} r_k'``, ``r_k = (2k-2+t)/(2k+2-t)``,
``r_k' = 4k/(2k+2-t)^2`` (no division by ``t``), over blocks of about 16k pixels so
that the partial sums stay in the CPU cache. Only ``dH/dw`` and ``dH/dt`` are kept, and
the backward pass is two elementwise products and one sum: with PyTorch's convention
for complex gradients (the incoming gradient ``g`` is dL/dRe H + i dL/dIm H),
``grad_w = g conj(dH/dw)`` (H is holomorphic in w) and
``grad_t = Re sum g conj(dH/dt)`` over the dimensions along which t was broadcast.
Second derivatives are needed (:func:`galprior.inference.hmc.laplace_hessian` takes
the Hessian of the posterior through the deflection): a backward pass run with
``create_graph=True`` (grad mode is on inside ``backward`` exactly then) builds the
gradient from :class:`_SeriesDerivatives`, whose own backward takes ``d^2H/dw^2``,
``d^2H/dw dt`` and ``d^2H/dt^2`` from one more Horner pass (with
``a_k'' = a_{k-1}'' r_k + 2 a_{k-1}' r_k' + a_{k-1} r_k''``, ``r_k'' = 8k/(2k+2-t)^3``).
Double backward is exact; before, it went through the plain autograd Horner loop, and
the Hessian of the quick MAP's preconditioner (16 posteriors on 128^2, 2 threads) took
8.3-10.9 s instead of 7.0 s. Forward + backward of
:func:`epl_deflection` for 16 lenses (q in [0.2, 1]) on a 256 x 256 grid in float32,
one CPU thread: 0.63-0.77 s with the autograd loop, 0.20 s with the one-pass gradients
(``benchmarks/bench_epl.py``, best of 7 on a shared 2-core Xeon; one count for the batch).

Optional table method (Chianese et al. 2020, Appendix A): the angular function
``Omega(eta; q, t) = e^{i eta} H(-f e^{2 i eta})`` (with ``Z = R e^{i eta}``) is
precomputed on a regular (eta, q, t) grid and interpolated trilinearly with
``torch.nn.functional.grid_sample``; the radial part is the exact scaling relation
``(b/R)^(t-1)``. Measured error of the default table (``build_epl_table()``: 512 angles x 64 axis
ratios in [0.2, 1] x 32 slopes in [1.2, 2.8], float64, 8 MB) against the exact series
over 20,000 uniform random (eta, q, gamma) in that box: max |Delta Omega| = 1.5e-3,
99th percentile 2.0e-4, median 2.0e-5; Omega is of order one, so the deflection
error is ~1e-3 x r_Ein at worst (q near 0.2, close to the major axis, where Omega
varies fastest). A 1024 x 64 x 64 table gives max 9.0e-4 / median 7.1e-6 but takes
~5x longer to build. ``tests/lensing/test_epl.py::test_table_interpolation_error``
re-measures it. The exact series is both more accurate and, on CPU, about as fast,
so it is the default.

Units: positions and ``einstein_radius`` in arcsec, ``position_angle`` in radians
(counter-clockwise from the x axis, lenstronomy's ``phi``), ``slope`` and
``axis_ratio`` unitless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "lenstronomy_einstein_radius",
    "paper_einstein_radius",
    "epl_n_terms",
    "epl_angular_series",
    "epl_deflection",
    "EPLTable",
    "build_epl_table",
]

#: Truncation tolerance of the hypergeometric series (bound on |H - H_N|) per dtype.
SERIES_TOLERANCE = {torch.float64: 1e-11, torch.float32: 1e-7}
_MAX_TERMS = 2000
_R_MIN = 1e-12  # arcsec; only used to keep the exact centre finite


def epl_n_terms(min_axis_ratio: float, dtype: torch.dtype = torch.float64, tol: float | None = None) -> int:
    """Number of series terms after a_0 needed for truncation error <= tol.

    Parameters
    ----------
    min_axis_ratio: smallest axis ratio q of the lenses summed with this count. Unit: unitless.
    dtype: float32 or float64; picks the default tolerance ``SERIES_TOLERANCE``.
    tol: bound on |H - H_N| (H is of order one).
    """
    q = min(max(float(min_axis_ratio), 1e-6), 1.0)
    return _terms_for_modulus((1.0 - q) / (1.0 + q), SERIES_TOLERANCE.get(dtype, 1e-11) if tol is None else tol)


def _terms_for_modulus(f: float, tol: float) -> int:
    """Smallest N with f^(N+1) / (1 - f) <= tol: the series' count at |w| = f < 1."""
    if f < 1e-15:
        return 0
    n = math.ceil(math.log(tol * (1.0 - f)) / math.log(f)) - 1
    return int(min(max(n, 0), _MAX_TERMS))


#: Pixels per block of the Horner recurrences: a few complex blocks of this size
#: stay in a CPU core's L2 cache (measured 1.5x faster than whole-batch passes).
_BLOCK_ELEMENTS = 16384
#: Terms added to each lens's own count (see :func:`_row_groups`).
_DERIVATIVE_TERMS = 2


def _coefficients(t: Tensor, n_terms: int, t_order: int) -> Tensor:
    """(n_terms + 1, t_order + 1, *t.shape): a_k(t) and its first ``t_order`` (<= 2)
    derivatives in t (``a_k' = a_{k-1}' r_k + a_{k-1} r_k'``,
    ``a_k'' = a_{k-1}'' r_k + 2 a_{k-1}' r_k' + a_{k-1} r_k''``)."""
    orders = [[torch.ones_like(t)]] + [[torch.zeros_like(t)] for _ in range(t_order)]
    for k in range(1, n_terms + 1):
        den = 2 * k + 2 - t
        ratio = (2 * k - 2 + t) / den
        if t_order >= 2:
            orders[2].append(orders[2][-1] * ratio + orders[1][-1] * (8 * k / (den * den))
                             + orders[0][-1] * (8 * k / (den * den * den)))
        if t_order >= 1:
            orders[1].append(orders[1][-1] * ratio + orders[0][-1] * (4 * k / (den * den)))
        orders[0].append(orders[0][-1] * ratio)
    return torch.stack([torch.stack(a) for a in orders], dim=1)


def _rows(w: Tensor, t: Tensor) -> tuple[torch.Size, Tensor, Tensor]:
    """The broadcast shape of w and t, and (rows, inner) views of both in which t is
    constant along ``inner``: one row per lens (the leading dimensions, at least all
    but the last two: a slope shared by every lens still gives one row per lens)."""
    shape = torch.broadcast_shapes(w.shape, t.shape)
    nd = len(shape)
    t = t.reshape((1,) * (nd - t.ndim) + tuple(t.shape))
    split = max([i + 1 for i in range(nd) if t.shape[i] != 1] + [nd - 2, 0])
    rows, inner = math.prod(shape[:split]), math.prod(shape[split:])
    w2 = w.expand(shape).reshape(rows, inner)
    t2 = t.expand(tuple(shape[:split]) + t.shape[split:]).reshape(rows, 1)
    return shape, w2, t2


def _row_groups(w2: Tensor, n_terms: int | None) -> list[tuple[int, Tensor | None]]:
    """(count, rows) pairs: the rows summed with each count; rows None means all of them.

    ``n_terms`` None: each row (lens) gets the count of its own largest ``|w|`` (= f)
    and the dtype's ``SERIES_TOLERANCE``, plus ``_DERIVATIVE_TERMS``: the truncation
    errors of dH/dw and d^2H/dw^2 carry factors k and k^2, and at f = 0 (q = 1) they
    are a_1 and 2 a_2, not 0 (H alone would need no term there, and the gradient in q
    would vanish).
    """
    if n_terms is not None:
        return [(n_terms, None)]
    tol = SERIES_TOLERANCE.get(w2.real.dtype, 1e-11)
    moduli = w2.detach().abs().amax(dim=1).tolist() if w2.shape[1] else [0.0] * w2.shape[0]
    counts = [_terms_for_modulus(min(f, 1.0 - 1e-12), tol) + _DERIVATIVE_TERMS for f in moduli]
    if len(set(counts)) == 1:
        return [(counts[0], None)]
    groups: dict[int, list[int]] = {}
    for row, count in enumerate(counts):
        groups.setdefault(count, []).append(row)
    return [(count, torch.as_tensor(rows, device=w2.device)) for count, rows in sorted(groups.items())]


def _horner(w: Tensor, t: Tensor, n_terms: int | None, t_order: int, w_orders: tuple[int, ...]) -> list[Tensor]:
    """Derivatives of H of the broadcast shape of w and t: ``d^m/dw^m d^j/dt^j H`` for
    j = 0..t_order and m = 0..w_orders[j] (``w_orders`` non-increasing, at most 2), in
    that order. One Horner recurrence per coefficient sequence a^(j) and w-derivative;
    works on the (rows, inner) view of :func:`_rows`, each group of rows of
    :func:`_row_groups` with its own count, in blocks of about ``_BLOCK_ELEMENTS``
    elements; no autograd.
    """
    shape, w_all, t_all = _rows(w, t)
    n_first = sum(1 for m in w_orders if m >= 1)  # sequences with a first w-derivative
    n_second = sum(1 for m in w_orders if m >= 2)
    keys = [(j, m) for j in range(t_order + 1) for m in range(w_orders[j] + 1)]
    outs = {key: torch.empty(w_all.shape, dtype=w.dtype, device=w.device) for key in keys}
    groups = _row_groups(w_all, n_terms)
    coeffs_all = _coefficients(t_all, max(count for count, _ in groups), t_order).to(w.dtype)  # (N+1, J, rows, 1)
    for count, index in groups:
        w2 = w_all if index is None else w_all[index]
        coeffs_group = coeffs_all[:count + 1] if index is None else coeffs_all[:count + 1, :, index]
        rows, inner = w2.shape
        parts = {key: torch.empty_like(w2) for key in keys} if index is not None else outs
        row_block = min(rows, _BLOCK_ELEMENTS)
        width = max(1, _BLOCK_ELEMENTS // row_block)
        for r0 in range(0, rows, row_block):
            coeffs = coeffs_group[:, :, r0:r0 + row_block]
            for c0 in range(0, inner, width):
                wb = w2[r0:r0 + row_block, c0:c0 + width]
                value = coeffs[count].expand((-1,) + tuple(wb.shape)).clone()  # every sequence's sum
                first = wb.new_zeros((n_first,) + tuple(wb.shape))
                half_second = wb.new_zeros((n_second,) + tuple(wb.shape))  # p''/2
                for k in range(count - 1, -1, -1):
                    if n_second:
                        half_second = torch.addcmul(first[:n_second], half_second, wb)
                    if n_first:
                        first = torch.addcmul(value[:n_first], first, wb)
                    value = torch.addcmul(coeffs[k], value, wb)
                blocks = {(j, 0): value[j] for j in range(t_order + 1)}
                blocks.update({(j, 1): first[j] for j in range(n_first)})
                blocks.update({(j, 2): 2 * half_second[j] for j in range(n_second)})
                for key in keys:
                    parts[key][r0:r0 + row_block, c0:c0 + width] = blocks[key]
        if index is not None:
            for key in keys:
                outs[key][index] = parts[key]
    return [outs[key].reshape(shape) for key in keys]


class _SeriesDerivatives(torch.autograd.Function):
    """(dH/dw, dH/dt) of (w, t), differentiable once more with second derivatives from
    one Horner pass: what the gradient of :class:`_AngularSeries` is built from when it
    must itself be differentiated (a Hessian of the lens posterior)."""

    @staticmethod
    def forward(ctx, w: Tensor, t: Tensor, n_terms: int | None) -> tuple[Tensor, Tensor]:
        _, dh_dw, dh_dt = _horner(w, t, n_terms, 1, (1, 0))
        ctx.n_terms = n_terms
        ctx.save_for_backward(w, t)
        return dh_dw, dh_dt

    @staticmethod
    def backward(ctx, grad_dw: Tensor, grad_dt: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        if torch.is_grad_enabled():
            raise NotImplementedError("third derivatives of the EPL angular series are not implemented")
        w, t = ctx.saved_tensors
        # d2H/dw2, d2H/dw dt, d2H/dt2 (dH/dw and dH/dt are holomorphic in w)
        _, _, h_ww, _, h_wt, h_tt = _horner(w, t, ctx.n_terms, 2, (2, 1, 0))
        grad_w = grad_dw * h_ww.conj() + grad_dt * h_wt.conj() if ctx.needs_input_grad[0] else None
        grad_t = None
        if ctx.needs_input_grad[1]:
            grad_t = (grad_dw * h_wt.conj() + grad_dt * h_tt.conj()).real.sum_to_size(t.shape)
        return grad_w, grad_t, None


class _AngularSeries(torch.autograd.Function):
    """H(w; t) with derivatives from one forward pass (see the module docstring)."""

    @staticmethod
    def forward(ctx, w: Tensor, t: Tensor, n_terms: int | None) -> Tensor:
        d_w, d_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        derivs = _horner(w, t, n_terms, int(d_t), (int(d_w),) + (0,) * int(d_t))
        h = derivs.pop(0)
        dh_dw = derivs.pop(0) if d_w else None
        dh_dt = derivs.pop(0) if d_t else None
        ctx.n_terms = n_terms
        ctx.save_for_backward(w, t, dh_dw, dh_dt)
        return h

    @staticmethod
    def backward(ctx, grad_h: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        w, t, dh_dw, dh_dt = ctx.saved_tensors
        d_w, d_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if torch.is_grad_enabled():
            # create_graph=True: the gradient must itself be differentiable in w and t
            dh_dw, dh_dt = _SeriesDerivatives.apply(w, t, ctx.n_terms)
        grad_w = grad_h * dh_dw.conj() if d_w else None
        grad_t = None
        if d_t:
            grad_t = (grad_h * dh_dt.conj()).real.sum_to_size(t.shape)
        return grad_w, grad_t, None


def epl_angular_series(w: Tensor, t: Tensor, n_terms: int | None = None) -> Tensor:
    """H(w) = 2F1(1, t/2; 2 - t/2; w) by its power series, Horner's rule.

    Differentiable in w and t (first derivatives from one pass, see
    :class:`_AngularSeries`; second derivatives from one more, :class:`_SeriesDerivatives`).

    Parameters
    ----------
    w: complex argument, ``|w| < 1``. Unit: unitless.
    t: ``slope - 1``, real, broadcastable to ``w``. Unit: unitless.
    n_terms: highest power kept; None: for each lens (row of pixels, see :func:`_rows`)
        the count that bounds its truncation error by ``SERIES_TOLERANCE`` of the dtype.
    """
    t = torch.as_tensor(t, dtype=w.real.dtype, device=w.device)
    if torch.is_grad_enabled() and (w.requires_grad or t.requires_grad):
        return _AngularSeries.apply(w, t, n_terms)
    return _horner(w, t, n_terms, 0, (0,))[0]


def lenstronomy_einstein_radius(einstein_radius: Tensor, axis_ratio: Tensor) -> Tensor:
    """lenstronomy's ``theta_E`` of an SPLE whose Einstein radius is given in the
    convention of Chianese et al. 2020 eqs. 11-12.

    The paper writes kappa = (3 - gamma)/2 (r_Ein / rho)^(gamma - 1) with
    rho = sqrt(x'^2 + y'^2/q^2) (major-axis normalisation: r_Ein is the semi-major axis
    of the kappa = (3 - gamma)/2 contour); lenstronomy (and :func:`epl_deflection`) use
    sqrt(q x'^2 + y'^2/q) (intermediate axis). Since sqrt(x'^2 + y'^2/q^2) =
    sqrt(q x'^2 + y'^2/q) / sqrt(q), ``theta_E = sqrt(q) r_Ein(paper)``: 16-29 % smaller
    at q = 0.5-0.7, equal at q = 1.

    Parameters
    ----------
    einstein_radius: r_Ein of the paper. Unit: arcsec.
    axis_ratio: q = minor/major in (0, 1].

    Returns theta_E of lenstronomy. Unit: arcsec.
    """
    return einstein_radius * torch.sqrt(torch.as_tensor(axis_ratio))


def paper_einstein_radius(theta_e: Tensor, axis_ratio: Tensor) -> Tensor:
    """Inverse of :func:`lenstronomy_einstein_radius`: r_Ein(paper) = theta_E / sqrt(q). Unit: arcsec."""
    return theta_e / torch.sqrt(torch.as_tensor(axis_ratio))


def _rotate(x: Tensor, y: Tensor, x0, y0, angle) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    c, s = torch.cos(angle), torch.sin(angle)
    dx, dy = x - x0, y - y0
    return dx * c + dy * s, -dx * s + dy * c, c, s


def epl_deflection(
    x: Tensor,
    y: Tensor,
    einstein_radius: Tensor,
    slope: Tensor,
    axis_ratio: Tensor,
    position_angle: Tensor,
    x0: Tensor | float = 0.0,
    y0: Tensor | float = 0.0,
    n_terms: int | None = None,
    table: "EPLTable | None" = None,
) -> tuple[Tensor, Tensor]:
    """Deflection angle of the EPL lens (lenstronomy ``EPL`` convention).

    All arguments broadcast against each other: for a batch of B systems on a shared
    grid give parameters of shape (B, 1, 1) and x, y of shape (H, W).

    Parameters
    ----------
    x, y: image-plane positions. Unit: arcsec.
    einstein_radius: r_Ein (lenstronomy ``theta_E``). Unit: arcsec.
    slope: 3D density slope gamma (2 = SIE), valid in (1, 3). Unit: unitless.
    axis_ratio: q = minor/major in (0, 1]. Unit: unitless.
    position_angle: phi of the major axis, counter-clockwise from x. Unit: radians.
    x0, y0: lens centre. Unit: arcsec.
    n_terms: series terms; default for each lens ``epl_n_terms(its q, dtype)`` plus
        ``_DERIVATIVE_TERMS`` (2) for the derivatives (:func:`_row_groups`).
    table: if given, interpolate the angular function in this ``EPLTable`` instead
        of summing the series (Chianese et al. 2020 Appendix A).

    Returns
    -------
    alpha_x, alpha_y: deflection. Unit: arcsec.
    """
    q = torch.as_tensor(axis_ratio, dtype=x.dtype, device=x.device)
    t = torch.as_tensor(slope, dtype=x.dtype, device=x.device) - 1.0
    b = einstein_radius * torch.sqrt(q)
    xr, yr, c, s = _rotate(x, y, x0, y0, position_angle)
    qx = q * xr
    r = torch.abs(torch.complex(qx, yr)).clamp_min(_R_MIN)  # |Z|; abs has a zero gradient at 0
    if table is not None:
        omega = table.angular(torch.atan2(yr, qx), q, t + 1.0)
    else:
        f = (1.0 - q) / (1.0 + q)
        unit = torch.complex(qx / r, yr / r)  # e^{i eta}; real divisions, 4x cheaper than Z / R
        w = -f * unit * unit  # -f Z/Z*
        omega = unit * epl_angular_series(w, t.to(x.dtype), n_terms)
    radial = 2.0 * b / (1.0 + q) * torch.pow(b / r, t - 1.0)
    a1 = radial * omega.real
    a2 = radial * omega.imag
    return a1 * c - a2 * s, a1 * s + a2 * c


@dataclass
class EPLTable:
    """Precomputed angular function Omega(eta; q, gamma) for trilinear interpolation.

    ``values`` has shape (1, 2, n_slope, n_q, n_eta) (real and imaginary part),
    eta in [-pi, pi] (closed, periodic), q in [q_min, 1], slope in
    [slope_min, slope_max]. Build with ``build_epl_table``.
    """

    values: Tensor
    q_min: float
    slope_min: float
    slope_max: float

    def angular(self, eta: Tensor, axis_ratio: Tensor, slope: Tensor) -> Tensor:
        """Interpolated Omega at angle eta (radians), axis ratio, slope (complex)."""
        eta, q, g = torch.broadcast_tensors(eta, axis_ratio, slope)
        batch = eta.shape[0] if eta.ndim > 0 else 1
        u = eta / math.pi
        v = 2.0 * (q - self.q_min) / (1.0 - self.q_min) - 1.0
        w = 2.0 * (g - self.slope_min) / (self.slope_max - self.slope_min) - 1.0
        grid = torch.stack([u, v, w], dim=-1).reshape(batch, 1, 1, -1, 3)
        vals = self.values.to(eta.dtype).expand(batch, -1, -1, -1, -1)
        out = torch.nn.functional.grid_sample(
            vals, grid, mode="bilinear", padding_mode="border", align_corners=True
        )  # (batch, 2, 1, 1, n)
        out = out.reshape(batch, 2, -1)
        return torch.complex(out[:, 0], out[:, 1]).reshape(eta.shape)


def build_epl_table(
    n_eta: int = 512,
    n_q: int = 64,
    n_slope: int = 32,
    q_min: float = 0.2,
    slope_min: float = 1.2,
    slope_max: float = 2.8,
    dtype: torch.dtype = torch.float64,
) -> EPLTable:
    """Tabulate Omega(eta; q, gamma) = e^{i eta} H(-f e^{2 i eta}) with the exact series."""
    eta = torch.linspace(-math.pi, math.pi, n_eta, dtype=dtype)
    q = torch.linspace(q_min, 1.0, n_q, dtype=dtype)
    g = torch.linspace(slope_min, slope_max, n_slope, dtype=dtype)
    G, Q, E = torch.meshgrid(g, q, eta, indexing="ij")
    f = (1.0 - Q) / (1.0 + Q)
    unit = torch.polar(torch.ones_like(E), E)
    omega = unit * epl_angular_series(-f * unit * unit, G - 1.0, epl_n_terms(q_min, torch.float64))
    values = torch.stack([omega.real, omega.imag])[None]
    return EPLTable(values=values, q_min=q_min, slope_min=slope_min, slope_max=slope_max)
