"""VE SDE, Technique 2, DSM loss, convolved likelihood and the solvers against closed forms."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

from galprior.inference.sde.likelihood import (ConvolvedLikelihood, conjugate_gradient, convolved_likelihood_score,
                                               convolved_log_likelihood)
from galprior.inference.sde.solvers import karras_sigmas, score_evaluations, solve
from galprior.lensing.operator import LensingOperator, normal_spectrum
from galprior.lensing.simulator import LensSimulator
from galprior.models.score.loss import dsm_loss
from galprior.models.score.sde import (VESDE, largest_pairwise_distance, technique2_probability,
                                       technique2_steps)


def test_technique2_reproduces_the_papers_numbers():
    """App. B eq. 21-22 with the paper's n = 256^2, sigma_max = 263.4, sigma_min = 1e-4, against a
    hand evaluation (math.erf) and the printed p(2000) = 0.64, p(8000) = 0.99. Eq. 22 gives
    p(2000) = 0.632 with these numbers (0.64 needs sigma_max ~ 233); p(8000) = 0.990."""
    import math

    def by_hand(n_steps):
        gamma = (263.4 / 1e-4) ** (1 / n_steps)
        a = math.sqrt(2 * 256**2) * (gamma - 1)
        phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
        return phi(a + 3 * gamma) - phi(a - 3 * gamma)

    p = technique2_probability([2000, 8000], 256**2, 1e-4, 263.4)
    np.testing.assert_allclose(p, [by_hand(2000), by_hand(8000)], rtol=1e-12)
    assert p[0] == pytest.approx(0.632, abs=5e-4) and abs(p[0] - 0.64) < 0.01   # the paper's 0.64, to 0.01
    assert round(float(p[1]), 2) == 0.99 and p[1] >= 0.99                      # N = 8000 keeps p >= 0.99
    n = technique2_steps(256**2, 1e-4, 263.4, 0.99)
    assert n == 7939   # the fewest steps with p >= 0.99; the paper runs 8000
    assert technique2_probability(n, 256**2, 1e-4, 263.4) >= 0.99 > technique2_probability(n - 1, 256**2, 1e-4, 263.4)


def test_ve_sde_diffusion_is_the_derivative_of_the_variance():
    sde = VESDE(1e-3, 50.0)
    t = torch.linspace(0.05, 0.95, 7, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad((sde.sigma(t) ** 2).sum(), t)
    torch.testing.assert_close(sde.g2(t.detach()), grad)
    assert float(sde.sigma(torch.tensor(0.0))) == pytest.approx(1e-3)
    assert float(sde.sigma(torch.tensor(1.0))) == pytest.approx(50.0)
    torch.testing.assert_close(sde.t_of_sigma(sde.sigma(t.detach())), t.detach())


def test_sigma_max_is_the_largest_pairwise_distance():
    x = np.random.default_rng(1).normal(size=(37, 4, 4))
    assert largest_pairwise_distance(x, chunk=5) == pytest.approx(pdist(x.reshape(37, -1)).max())


class _LinearEps(torch.nn.Module):
    """eps(x, t) = a x + b t: a stand-in network whose loss is known by hand."""

    def __init__(self):
        super().__init__()
        self.sde = VESDE(0.1, 10.0)

    def forward(self, x, t):
        return 0.5 * x + 2.0 * t[:, None, None]

    def loss_weight(self, sigma):
        return torch.ones_like(sigma)  # eq. 3 unweighted, as the paper's network


def test_dsm_loss_matches_a_hand_computation():
    x = torch.tensor([[[1.0, 2.0], [0.0, -1.0]], [[0.5, 0.5], [1.5, -2.0]]], dtype=torch.float64)
    z = torch.tensor([[[0.1, -0.3], [1.2, 0.4]], [[-0.7, 0.2], [0.0, 0.9]]], dtype=torch.float64)
    t = torch.tensor([0.25, 0.8], dtype=torch.float64)
    loss = dsm_loss(_LinearEps(), x, t, z)
    total = 0.0
    for b in range(2):
        sigma = 0.1 * 100.0 ** float(t[b])
        for i in range(2):
            for j in range(2):
                xt = float(x[b, i, j]) + sigma * float(z[b, i, j])
                total += (0.5 * xt + 2.0 * float(t[b]) + float(z[b, i, j])) ** 2
    assert float(loss) == pytest.approx(total / 2, rel=1e-12)


def test_convolved_likelihood_score_is_the_gradient_of_its_log_density(small_lens):
    sim, lens, source = small_lens
    sim = sim.double()
    sim.theta_x, sim.theta_y = sim.theta_x.double(), sim.theta_y.double()
    op = LensingOperator(sim, lens.double().repeat(3, 1), source.double().repeat(3, 1), (12, 12))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 12, 12, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.rand(3, 16, 16, generator=gen, dtype=torch.float64)
    sigma_t = torch.tensor([0.01, 0.3, 2.0], dtype=torch.float64)
    (grad,) = torch.autograd.grad(convolved_log_likelihood(x, y, op.forward, 0.05, sigma_t).sum(), x)
    torch.testing.assert_close(convolved_likelihood_score(x.detach(), y, op, 0.05, sigma_t), grad)
    # the solvers call it under no_grad: the adjoint (a VJP) must still work there
    with torch.no_grad():
        torch.testing.assert_close(convolved_likelihood_score(x.detach(), y, op, 0.05, sigma_t), grad)


class _Gaussian:
    """y = A x + noise, x ~ N(mu0, diag v0): the posterior N(mean, C) in closed form."""

    def __init__(self, d, m, prior_var, noise, seed=0, gain=1.0):
        g = torch.Generator().manual_seed(seed)
        q = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))[0]
        self.A = gain * q[:m]               # orthogonal rows: A A^T = gain^2 1 (eq. 19 exact for gain 1)
        self.mu0 = torch.randn(d, generator=g, dtype=torch.float64) * 0.3
        self.v0 = prior_var * (0.5 + torch.rand(d, generator=g, dtype=torch.float64))
        self.noise = noise
        # a truth well inside N(0, sigma_max^2), the start of the reverse SDE
        x = self.mu0 + torch.randn(d, generator=g, dtype=torch.float64)
        self.y = self.A @ x + noise * torch.randn(m, generator=g, dtype=torch.float64)
        precision = torch.diag(1 / self.v0) + self.A.T @ self.A / noise**2
        self.cov = torch.linalg.inv(precision)
        self.mean = self.cov @ (self.mu0 / self.v0 + self.A.T @ self.y / noise**2)
        self.lam, self.U = torch.linalg.eigh(self.cov)

    def forward(self, x):
        return x @ self.A.T

    def adjoint(self, r):
        return r @ self.A

    def exact_score(self, sde):
        """grad log p_t(x | y) with p_t(x | y) = N(mean, C + sigma(t)^2 1)."""
        def score(x, t):
            r = (x - self.mean) @ self.U
            return -(r / (self.lam + sde.sigma(t)[:, None] ** 2)) @ self.U.T
        return score

    def prior_score(self, sde):
        """Score of the noised prior p_t(x) = N(mu0, diag v0 + sigma(t)^2)."""
        def score(x, t):
            return -(x - self.mu0) / (self.v0 + sde.sigma(t)[:, None] ** 2)
        return score

    def convolved_score(self, sde):
        """Prior score of p_t plus the convolved likelihood (eq. 19): the sampler of the paper."""
        prior = self.prior_score(sde)

        def score(x, t):
            return prior(x, t) + convolved_likelihood_score(x, self.y.expand(len(x), -1), self, self.noise,
                                                            sde.sigma(t))
        return score

    def likelihood(self, n):
        """The convolved likelihood of n samples, for the solvers that take it apart."""
        return ConvolvedLikelihood(self, self.y.expand(n, -1), self.noise)

    def check(self, x):
        n = len(x)
        z = (x.mean(0) - self.mean) / self.cov.diag().sqrt() * n**0.5
        assert z.abs().max() < 4.5, f"posterior mean off by {z.abs().max():.1f} Monte-Carlo errors"
        cov = torch.cov(x.T)
        # sd of a sample covariance entry: sqrt((C_ij^2 + C_ii C_jj) / n)
        se = ((self.cov**2 + torch.outer(self.cov.diag(), self.cov.diag())) / n).sqrt()
        assert ((cov - self.cov) / se).abs().max() < 4.5


@pytest.mark.parametrize("solver, n_steps, options", [
    ("euler_maruyama", 400, {}),
    ("heun", 60, {"churn": 10.0}),
])
def test_solvers_sample_the_exact_gaussian_posterior(solver, n_steps, options):
    sde = VESDE(1e-3, 20.0)
    problem = _Gaussian(d=5, m=3, prior_var=1.0, noise=0.3)
    x = solve(solver, problem.exact_score(sde), sde, (3000, 5), n_steps,
              generator=torch.Generator().manual_seed(1), dtype=torch.float64, **options)
    problem.check(x)


def test_convolved_likelihood_sampler_matches_the_posterior_where_app_a_holds():
    # app. A: the approximation holds for a prior broad against sigma(t) over the whole
    # diffusion (Sigma_x0 >> sigma_max^2); there the sampler must recover the posterior.
    sde = VESDE(1e-3, 20.0)
    problem = _Gaussian(d=4, m=4, prior_var=1e4, noise=0.3, seed=3)
    x = solve("euler_maruyama", problem.convolved_score(sde), sde, (3000, 4), 400,
              generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    problem.check(x)


class _Counted:
    """A score function that counts its calls (the network evaluations of a solver)."""

    def __init__(self, score):
        self.score, self.calls = score, 0

    def __call__(self, x, t):
        self.calls += 1
        return self.score(x, t)


def test_imex_solver_samples_the_posterior_in_few_steps():
    # the same problem as above with 20 steps instead of 400: with kappa = 1 the step is the
    # exact Gaussian transition here (A^T A = 1), for any step size
    sde = VESDE(1e-3, 20.0)
    problem = _Gaussian(d=4, m=4, prior_var=1e4, noise=0.3, seed=3)
    prior, likelihood = _Counted(problem.prior_score(sde)), problem.likelihood(3000)
    x = solve("imex_euler_maruyama", prior, sde, (3000, 4), 20, generator=torch.Generator().manual_seed(2),
              dtype=torch.float64, likelihood=likelihood, noise_correction=1.0, prior_step="adaptive")
    problem.check(x)
    assert prior.calls == score_evaluations("imex_euler_maruyama", 20) == 20
    # per step: the noise's A^T, and one A^T A for the initial CG residual plus one per iteration
    assert likelihood.forward_count >= 20 and likelihood.adjoint_count == likelihood.forward_count + 20 + 1
    # without the noise correction the implicit step narrows the posterior (module docstring)
    plain = solve("imex_euler_maruyama", problem.prior_score(sde), sde, (3000, 4), 20,
                  generator=torch.Generator().manual_seed(2), dtype=torch.float64,
                  likelihood=problem.likelihood(3000), noise_correction=0.0)
    assert float((torch.cov(plain.T).diag() / problem.cov.diag()).max()) < 0.8


def test_imex_solver_stays_stable_and_correct_where_euler_maruyama_blows_up():
    """A^T A = lambda 1 with lambda / sigma_N^2 = 1.6e5: explicit EM needs N > ln(sigma_max /
    sigma_min) lambda ~ 5000 steps to be stable; the implicit solver takes 30."""
    sde = VESDE(1e-4, 20.0)
    lam, n, n_steps = 400.0, 3000, 30
    problem = _Gaussian(d=4, m=4, prior_var=1e4, noise=0.05, seed=3)
    problem.A = problem.A * lam**0.5
    precision = torch.diag(1 / problem.v0) + problem.A.T @ problem.A / problem.noise**2
    problem.cov = torch.linalg.inv(precision)
    problem.mean = problem.cov @ (problem.mu0 / problem.v0 + problem.A.T @ problem.y / problem.noise**2)
    explicit = solve("euler_maruyama", problem.prior_score(sde), sde, (n, 4), n_steps,
                     generator=torch.Generator().manual_seed(2), dtype=torch.float64,
                     likelihood=problem.likelihood(n))
    assert not torch.isfinite(explicit).all() or explicit.abs().max() > 1e3
    # the reverse SDE with the convolved likelihood relaxes each mode to the variance
    # (sigma_N^2 + sigma^2) / (2 lambda - 1) (app. A's approximation, exact only for lambda = 1):
    # half the posterior's sigma_N^2 / lambda here; kappa = 1/2 keeps it (module docstring)
    sde_limit = (problem.noise**2 + sde.sigma_min**2) / (2 * lam - 1)
    tolerance = 4.5 * (2 / n) ** 0.5
    for kappa in (0.5, 1.0):
        x = solve("imex_euler_maruyama", problem.prior_score(sde), sde, (n, 4), n_steps,
                  generator=torch.Generator().manual_seed(2), dtype=torch.float64,
                  likelihood=problem.likelihood(n), noise_correction=kappa)
        assert torch.isfinite(x).all()
        z = (x.mean(0) - problem.mean) / problem.cov.diag().sqrt() * n**0.5
        assert z.abs().max() < 4.5, f"kappa {kappa}: posterior mean off by {z.abs().max():.1f} MC errors"
        var = x.var(0)
        if kappa == 0.5:
            assert ((var / sde_limit - 1).abs() < tolerance).all()
        else:   # between the SDE's limit and the posterior
            assert (var > sde_limit * (1 - tolerance)).all() and (var < problem.cov.diag() * (1 + tolerance)).all()


@pytest.mark.parametrize("prior_variance", [1e-4, 0.05, 1.0, 1e3])
def test_adaptive_variance_factor_is_the_exact_one_of_a_gaussian_prior(prior_variance):
    # p_s = N(mu, (w + s) 1): the reverse transition from s0 to s1 has the variance
    # h (w + s1) / (w + s0); phi estimates that factor from the score alone
    from galprior.inference.sde.solvers import prior_variance_factor

    s0, s1 = 0.3, 0.2
    g = torch.Generator().manual_seed(0)
    x = 0.7 + (prior_variance + s0) ** 0.5 * torch.randn(2, 20000, generator=g, dtype=torch.float64)
    phi = prior_variance_factor(-(x - 0.7) / (prior_variance + s0), s0, s1, "adaptive")
    torch.testing.assert_close(phi, torch.full((2,), (prior_variance + s1) / (prior_variance + s0),
                                                dtype=torch.float64), atol=0.01, rtol=0)
    assert float(prior_variance_factor(x, s0, s1, "ancestral")[0]) == pytest.approx(s1 / s0)
    assert float(prior_variance_factor(x, s0, s1, "euler")[0]) == 1.0


def test_conjugate_gradient_solves_the_shifted_normal_equations():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 7, 5, generator=g, dtype=torch.float64) * torch.tensor([0.1, 1.0, 5.0])[:, None, None]
    rhs = torch.randn(3, 5, generator=g, dtype=torch.float64)
    weight = torch.tensor([0.5, 2.0, 10.0], dtype=torch.float64)

    class Batched:
        def forward(self, x):
            return torch.einsum("bij,bj->bi", a, x)

        def adjoint(self, r):
            return torch.einsum("bij,bi->bj", a, r)

    likelihood = ConvolvedLikelihood(Batched(), torch.zeros(3, 7, dtype=torch.float64), 0.1)
    x, iterations = likelihood.solve_shifted(rhs, weight, rhs, max_iter=20, tol=1e-10)
    exact = torch.linalg.solve(torch.eye(5) + weight[:, None, None] * a.transpose(1, 2) @ a, rhs[..., None])[..., 0]
    torch.testing.assert_close(x, exact)
    assert iterations <= 5 + 1   # CG is exact after dim steps (up to round-off)
    assert likelihood.forward_count == likelihood.adjoint_count == iterations + 1
    x1, one = conjugate_gradient(lambda v: 3.0 * v, rhs, torch.zeros_like(rhs), 10, 1e-12)
    torch.testing.assert_close(x1, rhs / 3)
    assert one == 1


def test_predictor_corrector_in_high_dimension():
    # the corrector's step uses ||z|| / ||score||, a high-dimensional heuristic (images)
    sde = VESDE(1e-2, 20.0)
    d = 256
    var = torch.linspace(0.05, 1.0, d, dtype=torch.float64)
    mean = torch.linspace(-1, 1, d, dtype=torch.float64)

    def score(x, t):
        return -(x - mean) / (var + sde.sigma(t)[:, None] ** 2)

    x = solve("predictor_corrector", score, sde, (400, d), 200, generator=torch.Generator().manual_seed(0),
              dtype=torch.float64, snr=0.16)
    assert ((x.mean(0) - mean) / (var / 400).sqrt()).abs().mean() < 1.2
    assert float((x.var(0) / var).mean()) == pytest.approx(1.0, abs=0.08)


def test_step_counting_and_grid():
    assert score_evaluations("euler_maruyama", 100) == 100
    assert score_evaluations("heun", 10) == 19
    assert score_evaluations("imex_euler_maruyama", 64) == 64
    sigmas = karras_sigmas(VESDE(1e-3, 20.0), 10, 7.0)
    assert sigmas[0] == pytest.approx(20.0) and sigmas[-2] == pytest.approx(1e-3) and sigmas[-1] == 0
    assert all(a > b for a, b in zip(sigmas, sigmas[1:]))
    with pytest.raises(ValueError, match="unknown SDE solver"):
        solve("rk4", lambda x, t: x, VESDE(0.1, 1.0), (1, 1), 2)


def test_grid_refinement_keeps_a_stiff_linear_problem_stable():
    """dx = -lambda x (sigma / (s_N^2 + sigma^2)) d sigma, the likelihood part of the ODE:
    unrefined Heun with few steps blows up for a large lambda, the refined grid does not."""
    from galprior.inference.sde.solvers import heun

    sde = VESDE(1e-3, 5.0)
    lam, noise = 40.0, 0.01

    def score(x, t):  # likelihood score of y = 0 with A^T A = lam
        return -lam * x / (noise**2 + sde.sigma(t)[:, None] ** 2)

    x0 = torch.ones(1, 1, dtype=torch.float64)
    plain = heun(score, sde, x0, 20)
    refined = heun(score, sde, x0, 20, stiffness=lam, noise_sigma=noise)
    assert not torch.isfinite(plain).all() or plain.abs().max() > 1e3
    assert refined.abs().max() < 1e-3   # decayed, as the exact solution (factor ~1e-60)
    assert len(karras_sigmas(sde, 20, 7.0, lam, noise)) > 21


class _Scaled(_Gaussian):
    """The problem with ``gain`` != 1: A A^T = gain^2 1, where eq. 19 is wrong (a source pixel
    seen by several image pixels) and the exact covariance is needed."""

    def covariance_score(self, sde, covariance, n):
        prior = self.prior_score(sde)
        values, vectors = torch.linalg.eigh(self.A.T @ self.A)
        spectrum = (vectors[None], values[None], torch.zeros(n, dtype=torch.long))
        likelihood = ConvolvedLikelihood(self, self.y.expand(n, -1), self.noise, covariance=covariance,
                                         spectrum=spectrum if covariance != "identity" else None,
                                         data_variance=float(self.v0.mean()))

        def score(x, t):
            p = prior(x, t)
            return p + likelihood.score(x, sde.sigma(t), p)
        return score


class _Informative(_Scaled):
    """An isotropic prior N(mu0, p 1) as informative as the data (p ~ sigma_N^2 / lambda) and a
    non-orthogonal A: where app. A's broad-prior assumption fails."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        g = torch.Generator().manual_seed(9)
        self.A = self.A + 0.5 * torch.randn(self.A.shape, generator=g, dtype=torch.float64)
        self.v0 = torch.full_like(self.v0, float(self.v0.mean()))
        x = self.mu0 + self.v0.sqrt() * torch.randn(len(self.v0), generator=g, dtype=torch.float64)
        self.y = self.A @ x + self.noise * torch.randn(len(self.A), generator=g, dtype=torch.float64)
        precision = torch.diag(1 / self.v0) + self.A.T @ self.A / self.noise**2
        self.cov = torch.linalg.inv(precision)
        self.mean = self.cov @ (self.mu0 / self.v0 + self.A.T @ self.y / self.noise**2)


def test_imex_exact_step_samples_the_posterior_where_eq19_does_not():
    # the exact covariance's implicit step (diagonal in the eigenbasis of A^T A) on the broad
    # prior with A A^T = 4, in 40 steps instead of Euler-Maruyama's 800
    sde = VESDE(1e-3, 20.0)
    problem = _Scaled(d=4, m=4, prior_var=1e4, noise=0.3, seed=3, gain=2.0)
    values, vectors = torch.linalg.eigh(problem.A.T @ problem.A)
    likelihood = ConvolvedLikelihood(problem, problem.y.expand(3000, -1), problem.noise, covariance="exact",
                                     spectrum=(vectors[None], values[None], torch.zeros(3000, dtype=torch.long)))
    x = solve("imex_euler_maruyama", problem.prior_score(sde), sde, (3000, 4), 40,
              generator=torch.Generator().manual_seed(2), dtype=torch.float64, likelihood=likelihood,
              noise_correction=1.0, prior_step="adaptive")
    problem.check(x)
    with pytest.raises(ValueError, match="derived for covariance 'identity'"):
        problem.likelihood(10).implicit_step(torch.zeros(10, 4, dtype=torch.float64),
                                             torch.ones(10, dtype=torch.float64), 1.0, 1.0, None)


def test_imex_tweedie_step_samples_the_posterior_where_the_prior_is_informative():
    # the Tweedie form's implicit step (linearised about the step's start) on the informative
    # problem, where the exact covariance narrows the posterior, in 128 steps (first order: std +3-6 % at 64)
    sde = VESDE(1e-3, 20.0)
    problem = _Informative(d=4, m=4, prior_var=0.05, noise=0.2, seed=3, gain=1.0)
    values, vectors = torch.linalg.eigh(problem.A.T @ problem.A)
    likelihood = ConvolvedLikelihood(problem, problem.y.expand(3000, -1), problem.noise, covariance="tweedie",
                                     spectrum=(vectors[None], values[None], torch.zeros(3000, dtype=torch.long)),
                                     data_variance=float(problem.v0.mean()))
    x = solve("imex_euler_maruyama", problem.prior_score(sde), sde, (3000, 4), 128,
              generator=torch.Generator().manual_seed(2), dtype=torch.float64, likelihood=likelihood,
              noise_correction=1.0, prior_step="adaptive")
    problem.check(x)


def test_exact_convolved_score_is_the_dense_formula():
    # A^T (sigma_N^2 1 + sigma_t^2 A A^T)^{-1} (y - A x), computed densely, for a non-orthogonal A
    g = torch.Generator().manual_seed(4)
    a = torch.randn(6, 4, generator=g, dtype=torch.float64)
    op = type("Dense", (), {"forward": lambda self, x: x @ a.T, "adjoint": lambda self, r: r @ a})()
    y = torch.randn(2, 6, generator=g, dtype=torch.float64)
    x = torch.randn(2, 4, generator=g, dtype=torch.float64)
    noise = 0.3
    values, vectors = torch.linalg.eigh(a.T @ a)
    spectrum = (vectors[None], values[None], torch.zeros(2, dtype=torch.long))
    for sigma_t in (0.05, 1.0, 10.0):
        got = ConvolvedLikelihood(op, y, noise, covariance="exact", spectrum=spectrum).score(
            x, torch.tensor(sigma_t, dtype=torch.float64))
        cov = noise**2 * torch.eye(6, dtype=torch.float64) + sigma_t**2 * a @ a.T
        want = torch.linalg.solve(cov, (y - x @ a.T).T).T @ a
        torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="covariance 'diagonal'"):
        ConvolvedLikelihood(op, y, noise, covariance="diagonal")
    with pytest.raises(ValueError, match="needs the spectrum"):
        ConvolvedLikelihood(op, y, noise, covariance="exact")


def test_normal_spectrum_of_a_lensing_operator():
    # V diag(lambda) V^T is A^T A of the dense operator; sources above the limit are refused by name
    sim = LensSimulator(32, 0.1, psf_sigma=None, pool_factor=2, dtype=torch.float64)
    lens = torch.tensor([[1.0, 2.0, 0.8, 0.3, 0.05, -0.02, 0.02, 0.01]], dtype=torch.float64)
    source = torch.tensor([[1.0, 1.6, 0.0, 0.0]], dtype=torch.float64)
    op = LensingOperator(sim, lens, source, (8, 8))
    vectors, values = normal_spectrum(op)
    a = op.matrix()[0]
    torch.testing.assert_close(vectors[0] @ torch.diag(values[0]) @ vectors[0].T, a.T @ a, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="at most 4096 pixels"):
        normal_spectrum(LensingOperator(sim, lens, source, (65, 65)))


@pytest.mark.parametrize("make_problem, right, wrong, narrower", [
    # a broad prior (app. A's regime) with A A^T = 4: the exact convolved likelihood is then
    # the exact p_t(y | x_t); eq. 19 overweights the likelihood while sigma(t) dominates
    (lambda: _Scaled(d=4, m=4, prior_var=1e4, noise=0.3, seed=3, gain=2.0), "exact", "identity", 0.85),
    # a prior as informative as the data: the convolved likelihood, even with its exact
    # covariance, narrows the posterior (it takes x_0 | x_t ~ N(x_t, sigma^2), ignoring the
    # prior); the Tweedie form (mean A D(x_t), covariance sigma_N^2 + sigma^2 J A A^T) is
    # exact for an isotropic Gaussian prior
    (lambda: _Informative(d=4, m=4, prior_var=0.05, noise=0.2, seed=3, gain=1.0), "tweedie", "exact", 0.92),
], ids=["broad-prior", "informative-prior"])
def test_the_right_likelihood_form_samples_the_posterior_where_the_other_narrows_it(make_problem, right, wrong,
                                                                                  narrower):
    sde = VESDE(1e-3, 20.0)
    problem = make_problem()
    x = solve("euler_maruyama", problem.covariance_score(sde, right, 3000), sde, (3000, 4), 800,
              generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    problem.check(x)
    x = solve("euler_maruyama", problem.covariance_score(sde, wrong, 3000), sde, (3000, 4), 800,
              generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ratio = (torch.cov(x.T).diag() / problem.cov.diag()).sqrt()
    assert (ratio < narrower).all(), ratio
