import numpy as np
import pytest
import torch
from scipy.optimize import minimize, rosen

from galprior.inference.optim import (LbfgsConfig, batched_hessian, batched_lbfgs, preconditioned_lbfgs,
                                      regularised_inverse)


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


def _ill_conditioned(batch: int, dim: int, decades: float, seed: int):
    """Quadratics 0.5 x^T A x - b^T x whose eigenvalues span ``decades`` decades, and their minimisers."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(batch, dim, dim, generator=gen, dtype=torch.float64))
    eig = 10.0 ** torch.linspace(0.0, decades, dim, dtype=torch.float64)
    a = (q * eig) @ q.mT
    b = torch.randn(batch, dim, generator=gen, dtype=torch.float64)
    return a, b, torch.linalg.solve(a, b)


def test_batched_hessian_matches_the_closed_form_of_every_element():
    a, _, _ = _ill_conditioned(3, 6, 2.0, seed=2)
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def objective(x):  # Hessian: A_b + diag(3 x^2), different for each element
        return 0.5 * torch.einsum("bi,bij,bj->b", x, a, x) + 0.25 * (x**4).sum(-1)

    expected = a + torch.diag_embed(3.0 * x**2)
    assert torch.allclose(batched_hessian(objective, x), expected, atol=1e-10)


def test_regularised_inverse_of_a_batch_floors_each_element():
    a, _, _ = _ill_conditioned(2, 5, 3.0, seed=4)
    saddle = a.clone()
    saddle[1] = -saddle[1]  # negative curvature: the floor acts on |lambda|
    cov = regularised_inverse(saddle, floor=10.0)
    eig = torch.linalg.eigvalsh(a)
    for k in range(2):
        expected = torch.sort(1.0 / eig[k].clamp_min(10.0)).values
        assert torch.allclose(torch.linalg.eigvalsh(cov[k]), expected, rtol=1e-10)


def test_preconditioning_solves_what_plain_lbfgs_cannot_in_the_same_budget():
    # six decades of curvature, as a high-S/N lens posterior in prior-whitened coordinates
    a, b, exact = _ill_conditioned(3, 40, 6.0, seed=5)

    def objective(x):
        return 0.5 * torch.einsum("bi,bij,bj->b", x, a, x) - (b * x).sum(-1)

    config = LbfgsConfig(max_iter=30, grad_tol=1e-9, rel_tol=0.0)
    x0 = torch.zeros(3, 40, dtype=torch.float64)
    plain = batched_lbfgs(objective, x0, config)
    whitened = preconditioned_lbfgs(objective, x0, config, hessian_floor=1e-3)
    assert torch.allclose(whitened.x, exact, rtol=1e-6, atol=1e-9)
    assert torch.allclose(whitened.grad, torch.einsum("bij,bj->bi", a, whitened.x) - b, atol=1e-6)
    assert (torch.linalg.norm(plain.x - exact, dim=-1) > 1e-3 * torch.linalg.norm(exact, dim=-1)).all()


class _CountingRosenbrock:
    """Rosenbrock of each element, restrictable to rows; counts the elements it evaluates."""

    def __init__(self, rows=None, counter=None):
        self.rows, self.counter = rows, counter if counter is not None else [0]

    def __call__(self, x):
        self.counter[0] += x.shape[0]
        return _rosenbrock(x)

    def restricted(self, rows):
        return _CountingRosenbrock(rows, self.counter)


@pytest.mark.parametrize("whitened", [False, True])
def test_line_search_trials_evaluate_only_the_elements_still_searching(whitened):
    """With a restrictable objective the result is the same and fewer elements are evaluated."""
    starts = torch.as_tensor(np.random.default_rng(2).normal(0.0, 1.2, size=(8, 4)))
    config = LbfgsConfig(max_iter=60, grad_tol=1e-7, rel_tol=0.0)
    counting = _CountingRosenbrock()
    if whitened:
        plain = preconditioned_lbfgs(_rosenbrock, starts, config, hessian_floor=1.0)
        fast = preconditioned_lbfgs(counting, starts, config, hessian_floor=1.0)
    else:
        plain = batched_lbfgs(_rosenbrock, starts, config)
        fast = batched_lbfgs(counting, starts, config)
    torch.testing.assert_close(fast.x, plain.x, rtol=0, atol=1e-12)
    torch.testing.assert_close(fast.value, plain.value, rtol=0, atol=1e-12)
    full_rows = 8 * (1 + sum(1 for _ in plain.trace[1:]))  # at least one full evaluation per iteration
    assert counting.counter[0] < full_rows
