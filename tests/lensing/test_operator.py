"""Linear-operator view: A x equals the simulator, <Ax, y> = <x, A^T y>."""

import torch

from galprior.lensing import LensingOperator, LensSimulator


def test_adjoint_identity_and_forward(lens_batch):
    sim = LensSimulator(n_pix=32, pixel_scale=0.12, psf_sigma=0.1, pool_factor=2, dtype=torch.float64)
    sp = torch.tensor([[1.0, 2.0, 0.0, 0.0], [0.7, 1.5, 0.1, 0.05], [1.3, 2.5, -0.1, 0.0]], dtype=torch.float64)
    op = LensingOperator(sim, lens_batch, sp, source_shape=(16, 16))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 16, 16, generator=gen, dtype=torch.float64)
    y = torch.randn(3, 16, 16, generator=gen, dtype=torch.float64)
    ax = op.forward(x)
    torch.testing.assert_close(ax, sim(lens_batch, x, sp))
    aty = op.adjoint(y)
    assert aty.shape == x.shape
    lhs = (ax * y).sum(dim=(1, 2))
    rhs = (x * aty).sum(dim=(1, 2))
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)
    assert float(aty.abs().sum()) > 0
    # linearity
    torch.testing.assert_close(op(2 * x + y[:, :16, :16]), 2 * ax + op(y[:, :16, :16]))
