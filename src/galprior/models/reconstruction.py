"""Reconstructions by the trained VAE, and the rotation test of Chianese et al. 2020.

The rotation test (their Fig. 3) rotates each image by 90, 180 and 270 degrees, encodes
and decodes it, and rotates the reconstruction back, to show how far the learnt source
model depends on orientation. Reconstructions here are deterministic: the decoder mean
at the encoder mean, ``g(mu(x))``, in eval mode.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from galprior.models.vae import VAE, images_to_tensor


@torch.no_grad()
def reconstruct(model: VAE, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``g(mu(x))`` for ``(N, H, W)`` images; returns float32 ``(N, H, W)``."""
    model.eval()
    x = images_to_tensor(images, model.image_size)
    out = [model.decode(model.encode(x[i : i + batch_size])[0]) for i in range(0, len(x), batch_size)]
    return torch.cat(out).squeeze(1).numpy()


def quarter_turns(angle: int) -> int:
    """Number of 90-degree anticlockwise turns for ``angle`` (degrees, multiple of 90)."""
    if angle % 90:
        raise ValueError(f"only multiples of 90 degrees are supported, got {angle}")
    return (angle // 90) % 4


def rotation_reconstructions(
    model: VAE, images: np.ndarray, angles: Sequence[int] = (0, 90, 180, 270), batch_size: int = 256
) -> np.ndarray:
    """Rotate, reconstruct and rotate back.

    Args:
        model: trained VAE.
        images: ``(N, H, W)`` images.
        angles: anticlockwise rotations in degrees, multiples of 90.

    Returns:
        float32 array ``(len(angles), N, H, W)``: for each angle, the reconstruction of
        the rotated image, derotated to the original orientation.
    """
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    results = []
    for angle in angles:
        k = quarter_turns(angle)
        rotated = torch.rot90(x, k, dims=(-2, -1)).numpy()
        recon = torch.from_numpy(reconstruct(model, rotated, batch_size))
        results.append(torch.rot90(recon, -k, dims=(-2, -1)).numpy())
    return np.stack(results)
