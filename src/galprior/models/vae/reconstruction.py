"""Reconstructions by the trained VAE (Chianese et al. 2020 Fig. 2) and the rotation
test (Fig. 3).

Fig. 2 caption: "The reconstructions were obtained by passing the observations x
through the encoder, sampling z ~ N(mu_e(x), sigma_e(x)) from the encoded distribution,
and taking the mean of the decoded distribution x_hat = mu_d(z)": :func:`reconstruct`
with ``sample=True`` (seeded), in eval mode (batch-norm running statistics).

Fig. 3 caption: a test galaxy "rotated counterclockwise by the amount indicated above
each column, with new pixels filled using the known noise distribution", the VAE
reconstructions of those, and the reconstructions derotated: :func:`rotate_with_noise`
rotates by any angle (bilinear, ``scipy.ndimage.rotate`` without reshaping) and fills
the corners that come from outside the stamp with Gaussian noise of the galaxy's own
noise level; :func:`rotation_reconstructions` returns all three rows. Rotations by
multiples of 90 degrees are exact pixel permutations, so the test uses other angles too.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.ndimage import rotate

from galprior.models.vae.network import VAE, images_to_tensor, reparameterize

__all__ = ["reconstruct", "rotate_with_noise", "rotation_reconstructions"]


@torch.no_grad()
def reconstruct(model: VAE, images: np.ndarray, batch_size: int = 256, sample: bool = True,
                seed: int = 0) -> np.ndarray:
    """``mu_d(z)`` for ``(N, H, W)`` images, z drawn from ``q(z|x)`` (Fig. 2) with noise from
    ``seed``, or ``z = mu_e(x)`` if ``sample`` is False; returns float32 ``(N, H, W)``."""
    model.eval()
    x = images_to_tensor(images, model.image_size)
    generator = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, len(x), batch_size):
        mu, logvar = model.encode(x[i : i + batch_size])
        out.append(model.decode(reparameterize(mu, logvar, generator) if sample else mu))
    return torch.cat(out).squeeze(1).numpy()


def rotate_with_noise(images: np.ndarray, angle: float, noise_sigma: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """Rotate ``(N, H, W)`` images counter-clockwise by ``angle`` degrees about their
    centre; pixels that come from outside the stamp get N(0, noise_sigma[n]^2) noise.

    Unit of ``noise_sigma``: that of the images, shape (N,).
    """
    images = np.asarray(images, np.float64)
    out = rotate(images, angle, axes=(2, 1), reshape=False, order=1, mode="constant", cval=np.nan)
    outside = ~np.isfinite(out)
    noise = rng.standard_normal(images.shape) * np.asarray(noise_sigma, np.float64)[:, None, None]
    out[outside] = noise[outside]
    return out.astype(np.float32)


def rotation_reconstructions(
    model: VAE, images: np.ndarray, noise_sigma: np.ndarray, angles: Sequence[float], seed: int = 0,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three rows of Fig. 3 for every image and angle.

    Returns:
        ``(rotated, reconstructions, derotated)``, each float32 ``(len(angles), N, H, W)``:
        the images rotated counter-clockwise by each angle (corners filled with noise),
        their VAE reconstructions (z sampled, as in Fig. 2), and those rotated back by
        ``-angle`` (corners zero: nothing is compared there).
    """
    rng = np.random.default_rng(seed)
    rotated, recons, derotated = [], [], []
    for a, angle in enumerate(angles):
        turned = rotate_with_noise(images, angle, noise_sigma, rng)
        recon = reconstruct(model, turned, batch_size, sample=True, seed=seed + a)
        back = rotate(recon, -angle, axes=(2, 1), reshape=False, order=1, mode="constant", cval=0.0)
        rotated.append(turned)
        recons.append(recon)
        derotated.append(back.astype(np.float32))
    return np.stack(rotated), np.stack(recons), np.stack(derotated)
