"""Thin parametrised lens classes over ``galprior.lensing.func`` (as caustics does).

Why our own code: see ``func/epl.py`` (batched, float32/float64, autograd, faster than
caustics). A lens object holds configuration only (series length, optional table);
the parameters are passed per call as tensors of shape (B,) so that one object
serves a whole batch of systems.
"""

from __future__ import annotations

from torch import Tensor

from .func.epl import EPLTable, build_epl_table, epl_deflection
from .func.shear import shear_deflection

__all__ = ["EPL", "ExternalShear", "broadcast_parameter"]


def broadcast_parameter(p: Tensor) -> Tensor:
    """Reshape a per-system parameter (B,) to (B, 1, 1).

    It then broadcasts against a shared image-plane grid of shape (H, W) or a
    per-system grid (B, H, W); points can be passed as a (1, N) or (B, 1, N) "image".
    """
    return p.reshape(-1, 1, 1)


class EPL:
    """Elliptical power-law lens (lenstronomy ``EPL`` convention, see ``func.epl``).

    Parameters
    ----------
    n_terms: fixed series length; default chosen per lens from its own q.
    method: ``"series"`` (exact, default) or ``"table"`` (Chianese et al. Appendix A
        interpolation table; built on first use with ``build_epl_table()``).
    """

    parameter_names = ("einstein_radius", "slope", "axis_ratio", "position_angle", "x0", "y0")

    def __init__(self, n_terms: int | None = None, method: str = "series", table: EPLTable | None = None):
        if method not in ("series", "table"):
            raise ValueError(f"EPL method must be 'series' or 'table', got {method!r}")
        self.n_terms = n_terms
        self.method = method
        self._table = table

    @property
    def table(self) -> EPLTable | None:
        if self.method != "table":
            return None
        if self._table is None:
            self._table = build_epl_table()
        return self._table

    def deflection(
        self,
        x: Tensor,
        y: Tensor,
        einstein_radius: Tensor,
        slope: Tensor,
        axis_ratio: Tensor,
        position_angle: Tensor,
        x0: Tensor,
        y0: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Deflection (B, H, W) for parameters of shape (B,). Unit: arcsec.

        einstein_radius [arcsec], slope [unitless], axis_ratio [unitless],
        position_angle [radians], x0, y0 [arcsec]; x, y [arcsec] of shape (H, W)
        or (B, H, W).
        """
        b = broadcast_parameter
        return epl_deflection(
            x, y, b(einstein_radius), b(slope), b(axis_ratio), b(position_angle), b(x0), b(y0),
            n_terms=self.n_terms, table=self.table,
        )


class ExternalShear:
    """External shear (lenstronomy ``SHEAR``, zero deflection at the field origin)."""

    parameter_names = ("gamma1", "gamma2")

    def deflection(self, x: Tensor, y: Tensor, gamma1: Tensor, gamma2: Tensor) -> tuple[Tensor, Tensor]:
        """Deflection (B, H, W) for gamma1, gamma2 [unitless] of shape (B,). Unit: arcsec."""
        return shear_deflection(x, y, broadcast_parameter(gamma1), broadcast_parameter(gamma2))
