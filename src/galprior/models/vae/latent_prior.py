"""The Gaussian latent prior of Chianese et al. 2020 (section 2).

After training, the source model's latent prior is not the VAE's ``N(0, I)`` but a
multivariate normal fitted to the encoder means ``mu(x)`` of the training images, with
its covariance multiplied by ``covariance_scale`` (9 in the paper, i.e. widths scaled
by 3) so that the prior is broad enough to cover sources unlike the training set.

Positive definiteness: the sample covariance is singular when there are no more
images than latent dimensions, or when the VAE leaves some latent directions unused.
:func:`fit_latent_prior` therefore checks the scaled covariance with a Cholesky
factorisation (in float64 and in float32, the precision the source model uses) and, if that
fails, adds ``jitter * mean(diag(C)) * I``, multiplying
``jitter`` by 10 until it succeeds; the jitter added is returned in the metadata
(``0.0`` when none was needed).

File layout (``.npz``, written atomically by :func:`save_latent_prior`):

==============  ===========  =======  ===========================================
key             shape        dtype    meaning
==============  ===========  =======  ===========================================
mean            (D,)         float64  mean of the encoder means
covariance      (D, D)       float64  covariance_scale * sample covariance (+ jitter)
meta_json       ()           str      JSON metadata (covariance_scale, n_images, ...)
==============  ===========  =======  ===========================================
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyro.distributions
import torch

from galprior.models.vae.network import VAE
from galprior.store.atomic import atomic_write

logger = logging.getLogger(__name__)


class LatentPrior(NamedTuple):
    """Multivariate-normal latent prior: ``mean`` (D,), ``covariance`` (D, D), ``meta``."""

    mean: np.ndarray
    covariance: np.ndarray
    meta: dict[str, Any]


@torch.no_grad()
def encode_means(model: VAE, images: Any, batch_size: int = 256) -> np.ndarray:
    """Encoder means ``mu(x)`` of ``(N, H, W)`` images in eval mode, shape ``(N, D)``.

    ``images``: an array, or a galaxy store's reader (streamed, ``batch_size`` at a time).
    """
    from galprior.models.vae.training import image_view

    model.eval()
    stream = image_view(images, model.image_size).stream(batch_size)
    chunks = [model.encode(batch["images"])[0] for batch in stream]
    return torch.cat(chunks).double().numpy()


def make_positive_definite(covariance: np.ndarray, jitter: float = 1e-10, max_tries: int = 12) -> tuple[np.ndarray, float]:
    """Symmetrise ``covariance``; add growing diagonal jitter until Cholesky succeeds, in
    float64 and in float32 (the precision of :func:`latent_prior_distribution`).

    Returns the matrix and the jitter added (relative to the mean diagonal; 0 if none).
    """
    covariance = 0.5 * (covariance + covariance.T)
    scale = float(np.mean(np.diag(covariance))) or 1.0
    added = 0.0
    for _ in range(max_tries):
        candidate = covariance + added * scale * np.eye(len(covariance))
        try:
            np.linalg.cholesky(candidate)
            _, info = torch.linalg.cholesky_ex(torch.as_tensor(candidate, dtype=torch.float32))
            if int(info) == 0:
                return candidate, added
        except np.linalg.LinAlgError:
            pass
        added = jitter if added == 0.0 else added * 10.0
    raise np.linalg.LinAlgError(f"covariance not positive definite even with relative jitter {added:g}")


def fit_latent_prior(
    model: VAE, images: np.ndarray, covariance_scale: float = 9.0, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``N(mean, covariance_scale * Cov[mu(x)])`` to the encoder means of ``images``.

    Args:
        model: trained VAE.
        images: ``(N, H, W)`` training images, ``N >= 2`` (an array or a store's reader).
        covariance_scale: factor on the sample covariance (9 in Chianese et al. 2020).
        batch_size: images encoded at a time.

    Returns:
        ``mean`` of shape ``(D,)`` and ``covariance`` of shape ``(D, D)`` (float64),
        symmetric positive definite (see the module docstring about jitter).
    """
    return fit_latent_prior_with_meta(model, images, covariance_scale, batch_size)[:2]


def fit_latent_prior_with_meta(
    model: VAE, images: np.ndarray, covariance_scale: float = 9.0, batch_size: int = 256
) -> LatentPrior:
    """As :func:`fit_latent_prior`, also returning the metadata to store beside it."""
    if len(images) < 2:
        raise ValueError("need at least two images to estimate a covariance")
    mu = encode_means(model, images, batch_size)
    mean = mu.mean(axis=0)
    covariance, jitter = make_positive_definite(covariance_scale * np.cov(mu, rowvar=False))
    if jitter:
        logger.warning("latent covariance needed a relative diagonal jitter of %g", jitter)
    meta = {"covariance_scale": float(covariance_scale), "n_images": int(len(images)), "jitter": jitter}
    return LatentPrior(mean, covariance, meta)


def _savez(path: Path, mean: np.ndarray, covariance: np.ndarray, meta: dict[str, Any] | None) -> None:
    with open(path, "wb") as handle:  # a handle: np.savez would append ".npz" to a bare name
        np.savez(handle, mean=mean, covariance=covariance, meta_json=np.array(json.dumps(meta or {})))


def save_latent_prior(path: str | os.PathLike, mean: np.ndarray, covariance: np.ndarray, meta: dict[str, Any] | None = None) -> Path:
    """Write the prior to ``path`` (an ``.npz``), atomically. Returns the path."""
    path = Path(path)
    mean, covariance = np.asarray(mean, np.float64), np.asarray(covariance, np.float64)
    if mean.ndim != 1 or covariance.shape != (len(mean), len(mean)):
        raise ValueError(f"mean (D,) and covariance (D, D) expected, got {mean.shape} and {covariance.shape}")
    atomic_write(path, lambda tmp: _savez(tmp, mean, covariance, meta))
    return path


def load_latent_prior(path: str | os.PathLike) -> LatentPrior:
    """Read a prior written by :func:`save_latent_prior`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"latent prior not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = {"mean", "covariance", "meta_json"} - set(data.files)
        if missing:
            raise ValueError(f"{path} lacks arrays {sorted(missing)}")
        prior = LatentPrior(data["mean"], data["covariance"], json.loads(str(data["meta_json"])))
    covariance = np.asarray(prior.covariance, np.float64)
    if not np.allclose(covariance, covariance.T):
        raise ValueError(f"{path}: covariance is not symmetric; rerun rule fit_latent_prior")
    smallest = float(np.linalg.eigvalsh(covariance).min())
    if smallest <= 0:
        raise ValueError(f"{path}: covariance is not positive definite (smallest eigenvalue "
                         f"{smallest:.3g}); rerun rule fit_latent_prior")
    return prior


def latent_prior_distribution(mean: np.ndarray, covariance: np.ndarray) -> pyro.distributions.MultivariateNormal:
    """The prior as a float32 multivariate normal (a Pyro distribution, usable by torch too)."""
    return pyro.distributions.MultivariateNormal(
        torch.as_tensor(mean, dtype=torch.float32), covariance_matrix=torch.as_tensor(covariance, dtype=torch.float32)
    )
