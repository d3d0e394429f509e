"""Prior distributions of the lens and source parameters (Chianese et al. 2020 sec. 4).

Why here: the Pyro model (:mod:`galprior.inference.model`) needs the priors as torch
distributions with declared supports, so that Pyro maps every parameter to an
unconstrained space itself (``biject_to(support)``).

Lens prior: the SAME distributions and truncations as the mock generator
(:func:`galprior.lensing.mocks.sample_lens_parameters`), which flags them as OUR
stand-ins for Chianese et al. eqs. 18-23 (the paper's text could not be retrieved):

=================  ============================  ===========================
einstein_radius    U(1.0, 2.0) arcsec
slope              N(2.0, 0.2) truncated         [1.2, 2.8]
axis_ratio         U(0.4, 1.0)
position_angle     U(0, pi) radians              (sampled as a 2-vector, see model)
x0, y0             N(0, 0.05) arcsec
gamma1, gamma2     N(0, 0.05) truncated          [-0.2, 0.2]
=================  ============================  ===========================

Source prior (stand-ins for eqs. 14-16, also to be checked against the paper):
intensity ~ LogNormal(log 1, 0.5) [flux; the source images have peak ~1],
scale ~ LogNormal(log 1.3, 0.4) [arcsec; ``make_source`` gives about 0.7-2.5],
x_src, y_src ~ N(0, 0.1) [arcsec].

The numbers live in :class:`PriorConfig` so that a config file can change them; if
``mocks.py`` changes its generator, change the defaults here (a test compares them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from pyro.distributions import LogNormal, Normal, TorchDistribution, Uniform, constraints
from torch import Tensor

__all__ = ["TruncatedNormal", "PriorConfig", "lens_prior_distributions", "source_prior_distributions"]


class TruncatedNormal(TorchDistribution):
    """Normal(loc, scale) restricted to [low, high], normalised; sampled by the inverse CDF."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    has_rsample = True

    def __init__(self, loc, scale, low: float, high: float, validate_args=None):
        self.loc, self.scale = torch.as_tensor(loc, dtype=torch.get_default_dtype()), torch.as_tensor(scale, dtype=torch.get_default_dtype())
        self.loc, self.scale = torch.broadcast_tensors(self.loc, self.scale)
        self.low, self.high = float(low), float(high)
        self._base = Normal(self.loc, self.scale)
        self._cdf_low, self._cdf_high = self._base.cdf(torch.as_tensor(low)), self._base.cdf(torch.as_tensor(high))
        self._log_mass = torch.log(self._cdf_high - self._cdf_low)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    def expand(self, batch_shape, _instance=None):
        return TruncatedNormal(self.loc.expand(batch_shape), self.scale.expand(batch_shape), self.low, self.high)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, dtype=self.loc.dtype)
        p = self._cdf_low + u * (self._cdf_high - self._cdf_low)
        return self._base.icdf(p.clamp(1e-12, 1 - 1e-12)).clamp(self.low, self.high)

    def log_prob(self, value: Tensor) -> Tensor:
        return self._base.log_prob(value) - self._log_mass


@dataclass(frozen=True)
class PriorConfig:
    """Numbers of the lens and source priors (units as in the module docstring)."""

    einstein_radius: tuple[float, float] = (1.0, 2.0)  # uniform bounds, arcsec
    slope: tuple[float, float, float, float] = (2.0, 0.2, 1.2, 2.8)  # mean, sd, low, high
    axis_ratio: tuple[float, float] = (0.4, 1.0)
    center_sd: float = 0.05  # arcsec, x0 and y0
    shear: tuple[float, float, float] = (0.05, -0.2, 0.2)  # sd, low, high of gamma1, gamma2
    intensity: tuple[float, float] = (0.0, 0.5)  # LogNormal loc, scale (log flux)
    scale: tuple[float, float] = (math.log(1.3), 0.4)  # LogNormal loc, scale (log arcsec)
    source_position_sd: float = 0.1  # arcsec
    fixed_slope: float | None = None  # e.g. 2.0 for SIE + shear (Adam et al. 2022)


def lens_prior_distributions(priors: PriorConfig) -> dict[str, TorchDistribution]:
    """Scalar prior of every lens parameter but ``position_angle`` (uniform, see model)."""
    m, s, lo, hi = priors.slope
    sd, glo, ghi = priors.shear
    out = {
        "einstein_radius": Uniform(*priors.einstein_radius),
        "slope": TruncatedNormal(m, s, lo, hi),
        "axis_ratio": Uniform(*priors.axis_ratio),
        "x0": Normal(0.0, priors.center_sd),
        "y0": Normal(0.0, priors.center_sd),
        "gamma1": TruncatedNormal(0.0, sd, glo, ghi),
        "gamma2": TruncatedNormal(0.0, sd, glo, ghi),
    }
    if priors.fixed_slope is not None:
        del out["slope"]
    return out


def source_prior_distributions(priors: PriorConfig) -> dict[str, TorchDistribution]:
    """Scalar prior of every source parameter (``SOURCE_PARAMETER_NAMES``)."""
    return {
        "intensity": LogNormal(*priors.intensity),
        "scale": LogNormal(*priors.scale),
        "x_src": Normal(0.0, priors.source_position_sd),
        "y_src": Normal(0.0, priors.source_position_sd),
    }
