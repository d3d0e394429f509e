"""Shared fixtures for the lensing tests (no state shared between tests)."""

import numpy as np
import pytest
import torch


@pytest.fixture
def smooth_source() -> np.ndarray:
    """A smooth 64 x 64 source: two Gaussian blobs on the unit square."""
    c = (np.arange(64) + 0.5) / 64 - 0.5
    yy, xx = np.meshgrid(c, c, indexing="ij")
    return np.exp(-0.5 * ((xx - 0.05) ** 2 + yy**2) / 0.08**2) + 0.5 * np.exp(
        -0.5 * ((xx + 0.1) ** 2 + (yy - 0.1) ** 2) / 0.05**2
    )


@pytest.fixture
def lens_batch() -> torch.Tensor:
    """Three float64 lens-parameter vectors (LENS_PARAMETER_NAMES order)."""
    return torch.tensor(
        [
            [1.4, 2.1, 0.6, 0.5, 0.05, -0.04, 0.03, -0.02],
            [1.1, 1.7, 0.3, 2.2, -0.1, 0.07, -0.01, 0.04],
            [1.8, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ],
        dtype=torch.float64,
    )
