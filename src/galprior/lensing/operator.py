"""Linear-operator view of lensing for a fixed lens: y = A x (Adam et al. 2022 eq. 1).

Why our own code: the score-based posterior sampler needs A and its adjoint A^T for
a batch of fixed lenses, in torch; A^T is obtained exactly by autograd (a
vector-Jacobian product, valid because A is linear in the source pixels) rather than
by building a (n_out^2 x h w) matrix.

x is the pixelated source (B, h, w) in the ``func.source`` convention, with the
source parameters (intensity, scale, position) held fixed; y is the observed image
(B, n_out, n_out) including the PSF and pooling of the simulator.

The spectrum of A^T A, a property of A alone: :func:`largest_eigenvalue` by power
iteration (any size; the stiffness of the likelihood term of the reverse SDE), and
:func:`normal_spectrum`, its full eigendecomposition from the dense matrix, for sources of
at most :data:`DENSE_SPECTRUM_LIMIT` pixels (the exact convolved covariance of
:mod:`galprior.inference.sde.likelihood`; app. A's checks in :mod:`galprior.metrics.sde`).
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
from torch import Tensor

from .simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES, LensSimulator, as_parameter_tensor, validate_inputs

__all__ = ["LensingOperator", "DENSE_SPECTRUM_LIMIT", "largest_eigenvalue", "normal_spectrum"]

#: the largest source (pixels) whose A^T A is eigendecomposed densely (:func:`normal_spectrum`)
DENSE_SPECTRUM_LIMIT = 64 * 64


class LensingOperator:
    """A for fixed lens and source parameters; ray tracing is done once.

    Parameters
    ----------
    simulator: the ``LensSimulator`` defining grid, PSF and pooling.
    lens_params: (B, 8) or dict (``LENS_PARAMETER_NAMES``); detached.
    source_params: (B, 4) or dict (``SOURCE_PARAMETER_NAMES``); detached.
    source_shape: (h, w) of x. Default (64, 64).
    """

    def __init__(
        self,
        simulator: LensSimulator,
        lens_params: Tensor | Mapping[str, Tensor],
        source_params: Tensor | Mapping[str, Tensor],
        source_shape: tuple[int, int] = (64, 64),
        validate: bool = True,
    ):
        dtype = simulator.theta_x.dtype
        lens = as_parameter_tensor(lens_params, LENS_PARAMETER_NAMES, dtype).detach()
        src = as_parameter_tensor(source_params, SOURCE_PARAMETER_NAMES, dtype).detach()
        if validate:
            validate_inputs(lens, None, src)
        self.simulator = simulator
        self.source_params = src
        self.source_shape = tuple(source_shape)
        with torch.no_grad():
            self.beta_x, self.beta_y = simulator.source_plane_positions(lens)

    @property
    def batch_size(self) -> int:
        return self.source_params.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        """A x: source (B, h, w) -> image (B, n_out, n_out)."""
        return self.simulator.render_at(self.beta_x, self.beta_y, x, self.source_params)

    __call__ = forward

    def adjoint(self, y: Tensor) -> Tensor:
        """A^T y: image (B, n_out, n_out) -> source (B, h, w), by a vector-Jacobian product.

        Differentiable w.r.t. ``y`` (the VJP of a linear map is linear in y).
        """
        x0 = torch.zeros(
            (self.batch_size, *self.source_shape), dtype=self.beta_x.dtype, device=self.beta_x.device
        )
        _, vjp = torch.func.vjp(self.forward, x0)
        return vjp(y)[0]

    def matrix(self) -> Tensor:
        """A as a dense matrix (B, n_out^2, h w): column j is A applied to the unit source
        pixel j (one forward pass per source pixel; meant for the small sources of the Adam
        mocks, where app. A's checks of A A^T need it)."""
        h, w = self.source_shape
        columns = []
        with torch.no_grad():
            for j in range(h * w):
                x = torch.zeros((self.batch_size, h * w), dtype=self.beta_x.dtype, device=self.beta_x.device)
                x[:, j] = 1.0
                columns.append(self.forward(x.reshape(self.batch_size, h, w)).reshape(self.batch_size, -1))
        return torch.stack(columns, dim=-1)


def largest_eigenvalue(operator: LensingOperator, n_iter: int = 30, seed: int = 0) -> Tensor:
    """Largest eigenvalue of A^T A for every batch item (B,), by power iteration.

    It sets the stiffness of the likelihood term: an explicit step of the reverse SDE
    is stable only while step x lambda_max / (sigma_N^2 + sigma^2) stays below ~2
    (:mod:`galprior.inference.sde.solvers`). Unit: (image unit / source unit)^2.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((operator.batch_size, *operator.source_shape), generator=gen,
                   dtype=operator.beta_x.dtype).to(operator.beta_x.device)
    lam = torch.zeros(operator.batch_size, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for _ in range(n_iter):
            x = operator.adjoint(operator.forward(x))
            lam = x.reshape(len(x), -1).norm(dim=-1)
            x = x / lam.clamp_min(1e-30).reshape(-1, *([1] * (x.ndim - 1)))
    return lam


def normal_spectrum(operator: LensingOperator) -> tuple[Tensor, Tensor]:
    """Eigenvectors (B, n, n) and eigenvalues (B, n) of A^T A for every batch item of
    ``operator``, from its dense matrix (:meth:`LensingOperator.matrix`); n = source pixels,
    at most :data:`DENSE_SPECTRUM_LIMIT`."""
    n = math.prod(operator.source_shape)
    if n > DENSE_SPECTRUM_LIMIT:
        raise ValueError(f"the exact and Tweedie likelihood forms need a dense A^T A of the {n}-pixel source; "
                         f"at most {DENSE_SPECTRUM_LIMIT} pixels are supported: set adam.sde.likelihood.covariance "
                         f"to 'identity' (eq. 19) for larger sources")
    a = operator.matrix()
    values, vectors = torch.linalg.eigh(a.transpose(-1, -2) @ a)
    return vectors, values.clamp_min(0.0)
