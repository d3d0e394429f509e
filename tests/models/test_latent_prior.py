import numpy as np
import pytest
import torch

from galprior.models.vae.latent_prior import (
    encode_means,
    fit_latent_prior,
    fit_latent_prior_with_meta,
    latent_prior_distribution,
    load_latent_prior,
    make_positive_definite,
    save_latent_prior,
)


def test_fit_matches_numpy(tiny_vae, blobs):
    mean, cov = fit_latent_prior(tiny_vae, blobs, covariance_scale=9.0, batch_size=10)
    with torch.no_grad():
        mu = tiny_vae.eval().encode(torch.from_numpy(blobs)[:, None])[0].double().numpy()
    np.testing.assert_allclose(mean, np.mean(mu, axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(cov, 9.0 * np.cov(mu, rowvar=False), rtol=1e-6, atol=1e-12)
    assert np.array_equal(cov, cov.T)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    np.testing.assert_allclose(encode_means(tiny_vae, blobs, 7), mu, rtol=1e-5, atol=1e-7)


def test_singular_covariance_gets_jitter(tiny_vae, blobs):
    # one image three times: the sample covariance is exactly zero (rank 0); a rank-deficient
    # but non-zero one can pass Cholesky by rounding, depending on the BLAS
    prior = fit_latent_prior_with_meta(tiny_vae, np.repeat(blobs[:1], 3, axis=0))
    assert prior.meta["jitter"] > 0
    assert np.all(np.linalg.eigvalsh(prior.covariance) > 0)
    rank_deficient = np.outer([1.0, 2.0], [1.0, 2.0])
    fixed, jitter = make_positive_definite(rank_deficient)
    np.linalg.cholesky(fixed)
    np.testing.assert_allclose(fixed, rank_deficient, atol=10 * jitter * 2.5)


def test_save_load_round_trip(tmp_path, tiny_vae, blobs):
    prior = fit_latent_prior_with_meta(tiny_vae, blobs)
    path = save_latent_prior(tmp_path / "latent_prior.npz", prior.mean, prior.covariance, prior.meta)
    loaded = load_latent_prior(path)
    np.testing.assert_array_equal(loaded.mean, prior.mean)
    np.testing.assert_array_equal(loaded.covariance, prior.covariance)
    assert loaded.meta == prior.meta
    assert latent_prior_distribution(loaded.mean, loaded.covariance).sample().shape == (4,)
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_latent_prior(tmp_path / "nothing.npz")


def test_fewer_images_than_latent_dimensions_give_a_float32_usable_prior():
    """3 encoder means in 64 dimensions (the paper-smoke preset): the covariance has rank 2;
    the jitter must make it positive definite in float32 too, where the source model uses it."""
    from galprior.models.vae.latent_prior import latent_prior_distribution

    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, 64))
    fixed, jitter = make_positive_definite(9.0 * np.cov(means, rowvar=False))
    assert jitter > 0
    distribution = latent_prior_distribution(means.mean(axis=0), fixed)  # float32 Cholesky
    assert np.isfinite(float(distribution.log_prob(distribution.mean)))
