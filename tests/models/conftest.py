"""Tiny VAEs and synthetic galaxy-like images for the model tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galprior.config import schema_defaults
from galprior.models.vae import VAE

_VAE = schema_defaults()["chianese"]["vae"]
# the default architecture, tiny
TINY = {**_VAE["architecture"], "image_size": 16, "latent_dim": 4, "base_width": 4}
# the default training settings but the epoch count
TRAINING = {k: v for k, v in _VAE["training"].items() if k != "epochs"}


def gaussian_blobs(n: int, size: int, seed: int) -> np.ndarray:
    """``(n, size, size)`` float32 elliptical Gaussian blobs, max 1, plus a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    centre = rng.normal(0, size / 16, (n, 2, 1, 1))
    width = rng.uniform(size / 16, size / 6, (n, 2, 1, 1))
    angle = rng.uniform(0, np.pi, (n, 1, 1))
    dx, dy = x - centre[:, 0], y - centre[:, 1]
    u = np.cos(angle) * dx + np.sin(angle) * dy
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    blobs = np.exp(-0.5 * ((u / width[:, 0]) ** 2 + (v / width[:, 1]) ** 2))
    blobs /= blobs.max(axis=(1, 2), keepdims=True)
    return (blobs + rng.normal(0, 0.02, blobs.shape)).astype(np.float32)


@pytest.fixture
def tiny_vae() -> VAE:
    torch.manual_seed(0)
    return VAE(**TINY)


@pytest.fixture
def blobs() -> np.ndarray:
    return gaussian_blobs(48, TINY["image_size"], seed=1)
