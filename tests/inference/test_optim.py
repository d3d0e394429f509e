import numpy as np
import pytest
import torch
from scipy.optimize import minimize, rosen

from galprior.inference.optim import LbfgsConfig, batched_lbfgs


def _rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (100.0 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1.0 - x[:, :-1]) ** 2).sum(-1)


def test_quadratics_reach_their_closed_form_minimisers():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(4, 12, 12, generator=gen, dtype=torch.float64)
    a = a @ a.transpose(1, 2) + 0.05 * torch.eye(12, dtype=torch.float64)  # condition numbers ~1e3
    b = torch.randn(4, 12, generator=gen, dtype=torch.float64)

    def objective(x):
        return 0.5 * torch.einsum("bi,bij,bj->b", x, a, x) - (b * x).sum(-1)

    result = batched_lbfgs(objective, torch.zeros(4, 12, dtype=torch.float64),
                           LbfgsConfig(max_iter=500, grad_tol=1e-8, rel_tol=0.0))
    exact = torch.linalg.solve(a, b)
    assert result.converged.all()
    assert torch.allclose(result.x, exact, atol=1e-6)


def test_rosenbrock_batch_matches_scipy_from_the_same_starts():
    starts = np.random.default_rng(1).normal(0.0, 1.2, size=(6, 4))
    result = batched_lbfgs(_rosenbrock, torch.as_tensor(starts),
                           LbfgsConfig(max_iter=1000, grad_tol=1e-7, rel_tol=0.0))
    for b, start in enumerate(starts):
        reference = minimize(rosen, start, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15})
        assert result.value[b].item() == pytest.approx(reference.fun, abs=1e-6)
        assert np.allclose(result.x[b].numpy(), reference.x, atol=1e-3)


def test_elements_are_independent():
    """A batch element whose objective is not finite neither moves nor stops the others."""
    target = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.0, 0.0]], dtype=torch.float64)

    def objective(x):
        value = ((x - target) ** 2).sum(-1)
        return torch.where(torch.arange(3) == 2, torch.full_like(value, float("inf")), value)

    start = torch.zeros(3, 2, dtype=torch.float64) + 5.0
    result = batched_lbfgs(objective, start, LbfgsConfig(grad_tol=1e-9))
    assert torch.allclose(result.x[:2], target[:2], atol=1e-6)
    assert torch.equal(result.x[2], start[2])
    assert not result.converged[2]
