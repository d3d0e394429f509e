"""The prior of the lens and source parameters: one object, sampled by the mock generator
and scored by the inference (Chianese et al. 2020 eqs. 14-23).

Why one object: the mocks (:mod:`galprior.lensing.products`) must be drawn from the prior
that the inference (:mod:`galprior.inference.model`) assumes, or the recovery tests
measure a prior mismatch. :class:`LensSourcePrior` is built from ONE config block
(``priors:``) and gives both sides what they need: numpy draws for the mock generator
(:meth:`LensSourcePrior.sample_lens`, :meth:`LensSourcePrior.sample_source`) and
torch/Pyro distributions with declared supports for the Pyro model
(:meth:`LensSourcePrior.lens_distributions`, :meth:`LensSourcePrior.source_distributions`,
:meth:`LensSourcePrior.ellipticity_distribution`), so that Pyro maps each parameter to an
unconstrained space itself. Truncated normals are drawn by rejection in the mocks and
scored with their normalised density in the inference: the same distribution.

The paper's priors ("for our mock data generation and analysis", sec. 3.3 and 5.1) and
the truncations we add (config ``priors`` block, defaults in the schema). Each entry of
the config is ``[mean, sd, low, high]`` (``null``: unbounded); the paper prints plain
normals, which would draw unphysical values, so we truncate exactly where a printed
prior leaves the physical range, and nowhere else:

===============  ==========================  =========================================
parameter        paper                       truncation (default) and why
===============  ==========================  =========================================
gamma1, gamma2   N(0, 1)        eq. 18       [-0.2, 0.2]: a shear of order 1 breaks the
                                             strong-lensing regime (|gamma| >= 1 flips the
                                             parity of the whole field; > ~0.3 gives naked
                                             cusps); the paper's sd 1 is then ~flat
position_angle   N(0, 1 rad)    eq. 19       none: wrapped to the period pi of an
                                             ellipse (phi and phi + pi are the same
                                             lens), i.e. the density of (phi mod pi)
axis_ratio q     N(0.5, 0.5)    eq. 20       [0.2, 1.0]: q must lie in (0, 1]; below 0.2
                                             the EPL series needs hundreds of terms (the
                                             upper end must be 1: :class:`LensEllipticity`)
einstein_radius  N(1.5, 0.5)"   eq. 21       [0.5, 3.0]": r_Ein > 0, and the arcs of a
                                             1.7" source around r_Ein <= 3" stay inside
                                             the 10.24" field
slope gamma      N(2, 0.5)      eq. 22       [1.2, 2.8]: the EPL needs 1 < gamma < 3
                                             (gamma -> 1 is a mass sheet whose images
                                             leave the field)
x0, y0           N(0, 0.5)"     eq. 23       none
x_src, y_src     N(0, 0.1)"     eq. 14       none
scale s          N(5, 1)"       eq. 15       [1.0, inf): s > 0
intensity iota   N(1, 0.5)      eq. 16       [0.1, inf): iota > 0 (a negative source)
===============  ==========================  =========================================

Einstein radius convention (eqs. 11-12): the paper normalises the SPLE on the MAJOR
axis, kappa = (3 - gamma)/2 (r_Ein / rho)^(gamma - 1) with rho = sqrt(x'^2 + y'^2/q^2),
so r_Ein is the semi-major axis of the kappa = (3 - gamma)/2 contour. lenstronomy's
``theta_E`` (our simulator's ``einstein_radius`` by default) uses the intermediate axis,
sqrt(q x'^2 + y'^2/q); hence ``theta_E(lenstronomy) = sqrt(q) r_Ein(paper)``
(:func:`galprior.lensing.func.epl.lenstronomy_einstein_radius`). This prior, every
Chianese store, table and figure use the paper's r_Ein; the conversion happens inside
:class:`galprior.lensing.simulator.LensSimulator` built with
``parameter_convention="chianese2020"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from pyro.distributions import Normal, TorchDistribution, constraints
from torch import Tensor

from .simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES

__all__ = ["TruncatedNormal", "WrappedNormal", "LensEllipticity", "ellipticity_from_shape",
           "shape_from_ellipticity", "LensSourcePrior"]

Bounded = tuple[float, float, float | None, float | None]


class TruncatedNormal(TorchDistribution):
    """Normal(loc, scale) restricted to [low, high] (``high`` may be +inf), normalised;
    sampled by the inverse CDF."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    has_rsample = True

    def __init__(self, loc, scale, low: float, high: float = math.inf, validate_args=None):
        self.loc, self.scale = torch.as_tensor(loc, dtype=torch.get_default_dtype()), torch.as_tensor(scale, dtype=torch.get_default_dtype())
        self.loc, self.scale = torch.broadcast_tensors(self.loc, self.scale)
        self.low, self.high = float(low), float(high)
        self._base = Normal(self.loc, self.scale)
        self._cdf_low = self._base.cdf(torch.as_tensor(self.low))
        self._cdf_high = self._base.cdf(torch.as_tensor(self.high)) if math.isfinite(self.high) else torch.ones_like(self.loc)
        self._log_mass = torch.log(self._cdf_high - self._cdf_low)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        if math.isfinite(self.high):
            return constraints.interval(self.low, self.high)
        return constraints.greater_than(self.low)

    def expand(self, batch_shape, _instance=None):
        return TruncatedNormal(self.loc.expand(batch_shape), self.scale.expand(batch_shape), self.low, self.high)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, dtype=self.loc.dtype)
        p = self._cdf_low + u * (self._cdf_high - self._cdf_low)
        return self._base.icdf(p.clamp(1e-12, 1 - 1e-12)).clamp(self.low, self.high)

    def log_prob(self, value: Tensor) -> Tensor:
        return self._base.log_prob(value) - self._log_mass


class WrappedNormal(TorchDistribution):
    """N(loc, scale) wrapped onto [0, period): the density of (x mod period), x ~ N.

    Chianese eq. 19 puts N(0, 1 rad) on the position angle phi; phi and phi + pi give the
    same lens, so the identifiable quantity is phi mod pi, whose density is this sum
    over images (the terms with |k| > ``n_images`` are below 1e-30 for scale <= period).
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}

    def __init__(self, loc, scale, period: float = math.pi, n_images: int = 6, validate_args=None):
        self.loc = torch.as_tensor(loc, dtype=torch.get_default_dtype())
        self.scale = torch.as_tensor(scale, dtype=torch.get_default_dtype())
        self.period, self.n_images = float(period), int(n_images)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(0.0, self.period)

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        with torch.no_grad():
            x = self.loc + self.scale * torch.randn(self._extended_shape(sample_shape), dtype=self.loc.dtype)
            return torch.remainder(x, self.period)

    def log_prob(self, value: Tensor) -> Tensor:
        k = torch.arange(-self.n_images, self.n_images + 1, dtype=value.dtype, device=value.device)
        shifted = torch.remainder(value, self.period)[..., None] + k * self.period
        base = Normal(self.loc.to(value)[..., None], self.scale.to(value)[..., None])
        return torch.logsumexp(base.log_prob(shifted), dim=-1)


def shape_from_ellipticity(ellipticity: Tensor) -> tuple[Tensor, Tensor]:
    """Axis ratio q and position angle phi in [0, pi) (rad) of (..., 2) ellipticity
    vectors e = sqrt(1 - q) (cos 2 phi, sin 2 phi) (:class:`LensEllipticity`)."""
    q = 1.0 - (ellipticity**2).sum(-1)
    phi = torch.remainder(0.5 * torch.atan2(ellipticity[..., 1], ellipticity[..., 0]), math.pi)
    return q, phi


def ellipticity_from_shape(axis_ratio: Tensor, position_angle: Tensor) -> Tensor:
    """Inverse of :func:`shape_from_ellipticity`: (..., 2) vectors of q in (0, 1] and phi (rad)."""
    rho = torch.sqrt((1.0 - axis_ratio).clamp_min(0.0))
    return torch.stack([rho * torch.cos(2 * position_angle), rho * torch.sin(2 * position_angle)], -1)


class _Disk(constraints.Constraint):
    """Vectors e of R^2 with |e| <= radius (event_dim 1)."""

    event_dim = 1

    def __init__(self, radius: float):
        self.radius = float(radius)
        super().__init__()

    def check(self, value: Tensor) -> Tensor:
        return (value**2).sum(-1) <= self.radius**2


class DiskTransform(torch.distributions.Transform):
    """R^2 -> the open disk |e| < R: e = v R tanh(|v| / R) / |v|.

    Radial and the identity to first order at the origin (e ~ v for |v| << R), so that the
    density of the lens ellipticity stays smooth through q = 1; |det de/dv| =
    (1 - tanh^2 x) tanh(x) / x with x = |v| / R.
    """

    domain = constraints.independent(constraints.real, 1)
    bijective = True

    def __init__(self, radius: float, cache_size: int = 0):
        self.radius = float(radius)
        self.codomain = _Disk(radius)
        super().__init__(cache_size=cache_size)

    def __eq__(self, other):
        return isinstance(other, DiskTransform) and other.radius == self.radius

    def _x(self, v: Tensor) -> Tensor:
        return torch.sqrt((v**2).sum(-1) + 1e-300) / self.radius

    @staticmethod
    def _tanhc(x: Tensor) -> Tensor:  # tanh(x) / x, 1 at x = 0
        small = x < 1e-4
        return torch.where(small, 1.0 - x**2 / 3.0, torch.tanh(x) / torch.where(small, torch.ones_like(x), x))

    def _call(self, v: Tensor) -> Tensor:
        return v * self._tanhc(self._x(v))[..., None]

    def _inverse(self, e: Tensor) -> Tensor:
        y = (torch.sqrt((e**2).sum(-1)) / self.radius).clamp(max=1.0 - 1e-12)
        small = y < 1e-4
        ratio = torch.where(small, 1.0 + y**2 / 3.0, torch.atanh(y) / torch.where(small, torch.ones_like(y), y))
        return e * ratio[..., None]

    def log_abs_det_jacobian(self, v: Tensor, e: Tensor) -> Tensor:
        x = self._x(v)
        log_sech2 = 2.0 * (math.log(2.0) - x - torch.nn.functional.softplus(-2.0 * x))
        return log_sech2 + torch.log(self._tanhc(x))


@torch.distributions.biject_to.register(_Disk)
@torch.distributions.transform_to.register(_Disk)
def _disk_transform(constraint: _Disk) -> DiskTransform:
    return DiskTransform(constraint.radius)


class LensEllipticity(TorchDistribution):
    """Eqs. 19-20 as one density of the ellipticity vector e = sqrt(1 - q) (cos 2 phi, sin 2 phi).

    Why: with (q, phi) as coordinates, a nearly round lens (q -> 1) is the origin of polar
    coordinates: phi becomes undefined and the posterior a curved, one-sided ridge in
    logit(q), on which HMC mixes slowly (docs/decisions.md, issue 10). e is a Cartesian coordinate of
    the same lens, in which the image is smooth through q = 1.

    The map (q, phi) -> e has unit Jacobian (e in polar form: rho^2 = 1 - q, angle 2 phi,
    so dq dphi = 2 rho drho d(2 phi) / 2 = de1 de2), hence the density of e is exactly
    p(q) p(phi) of the paper's priors (eq. 20 truncated, eq. 19 wrapped), finite at q = 1;
    its MAP is that of (q, phi). Needs the truncation of q to end at q = 1 (the origin);
    its lower end q_low is the disk |e| <= sqrt(1 - q_low), to which Pyro maps R^2 with
    :class:`DiskTransform`.
    """

    arg_constraints: dict = {}

    def __init__(self, axis_ratio: TruncatedNormal, position_angle: WrappedNormal,
                 batch_shape=torch.Size(), validate_args=None):
        if abs(axis_ratio.high - 1.0) > 1e-12:
            raise ValueError(f"priors.axis_ratio ends at q = {axis_ratio.high}: the lens ellipticity "
                             "prior needs its truncation to end at q = 1 (a round lens)")
        self.axis_ratio, self.position_angle = axis_ratio, position_angle
        self.radius = math.sqrt(1.0 - axis_ratio.low)
        super().__init__(torch.Size(batch_shape), torch.Size([2]), validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self):
        return _Disk(self.radius)

    def expand(self, batch_shape, _instance=None):
        return LensEllipticity(self.axis_ratio, self.position_angle, batch_shape)

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        shape = self._extended_shape(sample_shape)[:-1]
        with torch.no_grad():
            return ellipticity_from_shape(self.axis_ratio.sample(shape), self.position_angle.sample(shape))

    def log_prob(self, value: Tensor) -> Tensor:
        q, phi = shape_from_ellipticity(value)
        return self.axis_ratio.log_prob(q) + self.position_angle.log_prob(phi)


def _truncated_normal(rng: np.random.Generator, mean: float, sd: float, lo: float | None,
                      hi: float | None, n: int) -> NDArray:
    """``n`` draws of N(mean, sd) restricted to [lo, hi] (None: unbounded), by rejection."""
    lo = -np.inf if lo is None else lo
    hi = np.inf if hi is None else hi
    out = rng.normal(mean, sd, n)
    bad = (out < lo) | (out > hi)
    while bad.any():
        out[bad] = rng.normal(mean, sd, int(bad.sum()))
        bad = (out < lo) | (out > hi)
    return out


def _distribution(spec: Bounded) -> TorchDistribution:
    mean, sd, lo, hi = spec
    if lo is None and hi is None:
        return Normal(float(mean), float(sd))
    if lo is None:
        raise ValueError(f"a prior [mean, sd, low, high] = {list(spec)} with only an upper bound is not supported")
    return TruncatedNormal(mean, sd, lo, math.inf if hi is None else hi)


@dataclass(frozen=True)
class LensSourcePrior:
    """Numbers of the lens and source priors (forms, units and truncations: module docstring).

    Every bounded entry is ``(mean, sd, low, high)``; ``position_angle`` is
    ``(mean, sd)`` of the normal wrapped to [0, pi) (rad); ``center_sd`` and
    ``source_position_sd`` are the sds of the zero-mean normals of (x0, y0) and
    (x_src, y_src) (arcsec). ``einstein_radius`` is the paper's r_Ein (eqs. 11-12).
    """

    einstein_radius: Bounded
    slope: Bounded
    axis_ratio: Bounded
    position_angle: tuple[float, float]
    center_sd: float
    shear: Bounded
    intensity: Bounded
    scale: Bounded
    source_position_sd: float
    fixed_slope: float | None

    def __post_init__(self):
        for name in ("einstein_radius", "slope", "axis_ratio", "shear", "intensity", "scale"):
            spec = getattr(self, name)
            if len(spec) != 4:
                raise ValueError(f"priors.{name} must be [mean, sd, low, high], got {list(spec)}")
            mean, sd, lo, hi = spec
            if sd <= 0 or (lo is not None and hi is not None and lo >= hi):
                raise ValueError(f"priors.{name} = {list(spec)}: need sd > 0 and low < high")
        if self.axis_ratio[2] is None or self.axis_ratio[2] <= 0 or self.axis_ratio[3] != 1:
            raise ValueError(f"priors.axis_ratio = {list(self.axis_ratio)}: q must be truncated to [low, 1] "
                             "with 0 < low < 1 (q <= 1; the model samples the lens ellipticity, whose origin is q = 1)")
        if self.slope[2] is None or self.slope[2] <= 1 or self.slope[3] is None or self.slope[3] >= 3:
            raise ValueError(f"priors.slope = {list(self.slope)}: the EPL slope must be truncated inside (1, 3)")
        for name in ("einstein_radius", "intensity", "scale"):
            lo = getattr(self, name)[2]
            if lo is None or lo <= 0:
                raise ValueError(f"priors.{name} = {list(getattr(self, name))}: low must be > 0")

    @classmethod
    def from_config(cls, block: dict[str, Any]) -> "LensSourcePrior":
        """From the config's ``priors`` block (lists become tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in block.items()})

    # -- the mock generator's side ------------------------------------------------------
    def sample_lens(self, n: int, rng: np.random.Generator, slope: float | None = None) -> NDArray[np.float64]:
        """``n`` lens-parameter vectors, shape (n, 8), columns ``LENS_PARAMETER_NAMES``
        (eqs. 18-23; einstein_radius in the paper's convention).

        ``slope`` (or the prior's ``fixed_slope``) fixes the slope, e.g. 2 for the SIE +
        shear of Adam et al. 2022.
        """
        slope = self.fixed_slope if slope is None else slope
        out = np.empty((n, len(LENS_PARAMETER_NAMES)))
        out[:, 0] = _truncated_normal(rng, *self.einstein_radius, n)
        out[:, 1] = slope if slope is not None else _truncated_normal(rng, *self.slope, n)
        out[:, 2] = _truncated_normal(rng, *self.axis_ratio, n)
        out[:, 3] = np.remainder(rng.normal(*self.position_angle, n), np.pi)
        out[:, 4:6] = rng.normal(0.0, self.center_sd, (n, 2))
        out[:, 6] = _truncated_normal(rng, *self.shear, n)
        out[:, 7] = _truncated_normal(rng, *self.shear, n)
        return out

    def sample_source_position(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` source positions (x_src, y_src), shape (n, 2), eq. 14. Unit: arcsec."""
        return rng.normal(0.0, self.source_position_sd, (n, 2))

    def sample_source(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` source-parameter vectors (intensity, scale, x_src, y_src), shape (n, 4),
        eqs. 14-16 (columns ``SOURCE_PARAMETER_NAMES``)."""
        out = np.empty((n, len(SOURCE_PARAMETER_NAMES)))
        out[:, 0] = _truncated_normal(rng, *self.intensity, n)
        out[:, 1] = _truncated_normal(rng, *self.scale, n)
        out[:, 2:] = self.sample_source_position(n, rng)
        return out

    # -- the inference's side -----------------------------------------------------------
    def lens_distributions(self) -> dict[str, TorchDistribution]:
        """Scalar prior of every lens parameter but ``axis_ratio`` and ``position_angle``
        (the model samples them as one 2-vector: :meth:`ellipticity_distribution`)."""
        out = {
            "einstein_radius": _distribution(self.einstein_radius),
            "slope": _distribution(self.slope),
            "x0": Normal(0.0, self.center_sd),
            "y0": Normal(0.0, self.center_sd),
            "gamma1": _distribution(self.shear),
            "gamma2": _distribution(self.shear),
        }
        if self.fixed_slope is not None:
            del out["slope"]
        return out

    def axis_ratio_distribution(self) -> TruncatedNormal:
        """Eq. 20, N(0.5, 0.5) truncated to [q_low, 1]."""
        return _distribution(self.axis_ratio)

    def ellipticity_distribution(self) -> LensEllipticity:
        """Eqs. 19-20 as the density of the lens ellipticity vector (:class:`LensEllipticity`)."""
        return LensEllipticity(self.axis_ratio_distribution(), self.position_angle_distribution())

    def position_angle_distribution(self) -> WrappedNormal:
        """Eq. 19, N(mean, sd) wrapped to [0, pi). Unit: rad."""
        return WrappedNormal(*self.position_angle, period=math.pi)

    def source_distributions(self) -> dict[str, TorchDistribution]:
        """Scalar prior of every source parameter (``SOURCE_PARAMETER_NAMES``), eqs. 14-16."""
        return {
            "intensity": _distribution(self.intensity),
            "scale": _distribution(self.scale),
            "x_src": Normal(0.0, self.source_position_sd),
            "y_src": Normal(0.0, self.source_position_sd),
        }
